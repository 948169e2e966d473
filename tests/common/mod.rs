//! Fixtures shared by the integration tests: tiny models and runs, random weights and images,
//! the candle reference's values and gradients, and one tolerance rule for comparing the fast
//! kernels and the device path with it.
//!
//! Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures panic on broken set-ups

pub mod class_patterns;
pub mod cli;
pub mod studio;
pub mod threads;
pub mod training;
pub mod worker;

use candle_core::{Device, Tensor};
use pixelcnn_studio::data::{Mnist, IMAGE_PIXELS, IMAGE_SIDE};
use pixelcnn_studio::model::reference::{bce_with_logits, PixelCnn};
use pixelcnn_studio::model::{
    DilationPattern, FamilyConfig, GatedConfig, LabelDropout, ModelConfig, Params, PlainConfig,
    SampleStyle, NO_LABEL,
};
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

/// A gated model with a 5-wide first layer and `layers` gated layers of `maps` maps,
/// conditioned on the digit label or not, with the `gated` preset's other settings: its
/// vertical dilation and, when conditional, its label dropout (an 11th "no label" class).
pub fn gated_model(layers: usize, maps: usize, conditional: bool) -> ModelConfig {
    ModelConfig {
        first_kernel: 5,
        feature_maps: maps,
        family: FamilyConfig::Gated(GatedConfig {
            gated_layers: layers,
            conditional,
            ..GatedConfig::preset()
        }),
    }
}

/// [`gated_model`] without issue 16's levers: no label dropout (ten classes) and no vertical
/// dilation, the gated family as checkpoints written before them hold it.
pub fn gated_model_without_levers(layers: usize, maps: usize, conditional: bool) -> ModelConfig {
    ModelConfig {
        family: FamilyConfig::Gated(GatedConfig {
            gated_layers: layers,
            conditional,
            label_dropout: LabelDropout::NONE,
            vertical_dilation: DilationPattern::NONE,
            vertical_column_dilation: false,
            ..GatedConfig::preset()
        }),
        ..gated_model(layers, maps, conditional)
    }
}

/// A conditional gated model with a 7-wide first layer (the preset's), `layers` gated layers of
/// `maps` maps, the preset's label dropout and its vertical dilation pattern (rows and columns
/// 1, 1, 2, 2, 4 apart, repeated over the layers).
pub fn digits_model(layers: usize, maps: usize) -> ModelConfig {
    ModelConfig {
        first_kernel: 7,
        ..gated_model(layers, maps, true)
    }
}

/// The smallest gated model worth training: a 5-wide first layer, two gated layers of 8 maps.
pub fn tiny_gated_model(conditional: bool) -> ModelConfig {
    gated_model(2, 8, conditional)
}

/// One tiny model of each kind a code path must serve: plain without and with ReLU + residual,
/// gated without and with class conditioning.
pub fn tiny_models() -> [ModelConfig; 4] {
    [
        tiny_model(),
        tiny_residual_model(),
        tiny_gated_model(false),
        tiny_gated_model(true),
    ]
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

/// A `model` trainer with [`tiny_train_config`] after `steps` steps on `data` (through the
/// driver, so each epoch they complete is closed).
pub fn trained_model(model: ModelConfig, data: &Mnist, steps: usize) -> Trainer {
    let mut trainer = Trainer::new(model, tiny_train_config()).unwrap();
    training::train_steps(&mut trainer, data, steps).unwrap();
    trainer
}

/// A [`tiny_residual_model`] trainer after `steps` steps on `data`.
pub fn trained(data: &Mnist, steps: usize) -> Trainer {
    trained_model(tiny_residual_model(), data, steps)
}

/// Initial weights of `cfg` with random (non-zero) biases and class biases (each within
/// `spread` of zero), `images` random binary images and their random digit labels, all drawn
/// from one generator seeded with `seed`.
fn random_case(
    cfg: &ModelConfig,
    images: usize,
    seed: u64,
    spread: f32,
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
            .for_each(|b| *b = rng.random_range(-spread..spread));
    }
    let input = (0..images * IMAGE_PIXELS)
        .map(|_| if rng.random::<f32>() < 0.3 { 1.0 } else { 0.0 })
        .collect();
    let labels = (0..images).map(|_| rng.random_range(0..10)).collect();
    (params, input, labels)
}

/// Initial weights of `cfg` with random (non-zero) biases, so every path is exercised, and
/// `batch` random binary images.
pub fn random_params_and_images(cfg: &ModelConfig, batch: usize, seed: u64) -> (Params, Vec<f32>) {
    let (params, images, _) = random_case(cfg, batch, seed, 0.1);
    (params, images)
}

/// Initial weights of `cfg` with random (non-zero) biases and class biases, `images` random
/// binary images and their random digit labels: every path of either family is exercised.
pub fn random_params_images_and_labels(
    cfg: &ModelConfig,
    images: usize,
    seed: u64,
) -> (Params, Vec<f32>, Vec<u8>) {
    random_case(cfg, images, seed, 0.3)
}

/// The styles every sampler is checked at: none, guidance alone, temperature alone (cooler
/// and hotter), both, and guidance 0 (the "no label" model alone).
pub const SAMPLE_STYLES: [SampleStyle; 6] = [
    SampleStyle::PLAIN,
    SampleStyle {
        guidance: 2.5,
        temperature: 1.0,
    },
    SampleStyle {
        guidance: 1.0,
        temperature: 0.7,
    },
    SampleStyle {
        guidance: 1.0,
        temperature: 1.3,
    },
    SampleStyle {
        guidance: 3.0,
        temperature: 0.8,
    },
    SampleStyle {
        guidance: 0.0,
        temperature: 1.0,
    },
];

/// [`random_params_images_and_labels`] where every other label is the "no label" class (of a
/// model trained with label dropout), so its class-bias column is exercised too.
pub fn random_params_images_and_no_labels(
    cfg: &ModelConfig,
    images: usize,
    seed: u64,
) -> (Params, Vec<f32>, Vec<u8>) {
    let (params, input, mut labels) = random_params_images_and_labels(cfg, images, seed);
    for label in labels.iter_mut().step_by(2) {
        *label = NO_LABEL;
    }
    (params, input, labels)
}

/// What the candle reference network (`model::reference`) computes for `input` images (and
/// their `labels`, read by conditional models only): the logits, the mean loss, and the
/// gradient of every parameter in `params` order (zeros for one the loss does not reach).
pub fn reference_logits_loss_and_grads(
    cfg: &ModelConfig,
    params: &Params,
    input: &[f32],
    labels: &[u8],
) -> (Vec<f32>, f64, Vec<Vec<f32>>) {
    let device = Device::Cpu;
    let images = input.len() / IMAGE_PIXELS;
    let (model, vars) = PixelCnn::from_params(cfg, params, &device).unwrap();
    let x = Tensor::from_vec(input.to_vec(), (images, 1, IMAGE_SIDE, IMAGE_SIDE), &device).unwrap();
    let y = Tensor::from_vec(
        labels.iter().map(|&l| u32::from(l)).collect::<Vec<_>>(),
        labels.len(),
        &device,
    )
    .unwrap();
    let logits = model.forward(&x, cfg.conditional().then_some(&y)).unwrap();
    let loss = bce_with_logits(&logits, &x).unwrap();
    let store = loss.backward().unwrap();
    let grads = vars
        .iter()
        .map(|v| match store.get(v.as_tensor()) {
            Some(g) => g.flatten_all().unwrap().to_vec1().unwrap(),
            None => vec![0.0; v.as_tensor().elem_count()],
        })
        .collect();
    (
        logits.flatten_all().unwrap().to_vec1().unwrap(),
        f64::from(loss.to_scalar::<f32>().unwrap()),
        grads,
    )
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

/// `|a - b|` relative to `|b|` (at least 1e-12).
pub fn relative_gap(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-12)
}

/// The id of a process that has ended: a child that exited and was reaped.
pub fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}
