//! Writing a file atomically (temporary file beside it, fsync, rename, fsync the folder), so a
//! crash, a kill or a full disk never leaves a torn file in its place, and the one naming scheme
//! of temporary files (`.NAME.tmp-PID-N`) with the clean-up of those that writers killed
//! mid-save left behind. Every file the program writes in place goes through here (checkpoints,
//! PNGs, the metrics CSV); the decompressed MNIST cache uses the same names and clean-up.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
    // Only a regular file is ever replaced: renaming over a folder fails, and renaming over a
    // device (`/dev/full`) or a named pipe would replace the special file itself.
    if let Some(kind) = fs::metadata(path)
        .ok()
        .and_then(|meta| crate::input_file::SpecialFile::of(meta.file_type()))
    {
        return Err(WriteError {
            action: "checking what is there",
            error: io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the path is {}, not a regular file; give a file name",
                    kind.describe()
                ),
            ),
        });
    }
    remove_stale_temp_files(&dir, &file_name);
    let temp = temp_path(&dir.join(&file_name));
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

/// The temporary name of the `n`-th temporary file process `pid` makes for `file_name`:
/// `.NAME.tmp-PID-N` (hidden, and beside the file it becomes, so the rename stays in one
/// file system).
pub fn temp_name(file_name: &str, pid: u32, n: u64) -> String {
    format!(".{file_name}.tmp-{pid}-{n}")
}

/// A fresh temporary path beside `target` ([`temp_name`]): unique across processes by the
/// process id and within this process by a counter, so two threads never share one.
pub fn temp_path(target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let file_name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(temp_name(&file_name, std::process::id(), n))
}

/// The file name and process id a temporary name was made for: `.NAME.tmp-PID-N`, or
/// `.NAME.tmp-PID` as versions before the counter wrote it. `None` for any other name.
fn parse_temp_name(name: &str) -> Option<(&str, u32)> {
    let (file_name, suffix) = name.strip_prefix('.')?.rsplit_once(".tmp-")?;
    let pid = match suffix.split_once('-') {
        Some((pid, n)) => {
            n.parse::<u64>().ok()?;
            pid
        }
        None => suffix,
    };
    if file_name.is_empty() {
        return None;
    }
    Some((file_name, pid.parse().ok()?))
}

/// Removes `dir`'s temporary files of `file_name` whose process is gone (never this process's,
/// never one whose process may still be running). Best effort: errors are ignored.
pub fn remove_stale_temp_files(dir: &Path, file_name: &str) {
    remove_stale(dir, |name| name == file_name);
}

/// Removes `dir`'s temporary files of any name whose process is gone, for a folder the program
/// owns (the MNIST cache). Best effort: errors are ignored.
pub fn remove_all_stale_temp_files(dir: &Path) {
    remove_stale(dir, |_| true);
}

fn remove_stale(dir: &Path, wanted: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((file_name, pid)) = name.to_str().and_then(parse_temp_name) else {
            continue;
        };
        if wanted(file_name) && process_is_gone(pid) {
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
        let dead = dir.path().join(temp_name("out.bin", dead_pid(), 3));
        // Written by versions before the counter: removed too.
        let old_dead = dir.path().join(format!(".out.bin.tmp-{}", dead_pid()));
        let alive = dir.path().join(temp_name("out.bin", 1, 0)); // init always runs
        let other_file = dir.path().join(temp_name("other.bin", dead_pid(), 0));
        for path in [&dead, &old_dead, &alive, &other_file] {
            fs::write(path, b"partial").unwrap();
        }
        write(&dir.path().join("out.bin"), b"done").unwrap();
        assert!(!dead.exists(), "the dead writer's file is removed");
        assert!(!old_dead.exists(), "and one named the old way");
        assert!(alive.exists(), "a running process's file is kept");
        assert!(
            other_file.exists(),
            "another file's temporaries are not touched"
        );
        remove_all_stale_temp_files(dir.path());
        assert!(!other_file.exists(), "unless every name is asked for");
        assert!(alive.exists());
    }

    #[test]
    fn temporary_names_carry_the_file_name_and_the_process_id_and_are_unique() {
        let (a, b) = (
            temp_path(Path::new("/cache/train-labels-idx1-ubyte-00ff")),
            temp_path(Path::new("/cache/train-labels-idx1-ubyte-00ff")),
        );
        assert_ne!(a, b, "two temporaries of one process never collide");
        assert_eq!(a.parent(), Some(Path::new("/cache")));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            parse_temp_name(name),
            Some(("train-labels-idx1-ubyte-00ff", std::process::id()))
        );
        assert_eq!(parse_temp_name(".a.b.tmp-12"), Some(("a.b", 12)));
        for other in [
            "train-labels-idx1-ubyte-00ff",
            ".x.tmp",
            ".tmp-12-0",
            ".a.tmp-12-x",
            ".a.tmp-x-0",
            "a.tmp-12-0",
        ] {
            assert_eq!(parse_temp_name(other), None, "{other}");
        }
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        // A name that fits, but with no room for the temporary name's suffix: creating the
        // temporary file fails (as it would on a full disk or in a read-only folder).
        let path = dir.path().join("o".repeat(250));
        fs::write(&path, b"old").unwrap();
        let err = write(&path, b"new").unwrap_err();
        assert_eq!(err.action, "creating the temporary file");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
