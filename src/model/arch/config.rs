//! Model architecture: `ModelConfig`, its presets, validation and the derived layer stack.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::conv_spec::ConvSpec;
use super::gated_spec::GatedSpec;
use super::mask::{Mask, MaskKind};
use super::params::ParamLayout;
use super::receptive_field::visible_inputs;
use crate::data::IMAGE_SIDE;

/// Largest number of feature maps a config may ask for.
pub const MAX_FEATURE_MAPS: usize = 512;
/// Largest number of masked mask-B layers.
pub const MAX_MASKED_LAYERS: usize = 64;
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
}

/// The preset names, in the order a user is offered them.
pub const PRESET_NAMES: [&str; 4] = ["seed", "paper", "gated", "gated-large"];

/// Which kind of PixelCNN a config builds.
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

/// The architecture of a PixelCNN.
///
/// - Plain family: a mask-A conv, `masked_layers` mask-B convs, `relu_layers` 1x1 ReLU convs and a
///   1x1 output conv.
/// - Gated family: a first layer (a vertical `first_kernel / 2 x first_kernel` conv over the rows
///   above and a horizontal `1 x first_kernel / 2` conv over the pixels to the left), then
///   `masked_layers` gated layers with `masked_kernel`-wide kernels, and the head ReLU, 1x1,
///   ReLU, 1x1 to one logit. `masked_relu`, `relu_layers` and `residual` are plain-only.
///
/// Checkpoints written before the gated family existed have no `family` or `conditional` key:
/// they read as a plain, unconditional model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// Plain masked convolutions or the gated PixelCNN.
    pub family: ModelFamily,
    /// Condition every gate on the digit label (gated family only).
    pub conditional: bool,
    /// Side of the first (mask A) kernel; odd, default 7.
    pub first_kernel: usize,
    /// Number of mask-B convolutions (plain) or gated layers (gated) after the first layer.
    pub masked_layers: usize,
    /// Side of the mask-B (or gated) kernels; odd, default 3.
    pub masked_kernel: usize,
    /// Whether a ReLU follows each mask-B convolution (plain only).
    pub masked_relu: bool,
    /// Number of 1x1 convolutions followed by ReLU (plain only).
    pub relu_layers: usize,
    /// Feature maps of every hidden layer (of each stack, for the gated family).
    pub feature_maps: usize,
    /// Residual connections around the mask-B layers (`h + f(h)`; plain only).
    pub residual: bool,
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
            family: ModelFamily::Plain,
            conditional: false,
            first_kernel: 7,
            masked_layers: 2,
            masked_kernel: 3,
            masked_relu: false,
            relu_layers: 2,
            feature_maps: 64,
            residual: false,
        }
    }

    /// The paper's PixelCNN (arXiv 1601.06759): 7x7 A, 15 3x3 B layers with ReLU, 128 maps, residual.
    pub fn paper() -> Self {
        ModelConfig {
            family: ModelFamily::Plain,
            conditional: false,
            first_kernel: 7,
            masked_layers: 15,
            masked_kernel: 3,
            masked_relu: true,
            relu_layers: 2,
            feature_maps: 128,
            residual: true,
        }
    }

    /// The gated PixelCNN sized for a 10-minute run on a 2-core CPU (see README for the sizes
    /// measured): a 7-wide first layer, [`GATED_LAYERS`] gated [`GATED_KERNEL`]-wide layers of
    /// [`GATED_MAPS`] maps.
    pub fn gated() -> Self {
        ModelConfig {
            family: ModelFamily::Gated,
            conditional: false,
            first_kernel: 7,
            masked_layers: GATED_LAYERS,
            masked_kernel: GATED_KERNEL,
            masked_relu: false,
            relu_layers: 1,
            feature_maps: GATED_MAPS,
            residual: true,
        }
    }

    /// The gated PixelCNN at the paper's size: 15 gated 3-wide layers of 128 maps.
    pub fn gated_large() -> Self {
        ModelConfig {
            masked_layers: 15,
            masked_kernel: 3,
            feature_maps: 128,
            ..Self::gated()
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

    /// The name of the preset this config equals, if any (conditioning aside).
    pub fn preset_name(&self) -> Option<&'static str> {
        let unconditional = ModelConfig {
            conditional: false,
            ..self.clone()
        };
        PRESET_NAMES
            .into_iter()
            .find(|name| Self::preset(name).is_ok_and(|p| p == unconditional))
    }

    /// Whether this is the gated family.
    pub fn is_gated(&self) -> bool {
        self.family == ModelFamily::Gated
    }

    /// Rejects configurations that cannot build a sensible model.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_kernel("first (mask A)", self.first_kernel, 3)?;
        check_kernel("masked (mask B)", self.masked_kernel, 1)?;
        if self.feature_maps == 0 || self.feature_maps > MAX_FEATURE_MAPS {
            return Err(ConfigError::FeatureMaps(self.feature_maps));
        }
        if self.masked_layers > MAX_MASKED_LAYERS {
            return Err(ConfigError::MaskedLayers(self.masked_layers));
        }
        if self.relu_layers > MAX_RELU_LAYERS {
            return Err(ConfigError::ReluLayers(self.relu_layers));
        }
        match self.family {
            ModelFamily::Plain if self.conditional => Err(ConfigError::ConditionalPlain),
            ModelFamily::Gated if self.masked_layers == 0 => Err(ConfigError::NoGatedLayers),
            ModelFamily::Gated if self.masked_kernel < 3 => Err(ConfigError::KernelOutOfRange {
                what: "gated",
                size: self.masked_kernel,
                min: 3,
                max: MAX_KERNEL,
            }),
            _ => Ok(()),
        }
    }

    /// The plain family's layer stack this config describes, input to output.
    pub fn layers(&self) -> Vec<LayerSpec> {
        let maps = self.feature_maps;
        let mut layers = vec![LayerSpec {
            name: "conv_a".into(),
            kind: LayerKind::MaskedA,
            kernel: self.first_kernel,
            in_channels: 1,
            out_channels: maps,
            relu: false,
            residual: false,
        }];
        for i in 0..self.masked_layers {
            layers.push(LayerSpec {
                name: format!("conv_b.{i}"),
                kind: LayerKind::MaskedB,
                kernel: self.masked_kernel,
                in_channels: maps,
                out_channels: maps,
                relu: self.masked_relu,
                residual: self.residual,
            });
        }
        for i in 0..self.relu_layers {
            layers.push(LayerSpec {
                name: format!("conv_1x1.{i}"),
                kind: LayerKind::Pointwise,
                kernel: 1,
                in_channels: maps,
                out_channels: maps,
                relu: true,
                residual: false,
            });
        }
        layers.push(LayerSpec {
            name: "conv_out".into(),
            kind: LayerKind::Output,
            kernel: 1,
            in_channels: maps,
            out_channels: 1,
            relu: false,
            residual: false,
        });
        layers
    }

    /// The gated network this config describes (meaningful for the gated family).
    pub fn gated_spec(&self) -> GatedSpec {
        GatedSpec::new(self)
    }

    /// Every convolution of the model, input to output, for tables.
    pub fn convs(&self) -> Vec<ConvSpec> {
        match self.family {
            ModelFamily::Plain => self.layers().iter().map(LayerSpec::conv).collect(),
            ModelFamily::Gated => self.gated_spec().convs().into_iter().cloned().collect(),
        }
    }

    /// Total number of trainable parameters (masked-out weights included, as stored).
    pub fn parameter_count(&self) -> usize {
        let (_, specs) = ParamLayout::new(self);
        specs
            .iter()
            .map(|s| s.shape.iter().product::<usize>())
            .sum()
    }

    /// For the logit of pixel (`row`, `col`), the input pixels it depends on (784 flags).
    pub fn visible_inputs(&self, row: usize, col: usize) -> Vec<bool> {
        match self.family {
            ModelFamily::Plain => visible_inputs(&self.layers(), row, col),
            ModelFamily::Gated => self.gated_spec().visible_inputs(row, col),
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

/// What a layer of the stack is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LayerKind {
    /// The first convolution, mask A.
    MaskedA,
    /// A mask-B convolution.
    MaskedB,
    /// A 1x1 convolution followed by ReLU.
    Pointwise,
    /// The final 1x1 convolution to one logit per pixel.
    Output,
}

impl LayerKind {
    /// Short human name.
    pub fn label(self) -> &'static str {
        match self {
            LayerKind::MaskedA => "masked conv",
            LayerKind::MaskedB => "masked conv",
            LayerKind::Pointwise => "1x1 conv",
            LayerKind::Output => "1x1 conv (logits)",
        }
    }
}

/// One convolution of the stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSpec {
    /// Checkpoint prefix, e.g. `conv_b.0`.
    pub name: String,
    /// What the layer is.
    pub kind: LayerKind,
    /// Kernel side.
    pub kernel: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Whether a ReLU follows.
    pub relu: bool,
    /// Whether the layer adds its input to its output.
    pub residual: bool,
}

impl LayerSpec {
    /// This layer as a [`ConvSpec`] (square kernel, the mask's taps).
    pub fn conv(&self) -> ConvSpec {
        ConvSpec::masked(
            &self.name,
            &self.mask(),
            self.in_channels,
            self.out_channels,
        )
    }

    /// The causal mask (`None` for unmasked 1x1 layers).
    pub fn mask_kind(&self) -> Option<MaskKind> {
        match self.kind {
            LayerKind::MaskedA => Some(MaskKind::A),
            LayerKind::MaskedB => Some(MaskKind::B),
            LayerKind::Pointwise | LayerKind::Output => None,
        }
    }

    /// The kernel mask (all-visible for 1x1 layers).
    pub fn mask(&self) -> Mask {
        match self.mask_kind() {
            Some(kind) => Mask::new(self.kernel, kind),
            None => Mask::full(self.kernel),
        }
    }

    /// Weight shape `[out, in, k, k]`.
    pub fn weight_shape(&self) -> [usize; 4] {
        [
            self.out_channels,
            self.in_channels,
            self.kernel,
            self.kernel,
        ]
    }

    /// Stored weights plus biases.
    pub fn parameter_count(&self) -> usize {
        self.weight_shape().iter().product::<usize>() + self.out_channels
    }

    /// Weights that the mask lets the layer use, plus biases.
    pub fn effective_parameter_count(&self) -> usize {
        self.mask().kept_count() * self.in_channels * self.out_channels + self.out_channels
    }

    /// Output shape `[channels, 28, 28]` for one image.
    pub fn output_shape(&self) -> [usize; 3] {
        [self.out_channels, IMAGE_SIDE, IMAGE_SIDE]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_preset_has_the_six_reference_layers() {
        let layers = ModelConfig::seed().layers();
        let names: Vec<_> = layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "conv_a",
                "conv_b.0",
                "conv_b.1",
                "conv_1x1.0",
                "conv_1x1.1",
                "conv_out"
            ]
        );
        assert_eq!(layers[0].weight_shape(), [64, 1, 7, 7]);
        assert_eq!(layers[1].weight_shape(), [64, 64, 3, 3]);
        assert!(!layers[1].relu && layers[3].relu);
        assert_eq!(
            ModelConfig::seed().parameter_count(),
            3200 + 2 * 36928 + 2 * 4160 + 65
        );
    }

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
    }
}
