//! The names inside a run folder, the names of new run folders (date, preset, short id) and of
//! the grid images (epoch, step and the digits asked for, so a reader knows a grid from its
//! name alone).

use std::path::{Path, PathBuf};

use crate::model::{ClassChoice, FamilyConfig, ModelConfig, PRESET_NAMES};
use crate::train::{SampleKind, SampleStamp};

/// The run-state file: what the run is doing, who writes it, where it stands (JSON).
pub const STATUS_FILE: &str = "run.json";
/// The latest checkpoint (written atomically).
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// The metric history as CSV (`series,epoch,step,value`), written with the checkpoint.
pub const METRICS_FILE: &str = "metrics.csv";
/// The model and training settings (JSON), written when training (re)starts.
pub const CONFIG_FILE: &str = "config.json";
/// A short log, one line per event (created, resumed, each epoch, stopped, errors).
pub const LOG_FILE: &str = "log.txt";
/// The folder of every epoch's sample grid.
pub const SAMPLES_DIR: &str = "samples";
/// The file a writer holds an exclusive lock on while it writes the run.
pub const LOCK_FILE: &str = "lock";
/// Hex digits of a new run folder's random id.
const ID_HEX_DIGITS: usize = 6;

/// The paths of one run folder's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFiles {
    /// The run folder.
    pub dir: PathBuf,
}

impl RunFiles {
    /// The files of the run in `dir`.
    pub fn new(dir: &Path) -> RunFiles {
        RunFiles {
            dir: dir.to_path_buf(),
        }
    }

    /// `run.json`.
    pub fn status(&self) -> PathBuf {
        self.dir.join(STATUS_FILE)
    }

    /// `checkpoint.safetensors`.
    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join(CHECKPOINT_FILE)
    }

    /// `metrics.csv`.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join(METRICS_FILE)
    }

    /// `config.json`.
    pub fn config(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    /// `log.txt`.
    pub fn log(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// `samples/`.
    pub fn samples(&self) -> PathBuf {
        self.dir.join(SAMPLES_DIR)
    }

    /// `lock`.
    pub fn lock(&self) -> PathBuf {
        self.dir.join(LOCK_FILE)
    }

    /// `samples/NAME` of the grid with `stamp` ([`grid_file_name`]).
    pub fn grid(&self, stamp: &SampleStamp) -> PathBuf {
        self.samples().join(grid_file_name(stamp))
    }
}

/// The preset `model` is (conditioning aside), or `custom`.
pub fn preset_label(model: &ModelConfig) -> &'static str {
    let mut unconditional = model.clone();
    if let FamilyConfig::Gated(gated) = &mut unconditional.family {
        gated.conditional = false;
    }
    PRESET_NAMES
        .into_iter()
        .find(|name| ModelConfig::preset(name).ok().as_ref() == Some(&unconditional))
        .unwrap_or("custom")
}

/// A new run folder's name: `20260503-154210-gated-3f9a2c` (UTC date and time, the preset, a
/// random id), so runs sort by when they began and two made in the same second differ.
pub fn new_run_name(unix_ms: u64, model: &ModelConfig) -> String {
    let id = rand::random::<u32>() & ((1 << (4 * ID_HEX_DIGITS)) - 1);
    format!(
        "{}-{}-{id:0width$x}",
        super::clock::folder_stamp(unix_ms),
        preset_label(model),
        width = ID_HEX_DIGITS
    )
}

/// The file name of an end-of-epoch grid: `epoch_0003_step_1800.png`, with `_rows`, `_any` or
/// `_digit7` before `.png` when a conditional model drew it.
pub fn grid_file_name(stamp: &SampleStamp) -> String {
    let classes = match stamp.classes {
        None => String::new(),
        Some(ClassChoice::Rows) => "_rows".into(),
        Some(ClassChoice::Any) => "_any".into(),
        Some(ClassChoice::Digit(d)) => format!("_digit{d}"),
    };
    format!(
        "epoch_{:04}_step_{}{classes}.png",
        stamp.completed_epoch().unwrap_or(0),
        stamp.global_step
    )
}

/// The stamp of a grid from its file name ([`grid_file_name`]); `None` for any other name.
pub fn parse_grid_file_name(name: &str) -> Option<SampleStamp> {
    let rest = name.strip_prefix("epoch_")?.strip_suffix(".png")?;
    let (epoch, rest) = rest.split_once("_step_")?;
    let (step, classes) = match rest.split_once('_') {
        Some((step, classes)) => (step, Some(classes)),
        None => (rest, None),
    };
    let classes = match classes {
        None => None,
        Some("rows") => Some(ClassChoice::Rows),
        Some("any") => Some(ClassChoice::Any),
        Some(other) => {
            let digit: u8 = other.strip_prefix("digit")?.parse().ok()?;
            Some(ClassChoice::Digit(digit))
        }
    };
    let epoch: usize = epoch.parse().ok()?;
    Some(SampleStamp {
        epoch: epoch as f64,
        global_step: step.parse().ok()?,
        kind: SampleKind::EpochEnd,
        classes,
        // The file name does not say which guidance and temperature drew the grid.
        style: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_names_carry_their_stamp_both_ways() {
        for classes in [
            None,
            Some(ClassChoice::Rows),
            Some(ClassChoice::Any),
            Some(ClassChoice::Digit(7)),
        ] {
            let stamp = SampleStamp {
                epoch: 3.0,
                global_step: 1800,
                kind: SampleKind::EpochEnd,
                classes,
                style: None,
            };
            let name = grid_file_name(&stamp);
            assert_eq!(parse_grid_file_name(&name), Some(stamp), "{name}");
        }
        assert_eq!(
            grid_file_name(&SampleStamp {
                epoch: 12.0,
                global_step: 7,
                kind: SampleKind::EpochEnd,
                classes: Some(ClassChoice::Digit(4)),
                style: None,
            }),
            "epoch_0012_step_7_digit4.png"
        );
        for other in [
            "epoch_1.png",
            ".epoch_0001_step_3.png.tmp-1-0",
            "epoch_x_step_3.png",
            "epoch_0001_step_3_digitx.png",
            "notes.txt",
        ] {
            assert_eq!(parse_grid_file_name(other), None, "{other}");
        }
    }

    #[test]
    fn new_runs_are_named_by_date_preset_and_a_short_id() {
        let ms = (20_576 * 86_400 + 15 * 3600) * 1000;
        let name = new_run_name(ms, &ModelConfig::gated());
        assert!(name.starts_with("20260503-150000-gated-"), "{name}");
        assert_eq!(name.len(), "20260503-150000-gated-".len() + 6);
        let mut conditional = ModelConfig::gated();
        conditional
            .set_conditional(true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(preset_label(&conditional), "gated");
        assert_eq!(preset_label(&ModelConfig::paper()), "paper");
        let mut custom = ModelConfig::seed();
        custom.feature_maps = 7;
        assert_eq!(preset_label(&custom), "custom");
    }
}
