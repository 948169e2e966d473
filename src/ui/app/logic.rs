//! The studio's logic: drain the worker's events (under a small time budget, never blocking)
//! and the background threads' results, and keep the state they describe.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Background, Pending, StudioApp, EVENT_BUDGET};
use crate::messages::{RunProgress, WorkerEvent, WorkerState};
use crate::model::ModelConfig;
use crate::train::{History, TrainConfig};
use crate::ui::controls::Preset;
use crate::ui::dialogs::{DialogPurpose, DialogResult};
use crate::ui::estimate::ProbeKey;
use crate::ui::paths::PathField;
use crate::ui::prompts::read_autosave;
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
        while let Ok(item) = self.background_rx.try_recv() {
            self.on_background(item);
        }
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
                self.unsaved = false;
                self.log
                    .show(now, format!("checkpoint saved to {}", path.display()));
                if self.close.save_then_close {
                    self.close.save_then_close = false;
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
                self.curves.clear();
                self.samples.clear();
                self.progress = RunProgress::default();
                self.evaluation = None;
            }
            WorkerEvent::Message(message) => self.log.show(now, message),
            WorkerEvent::Error(message) => {
                if self.pending_action == Some(Pending::Starting) {
                    self.pending_action = None;
                }
                // A failed save must not close the window.
                self.close.save_then_close = false;
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
            Background::Autosave(Ok(Some(summary))) => {
                if !self.has_model {
                    self.resume_offer = Some(summary);
                }
            }
            Background::Autosave(Ok(None)) => {}
            Background::Autosave(Err(message)) => self.log.error(now, message),
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
        };
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

    /// Reads the autosave (if any) on a short-lived thread; the offer comes back as an event.
    pub(super) fn look_for_autosave(&mut self) {
        let Some(path) = self.autosave.clone() else {
            return;
        };
        self.spawn_background("pixelcnn-read-autosave", move || {
            Background::Autosave(read_autosave(&path))
        });
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
        };
        crate::ui::paths::typed_path(text)
    }
}
