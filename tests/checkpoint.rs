//! Checkpoints: round trip, exact resume, and bad files that must fail cleanly: without reading
//! more than the header of an impossible file, and without saving what cannot be loaded.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers in integration tests, too

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::trained;
use common::training::assert_resume_is_bit_identical;
use pixelcnn_studio::atomic_file;
use pixelcnn_studio::bench::peak_rss_mib;
use pixelcnn_studio::checkpoint::{self, CheckpointError};
use pixelcnn_studio::data::Mnist;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

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
fn every_f64_of_the_metadata_comes_back_bit_identical() {
    use pixelcnn_studio::train::StepPoint;
    use rand::{Rng, SeedableRng};
    let data = Mnist::synthetic(40, 20, 1);
    let mut snapshot = trained(&data, 1).snapshot().clone();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    // Timings, losses and the epoch's loss sum are arbitrary doubles; parsing them back one
    // unit in the last place off would break exact resumes.
    for step in 0..2000 {
        snapshot.history.steps.push(StepPoint {
            epoch: rng.random::<f64>() * 10.0,
            loss_nats_per_pixel: rng.random::<f64>(),
            global_step: step,
        });
    }
    snapshot.progress.epoch_loss_sum = rng.random::<f64>() * 100.0;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    checkpoint::save(&path, &snapshot).unwrap();
    let loaded = checkpoint::load(&path).unwrap();
    assert_eq!(loaded.progress, snapshot.progress);
    assert_eq!(loaded.history, snapshot.history);
}

/// Every family, and the gated one with and without class conditioning, through the CPU
/// kernels (`tests/device.rs` runs the same check on each device).
#[test]
fn resuming_from_a_checkpoint_mid_epoch_is_bit_identical_to_training_straight() {
    let data = Mnist::synthetic(100, 20, 2);
    let k = 8; // 5 steps per epoch: the save falls mid-epoch.
    for model in [
        common::tiny_residual_model(),
        common::tiny_gated_model(false),
        common::tiny_gated_model(true),
    ] {
        assert_resume_is_bit_identical(&model, &common::tiny_train_config(), &data, k);
    }
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
fn a_model_bigger_than_its_stored_tensors_is_refused_before_they_are_read() {
    let data = Mnist::synthetic(40, 20, 5);
    let mut snapshot = trained(&data, 1).snapshot().clone();
    // Claim a bigger model than the stored tensors.
    snapshot.model.feature_maps = 9;
    let err = load_err(&checkpoint::to_bytes(&snapshot).unwrap());
    assert!(matches!(err, CheckpointError::Mismatch { .. }), "{err}");
    // The check of the data's length against the header, made before any tensor is read.
    assert!(
        err.to_string()
            .contains("bytes of tensor data stored, the model needs"),
        "{err}"
    );
}

/// A checkpoint's tensors (name, shape, little-endian f32 bytes) and metadata, to edit.
struct Parts {
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    metadata: HashMap<String, String>,
}

impl Parts {
    fn of(bytes: &[u8]) -> Parts {
        let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
        let file = SafeTensors::deserialize(bytes).unwrap();
        let tensors = file
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.shape().to_vec(), view.data().to_vec()))
            .collect();
        Parts {
            tensors,
            metadata: header.metadata().clone().unwrap(),
        }
    }

    fn tensor(&mut self, name: &str) -> &mut (String, Vec<usize>, Vec<u8>) {
        self.tensors.iter_mut().find(|t| t.0 == name).unwrap()
    }

    fn bytes(&self) -> Vec<u8> {
        let views = self.tensors.iter().map(|(name, shape, data)| {
            (
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), data).unwrap(),
            )
        });
        safetensors::serialize(views, Some(self.metadata.clone())).unwrap()
    }
}

fn good_parts() -> Parts {
    Parts::of(&good_bytes())
}

#[test]
fn a_tensor_of_the_wrong_shape_is_rejected() {
    let mut parts = good_parts();
    // The same 200 values, flattened.
    parts.tensor("conv_a.weight").1 = vec![200];
    let err = load_err(&parts.bytes());
    assert!(matches!(err, CheckpointError::Mismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("tensor 'conv_a.weight' has shape [200], expected [8, 1, 5, 5]"),
        "{err}"
    );
}

#[test]
fn a_different_format_version_is_refused() {
    let mut parts = good_parts();
    parts
        .metadata
        .insert("format_version".into(), "2".to_string());
    let err = load_err(&parts.bytes());
    assert!(
        err.to_string()
            .contains("format version 2 is not supported (this build reads 1)"),
        "{err}"
    );
}

#[test]
fn a_missing_metadata_key_is_refused() {
    let mut parts = good_parts();
    parts.metadata.remove("progress");
    let err = load_err(&parts.bytes());
    assert!(
        err.to_string()
            .contains("metadata key 'progress' is missing"),
        "{err}"
    );
}

#[test]
fn a_wrong_tensor_count_is_refused() {
    let mut parts = good_parts();
    // conv_a.weight split in two halves: the same bytes, one tensor more.
    let (name, _, data) = parts.tensor("conv_a.weight").clone();
    parts.tensors.retain(|t| t.0 != name);
    parts
        .tensors
        .push(("conv_a.weight".into(), vec![100], data[..400].to_vec()));
    parts
        .tensors
        .push(("conv_a.weight_rest".into(), vec![100], data[400..].to_vec()));
    let err = load_err(&parts.bytes());
    assert!(
        err.to_string()
            // 8 tensors in each of 4 groups: the (averaged) weights, the trained ones under
            // raw., Adam's two moments.
            .contains("33 tensors stored, the model needs 32"),
        "{err}"
    );
}

#[test]
fn a_negative_second_moment_is_refused() {
    let mut parts = good_parts();
    parts.tensor("adam.v.conv_out.bias").2 = (-1.0f32).to_le_bytes().to_vec();
    let err = load_err(&parts.bytes());
    assert!(
        err.to_string()
            .contains("Adam's second moment holds a negative value"),
        "{err}"
    );
}

#[test]
fn a_duplicated_tensor_entry_is_refused() {
    let good = good_bytes();
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&good[8..8 + header_len]).unwrap();
    let header: serde_json::Value = serde_json::from_str(header).unwrap();
    let entry = serde_json::to_string(&header["conv_out.bias"]).unwrap();
    // The same entry twice, as a hand-edited header may have it; the offsets stay consistent.
    let text = serde_json::to_string(&header).unwrap();
    let doubled = format!(
        "{},\"conv_out.bias\":{entry}}}",
        text.strip_suffix('}').unwrap()
    );
    let mut bytes = (doubled.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(doubled.as_bytes());
    bytes.extend_from_slice(&good[8 + header_len..]);
    let err = load_err(&bytes);
    assert!(
        err.to_string()
            .contains("the key 'conv_out.bias' appears twice"),
        "{err}"
    );
}

#[test]
fn a_misspelt_or_missing_model_config_field_is_refused_not_defaulted() {
    let good = good_parts();
    let config: serde_json::Value = serde_json::from_str(&good.metadata["model_config"]).unwrap();
    let mut misspelt = config.clone();
    let maps = misspelt
        .as_object_mut()
        .unwrap()
        .remove("feature_maps")
        .unwrap();
    misspelt["feature_map"] = maps;
    let mut missing = config.clone();
    missing.as_object_mut().unwrap().remove("residual");
    for (edited, needle) in [
        (misspelt, "lacks the field 'feature_maps'"),
        (missing, "lacks the field 'residual'"),
    ] {
        let mut parts = good_parts();
        parts
            .metadata
            .insert("model_config".into(), edited.to_string());
        let err = load_err(&parts.bytes());
        assert!(err.to_string().contains(needle), "{err}");
    }
    let mut parts = good_parts();
    let mut extra: serde_json::Value = config;
    extra["residual_layers"] = serde_json::json!(3);
    parts
        .metadata
        .insert("model_config".into(), extra.to_string());
    let err = load_err(&parts.bytes());
    assert!(
        err.to_string()
            .contains("has an unknown field 'residual_layers'"),
        "{err}"
    );
}

/// Loads `path`, which is 2 GiB long but mostly a hole, and checks that doing so raised the
/// process's peak memory by far less than the file's size.
fn load_sparse(path: &Path) -> CheckpointError {
    let before = peak_rss_mib().unwrap_or(0.0);
    let err = checkpoint::load(path).unwrap_err();
    let after = peak_rss_mib().unwrap_or(0.0);
    assert!(
        after - before < 512.0,
        "loading grew the peak memory from {before} to {after} MiB"
    );
    err
}

const TWO_GIB: u64 = 2 << 30;

#[test]
fn a_header_length_claiming_the_whole_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.safetensors");
    let mut file = std::fs::File::create(&path).unwrap();
    std::io::Write::write_all(&mut file, &(TWO_GIB - 8).to_le_bytes()).unwrap();
    file.set_len(TWO_GIB).unwrap();
    drop(file);
    let err = load_sparse(&path);
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("the header claims 2147483640 bytes, more than the limit of 100000000"),
        "{err}"
    );
}

#[test]
fn data_past_what_the_header_describes_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("padded.safetensors");
    let good = good_bytes();
    std::fs::write(&path, &good).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(TWO_GIB)
        .unwrap();
    let err = load_sparse(&path);
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("bytes of tensor data but the file holds"),
        "{err}"
    );
}

#[test]
fn saving_refuses_what_loading_would_reject_and_keeps_the_previous_file() {
    let data = Mnist::synthetic(40, 20, 8);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    // 40 images in batches of 20: two steps close the first epoch.
    let good = trained(&data, 2).snapshot().clone();
    checkpoint::save(&path, &good).unwrap();
    let before = std::fs::read(&path).unwrap();

    let mut nan_history = good.clone();
    nan_history.history.epochs[0].test_cost_nats_per_pixel = f64::NAN;
    let mut infinite_moment = good.clone();
    infinite_moment.adam.first_moment.tensors[1].data[0] = f32::NEG_INFINITY;
    let mut bad_config = good.clone();
    bad_config.adam.config.beta2 = 1.5;
    for (snapshot, needle) in [
        (
            nan_history,
            "the metric history holds a non-finite value (NaN)",
        ),
        (
            infinite_moment,
            "Adam first moment 'conv_a.bias' holds a non-finite value (-inf)",
        ),
        (bad_config, "Adam's settings are out of range"),
    ] {
        let err = checkpoint::save(&path, &snapshot).unwrap_err();
        assert!(matches!(err, CheckpointError::Refused { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains(needle), "{message}");
        assert!(message.ends_with("model.safetensors"), "{message}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_save_removes_the_temporary_files_of_killed_saves() {
    let data = Mnist::synthetic(40, 20, 9);
    let dir = tempfile::tempdir().unwrap();
    // A save killed mid-write leaves `.NAME.tmp-PID-N` behind (`.NAME.tmp-PID` before the
    // counter): here, of a process that has ended.
    let dead_pid = common::dead_pid();
    let stale = dir
        .path()
        .join(atomic_file::temp_name("model.safetensors", dead_pid, 0));
    let stale_old = dir
        .path()
        .join(format!(".model.safetensors.tmp-{dead_pid}"));
    std::fs::write(&stale, b"half a checkpoint").unwrap();
    std::fs::write(&stale_old, b"half a checkpoint").unwrap();
    checkpoint::save(
        &dir.path().join("model.safetensors"),
        trained(&data, 1).snapshot(),
    )
    .unwrap();
    assert!(!stale.exists() && !stale_old.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
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
