//! The run-state file (`run.json`): whether the run is live, stopped or finished, what it is
//! doing, who writes it and where it stands. A writer refreshes it (atomically) at least every
//! [`HEARTBEAT_EVERY`] while it works; a reader turns a "live" run whose writer is gone (its
//! process on this machine has ended, or, elsewhere, its heartbeat is older than
//! [`STALE_AFTER`]) into a crashed one.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::identity::{Liveness, WriterId};
use super::RunError;
use crate::atomic_file;

/// The `format` of a run-state file.
pub const FORMAT_NAME: &str = "pixelcnn-studio-run";
/// The version of the run-state file this build writes.
pub const FORMAT_VERSION: u32 = 1;
/// A writer refreshes the run-state file at least this often while it works (between two
/// units of work: a step, an evaluation chunk, an image row; a longer unit delays it).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// A live run on another machine whose heartbeat is older than this reads as crashed (on this
/// machine the writer's process tells at once).
pub const STALE_AFTER: Duration = Duration::from_secs(600);
/// The largest run-state file read.
const MAX_STATUS_BYTES: u64 = 1 << 20;

/// What a run is, as the studio shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// A writer is training it (or holds it paused).
    Live,
    /// Its writer stopped it (or stopped on an error): it resumes where it stopped.
    #[default]
    Stopped,
    /// Every epoch asked for is done (raise the epochs to go on).
    Finished,
    /// Its writer died without saying so: it resumes from its last checkpoint. Never written;
    /// only read ([`RunStatus::effective_state`]).
    Crashed,
}

impl RunState {
    /// The word the studio shows.
    pub fn label(self) -> &'static str {
        match self {
            RunState::Live => "live",
            RunState::Stopped => "stopped",
            RunState::Finished => "finished",
            RunState::Crashed => "crashed",
        }
    }
}

/// What a live run's writer is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activity {
    /// Training steps.
    Training,
    /// The test evaluation that closes an epoch.
    Evaluating,
    /// Drawing a grid of samples.
    Sampling,
    /// Paused by the user.
    Paused,
    /// Nothing (stopped or finished).
    #[default]
    Idle,
}

impl Activity {
    /// The word the studio shows.
    pub fn label(self) -> &'static str {
        match self {
            Activity::Training => "training",
            Activity::Evaluating => "evaluating",
            Activity::Sampling => "sampling",
            Activity::Paused => "paused",
            Activity::Idle => "idle",
        }
    }
}

/// The run-state file's contents. A value that does not exist yet (no checkpoint, no test
/// cost, no error) is left out of the file, never `null`, as in the command line's JSON; a
/// missing field reads as its default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunStatus {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written.
    pub version: u32,
    /// The run's name (its folder's name when it was made).
    pub name: String,
    /// The model's preset (`gated`, `seed`, ..., or `custom`).
    pub preset: String,
    /// Whether the model is class-conditional.
    pub conditional: bool,
    /// The state as the writer last said.
    pub state: RunState,
    /// What the writer was doing.
    pub activity: Activity,
    /// Who writes (or last wrote) the run.
    pub writer: WriterId,
    /// Where the network runs (`cpu`, `cuda`, `candle-cpu`).
    pub device: String,
    /// When the run was made, ms since the Unix epoch.
    pub created_unix_ms: u64,
    /// When the writer last wrote this file.
    pub heartbeat_unix_ms: u64,
    /// When the checkpoint was last written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_unix_ms: Option<u64>,
    /// The step count the checkpoint holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_step: Option<u64>,
    /// The completed epochs the checkpoint holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_epochs_done: Option<usize>,
    /// Completed epochs.
    pub epochs_done: usize,
    /// Epochs the run is asked to reach.
    pub epochs_target: usize,
    /// Steps done in the current epoch.
    pub step_in_epoch: usize,
    /// Minibatches per epoch.
    pub steps_per_epoch: usize,
    /// Steps done in all.
    pub global_step: u64,
    /// Images per minibatch.
    pub batch_size: usize,
    /// Training images per second over the current epoch so far.
    pub images_per_sec: f64,
    /// The last epoch's test cost, nats per pixel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_test_cost_nats_per_pixel: Option<f64>,
    /// The best epoch's test cost, nats per pixel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_test_cost_nats_per_pixel: Option<f64>,
    /// Grid images written so far (a reader looks for new ones when this changes).
    pub grids: usize,
    /// Why the writer stopped, when an error stopped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunStatus {
    /// The state as it is: a live run whose writer is gone reads as crashed, with the reason.
    /// `now_unix_ms` is the reader's clock.
    pub fn effective_state(&self, now_unix_ms: u64) -> (RunState, Option<String>) {
        if self.state != RunState::Live {
            return (self.state, None);
        }
        match self.writer.liveness() {
            Liveness::Running => (RunState::Live, None),
            Liveness::Gone => (
                RunState::Crashed,
                Some(format!("its writer, {}, is gone", self.writer.describe())),
            ),
            Liveness::Unknown => {
                let age_ms = now_unix_ms.saturating_sub(self.heartbeat_unix_ms);
                if age_ms > STALE_AFTER.as_millis() as u64 {
                    (
                        RunState::Crashed,
                        Some(format!(
                            "no word from its writer, {}, for {}",
                            self.writer.describe(),
                            super::clock::age_text(age_ms as f64 / 1000.0).trim_end_matches(" ago")
                        )),
                    )
                } else {
                    (RunState::Live, None)
                }
            }
        }
    }

    /// Reads the run-state file at `path` (at most 1 MiB; only a complete, renamed file exists
    /// there).
    pub fn read(path: &Path) -> Result<RunStatus, RunError> {
        let dir = path.parent().unwrap_or(path).to_path_buf();
        let file = std::fs::File::open(path).map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                RunError::NotARun {
                    reason: "no run.json: not a run folder".into(),
                    path: dir.clone(),
                }
            } else {
                RunError::Io {
                    action: "reading the run's state",
                    path: path.to_path_buf(),
                    error,
                }
            }
        })?;
        let mut bytes = Vec::new();
        file.take(MAX_STATUS_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| RunError::Io {
                action: "reading the run's state",
                path: path.to_path_buf(),
                error,
            })?;
        let invalid = |reason: String| RunError::NotARun {
            reason,
            path: dir.clone(),
        };
        if bytes.len() as u64 > MAX_STATUS_BYTES {
            return Err(invalid(format!(
                "run.json is larger than {MAX_STATUS_BYTES} bytes"
            )));
        }
        let status: RunStatus = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("run.json is not a run's state ({e})")))?;
        if status.format != FORMAT_NAME {
            return Err(invalid(format!(
                "run.json is not a PixelCNN Studio run's state (format '{}')",
                status.format
            )));
        }
        Ok(status)
    }

    /// Writes the file at `path` atomically.
    pub fn write(&self, path: &Path) -> Result<(), RunError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| RunError::Io {
            action: "writing the run's state",
            path: path.to_path_buf(),
            error: std::io::Error::other(e),
        })?;
        atomic_file::write(path, text.as_bytes()).map_err(|err| RunError::Io {
            action: err.action,
            path: path.to_path_buf(),
            error: err.error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(writer: WriterId, heartbeat_unix_ms: u64) -> RunStatus {
        RunStatus {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            state: RunState::Live,
            writer,
            heartbeat_unix_ms,
            ..RunStatus::default()
        }
    }

    #[test]
    fn a_live_run_whose_writer_died_reads_as_crashed() {
        let me = WriterId::this_process("test");
        let now = 1_000_000_000;
        assert_eq!(live(me.clone(), now).effective_state(now).0, RunState::Live);
        if std::path::Path::new("/proc/self/stat").exists() {
            let mut child = std::process::Command::new("true")
                .spawn()
                .unwrap_or_else(|e| panic!("{e}"));
            let pid = child.id();
            child.wait().unwrap_or_else(|e| panic!("{e}"));
            let dead = live(WriterId { pid, ..me.clone() }, now);
            let (state, why) = dead.effective_state(now);
            assert_eq!(state, RunState::Crashed);
            assert!(why.unwrap_or_default().contains(&format!("pid {pid}")));
        }
        // Elsewhere only the heartbeat tells.
        let remote = WriterId {
            host: "gpu-box-far-away".into(),
            ..me
        };
        let fresh = live(remote.clone(), now - 30_000);
        assert_eq!(fresh.effective_state(now).0, RunState::Live);
        let stale = live(remote, now - 15 * 60_000);
        let (state, why) = stale.effective_state(now);
        assert_eq!(state, RunState::Crashed);
        assert!(
            why.unwrap_or_default().contains("for 15 min"),
            "{:?}",
            stale.effective_state(now)
        );
        let stopped = RunStatus {
            state: RunState::Stopped,
            ..live(WriterId::default(), 0)
        };
        assert_eq!(stopped.effective_state(now), (RunState::Stopped, None));
    }

    #[test]
    fn the_state_file_round_trips_and_a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("run.json");
        let status = RunStatus {
            name: "a".into(),
            best_test_cost_nats_per_pixel: Some(0.1),
            ..live(WriterId::this_process("test"), 5)
        };
        status.write(&path).unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !text.contains("null"),
            "what does not exist is left out: {text}"
        );
        assert!(!text.contains("checkpoint_step") && text.contains("best_test_cost"));
        assert_eq!(RunStatus::read(&path).ok(), Some(status.clone()));
        // A file that spells a missing value `null` reads the same.
        let with_nulls = text.replacen('{', r#"{"checkpoint_step": null, "error": null,"#, 1);
        std::fs::write(&path, with_nulls).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(RunStatus::read(&path).ok(), Some(status));
        std::fs::write(&path, br#"{"format": "something-else"}"#).unwrap_or_else(|e| panic!("{e}"));
        let err = RunStatus::read(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("not a PixelCNN Studio run"), "{err}");
        let missing = RunStatus::read(&dir.path().join("none").join("run.json"));
        assert!(matches!(missing, Err(RunError::NotARun { .. })));
    }
}
