//! The trainable parameters as plain named f32 tensors, where each layer's tensors sit (named
//! per-layer structs of indices), and their Xavier initialisation.

use rand::Rng;

use super::architecture::Architecture;
use super::config::ModelConfig;
use super::conv_spec::ConvSpec;
use super::gated_spec::GatedSpec;
use super::plain_spec::LayerSpec;

/// One named parameter tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Checkpoint key, e.g. `conv_b.0.weight`.
    pub name: String,
    /// Shape, e.g. `[64, 64, 3, 3]`.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

/// All parameters of a model, in the order of [`ParamLayout::new`].
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Tensors in layout order.
    pub tensors: Vec<NamedTensor>,
}

/// How a parameter tensor starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// All zeros (biases).
    Zero,
    /// Xavier-uniform over `[out, in, area]`, `bound = sqrt(6 / (fan_in + fan_out))` with
    /// `fan_in = in * area`, `fan_out = out * area`; the taps `keep` marks false are zeroed
    /// (masked convolutions), after drawing, so every tap draws a number.
    Xavier {
        /// Output channels (rows of a matrix).
        out: usize,
        /// Input channels (columns of a matrix).
        inputs: usize,
        /// Which of the `area` kernel taps are used.
        keep: Vec<bool>,
    },
}

/// The name, shape and initialisation of one parameter tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// Checkpoint key.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Initial values.
    pub init: Init,
}

/// Where a convolution's weight and bias sit in [`Params::tensors`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConvSlots {
    /// Index of `NAME.weight`.
    pub weight: usize,
    /// Index of `NAME.bias`.
    pub bias: usize,
}

/// The tensors of one gated layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatedLayerSlots {
    /// Vertical stack convolution.
    pub conv_v: ConvSlots,
    /// Horizontal stack convolution.
    pub conv_h: ConvSlots,
    /// Vertical-to-horizontal 1x1.
    pub link: ConvSlots,
    /// Residual 1x1 of the horizontal stack.
    pub res: ConvSlots,
    /// `[2p, classes]` class biases of the vertical gate (conditional models; 10 classes, 11
    /// with label dropout's "no label" class).
    pub cond_v: Option<usize>,
    /// `[2p, classes]` class biases of the horizontal gate (conditional models).
    pub cond_h: Option<usize>,
}

/// The tensors of a gated network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatedSlots {
    /// First vertical convolution.
    pub first_v: ConvSlots,
    /// First horizontal convolution.
    pub first_h: ConvSlots,
    /// The gated layers.
    pub layers: Vec<GatedLayerSlots>,
    /// Head 1x1 (hidden).
    pub out1: ConvSlots,
    /// Head 1x1 (logit).
    pub out2: ConvSlots,
}

/// Where every layer's tensors sit, per family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamLayout {
    /// One convolution per layer of the plain stack ([`Architecture::Plain`]).
    Plain(Vec<ConvSlots>),
    /// The gated network of [`GatedSpec`].
    Gated(GatedSlots),
}

/// Collects parameter specs in order and hands out their indices.
#[derive(Default)]
struct SpecList {
    specs: Vec<ParamSpec>,
}

impl SpecList {
    fn push(&mut self, spec: ParamSpec) -> usize {
        self.specs.push(spec);
        self.specs.len() - 1
    }

    /// `NAME.weight` (Xavier, unused taps zero) then `NAME.bias` (zero).
    fn conv(&mut self, conv: &ConvSpec) -> ConvSlots {
        let keep = (0..conv.kernel_area()).map(|i| conv.uses(i)).collect();
        let weight = self.push(ParamSpec {
            name: format!("{}.weight", conv.name),
            shape: conv.weight_shape().to_vec(),
            init: Init::Xavier {
                out: conv.out_channels,
                inputs: conv.in_channels,
                keep,
            },
        });
        let bias = self.push(ParamSpec {
            name: format!("{}.bias", conv.name),
            shape: vec![conv.out_channels],
            init: Init::Zero,
        });
        ConvSlots { weight, bias }
    }

    /// A `[rows, cols]` matrix without bias (a linear layer's weight), Xavier.
    fn matrix(&mut self, name: String, rows: usize, cols: usize) -> usize {
        self.push(ParamSpec {
            name,
            shape: vec![rows, cols],
            init: Init::Xavier {
                out: rows,
                inputs: cols,
                keep: vec![true],
            },
        })
    }

    /// Each plain layer's weight then bias.
    fn plain(&mut self, layers: &[LayerSpec]) -> Vec<ConvSlots> {
        layers
            .iter()
            .map(|layer| self.conv(&layer.conv()))
            .collect()
    }

    /// The PyTorch peer's `state_dict` order: the first layer, each gated layer (its four
    /// convolutions, then its class biases if conditional), the head.
    fn gated(&mut self, spec: &GatedSpec) -> GatedSlots {
        let first_v = self.conv(&spec.first_v);
        let first_h = self.conv(&spec.first_h);
        let layers = spec
            .layers
            .iter()
            .map(|layer| {
                let conv_v = self.conv(&layer.conv_v);
                let conv_h = self.conv(&layer.conv_h);
                let link = self.conv(&layer.link);
                let res = self.conv(&layer.res);
                let rows = layer.conv_v.out_channels;
                let (cond_v, cond_h) = if layer.conditional {
                    (
                        Some(self.matrix(
                            format!("{}.cond_v.weight", layer.name),
                            rows,
                            spec.classes,
                        )),
                        Some(self.matrix(
                            format!("{}.cond_h.weight", layer.name),
                            rows,
                            spec.classes,
                        )),
                    )
                } else {
                    (None, None)
                };
                GatedLayerSlots {
                    conv_v,
                    conv_h,
                    link,
                    res,
                    cond_v,
                    cond_h,
                }
            })
            .collect();
        let out1 = self.conv(&spec.out1);
        let out2 = self.conv(&spec.out2);
        GatedSlots {
            first_v,
            first_h,
            layers,
            out1,
            out2,
        }
    }
}

impl ParamLayout {
    /// The layout of `cfg`'s parameters and the spec of each tensor, in storage order. Plain:
    /// each layer's weight then bias. Gated: the PyTorch peer's `state_dict` order.
    pub fn new(cfg: &ModelConfig) -> (ParamLayout, Vec<ParamSpec>) {
        let mut list = SpecList::default();
        let layout = match cfg.architecture() {
            Architecture::Plain(layers) => ParamLayout::Plain(list.plain(&layers)),
            Architecture::Gated(spec) => ParamLayout::Gated(list.gated(&spec)),
        };
        (layout, list.specs)
    }
}

/// Where the tensors of the plain stack `layers` sit (as in [`ParamLayout::new`]).
pub fn plain_slots(layers: &[LayerSpec]) -> Vec<ConvSlots> {
    SpecList::default().plain(layers)
}

/// Where the tensors of the gated network `spec` sit (as in [`ParamLayout::new`]).
pub fn gated_slots(spec: &GatedSpec) -> GatedSlots {
    SpecList::default().gated(spec)
}

impl ModelConfig {
    /// Total number of trainable parameters (masked-out weights included, as stored).
    pub fn parameter_count(&self) -> usize {
        let (_, specs) = ParamLayout::new(self);
        specs
            .iter()
            .map(|s| s.shape.iter().product::<usize>())
            .sum()
    }
}

/// A convolution's weight and bias.
#[derive(Clone, Copy, Debug)]
pub struct ConvParams<'a> {
    /// `[out, in, kh, kw]`.
    pub weight: &'a [f32],
    /// `[out]`.
    pub bias: &'a [f32],
}

impl Params {
    /// Xavier-uniform weights (masked taps set to zero) and zero biases, drawn from `rng` in
    /// storage order.
    pub fn init<R: Rng>(cfg: &ModelConfig, rng: &mut R) -> Params {
        let (_, specs) = ParamLayout::new(cfg);
        let tensors = specs
            .into_iter()
            .map(|spec| {
                let len = spec.shape.iter().product();
                let data = match &spec.init {
                    Init::Zero => vec![0.0; len],
                    Init::Xavier { out, inputs, keep } => xavier(*out, *inputs, keep, rng),
                };
                NamedTensor {
                    name: spec.name,
                    shape: spec.shape,
                    data,
                }
            })
            .collect();
        Params { tensors }
    }

    /// The names and shapes `cfg` needs, all values zero.
    pub fn zeros(cfg: &ModelConfig) -> Params {
        let (_, specs) = ParamLayout::new(cfg);
        Params {
            tensors: specs
                .into_iter()
                .map(|spec| NamedTensor {
                    data: vec![0.0; spec.shape.iter().product()],
                    name: spec.name,
                    shape: spec.shape,
                })
                .collect(),
        }
    }

    /// The same names and shapes, all values zero.
    pub fn zeros_like(&self) -> Params {
        Params {
            tensors: self
                .tensors
                .iter()
                .map(|t| NamedTensor {
                    name: t.name.clone(),
                    shape: t.shape.clone(),
                    data: vec![0.0; t.data.len()],
                })
                .collect(),
        }
    }

    /// The values of the tensor at `index` (empty if there is none).
    pub fn values(&self, index: usize) -> &[f32] {
        self.tensors.get(index).map_or(&[], |t| t.data.as_slice())
    }

    /// The weight and bias at `slots`.
    pub fn conv(&self, slots: ConvSlots) -> ConvParams<'_> {
        ConvParams {
            weight: self.values(slots.weight),
            bias: self.values(slots.bias),
        }
    }

    /// Mutable values of the tensor at `index` (empty if there is none).
    pub fn values_mut(&mut self, index: usize) -> &mut [f32] {
        self.tensors
            .get_mut(index)
            .map_or(&mut [], |t| t.data.as_mut_slice())
    }

    /// Mutable weight and bias values at `slots` (empty slices if a slot is out of range).
    pub fn conv_mut(&mut self, slots: ConvSlots) -> (&mut [f32], &mut [f32]) {
        let (w, b) = (slots.weight, slots.bias);
        if w == b || w.max(b) >= self.tensors.len() {
            return (&mut [], &mut []);
        }
        let (low, high) = self.tensors.split_at_mut(w.max(b));
        let (first, second) = (&mut low[w.min(b)].data, &mut high[0].data);
        if w < b {
            (first, second)
        } else {
            (second, first)
        }
    }

    /// Whether every value is finite.
    pub fn all_finite(&self) -> bool {
        self.tensors
            .iter()
            .all(|t| t.data.iter().all(|v| v.is_finite()))
    }

    /// Sets every value to zero.
    pub fn fill_zero(&mut self) {
        for t in &mut self.tensors {
            t.data.fill(0.0);
        }
    }

    /// Total number of values.
    pub fn len(&self) -> usize {
        self.tensors.iter().map(|t| t.data.len()).sum()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Xavier-uniform values for `[out, inputs, keep.len()]`, unused taps zeroed after drawing.
fn xavier<R: Rng>(out: usize, inputs: usize, keep: &[bool], rng: &mut R) -> Vec<f32> {
    let area = keep.len();
    let fan_in = (inputs * area) as f32;
    let fan_out = (out * area) as f32;
    let bound = (6.0 / (fan_in + fan_out)).sqrt();
    let mut data = Vec::with_capacity(out * inputs * area);
    for _ in 0..out * inputs {
        for &used in keep {
            let value = rng.random_range(-bound..bound);
            data.push(if used { value } else { 0.0 });
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn init_zeroes_masked_taps_and_biases_and_stays_in_the_xavier_bound() {
        let cfg = ModelConfig::seed();
        let params = Params::init(&cfg, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
        let Architecture::Plain(layers) = cfg.architecture() else {
            panic!("the seed preset is plain");
        };
        let first = params.conv(plain_slots(&layers)[0]);
        let (w, b) = (&params.tensors[0], first.bias);
        assert_eq!(w.name, "conv_a.weight");
        assert_eq!(w.shape, vec![64, 1, 7, 7]);
        assert!(b.iter().all(|&v| v == 0.0));
        // Centre tap (3,3) of mask A is hidden for every output channel.
        assert!((0..64).all(|o| w.data[o * 49 + 24] == 0.0));
        let bound = (6.0f32 / (49.0 + 64.0 * 49.0)).sqrt();
        assert!(w.data.iter().all(|v| v.abs() <= bound));
        assert!(w.data.iter().any(|&v| v != 0.0));
        assert_eq!(params.len(), cfg.parameter_count());
    }
}
