//! The worker's door to checkpoint files (`crate::checkpoint`), with errors turned into
//! messages for the user.

use std::path::Path;

use crate::train::TrainingSnapshot;

/// Writes `snapshot` to `path` (atomically); the error is a message for the user.
pub fn save(path: &Path, snapshot: &TrainingSnapshot) -> Result<(), String> {
    crate::checkpoint::save(path, snapshot)
        .map_err(|err| format!("could not save the checkpoint: {err}"))
}

/// Reads and validates the checkpoint at `path`; the error is a message for the user.
pub fn load(path: &Path) -> Result<TrainingSnapshot, String> {
    crate::checkpoint::load(path).map_err(|err| format!("could not open the checkpoint: {err}"))
}
