//! The fast CPU PixelCNN: masked convolutions that compute only their unmasked taps, channels-last,
//! as chunked im2col + GEMM on all cores, with bias and ReLU fused and a hand-written backward.
//!
//! # Shapes
//! Activations are `[batch * 784, channels]` (channels-last, one row per pixel). A layer with taps
//! `T` packs its weight `[out, in, k, k]` as `[T * in, out]`.

use rayon::prelude::*;

use super::config::{LayerSpec, ModelConfig};
use super::gemm::{matmul, MatRef};
use super::params::Params;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};

/// Rows of an im2col chunk: small enough to stay in cache, large enough for an efficient GEMM.
const CHUNK_ROWS: usize = 1024;

/// One layer, its taps and its weights packed for GEMM.
#[derive(Clone, Debug)]
pub(crate) struct LayerPlan {
    pub(crate) spec: LayerSpec,
    /// `(dy, dx)` offsets of the unmasked taps, plus their index in the `k x k` kernel.
    pub(crate) taps: Vec<(isize, isize, usize)>,
    /// `[T * in, out]`.
    pub(crate) packed: Vec<f32>,
    /// `[T * out, in]`: the packed weight transposed per tap, for the input gradient.
    packed_t: Vec<f32>,
    pub(crate) bias: Vec<f32>,
}

impl LayerPlan {
    fn tap_count(&self) -> usize {
        self.taps.len()
    }

    fn is_pointwise(&self) -> bool {
        self.taps.len() == 1 && self.taps[0].0 == 0 && self.taps[0].1 == 0
    }
}

/// Activations kept from the last training forward pass.
#[derive(Debug, Default)]
struct Saved {
    /// `acts[l]` is the input of layer `l`; `acts[layers]` the logits.
    acts: Vec<Vec<f32>>,
    /// For residual ReLU layers, the ReLU output (the residual-free part).
    relu_parts: Vec<Option<Vec<f32>>>,
    batch: usize,
}

/// The fast CPU network. Holds packed weights and reusable activation buffers.
#[derive(Debug)]
pub struct CpuNet {
    layers: Vec<LayerPlan>,
    saved: Saved,
}

impl CpuNet {
    /// A network for `cfg` with the weights of `params`.
    pub fn new(cfg: &ModelConfig, params: &Params) -> CpuNet {
        let layers = cfg
            .layers()
            .into_iter()
            .map(|spec| {
                let mask = spec.mask();
                let centre = (spec.kernel / 2) as isize;
                let taps = (0..spec.kernel * spec.kernel)
                    .filter(|&i| mask.keep[i])
                    .map(|i| {
                        let (row, col) = ((i / spec.kernel) as isize, (i % spec.kernel) as isize);
                        (row - centre, col - centre, i)
                    })
                    .collect();
                LayerPlan {
                    spec,
                    taps,
                    packed: Vec::new(),
                    packed_t: Vec::new(),
                    bias: Vec::new(),
                }
            })
            .collect();
        let mut net = CpuNet {
            layers,
            saved: Saved::default(),
        };
        net.set_params(params);
        net
    }

    /// The layers with their packed weights (for the incremental sampler).
    pub(crate) fn plans(&self) -> &[LayerPlan] {
        &self.layers
    }

    /// Re-packs the weights from `params` (same config).
    pub fn set_params(&mut self, params: &Params) {
        for (index, layer) in self.layers.iter_mut().enumerate() {
            let (weight, bias) = params.layer(index);
            let (cin, cout, kk) = (
                layer.spec.in_channels,
                layer.spec.out_channels,
                layer.spec.kernel * layer.spec.kernel,
            );
            let t_count = layer.taps.len();
            layer.packed = vec![0.0; t_count * cin * cout];
            layer.packed_t = vec![0.0; t_count * cin * cout];
            for (t, &(_, _, k_index)) in layer.taps.iter().enumerate() {
                for c in 0..cin {
                    for o in 0..cout {
                        let w = weight.data[(o * cin + c) * kk + k_index];
                        layer.packed[(t * cin + c) * cout + o] = w;
                        layer.packed_t[(t * cout + o) * cin + c] = w;
                    }
                }
            }
            layer.bias = bias.data.clone();
        }
    }

    /// Logits `[batch * 784]` for binarized images `input` `[batch * 784]`, keeping nothing for backward.
    pub fn forward(&self, input: &[f32]) -> Vec<f32> {
        let mut x = input.to_vec();
        for layer in &self.layers {
            let (y, _) = layer_forward(layer, &x, false);
            x = y;
        }
        x
    }

    /// Mean binary cross-entropy in nats per pixel of `input` `[batch * 784]` (targets = inputs),
    /// without gradients.
    pub fn loss(&self, input: &[f32]) -> f64 {
        let logits = self.forward(input);
        bce_sum(&logits, input) / input.len() as f64
    }

    /// Mean BCE in nats per pixel and its gradients (written into `grads`, same layout as the
    /// params this net was built from).
    pub fn loss_and_grads(&mut self, input: &[f32], grads: &mut Params) -> f64 {
        let pixels = input.len();
        self.forward_train(input);
        let logits = self.saved.acts.last().map(Vec::as_slice).unwrap_or(&[]);
        let loss = bce_sum(logits, input) / pixels as f64;
        let scale = 1.0 / pixels as f32;
        let mut grad_out: Vec<f32> = logits
            .par_iter()
            .zip(input.par_iter())
            .map(|(&z, &t)| (sigmoid(z) - t) * scale)
            .collect();
        for index in (0..self.layers.len()).rev() {
            let layer = &self.layers[index];
            let (weight_grad, bias_grad) = grads.layer_mut(index);
            let need_input_grad = index > 0;
            let x = &self.saved.acts[index];
            let relu_part = self.saved.relu_parts[index]
                .as_deref()
                .unwrap_or(&self.saved.acts[index + 1]);
            grad_out = layer_backward(
                layer,
                x,
                relu_part,
                grad_out,
                &mut weight_grad.data,
                &mut bias_grad.data,
                need_input_grad,
            );
        }
        loss
    }

    fn forward_train(&mut self, input: &[f32]) {
        let layer_count = self.layers.len();
        let saved = &mut self.saved;
        saved.batch = input.len() / IMAGE_PIXELS;
        saved.acts.resize_with(layer_count + 1, Vec::new);
        saved.relu_parts.resize_with(layer_count, || None);
        saved.acts[0].clear();
        saved.acts[0].extend_from_slice(input);
        for (index, layer) in self.layers.iter().enumerate() {
            let keep_relu_part = layer.spec.residual && layer.spec.relu;
            let (y, relu_part) = layer_forward(layer, &saved.acts[index], keep_relu_part);
            saved.acts[index + 1] = y;
            saved.relu_parts[index] = relu_part;
        }
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// Sum over pixels of `max(z,0) - z*t + ln(1 + e^-|z|)`.
pub fn bce_sum(logits: &[f32], targets: &[f32]) -> f64 {
    logits
        .par_chunks(4096)
        .zip(targets.par_chunks(4096))
        .map(|(zs, ts)| {
            zs.iter()
                .zip(ts)
                .map(|(&z, &t)| {
                    let z = z as f64;
                    z.max(0.0) - z * t as f64 + (-z.abs()).exp().ln_1p()
                })
                .sum::<f64>()
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum()
}

/// Copies the taps of rows `row0..row0+rows` of `src` (`[n, channels]`) into `dst`
/// (`[rows, taps * channels]`), zero outside the image. `sign = -1` mirrors the taps (for the
/// transposed convolution of the backward pass).
fn im2col(
    src: &[f32],
    channels: usize,
    taps: &[(isize, isize, usize)],
    sign: isize,
    row0: usize,
    dst: &mut [f32],
) {
    let width = taps.len() * channels;
    let side = IMAGE_SIDE as isize;
    for (r, out_row) in dst.chunks_exact_mut(width).enumerate() {
        let n = row0 + r;
        let image = n / IMAGE_PIXELS;
        let pos = (n % IMAGE_PIXELS) as isize;
        let (y, x) = (pos / side, pos % side);
        for (t, &(dy, dx, _)) in taps.iter().enumerate() {
            let (yy, xx) = (y + sign * dy, x + sign * dx);
            let cell = &mut out_row[t * channels..(t + 1) * channels];
            if (0..side).contains(&yy) && (0..side).contains(&xx) {
                let from = (image * IMAGE_PIXELS + (yy * side + xx) as usize) * channels;
                cell.copy_from_slice(&src[from..from + channels]);
            } else {
                cell.fill(0.0);
            }
        }
    }
}

/// Forward of one layer: `y = [x +] act(conv(x) + b)`. Returns `y` and, if asked, the ReLU part.
fn layer_forward(layer: &LayerPlan, x: &[f32], keep_relu_part: bool) -> (Vec<f32>, Option<Vec<f32>>) {
    let spec = &layer.spec;
    let (cin, cout) = (spec.in_channels, spec.out_channels);
    let n = x.len() / cin;
    let k = layer.tap_count() * cin;
    let mut y = vec![0.0f32; n * cout];
    let mut relu_part = if keep_relu_part {
        Some(vec![0.0f32; n * cout])
    } else {
        None
    };
    let body = |chunk_index: usize, y_chunk: &mut [f32], part_chunk: Option<&mut [f32]>| {
        let row0 = chunk_index * CHUNK_ROWS;
        let rows = y_chunk.len() / cout;
        for row in y_chunk.chunks_exact_mut(cout) {
            row.copy_from_slice(&layer.bias);
        }
        if layer.is_pointwise() {
            let lhs = &x[row0 * cin..(row0 + rows) * cin];
            matmul(
                y_chunk,
                MatRef::row_major(lhs, rows, cin),
                MatRef::row_major(&layer.packed, cin, cout),
                true,
            );
        } else {
            let mut cols = vec![0.0f32; rows * k];
            im2col(x, cin, &layer.taps, 1, row0, &mut cols);
            matmul(
                y_chunk,
                MatRef::row_major(&cols, rows, k),
                MatRef::row_major(&layer.packed, k, cout),
                true,
            );
        }
        if spec.relu {
            for v in y_chunk.iter_mut() {
                *v = v.max(0.0);
            }
        }
        if let Some(part) = part_chunk {
            part.copy_from_slice(y_chunk);
        }
        if spec.residual {
            let x_chunk = &x[row0 * cin..(row0 + rows) * cin];
            for (v, &xi) in y_chunk.iter_mut().zip(x_chunk) {
                *v += xi;
            }
        }
    };
    match relu_part.as_mut() {
        Some(part) => y
            .par_chunks_mut(CHUNK_ROWS * cout)
            .zip(part.par_chunks_mut(CHUNK_ROWS * cout))
            .enumerate()
            .for_each(|(i, (y_chunk, p_chunk))| body(i, y_chunk, Some(p_chunk))),
        None => y
            .par_chunks_mut(CHUNK_ROWS * cout)
            .enumerate()
            .for_each(|(i, y_chunk)| body(i, y_chunk, None)),
    }
    (y, relu_part)
}

/// Backward of one layer. `relu_part` is the layer's ReLU output (for the ReLU derivative),
/// `grad_y` the gradient of its output. Adds nothing: overwrites `weight_grad` (full
/// `[out, in, k, k]` layout, masked taps zero) and `bias_grad`; returns the input gradient
/// (empty if not needed).
fn layer_backward(
    layer: &LayerPlan,
    x: &[f32],
    relu_part: &[f32],
    grad_y: Vec<f32>,
    weight_grad: &mut [f32],
    bias_grad: &mut [f32],
    need_input_grad: bool,
) -> Vec<f32> {
    let spec = &layer.spec;
    let (cin, cout) = (spec.in_channels, spec.out_channels);
    let n = x.len() / cin;
    let t_count = layer.tap_count();
    let k = t_count * cin;

    // dZ: the gradient before the ReLU.
    let grad_z: Vec<f32> = if spec.relu {
        grad_y
            .par_iter()
            .zip(relu_part.par_iter())
            .map(|(&g, &a)| if a > 0.0 { g } else { 0.0 })
            .collect()
    } else {
        grad_y.clone()
    };

    // Weight and bias gradients per chunk of rows, summed in chunk order (deterministic).
    let partials: Vec<(Vec<f32>, Vec<f32>)> = grad_z
        .par_chunks(CHUNK_ROWS * cout)
        .enumerate()
        .map(|(chunk_index, gz)| {
            let row0 = chunk_index * CHUNK_ROWS;
            let rows = gz.len() / cout;
            let mut wg = vec![0.0f32; k * cout];
            let mut bg = vec![0.0f32; cout];
            for row in gz.chunks_exact(cout) {
                bg.iter_mut().zip(row).for_each(|(b, &g)| *b += g);
            }
            if layer.is_pointwise() {
                let xs = &x[row0 * cin..(row0 + rows) * cin];
                matmul(
                    &mut wg,
                    MatRef::transposed(xs, rows, cin),
                    MatRef::row_major(gz, rows, cout),
                    false,
                );
            } else {
                let mut cols = vec![0.0f32; rows * k];
                im2col(x, cin, &layer.taps, 1, row0, &mut cols);
                matmul(
                    &mut wg,
                    MatRef::transposed(&cols, rows, k),
                    MatRef::row_major(gz, rows, cout),
                    false,
                );
            }
            (wg, bg)
        })
        .collect();
    let mut packed_grad = vec![0.0f32; k * cout];
    let mut bias_sum = vec![0.0f32; cout];
    for (wg, bg) in &partials {
        packed_grad.iter_mut().zip(wg).for_each(|(a, b)| *a += b);
        bias_sum.iter_mut().zip(bg).for_each(|(a, b)| *a += b);
    }
    weight_grad.fill(0.0);
    let kk = spec.kernel * spec.kernel;
    for (t, &(_, _, k_index)) in layer.taps.iter().enumerate() {
        for c in 0..cin {
            for o in 0..cout {
                weight_grad[(o * cin + c) * kk + k_index] = packed_grad[(t * cin + c) * cout + o];
            }
        }
    }
    bias_grad.copy_from_slice(&bias_sum);

    if !need_input_grad {
        return Vec::new();
    }
    // dX = conv^T(dZ) [+ dY for the residual path].
    let mut grad_x = vec![0.0f32; n * cin];
    let kt = t_count * cout;
    grad_x
        .par_chunks_mut(CHUNK_ROWS * cin)
        .enumerate()
        .for_each(|(chunk_index, gx)| {
            let row0 = chunk_index * CHUNK_ROWS;
            let rows = gx.len() / cin;
            if layer.is_pointwise() {
                let gz = &grad_z[row0 * cout..(row0 + rows) * cout];
                matmul(
                    gx,
                    MatRef::row_major(gz, rows, cout),
                    MatRef::row_major(&layer.packed_t, cout, cin),
                    false,
                );
            } else {
                let mut cols = vec![0.0f32; rows * kt];
                im2col(&grad_z, cout, &layer.taps, -1, row0, &mut cols);
                matmul(
                    gx,
                    MatRef::row_major(&cols, rows, kt),
                    MatRef::row_major(&layer.packed_t, kt, cin),
                    false,
                );
            }
            if spec.residual {
                let gy = &grad_y[row0 * cout..(row0 + rows) * cout];
                gx.iter_mut().zip(gy).for_each(|(a, b)| *a += b);
            }
        });
    grad_x
}
