//! The model's settings as leaf data: [`ModelConfig`] (what both families share, and each
//! family's own settings in [`FamilyConfig`]), the presets, validation, and the flat record
//! ([`FlatModelConfig`]) that checkpoints and the studio's settings store.
//!
//! Nothing here reads the settings: what is derived from them lives with the code that derives
//! it ([`ModelConfig::architecture`], [`ModelConfig::convs`] and [`ModelConfig::visible_inputs`]
//! in `architecture.rs`, [`ModelConfig::parameter_count`] in `params.rs`).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest number of feature maps a config may ask for.
pub const MAX_FEATURE_MAPS: usize = 512;
/// Largest number of masked mask-B layers (plain family).
pub const MAX_MASKED_LAYERS: usize = 64;
/// Largest number of gated layers (gated family).
pub const MAX_GATED_LAYERS: usize = 64;
/// Largest number of 1x1 ReLU layers.
pub const MAX_RELU_LAYERS: usize = 16;
/// Largest kernel side for any masked convolution.
pub const MAX_KERNEL: usize = 15;
/// Gated layers of the `gated` preset (chosen by test NLL after 10 minutes; see README).
pub const GATED_LAYERS: usize = 10;
/// Feature maps of the `gated` preset.
pub const GATED_MAPS: usize = 32;
/// Kernel width of the `gated` preset's gated layers (5-wide layers learn a little more per
/// minute, but our kernels lead PyTorch's by less on them; see README).
pub const GATED_KERNEL: usize = 3;
/// The label dropout a conditional model of the `gated` preset trains with (README, "Digits":
/// what lets the sampler guide; 0.1 is the rate measured).
pub const DEFAULT_LABEL_DROPOUT: f32 = 0.1;
/// Largest label dropout rate.
pub const MAX_LABEL_DROPOUT: f32 = 0.9;
/// Row dilations of the `gated` preset's vertical stack, repeated over its gated layers (README,
/// "Digits": the same parameters and work, reaching 23 rows instead of 13).
pub const GATED_VERTICAL_DILATION: [u8; 5] = [1, 1, 2, 2, 4];
/// Whether the `gated` preset's vertical stack spreads its columns as it spreads its rows
/// (README, "Digits": with rows alone the stacks reach 13 columns either side, with both 23, at
/// the same parameters and work).
pub const GATED_COLUMN_DILATION: bool = true;
/// Longest vertical dilation pattern.
pub const MAX_DILATION_PATTERN: usize = 16;
/// Largest row dilation of one gated layer.
pub const MAX_ROW_DILATION: u8 = 8;

/// A configuration that cannot build a sensible PixelCNN.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A kernel side must be odd so that it has a centre.
    #[error("{what} kernel size {size} is even: use an odd size (3, 5, 7, ...)")]
    EvenKernel {
        /// Which kernel.
        what: &'static str,
        /// The rejected size.
        size: usize,
    },
    /// A kernel side outside the allowed range.
    #[error("{what} kernel size {size} is out of range: use {min}..={max}")]
    KernelOutOfRange {
        /// Which kernel.
        what: &'static str,
        /// The rejected size.
        size: usize,
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
    },
    /// Feature maps outside 1..=MAX_FEATURE_MAPS.
    #[error("feature maps {0} is out of range: use 1..={MAX_FEATURE_MAPS}")]
    FeatureMaps(usize),
    /// Too many masked layers.
    #[error("{0} masked layers is too many: use at most {MAX_MASKED_LAYERS}")]
    MaskedLayers(usize),
    /// Too many gated layers.
    #[error("{0} gated layers is too many: use at most {MAX_GATED_LAYERS}")]
    GatedLayers(usize),
    /// Too many 1x1 layers.
    #[error("{0} 1x1 ReLU layers is too many: use at most {MAX_RELU_LAYERS}")]
    ReluLayers(usize),
    /// An unknown preset name.
    #[error("unknown preset '{0}': use one of {presets}", presets = PRESET_NAMES.join(", "))]
    UnknownPreset(String),
    /// Class conditioning is built for the gated family only.
    #[error("class conditioning needs the gated family (--preset gated or --family gated)")]
    ConditionalPlain,
    /// A gated model needs at least one gated layer after the first.
    #[error("a gated model needs at least 1 gated layer")]
    NoGatedLayers,
    /// A label dropout rate outside `0..=MAX_LABEL_DROPOUT`.
    #[error("label dropout {0} is out of range: use a fraction from 0 to {MAX_LABEL_DROPOUT} (0.1 is the default)")]
    LabelDropout(LabelDropout),
    /// A vertical dilation pattern that is too long or has a step out of range.
    #[error("vertical dilation {0} is out of range: use 1 to {MAX_DILATION_PATTERN} steps of 1 to {MAX_ROW_DILATION} rows, e.g. 1,1,2,2,4")]
    VerticalDilation(String),
}

/// The preset names, in the order a user is offered them.
pub const PRESET_NAMES: [&str; 4] = ["seed", "paper", "gated", "gated-large"];

/// Which kind of PixelCNN a config builds: the name of a [`FamilyConfig`] variant, for the
/// command line, the studio's family switch and the flat record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// Stacked masked convolutions (arXiv 1601.06759): mask A, mask-B layers, 1x1 ReLU layers.
    #[default]
    Plain,
    /// The gated PixelCNN (arXiv 1606.05328): a vertical and a horizontal stack joined by
    /// tanh x sigmoid gates, with no blind spot; optionally conditioned on the digit label.
    Gated,
}

impl ModelFamily {
    /// The name `--family` reads.
    pub fn name(self) -> &'static str {
        match self {
            ModelFamily::Plain => "plain",
            ModelFamily::Gated => "gated",
        }
    }

    /// Parses `plain` or `gated`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "plain" => Ok(ModelFamily::Plain),
            "gated" => Ok(ModelFamily::Gated),
            other => Err(format!("unknown family '{other}': use plain or gated")),
        }
    }
}

/// The architecture of a PixelCNN: what both families share, and the family's own settings.
///
/// It is stored (checkpoints, the studio's settings) as the flat [`FlatModelConfig`], the
/// format files have always had.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "FlatModelConfig", try_from = "FlatModelConfig")]
pub struct ModelConfig {
    /// Side of the first layer's kernel (plain: the mask-A kernel; gated: the first layer's
    /// width, see `gated_spec.rs`); odd, default 7.
    pub first_kernel: usize,
    /// Feature maps of every hidden layer (of each stack, for the gated family).
    pub feature_maps: usize,
    /// The family and its own settings.
    pub family: FamilyConfig,
}

/// The settings only one family has. Code that depends on the family matches on this, so a
/// new family fails to compile until every such place handles it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FamilyConfig {
    /// Stacked masked convolutions (arXiv 1601.06759).
    Plain(PlainConfig),
    /// The gated PixelCNN (arXiv 1606.05328).
    Gated(GatedConfig),
}

/// The plain family's own settings: after the mask-A layer, `masked_layers` mask-B convolutions
/// of `masked_kernel` (each optionally followed by a ReLU and wrapped in a residual
/// connection), `relu_layers` 1x1 ReLU convolutions, and a 1x1 output convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlainConfig {
    /// Number of mask-B convolutions after the first layer.
    pub masked_layers: usize,
    /// Side of the mask-B kernels; odd, default 3.
    pub masked_kernel: usize,
    /// Whether a ReLU follows each mask-B convolution.
    pub masked_relu: bool,
    /// Number of 1x1 convolutions followed by ReLU.
    pub relu_layers: usize,
    /// Residual connections around the mask-B layers (`h + f(h)`).
    pub residual: bool,
}

/// The gated family's own settings: after the first layer (a vertical and a horizontal
/// convolution), `gated_layers` gated layers with `gated_kernel`-wide kernels, and the head
/// (ReLU, 1x1, ReLU, 1x1 to one logit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatedConfig {
    /// Number of gated layers after the first layer.
    pub gated_layers: usize,
    /// Width of the gated layers' kernels; odd, at least 3.
    pub gated_kernel: usize,
    /// Whether every gate is conditioned on the digit label.
    pub conditional: bool,
    /// For a conditional model: the fraction of training images whose label is replaced by a
    /// learned "no label" class (class 10), so the model also learns to draw without one and
    /// the sampler can guide (`logit_u + s (logit_c - logit_u)`). Above 0 the class biases have
    /// 11 columns instead of 10. An unconditional model does not use it.
    pub label_dropout: LabelDropout,
    /// Row dilation of each gated layer's vertical convolution (a pattern repeated over the
    /// layers; empty: none): the same taps, spread over more rows above.
    pub vertical_dilation: DilationPattern,
    /// Whether each vertical convolution also spreads its columns by its layer's step of
    /// `vertical_dilation` (taps `d` columns apart): the same taps, reaching farther sideways.
    pub vertical_column_dilation: bool,
}

/// A label dropout rate (see [`GatedConfig::label_dropout`]): a fraction from 0 to
/// [`MAX_LABEL_DROPOUT`] once validated. Compared by value bits, so configs stay `Eq`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LabelDropout(pub f32);

impl PartialEq for LabelDropout {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for LabelDropout {}

impl std::fmt::Display for LabelDropout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl LabelDropout {
    /// No label dropout.
    pub const NONE: LabelDropout = LabelDropout(0.0);

    /// The rate.
    pub fn rate(self) -> f32 {
        self.0
    }

    /// Whether any label is dropped (and so the model has a "no label" class).
    pub fn is_on(self) -> bool {
        self.0 > 0.0
    }
}

/// Row dilations of the gated layers' vertical convolutions: a pattern of up to
/// [`MAX_DILATION_PATTERN`] steps, repeated over the layers (layer `l` has step `l mod len`);
/// empty means none (every step 1). Stored as a JSON list, e.g. `[1,1,2,2,4]`; held as 4-bit
/// steps in one word (a 0 ends the pattern), so configs stay small.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DilationPattern(u64);

impl DilationPattern {
    /// No dilation.
    pub const NONE: DilationPattern = DilationPattern(0);

    /// The pattern of `steps`; refused when longer than [`MAX_DILATION_PATTERN`] or a step is
    /// outside `1..=MAX_ROW_DILATION`.
    pub fn new(steps: &[u8]) -> Result<DilationPattern, ConfigError> {
        if steps.len() > MAX_DILATION_PATTERN
            || steps.iter().any(|&s| s == 0 || s > MAX_ROW_DILATION)
        {
            return Err(ConfigError::VerticalDilation(format_steps(steps)));
        }
        let packed = steps
            .iter()
            .enumerate()
            .fold(0u64, |word, (i, &step)| word | u64::from(step) << (4 * i));
        Ok(DilationPattern(packed))
    }

    /// Parses `1,1,2,2,4` (or `none`, or `1`: no dilation).
    pub fn parse(text: &str) -> Result<DilationPattern, String> {
        let text = text.trim();
        if text.is_empty() || text == "none" {
            return Ok(DilationPattern::NONE);
        }
        let steps = text
            .split(',')
            .map(|s| s.trim().parse::<u8>())
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| {
                format!(
                    "'{text}' is not a dilation pattern: use steps of 1 to {MAX_ROW_DILATION} rows separated by commas, e.g. 1,1,2,2,4 (or none)"
                )
            })?;
        DilationPattern::new(&steps).map_err(|e| e.to_string())
    }

    /// The steps as given (empty for none).
    pub fn steps(&self) -> Vec<u8> {
        (0..MAX_DILATION_PATTERN)
            .map(|i| ((self.0 >> (4 * i)) & 0xF) as u8)
            .take_while(|&step| step != 0)
            .collect()
    }

    /// The row dilation of gated layer `layer`.
    pub fn at(&self, layer: usize) -> usize {
        let steps = self.steps();
        if steps.is_empty() {
            1
        } else {
            usize::from(steps[layer % steps.len()])
        }
    }

    /// Whether any layer is dilated.
    pub fn is_dilated(&self) -> bool {
        self.steps().iter().any(|&s| s > 1)
    }
}

/// `1,1,2,2,4`.
fn format_steps(steps: &[u8]) -> String {
    steps
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl std::fmt::Debug for DilationPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.steps()).finish()
    }
}

impl std::fmt::Display for DilationPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.steps().is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&format_steps(&self.steps()))
        }
    }
}

impl Serialize for DilationPattern {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.steps().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DilationPattern {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let steps = Vec::<u8>::deserialize(deserializer)?;
        DilationPattern::new(&steps).map_err(serde::de::Error::custom)
    }
}

impl PlainConfig {
    /// The `seed` preset's: two 3x3 mask-B layers without activation, two 1x1 ReLU layers.
    pub fn seed() -> Self {
        PlainConfig {
            masked_layers: 2,
            masked_kernel: 3,
            masked_relu: false,
            relu_layers: 2,
            residual: false,
        }
    }

    /// The `paper` preset's: 15 residual 3x3 mask-B layers with ReLU, two 1x1 ReLU layers.
    pub fn paper() -> Self {
        PlainConfig {
            masked_layers: 15,
            masked_kernel: 3,
            masked_relu: true,
            relu_layers: 2,
            residual: true,
        }
    }
}

impl GatedConfig {
    /// The `gated` preset's: [`GATED_LAYERS`] gated [`GATED_KERNEL`]-wide layers whose vertical
    /// convolutions are dilated by [`GATED_VERTICAL_DILATION`] in rows and columns,
    /// unconditional (conditioned, it trains with [`DEFAULT_LABEL_DROPOUT`]).
    pub fn preset() -> Self {
        GatedConfig {
            gated_layers: GATED_LAYERS,
            gated_kernel: GATED_KERNEL,
            conditional: false,
            label_dropout: LabelDropout(DEFAULT_LABEL_DROPOUT),
            vertical_dilation: DilationPattern::new(&GATED_VERTICAL_DILATION)
                .unwrap_or(DilationPattern::NONE),
            vertical_column_dilation: GATED_COLUMN_DILATION,
        }
    }

    /// Digit classes the class biases have columns for: 10, plus the "no label" class of a
    /// model trained with label dropout; 0 for an unconditional model.
    pub fn classes(&self) -> usize {
        match (self.conditional, self.label_dropout.is_on()) {
            (false, _) => 0,
            (true, false) => DIGIT_CLASSES,
            (true, true) => DIGIT_CLASSES + 1,
        }
    }
}

/// The digits a conditional model tells apart.
pub const DIGIT_CLASSES: usize = 10;
/// The label that stands for "no label" in a model trained with label dropout (its 11th class
/// column): what training uses for a dropped label and guided sampling for its second pass.
pub const NO_LABEL: u8 = 10;

impl FamilyConfig {
    /// Which family this is.
    pub fn kind(&self) -> ModelFamily {
        match self {
            FamilyConfig::Plain(_) => ModelFamily::Plain,
            FamilyConfig::Gated(_) => ModelFamily::Gated,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::seed()
    }
}

impl ModelConfig {
    /// The reference recipe: 7x7 A to 64 maps; two 3x3 B without activation; two 1x1 + ReLU; 1x1 to one logit.
    pub fn seed() -> Self {
        ModelConfig {
            first_kernel: 7,
            feature_maps: 64,
            family: FamilyConfig::Plain(PlainConfig::seed()),
        }
    }

    /// The paper's PixelCNN (arXiv 1601.06759): 7x7 A, 15 3x3 B layers with ReLU, 128 maps, residual.
    pub fn paper() -> Self {
        ModelConfig {
            first_kernel: 7,
            feature_maps: 128,
            family: FamilyConfig::Plain(PlainConfig::paper()),
        }
    }

    /// The gated PixelCNN sized for a 10-minute run on a 2-core CPU (see README for the sizes
    /// measured): a 7-wide first layer, [`GATED_LAYERS`] gated [`GATED_KERNEL`]-wide layers of
    /// [`GATED_MAPS`] maps.
    pub fn gated() -> Self {
        ModelConfig {
            first_kernel: 7,
            feature_maps: GATED_MAPS,
            family: FamilyConfig::Gated(GatedConfig::preset()),
        }
    }

    /// The gated PixelCNN at the paper's size: 15 gated 3-wide layers of 128 maps (undilated,
    /// as the paper's).
    pub fn gated_large() -> Self {
        ModelConfig {
            first_kernel: 7,
            feature_maps: 128,
            family: FamilyConfig::Gated(GatedConfig {
                gated_layers: 15,
                gated_kernel: 3,
                vertical_dilation: DilationPattern::NONE,
                vertical_column_dilation: false,
                ..GatedConfig::preset()
            }),
        }
    }

    /// A preset by name (one of [`PRESET_NAMES`]).
    pub fn preset(name: &str) -> Result<Self, ConfigError> {
        match name {
            "seed" => Ok(Self::seed()),
            "paper" => Ok(Self::paper()),
            "gated" => Ok(Self::gated()),
            "gated-large" => Ok(Self::gated_large()),
            other => Err(ConfigError::UnknownPreset(other.to_string())),
        }
    }

    /// Whether the model reads a digit label per image (only a gated model can).
    pub fn conditional(&self) -> bool {
        match &self.family {
            FamilyConfig::Plain(_) => false,
            FamilyConfig::Gated(gated) => gated.conditional,
        }
    }

    /// Whether the model was trained with label dropout and so has the "no label" class that
    /// guided sampling needs (only a conditional gated model can).
    pub fn has_no_label_class(&self) -> bool {
        self.class_count() > DIGIT_CLASSES
    }

    /// Columns of the class biases: 0 (unconditional), 10, or 11 with the "no label" class.
    pub fn class_count(&self) -> usize {
        match &self.family {
            FamilyConfig::Plain(_) => 0,
            FamilyConfig::Gated(gated) => gated.classes(),
        }
    }

    /// The label dropout a conditional model trains with (0 for every other model).
    pub fn label_dropout(&self) -> f32 {
        match &self.family {
            FamilyConfig::Gated(gated) if gated.conditional => gated.label_dropout.rate(),
            _ => 0.0,
        }
    }

    /// Turns class conditioning on or off. Only the gated family has it: asking a plain model
    /// for it is [`ConfigError::ConditionalPlain`] (turning it off is always fine).
    pub fn set_conditional(&mut self, conditional: bool) -> Result<(), ConfigError> {
        match &mut self.family {
            FamilyConfig::Plain(_) if conditional => Err(ConfigError::ConditionalPlain),
            FamilyConfig::Plain(_) => Ok(()),
            FamilyConfig::Gated(gated) => {
                gated.conditional = conditional;
                Ok(())
            }
        }
    }

    /// This config as a model of `family`, the way `--family` reads it: the layer count and
    /// kernel carry over (mask-B layers become gated layers and back), the rest comes from the
    /// stored form's values (those of the `gated` preset for the plain-only settings of a gated
    /// model), and conditioning is off.
    pub fn with_family(&self, family: ModelFamily) -> ModelConfig {
        let flat = FlatModelConfig {
            family,
            conditional: false,
            ..FlatModelConfig::from(self.clone())
        };
        ModelConfig::from_flat(flat)
    }

    /// Rejects configurations that cannot build a sensible model.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match &self.family {
            FamilyConfig::Plain(plain) => {
                check_kernel("first (mask A)", self.first_kernel, 3)?;
                check_kernel("masked (mask B)", plain.masked_kernel, 1)?;
                check_feature_maps(self.feature_maps)?;
                if plain.masked_layers > MAX_MASKED_LAYERS {
                    return Err(ConfigError::MaskedLayers(plain.masked_layers));
                }
                if plain.relu_layers > MAX_RELU_LAYERS {
                    return Err(ConfigError::ReluLayers(plain.relu_layers));
                }
                Ok(())
            }
            FamilyConfig::Gated(gated) => {
                check_kernel("first", self.first_kernel, 3)?;
                check_kernel("gated", gated.gated_kernel, 3)?;
                check_feature_maps(self.feature_maps)?;
                if gated.gated_layers == 0 {
                    return Err(ConfigError::NoGatedLayers);
                }
                if gated.gated_layers > MAX_GATED_LAYERS {
                    return Err(ConfigError::GatedLayers(gated.gated_layers));
                }
                let rate = gated.label_dropout.0;
                if !(0.0..=MAX_LABEL_DROPOUT).contains(&rate) {
                    return Err(ConfigError::LabelDropout(gated.label_dropout));
                }
                // A pattern is checked when it is made; this catches one built by hand.
                DilationPattern::new(&gated.vertical_dilation.steps())?;
                Ok(())
            }
        }
    }

    /// The config a flat record describes, the family's settings from their flat fields (a
    /// plain record's `conditional` is not read: [`TryFrom`] refuses it).
    fn from_flat(flat: FlatModelConfig) -> ModelConfig {
        let family = match flat.family {
            ModelFamily::Plain => FamilyConfig::Plain(PlainConfig {
                masked_layers: flat.masked_layers,
                masked_kernel: flat.masked_kernel,
                masked_relu: flat.masked_relu,
                relu_layers: flat.relu_layers,
                residual: flat.residual,
            }),
            ModelFamily::Gated => FamilyConfig::Gated(GatedConfig {
                gated_layers: flat.masked_layers,
                gated_kernel: flat.masked_kernel,
                conditional: flat.conditional,
                label_dropout: flat.label_dropout,
                vertical_dilation: flat.vertical_dilation,
                vertical_column_dilation: flat.vertical_column_dilation,
            }),
        };
        ModelConfig {
            first_kernel: flat.first_kernel,
            feature_maps: flat.feature_maps,
            family,
        }
    }
}

fn check_kernel(what: &'static str, size: usize, min: usize) -> Result<(), ConfigError> {
    if size.is_multiple_of(2) {
        return Err(ConfigError::EvenKernel { what, size });
    }
    if size < min || size > MAX_KERNEL {
        return Err(ConfigError::KernelOutOfRange {
            what,
            size,
            min,
            max: MAX_KERNEL,
        });
    }
    Ok(())
}

fn check_feature_maps(maps: usize) -> Result<(), ConfigError> {
    if maps == 0 || maps > MAX_FEATURE_MAPS {
        return Err(ConfigError::FeatureMaps(maps));
    }
    Ok(())
}

/// [`ModelConfig`] as checkpoints and the studio's settings store it: one flat JSON object whose
/// fields mean what they meant before the families had settings of their own (outside tools
/// read our checkpoints).
///
/// - `masked_layers` and `masked_kernel` are the plain family's mask-B layers and kernel, and
///   the gated family's gated layers and kernel.
/// - `masked_relu`, `relu_layers` and `residual` are plain-only: a gated model ignores them on
///   reading and writes the values the `gated` preset has always written (`false`, `1`, `true`).
/// - `conditional` is gated-only: a plain record with `conditional: true` is refused.
/// - `label_dropout`, `vertical_dilation` and `vertical_column_dilation` are gated-only: a
///   plain model ignores them on reading and writes the `gated` preset's values (so
///   `--family gated` starts from them).
///
/// Missing fields take the `seed` preset's values, so files written before the gated family
/// existed (no `family`, no `conditional`) read as a plain, unconditional model; a missing
/// `label_dropout`, `vertical_dilation` or `vertical_column_dilation` is none (0, `[]`,
/// `false`), the gated model of files written before they existed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FlatModelConfig {
    /// `plain` or `gated`.
    pub family: ModelFamily,
    /// Class conditioning (gated only).
    pub conditional: bool,
    /// [`ModelConfig::first_kernel`].
    pub first_kernel: usize,
    /// [`PlainConfig::masked_layers`] or [`GatedConfig::gated_layers`].
    pub masked_layers: usize,
    /// [`PlainConfig::masked_kernel`] or [`GatedConfig::gated_kernel`].
    pub masked_kernel: usize,
    /// [`PlainConfig::masked_relu`] (plain only).
    pub masked_relu: bool,
    /// [`PlainConfig::relu_layers`] (plain only).
    pub relu_layers: usize,
    /// [`ModelConfig::feature_maps`].
    pub feature_maps: usize,
    /// [`PlainConfig::residual`] (plain only).
    pub residual: bool,
    /// [`GatedConfig::label_dropout`] (gated only; missing: 0).
    #[serde(default)]
    pub label_dropout: LabelDropout,
    /// [`GatedConfig::vertical_dilation`] (gated only; missing: none).
    #[serde(default)]
    pub vertical_dilation: DilationPattern,
    /// [`GatedConfig::vertical_column_dilation`] (gated only; missing: rows only).
    #[serde(default)]
    pub vertical_column_dilation: bool,
}

impl Default for FlatModelConfig {
    fn default() -> Self {
        ModelConfig::seed().into()
    }
}

impl From<ModelConfig> for FlatModelConfig {
    fn from(cfg: ModelConfig) -> Self {
        let ModelConfig {
            first_kernel,
            feature_maps,
            family,
        } = cfg;
        match family {
            FamilyConfig::Plain(plain) => FlatModelConfig {
                family: ModelFamily::Plain,
                conditional: false,
                first_kernel,
                masked_layers: plain.masked_layers,
                masked_kernel: plain.masked_kernel,
                masked_relu: plain.masked_relu,
                relu_layers: plain.relu_layers,
                feature_maps,
                residual: plain.residual,
                label_dropout: GatedConfig::preset().label_dropout,
                vertical_dilation: GatedConfig::preset().vertical_dilation,
                vertical_column_dilation: GatedConfig::preset().vertical_column_dilation,
            },
            FamilyConfig::Gated(gated) => FlatModelConfig {
                family: ModelFamily::Gated,
                conditional: gated.conditional,
                first_kernel,
                masked_layers: gated.gated_layers,
                masked_kernel: gated.gated_kernel,
                masked_relu: false,
                relu_layers: 1,
                feature_maps,
                residual: true,
                label_dropout: gated.label_dropout,
                vertical_dilation: gated.vertical_dilation,
                vertical_column_dilation: gated.vertical_column_dilation,
            },
        }
    }
}

impl TryFrom<FlatModelConfig> for ModelConfig {
    type Error = ConfigError;

    /// The config `flat` describes; a plain record asking for conditioning is
    /// [`ConfigError::ConditionalPlain`]. Values are not validated here
    /// ([`ModelConfig::validate`]).
    fn try_from(flat: FlatModelConfig) -> Result<Self, Self::Error> {
        if flat.family == ModelFamily::Plain && flat.conditional {
            return Err(ConfigError::ConditionalPlain);
        }
        Ok(ModelConfig::from_flat(flat))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_nonsense() {
        let even = ModelConfig {
            first_kernel: 6,
            ..ModelConfig::seed()
        };
        assert!(matches!(
            even.validate(),
            Err(ConfigError::EvenKernel { .. })
        ));
        let no_maps = ModelConfig {
            feature_maps: 0,
            ..ModelConfig::seed()
        };
        assert_eq!(no_maps.validate(), Err(ConfigError::FeatureMaps(0)));
        let too_many = ModelConfig {
            feature_maps: 513,
            ..ModelConfig::seed()
        };
        assert!(too_many.validate().is_err());
        assert!(ModelConfig::paper().validate().is_ok());
        assert!(ModelConfig::preset("bogus").is_err());
        let no_gated_layers = ModelConfig {
            family: FamilyConfig::Gated(GatedConfig {
                gated_layers: 0,
                ..GatedConfig::preset()
            }),
            ..ModelConfig::gated()
        };
        assert_eq!(no_gated_layers.validate(), Err(ConfigError::NoGatedLayers));
        let mut plain = ModelConfig::seed();
        assert_eq!(
            plain.set_conditional(true),
            Err(ConfigError::ConditionalPlain)
        );
        assert_eq!(plain, ModelConfig::seed());
    }

    #[test]
    fn the_stored_form_is_the_flat_record_with_its_fields_in_their_order() {
        let plain = serde_json::to_string(&ModelConfig::paper()).unwrap();
        assert_eq!(
            plain,
            r#"{"family":"plain","conditional":false,"first_kernel":7,"masked_layers":15,"masked_kernel":3,"masked_relu":true,"relu_layers":2,"feature_maps":128,"residual":true,"label_dropout":0.1,"vertical_dilation":[1,1,2,2,4],"vertical_column_dilation":true}"#
        );
        let mut gated = ModelConfig::gated();
        gated.set_conditional(true).unwrap();
        let text = serde_json::to_string(&gated).unwrap();
        assert_eq!(
            text,
            r#"{"family":"gated","conditional":true,"first_kernel":7,"masked_layers":10,"masked_kernel":3,"masked_relu":false,"relu_layers":1,"feature_maps":32,"residual":true,"label_dropout":0.1,"vertical_dilation":[1,1,2,2,4],"vertical_column_dilation":true}"#
        );
        assert_eq!(serde_json::from_str::<ModelConfig>(&text).unwrap(), gated);
        assert_eq!(
            serde_json::from_str::<ModelConfig>(&plain).unwrap(),
            ModelConfig::paper()
        );
    }

    #[test]
    fn a_gated_record_ignores_the_plain_only_fields_and_a_plain_one_may_not_be_conditional() {
        let gated = r#"{"family":"gated","masked_layers":4,"masked_kernel":5,"masked_relu":true,"relu_layers":9,"residual":false}"#;
        let cfg: ModelConfig = serde_json::from_str(gated).unwrap();
        assert_eq!(
            cfg.family,
            FamilyConfig::Gated(GatedConfig {
                gated_layers: 4,
                gated_kernel: 5,
                conditional: false,
                label_dropout: LabelDropout::NONE,
                vertical_dilation: DilationPattern::NONE,
                vertical_column_dilation: false,
            })
        );
        let conditional_plain = r#"{"family":"plain","conditional":true}"#;
        let err = serde_json::from_str::<ModelConfig>(conditional_plain).unwrap_err();
        assert!(
            err.to_string().contains("class conditioning needs"),
            "{err}"
        );
    }

    #[test]
    fn a_family_switch_carries_the_layer_count_and_kernel_over() {
        let gated = ModelConfig::paper().with_family(ModelFamily::Gated);
        assert_eq!(
            gated,
            ModelConfig {
                family: FamilyConfig::Gated(GatedConfig {
                    gated_layers: 15,
                    gated_kernel: 3,
                    ..GatedConfig::preset()
                }),
                ..ModelConfig::paper()
            }
        );
        let mut conditional = ModelConfig::gated();
        conditional.set_conditional(true).unwrap();
        assert_eq!(
            conditional.with_family(ModelFamily::Gated),
            ModelConfig::gated()
        );
        let plain = ModelConfig::gated().with_family(ModelFamily::Plain);
        assert_eq!(
            plain.family,
            FamilyConfig::Plain(PlainConfig {
                masked_layers: GATED_LAYERS,
                masked_kernel: GATED_KERNEL,
                masked_relu: false,
                relu_layers: 1,
                residual: true
            })
        );
    }

    #[test]
    fn a_gated_record_written_before_label_dropout_and_dilation_reads_as_a_model_without_them() {
        let old = r#"{"family":"gated","conditional":true,"first_kernel":7,"masked_layers":10,"masked_kernel":3,"masked_relu":false,"relu_layers":1,"feature_maps":32,"residual":true}"#;
        let cfg: ModelConfig = serde_json::from_str(old).unwrap();
        let FamilyConfig::Gated(gated) = cfg.family else {
            panic!("a gated record");
        };
        assert_eq!(gated.label_dropout, LabelDropout::NONE);
        assert_eq!(gated.vertical_dilation, DilationPattern::NONE);
        assert!(!gated.vertical_column_dilation);
        // A record of the rows-only dilated preset (before column dilation) stays rows-only.
        let rows_only = r#"{"family":"gated","conditional":true,"first_kernel":7,"masked_layers":10,"masked_kernel":3,"feature_maps":32,"label_dropout":0.1,"vertical_dilation":[1,1,2,2,4]}"#;
        let FamilyConfig::Gated(rows) = serde_json::from_str::<ModelConfig>(rows_only)
            .unwrap()
            .family
        else {
            panic!("a gated record");
        };
        assert_eq!(rows.vertical_dilation.steps(), [1, 1, 2, 2, 4]);
        assert!(!rows.vertical_column_dilation);
        assert_eq!(cfg.class_count(), 10);
        assert!(!cfg.has_no_label_class());
        let mut conditional = ModelConfig::gated();
        conditional.set_conditional(true).unwrap();
        assert_eq!(conditional.class_count(), 11);
        assert!(conditional.has_no_label_class());
        assert_eq!(conditional.label_dropout(), DEFAULT_LABEL_DROPOUT);
        assert_eq!(ModelConfig::gated().class_count(), 0);
        assert_eq!(ModelConfig::gated().label_dropout(), 0.0);
    }

    #[test]
    fn dilation_patterns_parse_repeat_and_refuse_nonsense() {
        let pattern = DilationPattern::parse("1,1,2,2,4").unwrap();
        assert_eq!(pattern.steps(), [1, 1, 2, 2, 4]);
        assert_eq!(
            (0..12).map(|l| pattern.at(l)).collect::<Vec<_>>(),
            [1, 1, 2, 2, 4, 1, 1, 2, 2, 4, 1, 1]
        );
        assert_eq!(pattern.to_string(), "1,1,2,2,4");
        assert_eq!(
            DilationPattern::parse("none").unwrap(),
            DilationPattern::NONE
        );
        assert_eq!(DilationPattern::NONE.at(7), 1);
        assert!(!DilationPattern::parse("1,1").unwrap().is_dilated());
        for bad in ["0", "9", "1,x", "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1"] {
            assert!(DilationPattern::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<DilationPattern>("[1,0]").is_err());
        let mut cfg = ModelConfig::gated();
        if let FamilyConfig::Gated(gated) = &mut cfg.family {
            gated.label_dropout = LabelDropout(1.5);
        }
        assert_eq!(
            cfg.validate(),
            Err(ConfigError::LabelDropout(LabelDropout(1.5)))
        );
    }
}
