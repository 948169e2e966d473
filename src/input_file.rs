//! Opening a file the user named, for reading: only a regular file is opened (a folder, a named
//! pipe, a device or a socket is reported as what it is, never read, so `/dev/zero` or a FIFO
//! can neither exhaust memory nor block), and what is read is capped.
//!
//! Every reader of user files goes through here: checkpoints ([`crate::checkpoint`]), the MNIST
//! IDX files ([`crate::data`]) and digit PNGs ([`crate::explore::read_image_png`]).

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

/// What a path that is not a regular file is instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecialFile {
    /// A folder.
    Folder,
    /// A named pipe (FIFO): reading it would wait for a writer.
    NamedPipe,
    /// A character device such as `/dev/zero` or a terminal: reading it may never end.
    CharacterDevice,
    /// A block device (a disk).
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Some other special file.
    Other,
}

impl SpecialFile {
    /// The kind of `file_type` when it is not a regular file.
    pub fn of(file_type: fs::FileType) -> Option<SpecialFile> {
        if file_type.is_file() {
            return None;
        }
        if file_type.is_dir() {
            return Some(SpecialFile::Folder);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if file_type.is_fifo() {
                return Some(SpecialFile::NamedPipe);
            }
            if file_type.is_char_device() {
                return Some(SpecialFile::CharacterDevice);
            }
            if file_type.is_block_device() {
                return Some(SpecialFile::BlockDevice);
            }
            if file_type.is_socket() {
                return Some(SpecialFile::Socket);
            }
        }
        // Anything else that is not a file (a symlink is followed before we get here).
        Some(SpecialFile::Other)
    }

    /// The kind in words, with its article: "a named pipe (FIFO)".
    pub fn describe(self) -> &'static str {
        match self {
            SpecialFile::Folder => "a folder",
            SpecialFile::NamedPipe => "a named pipe (FIFO)",
            SpecialFile::CharacterDevice => "a character device",
            SpecialFile::BlockDevice => "a block device",
            SpecialFile::Socket => "a socket",
            SpecialFile::Other => "a special file",
        }
    }
}

/// Why a path could not be opened as a regular file. `Display` is one lower-case phrase
/// without the path, for the caller's message (which ends with the path).
#[derive(Debug)]
pub enum OpenError {
    /// Nothing exists at the path.
    NotFound,
    /// Something exists there, but not a regular file.
    NotAFile(SpecialFile),
    /// Another OS error (permission denied, ...).
    Io(io::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::NotFound => write!(f, "there is no such file"),
            OpenError::NotAFile(kind) => {
                write!(f, "it is {}, not a regular file", kind.describe())
            }
            OpenError::Io(error) => write!(f, "{}", without_os_code(error)),
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::NotFound {
            OpenError::NotFound
        } else {
            OpenError::Io(error)
        }
    }
}

/// The OS error's text without its "(os error N)" suffix: "Permission denied".
pub fn without_os_code(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Opens `path` for reading if it is a regular file (symbolic links followed) and returns it
/// with its length in bytes. The kind is checked before opening, so a named pipe is never
/// opened (opening one waits for a writer), and again on the open file.
pub fn open_regular(path: &Path) -> Result<(File, u64), OpenError> {
    let meta = fs::metadata(path)?;
    if let Some(kind) = SpecialFile::of(meta.file_type()) {
        return Err(OpenError::NotAFile(kind));
    }
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if let Some(kind) = SpecialFile::of(meta.file_type()) {
        return Err(OpenError::NotAFile(kind));
    }
    Ok((file, meta.len()))
}

/// Why a capped read failed.
#[derive(Debug)]
pub enum CappedReadError {
    /// The path could not be opened as a regular file.
    Open(OpenError),
    /// The file holds more than the cap allows (`bytes`: its size, or at least that much when
    /// it grew while being read).
    TooLarge {
        /// Its size in bytes (a lower bound when it grew while being read).
        bytes: u64,
    },
    /// Reading failed part-way.
    Read(io::Error),
}

/// Reads the whole of the regular file at `path` when it holds at most `max_bytes`; a larger
/// file is refused before it is read, and never more than `max_bytes + 1` bytes are read even
/// when the file grows meanwhile.
pub fn read_capped(path: &Path, max_bytes: u64) -> Result<Vec<u8>, CappedReadError> {
    let (file, len) = open_regular(path).map_err(CappedReadError::Open)?;
    if len > max_bytes {
        return Err(CappedReadError::TooLarge { bytes: len });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(CappedReadError::Read)?;
    if bytes.len() as u64 > max_bytes {
        return Err(CappedReadError::TooLarge {
            bytes: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_named_as_one_and_a_missing_file_as_missing() {
        let dir = std::env::temp_dir();
        let err = open_regular(&dir).expect_err("a folder");
        assert!(matches!(err, OpenError::NotAFile(SpecialFile::Folder)));
        assert_eq!(err.to_string(), "it is a folder, not a regular file");
        let err = open_regular(&dir.join("no-such-file-pixelcnn-studio")).expect_err("missing");
        assert!(matches!(err, OpenError::NotFound), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn dev_zero_is_a_device_and_never_read() {
        let err = read_capped(Path::new("/dev/zero"), 16).expect_err("a device");
        assert!(matches!(
            err,
            CappedReadError::Open(OpenError::NotAFile(SpecialFile::CharacterDevice))
        ));
    }

    #[test]
    fn a_file_over_the_cap_is_refused_and_one_within_it_read_whole() {
        let path = std::env::temp_dir().join(format!("pixelcnn-cap-{}", std::process::id()));
        std::fs::write(&path, [7u8; 10]).expect("writes");
        assert!(matches!(
            read_capped(&path, 9),
            Err(CappedReadError::TooLarge { bytes: 10 })
        ));
        assert_eq!(read_capped(&path, 10).expect("reads"), vec![7u8; 10]);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_os_code_is_dropped_from_the_text() {
        let error = io::Error::from_raw_os_error(13);
        assert!(!without_os_code(&error).contains("os error"));
    }
}
