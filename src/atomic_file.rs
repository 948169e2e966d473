//! Writing a file atomically (temporary file beside it, fsync, rename, fsync the folder), so a
//! crash, a kill or a full disk never leaves a torn file in its place, and removing the
//! temporary files that writers killed mid-save left behind.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A failed atomic write: what was being done and the OS error. The file at the target path,
/// if any, is untouched.
#[derive(Debug)]
pub struct WriteError {
    /// What was being done, e.g. "writing the temporary file".
    pub action: &'static str,
    /// The OS error.
    pub error: io::Error,
}

/// Writes `bytes` to `path` atomically: on failure an existing file there is untouched and the
/// temporary file is removed. Temporary files of earlier writers to the same path whose process
/// is gone are removed first.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let fail = |action: &'static str| move |error| WriteError { action, error };
    let file_name = path
        .file_name()
        .ok_or_else(|| WriteError {
            action: "choosing the file name",
            error: io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
        })?
        .to_string_lossy()
        .into_owned();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    remove_stale_temp_files(&dir, &file_name);
    let temp = dir.join(temp_name(&file_name, std::process::id()));
    let result = (|| {
        let mut file = File::create(&temp).map_err(fail("creating the temporary file"))?;
        file.write_all(bytes)
            .map_err(fail("writing the temporary file"))?;
        file.sync_all().map_err(fail("flushing the file to disk"))?;
        drop(file);
        fs::rename(&temp, path).map_err(fail("replacing the file"))?;
        if let Ok(dir_handle) = File::open(&dir) {
            // Best effort: some file systems cannot fsync a folder.
            let _ = dir_handle.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The temporary name a writer with process id `pid` uses for `file_name`: `.NAME.tmp-PID`.
pub fn temp_name(file_name: &str, pid: u32) -> String {
    format!(".{file_name}.tmp-{pid}")
}

/// Removes `dir/.FILE_NAME.tmp-PID` files whose process `PID` is gone (never this process's,
/// never one whose process may still be running). Best effort: errors are ignored.
pub fn remove_stale_temp_files(dir: &Path, file_name: &str) {
    let prefix = format!(".{file_name}.tmp-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(&prefix))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if process_is_gone(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` certainly no longer runs: never for this process, and only where
/// `/proc` can tell (elsewhere every process counts as possibly running).
pub fn process_is_gone(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    let proc_root = Path::new("/proc");
    proc_root.join("self").exists() && !proc_root.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process id that is not running: a child that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write(&path, b"first").unwrap();
        write(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temporary_files_of_dead_writers_are_removed_on_the_next_write_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(temp_name("out.bin", dead_pid()));
        let alive = dir.path().join(temp_name("out.bin", 1)); // init always runs
        let other_file = dir.path().join(temp_name("other.bin", dead_pid()));
        for path in [&dead, &alive, &other_file] {
            fs::write(path, b"partial").unwrap();
        }
        write(&dir.path().join("out.bin"), b"done").unwrap();
        assert!(!dead.exists(), "the dead writer's file is removed");
        assert!(alive.exists(), "a running process's file is kept");
        assert!(
            other_file.exists(),
            "another file's temporaries are not touched"
        );
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write(&path, b"old").unwrap();
        // A folder where the temporary file should go makes creating it fail.
        fs::create_dir(dir.path().join(temp_name("out.bin", std::process::id()))).unwrap();
        let err = write(&path, b"new").unwrap_err();
        assert_eq!(err.action, "creating the temporary file");
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }
}
