//! The data module: loading the shipped MNIST, rejecting bad files with the right
//! `DataError`, binarization and the synthetic sets.

// The helpers below are not `#[test]` functions, which `allow-unwrap-in-tests` covers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flate2::write::GzEncoder;
use flate2::Compression;
use pixelcnn_studio::atomic_file;
use pixelcnn_studio::data::idx::{encode_images, encode_labels, IdxProblem};
use pixelcnn_studio::data::{
    binarize_fixed, binarize_into, default_data_dir, load_mnist, load_mnist_with_cache, DataError,
    Dataset, Mnist, IMAGE_PIXELS, TEST_BINARIZATION_SEED,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// The shipped MNIST, loaded once for all tests.
fn shipped() -> &'static Mnist {
    static MNIST: OnceLock<Mnist> = OnceLock::new();
    MNIST.get_or_init(|| load_mnist(&default_data_dir()).unwrap())
}

fn label_counts(labels: &[u8]) -> [usize; 10] {
    let mut counts = [0; 10];
    for &label in labels {
        counts[label as usize] += 1;
    }
    counts
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A folder with a small, well-formed set of four raw files (3 train, 2 test items) and
/// a separate cache folder, so tests leave nothing behind in the system temp folder.
struct Fixture {
    _root: tempfile::TempDir,
    data: PathBuf,
    cache: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let cache = root.path().join("cache");
        fs::create_dir(&data).unwrap();
        let fixture = Fixture {
            _root: root,
            data,
            cache,
        };
        fixture.write(TRAIN_IMAGES, &encode_images(&[40u8; 3 * IMAGE_PIXELS]));
        fixture.write(TRAIN_LABELS, &encode_labels(&[1, 2, 3]));
        fixture.write(TEST_IMAGES, &encode_images(&[90u8; 2 * IMAGE_PIXELS]));
        fixture.write(TEST_LABELS, &encode_labels(&[9, 0]));
        fixture
    }

    fn path(&self, name: &str) -> PathBuf {
        self.data.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        fs::write(self.path(name), bytes).unwrap();
    }

    /// Replace raw file `name` with `name.gz` holding `bytes` compressed.
    fn write_gz(&self, name: &str, bytes: &[u8]) {
        let _ = fs::remove_file(self.path(name));
        self.write(&format!("{name}.gz"), &gzip(bytes));
    }

    fn load(&self) -> DataError {
        load_mnist_with_cache(&self.data, &self.cache).unwrap_err()
    }
}

fn problem_of(error: &DataError) -> &IdxProblem {
    match error {
        DataError::Invalid { problem, .. } => problem,
        other => panic!("expected DataError::Invalid, got {other:?}"),
    }
}

/// The message up to the path (the path itself is a temporary folder).
fn message_before_path(error: &DataError, path: &Path) -> String {
    let message = error.to_string();
    let suffix = format!(": {}", path.display());
    message
        .strip_suffix(&suffix)
        .unwrap_or_else(|| panic!("message does not end in the path: {message}"))
        .to_string()
}

#[test]
fn the_shipped_mnist_has_60000_train_and_10000_test_images() {
    let mnist = shipped();
    assert_eq!(mnist.train.len(), 60_000);
    assert_eq!(mnist.test.len(), 10_000);
    assert_eq!(mnist.train.images.len(), 60_000 * IMAGE_PIXELS);
    assert_eq!(mnist.test.images.len(), 10_000 * IMAGE_PIXELS);
    assert_eq!(mnist.train.image(59_999).len(), IMAGE_PIXELS);
}

#[test]
fn the_shipped_labels_have_the_documented_counts() {
    let mnist = shipped();
    assert_eq!(
        label_counts(&mnist.train.labels),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        label_counts(&mnist.test.labels),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    // The first training digits of MNIST are 5, 0, 4, 1, 9.
    assert_eq!(&mnist.train.labels[..5], &[5, 0, 4, 1, 9]);
}

#[test]
fn the_mean_training_pixel_is_33_318() {
    let images = &shipped().train.images;
    let sum: u64 = images.iter().map(|&p| u64::from(p)).sum();
    let mean = sum as f64 / images.len() as f64;
    assert!((mean - 33.318).abs() < 0.001, "mean pixel {mean}");
}

#[test]
fn raw_files_load_like_gz_files_and_win_when_both_exist() {
    let fixture = Fixture::new();
    // Raw labels decompressed from the shipped files, the shipped .gz images beside them.
    let assets = default_data_dir();
    for name in [TRAIN_LABELS, TEST_LABELS] {
        let gz = fs::read(assets.join(format!("{name}.gz"))).unwrap();
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw).unwrap();
        fixture.write(name, &raw);
        // A broken .gz beside the raw file is ignored: the raw file wins.
        fixture.write(&format!("{name}.gz"), b"not gzip");
    }
    for name in [TRAIN_IMAGES, TEST_IMAGES] {
        fs::remove_file(fixture.path(name)).unwrap();
        std::os::unix::fs::symlink(
            assets.join(format!("{name}.gz")),
            fixture.path(&format!("{name}.gz")),
        )
        .unwrap();
    }
    // The default cache: the symlinked images reuse the shipped files' cached copies.
    let mixed = load_mnist(&fixture.data).unwrap();
    assert_eq!(&mixed, shipped());
}

#[test]
fn a_truncated_raw_file_is_reported_with_both_lengths() {
    let fixture = Fixture::new();
    let full = encode_images(&[40u8; 3 * IMAGE_PIXELS]);
    fixture.write(TRAIN_IMAGES, &full[..full.len() - 100]);
    let error = fixture.load();
    assert_eq!(
        problem_of(&error),
        &IdxProblem::Truncated {
            expected: 2368,
            found: 2268,
            decompressed: false
        }
    );
    assert_eq!(
        message_before_path(&error, &fixture.path(TRAIN_IMAGES)),
        "train-images-idx3-ubyte: truncated: expected 2368 bytes, found 2268; \
         download the file again"
    );
}

#[test]
fn a_gz_file_with_truncated_content_says_so_after_decompression() {
    let fixture = Fixture::new();
    let full = encode_images(&[40u8; 3 * IMAGE_PIXELS]);
    fixture.write_gz(TRAIN_IMAGES, &full[..1000]);
    let error = fixture.load();
    assert_eq!(
        message_before_path(&error, &fixture.path("train-images-idx3-ubyte.gz")),
        "train-images-idx3-ubyte.gz: truncated: expected 2368 bytes after decompression, \
         found 1000; download the file again"
    );
    assert!(!fixture.cache.exists() || fs::read_dir(&fixture.cache).unwrap().count() == 0);
}

#[test]
fn a_cut_gzip_stream_is_reported_as_corrupt() {
    let fixture = Fixture::new();
    fixture.write_gz(TRAIN_LABELS, &encode_labels(&[1, 2, 3]));
    let gz_path = fixture.path("train-labels-idx1-ubyte.gz");
    let gz = fs::read(&gz_path).unwrap();
    fs::write(&gz_path, &gz[..gz.len() - 6]).unwrap();
    let error = fixture.load();
    assert!(
        matches!(problem_of(&error), IdxProblem::CorruptGzip { .. }),
        "{error}"
    );
    assert!(error
        .to_string()
        .starts_with("train-labels-idx1-ubyte.gz: corrupt or incomplete gzip data"));
}

#[test]
fn a_gzip_file_passed_under_the_raw_name_is_recognised() {
    let fixture = Fixture::new();
    fixture.write(TEST_LABELS, &gzip(&encode_labels(&[9, 0])));
    let error = fixture.load();
    assert_eq!(problem_of(&error), &IdxProblem::GzipUnderRawName);
    assert_eq!(
        message_before_path(&error, &fixture.path(TEST_LABELS)),
        "t10k-labels-idx1-ubyte: is gzip-compressed but its name does not end in .gz; \
         add the .gz suffix to its name or decompress it with gunzip"
    );
}

#[test]
fn a_raw_file_passed_under_a_gz_name_is_recognised() {
    let fixture = Fixture::new();
    fs::rename(
        fixture.path(TEST_IMAGES),
        fixture.path("t10k-images-idx3-ubyte.gz"),
    )
    .unwrap();
    let error = fixture.load();
    assert_eq!(problem_of(&error), &IdxProblem::NotGzip);
    assert!(error
        .to_string()
        .starts_with("t10k-images-idx3-ubyte.gz: is not a gzip file"));
}

#[test]
fn a_labels_file_in_place_of_images_has_the_wrong_magic() {
    let fixture = Fixture::new();
    fixture.write(TRAIN_IMAGES, &encode_labels(&[1, 2, 3]));
    let error = fixture.load();
    assert_eq!(
        problem_of(&error),
        &IdxProblem::WrongMagic {
            expected: 2051,
            found: 2049
        }
    );
    assert!(error.to_string().starts_with(
        "train-images-idx3-ubyte: wrong magic number: expected 2051 (an IDX images file), \
         found 2049 (an IDX labels file)"
    ));
}

#[test]
fn a_label_out_of_range_is_reported_with_its_index() {
    let fixture = Fixture::new();
    fixture.write_gz(TRAIN_LABELS, &encode_labels(&[1, 12, 3]));
    let error = fixture.load();
    assert_eq!(
        problem_of(&error),
        &IdxProblem::LabelOutOfRange {
            index: 1,
            label: 12
        }
    );
    assert!(error
        .to_string()
        .starts_with("train-labels-idx1-ubyte.gz: label 12 at index 1 is out of range"));
}

#[test]
fn a_gz_header_announcing_too_many_items_is_refused_before_decompressing() {
    let fixture = Fixture::new();
    let mut labels = encode_labels(&[1, 2, 3]);
    labels[4..8].copy_from_slice(&4_000_000u32.to_be_bytes());
    fixture.write_gz(TRAIN_LABELS, &labels);
    let error = fixture.load();
    assert_eq!(
        problem_of(&error),
        &IdxProblem::TooManyItems {
            found: 4_000_000,
            max: 60_000
        }
    );
    assert!(!fixture.cache.exists());
}

#[test]
fn a_raw_labels_file_announcing_two_billion_labels_is_refused_from_its_header() {
    let fixture = Fixture::new();
    // A sparse file exactly as long as its header says: 2^31 labels, 2 GiB.
    let count: u32 = 1 << 31;
    let mut header = encode_labels(&[]);
    header[4..8].copy_from_slice(&count.to_be_bytes());
    let path = fixture.path(TRAIN_LABELS);
    fs::write(&path, &header).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(8 + u64::from(count))
        .unwrap();
    let before = pixelcnn_studio::bench::peak_rss_mib().unwrap_or(0.0);
    let error = fixture.load();
    let after = pixelcnn_studio::bench::peak_rss_mib().unwrap_or(0.0);
    assert_eq!(
        problem_of(&error),
        &IdxProblem::TooManyItems {
            found: 1 << 31,
            max: 60_000
        }
    );
    assert!(
        after - before < 512.0,
        "the labels were read: peak memory {before} -> {after} MiB"
    );
}

#[test]
fn images_and_labels_of_different_counts_are_a_mismatch() {
    let fixture = Fixture::new();
    fixture.write(TEST_LABELS, &encode_labels(&[9, 0, 4]));
    let error = fixture.load();
    match &error {
        DataError::CountMismatch {
            split,
            images,
            labels,
            ..
        } => assert_eq!((*split, *images, *labels), ("test", 2, 3)),
        other => panic!("expected CountMismatch, got {other:?}"),
    }
    assert_eq!(
        message_before_path(&error, &fixture.data),
        "test split: t10k-images-idx3-ubyte holds 2 images but t10k-labels-idx1-ubyte holds \
         3 labels; use the images and labels files of the same data set"
    );
}

#[test]
fn a_well_formed_but_small_set_is_not_the_standard_split() {
    let fixture = Fixture::new();
    match fixture.load() {
        DataError::NonStandardCount {
            split,
            found,
            expected,
            ..
        } => assert_eq!((split, found, expected), ("train", 3, 60_000)),
        other => panic!("expected NonStandardCount, got {other:?}"),
    }
}

#[test]
fn a_missing_folder_is_named_with_what_to_do() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("no-such-folder");
    let error = load_mnist(&missing).unwrap_err();
    assert!(matches!(error, DataError::FolderNotFound { .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "MNIST folder not found: {} (pass --data DIR with the four IDX files)",
            missing.display()
        )
    );
}

#[test]
fn a_missing_file_lists_what_was_looked_for() {
    let fixture = Fixture::new();
    fs::remove_file(fixture.path(TEST_IMAGES)).unwrap();
    let error = fixture.load();
    assert!(matches!(
        error,
        DataError::FileNotFound {
            file: "t10k-images-idx3-ubyte",
            ..
        }
    ));
    let message = error.to_string();
    assert!(message.starts_with(
        "t10k-images-idx3-ubyte not found: looked for t10k-images-idx3-ubyte and \
         t10k-images-idx3-ubyte.gz"
    ));
    assert!(message.ends_with(&fixture.data.display().to_string()));
}

#[test]
fn a_decompressed_copy_is_cached_and_a_damaged_one_replaced() {
    let fixture = Fixture::new();
    let labels = encode_labels(&[1, 2, 3]);
    fixture.write_gz(TRAIN_LABELS, &labels);
    // The set is too small to load, but the .gz is checked and cached on the way.
    assert!(matches!(fixture.load(), DataError::NonStandardCount { .. }));
    let entries: Vec<PathBuf> = fs::read_dir(&fixture.cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let cached = &entries[0];
    assert_eq!(fs::read(cached).unwrap(), labels);

    let modified = fs::metadata(cached).unwrap().modified().unwrap();
    fixture.load();
    assert_eq!(fs::metadata(cached).unwrap().modified().unwrap(), modified);

    fs::write(cached, &labels[..5]).unwrap();
    fixture.load();
    assert_eq!(fs::read(cached).unwrap(), labels);
    assert_eq!(fs::read_dir(&fixture.cache).unwrap().count(), 1);
}

#[test]
fn temporary_files_of_killed_decompressions_are_removed_on_the_next_one() {
    let fixture = Fixture::new();
    fs::create_dir_all(&fixture.cache).unwrap();
    let cached = "train-labels-idx1-ubyte-0123456789abcdef";
    let stale = fixture
        .cache
        .join(atomic_file::temp_name(cached, common::dead_pid(), 0));
    let running = fixture.cache.join(atomic_file::temp_name(cached, 1, 0));
    fs::write(&stale, b"partial").unwrap();
    fs::write(&running, b"partial").unwrap();
    fixture.write_gz(TRAIN_LABELS, &encode_labels(&[1, 2, 3]));
    assert!(matches!(fixture.load(), DataError::NonStandardCount { .. }));
    assert!(
        !stale.exists(),
        "a dead process's temporary file is removed"
    );
    assert!(running.exists(), "a running process's is kept (pid 1 runs)");
}

#[test]
fn binarization_is_deterministic_for_a_seed() {
    let images = &shipped().train.images[..100 * IMAGE_PIXELS];
    let draw = |seed| {
        let mut out = vec![0.5f32; images.len()];
        binarize_into(images, &mut ChaCha8Rng::seed_from_u64(seed), &mut out);
        out
    };
    let first = draw(11);
    assert_eq!(first, draw(11));
    assert_ne!(first, draw(12));
    assert!(first.iter().all(|&v| v == 0.0 || v == 1.0));
}

#[test]
fn the_fraction_of_ones_matches_the_mean_intensity() {
    let images = &shipped().train.images[..2000 * IMAGE_PIXELS];
    let mean_intensity =
        images.iter().map(|&p| f64::from(p)).sum::<f64>() / (255.0 * images.len() as f64);
    let mut out = vec![0.0f32; images.len()];
    binarize_into(images, &mut ChaCha8Rng::seed_from_u64(5), &mut out);
    let ones = out.iter().filter(|&&v| v == 1.0).count() as f64 / out.len() as f64;
    assert!(
        (ones - mean_intensity).abs() < 0.002,
        "ones {ones}, mean intensity {mean_intensity}"
    );
}

#[test]
fn the_fixed_test_binarization_is_identical_across_calls() {
    let images = &shipped().test.images[..50 * IMAGE_PIXELS];
    let fixed = binarize_fixed(images);
    assert_eq!(fixed, binarize_fixed(images));
    let mut expected = vec![0.0f32; images.len()];
    binarize_into(
        images,
        &mut ChaCha8Rng::seed_from_u64(TEST_BINARIZATION_SEED),
        &mut expected,
    );
    assert_eq!(fixed, expected);
}

#[test]
fn synthetic_sets_have_the_requested_sizes_and_repeat_for_a_seed() {
    let set = Dataset::synthetic(25, 1);
    assert_eq!(set.len(), 25);
    assert_eq!(set.images.len(), 25 * IMAGE_PIXELS);
    assert!(set.labels.iter().all(|&label| label < 10));
    assert_eq!(set, Dataset::synthetic(25, 1));
    assert_ne!(set, Dataset::synthetic(25, 2));
    assert!(Dataset::synthetic(0, 1).is_empty());

    let mnist = Mnist::synthetic(40, 12, 3);
    assert_eq!((mnist.train.len(), mnist.test.len()), (40, 12));
    assert_eq!(mnist.test.images.len(), 12 * IMAGE_PIXELS);
    assert_ne!(mnist.train.image(0), mnist.test.image(0));
    assert_eq!(mnist.train.truncated(10), Dataset::synthetic(10, 3));
}
