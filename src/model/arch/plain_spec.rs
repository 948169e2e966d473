//! The plain family's architecture as plain data (van den Oord et al. 2016, "Pixel Recurrent
//! Neural Networks", arXiv 1601.06759): the layer stack a [`PlainConfig`] describes, each layer a
//! square masked (or 1x1) convolution, and which input pixels an output pixel sees through it.
//!
//! With `k` the first kernel and `p` maps: `conv_a` (mask A, `k x k`, `1 -> p`), then
//! `conv_b.{i}` (mask B, `masked_kernel`, `p -> p`, optional ReLU and residual), then
//! `conv_1x1.{i}` (`p -> p`, ReLU), then `conv_out` (`p -> 1`, the logit).

use serde::{Deserialize, Serialize};

use super::config::PlainConfig;
use super::conv_spec::ConvSpec;
use super::mask::{Mask, MaskKind};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};

/// The plain layer stack of a model with a `first_kernel`-wide mask-A layer to `maps` feature
/// maps and the settings of `plain`, input to output.
pub fn layers(first_kernel: usize, maps: usize, plain: &PlainConfig) -> Vec<LayerSpec> {
    let mut layers = vec![LayerSpec {
        name: "conv_a".into(),
        kind: LayerKind::MaskedA,
        kernel: first_kernel,
        in_channels: 1,
        out_channels: maps,
        relu: false,
        residual: false,
    }];
    for i in 0..plain.masked_layers {
        layers.push(LayerSpec {
            name: format!("conv_b.{i}"),
            kind: LayerKind::MaskedB,
            kernel: plain.masked_kernel,
            in_channels: maps,
            out_channels: maps,
            relu: plain.masked_relu,
            residual: plain.residual,
        });
    }
    for i in 0..plain.relu_layers {
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

/// For output pixel (`row`, `col`), a 784-long map of the input pixels that reach it through
/// `layers` (propagating each layer's unmasked taps backwards). Stacked masked convolutions
/// leave a blind spot to the upper right, which shows here.
pub fn visible_inputs(layers: &[LayerSpec], row: usize, col: usize) -> Vec<bool> {
    let mut seen = vec![false; IMAGE_PIXELS];
    if row >= IMAGE_SIDE || col >= IMAGE_SIDE {
        return seen;
    }
    seen[row * IMAGE_SIDE + col] = true;
    for layer in layers.iter().rev() {
        let mut reached = vec![false; IMAGE_PIXELS];
        layer.conv().mark_inputs(&seen, &mut reached);
        seen = reached;
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;

    #[test]
    fn seed_preset_has_the_six_reference_layers() {
        let layers = layers(7, 64, &PlainConfig::seed());
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
}
