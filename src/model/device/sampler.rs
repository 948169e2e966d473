//! Sampling on a candle device with the fast sampler's caches: every layer's activation at every
//! position is computed once, when its position comes up (by causality all it reads is final
//! then), instead of 784 full forward passes. Each layer keeps its input as a `[images, 784, c]`
//! device tensor that fills as the pixels are drawn; a layer at one position is one gather of
//! its taps from that cache and one small matmul
//! ([`super::conv::DeviceConv::at_positions`]).
//!
//! - Plain family: every layer, pixel by pixel.
//! - Gated family: the vertical stack a whole image row at a time (it reads only rows above),
//!   the horizontal stack and the head pixel by pixel.
//!
//! The uniforms are drawn on the host in the CPU samplers' order (image row by image row; within
//! a row, position by position, one per image in image order) and uploaded once per row, and a
//! pixel is 1 when `u < sigmoid(logit)`: the same RNG gives the same pixels as
//! [`crate::model::sample_fast`] wherever the two agree on the probabilities. The canvas comes
//! back once per row, for the progress callback.
//!
//! With a [`SampleStyle`] ([`sample_device_styled`]) the logit is divided by the temperature and,
//! with guidance, combined with the logit under the "no label" class: the caches then hold every
//! image twice (its label, then "no label"), both copies reading the same drawn pixels.

use std::ops::ControlFlow;

use candle_core::{DType, Result, Tensor};
use rand::Rng;

use super::net::{add_class_bias, Body, DeviceNet, GatedBody, PlainLayer, Views};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::arch::config::NO_LABEL;
use crate::model::arch::epilogue::Epilogue;
use crate::model::sample::{SampleGrid, SampleStyle};

/// Draws `count` images on `net`'s device; `labels` (one digit per image) are read by a
/// conditional model. `control` sees the canvas after each image row and may stop the drawing
/// there (the grid returned is then partial, `pixels_done < 784`). Returns the grid and, per
/// drawn pixel, the probability used (`[pixels_done, count]`, pixel-major).
pub fn sample_device<R: Rng>(
    net: &DeviceNet,
    count: usize,
    labels: &[u8],
    rng: &mut R,
    control: &mut dyn FnMut(&SampleGrid) -> ControlFlow<()>,
) -> Result<(SampleGrid, Vec<f32>)> {
    sample_device_styled(net, count, labels, SampleStyle::PLAIN, rng, control)
}

/// [`sample_device`] drawing with `style` (the same draws; the probabilities of
/// [`SampleStyle::logit`]).
pub fn sample_device_styled<R: Rng>(
    net: &DeviceNet,
    count: usize,
    labels: &[u8],
    style: SampleStyle,
    rng: &mut R,
    control: &mut dyn FnMut(&SampleGrid) -> ControlFlow<()>,
) -> Result<(SampleGrid, Vec<f32>)> {
    let mut grid = SampleGrid::blank(count);
    if count == 0 {
        return Ok((grid, Vec::new()));
    }
    let device = net.device();
    let views = net.views()?;
    // Guided: every image twice, under its label then under "no label", on one canvas each.
    let copies = if style.is_guided() { 2 } else { 1 };
    let rows = copies * count;
    let canvas = Tensor::zeros((rows, IMAGE_PIXELS, 1), DType::F32, device)?;
    let probs = Tensor::zeros((count, IMAGE_PIXELS), DType::F32, device)?;
    let mut all_labels: Vec<u8> = (0..count)
        .map(|i| labels.get(i).copied().unwrap_or(0))
        .collect();
    if style.is_guided() {
        all_labels.extend(std::iter::repeat_n(NO_LABEL, count));
    }
    let one_hot = net.one_hot(&all_labels, rows)?;
    let mut state = match &net.body {
        Body::Plain(layers) => State::Plain(PlainState::new(layers, rows, device)?),
        Body::Gated(body) => State::Gated(GatedState::new(body, rows, device)?),
    };
    let mut rows_done = 0;
    for row in 0..IMAGE_SIDE {
        // The CPU samplers' draw order: position by position, image by image.
        let mut uniforms = vec![0f32; count * IMAGE_SIDE];
        for col in 0..IMAGE_SIDE {
            for image in 0..count {
                uniforms[image * IMAGE_SIDE + col] = rng.random::<f32>();
            }
        }
        let uniforms = Tensor::from_vec(uniforms, (count, IMAGE_SIDE), device)?;
        if let State::Gated(gated) = &mut state {
            if let Body::Gated(body) = &net.body {
                gated.vertical_row(body, &views, &canvas, one_hot.as_ref(), row)?;
            }
        }
        for col in 0..IMAGE_SIDE {
            let pos = row * IMAGE_SIDE + col;
            let logits = match (&mut state, &net.body) {
                (State::Plain(plain), Body::Plain(layers)) => {
                    plain.pixel(layers, &views, &canvas, pos)?
                }
                (State::Gated(gated), Body::Gated(body)) => {
                    gated.pixel(body, &views, &canvas, pos)?
                }
                _ => candle_core::bail!("the sampler's state does not match the model family"),
            };
            let p = candle_nn::ops::sigmoid(&styled_logits(&logits, style, count)?)?; // [count, 1]
            let pixel = uniforms.narrow(1, col, 1)?.lt(&p)?.to_dtype(DType::F32)?;
            let pixel = pixel.reshape((count, 1, 1))?;
            let pixel = if copies == 2 {
                Tensor::cat(&[&pixel, &pixel], 0)?
            } else {
                pixel
            };
            canvas.slice_set(&pixel, 1, pos)?;
            probs.slice_set(&p.contiguous()?, 1, pos)?;
        }
        let pixels: Vec<f32> = canvas.narrow(0, 0, count)?.flatten_all()?.to_vec1()?;
        grid.pixels.copy_from_slice(&pixels);
        grid.pixels_done = (row + 1) * IMAGE_SIDE;
        rows_done = row + 1;
        if control(&grid).is_break() {
            break;
        }
    }
    let done = rows_done * IMAGE_SIDE;
    let by_image: Vec<f32> = probs.flatten_all()?.to_vec1()?;
    let mut pixel_major = Vec::with_capacity(done * count);
    for pos in 0..done {
        pixel_major.extend((0..count).map(|image| by_image[image * IMAGE_PIXELS + pos]));
    }
    Ok((grid, pixel_major))
}

/// The logits a pixel is drawn from (`[count, 1]`) from the network's (`[copies * count, 1]`):
/// [`SampleStyle::logit`] as tensor arithmetic, in the same order.
fn styled_logits(logits: &Tensor, style: SampleStyle, count: usize) -> Result<Tensor> {
    let conditional = logits.narrow(0, 0, count)?;
    let guided = if style.is_guided() {
        let unconditional = logits.narrow(0, count, count)?;
        let scale = Tensor::new(&[style.guidance], logits.device())?;
        (&unconditional + (&conditional - &unconditional)?.broadcast_mul(&scale)?)?
    } else {
        conditional
    };
    if style.temperature == 1.0 {
        return Ok(guided);
    }
    let temperature = Tensor::new(&[style.temperature], logits.device())?;
    guided.broadcast_div(&temperature)
}

enum State {
    Plain(PlainState),
    Gated(GatedState),
}

/// The plain sampler's caches: `inputs[l]`, the input of layer `l` (`[count, 784, c]`) for the
/// layers that read neighbours (`None` for a 1x1 layer or layer 0, which reads the canvas).
struct PlainState {
    inputs: Vec<Option<Tensor>>,
    count: usize,
}

impl PlainState {
    fn new(layers: &[PlainLayer], count: usize, device: &candle_core::Device) -> Result<Self> {
        let inputs = layers
            .iter()
            .enumerate()
            .map(|(index, layer)| {
                if index == 0 || !layer.conv.reads_neighbours() {
                    Ok(None)
                } else {
                    Tensor::zeros(
                        (count, IMAGE_PIXELS, layer.conv.in_channels),
                        DType::F32,
                        device,
                    )
                    .map(Some)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PlainState { inputs, count })
    }

    /// Every layer at position `pos`; the logits `[count, 1]`.
    fn pixel(
        &mut self,
        layers: &[PlainLayer],
        views: &Views,
        canvas: &Tensor,
        pos: usize,
    ) -> Result<Tensor> {
        let count = self.count;
        // The previous layer's output at `pos` (the next layer's input and residual).
        let mut out: Option<Tensor> = None;
        for (layer, cache) in layers.iter().zip(&self.inputs) {
            let weights = views.conv(&layer.conv);
            let pre = match (&out, cache) {
                (None, _) => layer.conv.at_positions(canvas, weights, pos, 1)?,
                (Some(input), Some(cache)) => {
                    let channels = layer.conv.in_channels;
                    cache.slice_set(&input.reshape((count, 1, channels))?, 1, pos)?;
                    layer.conv.at_positions(cache, weights, pos, 1)?
                }
                (Some(input), None) => layer.conv.forward(input, weights, count)?,
            };
            out = Some(layer.epilogue.apply_tensor(&pre, None, out.as_ref())?);
        }
        out.ok_or_else(|| candle_core::Error::Msg("the model has no layers".into()))
    }
}

/// The gated sampler's caches.
struct GatedState {
    count: usize,
    /// `v_inputs[l]`: the vertical input of gated layer `l`, `[count, 784, p]`.
    v_inputs: Vec<Tensor>,
    /// `h_inputs[l]`: the horizontal input of gated layer `l`, `[count, 784, p]`.
    h_inputs: Vec<Tensor>,
    /// Per gated layer, `link(vp) (+ cond_h)` of the current row, `[count, 28, 2p]`.
    link_rows: Vec<Tensor>,
}

impl GatedState {
    fn new(body: &GatedBody, count: usize, device: &candle_core::Device) -> Result<Self> {
        let p = body.maps;
        let cache = || Tensor::zeros((count, IMAGE_PIXELS, p), DType::F32, device);
        let layers = body.layers.len();
        Ok(GatedState {
            count,
            v_inputs: (0..layers).map(|_| cache()).collect::<Result<_>>()?,
            h_inputs: (0..layers).map(|_| cache()).collect::<Result<_>>()?,
            link_rows: Vec::new(),
        })
    }

    /// The vertical stack and the link products of image row `row`.
    fn vertical_row(
        &mut self,
        body: &GatedBody,
        views: &Views,
        canvas: &Tensor,
        one_hot: Option<&Tensor>,
        row: usize,
    ) -> Result<()> {
        let (count, p) = (self.count, body.maps);
        let first = row * IMAGE_SIDE;
        let mut v =
            body.first_v
                .at_positions(canvas, views.conv(&body.first_v), first, IMAGE_SIDE)?; // [count * 28, p]
        self.link_rows.clear();
        let last = body.layers.len().saturating_sub(1);
        for (index, layer) in body.layers.iter().enumerate() {
            let cache = &self.v_inputs[index];
            cache.slice_set(&v.reshape((count, IMAGE_SIDE, p))?, 1, first)?;
            let vp =
                layer
                    .conv_v
                    .at_positions(cache, views.conv(&layer.conv_v), first, IMAGE_SIDE)?;
            let mut link = layer.link.forward(&vp, views.conv(&layer.link), count)?;
            let mut vp_gate_in = vp;
            if let (Some((cond_v, cond_h)), Some(one_hot)) = (layer.cond, one_hot) {
                link = add_class_bias(&link, views.get(cond_h), one_hot)?;
                vp_gate_in = add_class_bias(&vp_gate_in, views.get(cond_v), one_hot)?;
            }
            self.link_rows
                .push(link.reshape((count, IMAGE_SIDE, 2 * p))?);
            if index < last {
                v = Epilogue::GATE.apply_tensor(&vp_gate_in, None, None)?;
            }
        }
        Ok(())
    }

    /// The horizontal stack and the head at position `pos`; the logits `[count, 1]`.
    fn pixel(
        &mut self,
        body: &GatedBody,
        views: &Views,
        canvas: &Tensor,
        pos: usize,
    ) -> Result<Tensor> {
        let (count, p) = (self.count, body.maps);
        let col = pos % IMAGE_SIDE;
        let mut h = body
            .first_h
            .at_positions(canvas, views.conv(&body.first_h), pos, 1)?;
        for (index, layer) in body.layers.iter().enumerate() {
            let cache = &self.h_inputs[index];
            cache.slice_set(&h.reshape((count, 1, p))?, 1, pos)?;
            let link = self.link_rows[index].narrow(1, col, 1)?.squeeze(1)?;
            let hp = (layer
                .conv_h
                .at_positions(cache, views.conv(&layer.conv_h), pos, 1)?
                + link)?;
            let gated = Epilogue::GATE.apply_tensor(&hp, None, None)?;
            h = (layer.res.forward(&gated, views.conv(&layer.res), count)? + &h)?;
        }
        let hidden = body
            .out1
            .forward(&h.relu()?, views.conv(&body.out1), count)?
            .relu()?;
        body.out2.forward(&hidden, views.conv(&body.out2), count)
    }
}
