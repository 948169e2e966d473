//! The test oracle: the PixelCNN as plain candle models built from a `VarBuilder`, the reference
//! formulation of both families (a full conv2d over `weight * mask` for the plain family;
//! explicitly padded valid convolutions for the gated stacks, as the PyTorch peer writes them).
//! Nothing the studio or the command line runs uses it: the integration tests check the fast CPU
//! networks against it (`tests/model.rs`, `tests/gated.rs`). It runs on any candle device, CUDA
//! included. Activations come from the shared [`Epilogue`].
//!
//! # Shapes
//! Input `[batch, 1, 28, 28]` of 0/1 pixels; labels `[batch]` (u32 classes, conditional models
//! only: digits, and 10 for "no label" in a model trained with label dropout); output logits
//! `[batch, 1, 28, 28]`.
//!
//! A row-dilated vertical convolution (`d` rows apart) is written as a sum over its kernel rows:
//! kernel row `r` of `b + 1` reads the input shifted down by `(b - r) * d` rows, a `1 x k`
//! convolution each. That is the definition, independent of the taps the fast paths gather.

use candle_core::{DType, Device, Result, Tensor, Var, D};
use candle_nn::{VarBuilder, VarMap};

use crate::model::arch::config::{FamilyConfig, GatedConfig, ModelConfig};
use crate::model::arch::conv_spec::ConvSpec;
use crate::model::arch::epilogue::{Activation, Epilogue};
use crate::model::arch::gated_spec::GatedSpec;
use crate::model::arch::params::Params;
use crate::model::arch::plain_spec::{self, LayerSpec};

/// A convolution's weight (multiplied by a fixed causal mask for masked layers) and bias.
#[derive(Clone, Debug)]
pub struct CandleConv {
    weight: Tensor,
    bias: Tensor,
    mask: Option<Tensor>,
}

/// The variable builder for a dotted checkpoint prefix (`layers.0.conv_v`).
fn sub_builder<'a>(vb: &VarBuilder<'a>, name: &str) -> VarBuilder<'a> {
    let mut sub = vb.clone();
    for part in name.split('.') {
        sub = sub.pp(part);
    }
    sub
}

/// Xavier-uniform bounds over `fan_in + fan_out`.
fn xavier(fan_in: usize, fan_out: usize) -> candle_nn::Init {
    let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
    candle_nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

impl CandleConv {
    /// Reads `NAME.weight` `[out, in, kh, kw]` and `NAME.bias` `[out]` from `vb`; the weight is
    /// masked to `spec`'s taps when `masked`.
    pub fn new(spec: &ConvSpec, masked: bool, vb: &VarBuilder) -> Result<Self> {
        let vb = sub_builder(vb, &spec.name);
        let shape = spec.weight_shape();
        let area = spec.kernel_area();
        let init = xavier(spec.in_channels * area, spec.out_channels * area);
        let weight = vb.get_with_hints(shape.to_vec(), "weight", init)?;
        let bias = vb.get_with_hints(spec.out_channels, "bias", candle_nn::Init::Const(0.0))?;
        let mask = if masked {
            let keep: Vec<f32> = (0..area)
                .map(|i| if spec.uses(i) { 1.0 } else { 0.0 })
                .collect();
            Some(Tensor::from_vec(
                keep,
                (1, 1, spec.kernel_height, spec.kernel_width),
                vb.device(),
            )?)
        } else {
            None
        };
        Ok(CandleConv { weight, bias, mask })
    }

    /// The convolution (no bias) with `padding` on every side.
    fn conv(&self, x: &Tensor, padding: usize) -> Result<Tensor> {
        let weight = match &self.mask {
            Some(mask) => self.weight.broadcast_mul(mask)?,
            None => self.weight.clone(),
        };
        x.conv2d(&weight, padding, 1, 1, 1)
    }

    /// The bias as `[1, out, 1, 1]`.
    fn bias(&self) -> Result<Tensor> {
        let out = self.bias.dim(0)?;
        self.bias.reshape((1, out, 1, 1))
    }
}

/// One plain layer: a masked conv2d and its epilogue.
#[derive(Clone, Debug)]
struct PlainLayer {
    conv: CandleConv,
    epilogue: Epilogue,
    padding: usize,
}

impl PlainLayer {
    fn new(spec: &LayerSpec, vb: &VarBuilder) -> Result<Self> {
        Ok(PlainLayer {
            conv: CandleConv::new(&spec.conv(), true, vb)?,
            epilogue: Epilogue::of_layer(spec),
            padding: spec.kernel / 2,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let pre = self.conv.conv(x, self.padding)?; // [b, out, 28, 28]
        self.epilogue
            .apply_tensor(&pre, Some(&self.conv.bias()?), Some(x))
    }
}

/// One gated layer.
#[derive(Clone, Debug)]
struct GatedLayer {
    conv_v: CandleConv,
    conv_h: CandleConv,
    link: CandleConv,
    res: CandleConv,
    /// `[2p, classes]` class biases of each gate (conditional models).
    cond: Option<(Tensor, Tensor)>,
    /// Half the gated kernel width, `b`.
    half: usize,
    /// Row dilation of `conv_v`.
    row_dilation: usize,
    /// Column dilation of `conv_v`.
    column_dilation: usize,
}

/// The gated network's candle layers.
#[derive(Clone, Debug)]
struct GatedModel {
    first_v: CandleConv,
    first_h: CandleConv,
    /// `a`, half the first kernel.
    first_half: usize,
    layers: Vec<GatedLayer>,
    out1: CandleConv,
    out2: CandleConv,
    /// Columns of the class biases.
    classes: usize,
}

/// The residual 1x1 of the horizontal stack.
const RESIDUAL: Epilogue = Epilogue {
    activation: Activation::Identity,
    residual: true,
};

impl GatedModel {
    fn new(cfg: &ModelConfig, gated: &GatedConfig, vb: &VarBuilder) -> Result<Self> {
        let spec = GatedSpec::new(cfg.first_kernel, cfg.feature_maps, gated);
        let layers = spec
            .layers
            .iter()
            .map(|layer| {
                let width = layer.conv_v.out_channels;
                let cond = if layer.conditional {
                    let get = |part: &str| {
                        sub_builder(vb, &format!("{}.{part}", layer.name)).get_with_hints(
                            (width, spec.classes),
                            "weight",
                            xavier(spec.classes, width),
                        )
                    };
                    Some((get("cond_v")?, get("cond_h")?))
                } else {
                    None
                };
                Ok(GatedLayer {
                    conv_v: CandleConv::new(&layer.conv_v, false, vb)?,
                    conv_h: CandleConv::new(&layer.conv_h, false, vb)?,
                    link: CandleConv::new(&layer.link, false, vb)?,
                    res: CandleConv::new(&layer.res, false, vb)?,
                    cond,
                    half: gated.gated_kernel / 2,
                    row_dilation: layer.row_dilation,
                    column_dilation: layer.column_dilation,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(GatedModel {
            first_v: CandleConv::new(&spec.first_v, false, vb)?,
            first_h: CandleConv::new(&spec.first_h, false, vb)?,
            first_half: cfg.first_kernel / 2,
            layers,
            out1: CandleConv::new(&spec.out1, false, vb)?,
            out2: CandleConv::new(&spec.out2, false, vb)?,
            classes: spec.classes,
        })
    }

    /// `one_hot`: `[batch, classes]` f32, for conditional models.
    fn forward(&self, x: &Tensor, one_hot: Option<&Tensor>) -> Result<Tensor> {
        let (side_h, side_w) = (x.dim(2)?, x.dim(3)?);
        let a = self.first_half;
        // v sees rows i-a..i-1 (pad a rows on top, drop the last output row), h sees x[i, j-a..j-1].
        let padded = x.pad_with_zeros(2, a, 0)?.pad_with_zeros(3, a, a)?;
        let v_pre = self.first_v.conv(&padded, 0)?.narrow(2, 0, side_h)?;
        let mut v = Epilogue::LINEAR.apply_tensor(&v_pre, Some(&self.first_v.bias()?), None)?;
        let h_pre = self
            .first_h
            .conv(&x.pad_with_zeros(3, a, 0)?, 0)?
            .narrow(3, 0, side_w)?;
        let mut h = Epilogue::LINEAR.apply_tensor(&h_pre, Some(&self.first_h.bias()?), None)?;
        for layer in &self.layers {
            let b = layer.half;
            let vp = if layer.row_dilation == 1 && layer.column_dilation == 1 {
                self.conv_bias(
                    &layer.conv_v,
                    &v.pad_with_zeros(2, b, 0)?.pad_with_zeros(3, b, b)?,
                )?
            } else {
                self.dilated_conv_bias(
                    &layer.conv_v,
                    &v,
                    b,
                    (layer.row_dilation, layer.column_dilation),
                )?
            };
            let link = self.conv_bias(&layer.link, &vp)?;
            let hp = (self.conv_bias(&layer.conv_h, &h.pad_with_zeros(3, b, 0)?)? + link)?;
            let (v_bias, h_bias) = match (&layer.cond, one_hot) {
                (Some((cond_v, cond_h)), Some(y)) => {
                    let class_bias = |m: &Tensor| -> Result<Tensor> {
                        let rows = m.dim(0)?;
                        let batch = y.dim(0)?;
                        y.matmul(&m.t()?)?.reshape((batch, rows, 1, 1))
                    };
                    (Some(class_bias(cond_v)?), Some(class_bias(cond_h)?))
                }
                _ => (None, None),
            };
            v = Epilogue::GATE.apply_tensor(&vp, v_bias.as_ref(), None)?;
            let gated = Epilogue::GATE.apply_tensor(&hp, h_bias.as_ref(), None)?;
            let res = layer.res.conv(&gated, 0)?;
            h = RESIDUAL.apply_tensor(&res, Some(&layer.res.bias()?), Some(&h))?;
        }
        let hidden = Epilogue::RELU.apply_tensor(
            &self.out1.conv(&h.relu()?, 0)?,
            Some(&self.out1.bias()?),
            None,
        )?;
        Epilogue::LINEAR.apply_tensor(&self.out2.conv(&hidden, 0)?, Some(&self.out2.bias()?), None)
    }

    /// A valid convolution plus its bias.
    fn conv_bias(&self, conv: &CandleConv, x: &Tensor) -> Result<Tensor> {
        Epilogue::LINEAR.apply_tensor(&conv.conv(x, 0)?, Some(&conv.bias()?), None)
    }

    /// The vertical convolution of `v` (`[batch, p, 28, 28]`) with its `(b+1) x k` kernel's
    /// rows `rows` rows apart and its taps `columns` columns apart, plus its bias: kernel row
    /// `r` reads `v` shifted down by `(b - r) * rows` rows (zeros enter at the top), padded
    /// `b * columns` columns either side, as a column-dilated convolution.
    fn dilated_conv_bias(
        &self,
        conv: &CandleConv,
        v: &Tensor,
        b: usize,
        (rows, columns): (usize, usize),
    ) -> Result<Tensor> {
        let side_h = v.dim(2)?;
        let mut sum: Option<Tensor> = None;
        for r in 0..=b {
            let shift = (b - r) * rows;
            let shifted = v
                .pad_with_zeros(2, shift, 0)?
                .narrow(2, 0, side_h)?
                .pad_with_zeros(3, b * columns, b * columns)?;
            let row_kernel = conv.weight.narrow(2, r, 1)?.contiguous()?;
            let part = shifted.conv2d(&row_kernel, 0, 1, columns, 1)?;
            sum = Some(match sum {
                Some(total) => (total + part)?,
                None => part,
            });
        }
        let sum = sum.ok_or_else(|| candle_core::Error::Msg("an empty kernel".into()))?;
        Epilogue::LINEAR.apply_tensor(&sum, Some(&conv.bias()?), None)
    }
}

/// The network of either family as candle layers.
#[derive(Clone, Debug)]
pub struct PixelCnn {
    body: Body,
    conditional: bool,
}

#[derive(Clone, Debug)]
enum Body {
    Plain(Vec<PlainLayer>),
    Gated(GatedModel),
}

impl PixelCnn {
    /// Builds `cfg`'s layers, each under its checkpoint name (keys like `conv_b.0.weight` or
    /// `layers.0.conv_v.weight`).
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        let body = match &cfg.family {
            FamilyConfig::Plain(plain) => Body::Plain(
                plain_spec::layers(cfg.first_kernel, cfg.feature_maps, plain)
                    .iter()
                    .map(|spec| PlainLayer::new(spec, &vb))
                    .collect::<Result<Vec<_>>>()?,
            ),
            FamilyConfig::Gated(gated) => Body::Gated(GatedModel::new(cfg, gated, &vb)?),
        };
        Ok(PixelCnn {
            body,
            conditional: cfg.conditional(),
        })
    }

    /// A model on `device` whose variables hold `params`; returns it with its variables in
    /// `params` order.
    pub fn from_params(
        cfg: &ModelConfig,
        params: &Params,
        device: &Device,
    ) -> Result<(PixelCnn, Vec<Var>)> {
        let varmap = VarMap::new();
        let mut vars = Vec::new();
        {
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| candle_core::Error::Msg("variable map lock poisoned".into()))?;
            for t in &params.tensors {
                let var = Var::from_tensor(&Tensor::from_vec(
                    t.data.clone(),
                    t.shape.as_slice(),
                    device,
                )?)?;
                data.insert(t.name.clone(), var.clone());
                vars.push(var);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        Ok((PixelCnn::new(cfg, vb)?, vars))
    }

    /// Logits of `x`; `labels` (`[batch]` digits, u32) are read by conditional models only.
    pub fn forward(&self, x: &Tensor, labels: Option<&Tensor>) -> Result<Tensor> {
        match &self.body {
            Body::Plain(layers) => {
                let mut h = x.clone();
                for layer in layers {
                    h = layer.forward(&h)?;
                }
                Ok(h)
            }
            Body::Gated(model) => {
                let one_hot = match (self.conditional, labels) {
                    (true, Some(y)) => Some(y.clone()),
                    (true, None) => {
                        return Err(candle_core::Error::Msg(
                            "a conditional model needs a label per image".into(),
                        ))
                    }
                    (false, _) => None,
                };
                let one_hot = match one_hot {
                    Some(y) => Some(one_hot_of(&y, model.classes)?),
                    None => None,
                };
                model.forward(x, one_hot.as_ref())
            }
        }
    }
}

/// `[batch]` u32 classes as `[batch, classes]` f32 one-hot rows.
fn one_hot_of(labels: &Tensor, classes: usize) -> Result<Tensor> {
    let classes = Tensor::arange(0u32, classes as u32, labels.device())?;
    labels
        .unsqueeze(D::Minus1)?
        .broadcast_eq(&classes.unsqueeze(0)?)?
        .to_dtype(DType::F32)
}

/// Mean binary cross-entropy with logits, `max(z,0) - z*t + ln(1 + e^-|z|)`, over all elements.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let softplus = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    (logits.relu()? - (logits * targets)? + softplus)?.mean_all()
}
