//! The worker thread's loop: take commands, drive the run through the training driver (which
//! hands control back between steps, evaluation chunks and sample rows whenever a command is
//! waiting), keep the model's run folder, save and open checkpoints, and report everything as
//! events.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use super::{checkpoint_io, WorkerOptions, STEP_EVENT_INTERVAL};
use crate::data::{DataSource, Mnist};
use crate::messages::{RunProgress, WorkerCommand, WorkerEvent, WorkerState};
use crate::model::{ClassChoice, ModelConfig, SampleStyle};
use crate::run::status::HEARTBEAT_EVERY;
use crate::run::{Checkpointed, RunError, RunFiles, RunState, RunWriter, WriterOptions};
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
            run: RunSlot::None,
            run_error: None,
        },
        commands,
        options,
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

/// The model's run folder.
enum RunSlot {
    /// None: no model, a model opened from a checkpoint file, or no runs folder.
    None,
    /// The model was opened from this run folder to look at; training takes the run over.
    Opened(PathBuf),
    /// This worker writes the run (and holds its lock).
    Writing(Box<RunWriter>),
}

struct WorkerLoop {
    commands: Receiver<WorkerCommand>,
    out: Reporter,
    options: WorkerOptions,
    session: Option<Session>,
    data: Option<(DataSource, Arc<Mnist>)>,
    /// A run is in progress (possibly paused).
    running: bool,
    paused: bool,
}

/// The worker's voice: sends events (coalescing steps), tracks the reported state, writes the
/// run folder, and tells the driver to hand control back when a command is waiting.
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
    run: RunSlot,
    /// The last failure to write the run folder that was reported (reported once until it
    /// changes or a write works again).
    run_error: Option<String>,
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

    /// Reports what a write of the run folder did: a checkpoint as `Autosaved`, a failure once
    /// (training goes on).
    fn report_run_write(&mut self, result: Result<Option<Checkpointed>, RunError>) {
        match result {
            Ok(saved) => {
                self.run_error = None;
                if let Some(Checkpointed { path, global_step }) = saved {
                    self.emit(WorkerEvent::Autosaved { path, global_step });
                }
            }
            Err(err) => {
                let message = format!("could not write the run folder (training goes on): {err}");
                if self.run_error.as_ref() != Some(&message) {
                    self.run_error = Some(message.clone());
                    self.emit(WorkerEvent::Error(message));
                }
            }
        }
    }

    /// Tells the run folder about a training event, then writes a checkpoint or a heartbeat
    /// when one is due.
    fn record(&mut self, trainer: &Trainer, event: &TrainEvent<'_>) {
        let RunSlot::Writing(writer) = &mut self.run else {
            return;
        };
        let result = writer.record(trainer, event).and_then(|saved| match saved {
            Some(saved) => Ok(Some(saved)),
            None => writer.tick(trainer),
        });
        self.report_run_write(result);
    }

    /// Settles the run folder (a pause, a stop, the end, an error): its checkpoint if due, its
    /// state.
    fn settle_run(&mut self, trainer: &Trainer, state: RunState, error: Option<String>) {
        let RunSlot::Writing(writer) = &mut self.run else {
            return;
        };
        let result = writer.settle(trainer, state, error);
        self.report_run_write(result);
    }

    /// Closes the run folder being written (its last checkpoint, stopped or finished) and
    /// forgets the slot; tells the UI the model has no run folder any more.
    fn close_run(&mut self, trainer: Option<&Trainer>) {
        let slot = std::mem::replace(&mut self.run, RunSlot::None);
        let had_run = !matches!(slot, RunSlot::None);
        if let RunSlot::Writing(writer) = slot {
            let state = match trainer {
                Some(trainer) if trainer.is_finished() => RunState::Finished,
                _ => RunState::Stopped,
            };
            if let Err(err) = writer.close(trainer, state) {
                self.emit(WorkerEvent::Error(format!(
                    "could not write the run's last checkpoint: {err}"
                )));
            }
        }
        if had_run {
            self.emit(WorkerEvent::RunDetached);
        }
    }
}

impl RunHooks for Reporter {
    fn on_event(&mut self, trainer: &Trainer, event: TrainEvent<'_>) {
        self.record(trainer, &event);
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
                match self.wait_for_command() {
                    Some(command) => command,
                    None => break,
                }
            };
            self.guarded(|worker| worker.handle(command));
        }
        self.running = false;
        let trainer = self.session.as_ref().map(|s| &s.trainer);
        self.out.close_run(trainer);
    }

    /// Waits for the next command (`None`: the UI's handle is gone). A paused run's folder
    /// keeps its heartbeat meanwhile, so readers elsewhere see it alive.
    fn wait_for_command(&mut self) -> Option<WorkerCommand> {
        loop {
            let RunSlot::Writing(writer) = &mut self.out.run else {
                return self.commands.recv().ok();
            };
            if !self.paused {
                return self.commands.recv().ok();
            }
            match self.commands.recv_timeout(HEARTBEAT_EVERY) {
                Ok(command) => return Some(command),
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => {
                    let result = writer.heartbeat().map(|()| None);
                    self.out.report_run_write(result);
                }
            }
        }
    }

    /// Runs `body`, turning a panic into an error report (the thread keeps serving).
    fn guarded(&mut self, body: impl FnOnce(&mut WorkerLoop)) {
        if let Err(message) = guard(|| body(self)) {
            self.fail(format!(
                "the training thread hit a bug and stopped the run: {message}"
            ));
        }
    }

    /// Ends the run with an error message; the model in memory is kept (and its run folder
    /// gets that last good state).
    fn fail(&mut self, message: String) {
        if let Some(session) = &self.session {
            self.out.flush_steps(&session.trainer);
            if self.running {
                self.out
                    .settle_run(&session.trainer, RunState::Stopped, Some(message.clone()));
            }
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

    fn writer_options(&self) -> WriterOptions {
        WriterOptions {
            program: "studio",
            autosave_every: self.options.autosave_every,
        }
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
                self.out
                    .settle_run(&session.trainer, RunState::Finished, None);
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
                        // A paused run is kept as it stands: the pause may be long.
                        self.out.settle_run(&session.trainer, RunState::Live, None);
                    }
                    self.out.set_state(WorkerState::Paused);
                }
            }
            WorkerCommand::Resume => {
                if self.running && self.paused {
                    self.paused = false;
                    if let (Some(session), RunSlot::Writing(writer)) =
                        (&self.session, &mut self.out.run)
                    {
                        let result = writer
                            .begin(&session.trainer, self.out.steps_per_epoch)
                            .map(|()| None);
                        self.out.report_run_write(result);
                    }
                    self.out.set_state(WorkerState::Training);
                }
            }
            WorkerCommand::Stop => self.stop(),
            WorkerCommand::Reset => {
                self.put_model_away();
                self.out.emit(WorkerEvent::Message("model put away".into()));
            }
            WorkerCommand::SampleNow {
                count,
                classes,
                style,
            } => self.sample_now(count, classes, style),
            WorkerCommand::SaveCheckpoint { path, replace } => self.save(path, replace),
            WorkerCommand::OpenCheckpoint { path } => self.open(path, None),
            WorkerCommand::OpenRun { dir } => {
                let path = RunFiles::new(&dir).checkpoint();
                self.open(path, Some(dir));
            }
            WorkerCommand::SaveRun => self.save_run(),
            WorkerCommand::DiscardRun => self.discard_run(),
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

    /// Forgets the model after closing its run folder (which stays): Reset.
    fn put_model_away(&mut self) {
        self.running = false;
        self.paused = false;
        self.out.pending_points.clear();
        let session = self.session.take();
        self.out.close_run(session.as_ref().map(|s| &s.trainer));
        self.out.emit(WorkerEvent::ResetDone);
        self.out.set_state(WorkerState::Idle);
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
            let state = if session.trainer.is_finished() {
                RunState::Finished
            } else {
                RunState::Stopped
            };
            self.out.settle_run(&session.trainer, state, None);
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
            // Nothing to train: no run folder is made or taken over for it.
            self.out.emit(WorkerEvent::Message(format!(
                "all {epochs} epochs are done: raise the epoch count to train more"
            )));
            self.out.emit(WorkerEvent::Finished { stopped: false });
            self.out.set_state(WorkerState::Finished);
            return;
        }
        if let Err(message) = self.attach_run_for_training() {
            return self.fail(message);
        }
        if let (Some(session), RunSlot::Writing(writer)) = (&self.session, &mut self.out.run) {
            let result = writer
                .begin(&session.trainer, self.out.steps_per_epoch)
                .map(|()| None);
            self.out.report_run_write(result);
        }
        self.running = true;
        self.paused = false;
        self.out.last_flush = Instant::now();
        self.out.set_state(WorkerState::Training);
    }

    /// Before training: the model's run folder, made for a new model (or one opened from a
    /// checkpoint file), taken over for an opened run, kept when this worker writes it
    /// already. Without a runs folder, or when no folder can be made, training goes on without
    /// one (said once). Refused (the error message) when an opened run cannot be taken over.
    fn attach_run_for_training(&mut self) -> Result<(), String> {
        let options = self.writer_options();
        let Some(session) = &self.session else {
            return Ok(());
        };
        let trainer = &session.trainer;
        match std::mem::replace(&mut self.out.run, RunSlot::None) {
            RunSlot::Writing(writer) => self.out.run = RunSlot::Writing(writer),
            RunSlot::Opened(dir) => {
                let taken = RunWriter::take_over(&dir, &options);
                let (writer, snapshot) = match taken {
                    Ok(taken) => taken,
                    Err(err) => {
                        self.out.run = RunSlot::Opened(dir);
                        return Err(format!("could not continue the run: {err}"));
                    }
                };
                if &snapshot.progress != trainer.progress() {
                    // Dropping the writer releases the run again.
                    self.out.run = RunSlot::Opened(dir);
                    return Err(format!(
                        "the run moved on since it was opened (it is at step {} now): open it again to continue it",
                        snapshot.progress.global_step
                    ));
                }
                let (dir, name) = (writer.dir().to_path_buf(), writer.name().to_string());
                self.out.run = RunSlot::Writing(Box::new(writer));
                self.out.emit(WorkerEvent::RunAttached {
                    dir,
                    name,
                    writing: true,
                });
            }
            RunSlot::None => {
                let Some(root) = &self.options.runs_root else {
                    return Ok(());
                };
                match RunWriter::create_in(root, trainer, &options) {
                    Ok(writer) => {
                        let (dir, name) = (writer.dir().to_path_buf(), writer.name().to_string());
                        self.out.run = RunSlot::Writing(Box::new(writer));
                        self.out.emit(WorkerEvent::RunAttached {
                            dir: dir.clone(),
                            name,
                            writing: true,
                        });
                        self.out.emit(WorkerEvent::Message(format!(
                            "this run is kept in {}",
                            dir.display()
                        )));
                    }
                    Err(err) => self.out.emit(WorkerEvent::Error(format!(
                        "could not make a run folder, so training goes on without one (use Save checkpoint as... to keep the model): {err}"
                    ))),
                }
            }
        }
        Ok(())
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

    /// "Save checkpoint as...": a copy at `path`, which is never replaced without `replace`.
    fn save(&mut self, path: PathBuf, replace: bool) {
        let Some(session) = &self.session else {
            self.out.emit(WorkerEvent::Error(
                "there is no model to save yet: train or open one first".into(),
            ));
            return;
        };
        if !replace && path.exists() {
            self.out.emit(WorkerEvent::SaveWouldReplace { path });
            return;
        }
        match checkpoint_io::save(&path, session.trainer.snapshot()) {
            // The UI says so (once) when it gets this.
            Ok(()) => self.out.emit(WorkerEvent::CheckpointSaved { path }),
            Err(message) => self.out.emit(WorkerEvent::Error(message)),
        }
    }

    /// Writes the run's checkpoint now (before the window closes).
    fn save_run(&mut self) {
        let dir = match (&mut self.out.run, &self.session) {
            (RunSlot::Writing(writer), Some(session)) => {
                let dir = writer.dir().to_path_buf();
                let result = writer.save(&session.trainer).map(Some);
                let failed = result.is_err();
                self.out.report_run_write(result);
                if failed {
                    return;
                }
                dir
            }
            (RunSlot::Opened(dir), _) => dir.clone(),
            _ => {
                self.out.emit(WorkerEvent::Error(
                    "this model has no run folder: use Save checkpoint as... to keep it".into(),
                ));
                return;
            }
        };
        self.out.emit(WorkerEvent::RunSaved { dir });
    }

    /// Stops whatever runs, deletes the model's run folder and forgets the model.
    fn discard_run(&mut self) {
        self.running = false;
        self.paused = false;
        self.out.pending_points.clear();
        let dir = match std::mem::replace(&mut self.out.run, RunSlot::None) {
            RunSlot::Writing(writer) => {
                let dir = writer.dir().to_path_buf();
                if let Err(err) = writer.discard() {
                    self.out.emit(WorkerEvent::Error(format!(
                        "could not delete the run: {err}"
                    )));
                }
                Some(dir)
            }
            RunSlot::Opened(dir) => {
                if let Err(message) = crate::run::writer::delete_run_folder(&dir) {
                    // Not deleted (another writer holds it): the model stays, as it was.
                    self.out.run = RunSlot::Opened(dir);
                    self.out.emit(WorkerEvent::Error(message));
                    let state = self.resting_state();
                    self.out.set_state(state);
                    return;
                }
                Some(dir)
            }
            RunSlot::None => None,
        };
        self.session = None;
        self.out.emit(WorkerEvent::RunDiscarded { dir });
        self.out.emit(WorkerEvent::ResetDone);
        self.out
            .emit(WorkerEvent::Message("the run was discarded".into()));
        self.out.set_state(WorkerState::Idle);
    }

    /// Opens the checkpoint at `path`; `run` is the run folder it is the checkpoint of (`None`:
    /// a checkpoint file, never written by training).
    fn open(&mut self, path: PathBuf, run: Option<PathBuf>) {
        if self.running {
            self.out.emit(WorkerEvent::Error(
                "stop training before opening a checkpoint (the current model is kept)".into(),
            ));
            return;
        }
        // Reopening the run this worker writes: it is settled first, so it reads back as it
        // stands.
        if let (RunSlot::Writing(writer), Some(dir), Some(session)) =
            (&mut self.out.run, &run, &self.session)
        {
            if same_folder(writer.dir(), dir) {
                let result = writer.settle(&session.trainer, RunState::Stopped, None);
                self.out.report_run_write(result);
            }
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
        // The model put away keeps its run (and that run's last checkpoint).
        let old = self.session.take();
        let same_run = match (&self.out.run, &run) {
            (RunSlot::Writing(writer), Some(dir)) => same_folder(writer.dir(), dir),
            (RunSlot::Opened(open), Some(dir)) => same_folder(open, dir),
            _ => false,
        };
        if !same_run {
            self.out.close_run(old.as_ref().map(|s| &s.trainer));
        }
        let epochs_done = trainer.progress().epochs_done;
        let samples = trainer.config().samples_per_epoch;
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
        match run {
            Some(dir) => {
                if !same_run {
                    self.out.run = RunSlot::Opened(dir.clone());
                }
                let writing = matches!(self.out.run, RunSlot::Writing(_));
                let name = dir
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                self.out.emit(WorkerEvent::RunAttached {
                    dir: dir.clone(),
                    name: name.clone(),
                    writing,
                });
                self.out.emit(WorkerEvent::Message(format!(
                    "opened run {name} ({epochs_done} epochs trained)"
                )));
            }
            None => self.out.emit(WorkerEvent::Message(format!(
                "opened checkpoint {} ({epochs_done} epochs trained)",
                path.display()
            ))),
        }
        let state = self.resting_state();
        self.out.set_state(state);
        if epochs_done > 0 && samples > 0 && job.stamp.global_step > 0 {
            self.draw_now(job);
        }
    }
}

/// Whether two paths name the same folder (compared as given, then as resolved).
fn same_folder(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (a.canonicalize(), b.canonicalize()),
            (Ok(a), Ok(b)) if a == b
        )
}
