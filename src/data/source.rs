//! Where a run's images come from: a folder of MNIST files, or a small synthetic set for
//! tests. The studio names its source in commands to its threads; each thread loads it on its
//! own (never on the UI thread).

use std::path::PathBuf;

use super::mnist::{load_mnist, DataError, Mnist};

/// Where the images come from. The threads that load it keep what they loaded for later
/// requests with the same source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// The four MNIST IDX files (raw or `.gz`) of a folder, e.g. `data::default_data_dir()`.
    MnistDir(PathBuf),
    /// A small deterministic synthetic set (`Mnist::synthetic(train, test, seed)`), for tests.
    Synthetic {
        /// Training images.
        train: usize,
        /// Test images.
        test: usize,
        /// Generator seed.
        seed: u64,
    },
}

impl DataSource {
    /// A short human description, for the status bar.
    pub fn describe(&self) -> String {
        match self {
            DataSource::MnistDir(dir) => format!("MNIST in {}", dir.display()),
            DataSource::Synthetic { train, test, .. } => {
                format!("synthetic digits ({train} train / {test} test)")
            }
        }
    }

    /// Loads (and validates) the images: reads the folder's files, or makes the synthetic set.
    pub fn load(&self) -> Result<Mnist, DataError> {
        match self {
            DataSource::MnistDir(dir) => load_mnist(dir),
            DataSource::Synthetic { train, test, seed } => {
                Ok(Mnist::synthetic(*train, *test, *seed))
            }
        }
    }
}
