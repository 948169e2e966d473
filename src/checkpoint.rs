//! Checkpoints: one safetensors file with the weights, Adam's moments and the run's metadata
//! (format version, model and training config, progress with the RNG state, metric history).
//!
//! Saving is atomic (temp file in the same folder, fsync, rename, fsync the folder). Loading
//! checks every name, shape, dtype and value before anything is returned, so a bad file never
//! yields a half-loaded model.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use thiserror::Error;

use crate::model::{ConfigError, ModelConfig, NamedTensor, Params};
use crate::train::{Adam, AdamConfig, History, Progress, TrainConfig, TrainingSnapshot};

/// Value of the `format` metadata key.
pub const FORMAT_NAME: &str = "pixelcnn-studio-checkpoint";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// More steps in one epoch than any dataset here could need (60,000 images at batch size 1).
const MAX_STEPS_PER_EPOCH: usize = 60_000;

/// Why a checkpoint could not be saved or loaded.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// Reading or writing the file failed.
    #[error("{action} failed: {error}: {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The user's path.
        path: PathBuf,
        /// The OS error (part of the message, so not chained again).
        error: std::io::Error,
    },
    /// The file is not a readable safetensors file.
    #[error("not a valid checkpoint ({reason}); the file may be truncated or not a checkpoint: {}", path.display())]
    Corrupt {
        /// What is wrong.
        reason: String,
        /// The user's path.
        path: PathBuf,
    },
    /// The file is safetensors but its contents do not match this program's checkpoints.
    #[error("checkpoint does not match: {reason}: {}", path.display())]
    Mismatch {
        /// What is wrong.
        reason: String,
        /// The user's path.
        path: PathBuf,
    },
    /// The stored model configuration is invalid.
    #[error("checkpoint holds an invalid model configuration ({error}): {}", path.display())]
    Config {
        /// The validation error (part of the message).
        error: ConfigError,
        /// The user's path.
        path: PathBuf,
    },
}

#[derive(Serialize, Deserialize)]
struct AdamMeta {
    config: AdamConfig,
    step_count: u64,
}

/// Writes `snapshot` to `path` atomically: on failure an existing file there is untouched.
pub fn save(path: &Path, snapshot: &TrainingSnapshot) -> Result<(), CheckpointError> {
    let bytes = to_bytes(snapshot).map_err(|reason| CheckpointError::Mismatch {
        reason,
        path: path.to_path_buf(),
    })?;
    write_atomically(path, &bytes)
}

/// Reads and fully validates a checkpoint.
pub fn load(path: &Path) -> Result<TrainingSnapshot, CheckpointError> {
    let bytes = fs::read(path).map_err(|error| CheckpointError::Io {
        action: "reading the checkpoint",
        path: path.to_path_buf(),
        error,
    })?;
    from_bytes(&bytes, path)
}

/// Serializes a snapshot into safetensors bytes.
pub fn to_bytes(snapshot: &TrainingSnapshot) -> Result<Vec<u8>, String> {
    let mut metadata = HashMap::new();
    metadata.insert("format".to_string(), FORMAT_NAME.to_string());
    metadata.insert("format_version".to_string(), FORMAT_VERSION.to_string());
    metadata.insert("model_config".to_string(), json(&snapshot.model)?);
    metadata.insert("train_config".to_string(), json(&snapshot.config)?);
    metadata.insert(
        "adam".to_string(),
        json(&AdamMeta {
            config: snapshot.adam.config,
            step_count: snapshot.adam.step_count,
        })?,
    );
    metadata.insert(
        "epoch".to_string(),
        snapshot.progress.epochs_done.to_string(),
    );
    metadata.insert("progress".to_string(), json(&snapshot.progress)?);
    metadata.insert("history".to_string(), json(&snapshot.history)?);

    let groups = [
        ("", &snapshot.params),
        ("adam.m.", &snapshot.adam.first_moment),
        ("adam.v.", &snapshot.adam.second_moment),
    ];
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = groups
        .iter()
        .flat_map(|(prefix, params)| {
            params.tensors.iter().map(move |t| {
                let bytes = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                (format!("{prefix}{}", t.name), t.shape.clone(), bytes)
            })
        })
        .collect();
    let views = raw
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, Some(metadata)).map_err(|e| e.to_string())
}

/// Parses and validates checkpoint bytes; `path` only names the file in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<TrainingSnapshot, CheckpointError> {
    let corrupt = |reason: String| CheckpointError::Corrupt {
        reason,
        path: path.to_path_buf(),
    };
    let mismatch = |reason: String| CheckpointError::Mismatch {
        reason,
        path: path.to_path_buf(),
    };
    if bytes.is_empty() {
        return Err(corrupt("the file is empty".into()));
    }
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| corrupt(e.to_string()))?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
    let metadata = header
        .metadata()
        .clone()
        .ok_or_else(|| mismatch("no metadata: not written by PixelCNN Studio".into()))?;
    let field = |key: &str| {
        metadata
            .get(key)
            .ok_or_else(|| mismatch(format!("metadata key '{key}' is missing")))
    };
    if field("format")? != FORMAT_NAME {
        return Err(mismatch("not a PixelCNN Studio checkpoint".into()));
    }
    let version = field("format_version")?;
    if version != &FORMAT_VERSION.to_string() {
        return Err(mismatch(format!(
            "format version {version} is not supported (this build reads {FORMAT_VERSION})"
        )));
    }
    let model: ModelConfig = parse(field("model_config")?, "model_config").map_err(mismatch)?;
    model.validate().map_err(|error| CheckpointError::Config {
        error,
        path: path.to_path_buf(),
    })?;
    let config: TrainConfig = parse(field("train_config")?, "train_config").map_err(mismatch)?;
    config
        .validate()
        .map_err(|e| mismatch(format!("training configuration: {e}")))?;
    let adam_meta: AdamMeta = parse(field("adam")?, "adam").map_err(mismatch)?;
    let AdamConfig {
        learning_rate,
        beta1,
        beta2,
        eps,
    } = adam_meta.config;
    let in_unit = |v: f64| v > 0.0 && v < 1.0;
    if !(in_unit(beta1) && in_unit(beta2) && eps > 0.0 && eps.is_finite() && learning_rate > 0.0)
        || adam_meta.step_count > i32::MAX as u64
    {
        return Err(mismatch(format!(
            "Adam's settings are out of range (beta1 {beta1}, beta2 {beta2}, eps {eps}, learning rate {learning_rate}, step {})",
            adam_meta.step_count
        )));
    }
    let progress: Progress = parse(field("progress")?, "progress").map_err(mismatch)?;
    if progress.step_in_epoch > MAX_STEPS_PER_EPOCH || !progress.epoch_loss_sum.is_finite() {
        return Err(mismatch(format!(
            "the run's progress is out of range (step {} of an epoch)",
            progress.step_in_epoch
        )));
    }
    let history: History = parse(field("history")?, "history").map_err(mismatch)?;

    // Expected names and shapes come from the model config, not from the file.
    let template = Params::zeros(&model);
    let expected_count = 3 * template.tensors.len();
    if tensors.len() != expected_count {
        return Err(mismatch(format!(
            "{} tensors stored, the model needs {expected_count}",
            tensors.len()
        )));
    }
    let read_group = |prefix: &str| -> Result<Params, CheckpointError> {
        let tensors_out = template
            .tensors
            .iter()
            .map(|t| {
                let name = format!("{prefix}{}", t.name);
                let view = tensors
                    .tensor(&name)
                    .map_err(|_| mismatch(format!("tensor '{name}' is missing")))?;
                if view.dtype() != Dtype::F32 {
                    return Err(mismatch(format!(
                        "tensor '{name}' is {:?}, expected F32",
                        view.dtype()
                    )));
                }
                if view.shape() != t.shape.as_slice() {
                    return Err(mismatch(format!(
                        "tensor '{name}' has shape {:?}, expected {:?}",
                        view.shape(),
                        t.shape
                    )));
                }
                let data: Vec<f32> = view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                if let Some(bad) = data.iter().find(|v| !v.is_finite()) {
                    return Err(mismatch(format!(
                        "tensor '{name}' holds a non-finite value ({bad})"
                    )));
                }
                Ok(NamedTensor {
                    name: t.name.clone(),
                    shape: t.shape.clone(),
                    data,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Params {
            tensors: tensors_out,
        })
    };
    let params = read_group("")?;
    let first_moment = read_group("adam.m.")?;
    let second_moment = read_group("adam.v.")?;
    if second_moment
        .tensors
        .iter()
        .any(|t| t.data.iter().any(|&v| v < 0.0))
    {
        return Err(mismatch(
            "Adam's second moment holds a negative value".into(),
        ));
    }
    Ok(TrainingSnapshot {
        model,
        config,
        params,
        adam: Adam {
            config: adam_meta.config,
            step_count: adam_meta.step_count,
            first_moment,
            second_moment,
        },
        progress,
        history,
    })
}

fn json<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

fn parse<T: DeserializeOwned>(text: &str, key: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("metadata '{key}' is invalid: {e}"))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |action: &'static str| {
        let path = path.to_path_buf();
        move |error| CheckpointError::Io {
            action,
            path,
            error,
        }
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| CheckpointError::Io {
            action: "saving the checkpoint",
            path: path.to_path_buf(),
            error: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"),
        })?
        .to_string_lossy()
        .into_owned();
    let temp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&temp).map_err(io("creating the temporary checkpoint file"))?;
        file.write_all(bytes)
            .map_err(io("writing the checkpoint"))?;
        file.sync_all()
            .map_err(io("flushing the checkpoint to disk"))?;
        drop(file);
        fs::rename(&temp, path).map_err(io("replacing the checkpoint"))?;
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
