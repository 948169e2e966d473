//! Finding, validating and loading the four MNIST IDX files, raw or gzip-compressed.
//!
//! [`load_mnist`] looks in one folder for `train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each
//! either raw or with a `.gz` suffix. When both exist the raw file is used (it needs no
//! decompression). A `.gz` file is decompressed once into a cache folder (see
//! [`default_cache_dir`]) under a name keyed by its path, size and modification time, so
//! later loads reuse it; the copy is written to a temporary name and renamed into place.
//!
//! Every file is validated here before the `mnist` crate sees it, because that crate
//! panics on anything unexpected: magic number, 28x28 dimensions, the exact file length
//! implied by the header, equal image and label counts per split, labels 0-9, and the
//! standard 60,000/10,000 split (the only one the crate reads). Headers, lengths and counts
//! are all checked before any data is read, so a header announcing billions of items costs
//! nothing. Temporary files of decompressions that were killed are removed on the next one. Problems come back as a
//! [`DataError`] naming the file. Fashion-MNIST uses the same names and format and loads
//! the same way (Debian's `dataset-fashion-mnist` installs it in
//! `/usr/share/datasets/fashion-mnist`).

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

use super::idx::{self, IdxHeader, IdxKind, IdxProblem};
use crate::input_file::SpecialFile;

/// Width and height of an MNIST image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels in one MNIST image (28 x 28).
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Images in the standard training split.
pub const TRAIN_COUNT: usize = 60_000;
/// Images in the standard test split.
pub const TEST_COUNT: usize = 10_000;
/// Name of the training images file (without `.gz`).
pub const TRAIN_IMAGES_FILE: &str = "train-images-idx3-ubyte";
/// Name of the training labels file (without `.gz`).
pub const TRAIN_LABELS_FILE: &str = "train-labels-idx1-ubyte";
/// Name of the test images file (without `.gz`).
pub const TEST_IMAGES_FILE: &str = "t10k-images-idx3-ubyte";
/// Name of the test labels file (without `.gz`).
pub const TEST_LABELS_FILE: &str = "t10k-labels-idx1-ubyte";

/// The largest `.gz` data file read: the largest valid IDX file (60,000 images, 47 MB) stored
/// without compression needs less than 0.1% more; anything larger is refused unread.
const MAX_GZ_BYTES: u64 = 64 << 20;

/// The folder, relative to the crate root, that holds the shipped MNIST files.
const ASSETS_SUBDIR: &str = "assets/mnist";
/// What every "where is the data" message tells the user to do.
const DATA_HINT: &str = "pass --data DIR with the four IDX files";

/// Why the MNIST files could not be loaded. Each message says what went wrong, what to
/// do, and ends with the path concerned.
#[derive(Debug, Error)]
pub enum DataError {
    /// The data folder does not exist.
    #[error("MNIST folder not found: {} ({DATA_HINT})", .dir.display())]
    FolderNotFound {
        /// The folder that was looked for.
        dir: PathBuf,
    },
    /// The data path exists but is not a folder.
    #[error("MNIST data path is not a folder ({DATA_HINT}): {}", .dir.display())]
    NotAFolder {
        /// The path given.
        dir: PathBuf,
    },
    /// Neither the raw file nor its `.gz` form is in the folder.
    #[error(
        "{file} not found: looked for {file} and {file}.gz ({DATA_HINT}: \
         train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, \
         t10k-labels-idx1-ubyte, each raw or .gz): {}",
        .dir.display()
    )]
    FileNotFound {
        /// The raw file name looked for.
        file: &'static str,
        /// The folder searched.
        dir: PathBuf,
    },
    /// A file is not a valid MNIST IDX file.
    #[error("{file}: {problem}; {}: {}", .problem.hint(), .path.display())]
    Invalid {
        /// The file's name as found (with `.gz` if it was compressed).
        file: String,
        /// The file's full path.
        path: PathBuf,
        /// What is wrong with it.
        problem: IdxProblem,
    },
    /// A data file's path holds something other than a regular file (a folder, a named pipe,
    /// a device): it is not read.
    #[error("{file} is {}, not a regular file; put the MNIST file of that name there (raw or .gz): {}", .kind.describe(), .path.display())]
    NotAFile {
        /// The file's name as looked for.
        file: String,
        /// What the path is instead.
        kind: SpecialFile,
        /// The full path.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("{file}: cannot read it ({error}); check that it is readable: {}", .path.display())]
    Read {
        /// The file's name as found.
        file: String,
        /// The file's full path.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
    /// The decompressed copy of a `.gz` file could not be written or read back.
    #[error(
        "{file}: cannot write its decompressed copy ({error}); make room in the temporary \
         folder or decompress the .gz files with gunzip: {}",
        .path.display()
    )]
    Cache {
        /// The `.gz` file being decompressed.
        file: String,
        /// The cache path that failed.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
    /// The images and labels files of one split hold different numbers of items.
    #[error(
        "{split} split: {images_file} holds {images} images but {labels_file} holds {labels} \
         labels; use the images and labels files of the same data set: {}",
        .dir.display()
    )]
    CountMismatch {
        /// `"train"` or `"test"`.
        split: &'static str,
        /// The images file's name as found.
        images_file: String,
        /// Number of images.
        images: usize,
        /// The labels file's name as found.
        labels_file: String,
        /// Number of labels.
        labels: usize,
        /// The data folder.
        dir: PathBuf,
    },
    /// A split is valid but not of the standard size, which the `mnist` crate requires.
    #[error(
        "{split} split: {found} items, but the loader reads only the standard split of \
         {expected}; use the complete MNIST or Fashion-MNIST files and shorten the set \
         in the program instead: {}",
        .dir.display()
    )]
    NonStandardCount {
        /// `"train"` or `"test"`.
        split: &'static str,
        /// Items found.
        found: usize,
        /// Items required (60000 or 10000).
        expected: usize,
        /// The data folder.
        dir: PathBuf,
    },
    /// A path is not valid UTF-8, which the `mnist` crate's `&str` paths cannot express.
    #[error(
        "path is not valid UTF-8, which the mnist crate needs; move the files to a folder \
         whose name is UTF-8: {}",
        .path.display()
    )]
    NonUtf8Path {
        /// The offending path.
        path: PathBuf,
    },
    /// The `mnist` crate failed on files that had passed validation (they changed meanwhile?).
    #[error("the mnist crate could not load the checked files ({message}); try again: {}", .dir.display())]
    Loader {
        /// What the crate reported.
        message: String,
        /// The data folder.
        dir: PathBuf,
    },
}

/// One split of the data: images and their labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dataset {
    /// `count * 784` bytes, each image 28x28 row-major, 0 (background) to 255 (ink).
    pub images: Vec<u8>,
    /// `count` labels, digits 0-9.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Number of items (labels) in the set.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no items.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 784 pixels of image `i`, row-major; an empty slice when `i` is out of range.
    pub fn image(&self, i: usize) -> &[u8] {
        i.checked_mul(IMAGE_PIXELS)
            .and_then(|start| self.images.get(start..start.checked_add(IMAGE_PIXELS)?))
            .unwrap_or_default()
    }

    /// The label of item `i`, or `None` when `i` is out of range.
    pub fn label(&self, i: usize) -> Option<u8> {
        self.labels.get(i).copied()
    }

    /// First `n` items (or all if fewer).
    pub fn truncated(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        let pixels = n.saturating_mul(IMAGE_PIXELS).min(self.images.len());
        Dataset {
            images: self.images.get(..pixels).unwrap_or_default().to_vec(),
            labels: self.labels.get(..n).unwrap_or_default().to_vec(),
        }
    }

    /// A tiny deterministic synthetic set of digit-like strokes (for fast UI/worker tests),
    /// `count` images.
    ///
    /// Item `i` shows digit `i % 10` drawn as a soft pen stroke, with its size, position,
    /// slant and pen width drawn from a ChaCha8 generator seeded by `seed`: the same
    /// `(count, seed)` always gives the same bytes.
    pub fn synthetic(count: usize, seed: u64) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut images = Vec::with_capacity(count * IMAGE_PIXELS);
        let mut labels = Vec::with_capacity(count);
        for i in 0..count {
            let digit = (i % 10) as u8;
            labels.push(digit);
            images.extend_from_slice(&synthetic_digit(digit, &mut rng));
        }
        Dataset { images, labels }
    }
}

/// The training and test splits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mnist {
    /// The training split (60,000 items for MNIST).
    pub train: Dataset,
    /// The test split (10,000 items for MNIST).
    pub test: Dataset,
}

impl Mnist {
    /// Synthetic training and test sets of the given sizes (see [`Dataset::synthetic`]);
    /// the test set uses a seed derived from `seed`, so it differs from the training set.
    pub fn synthetic(train: usize, test: usize, seed: u64) -> Mnist {
        Mnist {
            train: Dataset::synthetic(train, seed),
            test: Dataset::synthetic(test, seed ^ 0x9E37_79B9_7F4A_7C15),
        }
    }
}

/// `assets/mnist` of this crate (`env!("CARGO_MANIFEST_DIR")`), falling back to
/// `./assets/mnist` under the current directory, then next to the executable, if that
/// does not exist. When none exists, the one under the current directory is returned (so
/// the error names a path that makes sense on this machine).
pub fn default_data_dir() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join(ASSETS_SUBDIR);
    if built.is_dir() {
        return built;
    }
    let in_cwd = std::env::current_dir()
        .map(|cwd| cwd.join(ASSETS_SUBDIR))
        .unwrap_or_else(|_| PathBuf::from(ASSETS_SUBDIR));
    if in_cwd.is_dir() {
        return in_cwd;
    }
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(ASSETS_SUBDIR)));
    match beside_exe {
        Some(dir) if dir.is_dir() => dir,
        _ => in_cwd,
    }
}

/// Where decompressed copies of `.gz` files are kept, per user so that nobody else can create
/// or replace them: `$XDG_CACHE_HOME/pixelcnn-studio/idx`, else `~/.cache/pixelcnn-studio/idx`,
/// else a folder under the system's temporary directory.
pub fn default_cache_dir() -> PathBuf {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(cache) = non_empty("XDG_CACHE_HOME") {
        return PathBuf::from(cache).join("pixelcnn-studio").join("idx");
    }
    if let Some(home) = non_empty("HOME") {
        return PathBuf::from(home)
            .join(".cache")
            .join("pixelcnn-studio")
            .join("idx");
    }
    std::env::temp_dir().join("pixelcnn-studio-idx-cache")
}

/// Load and validate the four files from `dir` (decompressing `.gz` files into
/// [`default_cache_dir`]).
pub fn load_mnist(dir: &Path) -> Result<Mnist, DataError> {
    load_mnist_with_cache(dir, &default_cache_dir())
}

/// Like [`load_mnist`], keeping decompressed copies of `.gz` files in `cache_dir`
/// (created if needed).
pub fn load_mnist_with_cache(dir: &Path, cache_dir: &Path) -> Result<Mnist, DataError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(DataError::NotAFolder {
                dir: dir.to_path_buf(),
            })
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(DataError::FolderNotFound {
                dir: dir.to_path_buf(),
            })
        }
        Err(error) => {
            return Err(DataError::Read {
                file: "MNIST folder".to_string(),
                path: dir.to_path_buf(),
                error,
            })
        }
    }
    let train_images = prepare(dir, cache_dir, TRAIN_IMAGES_FILE, IdxKind::Images)?;
    let train_labels = prepare(dir, cache_dir, TRAIN_LABELS_FILE, IdxKind::Labels)?;
    let test_images = prepare(dir, cache_dir, TEST_IMAGES_FILE, IdxKind::Images)?;
    let test_labels = prepare(dir, cache_dir, TEST_LABELS_FILE, IdxKind::Labels)?;
    let splits = [
        ("train", &train_images, &train_labels, TRAIN_COUNT),
        ("test", &test_images, &test_labels, TEST_COUNT),
    ];
    for (split, images, labels, _) in splits {
        check_counts_agree(dir, split, images, labels)?;
    }
    // Only now, with every count known to be at most a standard split's, read the labels.
    for labels in [&train_labels, &test_labels] {
        check_label_values(labels)?;
    }
    for (split, images, _, expected) in splits {
        check_standard_count(dir, split, images, expected)?;
    }
    load_checked(
        dir,
        [&train_images, &train_labels, &test_images, &test_labels],
    )
}

/// A file that passed validation: a raw IDX file on disk (the original or the cached
/// decompressed copy).
struct Checked {
    /// Name as found in the data folder, `.gz` included.
    shown_name: String,
    /// The user's file (the `.gz` file for a decompressed copy).
    shown_path: PathBuf,
    /// Path of the raw IDX bytes.
    raw_path: PathBuf,
    header: IdxHeader,
}

/// Why checking a raw IDX file on disk failed.
enum Failure {
    Io(io::Error),
    Problem(IdxProblem),
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Failure::Io(error)
    }
}

impl From<IdxProblem> for Failure {
    fn from(problem: IdxProblem) -> Self {
        Failure::Problem(problem)
    }
}

/// Find `name` or `name.gz` in `dir`, validate it, and return a raw file to load.
fn prepare(
    dir: &Path,
    cache_dir: &Path,
    name: &'static str,
    kind: IdxKind,
) -> Result<Checked, DataError> {
    let raw = dir.join(name);
    if is_file(&raw, name)? {
        let header = check_raw(&raw, kind, false).map_err(|failure| match failure {
            Failure::Io(error) => DataError::Read {
                file: name.to_string(),
                path: raw.clone(),
                error,
            },
            Failure::Problem(problem) => DataError::Invalid {
                file: name.to_string(),
                path: raw.clone(),
                problem,
            },
        })?;
        return Ok(Checked {
            shown_name: name.to_string(),
            shown_path: raw.clone(),
            raw_path: raw,
            header,
        });
    }
    let gz_name = format!("{name}.gz");
    let gz = dir.join(&gz_name);
    if is_file(&gz, &gz_name)? {
        return prepare_gz(&gz, gz_name, cache_dir, name, kind);
    }
    Err(DataError::FileNotFound {
        file: name,
        dir: dir.to_path_buf(),
    })
}

/// Whether `path` is an existing regular file (following links); a path that exists but
/// cannot be examined, or holds a folder, a named pipe or a device, is an error rather than
/// "missing" (and is never opened: a pipe would block, a device never end).
fn is_file(path: &Path, name: &str) -> Result<bool, DataError> {
    match fs::metadata(path) {
        Ok(meta) => match SpecialFile::of(meta.file_type()) {
            None => Ok(true),
            Some(kind) => Err(DataError::NotAFile {
                file: name.to_string(),
                kind,
                path: path.to_path_buf(),
            }),
        },
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(DataError::Read {
            file: name.to_string(),
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// Validate a raw IDX file on disk from its header: magic, dimensions, an item count no
/// standard split exceeds, and the exact length. Reads only the header.
fn check_raw(path: &Path, kind: IdxKind, decompressed: bool) -> Result<IdxHeader, Failure> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = Vec::with_capacity(kind.header_len());
    (&mut file)
        .take(kind.header_len() as u64)
        .read_to_end(&mut head)?;
    // A short raw file is "truncated" by its real length, not by what we managed to read.
    let header = idx::parse_header(kind, &head, decompressed).map_err(|problem| match problem {
        IdxProblem::HeaderTruncated {
            expected,
            decompressed,
            ..
        } => IdxProblem::HeaderTruncated {
            expected,
            found: len,
            decompressed,
        },
        other => other,
    })?;
    check_item_count(&header)?;
    idx::check_len(&header, len, decompressed)?;
    Ok(header)
}

/// Refuse a header that announces more items than the largest standard split holds.
fn check_item_count(header: &IdxHeader) -> Result<(), IdxProblem> {
    if header.count > TRAIN_COUNT {
        return Err(IdxProblem::TooManyItems {
            found: header.count,
            max: TRAIN_COUNT,
        });
    }
    Ok(())
}

/// Check that every label of a checked labels file is a digit 0-9 (reads at most
/// [`TRAIN_COUNT`] bytes: the header's count was bounded before).
fn check_label_values(labels: &Checked) -> Result<(), DataError> {
    let read_error = |error: io::Error| DataError::Read {
        file: labels.shown_name.clone(),
        path: labels.raw_path.clone(),
        error,
    };
    let mut file = File::open(&labels.raw_path).map_err(read_error)?;
    let mut header = vec![0u8; IdxKind::Labels.header_len()];
    file.read_exact(&mut header).map_err(read_error)?;
    let mut values = Vec::with_capacity(labels.header.count);
    file.take(labels.header.count as u64)
        .read_to_end(&mut values)
        .map_err(read_error)?;
    idx::check_labels(&values).map_err(|problem| DataError::Invalid {
        file: labels.shown_name.clone(),
        path: labels.shown_path.clone(),
        problem,
    })
}

/// Decompress (or reuse the cached copy of) a `.gz` file and validate the result.
fn prepare_gz(
    gz: &Path,
    gz_name: String,
    cache_dir: &Path,
    name: &str,
    kind: IdxKind,
) -> Result<Checked, DataError> {
    let read_error = |error: io::Error| DataError::Read {
        file: gz_name.clone(),
        path: gz.to_path_buf(),
        error,
    };
    let invalid = |problem: IdxProblem| DataError::Invalid {
        file: gz_name.clone(),
        path: gz.to_path_buf(),
        problem,
    };
    let cache_error = |path: &Path, error: io::Error| DataError::Cache {
        file: gz_name.clone(),
        path: path.to_path_buf(),
        error,
    };

    let meta = fs::metadata(gz).map_err(read_error)?;
    let cached = cache_dir.join(format!("{name}-{:016x}", cache_key(gz, &meta)));
    if cached.is_file() {
        if let Ok(header) = check_raw(&cached, kind, true) {
            return Ok(Checked {
                shown_name: gz_name,
                shown_path: gz.to_path_buf(),
                raw_path: cached,
                header,
            });
        }
        // A damaged cache entry (disk full, crash): drop it and decompress again.
        let _ = fs::remove_file(&cached);
    }

    crate::atomic_file::remove_all_stale_temp_files(cache_dir);
    let tmp = crate::atomic_file::temp_path(&cached);
    let outcome = decompress(gz, kind, cache_dir, &tmp)
        .map_err(|error| match error {
            Decompress::Source(error) => read_error(error),
            Decompress::Problem(problem) => invalid(problem),
            Decompress::Cache(path, error) => cache_error(&path, error),
        })
        .and_then(|()| {
            check_raw(&tmp, kind, true).map_err(|failure| match failure {
                Failure::Io(error) => cache_error(&tmp, error),
                Failure::Problem(problem) => invalid(problem),
            })
        });
    let header = match outcome {
        Ok(header) => header,
        Err(error) => {
            let _ = fs::remove_file(&tmp);
            return Err(error);
        }
    };
    if let Err(error) = fs::rename(&tmp, &cached) {
        let _ = fs::remove_file(&tmp);
        return Err(cache_error(&cached, error));
    }
    Ok(Checked {
        shown_name: gz_name,
        shown_path: gz.to_path_buf(),
        raw_path: cached,
        header,
    })
}

/// Why decompressing failed (mapped to a [`DataError`] by the caller, who knows the names).
enum Decompress {
    /// Reading the `.gz` file itself failed.
    Source(io::Error),
    /// The content is not valid gzip or not a valid IDX file.
    Problem(IdxProblem),
    /// Writing the cache failed at this path.
    Cache(PathBuf, io::Error),
}

/// Decompress `gz` into `tmp`, stopping at the length the IDX header announces.
///
/// Checks the gzip magic, the decompressed header (magic, dimensions), and that the
/// decompressed content is exactly as long as the header says; the caller then validates
/// `tmp` like a raw file (labels range).
fn decompress(gz: &Path, kind: IdxKind, cache_dir: &Path, tmp: &Path) -> Result<(), Decompress> {
    let file = File::open(gz).map_err(Decompress::Source)?;
    let compressed = file.metadata().map_err(Decompress::Source)?.len();
    if compressed > MAX_GZ_BYTES {
        return Err(Decompress::Problem(IdxProblem::CompressedTooLarge {
            found: compressed,
            max: MAX_GZ_BYTES,
        }));
    }
    let mut reader = BufReader::new(file.take(MAX_GZ_BYTES));
    let start = reader.fill_buf().map_err(Decompress::Source)?;
    if !idx::is_gzip(start) {
        return Err(Decompress::Problem(IdxProblem::NotGzip));
    }
    let mut decoder = MultiGzDecoder::new(reader);
    let corrupt = |error: io::Error| {
        Decompress::Problem(IdxProblem::CorruptGzip {
            detail: error.to_string(),
        })
    };

    let header_len = kind.header_len();
    let mut head = Vec::with_capacity(header_len);
    (&mut decoder)
        .take(header_len as u64)
        .read_to_end(&mut head)
        .map_err(corrupt)?;
    let header = idx::parse_header(kind, &head, true).map_err(Decompress::Problem)?;
    check_item_count(&header).map_err(Decompress::Problem)?;
    let expected = header.file_len();

    fs::create_dir_all(cache_dir)
        .map_err(|error| Decompress::Cache(cache_dir.to_path_buf(), error))?;
    let write_error = |error: io::Error| Decompress::Cache(tmp.to_path_buf(), error);
    let out = File::create(tmp).map_err(write_error)?;
    let mut writer = io::BufWriter::with_capacity(1 << 20, out);
    writer.write_all(&head).map_err(write_error)?;

    let mut written = head.len() as u64;
    let mut extra = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(corrupt(error)),
        };
        let room = expected.saturating_sub(written).min(n as u64) as usize;
        if room > 0 {
            writer
                .write_all(buf.get(..room).unwrap_or_default())
                .map_err(write_error)?;
            written += room as u64;
        }
        extra += (n - room) as u64;
        // Past the announced length the file is refused: stop decompressing (a small .gz can
        // expand without end).
        if extra > 0 {
            break;
        }
    }
    if extra > 0 {
        return Err(Decompress::Problem(IdxProblem::TooLong {
            expected,
            found: written + extra,
            decompressed: true,
        }));
    }
    if written < expected {
        return Err(Decompress::Problem(IdxProblem::Truncated {
            expected,
            found: written,
            decompressed: true,
        }));
    }
    let out = writer
        .into_inner()
        .map_err(|error| write_error(error.into_error()))?;
    out.sync_all().map_err(write_error)?;
    Ok(())
}

/// A cache key for a source file: FNV-1a over its canonical path, size and mtime, so an
/// edited or replaced file gets a fresh decompressed copy.
fn cache_key(path: &Path, meta: &fs::Metadata) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mtime_nanos = meta
        .modified()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos());
    let mut hash = FNV_OFFSET;
    let bytes = canonical
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .copied()
        .chain([0u8])
        .chain(meta.len().to_le_bytes())
        .chain(mtime_nanos.to_le_bytes());
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// Check that a split's images and labels files hold the same number of items.
fn check_counts_agree(
    dir: &Path,
    split: &'static str,
    images: &Checked,
    labels: &Checked,
) -> Result<(), DataError> {
    if images.header.count != labels.header.count {
        return Err(DataError::CountMismatch {
            split,
            images_file: images.shown_name.clone(),
            images: images.header.count,
            labels_file: labels.shown_name.clone(),
            labels: labels.header.count,
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Check that a split has the size the `mnist` crate insists on.
fn check_standard_count(
    dir: &Path,
    split: &'static str,
    images: &Checked,
    expected: usize,
) -> Result<(), DataError> {
    if images.header.count != expected {
        return Err(DataError::NonStandardCount {
            split,
            found: images.header.count,
            expected,
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

fn utf8(path: &Path) -> Result<&str, DataError> {
    path.to_str().ok_or_else(|| DataError::NonUtf8Path {
        path: path.to_path_buf(),
    })
}

/// Hand the four validated raw files to `mnist::MnistBuilder`.
///
/// The builder joins each file name to `base_path`; the names given here are full paths
/// (a raw file in the data folder or a cached copy) and the base path is empty, so
/// `Path::join` leaves them as they are.
fn load_checked(dir: &Path, files: [&Checked; 4]) -> Result<Mnist, DataError> {
    let [train_images, train_labels, test_images, test_labels] = files;
    let paths = [
        utf8(&train_images.raw_path)?,
        utf8(&train_labels.raw_path)?,
        utf8(&test_images.raw_path)?,
        utf8(&test_labels.raw_path)?,
    ];
    // The files were validated above, so the crate should not panic; a file replaced in
    // the meantime still could, and the UI thread must never panic, so contain it.
    let loaded = crate::service::guard(|| {
        ::mnist::MnistBuilder::new()
            .label_format_digit()
            .base_path("")
            .training_images_filename(paths[0])
            .training_labels_filename(paths[1])
            .test_images_filename(paths[2])
            .test_labels_filename(paths[3])
            .training_set_length(TRAIN_COUNT as u32)
            .validation_set_length(0)
            .test_set_length(TEST_COUNT as u32)
            .finalize()
    })
    .map_err(|message| DataError::Loader {
        message,
        dir: dir.to_path_buf(),
    })?;

    let loader_error = |message: String| DataError::Loader {
        message,
        dir: dir.to_path_buf(),
    };
    let train = Dataset {
        images: loaded.trn_img,
        labels: loaded.trn_lbl,
    };
    let test = Dataset {
        images: loaded.tst_img,
        labels: loaded.tst_lbl,
    };
    for (split, set, count) in [("train", &train, TRAIN_COUNT), ("test", &test, TEST_COUNT)] {
        if set.labels.len() != count || set.images.len() != count * IMAGE_PIXELS {
            return Err(loader_error(format!(
                "{split} split came back with {} labels and {} pixels",
                set.labels.len(),
                set.images.len()
            )));
        }
        if let Err(problem) = idx::check_labels(&set.labels) {
            return Err(loader_error(format!("{split} split: {problem}")));
        }
    }
    Ok(Mnist { train, test })
}

/// Strokes of each digit as polylines in a unit box (x right, y down).
fn digit_strokes(digit: u8) -> Vec<Vec<(f32, f32)>> {
    fn ellipse(cx: f32, cy: f32, rx: f32, ry: f32, from: f32, to: f32) -> Vec<(f32, f32)> {
        let steps = 16;
        (0..=steps)
            .map(|k| {
                let t = from + (to - from) * k as f32 / steps as f32;
                let angle = t * std::f32::consts::TAU;
                (cx + rx * angle.cos(), cy + ry * angle.sin())
            })
            .collect()
    }
    match digit {
        0 => vec![ellipse(0.5, 0.5, 0.42, 0.5, 0.0, 1.0)],
        1 => vec![vec![(0.3, 0.2), (0.58, 0.0), (0.5, 1.0)]],
        2 => vec![vec![
            (0.1, 0.25),
            (0.3, 0.03),
            (0.7, 0.03),
            (0.9, 0.25),
            (0.85, 0.45),
            (0.1, 1.0),
            (0.95, 1.0),
        ]],
        3 => vec![vec![
            (0.1, 0.1),
            (0.5, 0.0),
            (0.9, 0.15),
            (0.85, 0.35),
            (0.45, 0.5),
            (0.9, 0.65),
            (0.9, 0.85),
            (0.5, 1.0),
            (0.1, 0.9),
        ]],
        4 => vec![vec![(0.7, 1.0), (0.7, 0.0), (0.05, 0.7), (1.0, 0.7)]],
        5 => vec![vec![
            (0.9, 0.0),
            (0.2, 0.0),
            (0.15, 0.45),
            (0.6, 0.4),
            (0.9, 0.6),
            (0.85, 0.9),
            (0.5, 1.0),
            (0.1, 0.9),
        ]],
        6 => vec![vec![
            (0.8, 0.05),
            (0.4, 0.2),
            (0.15, 0.6),
            (0.2, 0.9),
            (0.5, 1.0),
            (0.85, 0.85),
            (0.85, 0.6),
            (0.5, 0.5),
            (0.18, 0.65),
        ]],
        7 => vec![vec![(0.05, 0.0), (0.95, 0.0), (0.4, 1.0)]],
        8 => vec![
            ellipse(0.5, 0.24, 0.34, 0.24, 0.0, 1.0),
            ellipse(0.5, 0.73, 0.42, 0.27, 0.0, 1.0),
        ],
        _ => vec![
            ellipse(0.5, 0.28, 0.38, 0.28, 0.0, 1.0),
            vec![(0.88, 0.28), (0.75, 1.0)],
        ],
    }
}

/// Render one jittered digit as 784 bytes.
fn synthetic_digit(digit: u8, rng: &mut ChaCha8Rng) -> [u8; IMAGE_PIXELS] {
    let width = rng.random_range(10.0..15.0f32);
    let height = rng.random_range(17.0..21.0f32);
    let centre_x = 14.0 + rng.random_range(-2.0..2.0f32);
    let centre_y = 14.0 + rng.random_range(-1.5..1.5f32);
    let slant = rng.random_range(-0.25..0.25f32);
    let pen_radius = rng.random_range(0.6..1.2f32);

    let place = |(x, y): (f32, f32)| {
        let y_px = centre_y + (y - 0.5) * height;
        let x_px = centre_x + (x - 0.5) * width + slant * (0.5 - y) * height;
        (x_px, y_px)
    };
    let segments: Vec<((f32, f32), (f32, f32))> = digit_strokes(digit)
        .into_iter()
        .flat_map(|stroke| {
            let points: Vec<(f32, f32)> = stroke.into_iter().map(place).collect();
            points
                .windows(2)
                .filter_map(|pair| match pair {
                    [a, b] => Some((*a, *b)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .collect();

    let mut image = [0u8; IMAGE_PIXELS];
    for (index, pixel) in image.iter_mut().enumerate() {
        let px = (index % IMAGE_SIDE) as f32 + 0.5;
        let py = (index / IMAGE_SIDE) as f32 + 0.5;
        let distance = segments
            .iter()
            .map(|&(a, b)| distance_to_segment((px, py), a, b))
            .fold(f32::INFINITY, f32::min);
        let ink = (1.0 - (distance - pen_radius) / 1.2).clamp(0.0, 1.0);
        *pixel = (ink * 255.0).round() as u8;
    }
    image
}

fn distance_to_segment(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let (apx, apy) = (p.0 - a.0, p.1 - a.1);
    let len_sq = abx * abx + aby * aby;
    let t = if len_sq > 0.0 {
        ((apx * abx + apy * aby) / len_sq).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (dx, dy) = (apx - t * abx, apy - t * aby);
    (dx * dx + dy * dy).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_and_truncated_never_run_past_the_end() {
        let set = Dataset::synthetic(3, 1);
        assert_eq!(set.image(2).len(), IMAGE_PIXELS);
        assert!(set.image(3).is_empty());
        assert!(set.image(usize::MAX).is_empty());
        assert_eq!(set.label(3), None);
        assert_eq!(set.truncated(10).len(), 3);
        let two = set.truncated(2);
        assert_eq!(two.images.len(), 2 * IMAGE_PIXELS);
        assert_eq!(two.image(1), set.image(1));
    }

    #[test]
    fn synthetic_digits_have_ink_and_background() {
        let set = Dataset::synthetic(10, 7);
        for i in 0..10 {
            let image = set.image(i);
            let ink = image.iter().filter(|&&p| p > 128).count();
            assert!(ink > 30 && ink < 400, "digit {i} has {ink} inked pixels");
            assert_eq!(image[0], 0, "corner of digit {i} is blank");
        }
    }

    #[test]
    fn the_cache_key_changes_with_the_file() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("a");
        fs::write(&path, b"one")?;
        let first = cache_key(&path, &fs::metadata(&path)?);
        assert_eq!(first, cache_key(&path, &fs::metadata(&path)?));
        fs::write(&path, b"three")?;
        assert_ne!(first, cache_key(&path, &fs::metadata(&path)?));
        Ok(())
    }
}
