//! Checkpoints: round trip, exact resume, and bad files that must fail cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers in integration tests, too

use std::path::Path;

use pixelcnn_studio::checkpoint::{self, CheckpointError};
use pixelcnn_studio::data::Mnist;
use pixelcnn_studio::model::ModelConfig;
use pixelcnn_studio::train::{TrainConfig, Trainer};

fn tiny_model() -> ModelConfig {
    ModelConfig {
        first_kernel: 5,
        masked_layers: 1,
        masked_kernel: 3,
        masked_relu: true,
        relu_layers: 1,
        feature_maps: 8,
        residual: true,
        ..ModelConfig::seed()
    }
}

fn tiny_config() -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 20,
        seed: 42,
        samples_per_epoch: 0,
        ..TrainConfig::default()
    }
}

fn trained(data: &Mnist, steps: usize) -> Trainer {
    let mut trainer = Trainer::new(tiny_model(), tiny_config()).unwrap();
    for _ in 0..steps {
        trainer.step(data).unwrap();
    }
    trainer
}

#[test]
fn a_saved_checkpoint_loads_back_identical() {
    let data = Mnist::synthetic(100, 20, 1);
    let trainer = trained(&data, 7);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    checkpoint::save(&path, trainer.snapshot()).unwrap();
    let loaded = checkpoint::load(&path).unwrap();
    assert_eq!(&loaded, trainer.snapshot());
    assert_eq!(loaded.adam.step_count, 7);
    assert_eq!(loaded.progress.epochs_done, 1);
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn resuming_from_a_checkpoint_mid_epoch_is_bit_identical_to_training_straight() {
    let data = Mnist::synthetic(100, 20, 2);
    let k = 8; // 5 steps per epoch: the save falls mid-epoch.
    let straight = trained(&data, 2 * k);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.safetensors");
    checkpoint::save(&path, trained(&data, k).snapshot()).unwrap();
    let mut resumed = Trainer::from_snapshot(checkpoint::load(&path).unwrap()).unwrap();
    for _ in 0..k {
        resumed.step(&data).unwrap();
    }
    assert_eq!(resumed.snapshot().params, straight.snapshot().params);
    assert_eq!(resumed.snapshot().adam, straight.snapshot().adam);
    assert_eq!(resumed.snapshot().progress, straight.snapshot().progress);
    let costs = |t: &Trainer| {
        t.history()
            .epochs
            .iter()
            .map(|r| (r.train_cost_nats_per_pixel, r.test_cost_nats_per_pixel))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        costs(&resumed),
        costs(&straight),
        "timings aside, the same history"
    );
}

fn load_err(bytes: &[u8]) -> CheckpointError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, bytes).unwrap();
    checkpoint::load(&path).unwrap_err()
}

fn good_bytes() -> Vec<u8> {
    let data = Mnist::synthetic(40, 20, 3);
    checkpoint::to_bytes(trained(&data, 2).snapshot()).unwrap()
}

#[test]
fn empty_truncated_and_random_files_are_rejected_with_the_path() {
    let good = good_bytes();
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("truncated", good[..good.len() / 2].to_vec()),
        (
            "random",
            (0..5000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
    ] {
        let err = load_err(&bytes);
        let message = err.to_string();
        assert!(
            matches!(err, CheckpointError::Corrupt { .. }),
            "{what}: {message}"
        );
        assert!(message.contains("bad.safetensors"), "{what}: {message}");
    }
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = checkpoint::load(Path::new("/nonexistent/ck.safetensors")).unwrap_err();
    assert!(matches!(err, CheckpointError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/ck.safetensors"));
}

#[test]
fn a_non_finite_weight_is_rejected() {
    let data = Mnist::synthetic(40, 20, 4);
    let mut snapshot = trained(&data, 1).snapshot().clone();
    snapshot.params.tensors[2].data[0] = f32::NAN;
    let err = load_err(&checkpoint::to_bytes(&snapshot).unwrap());
    assert!(err.to_string().contains("non-finite"), "{err}");
}

#[test]
fn a_tensor_of_the_wrong_shape_is_rejected() {
    let data = Mnist::synthetic(40, 20, 5);
    let mut snapshot = trained(&data, 1).snapshot().clone();
    // Claim a bigger model than the stored tensors.
    snapshot.model.feature_maps = 9;
    let err = load_err(&checkpoint::to_bytes(&snapshot).unwrap());
    assert!(matches!(err, CheckpointError::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains("shape"), "{err}");
}

#[test]
fn a_failed_save_leaves_the_previous_file_untouched() {
    let data = Mnist::synthetic(40, 20, 6);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    checkpoint::save(&path, trained(&data, 1).snapshot()).unwrap();
    let before = std::fs::read(&path).unwrap();
    // Saving into a folder that does not exist fails and names the user's path.
    let bad = dir.path().join("missing").join("model.safetensors");
    let err = checkpoint::save(&bad, trained(&data, 2).snapshot()).unwrap_err();
    assert!(
        err.to_string().contains("missing/model.safetensors"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn out_of_range_optimizer_settings_are_rejected() {
    let data = Mnist::synthetic(40, 20, 7);
    let mut snapshot = trained(&data, 1).snapshot().clone();
    snapshot.adam.config.beta1 = 1.0;
    let err = load_err(&checkpoint::to_bytes(&snapshot).unwrap());
    assert!(err.to_string().contains("Adam's settings"), "{err}");
}
