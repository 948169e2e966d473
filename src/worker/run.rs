//! The worker thread's loop: take commands between training steps, train, sample, save and
//! open checkpoints, and report everything as events.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use super::{checkpoint_io, RepaintFn, STEP_EVENT_INTERVAL};
use crate::data::{load_mnist, Mnist};
use crate::explore::ModelSnapshot;
use crate::messages::{DataSource, RunProgress, WorkerCommand, WorkerEvent, WorkerState};
use crate::model::{ClassChoice, ModelConfig, SampleGrid};
use crate::train::{StepPoint, TrainConfig, Trainer};

/// Entry point of the worker thread.
pub(super) fn worker_main(
    commands: Receiver<WorkerCommand>,
    events: Sender<WorkerEvent>,
    repaint: RepaintFn,
) {
    let mut worker = WorkerLoop {
        commands,
        events,
        repaint,
        trainer: None,
        data: None,
        running: false,
        paused: false,
        alive: true,
        state: WorkerState::Idle,
        pending_points: Vec::new(),
        last_flush: Instant::now(),
    };
    worker.run();
}

struct WorkerLoop {
    commands: Receiver<WorkerCommand>,
    events: Sender<WorkerEvent>,
    repaint: RepaintFn,
    trainer: Option<Trainer>,
    data: Option<(DataSource, Arc<Mnist>)>,
    /// A run is in progress (possibly paused).
    running: bool,
    paused: bool,
    alive: bool,
    state: WorkerState,
    pending_points: Vec<StepPoint>,
    last_flush: Instant,
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_string()
    }
}

impl WorkerLoop {
    fn run(&mut self) {
        while self.alive {
            let command = if self.running && !self.paused {
                match self.commands.try_recv() {
                    Ok(command) => Some(command),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => break,
                }
            } else {
                self.flush_steps();
                match self.commands.recv() {
                    Ok(command) => Some(command),
                    Err(_) => break,
                }
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| match command {
                Some(command) => self.handle(command),
                None => self.train_step(),
            }));
            if let Err(payload) = outcome {
                self.fail(format!(
                    "the training thread hit a bug and stopped the run: {}",
                    panic_message(payload.as_ref())
                ));
            }
        }
        self.running = false;
    }

    /// Sends an event and wakes the UI; a closed channel ends the loop.
    fn emit(&mut self, event: WorkerEvent) {
        if self.events.send(event).is_err() {
            self.alive = false;
        }
        (self.repaint)();
    }

    fn set_state(&mut self, state: WorkerState) {
        if self.state != state {
            self.state = state;
            self.emit(WorkerEvent::State(state));
        }
    }

    /// Ends the run with an error message; the model in memory is kept.
    fn fail(&mut self, message: String) {
        self.flush_steps();
        self.running = false;
        self.paused = false;
        self.emit(WorkerEvent::Error(message));
        self.set_state(WorkerState::Error);
    }

    /// The state to return to when nothing is running.
    fn resting_state(&self) -> WorkerState {
        match &self.trainer {
            None => WorkerState::Idle,
            Some(trainer) if trainer.is_finished() => WorkerState::Finished,
            Some(_) => WorkerState::Stopped,
        }
    }

    fn progress(&self) -> RunProgress {
        let Some(trainer) = &self.trainer else {
            return RunProgress::default();
        };
        let progress = trainer.progress();
        RunProgress {
            epochs_done: progress.epochs_done,
            epochs_target: trainer.config().epochs,
            step_in_epoch: progress.step_in_epoch,
            steps_per_epoch: self
                .data
                .as_ref()
                .map_or(0, |(_, data)| trainer.steps_per_epoch(&data.train)),
            global_step: progress.global_step,
            images_per_sec: trainer.images_per_sec(),
            batch_size: trainer.config().batch_size,
        }
    }

    fn flush_steps(&mut self) {
        if self.pending_points.is_empty() {
            return;
        }
        let points = std::mem::take(&mut self.pending_points);
        let progress = self.progress();
        self.last_flush = Instant::now();
        self.emit(WorkerEvent::Steps { points, progress });
    }

    fn handle(&mut self, command: WorkerCommand) {
        match command {
            WorkerCommand::Start { model, train, data } => self.start(model, train, data),
            WorkerCommand::Pause => {
                if self.running && !self.paused {
                    self.paused = true;
                    self.flush_steps();
                    self.set_state(WorkerState::Paused);
                }
            }
            WorkerCommand::Resume => {
                if self.running && self.paused {
                    self.paused = false;
                    self.set_state(WorkerState::Training);
                }
            }
            WorkerCommand::Stop => {
                if self.running {
                    self.flush_steps();
                    self.running = false;
                    self.paused = false;
                    self.emit(WorkerEvent::Finished { stopped: true });
                    self.emit(WorkerEvent::Message("training stopped".into()));
                    let state = self.resting_state();
                    self.set_state(state);
                }
            }
            WorkerCommand::Reset => {
                self.running = false;
                self.paused = false;
                self.pending_points.clear();
                self.trainer = None;
                self.emit(WorkerEvent::ResetDone);
                self.emit(WorkerEvent::Message("model discarded".into()));
                self.set_state(WorkerState::Idle);
            }
            WorkerCommand::SampleNow { count } => {
                let Some(trainer) = &self.trainer else {
                    self.emit(WorkerEvent::Error(
                        "there is no model to sample from yet: press Start first".into(),
                    ));
                    return;
                };
                let epoch = trainer.progress().epochs_done;
                let seed = trainer.config().seed ^ trainer.progress().global_step.rotate_left(17);
                self.flush_steps();
                self.sample(count, epoch, seed);
            }
            WorkerCommand::SaveCheckpoint { path } => {
                let Some(trainer) = &self.trainer else {
                    self.emit(WorkerEvent::Error(
                        "there is no model to save yet: train or open one first".into(),
                    ));
                    return;
                };
                match checkpoint_io::save(&path, trainer.snapshot()) {
                    Ok(()) => {
                        self.emit(WorkerEvent::Message(format!(
                            "checkpoint saved to {}",
                            path.display()
                        )));
                        self.emit(WorkerEvent::CheckpointSaved { path });
                    }
                    Err(message) => self.emit(WorkerEvent::Error(message)),
                }
            }
            WorkerCommand::OpenCheckpoint { path } => self.open(path),
            WorkerCommand::SnapshotWeights => {
                let event = match &self.trainer {
                    Some(trainer) => WorkerEvent::WeightsSnapshot(ModelSnapshot::of(trainer)),
                    None => WorkerEvent::Error(
                        "there is no model to explore yet: train one or open a checkpoint".into(),
                    ),
                };
                self.emit(event);
            }
            WorkerCommand::DebugPanic => panic!("a debug panic was requested"),
            WorkerCommand::Shutdown => {
                self.running = false;
                self.alive = false;
            }
        }
    }

    fn start(&mut self, model: ModelConfig, train: TrainConfig, source: DataSource) {
        if self.running {
            self.emit(WorkerEvent::Message("already training".into()));
            return;
        }
        if self.data.as_ref().map(|(s, _)| s) != Some(&source) {
            self.set_state(WorkerState::Loading);
            let loaded = match &source {
                DataSource::MnistDir(dir) => load_mnist(dir)
                    .map_err(|err| format!("could not load the training data: {err}")),
                DataSource::Synthetic { train, test, seed } => {
                    Ok(Mnist::synthetic(*train, *test, *seed))
                }
            };
            match loaded {
                Ok(mnist) => {
                    self.emit(WorkerEvent::Message(format!(
                        "loaded {} training and {} test images",
                        mnist.train.len(),
                        mnist.test.len()
                    )));
                    self.data = Some((source, Arc::new(mnist)));
                }
                Err(message) => return self.fail(message),
            }
        }
        match &mut self.trainer {
            Some(trainer) => {
                if trainer.model_config() != &model {
                    return self.fail(
                        "the architecture differs from the trained model's: press Reset to start a new model"
                            .into(),
                    );
                }
                if let Err(err) = trainer.set_config(train) {
                    return self.fail(err.to_string());
                }
            }
            None => match Trainer::new(model, train) {
                Ok(trainer) => self.trainer = Some(trainer),
                Err(err) => return self.fail(err.to_string()),
            },
        }
        let Some(trainer) = &self.trainer else {
            return;
        };
        let started = WorkerEvent::Started {
            model: trainer.model_config().clone(),
            train: trainer.config().clone(),
            history: trainer.history().clone(),
            progress: self.progress(),
        };
        let finished = trainer.is_finished();
        let epochs = trainer.config().epochs;
        self.emit(started);
        if finished {
            self.emit(WorkerEvent::Message(format!(
                "all {epochs} epochs are done: raise the epoch count to train more"
            )));
            self.emit(WorkerEvent::Finished { stopped: false });
            self.set_state(WorkerState::Finished);
            return;
        }
        self.running = true;
        self.paused = false;
        self.last_flush = Instant::now();
        self.set_state(WorkerState::Training);
    }

    fn train_step(&mut self) {
        let (Some(trainer), Some((_, data))) = (&mut self.trainer, &self.data) else {
            self.running = false;
            let state = self.resting_state();
            self.set_state(state);
            return;
        };
        let data = Arc::clone(data);
        let report = match trainer.step(&data) {
            Ok(report) => report,
            Err(err) => return self.fail(err.to_string()),
        };
        if let Some(point) = trainer.history().steps.recent.back() {
            self.pending_points.push(*point);
        }
        let samples = trainer.config().samples_per_epoch;
        let finished = trainer.is_finished();
        if report.epoch_finished.is_some() || self.last_flush.elapsed() >= STEP_EVENT_INTERVAL {
            self.flush_steps();
        }
        if let Some(record) = report.epoch_finished {
            let progress = self.progress();
            self.emit(WorkerEvent::EpochFinished { record, progress });
            if samples > 0 {
                let seed = self
                    .trainer
                    .as_ref()
                    .map_or(0, |t| t.epoch_sample_seed(record.epoch));
                self.sample(samples, record.epoch, seed);
            }
        }
        if finished {
            self.flush_steps();
            self.running = false;
            self.paused = false;
            self.emit(WorkerEvent::Finished { stopped: false });
            self.emit(WorkerEvent::Message("training finished".into()));
            self.set_state(WorkerState::Finished);
        }
    }

    /// Draws `count` samples, streaming the canvas after each image row.
    fn sample(&mut self, count: usize, epoch: usize, seed: u64) {
        let Some(trainer) = &self.trainer else {
            return;
        };
        let before = self.state;
        // Borrow-split: the callback needs the sender while the trainer is borrowed.
        let events = self.events.clone();
        let repaint = Arc::clone(&self.repaint);
        if before != WorkerState::Sampling {
            self.state = WorkerState::Sampling;
            let _ = events.send(WorkerEvent::State(WorkerState::Sampling));
            repaint();
        }
        let mut on_row = |grid: &SampleGrid| {
            // Progress may be dropped when the UI is behind; the final grid is not.
            let _ = events.try_send(WorkerEvent::SampleProgress {
                epoch,
                grid: grid.clone(),
            });
            repaint();
        };
        match trainer.sample(count, seed, ClassChoice::Rows, &mut on_row) {
            Ok(grid) => self.emit(WorkerEvent::SamplesReady { epoch, grid }),
            Err(err) => self.emit(WorkerEvent::Error(format!("sampling failed: {err}"))),
        }
        let after = if self.running {
            if self.paused {
                WorkerState::Paused
            } else {
                WorkerState::Training
            }
        } else if before == WorkerState::Error || before == WorkerState::Sampling {
            self.resting_state()
        } else {
            before
        };
        self.set_state(after);
    }

    fn open(&mut self, path: std::path::PathBuf) {
        if self.running {
            self.emit(WorkerEvent::Error(
                "stop training before opening a checkpoint (the current model is kept)".into(),
            ));
            return;
        }
        let snapshot = match checkpoint_io::load(&path) {
            Ok(snapshot) => snapshot,
            Err(message) => {
                self.emit(WorkerEvent::Error(message));
                return;
            }
        };
        let trainer = match Trainer::from_snapshot(snapshot) {
            Ok(trainer) => trainer,
            Err(err) => {
                self.emit(WorkerEvent::Error(format!(
                    "could not open the checkpoint: {err}: {}",
                    path.display()
                )));
                return;
            }
        };
        let epochs_done = trainer.progress().epochs_done;
        let samples = trainer.config().samples_per_epoch;
        let seed = trainer.epoch_sample_seed(epochs_done);
        self.trainer = Some(trainer);
        let Some(trainer) = &self.trainer else {
            return;
        };
        let opened = WorkerEvent::CheckpointOpened {
            path: path.clone(),
            model: trainer.model_config().clone(),
            train: trainer.config().clone(),
            history: trainer.history().clone(),
            progress: self.progress(),
        };
        self.emit(opened);
        self.emit(WorkerEvent::Message(format!(
            "opened checkpoint {} ({epochs_done} epochs trained)",
            path.display()
        )));
        let state = self.resting_state();
        self.set_state(state);
        if epochs_done > 0 && samples > 0 {
            // The same seed as the epoch's own samples: the same grid comes back.
            self.sample(samples, epochs_done, seed);
        }
    }
}
