//! The data: MNIST (or Fashion-MNIST) loaded from IDX files, synthetic stand-ins for
//! tests, and binarization into the 0/1 pixels the model sees.
//!
//! [`load_mnist`] reads and validates the four IDX files of a folder (raw or `.gz`);
//! [`default_data_dir`] points at the copy shipped in `assets/mnist`. [`Dataset::synthetic`]
//! and [`Mnist::synthetic`] make small deterministic sets for fast tests; a [`DataSource`] names
//! either kind for the studio's threads to load. [`binarize_into`] draws a fresh binarization
//! for training, [`binarize_fixed`] the fixed one for evaluation.

pub mod binarize;
pub mod idx;
pub mod mnist;
pub mod source;

pub use binarize::{binarize_fixed, binarize_fixed_image, binarize_into, TEST_BINARIZATION_SEED};
pub use mnist::{
    default_cache_dir, default_data_dir, load_mnist, load_mnist_with_cache, DataError, Dataset,
    Mnist, IMAGE_PIXELS, IMAGE_SIDE,
};
pub use source::DataSource;
