//! The PixelCNN as a plain candle model: masked conv2d layers built from a `VarBuilder`.
//!
//! This is the reference formulation (a full conv2d over `weight * mask`). It runs on any candle
//! device, CUDA included, and the fast CPU network is tested against it.
//!
//! # Shapes
//! Input `[batch, 1, 28, 28]` of 0/1 pixels; output logits `[batch, 1, 28, 28]`.

use candle_core::{DType, Device, Module, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use super::config::{LayerSpec, ModelConfig};
use super::params::Params;

/// A convolution whose kernel is multiplied by a fixed causal mask (all ones for 1x1 layers).
#[derive(Clone, Debug)]
pub struct MaskedConv2d {
    weight: Tensor,
    bias: Tensor,
    mask: Tensor,
    padding: usize,
}

impl MaskedConv2d {
    /// Builds the layer `spec`, reading `weight` `[out, in, k, k]` and `bias` `[out]` from `vb`.
    pub fn new(spec: &LayerSpec, vb: VarBuilder) -> Result<Self> {
        let shape = spec.weight_shape();
        let fan_in = (spec.in_channels * spec.kernel * spec.kernel) as f64;
        let fan_out = (spec.out_channels * spec.kernel * spec.kernel) as f64;
        let bound = (6.0 / (fan_in + fan_out)).sqrt();
        let init = candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let weight = vb.get_with_hints(shape.to_vec(), "weight", init)?;
        let bias = vb.get_with_hints(spec.out_channels, "bias", candle_nn::Init::Const(0.0))?;
        let k = spec.kernel;
        let mask = Tensor::from_vec(spec.mask().as_f32(), (1, 1, k, k), vb.device())?;
        Ok(MaskedConv2d {
            weight,
            bias,
            mask,
            padding: k / 2,
        })
    }
}

impl Module for MaskedConv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let weight = self.weight.broadcast_mul(&self.mask)?;
        let out_channels = self.bias.dim(0)?;
        x.conv2d(&weight, self.padding, 1, 1, 1)? // [b, out, 28, 28]
            .broadcast_add(&self.bias.reshape((1, out_channels, 1, 1))?)
    }
}

/// The whole network as candle layers.
#[derive(Clone, Debug)]
pub struct PixelCnn {
    layers: Vec<(LayerSpec, MaskedConv2d)>,
}

impl PixelCnn {
    /// Builds `cfg`'s layers, each under `vb.pp(layer name)` (keys like `conv_b.0.weight`).
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        let mut layers = Vec::new();
        for spec in cfg.layers() {
            let mut sub = vb.clone();
            for part in spec.name.split('.') {
                sub = sub.pp(part);
            }
            let conv = MaskedConv2d::new(&spec, sub)?;
            layers.push((spec, conv));
        }
        Ok(PixelCnn { layers })
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
}

impl Module for PixelCnn {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (spec, conv) in &self.layers {
            let mut y = conv.forward(&h)?;
            if spec.relu {
                y = y.relu()?;
            }
            if spec.residual {
                y = (y + &h)?;
            }
            h = y;
        }
        Ok(h)
    }
}

/// Mean binary cross-entropy with logits, `max(z,0) - z*t + ln(1 + e^-|z|)`, over all elements.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let softplus = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    (logits.relu()? - (logits * targets)? + softplus)?.mean_all()
}
