//! What a [`ModelConfig`] builds, as one type per family: the plain layer stack or the gated
//! network ([`Architecture`]), and the queries every family answers (its convolutions, the
//! pixels an output sees, how far it reaches).

use super::config::{FamilyConfig, ModelConfig};
use super::conv_spec::ConvSpec;
use super::gated_spec::GatedSpec;
use super::plain_spec::{self, LayerSpec};

/// The network a config describes, per family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// The plain family's layer stack, input to output.
    Plain(Vec<LayerSpec>),
    /// The gated family's two stacks and head (boxed: it is several times the size of the
    /// plain variant).
    Gated(Box<GatedSpec>),
}

impl Architecture {
    /// The network `cfg` describes.
    pub fn of(cfg: &ModelConfig) -> Architecture {
        match &cfg.family {
            FamilyConfig::Plain(plain) => Architecture::Plain(plain_spec::layers(
                cfg.first_kernel,
                cfg.feature_maps,
                plain,
            )),
            FamilyConfig::Gated(gated) => Architecture::Gated(Box::new(GatedSpec::new(
                cfg.first_kernel,
                cfg.feature_maps,
                gated,
            ))),
        }
    }

    /// Every convolution, input to output.
    pub fn convs(&self) -> Vec<ConvSpec> {
        match self {
            Architecture::Plain(layers) => layers.iter().map(LayerSpec::conv).collect(),
            Architecture::Gated(spec) => spec.convs().into_iter().cloned().collect(),
        }
    }

    /// Rows (and columns) the receptive field can reach from a pixel: the sum of the layers'
    /// half-widths.
    pub fn reach(&self) -> usize {
        match self {
            Architecture::Plain(layers) => layers.iter().map(|l| l.kernel / 2).sum(),
            Architecture::Gated(spec) => spec.reach(),
        }
    }

    /// For the logit of pixel (`row`, `col`), the input pixels it depends on (784 flags).
    pub fn visible_inputs(&self, row: usize, col: usize) -> Vec<bool> {
        match self {
            Architecture::Plain(layers) => plain_spec::visible_inputs(layers, row, col),
            Architecture::Gated(spec) => spec.visible_inputs(row, col),
        }
    }
}

impl ModelConfig {
    /// The network this config describes.
    pub fn architecture(&self) -> Architecture {
        Architecture::of(self)
    }

    /// Every convolution of the model, input to output, for tables.
    pub fn convs(&self) -> Vec<ConvSpec> {
        self.architecture().convs()
    }

    /// For the logit of pixel (`row`, `col`), the input pixels it depends on (784 flags).
    pub fn visible_inputs(&self, row: usize, col: usize) -> Vec<bool> {
        self.architecture().visible_inputs(row, col)
    }
}
