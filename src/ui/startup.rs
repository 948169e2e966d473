//! Start-up settings read from the environment, so that scripts (screenshots, frame-time
//! measurements) can drive the real window without clicking by coordinates.

use anyhow::anyhow;

use super::controls::Preset;
use super::{StudioApp, Tab, UiCommand};
use crate::model::{FamilyConfig, ModelConfig};
use crate::train::default_learning_rate;

/// Set to `1` to press Start as soon as the window opens (for scripted screenshots).
pub const AUTOSTART_ENV: &str = "PIXELCNN_STUDIO_AUTOSTART";
/// Set to `training`, `inspector` or `explore` to open that view (for scripted screenshots).
pub const VIEW_ENV: &str = "PIXELCNN_STUDIO_VIEW";
/// Set to a preset name (`seed`, `paper`, `gated`, `gated-large`; the gated ones conditional) to
/// pick it at start-up (for scripted screenshots).
pub const PRESET_ENV: &str = "PIXELCNN_STUDIO_PRESET";
/// Set to a JSON `ModelConfig` (missing fields from the seed preset; checked), e.g.
/// `{"masked_layers": 5, "masked_relu": true}`, to pick a custom architecture at start-up.
pub const MODEL_ENV: &str = "PIXELCNN_STUDIO_MODEL";
/// Set to a number of epochs to train (for scripted screenshots).
pub const EPOCHS_ENV: &str = "PIXELCNN_STUDIO_EPOCHS";
/// Set to a number of training images to limit each epoch to (for scripted screenshots).
pub const TRAIN_LIMIT_ENV: &str = "PIXELCNN_STUDIO_TRAIN_LIMIT";
/// Set to a number of test images to evaluate each epoch on (for scripted screenshots).
pub const TEST_LIMIT_ENV: &str = "PIXELCNN_STUDIO_TEST_LIMIT";
/// Set to a checkpoint file or a run folder to open it at start-up (a run another process
/// writes is followed), for scripted screenshots.
pub const OPEN_ENV: &str = "PIXELCNN_STUDIO_OPEN";
/// Set to `1` to print frame-time statistics (median, p99) to stderr every few seconds.
pub const FRAME_LOG_ENV: &str = "PIXELCNN_STUDIO_FRAME_LOG";

/// What the environment asks for at start-up.
#[derive(Clone, Debug, Default)]
pub(super) struct Startup {
    autostart: bool,
    view: Option<Tab>,
    model: Option<(Preset, ModelConfig)>,
    epochs: Option<usize>,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
    open: Option<std::path::PathBuf>,
    /// Print frame-time statistics to stderr.
    pub(super) frame_log: bool,
}

impl Startup {
    /// Reads the `PIXELCNN_STUDIO_*` variables; a malformed model configuration is an error.
    pub(super) fn from_env() -> anyhow::Result<Startup> {
        let env = |name: &str| std::env::var(name).ok();
        let number = |name: &str| env(name).and_then(|v| v.trim().parse::<usize>().ok());
        let mut model = match env(PRESET_ENV) {
            Some(name) => {
                let mut model = ModelConfig::preset(name.trim())
                    .map_err(|err| anyhow!("{PRESET_ENV}: {err}"))?;
                // The studio's gated presets are conditional, as its default is.
                match &mut model.family {
                    FamilyConfig::Plain(_) => {}
                    FamilyConfig::Gated(gated) => gated.conditional = true,
                }
                Some((Preset::of(&model), model))
            }
            None => None,
        };
        if let Some(json) = env(MODEL_ENV) {
            let custom = serde_json::from_str::<ModelConfig>(&json)
                .map_err(|err| anyhow!("{MODEL_ENV} is not a model configuration: {err}"))?;
            custom
                .validate()
                .map_err(|err| anyhow!("{MODEL_ENV}: {err}"))?;
            model = Some((Preset::of(&custom), custom));
        }
        Ok(Startup {
            autostart: env(AUTOSTART_ENV).is_some_and(|v| v == "1"),
            view: match env(VIEW_ENV).as_deref() {
                Some("inspector") => Some(Tab::Inspector),
                Some("training") => Some(Tab::Training),
                Some("explore") => Some(Tab::Explore),
                _ => None,
            },
            model,
            epochs: number(EPOCHS_ENV),
            train_limit: number(TRAIN_LIMIT_ENV),
            test_limit: number(TEST_LIMIT_ENV),
            open: env(OPEN_ENV)
                .filter(|v| !v.trim().is_empty())
                .map(Into::into),
            frame_log: env(FRAME_LOG_ENV).is_some_and(|v| v == "1"),
        })
    }

    /// Applies the settings to a fresh app (and presses Start when asked).
    pub(super) fn apply(&self, app: &mut StudioApp) {
        if let Some(tab) = self.view {
            app.apply(UiCommand::ShowTab(tab));
        }
        let controls = &mut app.settings_mut().controls;
        if let Some((preset, model)) = &self.model {
            controls.preset = *preset;
            controls.model = model.clone();
            controls.train.learning_rate = default_learning_rate(model);
        }
        if let Some(epochs) = self.epochs {
            controls.train.epochs = epochs.max(1);
        }
        if let Some(limit) = self.train_limit {
            controls.train.train_limit = Some(limit.max(1));
        }
        if let Some(limit) = self.test_limit {
            controls.train.test_limit = Some(limit.max(1));
        }
        if let Some(path) = &self.open {
            app.apply(UiCommand::OpenRunFolder(Some(path.clone())));
        }
        if self.autostart {
            app.apply(UiCommand::Start);
        }
    }
}
