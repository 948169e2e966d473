//! The plain PixelCNN on the fast kernels: a stack of masked convolutions, each followed by the
//! shared [`Epilogue`] (bias, optional ReLU, optional residual), with a hand-written backward.
//! Activations and gradients live in buffers reused from step to step.

use std::sync::Mutex;

use rayon::prelude::*;

use super::conv_kernels::{bce_grad, resize_for_overwrite, ConvOp, GradScratch, CHUNK_ROWS};
use crate::data::IMAGE_PIXELS;
use crate::model::arch::epilogue::{Activation, Epilogue};
use crate::model::arch::params::{plain_slots, ConvSlots, Params};
use crate::model::arch::plain_spec::LayerSpec;

/// Largest pair of evaluation buffers kept between calls (in values: 256 MiB).
const MAX_KEPT_EVAL_VALUES: usize = 64 << 20;

/// One layer: its convolution, its epilogue and where its parameters sit.
#[derive(Clone, Debug)]
pub(crate) struct PlainLayer {
    pub(crate) op: ConvOp,
    pub(crate) epilogue: Epilogue,
    slots: ConvSlots,
}

impl PlainLayer {
    fn relu(&self) -> bool {
        self.epilogue.activation == Activation::Relu
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
    grads: GradScratch,
}

/// The plain network: packed weights and reusable buffers.
#[derive(Debug)]
pub(crate) struct PlainNet {
    layers: Vec<PlainLayer>,
    work: Workspace,
    /// Two ping-pong activation buffers for [`PlainNet::forward`] (taken while in use, so a
    /// concurrent caller just allocates its own).
    eval_buffers: Mutex<(Vec<f32>, Vec<f32>)>,
}

impl PlainNet {
    /// The network of the plain stack `specs`, with the weights of `params`.
    pub(crate) fn new(specs: &[LayerSpec], params: &Params) -> PlainNet {
        let layers = specs
            .iter()
            .zip(plain_slots(specs))
            .map(|(spec, slots)| PlainLayer {
                op: ConvOp::new(spec.conv(), params.conv(slots)),
                epilogue: Epilogue::of_layer(spec),
                slots,
            })
            .collect();
        PlainNet {
            layers,
            work: Workspace::default(),
            eval_buffers: Mutex::new((Vec::new(), Vec::new())),
        }
    }

    /// The layers with their packed weights (for the incremental sampler).
    pub(crate) fn layers(&self) -> &[PlainLayer] {
        &self.layers
    }

    pub(crate) fn set_params(&mut self, params: &Params) {
        for layer in &mut self.layers {
            layer.op.set_weights(params.conv(layer.slots));
        }
    }

    /// Logits `[batch * 784]` of `input` `[batch * 784]`, keeping nothing for backward.
    pub(crate) fn forward(&self, input: &[f32]) -> Vec<f32> {
        let (mut a, mut b) = self
            .eval_buffers
            .lock()
            .map(|mut guard| std::mem::take(&mut *guard))
            .unwrap_or_default();
        let mut current: &[f32] = input;
        let mut logits = Vec::new();
        for (index, layer) in self.layers.iter().enumerate() {
            let n = current.len() / layer.op.in_channels();
            let out_len = n * layer.op.out_channels();
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

    /// Runs forward keeping every activation, then backward from the mean BCE; returns the
    /// logits' BCE sum and writes the gradients into `grads`.
    pub(crate) fn loss_and_grads(&mut self, input: &[f32], grads: &mut Params) -> f64 {
        let pixels = input.len();
        self.forward_train(input);
        let work = &mut self.work;
        let logits = work.acts.last().map(Vec::as_slice).unwrap_or(&[]);
        let loss_sum = super::conv_kernels::bce_sum(logits, input);
        bce_grad(
            logits,
            input,
            1.0 / pixels as f32,
            resize_for_overwrite(&mut work.grad_y, pixels),
        );
        for index in (0..self.layers.len()).rev() {
            let layer = &self.layers[index];
            // A plain (non-residual) ReLU below this layer takes its derivative here, fused
            // into the input gradient, instead of in a pass of its own.
            let below_masks = index > 0 && {
                let below = &self.layers[index - 1];
                below.relu() && !below.epilogue.residual
            };
            // ... which the layer above did for this one.
            let grad_is_masked =
                layer.relu() && !layer.epilogue.residual && index + 1 < self.layers.len();
            let flags = BackwardFlags {
                need_input_grad: index > 0,
                grad_is_masked,
                mask_input_grad: below_masks,
            };
            let (weight_grad, bias_grad) = grads.conv_mut(layer.slots);
            layer_backward(layer, index, work, weight_grad, bias_grad, flags);
            std::mem::swap(&mut work.grad_y, &mut work.grad_x);
        }
        loss_sum
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
            let keep_relu_part = layer.epilogue.residual && layer.relu();
            let out_len = n * layer.op.out_channels();
            let (done, rest) = work.acts.split_at_mut(index + 1);
            let y = &mut rest[0];
            y.resize(out_len, 0.0);
            let part = &mut work.relu_parts[index];
            let part = keep_relu_part.then(|| resize_for_overwrite(part, out_len));
            layer_forward(layer, &done[index], y, part);
        }
    }
}

/// Forward of one layer into `y` (`[n, out]`): the convolution, then the epilogue; the
/// activation before the residual into `relu_part` if given.
fn layer_forward(layer: &PlainLayer, x: &[f32], y: &mut [f32], relu_part: Option<&mut [f32]>) {
    let (cin, cout) = (layer.op.in_channels(), layer.op.out_channels());
    let body = |chunk_index: usize, y_chunk: &mut [f32], part_chunk: Option<&mut [f32]>| {
        let row0 = chunk_index * CHUNK_ROWS;
        let rows = y_chunk.len() / cout;
        layer.op.forward_rows(x, row0, y_chunk, false);
        let x_chunk = &x[row0 * cin..(row0 + rows) * cin];
        let mut parts = part_chunk.map(|p| p.chunks_exact_mut(cout));
        for (r, row) in y_chunk.chunks_exact_mut(cout).enumerate() {
            let residual = layer
                .epilogue
                .residual
                .then(|| &x_chunk[r * cin..(r + 1) * cin]);
            let part = parts.as_mut().and_then(|p| p.next());
            layer
                .epilogue
                .apply_row(row, &layer.op.bias, None, residual, part);
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
/// of its output from `work.grad_y`; overwrites `weight_grad` and `bias_grad`, and, if
/// `need_input_grad`, writes the input gradient into `work.grad_x`.
fn layer_backward(
    layer: &PlainLayer,
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
    let (cin, cout) = (layer.op.in_channels(), layer.op.out_channels());
    let x = &work.acts[index];
    let n = x.len() / cin;
    let grad_y = &work.grad_y[..n * cout];

    // dZ: the gradient before the ReLU.
    let grad_z: &[f32] = if layer.relu() && !grad_is_masked {
        let relu_part: &[f32] = if layer.epilogue.residual {
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
    layer
        .op
        .param_grads(x, grad_z, &mut work.grads, weight_grad, bias_grad);
    if !need_input_grad {
        return;
    }
    // dX = conv^T(dZ) [+ dY for the residual path].
    resize_for_overwrite(&mut work.grad_x, n * cin)
        .par_chunks_mut(CHUNK_ROWS * cin)
        .enumerate()
        .for_each(|(chunk_index, gx)| {
            let row0 = chunk_index * CHUNK_ROWS;
            let rows = gx.len() / cin;
            layer.op.input_grad_rows(grad_z, row0, gx, false);
            if layer.epilogue.residual {
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
