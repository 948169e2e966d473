//! Run folders, the unit of work: every training run (the studio's and `train --run DIR`'s)
//! lives in its own folder, written the same way by [`RunWriter`] and read, without disturbing
//! the writer, by [`reader`] and the [`watch`] thread that lists, follows and deletes runs for
//! the studio.
//!
//! A run folder holds:
//!
//! | file | what | written |
//! |---|---|---|
//! | `run.json` | state (live, stopped, finished), activity, writer (program, pid, host), progress, costs, heartbeat | at every event worth telling and at least every 5 s while training |
//! | `checkpoint.safetensors` | the latest checkpoint (weights, Adam, run position and RNG, history) | at every epoch end, at least every 2 minutes of training, when training stops |
//! | `metrics.csv` | the metric history (`series,epoch,step,value`) | with the checkpoint |
//! | `config.json` | the model and training settings | when training (re)starts |
//! | `log.txt` | one line per event (made, resumed, each epoch, stopped, errors) | appended |
//! | `samples/epoch_NNNN_step_S[_rows].png` | every epoch's grid | after each epoch |
//! | `lock` | the writer's exclusive lock (`flock`) | held while writing |
//!
//! Every file but the log is written atomically ([`crate::atomic_file`]): a reader sees the
//! old file or the new one, never half of one. A live run whose writer died reads as crashed
//! ([`RunStatus::effective_state`]).

pub mod clock;
pub mod files;
pub mod identity;
pub mod lock;
pub mod reader;
pub mod status;
pub mod watch;
pub mod writer;

use std::path::PathBuf;

pub use files::RunFiles;
pub use reader::RunSummary;
pub use status::{Activity, RunState, RunStatus};
pub use writer::{Checkpointed, RunWriter, WriterOptions, DEFAULT_AUTOSAVE_EVERY};

use crate::checkpoint::CheckpointError;

/// The folder of the studio's runs inside its data folder.
pub const RUNS_DIR: &str = "runs";

/// Why a run folder could not be made, written, taken over or read.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file operation failed.
    #[error("{action} failed: {error}: {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error (part of the message).
        error: std::io::Error,
    },
    /// The folder is not a run folder (or its state file is not readable).
    #[error("{reason}: {}", path.display())]
    NotARun {
        /// What is wrong.
        reason: String,
        /// The folder.
        path: PathBuf,
    },
    /// A new run was asked for in a folder that holds other things.
    #[error("the folder is not empty and holds no run: pick a new or empty folder (or a run folder to resume it): {}", path.display())]
    NotEmpty {
        /// The folder.
        path: PathBuf,
    },
    /// Another writer writes the run.
    #[error("the run is being written by {who}: follow it instead, or stop it there first: {}", path.display())]
    InUse {
        /// Who writes it.
        who: String,
        /// The run folder.
        path: PathBuf,
    },
    /// The run's checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Another file of the run (metrics, a grid) could not be written: the message says which.
    #[error("{0}")]
    Write(String),
}
