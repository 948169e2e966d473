//! The PixelCNN of either family on a candle device (a CUDA GPU; candle's CPU device in the
//! tests), built for speed the way the fast CPU kernels are: channels-last activations, every
//! convolution over its used taps only ([`DeviceConv`]: one gather and one matmul), the
//! parameters in one flat device vector ([`DeviceLayout`]) that the optimizer updates in place
//! of the host copy, and a hand-written backward pass. Only a minibatch goes up (as bytes) and
//! only the per-image losses come down during training.
//!
//! The candle reference networks ([`crate::model::reference`]) stay the independent formulation
//! the fast kernels are tested against; this network is tested against the fast kernels.
//!
//! # Shapes
//! `n = images * 784` rows: pixels `[n, 1]`, activations `[n, channels]`, logits `[n, 1]`,
//! class one-hots `[images, classes]` (10 digits, 11 with the "no label" class of label dropout),
//! per-image losses `[images]` (f64).

use candle_core::{DType, Device, Result, Tensor};

use super::conv::{ones_row, ConvGrads, ConvWeights, DeviceConv};
use super::layout::DeviceLayout;
use crate::data::IMAGE_PIXELS;
use crate::model::arch::architecture::Architecture;
use crate::model::arch::config::ModelConfig;
use crate::model::arch::epilogue::{Activation, Epilogue};
use crate::model::arch::params::{gated_slots, plain_slots, Params};

/// A minibatch on the device.
#[derive(Clone, Debug)]
pub struct DeviceBatch {
    /// Images in the batch.
    pub images: usize,
    /// `[n, 1]` f32 pixels, 0 or 1 (also the targets).
    pixels: Tensor,
    /// `[images, classes]` f32 one-hot classes (conditional models).
    one_hot: Option<Tensor>,
}

impl DeviceBatch {
    /// The pixels `[images * 784, 1]`, f32 0 or 1, one row per pixel (image by image, raster
    /// order within an image).
    pub fn pixels(&self) -> &Tensor {
        &self.pixels
    }

    /// The one-hot classes `[images, classes]` of a conditional model's batch.
    pub fn one_hot(&self) -> Option<&Tensor> {
        self.one_hot.as_ref()
    }
}

/// One plain layer.
#[derive(Clone, Debug)]
pub(crate) struct PlainLayer {
    pub(crate) conv: DeviceConv,
    pub(crate) epilogue: Epilogue,
}

/// One gated layer.
#[derive(Clone, Debug)]
pub(crate) struct GatedLayer {
    pub(crate) conv_v: DeviceConv,
    pub(crate) conv_h: DeviceConv,
    pub(crate) link: DeviceConv,
    pub(crate) res: DeviceConv,
    /// Stored indices of `cond_v` and `cond_h` (`[2p, classes]`), conditional models only.
    pub(crate) cond: Option<(usize, usize)>,
}

/// The gated network.
#[derive(Clone, Debug)]
pub(crate) struct GatedBody {
    pub(crate) maps: usize,
    pub(crate) first_v: DeviceConv,
    pub(crate) first_h: DeviceConv,
    pub(crate) layers: Vec<GatedLayer>,
    pub(crate) out1: DeviceConv,
    pub(crate) out2: DeviceConv,
}

#[derive(Clone, Debug)]
pub(crate) enum Body {
    Plain(Vec<PlainLayer>),
    Gated(Box<GatedBody>),
}

/// The network on a candle device, its parameters in one flat device vector.
#[derive(Clone, Debug)]
pub struct DeviceNet {
    config: ModelConfig,
    device: Device,
    layout: DeviceLayout,
    /// `[layout.len()]`.
    params: Tensor,
    pub(crate) body: Body,
}

/// A layer's tensors, views of the flat parameter vector, by stored index.
pub(crate) struct Views(Vec<Tensor>);

impl Views {
    pub(crate) fn conv(&self, conv: &DeviceConv) -> ConvWeights<'_> {
        ConvWeights {
            weight: &self.0[conv.weight],
            bias: &self.0[conv.bias],
        }
    }

    pub(crate) fn get(&self, index: usize) -> &Tensor {
        &self.0[index]
    }
}

/// What the gated forward pass keeps for the backward pass, per layer.
struct GatedSaved {
    v_in: Tensor,
    h_in: Tensor,
    /// The vertical pre-activation before conditioning (the link's input).
    vp: Tensor,
    /// `(tanh, sigmoid)` of the vertical gate (not for the last layer, whose `v` is unused).
    v_gate: Option<(Tensor, Tensor)>,
    h_gate: (Tensor, Tensor),
    /// The horizontal gate's output (the residual 1x1's input).
    gated: Tensor,
}

/// Gradients by stored index, assembled into the flat vector at the end.
struct Grads(Vec<Option<Tensor>>);

impl Grads {
    fn conv(&mut self, conv: &DeviceConv, grads: ConvGrads) -> Option<Tensor> {
        self.set(conv.weight, grads.weight);
        self.set(conv.bias, grads.bias);
        grads.input
    }

    fn set(&mut self, index: usize, grad: Tensor) {
        if let Some(slot) = self.0.get_mut(index) {
            *slot = Some(grad);
        }
    }
}

impl DeviceNet {
    /// The network for `cfg` on `device`, with the weights of `params`.
    pub fn new(cfg: &ModelConfig, params: &Params, device: &Device) -> Result<DeviceNet> {
        let layout = DeviceLayout::new(cfg);
        let body = match cfg.architecture() {
            Architecture::Plain(layers) => Body::Plain(
                layers
                    .iter()
                    .zip(plain_slots(&layers))
                    .map(|(spec, s)| {
                        Ok(PlainLayer {
                            conv: DeviceConv::new(&spec.conv(), s.weight, s.bias, device)?,
                            epilogue: Epilogue::of_layer(spec),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Architecture::Gated(spec) => {
                let slots = gated_slots(&spec);
                let conv = |spec, s: crate::model::arch::params::ConvSlots| {
                    DeviceConv::new(spec, s.weight, s.bias, device)
                };
                let layers = spec
                    .layers
                    .iter()
                    .zip(&slots.layers)
                    .map(|(layer, s)| {
                        Ok(GatedLayer {
                            conv_v: conv(&layer.conv_v, s.conv_v)?,
                            conv_h: conv(&layer.conv_h, s.conv_h)?,
                            link: conv(&layer.link, s.link)?,
                            res: conv(&layer.res, s.res)?,
                            cond: s.cond_v.zip(s.cond_h),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Body::Gated(Box::new(GatedBody {
                    maps: spec.maps,
                    first_v: conv(&spec.first_v, slots.first_v)?,
                    first_h: conv(&spec.first_h, slots.first_h)?,
                    layers,
                    out1: conv(&spec.out1, slots.out1)?,
                    out2: conv(&spec.out2, slots.out2)?,
                }))
            }
        };
        let flat = layout.gather(params).map_err(candle_core::Error::Msg)?;
        let params = Tensor::from_vec(flat, layout.len(), device)?;
        Ok(DeviceNet {
            config: cfg.clone(),
            device: device.clone(),
            layout,
            params,
            body,
        })
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Where each parameter sits in the flat vector.
    pub fn layout(&self) -> &DeviceLayout {
        &self.layout
    }

    /// The flat parameter vector `[layout.len()]`.
    pub fn params(&self) -> &Tensor {
        &self.params
    }

    /// Replaces the flat parameter vector (an optimizer's update).
    ///
    /// # Errors
    /// `params` is not a `[layout.len()]` f32 vector on this device.
    pub fn set_flat_params(&mut self, params: Tensor) -> Result<()> {
        if params.dims() != [self.layout.len()] || params.dtype() != DType::F32 {
            candle_core::bail!(
                "a parameter vector of shape {:?} does not fit the model's [{}]",
                params.dims(),
                self.layout.len()
            );
        }
        if !params.device().same_device(&self.device) {
            candle_core::bail!("the parameter vector is on another device");
        }
        self.params = params;
        Ok(())
    }

    /// Uploads `params` (stored layout) as the weights.
    pub fn set_params(&mut self, params: &Params) -> Result<()> {
        let flat = self
            .layout
            .gather(params)
            .map_err(candle_core::Error::Msg)?;
        self.params = Tensor::from_vec(flat, self.layout.len(), &self.device)?;
        Ok(())
    }

    /// Downloads the weights into `params` (stored layout; unused taps keep their values).
    pub fn download(&self, params: &mut Params) -> Result<()> {
        let flat: Vec<f32> = self.params.to_vec1()?;
        self.layout
            .scatter(&flat, params)
            .map_err(candle_core::Error::Msg)
    }

    /// Uploads binarized `pixels` (`images * 784` values, 0 or 1; sent as bytes) and, for a
    /// conditional model, one digit per image.
    pub fn upload_batch(&self, pixels: &[f32], labels: &[u8]) -> Result<DeviceBatch> {
        let images = pixels.len() / IMAGE_PIXELS;
        let bytes: Vec<u8> = pixels[..images * IMAGE_PIXELS]
            .iter()
            .map(|&p| u8::from(p > 0.5))
            .collect();
        let pixels = Tensor::from_vec(bytes, (images * IMAGE_PIXELS, 1), &self.device)?
            .to_dtype(DType::F32)?;
        Ok(DeviceBatch {
            images,
            pixels,
            one_hot: self.one_hot(labels, images)?,
        })
    }

    /// A conditional model's one-hot classes `[images, classes]` (a missing label, or one the
    /// model has no column for, counts as 0, as on the CPU); `None` for an unconditional model.
    pub fn one_hot(&self, labels: &[u8], images: usize) -> Result<Option<Tensor>> {
        if !self.config.conditional() {
            return Ok(None);
        }
        let classes = self.config.class_count();
        let mut rows = vec![0f32; images * classes];
        for image in 0..images {
            let class = usize::from(labels.get(image).copied().unwrap_or(0));
            let class = if class < classes { class } else { 0 };
            rows[image * classes + class] = 1.0;
        }
        Tensor::from_vec(rows, (images, classes), &self.device).map(Some)
    }

    /// The stored tensors as views of the flat vector, in device shapes.
    pub(crate) fn views(&self) -> Result<Views> {
        self.layout
            .slots()
            .iter()
            .map(|slot| {
                self.params
                    .narrow(0, slot.offset, slot.len)?
                    .reshape(slot.shape.as_slice())
            })
            .collect::<Result<Vec<_>>>()
            .map(Views)
    }

    /// Logits `[n, 1]` of `batch`.
    pub fn logits(&self, batch: &DeviceBatch) -> Result<Tensor> {
        let views = self.views()?;
        match &self.body {
            Body::Plain(layers) => plain_forward(layers, &views, batch, None),
            Body::Gated(body) => gated_forward(body, &views, batch, None),
        }
    }

    /// Each image's cross-entropy summed over its pixels, nats, `[images]` f64.
    pub fn image_losses(&self, batch: &DeviceBatch) -> Result<Tensor> {
        image_losses(&self.logits(batch)?, batch)
    }

    /// Each image's summed cross-entropy (`[images]`, f64) and the gradient of the mean
    /// cross-entropy per pixel, as a flat vector in the layout of [`DeviceNet::params`].
    pub fn loss_and_grads(&self, batch: &DeviceBatch) -> Result<(Tensor, Tensor)> {
        let views = self.views()?;
        let mut grads = Grads(vec![None; self.layout.slots().len()]);
        let ones = ones_row(batch.images * IMAGE_PIXELS, &self.device)?;
        let losses = match &self.body {
            Body::Plain(layers) => {
                let mut saved = Vec::with_capacity(layers.len());
                let logits = plain_forward(layers, &views, batch, Some(&mut saved))?;
                let grad = logits_grad(&logits, batch)?;
                plain_backward(layers, &views, batch, &saved, grad, &ones, &mut grads)?;
                image_losses(&logits, batch)?
            }
            Body::Gated(body) => {
                let mut saved = GatedTape::default();
                let logits = gated_forward(body, &views, batch, Some(&mut saved))?;
                let grad = logits_grad(&logits, batch)?;
                gated_backward(body, &views, batch, saved, grad, &ones, &mut grads)?;
                image_losses(&logits, batch)?
            }
        };
        let parts = self
            .layout
            .slots()
            .iter()
            .zip(grads.0)
            .map(|(slot, grad)| match grad {
                Some(g) => g.contiguous()?.flatten_all(),
                None => Tensor::zeros(slot.len, DType::F32, &self.device),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((losses, Tensor::cat(&parts, 0)?))
    }
}

/// `[n]`-shaped zeros like `t`, for `where_cond`.
fn zeros_like(t: &Tensor) -> Result<Tensor> {
    t.zeros_like()
}

/// `max(z, 0)` and, when keeping it, the mask `z >= 0` (the derivative the reference uses).
fn relu(z: &Tensor, keep_mask: bool) -> Result<(Tensor, Option<Tensor>)> {
    let mask = if keep_mask {
        Some(z.ge(&zeros_like(z)?)?)
    } else {
        None
    };
    Ok((z.relu()?, mask))
}

/// The gradient through a ReLU whose mask is `mask`.
fn relu_backward(mask: &Tensor, grad: &Tensor) -> Result<Tensor> {
    mask.where_cond(grad, &zeros_like(grad)?)
}

/// One plain layer's saved input and ReLU mask.
struct PlainSaved {
    input: Tensor,
    relu_mask: Option<Tensor>,
}

fn plain_forward(
    layers: &[PlainLayer],
    views: &Views,
    batch: &DeviceBatch,
    mut tape: Option<&mut Vec<PlainSaved>>,
) -> Result<Tensor> {
    let mut h = batch.pixels.clone();
    for layer in layers {
        let z = layer
            .conv
            .forward(&h, views.conv(&layer.conv), batch.images)?;
        let (y, relu_mask) = match layer.epilogue.activation {
            Activation::Relu => relu(&z, tape.is_some())?,
            Activation::Identity | Activation::Gate => (z, None),
        };
        let out = if layer.epilogue.residual {
            (y + &h)?
        } else {
            y
        };
        if let Some(tape) = tape.as_deref_mut() {
            tape.push(PlainSaved {
                input: h,
                relu_mask,
            });
        }
        h = out;
    }
    Ok(h)
}

fn plain_backward(
    layers: &[PlainLayer],
    views: &Views,
    batch: &DeviceBatch,
    saved: &[PlainSaved],
    mut grad: Tensor,
    ones: &Tensor,
    grads: &mut Grads,
) -> Result<()> {
    for (index, (layer, saved)) in layers.iter().zip(saved).enumerate().rev() {
        let grad_z = match &saved.relu_mask {
            Some(mask) => relu_backward(mask, &grad)?,
            None => grad.clone(),
        };
        let conv_grads = layer.conv.backward(
            &saved.input,
            &grad_z,
            views.conv(&layer.conv),
            ones,
            batch.images,
            index > 0,
        )?;
        let input_grad = grads.conv(&layer.conv, conv_grads);
        if let Some(input_grad) = input_grad {
            grad = if layer.epilogue.residual {
                (input_grad + grad)?
            } else {
                input_grad
            };
        }
    }
    Ok(())
}

/// `tanh(z[.., :p]) * sigmoid(z[.., p:])` and its two factors.
fn gate(z: &Tensor) -> Result<(Tensor, (Tensor, Tensor))> {
    let p = z.dim(1)? / 2;
    let t = z.narrow(1, 0, p)?.tanh()?;
    let s = candle_nn::ops::sigmoid(&z.narrow(1, p, p)?)?;
    Ok(((&t * &s)?, (t, s)))
}

/// The gradient of a gate's input `[n, 2p]` from its factors and its output's gradient.
fn gate_backward((t, s): &(Tensor, Tensor), grad: &Tensor) -> Result<Tensor> {
    let grad_a = ((t.sqr()?.affine(-1.0, 1.0)? * s)? * grad)?;
    let grad_b = (((s.affine(-1.0, 1.0)? * s)? * t)? * grad)?;
    Tensor::cat(&[&grad_a, &grad_b], 1)
}

/// `z` `[n, c]` plus each image's class bias `one_hot @ cond^T` (`cond`: `[c, classes]`).
pub(crate) fn add_class_bias(z: &Tensor, cond: &Tensor, one_hot: &Tensor) -> Result<Tensor> {
    let images = one_hot.dim(0)?;
    let (n, c) = z.dims2()?;
    let bias = one_hot.matmul(&cond.t()?)?.reshape((images, 1, c))?;
    z.reshape((images, n / images.max(1), c))?
        .broadcast_add(&bias)?
        .reshape((n, c))
}

/// The gradient of a class-bias matrix `[c, classes]` from the gradient `[n, c]` it was added
/// to.
fn class_bias_grad(grad: &Tensor, one_hot: &Tensor) -> Result<Tensor> {
    let images = one_hot.dim(0)?;
    let (n, c) = grad.dims2()?;
    let per_image = grad.reshape((images, n / images.max(1), c))?.sum(1)?;
    one_hot.t()?.matmul(&per_image)?.t()?.contiguous()
}

#[derive(Default)]
struct GatedTape {
    layers: Vec<GatedSaved>,
    /// The last horizontal output's ReLU mask, `relu(h)` (out1's input), out1's ReLU mask and
    /// its output (out2's input).
    head: Option<(Tensor, Tensor, Tensor, Tensor)>,
}

fn gated_forward(
    body: &GatedBody,
    views: &Views,
    batch: &DeviceBatch,
    mut tape: Option<&mut GatedTape>,
) -> Result<Tensor> {
    let images = batch.images;
    let x = &batch.pixels;
    let mut v = body.first_v.forward(x, views.conv(&body.first_v), images)?;
    let mut h = body.first_h.forward(x, views.conv(&body.first_h), images)?;
    let last = body.layers.len().saturating_sub(1);
    for (index, layer) in body.layers.iter().enumerate() {
        let vp = layer
            .conv_v
            .forward(&v, views.conv(&layer.conv_v), images)?;
        let link = layer.link.forward(&vp, views.conv(&layer.link), images)?;
        let mut hp = (layer
            .conv_h
            .forward(&h, views.conv(&layer.conv_h), images)?
            + link)?;
        let mut vp_gate_in = vp.clone();
        if let (Some((cond_v, cond_h)), Some(one_hot)) = (layer.cond, batch.one_hot.as_ref()) {
            vp_gate_in = add_class_bias(&vp, views.get(cond_v), one_hot)?;
            hp = add_class_bias(&hp, views.get(cond_h), one_hot)?;
        }
        let (v_next, v_gate) = if index < last {
            let (out, factors) = gate(&vp_gate_in)?;
            (Some(out), Some(factors))
        } else {
            (None, None)
        };
        let (gated, h_gate) = gate(&hp)?;
        let h_next = (layer.res.forward(&gated, views.conv(&layer.res), images)? + &h)?;
        let v_in = std::mem::replace(&mut v, v_next.unwrap_or_else(|| vp.clone()));
        let h_in = std::mem::replace(&mut h, h_next);
        if let Some(tape) = tape.as_deref_mut() {
            tape.layers.push(GatedSaved {
                v_in,
                h_in,
                vp,
                v_gate,
                h_gate,
                gated,
            });
        }
    }
    let keep = tape.is_some();
    let (head_in, mask_h) = relu(&h, keep)?;
    let u = body
        .out1
        .forward(&head_in, views.conv(&body.out1), images)?;
    let (hidden, mask_u) = relu(&u, keep)?;
    let logits = body.out2.forward(&hidden, views.conv(&body.out2), images)?;
    if let (Some(tape), Some(mask_h), Some(mask_u)) = (tape, mask_h, mask_u) {
        tape.head = Some((mask_h, head_in, mask_u, hidden));
    }
    Ok(logits)
}

fn gated_backward(
    body: &GatedBody,
    views: &Views,
    batch: &DeviceBatch,
    tape: GatedTape,
    grad_logits: Tensor,
    ones: &Tensor,
    grads: &mut Grads,
) -> Result<()> {
    let images = batch.images;
    let Some((mask_h, head_in, mask_u, hidden)) = tape.head else {
        candle_core::bail!("the forward pass kept nothing for the backward pass");
    };
    let g = body.out2.backward(
        &hidden,
        &grad_logits,
        views.conv(&body.out2),
        ones,
        images,
        true,
    )?;
    let grad_hidden = grads.conv(&body.out2, g).unwrap_or(grad_logits);
    let grad_u = relu_backward(&mask_u, &grad_hidden)?;
    let g = body.out1.backward(
        &head_in,
        &grad_u,
        views.conv(&body.out1),
        ones,
        images,
        true,
    )?;
    let grad_head_in = grads.conv(&body.out1, g).unwrap_or(grad_u);
    let mut grad_h = relu_backward(&mask_h, &grad_head_in)?;
    let mut grad_v: Option<Tensor> = None;
    for (layer, saved) in body.layers.iter().zip(tape.layers).rev() {
        // h' = h + res(gate(hp)), hp = conv_h(h) + link(vp) (+ cond_h), v' = gate(vp + cond_v).
        let g = layer.res.backward(
            &saved.gated,
            &grad_h,
            views.conv(&layer.res),
            ones,
            images,
            true,
        )?;
        let grad_gated = grads.conv(&layer.res, g).unwrap_or_else(|| grad_h.clone());
        let grad_hp = gate_backward(&saved.h_gate, &grad_gated)?;
        let mut grad_vp_gate = None;
        if let (Some(factors), Some(grad)) = (&saved.v_gate, &grad_v) {
            grad_vp_gate = Some(gate_backward(factors, grad)?);
        }
        if let (Some((cond_v, cond_h)), Some(one_hot)) = (layer.cond, batch.one_hot.as_ref()) {
            grads.set(cond_h, class_bias_grad(&grad_hp, one_hot)?);
            let grad_cond_v = match &grad_vp_gate {
                Some(grad) => class_bias_grad(grad, one_hot)?,
                None => views.get(cond_v).zeros_like()?,
            };
            grads.set(cond_v, grad_cond_v);
        }
        let g = layer.conv_h.backward(
            &saved.h_in,
            &grad_hp,
            views.conv(&layer.conv_h),
            ones,
            images,
            true,
        )?;
        let grad_h_in = grads.conv(&layer.conv_h, g);
        let g = layer.link.backward(
            &saved.vp,
            &grad_hp,
            views.conv(&layer.link),
            ones,
            images,
            true,
        )?;
        let mut grad_vp = grads
            .conv(&layer.link, g)
            .unwrap_or_else(|| grad_hp.clone());
        if let Some(grad) = grad_vp_gate {
            grad_vp = (grad_vp + grad)?;
        }
        let g = layer.conv_v.backward(
            &saved.v_in,
            &grad_vp,
            views.conv(&layer.conv_v),
            ones,
            images,
            true,
        )?;
        grad_v = grads.conv(&layer.conv_v, g);
        if let Some(grad) = grad_h_in {
            grad_h = (grad_h + grad)?;
        }
    }
    let pixels = &batch.pixels;
    if let Some(grad) = grad_v {
        let g = body.first_v.backward(
            pixels,
            &grad,
            views.conv(&body.first_v),
            ones,
            images,
            false,
        )?;
        grads.conv(&body.first_v, g);
    }
    let g = body.first_h.backward(
        pixels,
        &grad_h,
        views.conv(&body.first_h),
        ones,
        images,
        false,
    )?;
    grads.conv(&body.first_h, g);
    Ok(())
}

/// `d mean_bce / d logits = (sigmoid(z) - t) / n`, `[n, 1]`.
fn logits_grad(logits: &Tensor, batch: &DeviceBatch) -> Result<Tensor> {
    let n = logits.dim(0)?.max(1);
    let scale = (1.0 / n as f32) as f64;
    (candle_nn::ops::sigmoid(logits)? - &batch.pixels)?.affine(scale, 0.0)
}

/// Each image's summed `max(z,0) - z*t + ln(1 + e^-|z|)`, in f64, `[images]`.
fn image_losses(logits: &Tensor, batch: &DeviceBatch) -> Result<Tensor> {
    let images = batch.images;
    let z = logits
        .to_dtype(DType::F64)?
        .reshape((images, IMAGE_PIXELS))?;
    let t = batch
        .pixels
        .to_dtype(DType::F64)?
        .reshape((images, IMAGE_PIXELS))?;
    let softplus = z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    ((z.relu()? - (&z * &t)?)? + softplus)?.sum(1)
}
