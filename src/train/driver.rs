//! The one training driver: strings a [`Trainer`]'s units of work into a run (minibatch steps,
//! the test evaluation that closes each epoch, the samples drawn after it and early previews)
//! and hands control back between any two of them, between evaluation chunks and between sample
//! rows. The command line, the studio's worker thread and `bench` all train through it.
//!
//! A run is resumable: [`Driver::run`] returns [`RunOutcome::Yielded`] as soon as its
//! [`RunHooks::should_yield`] says so, and the next call carries on where it stopped (an
//! interrupted evaluation continues from its next chunk; an interrupted grid is drawn again from
//! its seed, so it comes out the same).

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::error::TrainError;
use super::metrics::EpochRecord;
use super::trainer::{Evaluation, Trainer};
use crate::data::{Mnist, IMAGE_PIXELS};
use crate::model::{ClassChoice, SampleGrid, SampleStyle};

/// Why a grid of samples was drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleKind {
    /// After an epoch's test evaluation (the reference's `epoch_N` grid).
    EpochEnd,
    /// An early look during the first epoch.
    Preview,
    /// The user asked for it ("Sample now").
    OnDemand,
}

/// When a grid was drawn: where the run stood.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleStamp {
    /// Epochs completed (fractional) when the grid was drawn.
    pub epoch: f64,
    /// Steps done in total when the grid was drawn.
    pub global_step: u64,
    /// Why it was drawn.
    pub kind: SampleKind,
    /// The digits a conditional model was asked for (`None`: an unconditional model, or not
    /// drawn yet).
    pub classes: Option<ClassChoice>,
    /// The guidance and temperature it was drawn with (`None`: the model's own probabilities,
    /// or not drawn yet).
    pub style: Option<SampleStyle>,
}

impl SampleStamp {
    /// The stamp of a grid drawn now from `trainer`'s model.
    pub fn now(trainer: &Trainer, train_steps_per_epoch: usize, kind: SampleKind) -> SampleStamp {
        let progress = trainer.progress();
        SampleStamp {
            epoch: progress.epochs_done as f64
                + progress.step_in_epoch as f64 / train_steps_per_epoch.max(1) as f64,
            global_step: progress.global_step,
            kind,
            classes: None,
            style: None,
        }
    }

    /// The completed epoch of an end-of-epoch grid (`None` for a mid-epoch one).
    pub fn completed_epoch(&self) -> Option<usize> {
        (self.kind == SampleKind::EpochEnd).then_some(self.epoch.round() as usize)
    }
}

/// A grid to draw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleJob {
    /// Images to draw.
    pub count: usize,
    /// Seed of the sampling RNG (independent of the training RNG).
    pub seed: u64,
    /// The digits a conditional model draws.
    pub classes: ClassChoice,
    /// Where the run stood when the grid was asked for.
    pub stamp: SampleStamp,
}

/// What a run reports through [`RunHooks::on_event`].
#[derive(Debug)]
pub enum TrainEvent<'a> {
    /// One minibatch was trained.
    Step {
        /// Epochs completed, fractional.
        epoch_progress: f64,
        /// Steps done in total.
        global_step: u64,
        /// The minibatch's mean cross-entropy, nats per pixel.
        loss_nats_per_pixel: f64,
        /// Throughput over the current epoch so far.
        images_per_sec: f64,
    },
    /// The test evaluation that closes the epoch has begun or moved on by a chunk.
    Evaluating {
        /// Test images evaluated so far.
        images_done: usize,
        /// Test images in all.
        images_total: usize,
    },
    /// An epoch ended and its test cost was measured.
    EpochFinished(EpochRecord),
    /// A grid being drawn, after another image row (the canvas so far).
    Sampling {
        /// Where the run stood when the grid was asked for.
        stamp: SampleStamp,
        /// The partial canvas.
        grid: &'a SampleGrid,
    },
    /// A grid of samples is complete.
    SamplesReady {
        /// Where the run stood when the grid was asked for.
        stamp: SampleStamp,
        /// The samples.
        grid: &'a SampleGrid,
    },
}

/// How a run talks to its caller.
pub trait RunHooks {
    /// Called with every event; `trainer` is the model's state right after it.
    fn on_event(&mut self, trainer: &Trainer, event: TrainEvent<'_>);

    /// Asked between units of work (before each step and evaluation chunk, after each sample
    /// row): `true` hands control back to the caller now ([`RunOutcome::Yielded`]).
    fn should_yield(&mut self) -> bool;
}

/// How [`Driver::run`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every epoch asked for is done and every grid asked for is drawn.
    Finished,
    /// [`RunHooks::should_yield`] asked for control back; calling `run` again carries on.
    Yielded,
}

/// The run's position between units of work: the evaluation in progress and the grids still to
/// draw. Create one per model (a fresh one is fine for a trainer restored from a checkpoint: an
/// epoch whose steps are done but whose test cost is not is evaluated first).
#[derive(Debug, Default)]
pub struct Driver {
    evaluation: Option<Evaluation>,
    samples: VecDeque<SampleJob>,
    preview_every: Option<Duration>,
    last_grid: Option<Instant>,
    /// The step the last preview was asked for at (one preview per step at most).
    preview_step: Option<u64>,
}

impl Driver {
    /// A driver with nothing in progress.
    pub fn new() -> Driver {
        Driver::default()
    }

    /// During the first epoch, draw a preview grid whenever this much time passed since the run
    /// began or since the last grid (`None`: no previews).
    pub fn set_preview_every(&mut self, every: Option<Duration>) {
        self.preview_every = every;
    }

    /// Asks for a grid: drawn before the next training step (or by [`Driver::draw_pending`]).
    pub fn queue_samples(&mut self, job: SampleJob) {
        self.samples.push_back(job);
    }

    /// Whether grids are waiting to be drawn.
    pub fn has_pending_samples(&self) -> bool {
        !self.samples.is_empty()
    }

    /// Forgets the grids still to draw.
    pub fn cancel_samples(&mut self) {
        self.samples.clear();
    }

    /// The evaluation in progress, if any.
    pub fn evaluation(&self) -> Option<&Evaluation> {
        self.evaluation.as_ref()
    }

    /// Trains until every epoch is done (closing each with its test cost and, if the config
    /// asks for samples, a grid), or until `hooks` asks for control back.
    pub fn run(
        &mut self,
        trainer: &mut Trainer,
        data: &Mnist,
        hooks: &mut dyn RunHooks,
    ) -> Result<RunOutcome, TrainError> {
        trainer.record_settings(&data.train);
        let run_started = Instant::now();
        loop {
            if hooks.should_yield() {
                return Ok(RunOutcome::Yielded);
            }
            if !self.samples.is_empty() {
                if self.draw_next(trainer, hooks)?.is_break() {
                    return Ok(RunOutcome::Yielded);
                }
                continue;
            }
            if self.evaluation.is_some() || trainer.epoch_steps_done(&data.train) {
                self.evaluate_chunk(trainer, data, hooks)?;
                continue;
            }
            if trainer.is_finished() {
                return Ok(RunOutcome::Finished);
            }
            if self.preview_due(trainer, run_started) {
                let steps_per_epoch = trainer.steps_per_epoch(&data.train);
                let stamp = SampleStamp::now(trainer, steps_per_epoch, SampleKind::Preview);
                self.preview_step = Some(stamp.global_step);
                self.samples.push_back(SampleJob {
                    count: trainer.config().samples_per_epoch,
                    seed: preview_seed(trainer.config().seed, stamp.global_step),
                    classes: trainer.config().sample_classes,
                    stamp,
                });
                continue;
            }
            let loss_nats_per_pixel = trainer.train_step(data)?;
            let epoch_progress = trainer
                .history()
                .steps
                .recent
                .back()
                .map_or(0.0, |p| p.epoch);
            hooks.on_event(
                trainer,
                TrainEvent::Step {
                    epoch_progress,
                    global_step: trainer.progress().global_step,
                    loss_nats_per_pixel,
                    images_per_sec: trainer.images_per_sec(),
                },
            );
        }
    }

    /// Draws the grids asked for (no training), until done or until `hooks` asks for control.
    pub fn draw_pending(
        &mut self,
        trainer: &Trainer,
        hooks: &mut dyn RunHooks,
    ) -> Result<RunOutcome, TrainError> {
        while !self.samples.is_empty() {
            if hooks.should_yield() || self.draw_next(trainer, hooks)?.is_break() {
                return Ok(RunOutcome::Yielded);
            }
        }
        Ok(RunOutcome::Finished)
    }

    fn preview_due(&self, trainer: &Trainer, run_started: Instant) -> bool {
        let Some(every) = self.preview_every else {
            return false;
        };
        let progress = trainer.progress();
        progress.epochs_done == 0
            && trainer.config().samples_per_epoch > 0
            && progress.step_in_epoch > 0
            && self.preview_step != Some(progress.global_step)
            && self.last_grid.unwrap_or(run_started).elapsed() >= every
    }

    /// One chunk of the epoch's evaluation; closes the epoch when it was the last.
    fn evaluate_chunk(
        &mut self,
        trainer: &mut Trainer,
        data: &Mnist,
        hooks: &mut dyn RunHooks,
    ) -> Result<(), TrainError> {
        let mut evaluation = match self.evaluation.take() {
            Some(evaluation) => evaluation,
            None => {
                let evaluation = trainer.begin_evaluation(&data.test)?;
                hooks.on_event(
                    trainer,
                    TrainEvent::Evaluating {
                        images_done: 0,
                        images_total: evaluation.images(),
                    },
                );
                evaluation
            }
        };
        match trainer.continue_evaluation(&data.test, &mut evaluation)? {
            Some(test_cost) => {
                let record = trainer.close_epoch(&data.train, test_cost);
                hooks.on_event(trainer, TrainEvent::EpochFinished(record));
                let count = trainer.config().samples_per_epoch;
                if count > 0 {
                    let stamp = SampleStamp {
                        epoch: record.epoch as f64,
                        global_step: trainer.progress().global_step,
                        kind: SampleKind::EpochEnd,
                        classes: None,
                        style: None,
                    };
                    self.samples.push_back(SampleJob {
                        count,
                        seed: trainer.epoch_sample_seed(record.epoch),
                        classes: trainer.config().sample_classes,
                        stamp,
                    });
                }
            }
            None => {
                hooks.on_event(
                    trainer,
                    TrainEvent::Evaluating {
                        images_done: evaluation.images_done(),
                        images_total: evaluation.images(),
                    },
                );
                self.evaluation = Some(evaluation);
            }
        }
        Ok(())
    }

    /// Draws the next grid; `Break` when the hooks asked for control mid-grid (the job stays
    /// queued and is drawn again, identically, next time).
    fn draw_next(
        &mut self,
        trainer: &Trainer,
        hooks: &mut dyn RunHooks,
    ) -> Result<ControlFlow<()>, TrainError> {
        let Some(mut job) = self.samples.front().copied() else {
            return Ok(ControlFlow::Continue(()));
        };
        job.stamp.classes = trainer.model_config().conditional().then_some(job.classes);
        job.stamp.style = Some(trainer.sample_style()).filter(|s| *s != SampleStyle::PLAIN);
        let grid = trainer.sample_while(job.count, job.seed, job.classes, &mut |grid| {
            hooks.on_event(
                trainer,
                TrainEvent::Sampling {
                    stamp: job.stamp,
                    grid,
                },
            );
            if hooks.should_yield() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        if grid.pixels_done < IMAGE_PIXELS {
            return Ok(ControlFlow::Break(()));
        }
        self.samples.pop_front();
        self.last_grid = Some(Instant::now());
        hooks.on_event(
            trainer,
            TrainEvent::SamplesReady {
                stamp: job.stamp,
                grid: &grid,
            },
        );
        Ok(ControlFlow::Continue(()))
    }
}

/// The seed of a grid drawn mid-run at `global_step` (a preview or "Sample now"): independent of
/// the training RNG, so drawing it never changes the run.
pub fn preview_seed(run_seed: u64, global_step: u64) -> u64 {
    run_seed ^ global_step.rotate_left(17)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FamilyConfig, ModelConfig, PlainConfig};
    use crate::train::TrainConfig;

    fn tiny() -> (Trainer, Mnist) {
        let model = ModelConfig {
            first_kernel: 3,
            feature_maps: 4,
            family: FamilyConfig::Plain(PlainConfig {
                masked_layers: 1,
                masked_kernel: 3,
                masked_relu: false,
                relu_layers: 0,
                residual: false,
            }),
        };
        let config = TrainConfig {
            epochs: 2,
            batch_size: 10,
            seed: 5,
            samples_per_epoch: 2,
            ..TrainConfig::default()
        };
        (
            Trainer::new(model, config).unwrap_or_else(|err| panic!("{err}")),
            Mnist::synthetic(30, 1200, 3),
        )
    }

    /// Records event names; yields at the n-th question (counting from 1), then never again.
    struct Recorder {
        events: Vec<String>,
        asked: usize,
        yield_at: Option<usize>,
    }

    impl RunHooks for Recorder {
        fn on_event(&mut self, _trainer: &Trainer, event: TrainEvent<'_>) {
            self.events.push(match event {
                TrainEvent::Step { .. } => "step".into(),
                TrainEvent::Evaluating { images_done, .. } => format!("eval {images_done}"),
                TrainEvent::EpochFinished(record) => format!("epoch {}", record.epoch),
                TrainEvent::Sampling { .. } => "row".into(),
                TrainEvent::SamplesReady { stamp, .. } => format!("grid {:?}", stamp.kind),
            });
        }

        fn should_yield(&mut self) -> bool {
            self.asked += 1;
            self.yield_at == Some(self.asked)
        }
    }

    fn names(events: &[String]) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for event in events {
            let name = event.split(' ').next().unwrap_or_default();
            if out.last() != Some(&name) || !matches!(name, "row" | "eval" | "step") {
                out.push(name);
            }
        }
        out
    }

    #[test]
    fn a_run_steps_evaluates_in_chunks_and_draws_each_epochs_grid() {
        let (mut trainer, data) = tiny();
        let mut hooks = Recorder {
            events: Vec::new(),
            asked: 0,
            yield_at: None,
        };
        let outcome = Driver::new().run(&mut trainer, &data, &mut hooks);
        assert_eq!(outcome.ok(), Some(RunOutcome::Finished));
        assert_eq!(
            names(&hooks.events),
            ["step", "eval", "epoch", "row", "grid", "step", "eval", "epoch", "row", "grid"]
        );
        // 1200 test images in chunks: more than one chunk, so the evaluation is resumable.
        let chunks = hooks
            .events
            .iter()
            .filter(|e| e.starts_with("eval"))
            .count();
        assert!(chunks > 2, "{chunks} evaluation events");
        assert_eq!(trainer.history().epochs.len(), 2);
    }

    #[test]
    fn an_interrupted_evaluation_resumes_to_the_same_test_cost() {
        let (mut straight, data) = tiny();
        let mut quiet = Recorder {
            events: Vec::new(),
            asked: 0,
            yield_at: None,
        };
        let _ = Driver::new().run(&mut straight, &data, &mut quiet);

        let (mut interrupted, _) = tiny();
        let mut driver = Driver::new();
        // 3 steps, then the evaluation begins; yield after its second chunk.
        let mut hooks = Recorder {
            events: Vec::new(),
            asked: 0,
            yield_at: Some(6),
        };
        let outcome = driver.run(&mut interrupted, &data, &mut hooks);
        assert_eq!(outcome.ok(), Some(RunOutcome::Yielded));
        assert!(
            driver.evaluation().is_some_and(|e| e.images_done() > 0),
            "stopped mid-evaluation: {:?}",
            hooks.events
        );
        assert!(interrupted.history().epochs.is_empty());
        let outcome = driver.run(&mut interrupted, &data, &mut hooks);
        assert_eq!(outcome.ok(), Some(RunOutcome::Finished));
        let costs = |t: &Trainer| {
            t.history()
                .epochs
                .iter()
                .map(|r| r.test_cost_nats_per_pixel)
                .collect::<Vec<_>>()
        };
        assert_eq!(costs(&interrupted), costs(&straight));
        assert_eq!(interrupted.snapshot().params, straight.snapshot().params);
    }

    #[test]
    fn a_grid_interrupted_mid_drawing_is_drawn_again_identically() {
        let (trainer, _) = tiny();
        let stamp = SampleStamp {
            epoch: 0.0,
            global_step: 0,
            kind: SampleKind::OnDemand,
            classes: None,
            style: None,
        };
        let job = SampleJob {
            count: 3,
            seed: 9,
            classes: ClassChoice::Rows,
            stamp,
        };
        let whole = trainer
            .sample(3, 9, ClassChoice::Rows, &mut |_| {})
            .unwrap_or_else(|e| panic!("{e}"));

        struct Keep {
            grid: Option<SampleGrid>,
            rows: usize,
            yield_at_row: usize,
        }
        impl RunHooks for Keep {
            fn on_event(&mut self, _trainer: &Trainer, event: TrainEvent<'_>) {
                match event {
                    TrainEvent::Sampling { .. } => self.rows += 1,
                    TrainEvent::SamplesReady { grid, .. } => self.grid = Some(grid.clone()),
                    _ => {}
                }
            }
            fn should_yield(&mut self) -> bool {
                self.rows == self.yield_at_row
            }
        }
        let mut driver = Driver::new();
        driver.queue_samples(job);
        let mut hooks = Keep {
            grid: None,
            rows: 0,
            yield_at_row: 5,
        };
        let outcome = driver.draw_pending(&trainer, &mut hooks);
        assert_eq!(outcome.ok(), Some(RunOutcome::Yielded));
        assert!(hooks.grid.is_none() && driver.has_pending_samples());
        hooks.yield_at_row = usize::MAX;
        let outcome = driver.draw_pending(&trainer, &mut hooks);
        assert_eq!(outcome.ok(), Some(RunOutcome::Finished));
        assert_eq!(hooks.grid, Some(whole));
        assert!(!driver.has_pending_samples());
    }
}
