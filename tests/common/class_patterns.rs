//! A conditional gated model whose weights are set by hand so that each digit class draws one
//! known image, for tests that check a sampler draws the class asked for.
//!
//! Class `c` inks pixel `(i, j)` exactly when its rule, a weighted sum of the pixels drawn
//! just before it (`bias + up * x[i-1, j] + left * x[i, j-1] + up_left * x[i-1, j-1] +
//! up_right * x[i-1, j+1]`, pixels outside the image blank), is positive. The network computes
//! every rule at once and lets the class's own through its gate; the logit is then about +-40,
//! so each pixel is drawn with probability 1 or below 1e-17 and every image of class `c` is
//! [`image`]`(c)`, which paints the rule in plain Rust, independently of the network.
//!
//! How the weights do it (`p` = 16 maps, one gated layer of width 3, first layer 5 wide):
//! - first layer: `h` channel 0 reads the pixel to the left; `v` channels 1, 2, 3 read the
//!   pixels above, above-left and above-right;
//! - gated layer: `conv_v` passes `v` through (its centre tap of the current row), the link
//!   weighs those three by each class's rule and `conv_h` the left pixel, with the rule's bias:
//!   the tanh half's channel `c` is `10 * rule_c`; the sigmoid half's channel `c` gets a class
//!   bias of +40 for class `c` and -40 for every other class, so only the asked class's rule
//!   passes; `res` adds the passed value to `h` channel 14 and its negative to channel 15;
//! - head: the two ReLUs keep each sign in its own channel and `out2` recombines them times 40.

use pixelcnn_studio::data::{IMAGE_PIXELS, IMAGE_SIDE};
use pixelcnn_studio::model::{
    ConvSpec, DilationPattern, FamilyConfig, GatedConfig, GatedSpec, LabelDropout, ModelConfig,
    Params, CLASS_COUNT,
};
use pixelcnn_studio::train::{TrainConfig, Trainer};

/// Each class's rule: `[bias, up, left, up_left, up_right]`. The ten images they paint differ
/// from each other in at least 149 pixels (blank, ink, stripes both ways, a checkerboard,
/// staircases and diagonals).
const RULES: [[f32; 5]; CLASS_COUNT] = [
    [-0.5, 0.0, 0.0, 0.0, 0.0],
    [0.5, 0.0, 0.0, 0.0, 0.0],
    [0.5, 0.0, -1.0, 0.0, 0.0],
    [0.5, -1.0, 0.0, 0.0, 0.0],
    [0.5, -1.0, -1.0, 0.0, 0.0],
    [0.5, 0.0, 0.0, -1.0, 0.0],
    [0.5, 0.0, -1.0, 1.0, 0.0],
    [0.5, -1.0, 0.0, 1.0, 0.0],
    [0.5, 0.0, 0.0, 1.0, -1.0],
    [1.5, -1.0, -1.0, -1.0, 1.0],
];

/// Feature maps of [`model`].
const MAPS: usize = 16;
/// The `h` channel that carries the gated value to the head.
const POSITIVE: usize = MAPS - 2;
/// The `h` channel that carries its negative.
const NEGATIVE: usize = MAPS - 1;
/// Scale of a rule inside the tanh: a rule is at least 0.5 from zero, so `tanh` is +-0.9999.
const RULE_SCALE: f32 = 10.0;
/// Class bias of the sigmoid half: the gate is 1 for the asked class, below 1e-17 otherwise.
const GATE_BIAS: f32 = 40.0;
/// The head's gain: logits of about +-40.
const LOGIT_SCALE: f32 = 40.0;

/// The architecture the weights are written for.
pub fn model() -> ModelConfig {
    ModelConfig {
        first_kernel: 5,
        feature_maps: MAPS,
        family: FamilyConfig::Gated(GatedConfig {
            gated_layers: 1,
            gated_kernel: 3,
            conditional: true,
            // Ten classes, one rule each; taps one row apart.
            label_dropout: LabelDropout::NONE,
            vertical_dilation: DilationPattern::NONE,
            vertical_column_dilation: false,
        }),
    }
}

/// The image every sample of `class` is: its rule painted in raster order.
pub fn image(class: u8) -> Vec<f32> {
    let [bias, up, left, up_left, up_right] = RULES[usize::from(class)];
    let side = IMAGE_SIDE as isize;
    let mut pixels = vec![0.0f32; IMAGE_PIXELS];
    for i in 0..side {
        for j in 0..side {
            let at = |r: isize, c: isize| {
                if (0..side).contains(&r) && (0..side).contains(&c) {
                    pixels[(r * side + c) as usize]
                } else {
                    0.0
                }
            };
            let sum = bias
                + up * at(i - 1, j)
                + left * at(i, j - 1)
                + up_left * at(i - 1, j - 1)
                + up_right * at(i - 1, j + 1);
            pixels[(i * side + j) as usize] = if sum > 0.0 { 1.0 } else { 0.0 };
        }
    }
    pixels
}

/// Sets `weight[out, in]` at the tap of `conv` that reads offset (`dy`, `dx`).
fn set_tap(
    params: &mut Params,
    conv: &ConvSpec,
    (out, input): (usize, usize),
    (dy, dx): (isize, isize),
    value: f32,
) {
    let tap = conv
        .taps
        .iter()
        .find(|t| t.dy == dy && t.dx == dx)
        .unwrap_or_else(|| panic!("{} has no tap at ({dy}, {dx})", conv.name));
    let index = (out * conv.in_channels + input) * conv.kernel_area() + tap.index;
    tensor(params, &format!("{}.weight", conv.name))[index] = value;
}

fn tensor<'a>(params: &'a mut Params, name: &str) -> &'a mut [f32] {
    &mut params
        .tensors
        .iter_mut()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
        .data
}

/// The hand-set weights of [`model`] (every other weight and bias zero).
pub fn params() -> Params {
    let cfg = model();
    let FamilyConfig::Gated(gated) = &cfg.family else {
        unreachable!("the model is gated")
    };
    let spec = GatedSpec::new(cfg.first_kernel, MAPS, gated);
    let layer = &spec.layers[0];
    let mut params = Params::zeros(&cfg);
    // The first layer's features: h0 = left; v0 = up, up-left, up-right.
    set_tap(&mut params, &spec.first_h, (0, 0), (0, -1), 1.0);
    for (channel, dx) in [(1, 0), (2, -1), (3, 1)] {
        set_tap(&mut params, &spec.first_v, (channel, 0), (-1, dx), 1.0);
        set_tap(&mut params, &layer.conv_v, (channel, channel), (0, 0), 1.0);
    }
    for (class, &[bias, up, left, up_left, up_right]) in RULES.iter().enumerate() {
        // The tanh half, channel `class`: the rule, scaled.
        set_tap(
            &mut params,
            &layer.conv_h,
            (class, 0),
            (0, 0),
            RULE_SCALE * left,
        );
        tensor(&mut params, &format!("{}.bias", layer.conv_h.name))[class] = RULE_SCALE * bias;
        for (channel, weight) in [(1, up), (2, up_left), (3, up_right)] {
            set_tap(
                &mut params,
                &layer.link,
                (class, channel),
                (0, 0),
                RULE_SCALE * weight,
            );
        }
        // The sigmoid half, channel `MAPS + class`: open for this class only.
        let cond_h = tensor(&mut params, &format!("{}.cond_h.weight", layer.name));
        for asked in 0..CLASS_COUNT {
            cond_h[(MAPS + class) * CLASS_COUNT + asked] = if asked == class {
                GATE_BIAS
            } else {
                -GATE_BIAS
            };
        }
        set_tap(&mut params, &layer.res, (POSITIVE, class), (0, 0), 1.0);
        set_tap(&mut params, &layer.res, (NEGATIVE, class), (0, 0), -1.0);
    }
    set_tap(&mut params, &spec.out1, (0, POSITIVE), (0, 0), 1.0);
    set_tap(&mut params, &spec.out1, (1, NEGATIVE), (0, 0), 1.0);
    set_tap(&mut params, &spec.out2, (0, 0), (0, 0), LOGIT_SCALE);
    set_tap(&mut params, &spec.out2, (0, 1), (0, 0), -LOGIT_SCALE);
    params
}

/// A trainer of [`model`] holding [`params`], with `config` (as its averaged weights too when
/// `config` averages: those are what it samples with).
pub fn trainer(config: TrainConfig) -> Trainer {
    let mut snapshot = Trainer::new(model(), config).unwrap().snapshot().clone();
    snapshot.params = params();
    if let Some(averaged) = &mut snapshot.averaged {
        *averaged = params();
    }
    Trainer::from_snapshot(snapshot).unwrap()
}
