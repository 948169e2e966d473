//! Every [`UiCommand`] is applied here, in one place at the end of the frame: each new action
//! clears the stale status message, and slow work (file dialogs, writing files, reading
//! checkpoints) goes to short-lived threads.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{Background, Pending, StudioApp};
use crate::messages::{WorkerCommand, WorkerState};
use crate::run::watch::RunsCommand;
use crate::train::metrics_csv::write_history_csv;
use crate::ui::compare::load_history;
use crate::ui::controls::SAMPLE_COUNT;
use crate::ui::dialogs::{spawn_dialog, DialogPurpose};
use crate::ui::prompts::{CloseChoice, ClosePrompt, Confirm};
use crate::ui::samples::save_png;
use crate::ui::UiCommand;

impl StudioApp {
    /// Applies one command (from a panel, a shortcut, a prompt or the start-up environment).
    pub fn apply(&mut self, command: UiCommand) {
        match command {
            UiCommand::Start if self.following.is_some() => {
                let now = self.now();
                self.log.error(
                    now,
                    "this studio follows a run another process writes: Stop following first",
                );
            }
            UiCommand::Start => {
                self.log.clear_current();
                let controls = &self.settings.controls;
                let preview = (controls.preview_every_secs > 0.0)
                    .then(|| Duration::from_secs_f64(controls.preview_every_secs));
                let command = WorkerCommand::Start {
                    model: controls.model.clone(),
                    train: controls.train_config(),
                    data: self.data.clone(),
                    preview_every: preview,
                };
                self.resume_offer = None;
                self.send_action(command, Some(Pending::Starting));
            }
            UiCommand::Pause => self.send_action(WorkerCommand::Pause, Some(Pending::Pausing)),
            UiCommand::Resume => self.send_action(WorkerCommand::Resume, Some(Pending::Resuming)),
            UiCommand::TogglePause => match self.state {
                WorkerState::Paused => self.apply(UiCommand::Resume),
                state if state.is_running() => self.apply(UiCommand::Pause),
                _ => {}
            },
            UiCommand::Stop => self.send_action(WorkerCommand::Stop, Some(Pending::Stopping)),
            UiCommand::Reset if self.following.is_some() => self.stop_following(),
            UiCommand::Reset => {
                // A model in a run folder loses nothing: the run stays in the Runs window.
                if self.progress.global_step > 0 && self.current_run.is_none() {
                    self.confirm = Some(Confirm::Reset);
                } else {
                    self.send_action(WorkerCommand::Reset, None);
                }
            }
            UiCommand::SampleNow => self.send_action(
                WorkerCommand::SampleNow {
                    count: SAMPLE_COUNT,
                    classes: self.settings.controls.train.sample_classes,
                    style: self.settings.controls.train.sample_style,
                },
                None,
            ),
            UiCommand::SaveCheckpoint(Some(_)) if self.pending_action == Some(Pending::Saving) => {
                // One save at a time: a second press (or Enter) while one waits does nothing.
            }
            UiCommand::SaveCheckpoint(Some(path)) => {
                self.send_action(
                    WorkerCommand::SaveCheckpoint {
                        path,
                        replace: false,
                    },
                    Some(Pending::Saving),
                );
            }
            UiCommand::SaveCheckpoint(None) => {
                self.open_dialog(DialogPurpose::SaveCheckpoint, true);
            }
            // Pick the file first, then ask (once) before replacing a trained model: a model
            // trained while the dialog was open is protected too.
            UiCommand::OpenCheckpoint(None) => {
                self.open_dialog(DialogPurpose::OpenCheckpoint, false);
            }
            UiCommand::OpenCheckpoint(path) => {
                if self.has_model && self.progress.global_step > 0 && self.current_run.is_none() {
                    self.confirm = Some(Confirm::Open(path));
                } else {
                    self.open_checkpoint(path);
                }
            }
            UiCommand::SavePng(Some(path)) => self.save_png_to(path),
            UiCommand::SavePng(None) => self.open_dialog(DialogPurpose::SavePng, true),
            UiCommand::ExportCsv(Some(path)) => self.export_csv_to(path),
            UiCommand::ExportCsv(None) => self.open_dialog(DialogPurpose::ExportCsv, true),
            UiCommand::CompareRun(Some(path)) => {
                self.log.clear_current();
                self.spawn_background("pixelcnn-compare", move || {
                    let history = load_history(&path);
                    Background::Compared(path, history)
                });
            }
            UiCommand::CompareRun(None) => {
                self.open_dialog(DialogPurpose::CompareCheckpoint, false);
            }
            UiCommand::RemoveCompared(index) => self.compared.remove(index),
            UiCommand::ShowCompare => self.compare_open = !self.compare_open,
            UiCommand::ShowHelp => self.help_open = !self.help_open,
            UiCommand::ShowTab(tab) => self.settings.tab = tab,
            UiCommand::SnapshotWeights => {
                self.send(WorkerCommand::SnapshotWeights);
            }
            UiCommand::Confirm(yes) => match (self.confirm.take(), yes) {
                (Some(Confirm::Reset), true) => self.send_action(WorkerCommand::Reset, None),
                (Some(Confirm::Open(path)), true) => self.open_checkpoint(path),
                (Some(Confirm::OpenRun { dir, resume }), true) => {
                    self.open_run_in_worker(dir, resume);
                }
                (Some(Confirm::Replace(path)), true) => self.send_action(
                    WorkerCommand::SaveCheckpoint {
                        path,
                        replace: true,
                    },
                    Some(Pending::Saving),
                ),
                (Some(Confirm::Replace(_)), false) => {
                    // Nothing was written: closing waited for it in vain.
                    self.close.save_then_close = false;
                }
                (Some(Confirm::DeleteRun { dir, .. }), true) => self.delete_run(dir),
                _ => {}
            },
            UiCommand::CloseChoice(choice) => self.close_choice(choice),
            UiCommand::ResumeCrashed(yes) => {
                let offer = self.resume_offer.take();
                if let (true, Some(offer)) = (yes, offer) {
                    self.apply(UiCommand::OpenRun {
                        dir: offer.dir,
                        resume: true,
                    });
                }
            }
            UiCommand::ShowRuns => self.runs.open = !self.runs.open,
            UiCommand::OpenRunFolder(Some(path)) => {
                self.log.clear_current();
                self.send_runs(RunsCommand::Inspect {
                    path,
                    resume: false,
                });
            }
            UiCommand::OpenRunFolder(None) => self.open_dialog(DialogPurpose::OpenRunFolder, false),
            UiCommand::OpenRun { dir, resume } => {
                self.log.clear_current();
                self.resume_offer = None;
                self.send_runs(RunsCommand::Inspect { path: dir, resume });
            }
            UiCommand::CompareRunFolder(dir) => {
                if self.compared.contains(&dir) {
                    self.compared.remove_path(&dir);
                } else {
                    self.log.clear_current();
                    self.send_runs(RunsCommand::LoadHistory(dir));
                }
            }
            UiCommand::DeleteRun(dir) => {
                let name = crate::ui::runs::folder_name(&dir);
                self.confirm = Some(Confirm::DeleteRun { dir, name });
            }
            UiCommand::StopFollowing => self.stop_following(),
            UiCommand::RequestClose => self.ctx.send_viewport_cmd(egui::ViewportCommand::Close),
        }
    }

    fn close_choice(&mut self, choice: CloseChoice) {
        self.close.asking = false;
        let writes_run = self.current_run.as_ref().is_some_and(|r| r.writing);
        match choice {
            // The run folder keeps the model: written one last time, then the window closes.
            CloseChoice::Save if writes_run => {
                self.close.save_then_close = true;
                self.send_action(WorkerCommand::SaveRun, Some(Pending::Saving));
            }
            CloseChoice::Save => {
                self.close.save_then_close = true;
                let typed = self.typed(crate::ui::paths::PathField::Checkpoint);
                self.apply(UiCommand::SaveCheckpoint(typed));
            }
            // The run folder goes once the worker stopped whatever it was doing.
            CloseChoice::Discard if writes_run => {
                self.close.discard_then_close = true;
                self.send_action(WorkerCommand::DiscardRun, Some(Pending::Discarding));
            }
            CloseChoice::Discard => {
                self.close.allowed = true;
                self.ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            CloseChoice::Cancel => {}
        }
    }

    /// What the close prompt says: keep or discard the run, or, without a run folder, save
    /// the model or lose it.
    pub(super) fn close_prompt(&self) -> ClosePrompt {
        match self.current_run.as_ref().filter(|r| r.writing) {
            Some(run) => ClosePrompt {
                heading: "Keep this run?".into(),
                text: format!(
                    "The run {} has training from this session. It is kept in its folder ({}): \
                     Save writes its last checkpoint there and closes; Discard deletes the folder.",
                    run.name,
                    run.dir.display()
                ),
                discard_hint: "Close and delete this run's folder".into(),
            },
            None => {
                let hint = match self.typed(crate::ui::paths::PathField::Checkpoint) {
                    Some(path) => format!("Save writes it to {}.", path.display()),
                    None => "Save asks where to write it.".to_string(),
                };
                ClosePrompt {
                    heading: "Save the model before closing?".into(),
                    text: format!(
                        "The trained model has training that is not saved to a checkpoint. {hint}"
                    ),
                    discard_hint: "Close without saving".into(),
                }
            }
        }
    }

    /// Deletes a run after the user said yes: the worker's own run through the worker (which
    /// stops it first), any other through the runs thread.
    fn delete_run(&mut self, dir: PathBuf) {
        if self.current_run.as_ref().map(|r| &r.dir) == Some(&dir) {
            self.send_action(WorkerCommand::DiscardRun, Some(Pending::Discarding));
            return;
        }
        if self.following.as_ref().map(|f| &f.dir) == Some(&dir) {
            self.stop_following();
        }
        self.send_runs(RunsCommand::Delete(dir));
    }

    /// Sends `command` as a new user action: the old message is cleared and, for actions the
    /// worker confirms with a state change, the status bar shows `pending` until it does.
    pub(super) fn send_action(&mut self, command: WorkerCommand, pending: Option<Pending>) {
        self.log.clear_current();
        if self.send(command) && pending.is_some() {
            self.pending_action = pending;
        }
    }

    /// Queues a command for the worker; false (with the reason shown) when it could not.
    fn send(&mut self, command: WorkerCommand) -> bool {
        let result = match &self.worker {
            Some(worker) => worker.send(command).map_err(|err| err.to_string()),
            None => Err("the training thread is not running: restart the studio".to_string()),
        };
        match result {
            Ok(()) => true,
            Err(message) => {
                let now = self.now();
                self.log.error(now, message);
                false
            }
        }
    }

    fn open_dialog(&mut self, purpose: DialogPurpose, save: bool) {
        let tx = self.background_tx.clone();
        let ctx = self.ctx.clone();
        let forwarded = spawn_dialog(Arc::clone(&self.dialogs), purpose, save, move |result| {
            let _ = tx.send(Background::Dialog(result));
            ctx.request_repaint();
        });
        let now = self.now();
        if forwarded {
            self.log.show(now, "waiting for the file dialog...");
        } else {
            self.log.error(
                now,
                "could not open a file dialog: type a path in the field instead",
            );
        }
    }

    fn open_checkpoint(&mut self, path: Option<PathBuf>) {
        match path {
            Some(path) => {
                self.stop_following();
                self.send_action(WorkerCommand::OpenCheckpoint { path }, None);
            }
            None => self.open_dialog(DialogPurpose::OpenCheckpoint, false),
        }
    }

    fn save_png_to(&mut self, path: PathBuf) {
        let Some(grid) = self.samples.shown_grid() else {
            let now = self.now();
            self.log
                .error(now, "there are no finished samples to save yet");
            return;
        };
        self.log.clear_current();
        self.spawn_background("pixelcnn-save-png", move || {
            Background::PngSaved(save_png(&grid, &path).map(|()| path))
        });
    }

    fn export_csv_to(&mut self, path: PathBuf) {
        let history = self.curves.to_history();
        self.log.clear_current();
        self.spawn_background("pixelcnn-export-csv", move || {
            Background::CsvSaved(write_history_csv(&path, &history).map(|()| path))
        });
    }
}
