//! The worker thread's loop: take commands, drive the run through the training driver (which
//! hands control back between steps, evaluation chunks and sample rows whenever a command is
//! waiting), save and open checkpoints, keep the autosave, and report everything as events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, TryRecvError};

use super::{checkpoint_io, WorkerOptions, STEP_EVENT_INTERVAL};
use crate::data::{DataSource, Mnist};
use crate::messages::{RunProgress, WorkerCommand, WorkerEvent, WorkerState};
use crate::model::{ClassChoice, ModelConfig, SampleStyle};
use crate::service::{guard, Outbox};
use crate::train::{
    preview_seed, Driver, ModelSnapshot, RunHooks, RunOutcome, SampleJob, SampleKind, SampleStamp,
    StepPoint, TrainConfig, TrainEvent, Trainer,
};

/// Entry point of the worker thread.
pub(super) fn worker_main(
    commands: Receiver<WorkerCommand>,
    outbox: Outbox<WorkerEvent>,
    options: WorkerOptions,
) {
    let mut worker = WorkerLoop {
        out: Reporter {
            commands: commands.clone(),
            outbox,
            alive: true,
            state: WorkerState::Idle,
            pending_points: Vec::new(),
            last_flush: Instant::now(),
            steps_per_epoch: 0,
            in_run: false,
            autosave: Autosave {
                path: options.autosave,
                ours: false,
                forgotten: false,
                on_disk_step: None,
            },
        },
        commands,
        session: None,
        data: None,
        running: false,
        paused: false,
    };
    worker.run();
}

/// A model and the position of its run.
struct Session {
    trainer: Trainer,
    driver: Driver,
}

struct WorkerLoop {
    commands: Receiver<WorkerCommand>,
    out: Reporter,
    session: Option<Session>,
    data: Option<(DataSource, Arc<Mnist>)>,
    /// A run is in progress (possibly paused).
    running: bool,
    paused: bool,
}

/// Where the autosave goes and what it holds.
struct Autosave {
    path: Option<PathBuf>,
    /// The file holds this worker's model: it wrote it, or the model was opened from it (so it
    /// is deleted when the user discards the model).
    ours: bool,
    /// The user discarded the model: write no autosave any more.
    forgotten: bool,
    /// The step count of the model's state that is on disk (saved, autosaved or opened).
    on_disk_step: Option<u64>,
}

/// The worker's voice: sends events (coalescing steps), tracks the reported state, keeps the
/// autosave, and tells the driver to hand control back when a command is waiting.
struct Reporter {
    commands: Receiver<WorkerCommand>,
    outbox: Outbox<WorkerEvent>,
    /// The UI's handle still exists and has not asked the thread to end.
    alive: bool,
    state: WorkerState,
    pending_points: Vec<StepPoint>,
    last_flush: Instant,
    /// Minibatches per epoch of the run in progress.
    steps_per_epoch: usize,
    /// The driver is running a training run (not drawing a lone grid): between two units of
    /// work the state is "training".
    in_run: bool,
    autosave: Autosave,
}

impl Reporter {
    /// Sends an event and wakes the UI; a closed channel ends the loop.
    fn emit(&mut self, event: WorkerEvent) {
        if !self.outbox.send(event) {
            self.alive = false;
        }
    }

    fn set_state(&mut self, state: WorkerState) {
        if self.state != state {
            self.state = state;
            self.emit(WorkerEvent::State(state));
        }
    }

    fn progress(&self, trainer: &Trainer) -> RunProgress {
        let progress = trainer.progress();
        RunProgress {
            epochs_done: progress.epochs_done,
            epochs_target: trainer.config().epochs,
            step_in_epoch: progress.step_in_epoch,
            steps_per_epoch: self.steps_per_epoch,
            global_step: progress.global_step,
            images_per_sec: trainer.images_per_sec(),
            batch_size: trainer.config().batch_size,
        }
    }

    fn flush_steps(&mut self, trainer: &Trainer) {
        if self.pending_points.is_empty() {
            return;
        }
        let points = std::mem::take(&mut self.pending_points);
        let progress = self.progress(trainer);
        self.last_flush = Instant::now();
        self.emit(WorkerEvent::Steps { points, progress });
    }

    /// Writes the autosave checkpoint (when one is configured and not forgotten). A failure is
    /// reported and training goes on.
    fn autosave(&mut self, trainer: &Trainer) {
        let Some(path) = self.autosave.path.clone() else {
            return;
        };
        if self.autosave.forgotten {
            return;
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // An error here shows up as the save's error just below.
            let _ = std::fs::create_dir_all(dir);
        }
        match crate::checkpoint::save(&path, trainer.snapshot()) {
            Ok(()) => {
                let global_step = trainer.progress().global_step;
                self.autosave.ours = true;
                self.autosave.on_disk_step = Some(global_step);
                self.emit(WorkerEvent::Autosaved { path, global_step });
            }
            Err(err) => self.emit(WorkerEvent::Error(format!(
                "could not write the autosave (training goes on): {err}"
            ))),
        }
    }

    /// Deletes the autosave when it holds this worker's model.
    fn delete_autosave(&mut self) {
        if let (true, Some(path)) = (self.autosave.ours, &self.autosave.path) {
            // Already gone is fine.
            let _ = std::fs::remove_file(path);
        }
        self.autosave.ours = false;
    }
}

impl RunHooks for Reporter {
    fn on_event(&mut self, trainer: &Trainer, event: TrainEvent<'_>) {
        match event {
            TrainEvent::Step { .. } => {
                self.set_state(WorkerState::Training);
                if let Some(point) = trainer.history().steps.recent.back() {
                    self.pending_points.push(*point);
                }
                if self.last_flush.elapsed() >= STEP_EVENT_INTERVAL {
                    self.flush_steps(trainer);
                }
            }
            TrainEvent::Evaluating {
                images_done,
                images_total,
            } => {
                self.flush_steps(trainer);
                self.set_state(WorkerState::Evaluating);
                self.emit(WorkerEvent::Evaluating {
                    images_done,
                    images_total,
                });
            }
            TrainEvent::EpochFinished(record) => {
                self.flush_steps(trainer);
                let progress = self.progress(trainer);
                self.emit(WorkerEvent::EpochFinished { record, progress });
                self.autosave(trainer);
                if self.in_run {
                    // Training goes on (or samples, which say so): not "evaluating" any more.
                    self.set_state(WorkerState::Training);
                }
            }
            TrainEvent::Sampling { stamp, grid } => {
                self.flush_steps(trainer);
                self.set_state(WorkerState::Sampling);
                // Progress may be dropped when the UI is behind; the final grid is not.
                self.outbox.send_droppable(WorkerEvent::SampleProgress {
                    stamp,
                    grid: grid.clone(),
                });
            }
            TrainEvent::SamplesReady { stamp, grid } => {
                self.emit(WorkerEvent::SamplesReady {
                    stamp,
                    grid: grid.clone(),
                });
                if self.in_run {
                    self.set_state(WorkerState::Training);
                }
            }
        }
    }

    fn should_yield(&mut self) -> bool {
        !self.alive || !self.commands.is_empty()
    }
}

impl WorkerLoop {
    fn run(&mut self) {
        while self.out.alive {
            if self.running && !self.paused {
                self.guarded(|worker| worker.drive());
            }
            if !self.out.alive {
                break;
            }
            let command = if self.running && !self.paused {
                match self.commands.try_recv() {
                    Ok(command) => command,
                    Err(TryRecvError::Empty) => continue,
                    Err(TryRecvError::Disconnected) => break,
                }
            } else {
                if let Some(session) = &self.session {
                    self.out.flush_steps(&session.trainer);
                }
                match self.commands.recv() {
                    Ok(command) => command,
                    Err(_) => break,
                }
            };
            self.guarded(|worker| worker.handle(command));
        }
        self.running = false;
        self.autosave_on_exit();
    }

    /// Runs `body`, turning a panic into an error report (the thread keeps serving).
    fn guarded(&mut self, body: impl FnOnce(&mut WorkerLoop)) {
        if let Err(message) = guard(|| body(self)) {
            self.fail(format!(
                "the training thread hit a bug and stopped the run: {message}"
            ));
        }
    }

    /// Ends the run with an error message; the model in memory is kept.
    fn fail(&mut self, message: String) {
        if let Some(session) = &self.session {
            self.out.flush_steps(&session.trainer);
        }
        self.running = false;
        self.paused = false;
        self.out.in_run = false;
        self.out.emit(WorkerEvent::Error(message));
        self.out.set_state(WorkerState::Error);
    }

    /// The state to return to when nothing is running.
    fn resting_state(&self) -> WorkerState {
        match &self.session {
            None => WorkerState::Idle,
            Some(session) if session.trainer.is_finished() => WorkerState::Finished,
            Some(_) => WorkerState::Stopped,
        }
    }

    fn steps_per_epoch(&self, trainer: &Trainer) -> usize {
        self.data
            .as_ref()
            .map_or(0, |(_, data)| trainer.steps_per_epoch(&data.train))
    }

    /// Trains until the run finishes or a command is waiting.
    fn drive(&mut self) {
        let (Some(session), Some((_, data))) = (&mut self.session, &self.data) else {
            self.running = false;
            let state = self.resting_state();
            self.out.set_state(state);
            return;
        };
        let data = Arc::clone(data);
        self.out.steps_per_epoch = session.trainer.steps_per_epoch(&data.train);
        self.out.in_run = true;
        let outcome = session
            .driver
            .run(&mut session.trainer, &data, &mut self.out);
        self.out.in_run = false;
        match outcome {
            Ok(RunOutcome::Yielded) => {}
            Ok(RunOutcome::Finished) => {
                self.out.flush_steps(&session.trainer);
                self.running = false;
                self.paused = false;
                self.out.emit(WorkerEvent::Finished { stopped: false });
                self.out
                    .emit(WorkerEvent::Message("training finished".into()));
                self.out.set_state(WorkerState::Finished);
            }
            Err(err) => self.fail(err.to_string()),
        }
    }

    fn handle(&mut self, command: WorkerCommand) {
        match command {
            WorkerCommand::Start {
                model,
                train,
                data,
                preview_every,
            } => self.start(model, train, data, preview_every),
            WorkerCommand::Pause => {
                if self.running && !self.paused {
                    self.paused = true;
                    if let Some(session) = &self.session {
                        self.out.flush_steps(&session.trainer);
                    }
                    self.out.set_state(WorkerState::Paused);
                }
            }
            WorkerCommand::Resume => {
                if self.running && self.paused {
                    self.paused = false;
                    self.out.set_state(WorkerState::Training);
                }
            }
            WorkerCommand::Stop => self.stop(),
            WorkerCommand::Reset => {
                self.running = false;
                self.paused = false;
                self.out.pending_points.clear();
                self.session = None;
                self.out.delete_autosave();
                self.out.autosave.on_disk_step = None;
                self.out.emit(WorkerEvent::ResetDone);
                self.out
                    .emit(WorkerEvent::Message("model discarded".into()));
                self.out.set_state(WorkerState::Idle);
            }
            WorkerCommand::SampleNow {
                count,
                classes,
                style,
            } => self.sample_now(count, classes, style),
            WorkerCommand::SaveCheckpoint { path } => self.save(path),
            WorkerCommand::OpenCheckpoint { path } => self.open(path),
            WorkerCommand::ForgetAutosave => {
                self.out.delete_autosave();
                self.out.autosave.forgotten = true;
            }
            WorkerCommand::SnapshotWeights => {
                let event = match &self.session {
                    Some(session) => {
                        WorkerEvent::WeightsSnapshot(ModelSnapshot::of(&session.trainer))
                    }
                    None => WorkerEvent::Error(
                        "there is no model to explore yet: train one or open a checkpoint".into(),
                    ),
                };
                self.out.emit(event);
            }
            WorkerCommand::DebugPanic => panic!("a debug panic was requested"),
            WorkerCommand::Shutdown => {
                self.running = false;
                self.out.alive = false;
            }
        }
    }

    fn stop(&mut self) {
        let Some(session) = &mut self.session else {
            return;
        };
        // A grid of an epoch end or a preview is dropped: Stop means stop now.
        session.driver.cancel_samples();
        if self.running {
            self.out.flush_steps(&session.trainer);
            self.running = false;
            self.paused = false;
            self.out.emit(WorkerEvent::Finished { stopped: true });
            self.out
                .emit(WorkerEvent::Message("training stopped".into()));
        }
        let state = self.resting_state();
        self.out.set_state(state);
    }

    fn start(
        &mut self,
        model: ModelConfig,
        train: TrainConfig,
        source: DataSource,
        preview_every: Option<std::time::Duration>,
    ) {
        if self.running {
            self.out
                .emit(WorkerEvent::Message("already training".into()));
            return;
        }
        if self.data.as_ref().map(|(s, _)| s) != Some(&source) {
            self.out.set_state(WorkerState::Loading);
            let loaded = source
                .load()
                .map_err(|err| format!("could not load the training data: {err}"));
            match loaded {
                Ok(mnist) => {
                    self.out.emit(WorkerEvent::Message(format!(
                        "loaded {} training and {} test images",
                        mnist.train.len(),
                        mnist.test.len()
                    )));
                    self.data = Some((source, Arc::new(mnist)));
                }
                Err(message) => return self.fail(message),
            }
        }
        match &mut self.session {
            Some(session) => {
                if session.trainer.model_config() != &model {
                    return self.fail(
                        "the architecture differs from the trained model's: press Reset to start a new model"
                            .into(),
                    );
                }
                if let Err(err) = session.trainer.set_config(train) {
                    return self.fail(err.to_string());
                }
            }
            None => match Trainer::new(model, train) {
                Ok(trainer) => {
                    self.session = Some(Session {
                        trainer,
                        driver: Driver::new(),
                    })
                }
                Err(err) => return self.fail(err.to_string()),
            },
        }
        let Some(session) = &mut self.session else {
            return;
        };
        session.driver.set_preview_every(preview_every);
        if let Some((_, data)) = &self.data {
            // Recorded now (the driver would at its start) so the UI gets it with `Started`.
            session.trainer.record_settings(&data.train);
        }
        let trainer = &session.trainer;
        self.out.steps_per_epoch = self
            .data
            .as_ref()
            .map_or(0, |(_, data)| trainer.steps_per_epoch(&data.train));
        let started = WorkerEvent::Started {
            model: trainer.model_config().clone(),
            train: trainer.config().clone(),
            history: trainer.history().clone(),
            progress: self.out.progress(trainer),
        };
        let finished = trainer.is_finished();
        let epochs = trainer.config().epochs;
        self.out.emit(started);
        if finished {
            self.out.emit(WorkerEvent::Message(format!(
                "all {epochs} epochs are done: raise the epoch count to train more"
            )));
            self.out.emit(WorkerEvent::Finished { stopped: false });
            self.out.set_state(WorkerState::Finished);
            return;
        }
        self.running = true;
        self.paused = false;
        self.out.last_flush = Instant::now();
        self.out.set_state(WorkerState::Training);
    }

    fn sample_now(&mut self, count: usize, classes: ClassChoice, style: Option<SampleStyle>) {
        let Some(session) = &mut self.session else {
            self.out.emit(WorkerEvent::Error(
                "there is no model to sample from yet: press Start first".into(),
            ));
            return;
        };
        // The choice holds for the grids drawn after later epochs too.
        let config = session.trainer.config();
        if config.sample_classes != classes || config.sample_style != style {
            let config = TrainConfig {
                sample_classes: classes,
                sample_style: style,
                ..session.trainer.config().clone()
            };
            if let Err(err) = session.trainer.set_config(config) {
                self.out.emit(WorkerEvent::Error(format!(
                    "could not change the digits to draw: {err}"
                )));
                return;
            }
        }
        let Some(session) = &self.session else {
            return;
        };
        let trainer = &session.trainer;
        let stamp = SampleStamp::now(trainer, self.steps_per_epoch(trainer), SampleKind::OnDemand);
        let job = SampleJob {
            count,
            seed: preview_seed(trainer.config().seed, stamp.global_step),
            classes,
            stamp,
        };
        if self.running && !self.paused {
            // Drawn by the run before its next step.
            if let Some(session) = &mut self.session {
                session.driver.queue_samples(job);
            }
        } else {
            self.draw_now(job);
        }
    }

    /// Draws one grid while no run is going (after opening a checkpoint, or "Sample now" when
    /// stopped or paused). Any command arriving meanwhile interrupts it; the grid is dropped.
    fn draw_now(&mut self, job: SampleJob) {
        let Some(session) = &self.session else {
            return;
        };
        let before = self.out.state;
        let mut once = Driver::new();
        once.queue_samples(job);
        match once.draw_pending(&session.trainer, &mut self.out) {
            Ok(RunOutcome::Finished) => {}
            Ok(RunOutcome::Yielded) => self
                .out
                .emit(WorkerEvent::Message("sampling interrupted".into())),
            Err(err) => self
                .out
                .emit(WorkerEvent::Error(format!("sampling failed: {err}"))),
        }
        let after = match before {
            WorkerState::Paused => WorkerState::Paused,
            WorkerState::Sampling | WorkerState::Error => self.resting_state(),
            other => other,
        };
        self.out.set_state(after);
    }

    fn save(&mut self, path: PathBuf) {
        let Some(session) = &self.session else {
            self.out.emit(WorkerEvent::Error(
                "there is no model to save yet: train or open one first".into(),
            ));
            return;
        };
        match checkpoint_io::save(&path, session.trainer.snapshot()) {
            Ok(()) => {
                self.out.autosave.on_disk_step = Some(session.trainer.progress().global_step);
                self.out.emit(WorkerEvent::Message(format!(
                    "checkpoint saved to {}",
                    path.display()
                )));
                self.out.emit(WorkerEvent::CheckpointSaved { path });
            }
            Err(message) => self.out.emit(WorkerEvent::Error(message)),
        }
    }

    fn open(&mut self, path: PathBuf) {
        if self.running {
            self.out.emit(WorkerEvent::Error(
                "stop training before opening a checkpoint (the current model is kept)".into(),
            ));
            return;
        }
        let snapshot = match checkpoint_io::load(&path) {
            Ok(snapshot) => snapshot,
            Err(message) => {
                self.out.emit(WorkerEvent::Error(message));
                return;
            }
        };
        let trainer = match Trainer::from_snapshot(snapshot) {
            Ok(trainer) => trainer,
            Err(err) => {
                self.out.emit(WorkerEvent::Error(format!(
                    "could not open the checkpoint: {err}: {}",
                    path.display()
                )));
                return;
            }
        };
        let epochs_done = trainer.progress().epochs_done;
        let samples = trainer.config().samples_per_epoch;
        self.out.autosave.on_disk_step = Some(trainer.progress().global_step);
        // Resuming the autosave makes it this model's: discarding the model deletes it.
        self.out.autosave.ours = self.out.autosave.path.as_ref() == Some(&path);
        self.out.steps_per_epoch = self.steps_per_epoch(&trainer);
        let job = if trainer.progress().step_in_epoch == 0 {
            SampleJob {
                count: samples,
                // The same seed as the epoch's own samples: the same grid comes back.
                seed: trainer.epoch_sample_seed(epochs_done),
                classes: trainer.config().sample_classes,
                stamp: SampleStamp {
                    epoch: epochs_done as f64,
                    global_step: trainer.progress().global_step,
                    kind: SampleKind::EpochEnd,
                    classes: None,
                    style: None,
                },
            }
        } else {
            let stamp = SampleStamp::now(&trainer, self.out.steps_per_epoch, SampleKind::OnDemand);
            SampleJob {
                count: samples,
                seed: preview_seed(trainer.config().seed, stamp.global_step),
                classes: trainer.config().sample_classes,
                stamp,
            }
        };
        let opened = WorkerEvent::CheckpointOpened {
            path: path.clone(),
            model: trainer.model_config().clone(),
            train: trainer.config().clone(),
            history: trainer.history().clone(),
            progress: self.out.progress(&trainer),
        };
        self.session = Some(Session {
            trainer,
            driver: Driver::new(),
        });
        self.out.emit(opened);
        self.out.emit(WorkerEvent::Message(format!(
            "opened checkpoint {} ({epochs_done} epochs trained)",
            path.display()
        )));
        let state = self.resting_state();
        self.out.set_state(state);
        if epochs_done > 0 && samples > 0 && job.stamp.global_step > 0 {
            self.draw_now(job);
        }
    }

    /// On the way out: keep training that is not on disk yet in the autosave.
    fn autosave_on_exit(&mut self) {
        let Some(session) = &self.session else {
            return;
        };
        let step = session.trainer.progress().global_step;
        if step > 0 && self.out.autosave.on_disk_step != Some(step) {
            self.out.autosave(&session.trainer);
        }
    }
}
