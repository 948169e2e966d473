//! The studio's logic: drain the worker's events (under a small time budget, never blocking)
//! and the background threads' results, and keep the state they describe.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Background, Pending, StudioApp, EVENT_BUDGET};
use crate::messages::{RunProgress, WorkerCommand, WorkerEvent, WorkerState};
use crate::model::ModelConfig;
use crate::run::watch::{FollowUpdate, PathKind, RunsCommand, RunsEvent};
use crate::train::{History, TrainConfig};
use crate::ui::controls::Preset;
use crate::ui::dialogs::{DialogPurpose, DialogResult};
use crate::ui::estimate::ProbeKey;
use crate::ui::paths::PathField;
use crate::ui::prompts::{Confirm, ResumeOffer};
use crate::ui::runs::{folder_name, CurrentRun};
use crate::ui::UiCommand;
use crate::worker::Worker;

impl StudioApp {
    /// Drains worker and background events without blocking, for at most `EVENT_BUDGET` (4 ms).
    pub fn drain_events(&mut self) {
        let started = Instant::now();
        while started.elapsed() < EVENT_BUDGET {
            let Some(event) = self.worker.as_ref().and_then(Worker::try_recv) else {
                break;
            };
            self.events_seen += 1;
            self.on_worker_event(event);
        }
        if self.worker.as_ref().is_some_and(Worker::has_pending) {
            // Out of budget with events left: come back next frame even if the worker is quiet.
            self.ctx.request_repaint();
        }
        while started.elapsed() < EVENT_BUDGET {
            let Some(event) = self.runs_service.as_ref().and_then(|r| r.try_recv()) else {
                break;
            };
            self.on_runs_event(event);
        }
        if self.runs_service.as_ref().is_some_and(|r| r.has_pending()) {
            self.ctx.request_repaint();
        }
        while let Ok(item) = self.background_rx.try_recv() {
            self.on_background(item);
        }
        self.keep_listing();
        self.explore.poll();
    }

    /// Applies one worker event: what [`StudioApp::drain_events`] does with each event it takes
    /// (tests also replay fixed events through it, for deterministic pictures).
    pub fn on_worker_event(&mut self, event: WorkerEvent) {
        let now = self.now();
        match event {
            WorkerEvent::State(state) => self.on_state(state),
            WorkerEvent::Started {
                model,
                train,
                history,
                progress,
            } => {
                if self.pending_action == Some(Pending::Starting) {
                    self.pending_action = None;
                }
                self.adopt_model(model, train, &history, progress);
            }
            WorkerEvent::Steps { points, progress } => {
                self.curves.push_steps(&points);
                self.progress = progress;
                self.step_events += 1;
                if !points.is_empty() {
                    self.unsaved = true;
                }
                if self.state == WorkerState::Training {
                    let key = ProbeKey::of(
                        &self.settings.controls.model,
                        &self.settings.controls.train_config(),
                    );
                    self.estimate
                        .observe_training(&key, progress.images_per_sec);
                }
            }
            WorkerEvent::Evaluating {
                images_done,
                images_total,
            } => self.evaluation = Some((images_done, images_total)),
            WorkerEvent::EpochFinished { record, progress } => {
                self.curves.push_epoch(record);
                self.progress = progress;
                self.evaluation = None;
            }
            WorkerEvent::SampleProgress { stamp, grid } => {
                self.samples.set_progress(stamp, grid, now);
            }
            WorkerEvent::SamplesReady { stamp, grid } => self.samples.set_ready(stamp, grid),
            WorkerEvent::CheckpointSaved { path } => {
                self.settle_pending(Pending::Saving);
                if self.current_run.is_none() {
                    // Without a run folder, this copy is what keeps the training.
                    self.unsaved = false;
                }
                self.log
                    .show(now, format!("checkpoint saved to {}", path.display()));
                self.close_if_saved();
            }
            WorkerEvent::SaveWouldReplace { path } => {
                self.settle_pending(Pending::Saving);
                self.confirm = Some(Confirm::Replace(path));
            }
            WorkerEvent::RunAttached { dir, name, writing } => {
                let opened = !writing && self.current_run.as_ref().map(|r| &r.dir) != Some(&dir);
                self.current_run = Some(CurrentRun {
                    dir: dir.clone(),
                    name,
                    writing,
                });
                if opened {
                    // The grids of every epoch come from the run folder.
                    self.send_runs(crate::run::watch::RunsCommand::LoadGrids(dir.clone()));
                }
                if self.start_after_open.as_ref() == Some(&dir) {
                    self.start_after_open = None;
                    self.apply(UiCommand::Start);
                }
            }
            WorkerEvent::RunDetached => self.current_run = None,
            WorkerEvent::RunSaved { dir } => {
                self.settle_pending(Pending::Saving);
                self.log
                    .note(now, format!("run saved in {}", dir.display()));
                self.close_if_saved();
            }
            WorkerEvent::RunDiscarded { dir } => {
                self.settle_pending(Pending::Discarding);
                self.current_run = None;
                if let Some(dir) = dir {
                    self.compared.remove_path(&dir);
                    self.log.note(now, format!("deleted {}", dir.display()));
                }
                if self.close.discard_then_close {
                    self.close.discard_then_close = false;
                    self.close.allowed = true;
                    self.ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
            WorkerEvent::Autosaved { path, global_step } => self.log.note(
                now,
                format!("autosaved step {global_step} to {}", path.display()),
            ),
            WorkerEvent::CheckpointOpened {
                path: _,
                model,
                train,
                history,
                progress,
            } => {
                self.adopt_model(model, train, &history, progress);
                self.samples.clear();
                self.unsaved = false;
            }
            WorkerEvent::WeightsSnapshot(snapshot) => self.explore.set_model(snapshot),
            WorkerEvent::ResetDone => {
                self.has_model = false;
                self.model_generation += 1;
                self.unsaved = false;
                self.evaluation = None;
                // While following, the view is the followed run's (the model was put away to
                // follow it).
                if self.following.is_none() {
                    self.curves.clear();
                    self.samples.clear();
                    self.progress = RunProgress::default();
                }
            }
            WorkerEvent::Message(message) => self.log.show(now, message),
            WorkerEvent::Error(message) => {
                if matches!(
                    self.pending_action,
                    Some(Pending::Starting | Pending::Saving | Pending::Discarding)
                ) {
                    self.pending_action = None;
                }
                // A failed save (or a refused discard) must not close the window.
                self.close.save_then_close = false;
                self.close.discard_then_close = false;
                self.start_after_open = None;
                self.log.error(now, message);
            }
            WorkerEvent::Finished { .. } => {
                if matches!(
                    self.pending_action,
                    Some(Pending::Starting | Pending::Stopping)
                ) {
                    self.pending_action = None;
                }
            }
        }
    }

    fn on_state(&mut self, state: WorkerState) {
        self.state = state;
        if state != WorkerState::Evaluating {
            self.evaluation = None;
        }
        if matches!(
            state,
            WorkerState::Paused
                | WorkerState::Stopped
                | WorkerState::Finished
                | WorkerState::Error
                | WorkerState::Idle
        ) {
            // A grid still drawing now will not complete (a paused run draws it again).
            self.samples.interrupt_drawing();
        }
        let settled = match self.pending_action {
            None => true,
            Some(Pending::Stopping) => !state.is_busy(),
            Some(Pending::Pausing) => state == WorkerState::Paused || !state.is_busy(),
            Some(Pending::Resuming) => state != WorkerState::Paused,
            Some(Pending::Starting) => true,
            // Settled by the save's own answer, or by the discard's.
            Some(Pending::Saving | Pending::Discarding) => false,
        };
        if settled {
            self.pending_action = None;
        }
    }

    /// The worker holds this model now (started or opened): mirror its settings and curves.
    fn adopt_model(
        &mut self,
        model: ModelConfig,
        train: TrainConfig,
        history: &History,
        progress: RunProgress,
    ) {
        self.has_model = true;
        self.model_generation += 1;
        let controls = &mut self.settings.controls;
        controls.preset = Preset::of(&model);
        controls.model = model;
        // The device is the user's choice for this machine, not the checkpoint's.
        controls.train = TrainConfig {
            device: controls.device,
            ..train
        };
        self.curves.set_history(history);
        self.progress = progress;
    }

    fn on_background(&mut self, item: Background) {
        let now = self.now();
        match item {
            Background::Dialog(DialogResult { purpose, path }) => {
                let Some(path) = path else {
                    return self.no_file_chosen(purpose);
                };
                let command = match purpose {
                    DialogPurpose::OpenRunFolder => UiCommand::OpenRunFolder(Some(path)),
                    DialogPurpose::SaveCheckpoint => UiCommand::SaveCheckpoint(Some(path)),
                    DialogPurpose::OpenCheckpoint => UiCommand::OpenCheckpoint(Some(path)),
                    DialogPurpose::SavePng => UiCommand::SavePng(Some(path)),
                    DialogPurpose::CompareCheckpoint => UiCommand::CompareRun(Some(path)),
                    DialogPurpose::ExportCsv => UiCommand::ExportCsv(Some(path)),
                };
                self.apply(command);
            }
            Background::PngSaved(Ok(path)) => {
                self.log
                    .show(now, format!("samples saved to {}", path.display()));
            }
            Background::CsvSaved(Ok(path)) => {
                self.log
                    .show(now, format!("metrics saved to {}", path.display()));
            }
            Background::PngSaved(Err(message)) | Background::CsvSaved(Err(message)) => {
                self.log.error(now, message);
            }
            Background::Compared(path, Ok(history)) => {
                let name = self.compared.add(&path, history);
                self.log.show(now, format!("comparing with {name}"));
            }
            Background::Compared(_, Err(message)) => self.log.error(now, message),
            Background::Speed(key, result) => self.estimate.finish(key, result),
        }
    }

    /// A dialog gave no path: say which field to type it in, and focus that field.
    fn no_file_chosen(&mut self, purpose: DialogPurpose) {
        let field = match purpose {
            DialogPurpose::SaveCheckpoint | DialogPurpose::OpenCheckpoint => PathField::Checkpoint,
            DialogPurpose::SavePng => PathField::Png,
            DialogPurpose::CompareCheckpoint => PathField::Compare,
            DialogPurpose::ExportCsv => PathField::Csv,
            DialogPurpose::OpenRunFolder => PathField::RunFolder,
        };
        if field == PathField::RunFolder {
            self.runs.open = true;
        }
        if purpose == DialogPurpose::SaveCheckpoint {
            // Closing waited for this save: stay open.
            self.close.save_then_close = false;
        }
        if matches!(field, PathField::Compare | PathField::Csv) {
            self.compare_open = true;
        }
        if field == PathField::Png {
            self.settings.tab = crate::ui::Tab::Training;
        }
        if field == PathField::Checkpoint {
            self.settings.show_controls = true;
        }
        self.focus = Some(field);
        let now = self.now();
        self.log.show(
            now,
            format!(
                "no file was chosen (or no file dialog is available here): type a path in the \"{}\" field and press the button again",
                field.label()
            ),
        );
    }

    /// With a data folder, asks the runs thread for crashed runs (and to bring the previous
    /// versions' autosave into a run); the offer comes back as an event.
    pub(super) fn look_for_crashed_runs(&mut self) {
        if let Some(data_folder) = self.data_folder.clone() {
            self.send_runs(RunsCommand::Launch { data_folder });
        }
    }

    /// Queues a command for the runs thread; a failure is shown.
    pub(super) fn send_runs(&mut self, command: RunsCommand) {
        let result = match &self.runs_service {
            Some(service) => service.send(command).map_err(|err| err.to_string()),
            None => Err("the runs thread is not running: restart the studio".to_string()),
        };
        if let Err(message) = result {
            let now = self.now();
            self.log.error(now, message);
        }
    }

    /// Lists the runs while the Runs window is shown (the runs thread reads them again every
    /// few seconds), and stops when it is closed.
    pub(super) fn keep_listing(&mut self) {
        if self.runs.open == self.listing {
            return;
        }
        self.listing = self.runs.open;
        let command = if self.listing {
            RunsCommand::List {
                root: self.runs_root(),
                added: self.settings.added_runs.clone(),
            }
        } else {
            RunsCommand::StopListing
        };
        self.send_runs(command);
    }

    /// Applies one event of the runs thread.
    fn on_runs_event(&mut self, event: RunsEvent) {
        let now = self.now();
        match event {
            RunsEvent::Listed(runs) => {
                if let Some(selected) = &self.runs.selected {
                    if !runs.iter().any(|run| &run.dir == selected) {
                        self.runs.selected = None;
                    }
                }
                self.runs.listed = runs;
            }
            RunsEvent::Inspected {
                path,
                resume,
                result,
            } => match result {
                Ok(PathKind::Checkpoint) => self.apply(UiCommand::OpenCheckpoint(Some(path))),
                Ok(PathKind::Run(run)) => self.open_inspected(&run, resume),
                Err(message) => self.log.error(now, message),
            },
            RunsEvent::Followed(update) => self.on_followed(*update),
            RunsEvent::Grids { dir, grids } => {
                if self.current_run.as_ref().map(|r| &r.dir) == Some(&dir) {
                    self.samples.restore_history(grids);
                }
            }
            RunsEvent::History { path, result } => match result {
                Ok(history) => {
                    if !self.compared.contains(&path) {
                        let name = self.compared.add(&path, history);
                        self.log.show(now, format!("comparing with {name}"));
                    }
                }
                Err(message) => self.log.error(now, message),
            },
            RunsEvent::Deleted { dir, result } => match result {
                Ok(()) => {
                    self.compared.remove_path(&dir);
                    if self.following.as_ref().map(|f| &f.dir) == Some(&dir) {
                        self.stop_following();
                    }
                    self.settings.added_runs.retain(|d| d != &dir);
                    self.log
                        .show(now, format!("deleted the run {}", folder_name(&dir)));
                }
                Err(message) => self.log.error(now, message),
            },
            RunsEvent::Launched {
                imported,
                crashed,
                error,
            } => {
                if let Some(dir) = imported {
                    self.log.show(
                        now,
                        format!(
                            "the previous version's autosave is now the run {} (File > Runs...)",
                            folder_name(&dir)
                        ),
                    );
                }
                if let Some(message) = error {
                    self.log.error(now, message);
                }
                // Not over a model or a run the user already started or follows.
                let idle = !self.has_model
                    && self.following.is_none()
                    && self.pending_action.is_none()
                    && !self.state.is_busy();
                if let (true, Some(run)) = (idle, crashed.first()) {
                    self.resume_offer = Some(ResumeOffer::from_summary(run));
                }
            }
            RunsEvent::Failed(message) => self.log.error(now, message),
        }
    }

    /// A run folder the user picked, read: followed when another process writes it, else
    /// opened in the worker (and trained on, for `resume`).
    fn open_inspected(&mut self, run: &crate::run::RunSummary, resume: bool) {
        let now = self.now();
        let dir = run.dir.clone();
        let under_root = self
            .runs_root()
            .is_some_and(|root| dir.parent() == Some(root.as_path()));
        if !under_root && !self.settings.added_runs.contains(&dir) {
            // Listed from now on, across launches.
            self.settings.added_runs.push(dir.clone());
            self.listing = false;
        }
        if self.current_run.as_ref().map(|r| &r.dir) == Some(&dir) {
            if resume && !self.state.is_busy() {
                self.apply(UiCommand::Start);
            } else {
                self.log
                    .show(now, format!("{} is open already", run.name()));
            }
            return;
        }
        let writer_elsewhere = run.is_live() && !run.status.writer.is_this_process();
        if writer_elsewhere {
            if resume {
                self.log.show(
                    now,
                    format!(
                        "{} is being written by {}: following it instead",
                        run.name(),
                        run.status.writer.describe()
                    ),
                );
            }
            return self.follow(dir);
        }
        if self.state.is_busy() {
            self.log.error(
                now,
                "stop training before opening another run (the current one is kept)",
            );
            return;
        }
        if self.has_model && self.progress.global_step > 0 && self.current_run.is_none() {
            self.confirm = Some(Confirm::OpenRun { dir, resume });
            return;
        }
        self.open_run_in_worker(dir, resume);
    }

    /// Loads the run in `dir` into the worker (no longer following anything).
    pub(super) fn open_run_in_worker(&mut self, dir: PathBuf, resume: bool) {
        if self.following.is_some() {
            self.stop_following();
        }
        self.start_after_open = resume.then(|| dir.clone());
        self.send_action(WorkerCommand::OpenRun { dir }, None);
    }

    /// Shows the run in `dir`, written by another process, read-only; the worker's model is put
    /// away first (its run stays).
    pub(super) fn follow(&mut self, dir: PathBuf) {
        if self.state.is_busy() {
            let now = self.now();
            self.log.error(
                now,
                "stop training before following another run (the current one is kept)",
            );
            return;
        }
        if self.has_model {
            self.send_action(WorkerCommand::Reset, None);
        }
        self.resume_offer = None;
        self.curves.clear();
        self.samples.clear();
        self.progress = RunProgress::default();
        self.evaluation = None;
        let now = self.now();
        self.log
            .show(now, format!("following {} (read-only)", folder_name(&dir)));
        self.following = Some(crate::ui::runs::Following::new(dir.clone()));
        self.send_runs(RunsCommand::Follow(dir));
    }

    /// Stops following; the view goes back to the worker's (empty) model.
    pub(super) fn stop_following(&mut self) {
        if self.following.take().is_some() {
            self.send_runs(RunsCommand::Unfollow);
            self.curves.clear();
            self.samples.clear();
            self.progress = RunProgress::default();
            self.model_generation += 1;
        }
    }

    /// A followed run changed: its curves, grids, state and progress.
    fn on_followed(&mut self, update: FollowUpdate) {
        let Some(following) = &mut self.following else {
            return;
        };
        if following.dir != update.dir {
            return;
        }
        let status = &update.summary.status;
        self.progress = RunProgress {
            epochs_done: status.epochs_done,
            epochs_target: status.epochs_target,
            step_in_epoch: status.step_in_epoch,
            steps_per_epoch: status.steps_per_epoch,
            global_step: status.global_step,
            images_per_sec: status.images_per_sec,
            batch_size: status.batch_size,
        };
        if let Some(line) = update.log_line {
            following.log_line = Some(line);
        }
        following.error = update.error;
        following.summary = Some(update.summary);
        if let Some(model) = update.model {
            self.curves.set_history(&model.history);
            let controls = &mut self.settings.controls;
            // The (read-only) controls and the inspector show the followed run's settings; the
            // device stays this machine's choice.
            controls.train = TrainConfig {
                device: controls.device,
                ..model.train
            };
            if controls.model != model.model {
                controls.preset = Preset::of(&model.model);
                controls.model = model.model;
                self.model_generation += 1;
            }
        }
        for (stamp, grid) in update.grids {
            self.samples.set_ready(stamp, grid);
        }
    }

    /// Ends the pending `action` (a save or discard got its answer).
    fn settle_pending(&mut self, action: Pending) {
        if self.pending_action == Some(action) {
            self.pending_action = None;
        }
    }

    /// Closes the window when closing waited for this save.
    fn close_if_saved(&mut self) {
        if self.close.save_then_close {
            self.close.save_then_close = false;
            self.close.allowed = true;
            self.ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    /// Runs `work` on a named short-lived thread and hands its result to the UI.
    pub(super) fn spawn_background(
        &mut self,
        name: &str,
        work: impl FnOnce() -> Background + Send + 'static,
    ) {
        let tx = self.background_tx.clone();
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let _ = tx.send(work());
                ctx.request_repaint();
            });
        if let Err(err) = spawned {
            let now = self.now();
            self.log
                .error(now, format!("could not start a background thread: {err}"));
        }
    }

    /// Starts a speed probe when the settings call for one.
    pub(super) fn probe_speed_if_due(&mut self) {
        let controls = &self.settings.controls;
        let key = ProbeKey::of(&controls.model, &controls.train_config());
        let idle = !self.state.is_busy() && self.pending_action.is_none();
        let now = self.now();
        let Some(key) = self.estimate.wanted(&key, now, idle) else {
            if self.estimate.lookup(&key).is_none() {
                // Come back when the debounce is over.
                self.ctx.request_repaint_after(Duration::from_millis(200));
            }
            return;
        };
        let probe = std::sync::Arc::clone(&self.speed_probe);
        self.spawn_background("pixelcnn-speed-probe", move || {
            let result = probe.probe(&key.model, key.device, key.batch_size);
            Background::Speed(key, result)
        });
    }

    pub(super) fn log_frames(&mut self) {
        if self.frame_log && self.last_frame_log.elapsed() >= Duration::from_secs(5) {
            self.last_frame_log = Instant::now();
            eprintln!(
                "[frames] state={} step={} {}",
                self.state.label(),
                self.progress.global_step,
                self.frame_stats.summary()
            );
        }
    }

    /// The typed path of `field`, if any.
    pub(super) fn typed(&self, field: PathField) -> Option<PathBuf> {
        let text = match field {
            PathField::Checkpoint => &self.checkpoint_path,
            PathField::Png => &self.png_path,
            PathField::Compare => &self.compare_fields.compare_path,
            PathField::Csv => &self.compare_fields.csv_path,
            PathField::RunFolder => &self.runs.folder_path,
        };
        crate::ui::paths::typed_path(text)
    }
}
