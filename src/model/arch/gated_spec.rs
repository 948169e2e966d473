//! The gated PixelCNN's architecture as plain data (van den Oord et al. 2016, "Conditional Image
//! Generation with PixelCNN Decoders", arXiv 1606.05328), in the layout of the PyTorch peer
//! (`shared/peers/pixelcnn_gated_torch.py`), whose `state_dict` names our checkpoints use.
//!
//! With `a = first_kernel / 2`, `b = gated_kernel / 2` and `p` maps:
//! - first layer: `v = conv_v0(x)`, an `a x first_kernel` kernel over rows `i-a..i-1`, columns
//!   `j-a..j+a`; `h = conv_h0(x)`, a `1 x a` kernel over `x[i, j-a..j-1]`. No activation.
//! - gated layer: `vp = conv_v(v)` (`(b+1) x gated_kernel`, rows `i-b..i`), `hp = conv_h(h) +
//!   link(vp)` (`1 x (b+1)`, columns `j-b..j`; `link` is 1x1 on `vp` before conditioning);
//!   conditional: `vp += cond_v[:, y]`, `hp += cond_h[:, y]`; `v' = gate(vp)`,
//!   `h' = h + res(gate(hp))` with `gate(t) = tanh(t[..p]) * sigmoid(t[p..])`.
//! - head: `logit = out2(relu(out1(relu(h))))`.
//!
//! `v[i, j]` sees only rows above `i` and `h[i, j]` only pixels before `(i, j)` in raster order,
//! so the logit of a pixel never sees itself or anything later, and there is no blind spot.

use super::config::GatedConfig;
use super::conv_spec::ConvSpec;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};

/// Digit classes a conditional model knows.
pub const CLASS_COUNT: usize = 10;

/// One gated layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatedLayerSpec {
    /// Checkpoint prefix, `layers.{l}`.
    pub name: String,
    /// Vertical stack: `p -> 2p`, `(b+1) x k` over rows `i-b..i`.
    pub conv_v: ConvSpec,
    /// Horizontal stack: `p -> 2p`, `1 x (b+1)` over columns `j-b..j`.
    pub conv_h: ConvSpec,
    /// 1x1 link from the vertical pre-activation to the horizontal one: `2p -> 2p`.
    pub link: ConvSpec,
    /// 1x1 on the horizontal gate's output, added to `h`: `p -> p`.
    pub res: ConvSpec,
    /// Whether `cond_v` and `cond_h` (`[2p, 10]` each) add a per-class bias to the gates.
    pub conditional: bool,
}

/// The whole gated network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatedSpec {
    /// Feature maps `p` of each stack.
    pub maps: usize,
    /// First layer, vertical: `1 -> p`, `a x first_kernel` over rows `i-a..i-1`.
    pub first_v: ConvSpec,
    /// First layer, horizontal: `1 -> p`, `1 x a` over `x[i, j-a..j-1]`.
    pub first_h: ConvSpec,
    /// The gated layers.
    pub layers: Vec<GatedLayerSpec>,
    /// Head 1x1 after a ReLU of `h`: `p -> p`, followed by a ReLU.
    pub out1: ConvSpec,
    /// Head 1x1 to the logit: `p -> 1`.
    pub out2: ConvSpec,
    /// Whether the gates are conditioned on the digit label.
    pub conditional: bool,
}

impl GatedSpec {
    /// The gated network with a `first_kernel`-wide first layer to `maps` feature maps per
    /// stack and the gated layers of `gated`.
    pub fn new(first_kernel: usize, maps: usize, gated: &GatedConfig) -> GatedSpec {
        let p = maps;
        let a = first_kernel / 2;
        let k = gated.gated_kernel;
        let b = k / 2;
        let (ai, bi) = (a as isize, b as isize);
        let layers = (0..gated.gated_layers)
            .map(|l| {
                let name = format!("layers.{l}");
                GatedLayerSpec {
                    conv_v: ConvSpec::shifted(
                        &format!("{name}.conv_v"),
                        (b + 1, k),
                        (-bi, -bi),
                        p,
                        2 * p,
                    ),
                    conv_h: ConvSpec::shifted(
                        &format!("{name}.conv_h"),
                        (1, b + 1),
                        (0, -bi),
                        p,
                        2 * p,
                    ),
                    link: ConvSpec::pointwise(&format!("{name}.link"), 2 * p, 2 * p),
                    res: ConvSpec::pointwise(&format!("{name}.res"), p, p),
                    conditional: gated.conditional,
                    name,
                }
            })
            .collect();
        GatedSpec {
            maps: p,
            first_v: ConvSpec::shifted("conv_v0", (a, first_kernel), (-ai, -ai), 1, p),
            first_h: ConvSpec::shifted("conv_h0", (1, a), (0, -ai), 1, p),
            layers,
            out1: ConvSpec::pointwise("out1", p, p),
            out2: ConvSpec::pointwise("out2", p, 1),
            conditional: gated.conditional,
        }
    }

    /// Every convolution, input to output (first layer, each gated layer's four, the head).
    pub fn convs(&self) -> Vec<&ConvSpec> {
        let mut convs = vec![&self.first_v, &self.first_h];
        for layer in &self.layers {
            convs.extend([&layer.conv_v, &layer.conv_h, &layer.link, &layer.res]);
        }
        convs.extend([&self.out1, &self.out2]);
        convs
    }

    /// Rows (and columns) the receptive field reaches from a pixel: `a + layers * b`.
    pub fn reach(&self) -> usize {
        let b = self.layers.first().map_or(0, |l| l.conv_v.reach_above());
        self.first_v.reach_above() + self.layers.len() * b
    }

    /// For the logit of pixel (`row`, `col`), a 784-long map of the input pixels it depends on,
    /// propagated back through both stacks: the horizontal stack reads the vertical one at the
    /// same position (the link) and itself to the left; the vertical stack reads only rows above.
    pub fn visible_inputs(&self, row: usize, col: usize) -> Vec<bool> {
        let mut seen = vec![false; IMAGE_PIXELS];
        if row >= IMAGE_SIDE || col >= IMAGE_SIDE {
            return seen;
        }
        // Positions of the current layer's outputs that matter, per stack.
        let mut h_at = vec![false; IMAGE_PIXELS];
        let mut v_at = vec![false; IMAGE_PIXELS];
        h_at[row * IMAGE_SIDE + col] = true;
        for layer in self.layers.iter().rev() {
            // h' = h + res(gate(conv_h(h) + link(conv_v(v)))), v' = gate(conv_v(v)).
            let mut h_in = h_at.clone();
            layer.conv_h.mark_inputs(&h_at, &mut h_in);
            let mut v_in = vec![false; IMAGE_PIXELS];
            layer.conv_v.mark_inputs(&h_at, &mut v_in);
            layer.conv_v.mark_inputs(&v_at, &mut v_in);
            h_at = h_in;
            v_at = v_in;
        }
        self.first_h.mark_inputs(&h_at, &mut seen);
        self.first_v.mark_inputs(&v_at, &mut seen);
        seen
    }
}

/// What a convolution of the gated network is for, from its checkpoint name.
pub fn conv_role(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or(name) {
        "conv_v0" => "vertical stack, rows above",
        "conv_h0" => "horizontal stack, pixels to the left",
        "conv_v" => "vertical stack",
        "conv_h" => "horizontal stack",
        "link" => "vertical -> horizontal",
        "res" => "horizontal residual",
        "out1" => "head (ReLU, 1x1, ReLU)",
        _ => "head (logit)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gated(layers: usize, first_kernel: usize, kernel: usize) -> GatedSpec {
        let gated = GatedConfig {
            gated_layers: layers,
            gated_kernel: kernel,
            conditional: false,
        };
        GatedSpec::new(first_kernel, 4, &gated)
    }

    #[test]
    fn stacks_have_the_peer_shapes() {
        let spec = gated(2, 7, 3);
        assert_eq!(spec.first_v.weight_shape(), [4, 1, 3, 7]);
        assert_eq!(spec.first_h.weight_shape(), [4, 1, 1, 3]);
        let layer = &spec.layers[1];
        assert_eq!(layer.conv_v.name, "layers.1.conv_v");
        assert_eq!(layer.conv_v.weight_shape(), [8, 4, 2, 3]);
        assert_eq!(layer.conv_h.weight_shape(), [8, 4, 1, 2]);
        assert_eq!(layer.link.weight_shape(), [8, 8, 1, 1]);
        assert_eq!(layer.res.weight_shape(), [4, 4, 1, 1]);
        assert_eq!(spec.reach(), 5);
    }

    #[test]
    fn the_receptive_field_is_the_full_rectangle_above_and_the_row_to_the_left() {
        let spec = gated(2, 7, 3);
        let (row, col) = (14, 14);
        let seen = spec.visible_inputs(row, col);
        let reach = spec.reach();
        for y in 0..IMAGE_SIDE {
            for x in 0..IMAGE_SIDE {
                let above = y < row && row - y <= reach && x.abs_diff(col) <= reach;
                let left = y == row && x < col && col - x <= reach;
                assert_eq!(seen[y * IMAGE_SIDE + x], above || left, "pixel ({y}, {x})");
            }
        }
    }

    #[test]
    fn a_deep_enough_stack_sees_every_earlier_pixel_from_the_last_one() {
        // a = 7, b = 7: reach 7 + 3 * 7 = 28.
        let spec = gated(3, 15, 15);
        let seen = spec.visible_inputs(27, 27);
        assert!(seen[..IMAGE_PIXELS - 1].iter().all(|&s| s));
        assert!(!seen[IMAGE_PIXELS - 1]);
    }
}
