//! One convolution's arithmetic on channels-last activations, shared by the plain and the gated
//! fast networks: only the used taps are computed, as chunked im2col + GEMM; the backward pass
//! gives the weight and bias gradients (summed in a fixed grouping, so they are bit-identical
//! whatever the thread count) and the input gradient (the transposed convolution).
//!
//! # Shapes
//! Activations are `[n, channels]` with `n = images * 784` (one row per pixel). A convolution
//! with `T` used taps packs its weight `[out, in, kh, kw]` as `[T * in, out]`.

use std::cell::RefCell;

use rayon::prelude::*;

use super::gemm::{matmul, MatRef};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::arch::conv_spec::{ConvSpec, Tap};
use crate::model::arch::params::ConvParams;

/// Rows of an im2col chunk: small enough to stay in cache (252 x 320 values: 315 KiB), large
/// enough for an efficient GEMM, and a multiple of the GEMM tile's 6 rows.
pub(crate) const CHUNK_ROWS: usize = 252;

/// Row groups of the weight-gradient sum: fixed, so the sum's grouping never depends on threads.
const DW_GROUPS: usize = 16;

/// A convolution with its weight packed for GEMM.
#[derive(Clone, Debug)]
pub(crate) struct ConvOp {
    pub(crate) spec: ConvSpec,
    /// `[T * in, out]`.
    pub(crate) packed: Vec<f32>,
    /// `[T * out, in]`: the packed weight transposed per tap, for the input gradient.
    packed_t: Vec<f32>,
    /// `[out]`.
    pub(crate) bias: Vec<f32>,
}

/// Buffers of the weight-gradient sums, reused from step to step.
#[derive(Debug, Default)]
pub(crate) struct GradScratch {
    /// Per-group weight gradient partials.
    partials: Vec<f32>,
    /// Per-group bias gradient partials.
    bias_partials: Vec<f64>,
    /// The packed weight gradient `[T * in, out]`.
    packed_grad: Vec<f32>,
}

impl ConvOp {
    /// The convolution `spec` with the weights of `params`.
    pub(crate) fn new(spec: ConvSpec, params: ConvParams<'_>) -> ConvOp {
        let mut op = ConvOp {
            spec,
            packed: Vec::new(),
            packed_t: Vec::new(),
            bias: Vec::new(),
        };
        op.set_weights(params);
        op
    }

    /// Re-packs the weights (same shape).
    pub(crate) fn set_weights(&mut self, params: ConvParams<'_>) {
        let (cin, cout, area) = (
            self.spec.in_channels,
            self.spec.out_channels,
            self.spec.kernel_area(),
        );
        let t_count = self.spec.taps.len();
        self.packed.clear();
        self.packed.resize(t_count * cin * cout, 0.0);
        self.packed_t.clear();
        self.packed_t.resize(t_count * cin * cout, 0.0);
        for (t, tap) in self.spec.taps.iter().enumerate() {
            for c in 0..cin {
                for o in 0..cout {
                    let w = params
                        .weight
                        .get((o * cin + c) * area + tap.index)
                        .copied()
                        .unwrap_or(0.0);
                    self.packed[(t * cin + c) * cout + o] = w;
                    self.packed_t[(t * cout + o) * cin + c] = w;
                }
            }
        }
        self.bias.clear();
        self.bias.extend_from_slice(params.bias);
        self.bias.resize(cout, 0.0);
    }

    pub(crate) fn taps(&self) -> &[Tap] {
        &self.spec.taps
    }

    pub(crate) fn in_channels(&self) -> usize {
        self.spec.in_channels
    }

    pub(crate) fn out_channels(&self) -> usize {
        self.spec.out_channels
    }

    /// `y = (accumulate ? y : 0) + conv(x)` for rows `row0..row0 + rows` (no bias); `y` is
    /// `[rows, out]`, `x` the whole input `[n, in]`.
    pub(crate) fn forward_rows(&self, x: &[f32], row0: usize, y: &mut [f32], accumulate: bool) {
        let rows = y.len() / self.out_channels();
        self.with_input_rows(x, row0, rows, |lhs, width| {
            matmul(
                y,
                MatRef::row_major(lhs, rows, width),
                MatRef::row_major(&self.packed, width, self.out_channels()),
                accumulate,
            );
        });
    }

    /// Rows `row0..row0 + rows` of the input as GEMM operand `[rows, width]`: the input itself
    /// for a 1x1 convolution, else its im2col columns (in the thread's scratch).
    fn with_input_rows<T>(
        &self,
        x: &[f32],
        row0: usize,
        rows: usize,
        body: impl FnOnce(&[f32], usize) -> T,
    ) -> T {
        let cin = self.in_channels();
        if self.spec.is_pointwise() {
            return body(&x[row0 * cin..(row0 + rows) * cin], cin);
        }
        let width = self.spec.taps.len() * cin;
        with_scratch(rows * width, |cols| {
            im2col(x, cin, &self.spec.taps, 1, row0, cols);
            body(cols, width)
        })
    }

    /// `gx = (accumulate ? gx : 0) + conv^T(grad)` for input rows `row0..row0 + rows`: the
    /// gradient of the input from the gradient `grad` (`[n, out]`) of the output.
    pub(crate) fn input_grad_rows(
        &self,
        grad: &[f32],
        row0: usize,
        gx: &mut [f32],
        accumulate: bool,
    ) {
        let (cin, cout) = (self.in_channels(), self.out_channels());
        let rows = gx.len() / cin;
        if self.spec.is_pointwise() {
            let g = &grad[row0 * cout..(row0 + rows) * cout];
            matmul(
                gx,
                MatRef::row_major(g, rows, cout),
                MatRef::row_major(&self.packed_t, cout, cin),
                accumulate,
            );
            return;
        }
        let kt = self.spec.taps.len() * cout;
        with_scratch(rows * kt, |cols| {
            im2col(grad, cout, &self.spec.taps, -1, row0, cols);
            matmul(
                gx,
                MatRef::row_major(cols, rows, kt),
                MatRef::row_major(&self.packed_t, kt, cin),
                accumulate,
            );
        });
    }

    /// The gradients of the weight (stored `[out, in, kh, kw]` layout, unused taps zero) and the
    /// bias, from the layer's input `x` (`[n, in]`) and the gradient `grad` (`[n, out]`) of its
    /// pre-activation output.
    ///
    /// Rows are split into a fixed number of groups (a function of `n` only), each summed in row
    /// order, and the groups are added in order: the result does not depend on scheduling. Bias
    /// sums add each chunk's f32 sum in f64 (a sum over every pixel of the batch loses digits
    /// in f32 alone).
    pub(crate) fn param_grads(
        &self,
        x: &[f32],
        grad: &[f32],
        scratch: &mut GradScratch,
        weight_grad: &mut [f32],
        bias_grad: &mut [f32],
    ) {
        let (cin, cout) = (self.in_channels(), self.out_channels());
        let n = x.len() / cin;
        let k = self.spec.taps.len() * cin;
        let grad = &grad[..n * cout];
        let chunk_count = n.div_ceil(CHUNK_ROWS);
        let groups = DW_GROUPS.min(chunk_count).max(1);
        let partial_len = k * cout;
        scratch.bias_partials.clear();
        scratch.bias_partials.resize(groups * cout, 0.0);
        resize_for_overwrite(&mut scratch.partials, groups * partial_len)
            .par_chunks_mut(partial_len)
            .zip(scratch.bias_partials.par_chunks_mut(cout))
            .enumerate()
            .for_each(|(group, (wg, bias_sum))| {
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
                    let g = &grad[row0 * cout..(row0 + rows) * cout];
                    chunk_sum.fill(0.0);
                    for row in g.chunks_exact(cout) {
                        chunk_sum.iter_mut().zip(row).for_each(|(b, &v)| *b += v);
                    }
                    bias_sum
                        .iter_mut()
                        .zip(&chunk_sum)
                        .for_each(|(b, &v)| *b += f64::from(v));
                    let accumulate = chunk_index > first;
                    self.with_input_rows(x, row0, rows, |lhs, width| {
                        matmul(
                            wg,
                            MatRef::transposed(lhs, rows, width),
                            MatRef::row_major(g, rows, cout),
                            accumulate,
                        );
                    });
                }
            });
        let packed_grad = &mut scratch.packed_grad;
        packed_grad.clear();
        packed_grad.resize(partial_len, 0.0);
        for wg in scratch.partials[..groups * partial_len].chunks_exact(partial_len) {
            packed_grad.iter_mut().zip(wg).for_each(|(a, b)| *a += b);
        }
        for (o, b) in bias_grad.iter_mut().enumerate().take(cout) {
            let sum: f64 = (0..groups)
                .map(|g| scratch.bias_partials[g * cout + o])
                .sum();
            *b = sum as f32;
        }
        weight_grad.fill(0.0);
        let area = self.spec.kernel_area();
        for (t, tap) in self.spec.taps.iter().enumerate() {
            for c in 0..cin {
                for o in 0..cout {
                    if let Some(w) = weight_grad.get_mut((o * cin + c) * area + tap.index) {
                        *w = packed_grad[(t * cin + c) * cout + o];
                    }
                }
            }
        }
    }
}

/// Makes `buffer` at least `len` long and returns its first `len` values, contents unspecified
/// (the caller overwrites them all). Never shrinks, so buffers that alternate between sizes
/// are not zero-filled again each time.
pub(crate) fn resize_for_overwrite(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
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

/// Copies the taps of rows `row0..row0+rows` of `src` (`[n, channels]`) into `dst`
/// (`[rows, taps * channels]`), zero outside the image. `sign = -1` mirrors the taps (for the
/// transposed convolution of the backward pass).
pub(crate) fn im2col(
    src: &[f32],
    channels: usize,
    taps: &[Tap],
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
            for (cell, tap) in out_row.iter_mut().zip(taps) {
                let (yy, xx) = (y + sign * tap.dy, x + sign * tap.dx);
                *cell = if (0..side).contains(&yy) && (0..side).contains(&xx) {
                    src[image_base + (yy * side + xx) as usize]
                } else {
                    0.0
                };
            }
            continue;
        }
        for (cell, tap) in out_row.chunks_exact_mut(channels).zip(taps) {
            let (yy, xx) = (y + sign * tap.dy, x + sign * tap.dx);
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
pub(crate) fn copy_channels(dst: &mut [f32], src: &[f32]) {
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

/// Sum over pixels of `max(z,0) - z*t + ln(1 + e^-|z|)`: the binary cross-entropy of logits `z`
/// against 0/1 targets `t`, in nats, accumulated in f64.
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

/// `grad[i] = (sigmoid(z_i) - t_i) * scale`: the gradient of the mean BCE with respect to the
/// logits, `scale = 1 / pixels`.
pub(crate) fn bce_grad(logits: &[f32], targets: &[f32], scale: f32, grad: &mut [f32]) {
    grad.par_chunks_mut(4096)
        .zip(logits.par_chunks(4096).zip(targets.par_chunks(4096)))
        .for_each(|(g, (zs, ts))| {
            for ((g, &z), &t) in g.iter_mut().zip(zs).zip(ts) {
                *g = (super::epilogue::sigmoid(z) - t) * scale;
            }
        });
}
