//! Checkpoints: one safetensors file with the weights, Adam's moments and the run's metadata
//! (format version, model and training config, progress with the RNG state, metric history).
//!
//! The parameters' own names (`conv_v0.weight`, ...) hold the weights the model evaluates and
//! samples with, so a reader of the file alone computes the test cost we report: the averaged
//! weights when the run averages them (metadata `weights`: `averaged`), with the trained ones
//! under `raw.` for resuming; else the trained ones (`weights`: `trained`, or no such key in
//! files written before averaging).
//!
//! Saving is atomic (temp file in the same folder, fsync, rename, fsync the folder) and refuses
//! a snapshot the loader would reject (a non-finite weight, moment or cost), so a save never
//! replaces a good file with one that cannot be opened. Loading reads the 8-byte header length
//! and the header first and checks them against the file's size and the model's before reading
//! the tensor data, then checks every name, shape, dtype and value before anything is returned,
//! so a bad file costs no more memory than a good one and never yields a half-loaded model.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, Metadata, SafeTensors, TensorView};
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

use crate::atomic_file;
use crate::input_file::{open_regular, OpenError, SpecialFile};

use crate::model::{ConfigError, FlatModelConfig, ModelConfig, NamedTensor, Params};
use crate::train::{Adam, AdamConfig, History, RunPosition, TrainConfig, TrainingSnapshot};

/// Value of the `format` metadata key.
pub const FORMAT_NAME: &str = "pixelcnn-studio-checkpoint";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// More steps in one epoch than any dataset here could need (60,000 images at batch size 1).
const MAX_STEPS_PER_EPOCH: usize = 60_000;
/// Model config fields added after format version 1 was first written, with defaults that
/// give the model those older files hold (a plain, unconditional PixelCNN without label dropout
/// or dilation): they may be missing.
const MODEL_FIELDS_ADDED_LATER: &[&str] = &[
    "family",
    "conditional",
    "label_dropout",
    "vertical_dilation",
    "vertical_column_dilation",
];
/// Training config fields added later; a missing `weight_averaging` reads as none (those
/// runs did not average), the others as their defaults.
const TRAIN_FIELDS_ADDED_LATER: &[&str] = &["sample_style", "weight_averaging", "lr_schedule"];
/// Prefix of the trained weights when the parameters' own names hold the averaged ones.
pub const RAW_PREFIX: &str = "raw.";
/// Value of the `weights` metadata key when the parameters' names hold averaged weights.
pub const WEIGHTS_AVERAGED: &str = "averaged";
/// Value of the `weights` metadata key when they hold the trained weights.
pub const WEIGHTS_TRAINED: &str = "trained";
/// The largest header a checkpoint may have (the safetensors crate's own limit).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;
/// Bytes before the header: its length, a little-endian u64.
const HEADER_LEN_BYTES: u64 = 8;

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
    /// The path is not a regular file (a folder, a named pipe, a device): it was not read.
    #[error("not a checkpoint file: the path is {}; give a .safetensors file saved by PixelCNN Studio: {}", .kind.describe(), path.display())]
    NotAFile {
        /// What the path is instead.
        kind: SpecialFile,
        /// The user's path.
        path: PathBuf,
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
    /// The state to save is one the loader would reject (a non-finite value, say): nothing was
    /// written.
    #[error("refusing to save a checkpoint that could not be opened again ({reason}); nothing was written: {}", path.display())]
    Refused {
        /// What is wrong with the state.
        reason: String,
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
///
/// A snapshot the loader would reject (a non-finite weight, moment or cost, a negative second
/// moment, settings out of range) is refused before anything is written: the bytes are read
/// back through the loader's own checks first.
pub fn save(path: &Path, snapshot: &TrainingSnapshot) -> Result<(), CheckpointError> {
    let refused = |reason: String| CheckpointError::Refused {
        reason,
        path: path.to_path_buf(),
    };
    check_saveable(snapshot).map_err(refused)?;
    let bytes = to_bytes(snapshot).map_err(refused)?;
    from_bytes(&bytes, path).map_err(|err| refused(err.reason()))?;
    atomic_file::write(path, &bytes).map_err(|err| CheckpointError::Io {
        action: err.action,
        path: path.to_path_buf(),
        error: err.error,
    })
}

/// Reads and fully validates a checkpoint. The header is read and checked against the file's
/// size and the model's before any tensor data is read.
pub fn load(path: &Path) -> Result<TrainingSnapshot, CheckpointError> {
    let bytes = read_checked(path)?;
    from_bytes(&bytes, path)
}

impl CheckpointError {
    /// What is wrong, without the path.
    fn reason(&self) -> String {
        match self {
            CheckpointError::Io { action, error, .. } => format!("{action} failed: {error}"),
            CheckpointError::NotAFile { kind, .. } => format!("the path is {}", kind.describe()),
            CheckpointError::Corrupt { reason, .. }
            | CheckpointError::Mismatch { reason, .. }
            | CheckpointError::Refused { reason, .. } => reason.clone(),
            CheckpointError::Config { error, .. } => {
                format!("invalid model configuration: {error}")
            }
        }
    }
}

/// Values the loader refuses, named in words before the bytes are even built.
fn check_saveable(snapshot: &TrainingSnapshot) -> Result<(), String> {
    let groups = [
        ("weight", Some(&snapshot.params)),
        ("averaged weight", snapshot.averaged.as_ref()),
        ("Adam first moment", Some(&snapshot.adam.first_moment)),
        ("Adam second moment", Some(&snapshot.adam.second_moment)),
    ];
    for (what, params) in groups
        .into_iter()
        .filter_map(|(what, params)| params.map(|p| (what, p)))
    {
        for t in &params.tensors {
            if let Some(bad) = t.data.iter().find(|v| !v.is_finite()) {
                return Err(format!(
                    "{what} '{}' holds a non-finite value ({bad})",
                    t.name
                ));
            }
        }
    }
    if !snapshot.progress.epoch_loss_sum.is_finite() {
        return Err(format!(
            "the epoch's loss sum is {}",
            snapshot.progress.epoch_loss_sum
        ));
    }
    let history = &snapshot.history;
    let steps = history
        .steps
        .recent
        .iter()
        .chain(&history.steps.overview)
        .flat_map(|p| [p.epoch, p.loss_nats_per_pixel]);
    let epochs = history.epochs.iter().flat_map(|r| {
        [
            r.train_cost_nats_per_pixel,
            r.test_cost_nats_per_pixel,
            r.images_per_sec,
            r.elapsed_secs,
        ]
    });
    if let Some(bad) = steps.chain(epochs).find(|v| !v.is_finite()) {
        return Err(format!(
            "the metric history holds a non-finite value ({bad})"
        ));
    }
    Ok(())
}

/// Reads the file in two steps: the header length and the header, checked against the file's
/// size and the model's parameter count, then the tensor data.
fn read_checked(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    let io = |action: &'static str| {
        move |error| CheckpointError::Io {
            action,
            path: path.to_path_buf(),
            error,
        }
    };
    let corrupt = |reason: String| CheckpointError::Corrupt {
        reason,
        path: path.to_path_buf(),
    };
    // Only a regular file is opened: a named pipe would block, a device never end. What is
    // read after this is bounded by the file's length and the stored model's size.
    let (mut file, file_len) = open_regular(path).map_err(|err| match err {
        OpenError::NotAFile(kind) => CheckpointError::NotAFile {
            kind,
            path: path.to_path_buf(),
        },
        OpenError::NotFound => io("reading the checkpoint")(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "there is no such file",
        )),
        OpenError::Io(error) => io("reading the checkpoint")(error),
    })?;
    if file_len == 0 {
        return Err(corrupt("the file is empty".into()));
    }
    if file_len < HEADER_LEN_BYTES {
        return Err(corrupt(format!(
            "the file has {file_len} bytes, fewer than the 8 of the header length"
        )));
    }
    let mut len_bytes = [0u8; HEADER_LEN_BYTES as usize];
    file.read_exact(&mut len_bytes)
        .map_err(io("reading the checkpoint"))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER_BYTES {
        return Err(corrupt(format!(
            "the header claims {header_len} bytes, more than the limit of {MAX_HEADER_BYTES}"
        )));
    }
    if HEADER_LEN_BYTES + header_len > file_len {
        return Err(corrupt(format!(
            "the header claims {header_len} bytes but only {} follow its 8-byte length",
            file_len - HEADER_LEN_BYTES
        )));
    }
    let mut bytes = Vec::with_capacity((HEADER_LEN_BYTES + header_len) as usize);
    bytes.extend_from_slice(&len_bytes);
    (&mut file)
        .take(header_len)
        .read_to_end(&mut bytes)
        .map_err(io("reading the checkpoint"))?;
    let header = bytes
        .get(HEADER_LEN_BYTES as usize..)
        .filter(|h| h.len() as u64 == header_len)
        .ok_or_else(|| corrupt("the file ended inside its header".into()))?;
    let metadata = parse_header(header).map_err(corrupt)?;
    let data_len = metadata.data_len() as u64;
    let found = file_len - HEADER_LEN_BYTES - header_len;
    if data_len != found {
        return Err(corrupt(format!(
            "the header describes {data_len} bytes of tensor data but the file holds {found}"
        )));
    }
    // Before reading the data: does it have the size the stored model needs?
    let mismatch = |reason: String| CheckpointError::Mismatch {
        reason,
        path: path.to_path_buf(),
    };
    let stored = metadata
        .metadata()
        .as_ref()
        .ok_or_else(|| mismatch("no metadata: not written by PixelCNN Studio".into()))?;
    let model = model_from_metadata(stored, path)?;
    let averaged = weights_are_averaged(stored).map_err(mismatch)?;
    check_data_len(&model, averaged, data_len).map_err(mismatch)?;
    bytes.try_reserve_exact(data_len as usize).map_err(|e| {
        corrupt(format!(
            "no memory for {data_len} bytes of tensor data ({e})"
        ))
    })?;
    file.take(data_len)
        .read_to_end(&mut bytes)
        .map_err(io("reading the checkpoint"))?;
    if bytes.len() as u64 != file_len {
        return Err(corrupt("the file changed while it was being read".into()));
    }
    Ok(bytes)
}

/// Parses a safetensors header: offsets consistent (the crate checks them) and no key twice.
fn parse_header(header: &[u8]) -> Result<Metadata, String> {
    serde_json::from_slice::<UniqueKeys>(header).map_err(|e| format!("invalid header: {e}"))?;
    serde_json::from_slice::<Metadata>(header).map_err(|e| format!("invalid header: {e}"))
}

/// A JSON object (the header, or its `__metadata__`) deserialized only to refuse a key that
/// appears twice: the safetensors crate keeps the last one silently.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = UniqueKeys;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
                let mut seen = HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "__metadata__" {
                        map.next_value::<UniqueKeys>()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!(
                            "the key '{key}' appears twice"
                        )));
                    }
                }
                Ok(UniqueKeys)
            }
        }
        deserializer.deserialize_map(KeysVisitor)
    }
}

/// Whether the parameters' names hold averaged weights (metadata `weights`; none: trained).
fn weights_are_averaged(metadata: &HashMap<String, String>) -> Result<bool, String> {
    match metadata.get("weights").map(String::as_str) {
        None | Some(WEIGHTS_TRAINED) => Ok(false),
        Some(WEIGHTS_AVERAGED) => Ok(true),
        Some(other) => Err(format!(
            "metadata 'weights' is '{other}': expected '{WEIGHTS_TRAINED}' or '{WEIGHTS_AVERAGED}'"
        )),
    }
}

/// Tensor groups a checkpoint holds: the weights, Adam's two moments, and the trained weights
/// under `raw.` when the weights are averaged.
fn group_count(averaged: bool) -> u64 {
    if averaged {
        4
    } else {
        3
    }
}

/// The tensor data a checkpoint of `model` holds: weights (twice when averaged) and both Adam
/// moments, f32.
fn check_data_len(model: &ModelConfig, averaged: bool, data_len: u64) -> Result<(), String> {
    let expected = (model.parameter_count() as u64).saturating_mul(group_count(averaged) * 4);
    if data_len != expected {
        return Err(format!(
            "{data_len} bytes of tensor data stored, the model needs {expected}"
        ));
    }
    Ok(())
}

/// Checks the format name and version, then reads the model configuration strictly (every
/// field present, none unknown) and validates it.
fn model_from_metadata(
    metadata: &HashMap<String, String>,
    path: &Path,
) -> Result<ModelConfig, CheckpointError> {
    let mismatch = |reason: String| CheckpointError::Mismatch {
        reason,
        path: path.to_path_buf(),
    };
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
    let flat: FlatModelConfig = parse_strict(
        field("model_config")?,
        "model_config",
        MODEL_FIELDS_ADDED_LATER,
    )
    .map_err(mismatch)?;
    let invalid = |error| CheckpointError::Config {
        error,
        path: path.to_path_buf(),
    };
    let model = ModelConfig::try_from(flat).map_err(invalid)?;
    model.validate().map_err(invalid)?;
    Ok(model)
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
    let weights = match snapshot.averaged {
        Some(_) => WEIGHTS_AVERAGED,
        None => WEIGHTS_TRAINED,
    };
    metadata.insert("weights".to_string(), weights.to_string());

    // The parameters' own names hold the weights the model evaluates with.
    let groups = [
        ("", Some(snapshot.eval_params())),
        (
            RAW_PREFIX,
            snapshot.averaged.as_ref().map(|_| &snapshot.params),
        ),
        ("adam.m.", Some(&snapshot.adam.first_moment)),
        ("adam.v.", Some(&snapshot.adam.second_moment)),
    ];
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = groups
        .iter()
        .filter_map(|(prefix, params)| params.map(|p| (prefix, p)))
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
    let (header_len, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| corrupt(e.to_string()))?;
    let header_bytes = bytes
        .get(HEADER_LEN_BYTES as usize..HEADER_LEN_BYTES as usize + header_len)
        .unwrap_or_default();
    serde_json::from_slice::<UniqueKeys>(header_bytes)
        .map_err(|e| corrupt(format!("invalid header: {e}")))?;
    let metadata = header
        .metadata()
        .clone()
        .ok_or_else(|| mismatch("no metadata: not written by PixelCNN Studio".into()))?;
    let field = |key: &str| {
        metadata
            .get(key)
            .ok_or_else(|| mismatch(format!("metadata key '{key}' is missing")))
    };
    let model = model_from_metadata(&metadata, path)?;
    let averaged = weights_are_averaged(&metadata).map_err(mismatch)?;
    check_data_len(&model, averaged, header.data_len() as u64).map_err(mismatch)?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
    let train_text = field("train_config")?;
    let mut config: TrainConfig =
        parse_strict(train_text, "train_config", TRAIN_FIELDS_ADDED_LATER).map_err(mismatch)?;
    if !has_field(train_text, "weight_averaging") {
        // Written before averaging existed: the run did not average.
        config.weight_averaging = None;
    }
    config
        .validate()
        .map_err(|e| mismatch(format!("training configuration: {e}")))?;
    if config.weight_averaging.is_some() != averaged {
        return Err(mismatch(format!(
            "the training configuration {} weight averaging but the weights are {}",
            if config.weight_averaging.is_some() {
                "asks for"
            } else {
                "has no"
            },
            if averaged {
                WEIGHTS_AVERAGED
            } else {
                WEIGHTS_TRAINED
            }
        )));
    }
    let adam_meta: AdamMeta = parse_strict(field("adam")?, "adam", &[]).map_err(mismatch)?;
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
    let progress: RunPosition = parse(field("progress")?, "progress").map_err(mismatch)?;
    if progress.step_in_epoch > MAX_STEPS_PER_EPOCH || !progress.epoch_loss_sum.is_finite() {
        return Err(mismatch(format!(
            "the run's progress is out of range (step {} of an epoch)",
            progress.step_in_epoch
        )));
    }
    let history: History = parse(field("history")?, "history").map_err(mismatch)?;

    // Expected names and shapes come from the model config, not from the file.
    let template = Params::zeros(&model);
    let expected_count = group_count(averaged) as usize * template.tensors.len();
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
    let (params, averaged) = if averaged {
        (read_group(RAW_PREFIX)?, Some(read_group("")?))
    } else {
        (read_group("")?, None)
    };
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
        averaged,
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

/// Whether the JSON object `text` has the top-level field `key`.
fn has_field(text: &str, key: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .is_some_and(|v| v.get(key).is_some())
}

fn json<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

fn parse<T: DeserializeOwned>(text: &str, key: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("metadata '{key}' is invalid: {e}"))
}

/// [`parse`], refusing an object that lacks a field (but those of `may_be_missing`, at the
/// top level) or has one the type does not know: a config type with serde defaults would
/// otherwise fill a misspelt field in silently.
fn parse_strict<T: DeserializeOwned + Serialize>(
    text: &str,
    key: &str,
    may_be_missing: &[&str],
) -> Result<T, String> {
    let value: T = parse(text, key)?;
    let found: serde_json::Value = parse(text, key)?;
    let expected = serde_json::to_value(&value).map_err(|e| e.to_string())?;
    same_fields(&found, &expected, key, may_be_missing)?;
    Ok(value)
}

/// Whether `found` has exactly the object fields of `expected`, at every level (`found` may
/// lack the top-level fields of `may_be_missing`).
fn same_fields(
    found: &serde_json::Value,
    expected: &serde_json::Value,
    at: &str,
    may_be_missing: &[&str],
) -> Result<(), String> {
    use serde_json::Value;
    match (found, expected) {
        (Value::Object(found), Value::Object(expected)) => {
            if let Some(key) = expected
                .keys()
                .find(|k| !found.contains_key(*k) && !may_be_missing.contains(&k.as_str()))
            {
                return Err(format!("metadata '{at}' lacks the field '{key}'"));
            }
            if let Some(key) = found.keys().find(|k| !expected.contains_key(*k)) {
                return Err(format!("metadata '{at}' has an unknown field '{key}'"));
            }
            for (key, value) in expected {
                if let Some(f) = found.get(key) {
                    same_fields(f, value, &format!("{at}.{key}"), &[])?;
                }
            }
            Ok(())
        }
        (Value::Object(_), _) | (_, Value::Object(_)) => {
            Err(format!("metadata '{at}' has the wrong type"))
        }
        _ => Ok(()),
    }
}
