//! The fast CPU PixelCNN: masked convolutions that compute only their unmasked taps, channels-last,
//! as chunked im2col + GEMM on all cores, with bias and ReLU fused and a hand-written backward.
//! Activations, gradients and im2col scratch live in buffers reused from step to step.
//!
//! # Shapes
//! Activations are `[batch * 784, channels]` (channels-last, one row per pixel). A layer with taps
//! `T` packs its weight `[out, in, k, k]` as `[T * in, out]`.

use std::cell::RefCell;
use std::sync::Mutex;

use rayon::prelude::*;

use super::config::{LayerSpec, ModelConfig};
use super::gemm::{matmul, MatRef};
use super::params::Params;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};

/// Rows of an im2col chunk: small enough to stay in cache (252 x 320 values: 315 KiB), large
/// enough for an efficient GEMM, and a multiple of the GEMM tile's 6 rows.
const CHUNK_ROWS: usize = 252;

/// Largest pair of evaluation buffers kept between calls (in values: 256 MiB).
const MAX_KEPT_EVAL_VALUES: usize = 64 << 20;

/// Row groups of the weight-gradient sum: fixed, so the sum's grouping never depends on threads.
const DW_GROUPS: usize = 16;

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

/// Buffers reused from one training step to the next (allocating and zeroing tens of MiB per
/// step cost as much as the arithmetic).
#[derive(Debug, Default)]
struct Workspace {
    /// `acts[l]` is the input of layer `l`; `acts[layers]` the logits.
    acts: Vec<Vec<f32>>,
    /// For residual ReLU layers, the ReLU output (the residual-free part); empty otherwise.
    relu_parts: Vec<Vec<f32>>,
    /// Gradient of the current layer's output, then (swapped) of its input.
    grad_y: Vec<f32>,
    grad_x: Vec<f32>,
    /// Gradient before the ReLU.
    grad_z: Vec<f32>,
    /// Per-group weight gradient partials.
    partials: Vec<f32>,
    /// Per-group bias gradient partials.
    bias_partials_f64: Vec<f64>,
    /// The packed weight gradient `[T * in, out]` of the current layer.
    packed_grad: Vec<f32>,
}

/// The fast CPU network. Holds packed weights and reusable activation buffers.
#[derive(Debug)]
pub struct CpuNet {
    layers: Vec<LayerPlan>,
    work: Workspace,
    /// Two ping-pong activation buffers for [`CpuNet::forward`] (taken while in use, so a
    /// concurrent caller just allocates its own).
    eval_buffers: Mutex<(Vec<f32>, Vec<f32>)>,
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
            work: Workspace::default(),
            eval_buffers: Mutex::new((Vec::new(), Vec::new())),
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
            layer.packed.clear();
            layer.packed.resize(t_count * cin * cout, 0.0);
            layer.packed_t.clear();
            layer.packed_t.resize(t_count * cin * cout, 0.0);
            for (t, &(_, _, k_index)) in layer.taps.iter().enumerate() {
                for c in 0..cin {
                    for o in 0..cout {
                        let w = weight.data[(o * cin + c) * kk + k_index];
                        layer.packed[(t * cin + c) * cout + o] = w;
                        layer.packed_t[(t * cout + o) * cin + c] = w;
                    }
                }
            }
            layer.bias.clear();
            layer.bias.extend_from_slice(&bias.data);
        }
    }

    /// Logits `[batch * 784]` for binarized images `input` `[batch * 784]`, keeping nothing for backward.
    pub fn forward(&self, input: &[f32]) -> Vec<f32> {
        let (mut a, mut b) = self
            .eval_buffers
            .lock()
            .map(|mut guard| std::mem::take(&mut *guard))
            .unwrap_or_default();
        let mut current: &[f32] = input;
        let mut logits = Vec::new();
        for (index, layer) in self.layers.iter().enumerate() {
            let n = current.len() / layer.spec.in_channels;
            let out_len = n * layer.spec.out_channels;
            if index + 1 == self.layers.len() {
                logits.resize(out_len, 0.0);
                layer_forward(layer, current, &mut logits, None);
                break;
            }
            layer_forward(layer, current, resize_for_overwrite(&mut a, out_len), None);
            std::mem::swap(&mut a, &mut b);
            current = &b[..out_len];
        }
        // Keep them for the next call unless a huge batch made them huge.
        if a.capacity() + b.capacity() <= MAX_KEPT_EVAL_VALUES {
            if let Ok(mut guard) = self.eval_buffers.lock() {
                *guard = (a, b);
            }
        }
        logits
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
        let work = &mut self.work;
        let logits = work.acts.last().map(Vec::as_slice).unwrap_or(&[]);
        let loss = bce_sum(logits, input) / pixels as f64;
        let scale = 1.0 / pixels as f32;
        resize_for_overwrite(&mut work.grad_y, pixels)
            .par_chunks_mut(4096)
            .zip(logits.par_chunks(4096).zip(input.par_chunks(4096)))
            .for_each(|(g, (zs, ts))| {
                for ((g, &z), &t) in g.iter_mut().zip(zs).zip(ts) {
                    *g = (sigmoid(z) - t) * scale;
                }
            });
        for index in (0..self.layers.len()).rev() {
            let layer = &self.layers[index];
            let (weight_grad, bias_grad) = grads.layer_mut(index);
            // A plain (non-residual) ReLU below this layer takes its derivative here, fused
            // into the input gradient, instead of in a pass of its own.
            let below_masks = index > 0 && {
                let below = &self.layers[index - 1].spec;
                below.relu && !below.residual
            };
            // ... which the layer above did for this one.
            let grad_is_masked =
                layer.spec.relu && !layer.spec.residual && index + 1 < self.layers.len();
            let flags = BackwardFlags {
                need_input_grad: index > 0,
                grad_is_masked,
                mask_input_grad: below_masks,
            };
            layer_backward(
                layer,
                index,
                work,
                &mut weight_grad.data,
                &mut bias_grad.data,
                flags,
            );
            std::mem::swap(&mut work.grad_y, &mut work.grad_x);
        }
        loss
    }

    fn forward_train(&mut self, input: &[f32]) {
        let layer_count = self.layers.len();
        let work = &mut self.work;
        work.acts.resize_with(layer_count + 1, Vec::new);
        work.relu_parts.resize_with(layer_count, Vec::new);
        work.acts[0].clear();
        work.acts[0].extend_from_slice(input);
        let n = input.len() / IMAGE_PIXELS * IMAGE_PIXELS;
        for (index, layer) in self.layers.iter().enumerate() {
            let keep_relu_part = layer.spec.residual && layer.spec.relu;
            let out_len = n * layer.spec.out_channels;
            let (done, rest) = work.acts.split_at_mut(index + 1);
            let y = &mut rest[0];
            y.resize(out_len, 0.0);
            let part = &mut work.relu_parts[index];
            if keep_relu_part {
                layer_forward(
                    layer,
                    &done[index],
                    y,
                    Some(resize_for_overwrite(part, out_len)),
                );
            } else {
                layer_forward(layer, &done[index], y, None);
            }
        }
    }
}

/// Makes `buffer` at least `len` long and returns its first `len` values, contents unspecified
/// (the caller overwrites them all). Never shrinks, so buffers that alternate between sizes
/// (the gradients of 1- and 64-channel layers) are not zero-filled again each time.
fn resize_for_overwrite(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

thread_local! {
    /// im2col scratch of the current worker thread, reused across chunks, layers and steps.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `body` with a scratch slice of `len` values (contents unspecified).
fn with_scratch<T>(len: usize, body: impl FnOnce(&mut [f32]) -> T) -> T {
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        if scratch.len() < len {
            scratch.resize(len, 0.0);
        }
        body(&mut scratch[..len])
    })
}

/// Rows `row0..row0 + rows` of a layer's input as GEMM operand `[rows, width]`: the input
/// itself for a 1x1 layer, else its im2col columns (in the thread's scratch).
fn with_layer_input<T>(
    layer: &LayerPlan,
    x: &[f32],
    row0: usize,
    rows: usize,
    body: impl FnOnce(&[f32], usize) -> T,
) -> T {
    let cin = layer.spec.in_channels;
    if layer.is_pointwise() {
        return body(&x[row0 * cin..(row0 + rows) * cin], cin);
    }
    let width = layer.tap_count() * cin;
    with_scratch(rows * width, |cols| {
        im2col(x, cin, &layer.taps, 1, row0, cols);
        body(cols, width)
    })
}

/// `max(z, 0)` that remembers which side of the kink it came from: `+0.0` for `z == 0` (the
/// reference's ReLU passes the gradient there: its derivative is `z >= 0`), `-0.0` for `z < 0`.
/// A `-0.0` input adds nothing to the next layer's sums (they start from `+0.0`), so values are
/// exactly those of `max(z, 0)`; the backward pass reads the sign bit as the derivative.
fn relu_keeping_sign(z: f32) -> f32 {
    if z >= 0.0 {
        z + 0.0
    } else {
        -0.0
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
        let image_base = image * IMAGE_PIXELS;
        if channels == 1 {
            // One value per tap (the first layer): a plain store, not a copy call.
            for (cell, &(dy, dx, _)) in out_row.iter_mut().zip(taps) {
                let (yy, xx) = (y + sign * dy, x + sign * dx);
                *cell = if (0..side).contains(&yy) && (0..side).contains(&xx) {
                    src[image_base + (yy * side + xx) as usize]
                } else {
                    0.0
                };
            }
            continue;
        }
        for (cell, &(dy, dx, _)) in out_row.chunks_exact_mut(channels).zip(taps) {
            let (yy, xx) = (y + sign * dy, x + sign * dx);
            if (0..side).contains(&yy) && (0..side).contains(&xx) {
                let from = (image_base + (yy * side + xx) as usize) * channels;
                copy_channels(cell, &src[from..from + channels]);
            } else {
                cell.fill(0.0);
            }
        }
    }
}

/// `dst.copy_from_slice(src)`, in fixed 16-value pieces when the length allows: a few vector
/// moves instead of a `memmove` call per tap (channel counts are usually multiples of 16).
#[inline]
fn copy_channels(dst: &mut [f32], src: &[f32]) {
    if dst.len().is_multiple_of(16) {
        for (d, s) in dst.chunks_exact_mut(16).zip(src.chunks_exact(16)) {
            // Fixed-size arrays, so the copy is inlined rather than a call.
            if let (Ok(d), Ok(s)) = (<&mut [f32; 16]>::try_from(d), <&[f32; 16]>::try_from(s)) {
                *d = *s;
            }
        }
    } else {
        dst.copy_from_slice(src);
    }
}

/// Forward of one layer into `y` (`[n, out]`): `y = [x +] act(conv(x) + b)`, and the ReLU part
/// into `relu_part` if given.
fn layer_forward(layer: &LayerPlan, x: &[f32], y: &mut [f32], relu_part: Option<&mut [f32]>) {
    let spec = &layer.spec;
    let (cin, cout) = (spec.in_channels, spec.out_channels);
    let body = |chunk_index: usize, y_chunk: &mut [f32], part_chunk: Option<&mut [f32]>| {
        let row0 = chunk_index * CHUNK_ROWS;
        let rows = y_chunk.len() / cout;
        with_layer_input(layer, x, row0, rows, |lhs, width| {
            matmul(
                y_chunk,
                MatRef::row_major(lhs, rows, width),
                MatRef::row_major(&layer.packed, width, cout),
                false,
            );
        });
        // Bias (and ReLU) in one pass over the fresh product.
        for row in y_chunk.chunks_exact_mut(cout) {
            if spec.relu {
                for (v, &b) in row.iter_mut().zip(&layer.bias) {
                    *v = relu_keeping_sign(*v + b);
                }
            } else {
                for (v, &b) in row.iter_mut().zip(&layer.bias) {
                    *v += b;
                }
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
    match relu_part {
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
}

/// What one layer's backward pass computes besides its weight and bias gradients.
#[derive(Clone, Copy, Debug)]
struct BackwardFlags {
    /// Write the input gradient (not for the first layer).
    need_input_grad: bool,
    /// `work.grad_y` already has this layer's ReLU derivative applied (by the layer above).
    grad_is_masked: bool,
    /// Apply the ReLU derivative of the layer below to the input gradient.
    mask_input_grad: bool,
}

/// Backward of layer `index`. Reads the layer's input and output from `work.acts`, the gradient
/// of its output from `work.grad_y`; overwrites `weight_grad` (full `[out, in, k, k]` layout,
/// masked taps zero) and `bias_grad`, and, if `need_input_grad`, writes the input gradient
/// into `work.grad_x`.
///
/// The weight gradient is a sum over all rows; rows are split into a fixed number of groups
/// (a function of the batch size only), each summed in row order, and the groups are added in
/// order: the result does not depend on thread scheduling.
fn layer_backward(
    layer: &LayerPlan,
    index: usize,
    work: &mut Workspace,
    weight_grad: &mut [f32],
    bias_grad: &mut [f32],
    flags: BackwardFlags,
) {
    let BackwardFlags {
        need_input_grad,
        grad_is_masked,
        mask_input_grad,
    } = flags;
    let spec = &layer.spec;
    let (cin, cout) = (spec.in_channels, spec.out_channels);
    let x = &work.acts[index];
    let n = x.len() / cin;
    let t_count = layer.tap_count();
    let k = t_count * cin;
    let grad_y = &work.grad_y[..n * cout];

    // dZ: the gradient before the ReLU.
    let grad_z: &[f32] = if spec.relu && !grad_is_masked {
        let relu_part: &[f32] = if spec.residual {
            &work.relu_parts[index][..n * cout]
        } else {
            &work.acts[index + 1]
        };
        resize_for_overwrite(&mut work.grad_z, n * cout)
            .par_chunks_mut(CHUNK_ROWS * cout)
            .zip(grad_y.par_chunks(CHUNK_ROWS * cout))
            .zip(relu_part.par_chunks(CHUNK_ROWS * cout))
            .for_each(|((gz, gy), a)| {
                for ((z, &g), &a) in gz.iter_mut().zip(gy).zip(a) {
                    *z = if a.is_sign_positive() { g } else { 0.0 };
                }
            });
        &work.grad_z[..n * cout]
    } else {
        grad_y
    };

    // Weight and bias gradients per group of chunks, summed in group order (deterministic).
    let chunk_count = n.div_ceil(CHUNK_ROWS);
    let groups = DW_GROUPS.min(chunk_count).max(1);
    work.bias_partials_f64.clear();
    work.bias_partials_f64.resize(groups * cout, 0.0);
    let partial_len = k * cout;
    // Bias gradients: each chunk summed in f32, chunks and groups added in f64 (a bias gradient
    // is a sum over every pixel of the batch, where f32 alone loses digits).
    resize_for_overwrite(&mut work.partials, groups * partial_len)
        .par_chunks_mut(partial_len)
        .zip(work.bias_partials_f64[..].par_chunks_mut(cout))
        .enumerate()
        .for_each(|(group, (wg, bias_sum))| {
            bias_sum.fill(0.0);
            let mut chunk_sum = vec![0.0f32; cout];
            let (first, last) = (
                group * chunk_count / groups,
                (group + 1) * chunk_count / groups,
            );
            if first == last {
                wg.fill(0.0);
            }
            for chunk_index in first..last {
                let row0 = chunk_index * CHUNK_ROWS;
                let rows = CHUNK_ROWS.min(n - row0);
                let gz = &grad_z[row0 * cout..(row0 + rows) * cout];
                chunk_sum.fill(0.0);
                for row in gz.chunks_exact(cout) {
                    chunk_sum.iter_mut().zip(row).for_each(|(b, &g)| *b += g);
                }
                bias_sum
                    .iter_mut()
                    .zip(&chunk_sum)
                    .for_each(|(b, &g)| *b += f64::from(g));
                let accumulate = chunk_index > first;
                with_layer_input(layer, x, row0, rows, |lhs, width| {
                    matmul(
                        wg,
                        MatRef::transposed(lhs, rows, width),
                        MatRef::row_major(gz, rows, cout),
                        accumulate,
                    );
                });
            }
        });
    let packed_grad = &mut work.packed_grad;
    packed_grad.clear();
    packed_grad.resize(k * cout, 0.0);
    for wg in work.partials[..groups * partial_len].chunks_exact(partial_len) {
        packed_grad.iter_mut().zip(wg).for_each(|(a, b)| *a += b);
    }
    for (o, b) in bias_grad.iter_mut().enumerate() {
        let sum: f64 = (0..groups)
            .map(|g| work.bias_partials_f64[g * cout + o])
            .sum();
        *b = sum as f32;
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

    if !need_input_grad {
        return;
    }
    // dX = conv^T(dZ) [+ dY for the residual path].
    let kt = t_count * cout;
    resize_for_overwrite(&mut work.grad_x, n * cin)
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
                with_scratch(rows * kt, |cols| {
                    im2col(grad_z, cout, &layer.taps, -1, row0, cols);
                    matmul(
                        gx,
                        MatRef::row_major(cols, rows, kt),
                        MatRef::row_major(&layer.packed_t, kt, cin),
                        false,
                    );
                });
            }
            if spec.residual {
                let gy = &grad_y[row0 * cout..(row0 + rows) * cout];
                gx.iter_mut().zip(gy).for_each(|(a, b)| *a += b);
            }
            if mask_input_grad {
                // The input is the ReLU output of the layer below: its derivative.
                let xs = &x[row0 * cin..(row0 + rows) * cin];
                gx.iter_mut().zip(xs).for_each(|(g, &a)| {
                    *g = if a.is_sign_positive() { *g } else { 0.0 };
                });
            }
        });
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// The trainer promises bit-identical resumes: the gradients may not depend on how many
    /// threads share the work.
    #[test]
    fn gradients_are_bit_identical_whatever_the_thread_count() {
        let cfg = ModelConfig {
            feature_maps: 16,
            ..ModelConfig::seed()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let params = Params::init(&cfg, &mut rng);
        let input: Vec<f32> = (0..5 * IMAGE_PIXELS)
            .map(|_| if rng.random::<f32>() < 0.2 { 1.0 } else { 0.0 })
            .collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut net = CpuNet::new(&cfg, &params);
                let mut grads = params.zeros_like();
                let loss = net.loss_and_grads(&input, &mut grads);
                (loss, grads, net.forward(&input))
            })
        };
        let one = run(1);
        for threads in [2, 3] {
            assert!(run(threads) == one, "{threads} threads changed the result");
        }
    }
}
