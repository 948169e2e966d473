//! Fixtures shared by the integration tests: tiny models and runs, random weights and images,
//! and one tolerance rule for comparing the fast kernels with the candle reference.
//!
//! Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures panic on broken set-ups

pub mod cli;
pub mod threads;
pub mod training;

use pixelcnn_studio::data::{Mnist, IMAGE_PIXELS};
use pixelcnn_studio::model::{FamilyConfig, GatedConfig, ModelConfig, Params, PlainConfig};
use pixelcnn_studio::train::{TrainConfig, Trainer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The smallest model worth training: 5x5 mask A to 8 maps, one 3x3 mask-B layer, one 1x1.
pub fn tiny_model() -> ModelConfig {
    // Spelled as changes to the seed preset, so that new config fields keep their defaults.
    ModelConfig {
        first_kernel: 5,
        feature_maps: 8,
        family: FamilyConfig::Plain(PlainConfig {
            masked_layers: 1,
            relu_layers: 1,
            ..PlainConfig::seed()
        }),
    }
}

/// The smallest gated model worth training: a 5-wide first layer, two gated layers of 8 maps.
pub fn tiny_gated_model(conditional: bool) -> ModelConfig {
    ModelConfig {
        first_kernel: 5,
        feature_maps: 8,
        family: FamilyConfig::Gated(GatedConfig {
            gated_layers: 2,
            conditional,
            ..GatedConfig::preset()
        }),
    }
}

/// [`tiny_model`] with a ReLU after the mask-B layer and a residual connection around it.
pub fn tiny_residual_model() -> ModelConfig {
    ModelConfig {
        family: FamilyConfig::Plain(PlainConfig {
            masked_layers: 1,
            relu_layers: 1,
            masked_relu: true,
            residual: true,
            ..PlainConfig::seed()
        }),
        ..tiny_model()
    }
}

/// Four epochs of batches of 20, no samples.
pub fn tiny_train_config() -> TrainConfig {
    TrainConfig {
        epochs: 4,
        batch_size: 20,
        seed: 42,
        samples_per_epoch: 0,
        ..TrainConfig::default()
    }
}

/// A [`tiny_residual_model`] trainer after `steps` steps on `data` (through the driver, so
/// each epoch they complete is closed).
pub fn trained(data: &Mnist, steps: usize) -> Trainer {
    let mut trainer = Trainer::new(tiny_residual_model(), tiny_train_config()).unwrap();
    training::train_steps(&mut trainer, data, steps).unwrap();
    trainer
}

/// Initial weights of `cfg` with random (non-zero) biases, so every path is exercised, and
/// `batch` random binary images.
pub fn random_params_and_images(cfg: &ModelConfig, batch: usize, seed: u64) -> (Params, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut params = Params::init(cfg, &mut rng);
    for t in params
        .tensors
        .iter_mut()
        .filter(|t| t.name.ends_with("bias"))
    {
        t.data
            .iter_mut()
            .for_each(|b| *b = rng.random_range(-0.1..0.1));
    }
    let images = (0..batch * IMAGE_PIXELS)
        .map(|_| if rng.random::<f32>() < 0.3 { 1.0 } else { 0.0 })
        .collect();
    (params, images)
}

/// Initial weights of `cfg` with random (non-zero) biases and class biases, `images` random
/// binary images and their random digit labels: every path of either family is exercised.
pub fn random_params_images_and_labels(
    cfg: &ModelConfig,
    images: usize,
    seed: u64,
) -> (Params, Vec<f32>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut params = Params::init(cfg, &mut rng);
    for t in params
        .tensors
        .iter_mut()
        .filter(|t| t.name.ends_with("bias") || t.name.contains("cond"))
    {
        t.data
            .iter_mut()
            .for_each(|b| *b = rng.random_range(-0.3..0.3));
    }
    let input = (0..images * IMAGE_PIXELS)
        .map(|_| if rng.random::<f32>() < 0.3 { 1.0 } else { 0.0 })
        .collect();
    let labels = (0..images).map(|_| rng.random_range(0..10)).collect();
    (params, input, labels)
}

/// Asserts `ours` is within `tol` of `reference`, relative to the largest reference value
/// (at least 1e-3), element by element.
pub fn assert_close(what: &str, ours: &[f32], reference: &[f32], tol: f32) {
    assert_eq!(ours.len(), reference.len(), "{what}: lengths differ");
    let scale = reference.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert!(
            (a - b).abs() <= tol * scale,
            "{what}[{i}]: ours {a} vs reference {b} (scale {scale})"
        );
    }
}

/// The id of a process that has ended: a child that exited and was reaped.
pub fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}
