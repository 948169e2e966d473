//! The gated PixelCNN's architecture as plain data (van den Oord et al. 2016, "Conditional Image
//! Generation with PixelCNN Decoders", arXiv 1606.05328), in the layout of the PyTorch peer
//! (`shared/peers/pixelcnn_gated_torch.py`), whose `state_dict` names our checkpoints use.
//!
//! With `a = first_kernel / 2`, `b = gated_kernel / 2` and `p` maps:
//! - first layer: `v = conv_v0(x)`, an `a x first_kernel` kernel over rows `i-a..i-1`, columns
//!   `j-a..j+a`; `h = conv_h0(x)`, a `1 x a` kernel over `x[i, j-a..j-1]`. No activation.
//! - gated layer: `vp = conv_v(v)` (`(b+1) x gated_kernel`, rows `i-b..i`; with a row
//!   dilation `d`, rows `i-b*d, ..., i-d, i`, and with column dilation also columns
//!   `j-b*d, ..., j+b*d`: the same taps, spread farther), `hp = conv_h(h) +
//!   link(vp)` (`1 x (b+1)`, columns `j-b..j`; `link` is 1x1 on `vp` before conditioning);
//!   conditional: `vp += cond_v[:, y]`, `hp += cond_h[:, y]` (`y` a digit, or class 10, "no
//!   label", in a model trained with label dropout); `v' = gate(vp)`,
//!   `h' = h + res(gate(hp))` with `gate(t) = tanh(t[..p]) * sigmoid(t[p..])`.
//! - head: `logit = out2(relu(out1(relu(h))))`.
//!
//! `v[i, j]` sees only rows above `i` and `h[i, j]` only pixels before `(i, j)` in raster order,
//! so the logit of a pixel never sees itself or anything later, and there is no blind spot (with
//! dilation: no holes, every pixel between the leftmost and rightmost one seen in a row is seen;
//! `tests/digits.rs`).

use super::config::GatedConfig;
use super::conv_spec::{ConvSpec, Tap};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};

pub use super::config::{DIGIT_CLASSES as CLASS_COUNT, NO_LABEL};

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
    /// Whether `cond_v` and `cond_h` (`[2p, classes]` each) add a per-class bias to the gates.
    pub conditional: bool,
    /// The row dilation of `conv_v` (1: none).
    pub row_dilation: usize,
    /// The column dilation of `conv_v` (1: none).
    pub column_dilation: usize,
}

impl GatedLayerSpec {
    /// How far apart the vertical convolution's taps are, in words (`rows 2 apart`, `rows and
    /// columns 4 apart`); `None` when undilated.
    pub fn dilation_label(&self) -> Option<String> {
        match (self.row_dilation, self.column_dilation) {
            (1, 1) => None,
            (rows, 1) => Some(format!("rows {rows} apart")),
            (rows, columns) if rows == columns => Some(format!("rows and columns {rows} apart")),
            (rows, columns) => Some(format!("rows {rows}, columns {columns} apart")),
        }
    }
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
    /// Columns of the class biases: 10 digits, plus the "no label" class ([`NO_LABEL`]) of a
    /// model trained with label dropout; 0 when unconditional.
    pub classes: usize,
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
                let row_dilation = gated.vertical_dilation.at(l);
                let column_dilation = if gated.vertical_column_dilation {
                    row_dilation
                } else {
                    1
                };
                GatedLayerSpec {
                    conv_v: ConvSpec::shifted(
                        &format!("{name}.conv_v"),
                        (b + 1, k),
                        (-bi, -bi),
                        p,
                        2 * p,
                    )
                    .with_dilation(row_dilation, column_dilation),
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
                    row_dilation,
                    column_dilation,
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
            classes: gated.classes(),
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

    /// Rows above a pixel the receptive field reaches: `a` plus each layer's `b * dilation`
    /// (`a + layers * b` undilated).
    pub fn reach(&self) -> usize {
        self.first_v.reach_above()
            + self
                .layers
                .iter()
                .map(|l| l.conv_v.reach_above())
                .sum::<usize>()
    }

    /// Columns either side of a pixel the receptive field reaches: `a` plus each layer's
    /// `b * column dilation` (`a + layers * b` when the columns are not dilated).
    pub fn reach_columns(&self) -> usize {
        let side = |conv: &ConvSpec| conv.taps.iter().map(|t: &Tap| t.dx.unsigned_abs()).max();
        side(&self.first_v).unwrap_or(0)
            + self
                .layers
                .iter()
                .map(|l| side(&l.conv_v).unwrap_or(0))
                .sum::<usize>()
    }

    /// Rows above (and columns either side) the same layers would reach undilated:
    /// `a + layers * b`.
    pub fn undilated_reach(&self) -> usize {
        self.first_v.reach_above()
            + self
                .layers
                .iter()
                .map(|l| l.conv_v.reach_above() / l.row_dilation.max(1))
                .sum::<usize>()
    }

    /// Whether any gated layer's vertical convolution is dilated.
    pub fn is_dilated(&self) -> bool {
        self.layers
            .iter()
            .any(|l| l.row_dilation > 1 || l.column_dilation > 1)
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
            label_dropout: super::super::config::LabelDropout::NONE,
            vertical_dilation: super::super::config::DilationPattern::NONE,
            vertical_column_dilation: false,
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
    fn a_dilated_vertical_stack_spreads_the_same_taps_over_more_rows() {
        let gated = GatedConfig {
            gated_layers: 3,
            ..GatedConfig::preset()
        };
        let spec = GatedSpec::new(7, 4, &gated);
        let rows: Vec<Vec<isize>> = spec
            .layers
            .iter()
            .map(|l| l.conv_v.taps.iter().map(|t| t.dy).collect())
            .collect();
        // Dilations 1, 1, 2: the 2x3 kernel reads rows i-1, i or i-2, i.
        assert_eq!(rows[0], [-1, -1, -1, 0, 0, 0]);
        assert_eq!(rows[2], [-2, -2, -2, 0, 0, 0]);
        assert_eq!(spec.layers[2].conv_v.weight_shape(), [8, 4, 2, 3]);
        // ... and, with column dilation, columns 2 apart: j-2, j, j+2.
        let columns: Vec<isize> = spec.layers[2].conv_v.taps.iter().map(|t| t.dx).collect();
        assert_eq!(columns, [-2, 0, 2, -2, 0, 2]);
        assert_eq!(spec.reach(), 3 + 1 + 1 + 2);
        assert_eq!(spec.reach_columns(), 3 + 1 + 1 + 2);
        assert_eq!(spec.undilated_reach(), 3 + 3);
        let rows_only = GatedSpec::new(
            7,
            4,
            &GatedConfig {
                vertical_column_dilation: false,
                ..gated
            },
        );
        assert_eq!(rows_only.reach_columns(), 3 + 3);
        assert_eq!(
            rows_only.layers[2].dilation_label().as_deref(),
            Some("rows 2 apart")
        );
        assert_eq!(
            spec.layers[2].dilation_label().as_deref(),
            Some("rows and columns 2 apart")
        );
        assert_eq!(spec.layers[0].dilation_label(), None);
        let preset = GatedSpec::new(7, 4, &GatedConfig::preset());
        assert_eq!(preset.reach(), 23);
        assert_eq!(preset.reach_columns(), 23);
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
