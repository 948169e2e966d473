//! The writer's lock on a run folder: an exclusive advisory lock (`flock`) on its `lock` file,
//! held as long as the writer writes the run. Two writers (two studios on one data folder, a
//! studio and `train --run`) never write one run at once, and the lock goes with its process,
//! so a killed writer leaves none behind. Readers never take it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use super::files::RunFiles;
use super::RunError;

/// An exclusive lock on a run folder, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock on the run in `dir`. Fails with [`RunError::InUse`] when another writer
    /// holds it (another process, or another handle in this one). On a file system without
    /// locks the lock is not taken and the run's state file is the only guard.
    pub fn acquire(dir: &Path) -> Result<RunLock, RunError> {
        let path = RunFiles::new(dir).lock();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| RunError::Io {
                action: "opening the run's lock file",
                path: path.clone(),
                error,
            })?;
        match file.try_lock() {
            Ok(()) | Err(TryLockError::Error(_)) => Ok(RunLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(RunError::InUse {
                who: "another writer (a studio or `train --run`)".into(),
                path: dir.to_path_buf(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_writer_at_a_time_and_the_lock_goes_with_its_holder() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let first = RunLock::acquire(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let second = RunLock::acquire(dir.path());
        assert!(matches!(second, Err(RunError::InUse { .. })), "{second:?}");
        drop(first);
        assert!(RunLock::acquire(dir.path()).is_ok());
    }
}
