//! Writing a run folder, the same way for the studio's worker and for `train --run`: the latest
//! checkpoint and the metrics CSV at every epoch end and at least every
//! [`WriterOptions::autosave_every`] of training (mid-epoch too: the checkpoint holds the run's
//! position and RNG, so it resumes exactly there), every epoch's grid as a PNG, the config, a
//! short log and the run-state file with its heartbeat. Every file but the log is written
//! atomically (temporary file, rename), so a reader only ever sees whole files; the log is only
//! appended to. A writer holds the run's lock ([`super::lock::RunLock`]) from the moment it
//! makes or takes over a run until it closes it.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::clock::{now_unix_ms, utc_text};
use super::files::{new_run_name, preset_label, RunFiles};
use super::identity::WriterId;
use super::lock::RunLock;
use super::status::{Activity, RunState, RunStatus, FORMAT_NAME, FORMAT_VERSION, HEARTBEAT_EVERY};
use super::RunError;
use crate::checkpoint;
use crate::model::ModelConfig;
use crate::train::metrics_csv::write_history_csv;
use crate::train::{
    History, RunPosition, SampleKind, TrainConfig, TrainEvent, Trainer, TrainingSnapshot,
};

/// The longest stretch of training between two checkpoints, by default: a crash loses at most
/// this much (plus the unit of work in progress).
pub const DEFAULT_AUTOSAVE_EVERY: Duration = Duration::from_secs(120);

/// How a writer works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// Who writes: `studio` or `train` (recorded in the run-state file).
    pub program: &'static str,
    /// The longest stretch of training between two checkpoints.
    pub autosave_every: Duration,
}

/// A checkpoint the writer wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpointed {
    /// The checkpoint file.
    pub path: PathBuf,
    /// The step count it holds.
    pub global_step: u64,
}

/// `config.json`: the run's model and training settings, for people and tools.
#[derive(Serialize)]
struct ConfigFile<'a> {
    preset: &'a str,
    device: &'a str,
    model: &'a ModelConfig,
    train: &'a TrainConfig,
}

/// The writer of one run folder, holding its lock.
#[derive(Debug)]
pub struct RunWriter {
    files: RunFiles,
    _lock: RunLock,
    status: RunStatus,
    autosave_every: Duration,
    last_checkpoint: Instant,
    last_status: Instant,
    /// The trainer changed since the last checkpoint.
    dirty: bool,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RunError + 'a {
    move |error| RunError::Io {
        action,
        path: path.to_path_buf(),
        error,
    }
}

impl RunWriter {
    /// Makes a new run for `trainer`'s model in a fresh folder under `root` (named by date,
    /// preset and a random id; never an existing folder) and writes its first checkpoint.
    pub fn create_in(
        root: &Path,
        trainer: &Trainer,
        options: &WriterOptions,
    ) -> Result<RunWriter, RunError> {
        fs::create_dir_all(root).map_err(io("creating the runs folder", root))?;
        let mut last_error = None;
        for _ in 0..100 {
            let name = new_run_name(now_unix_ms(), trainer.model_config());
            let dir = root.join(&name);
            match fs::create_dir(&dir) {
                Ok(()) => return RunWriter::start_new(&dir, name, trainer, options),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    last_error = Some(error);
                }
                Err(error) => return Err(io("creating the run folder", &dir)(error)),
            }
        }
        Err(RunError::Io {
            action: "finding a free run folder name",
            path: root.to_path_buf(),
            error: last_error.unwrap_or_else(|| std::io::Error::other("no free name")),
        })
    }

    /// Makes a new run for `trainer`'s model in `dir`, which must not exist yet or be empty
    /// (a run already there is resumed with [`RunWriter::take_over`] instead), and writes its
    /// first checkpoint.
    pub fn create(
        dir: &Path,
        trainer: &Trainer,
        options: &WriterOptions,
    ) -> Result<RunWriter, RunError> {
        fs::create_dir_all(dir).map_err(io("creating the run folder", dir))?;
        if !holds_nothing(dir)? {
            return Err(RunError::NotEmpty {
                path: dir.to_path_buf(),
            });
        }
        let name = dir
            .file_name()
            .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned());
        RunWriter::start_new(dir, name, trainer, options)
    }

    fn start_new(
        dir: &Path,
        name: String,
        trainer: &Trainer,
        options: &WriterOptions,
    ) -> Result<RunWriter, RunError> {
        let lock = RunLock::acquire(dir)?;
        let files = RunFiles::new(dir);
        // Another writer may have made a run here between the check and the lock.
        if files.status().exists() {
            return Err(RunError::NotEmpty {
                path: dir.to_path_buf(),
            });
        }
        let now = now_unix_ms();
        let model = trainer.model_config();
        let status = RunStatus {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            name,
            preset: preset_label(model).into(),
            conditional: model.conditional(),
            writer: WriterId::this_process(options.program),
            device: trainer.config().device.name().into(),
            created_unix_ms: now,
            heartbeat_unix_ms: now,
            ..RunStatus::default()
        };
        let mut writer = RunWriter {
            files,
            _lock: lock,
            status,
            autosave_every: options.autosave_every,
            last_checkpoint: Instant::now(),
            last_status: Instant::now(),
            dirty: true,
        };
        writer.write_config(trainer)?;
        writer.note(&format!(
            "created by {}: {} model, {} parameters",
            writer.status.writer.describe(),
            writer.status.preset,
            model.parameter_count()
        ));
        // The state file comes last: a folder with one always has a checkpoint.
        writer.save(trainer)?;
        Ok(writer)
    }

    /// Takes over the run in `dir` to continue it (a stopped, finished or crashed run; one
    /// another writer holds is refused with [`RunError::InUse`]) and reads its checkpoint.
    pub fn take_over(
        dir: &Path,
        options: &WriterOptions,
    ) -> Result<(RunWriter, TrainingSnapshot), RunError> {
        let files = RunFiles::new(dir);
        // Not a run: no lock file is made in a folder that is not one.
        RunStatus::read(&files.status())?;
        let lock = RunLock::acquire(dir)?;
        let mut status = RunStatus::read(&files.status())?;
        let now = now_unix_ms();
        let (was, _) = status.effective_state(now);
        if was == RunState::Live && !status.writer.is_this_process() {
            return Err(RunError::InUse {
                who: status.writer.describe(),
                path: dir.to_path_buf(),
            });
        }
        let snapshot = checkpoint::load(&files.checkpoint())?;
        status.writer = WriterId::this_process(options.program);
        status.state = RunState::Stopped;
        status.activity = Activity::Idle;
        status.error = None;
        let mut writer = RunWriter {
            files,
            _lock: lock,
            status,
            autosave_every: options.autosave_every,
            last_checkpoint: Instant::now(),
            last_status: Instant::now(),
            dirty: false,
        };
        writer.set_position(&snapshot.progress, &snapshot.config, &snapshot.history);
        writer.write_status()?;
        writer.note(&format!(
            "taken over by {} at epoch {}, step {} (it was {})",
            writer.status.writer.describe(),
            snapshot.progress.epochs_done,
            snapshot.progress.global_step,
            was.label()
        ));
        Ok((writer, snapshot))
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.files.dir
    }

    /// The run's name.
    pub fn name(&self) -> &str {
        &self.status.name
    }

    /// The run-state file as last written (or about to be).
    pub fn status(&self) -> &RunStatus {
        &self.status
    }

    /// Training (re)starts with `trainer`'s settings, `steps_per_epoch` minibatches an epoch:
    /// the config is written and the run is live.
    pub fn begin(&mut self, trainer: &Trainer, steps_per_epoch: usize) -> Result<(), RunError> {
        self.status.steps_per_epoch = steps_per_epoch;
        self.status.state = RunState::Live;
        self.status.activity = Activity::Training;
        self.status.error = None;
        self.status.device = trainer.config().device.name().into();
        self.write_config(trainer)?;
        let config = trainer.config();
        self.note(&format!(
            "training from epoch {}, step {} to epoch {} (batch {}, learning rate {:e}, {} steps an epoch) on {} ({})",
            trainer.progress().epochs_done,
            trainer.progress().global_step,
            config.epochs,
            config.batch_size,
            config.learning_rate,
            steps_per_epoch,
            self.status.writer.host,
            self.status.device
        ));
        self.update_progress(trainer);
        self.write_status()
    }

    /// Records a training event: an epoch end writes the checkpoint and the metrics, an epoch's
    /// grid its PNG. Returns the checkpoint written, if any.
    pub fn record(
        &mut self,
        trainer: &Trainer,
        event: &TrainEvent<'_>,
    ) -> Result<Option<Checkpointed>, RunError> {
        match event {
            TrainEvent::Step { images_per_sec, .. } => {
                self.dirty = true;
                self.status.activity = Activity::Training;
                self.status.images_per_sec = *images_per_sec;
                Ok(None)
            }
            TrainEvent::Evaluating { .. } => {
                self.status.activity = Activity::Evaluating;
                Ok(None)
            }
            TrainEvent::EpochFinished(record) => {
                self.dirty = true;
                self.note(&format!(
                    "epoch {}: train {:.5}, test {:.5} nats/pixel ({:.2} nats/image), {:.0} images/s, {:.0} s",
                    record.epoch,
                    record.train_cost_nats_per_pixel,
                    record.test_cost_nats_per_pixel,
                    record.test_nll_nats_per_image(),
                    record.images_per_sec,
                    record.elapsed_secs
                ));
                self.save(trainer).map(Some)
            }
            TrainEvent::Sampling { .. } => {
                self.status.activity = Activity::Sampling;
                Ok(None)
            }
            TrainEvent::SamplesReady { stamp, grid } => {
                if stamp.kind == SampleKind::EpochEnd {
                    let samples = self.files.samples();
                    fs::create_dir_all(&samples)
                        .map_err(io("creating the samples folder", &samples))?;
                    crate::imaging::save_grid_png(grid, &self.files.grid(stamp))
                        .map_err(|err| RunError::Write(format!("{err:#}")))?;
                    self.status.grids += 1;
                    self.update_progress(trainer);
                    self.write_status()?;
                }
                Ok(None)
            }
        }
    }

    /// Between two units of work: writes the checkpoint when training went on for
    /// [`WriterOptions::autosave_every`] since the last one, else the run-state file when its
    /// heartbeat is due. Returns the checkpoint written, if any.
    pub fn tick(&mut self, trainer: &Trainer) -> Result<Option<Checkpointed>, RunError> {
        if self.dirty && self.last_checkpoint.elapsed() >= self.autosave_every {
            return self.save(trainer).map(Some);
        }
        if self.last_status.elapsed() >= HEARTBEAT_EVERY {
            self.update_progress(trainer);
            self.write_status()?;
        }
        Ok(None)
    }

    /// Refreshes the heartbeat of a run held without training (paused) when it is due.
    pub fn heartbeat(&mut self) -> Result<(), RunError> {
        if self.last_status.elapsed() >= HEARTBEAT_EVERY {
            self.write_status()?;
        }
        Ok(())
    }

    /// Whether the trainer changed since the last checkpoint.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Writes the checkpoint, the metrics and the run-state file now.
    pub fn save(&mut self, trainer: &Trainer) -> Result<Checkpointed, RunError> {
        let path = self.files.checkpoint();
        checkpoint::save(&path, trainer.snapshot())?;
        write_history_csv(&self.files.metrics(), trainer.history()).map_err(RunError::Write)?;
        let global_step = trainer.progress().global_step;
        self.status.checkpoint_unix_ms = Some(now_unix_ms());
        self.status.checkpoint_step = Some(global_step);
        self.status.checkpoint_epochs_done = Some(trainer.progress().epochs_done);
        self.dirty = false;
        self.last_checkpoint = Instant::now();
        self.update_progress(trainer);
        self.write_status()?;
        Ok(Checkpointed { path, global_step })
    }

    /// Training pauses, stops or ends: the checkpoint is written if the trainer changed since
    /// the last one, and the run-state file says `state` (`Live` for a pause) and `error`, if
    /// an error stopped it. Returns the checkpoint written, if any.
    pub fn settle(
        &mut self,
        trainer: &Trainer,
        state: RunState,
        error: Option<String>,
    ) -> Result<Option<Checkpointed>, RunError> {
        self.status.state = state;
        self.status.activity = if state == RunState::Live {
            Activity::Paused
        } else {
            Activity::Idle
        };
        if let Some(error) = &error {
            self.note(&format!("stopped by an error: {error}"));
        }
        self.status.error = error;
        let saved = if self.dirty {
            Some(self.save(trainer)?)
        } else {
            self.update_progress(trainer);
            self.write_status()?;
            None
        };
        match state {
            RunState::Live => self.note("paused"),
            RunState::Stopped => self.note(&format!(
                "stopped at epoch {}, step {}",
                trainer.progress().epochs_done,
                trainer.progress().global_step
            )),
            RunState::Finished => self.note(&format!(
                "finished: {} epochs, step {}",
                trainer.progress().epochs_done,
                trainer.progress().global_step
            )),
            RunState::Crashed => {}
        }
        Ok(saved)
    }

    /// Ends the writing: settles the run as `state` (with `trainer`'s last state) and releases
    /// the lock.
    pub fn close(mut self, trainer: Option<&Trainer>, state: RunState) -> Result<(), RunError> {
        match trainer {
            Some(trainer) => self.settle(trainer, state, None).map(|_| ()),
            None => {
                self.status.state = state;
                self.status.activity = Activity::Idle;
                self.write_status()
            }
        }
    }

    /// Deletes the run folder and everything in it (the user discarded the run).
    pub fn discard(self) -> Result<(), RunError> {
        let dir = self.files.dir.clone();
        fs::remove_dir_all(&dir).map_err(io("deleting the run folder", &dir))
    }

    /// Appends a line to the run's log (best effort: the log is for people).
    pub fn note(&mut self, text: &str) {
        let path = self.files.log();
        let line = format!("{}  {text}\n", utc_text(now_unix_ms()));
        if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
            let _ = file.write_all(line.as_bytes());
        }
    }

    fn update_progress(&mut self, trainer: &Trainer) {
        self.set_position(trainer.progress(), trainer.config(), trainer.history());
        self.status.images_per_sec = trainer.images_per_sec();
    }

    fn set_position(&mut self, position: &RunPosition, config: &TrainConfig, history: &History) {
        let status = &mut self.status;
        status.epochs_done = position.epochs_done;
        status.step_in_epoch = position.step_in_epoch;
        status.global_step = position.global_step;
        status.epochs_target = config.epochs;
        status.batch_size = config.batch_size;
        status.last_test_cost_nats_per_pixel =
            history.epochs.last().map(|r| r.test_cost_nats_per_pixel);
        status.best_test_cost_nats_per_pixel = history
            .epochs
            .iter()
            .map(|r| r.test_cost_nats_per_pixel)
            .reduce(f64::min);
    }

    fn write_status(&mut self) -> Result<(), RunError> {
        self.status.heartbeat_unix_ms = now_unix_ms();
        self.last_status = Instant::now();
        self.status.write(&self.files.status())
    }

    fn write_config(&self, trainer: &Trainer) -> Result<(), RunError> {
        let path = self.files.config();
        let config = ConfigFile {
            preset: &self.status.preset,
            device: trainer.config().device.name(),
            model: trainer.model_config(),
            train: trainer.config(),
        };
        let text = serde_json::to_string_pretty(&config)
            .map_err(|e| io("writing the run's config", &path)(std::io::Error::other(e)))?;
        crate::atomic_file::write(&path, text.as_bytes()).map_err(|err| RunError::Io {
            action: err.action,
            path: path.clone(),
            error: err.error,
        })
    }
}

/// Deletes the run folder `dir`, which no writer may hold: a live run or one whose lock is
/// held is refused, with the reason.
pub fn delete_run_folder(dir: &Path) -> Result<(), String> {
    let summary =
        super::reader::summarize(dir).map_err(|err| format!("could not delete: {err}"))?;
    if summary.is_live() {
        return Err(format!(
            "{} is live, written by {}: stop it there first",
            summary.name(),
            summary.status.writer.describe()
        ));
    }
    let _lock = RunLock::acquire(dir).map_err(|err| format!("could not delete: {err}"))?;
    fs::remove_dir_all(dir)
        .map_err(|err| format!("could not delete the run folder: {err}: {}", dir.display()))
}

/// Whether `dir` holds nothing but a lock file (left by a writer that gave up making a run).
fn holds_nothing(dir: &Path) -> Result<bool, RunError> {
    let entries = fs::read_dir(dir).map_err(io("reading the run folder", dir))?;
    for entry in entries {
        let entry = entry.map_err(io("reading the run folder", dir))?;
        if entry.file_name() != super::files::LOCK_FILE {
            return Ok(false);
        }
    }
    Ok(true)
}
