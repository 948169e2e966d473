//! The gated PixelCNN on the fast kernels (see [`crate::model::arch::gated_spec`] for the
//! architecture): every convolution is a [`ConvOp`] (only its taps, chunked im2col + GEMM, channels-last), every
//! activation the shared [`Epilogue`], and the backward pass is written by hand.
//!
//! # Shapes
//! `n = images * 784` rows, `p` maps: `v`, `h` are `[n, p]`; a gate's input `[n, 2p]`; logits
//! `[n]`. Labels: one class per image (a digit, or 10 for "no label" in a model trained with
//! label dropout; ignored by an unconditional model).

use std::sync::Mutex;

use rayon::prelude::*;

use super::conv_kernels::{
    bce_grad, bce_sum, resize_for_overwrite, ConvOp, GradScratch, CHUNK_ROWS,
};
use super::epilogue::{gate_backward_row, relu_keeping_sign};
use crate::data::IMAGE_PIXELS;
use crate::model::arch::epilogue::{Activation, Epilogue};
use crate::model::arch::gated_spec::GatedSpec;
use crate::model::arch::params::{gated_slots, GatedSlots, Params};

/// The residual 1x1 of the horizontal stack: bias, no activation, plus `h`.
const RESIDUAL: Epilogue = Epilogue {
    activation: Activation::Identity,
    residual: true,
};

/// One gated layer's convolutions and its per-class gate biases.
#[derive(Clone, Debug)]
pub(crate) struct GatedLayerOps {
    pub(crate) conv_v: ConvOp,
    pub(crate) conv_h: ConvOp,
    pub(crate) link: ConvOp,
    pub(crate) res: ConvOp,
    /// Per class (one entry when unconditional), `[2p]`: added to `vp` before its gate.
    pub(crate) v_gate_bias: Vec<Vec<f32>>,
    /// Per class, `[2p]`: `conv_h.bias + link.bias (+ cond_h[:, class])`.
    pub(crate) h_gate_bias: Vec<Vec<f32>>,
}

impl GatedLayerOps {
    /// The gate biases of `class` (class 0's when unconditional or out of range).
    pub(crate) fn gate_biases(&self, class: usize) -> (&[f32], &[f32]) {
        (
            class_row(&self.v_gate_bias, class),
            class_row(&self.h_gate_bias, class),
        )
    }
}

/// Row `class` of a per-class table (the first row when out of range, e.g. unconditional or a
/// label the model has no column for).
fn class_row(table: &[Vec<f32>], class: usize) -> &[f32] {
    table
        .get(class)
        .or_else(|| table.first())
        .map_or(&[], Vec::as_slice)
}

/// All convolutions of the network.
#[derive(Clone, Debug)]
pub(crate) struct GatedOps {
    pub(crate) maps: usize,
    pub(crate) conditional: bool,
    /// Columns of the class biases (10, or 11 with the "no label" class; 0 unconditional).
    pub(crate) classes: usize,
    pub(crate) first_v: ConvOp,
    pub(crate) first_h: ConvOp,
    pub(crate) layers: Vec<GatedLayerOps>,
    pub(crate) out1: ConvOp,
    pub(crate) out2: ConvOp,
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug, Default)]
struct Saved {
    /// `v_in[l]`: the vertical input of gated layer `l` (`v_in[0]` is the first layer's output).
    v_in: Vec<Vec<f32>>,
    /// `h_in[l]`: the horizontal input of gated layer `l`; `h_in[layers]` the last output.
    h_in: Vec<Vec<f32>>,
    /// `vp[l]`: the vertical pre-activation (bias in, conditioning not), `[n, 2p]`.
    vp: Vec<Vec<f32>>,
    /// `v_ts[l]`: `[tanh | sigmoid]` of the vertical gate (empty for the last layer).
    v_ts: Vec<Vec<f32>>,
    /// `h_ts[l]`: `[tanh | sigmoid]` of the horizontal gate.
    h_ts: Vec<Vec<f32>>,
    /// `relu(h)` entering the head.
    head_in: Vec<f32>,
    /// `relu(out1(relu(h)))`.
    hidden: Vec<f32>,
    logits: Vec<f32>,
}

/// Gradient buffers reused between steps.
#[derive(Debug, Default)]
struct GradWork {
    grad_logits: Vec<f32>,
    grad_hidden: Vec<f32>,
    /// Gradient of the current layer's outputs, then (swapped) of its inputs.
    grad_v: Vec<f32>,
    grad_h: Vec<f32>,
    grad_v_in: Vec<f32>,
    grad_h_in: Vec<f32>,
    /// `[n, 2p]` gradients of the two gates' inputs.
    grad_hp: Vec<f32>,
    grad_vp: Vec<f32>,
    /// `[n, 2p]` gradient of the vertical gate's input from its own output.
    grad_vgate: Vec<f32>,
    /// The horizontal gate's output `tanh * sigmoid`, `[n, p]`, rebuilt for the `res` gradient.
    gated_h: Vec<f32>,
    scratch: GradScratch,
}

/// The gated network: packed weights and reusable buffers.
#[derive(Debug)]
pub(crate) struct GatedNet {
    pub(crate) ops: GatedOps,
    slots: GatedSlots,
    saved: Saved,
    work: GradWork,
    /// Activation buffers of [`GatedNet::forward`], reused between calls.
    eval_buffers: Mutex<Vec<Vec<f32>>>,
}

/// Largest total of evaluation buffers kept between calls (in values: 256 MiB).
const MAX_KEPT_EVAL_VALUES: usize = 64 << 20;

impl GatedNet {
    /// The network `spec` describes, with the weights of `params`.
    pub(crate) fn new(spec: &GatedSpec, params: &Params) -> GatedNet {
        let slots = gated_slots(spec);
        let layers = spec
            .layers
            .iter()
            .zip(&slots.layers)
            .map(|(layer, s)| GatedLayerOps {
                conv_v: ConvOp::new(layer.conv_v.clone(), params.conv(s.conv_v)),
                conv_h: ConvOp::new(layer.conv_h.clone(), params.conv(s.conv_h)),
                link: ConvOp::new(layer.link.clone(), params.conv(s.link)),
                res: ConvOp::new(layer.res.clone(), params.conv(s.res)),
                v_gate_bias: Vec::new(),
                h_gate_bias: Vec::new(),
            })
            .collect();
        let ops = GatedOps {
            maps: spec.maps,
            conditional: spec.conditional,
            classes: spec.classes,
            first_v: ConvOp::new(spec.first_v.clone(), params.conv(slots.first_v)),
            first_h: ConvOp::new(spec.first_h.clone(), params.conv(slots.first_h)),
            layers,
            out1: ConvOp::new(spec.out1.clone(), params.conv(slots.out1)),
            out2: ConvOp::new(spec.out2.clone(), params.conv(slots.out2)),
        };
        let mut net = GatedNet {
            ops,
            slots,
            saved: Saved::default(),
            work: GradWork::default(),
            eval_buffers: Mutex::new(Vec::new()),
        };
        net.set_params(params);
        net
    }

    pub(crate) fn set_params(&mut self, params: &Params) {
        let ops = &mut self.ops;
        let slots = &self.slots;
        ops.first_v.set_weights(params.conv(slots.first_v));
        ops.first_h.set_weights(params.conv(slots.first_h));
        ops.out1.set_weights(params.conv(slots.out1));
        ops.out2.set_weights(params.conv(slots.out2));
        let columns = ops.classes;
        let classes = if ops.conditional { columns } else { 1 };
        for (layer, s) in ops.layers.iter_mut().zip(&slots.layers) {
            layer.conv_v.set_weights(params.conv(s.conv_v));
            layer.conv_h.set_weights(params.conv(s.conv_h));
            layer.link.set_weights(params.conv(s.link));
            layer.res.set_weights(params.conv(s.res));
            let width = layer.conv_v.out_channels();
            let column = |matrix: Option<usize>, class: usize| -> Vec<f32> {
                let values = matrix.map_or(&[][..], |m| params.values(m));
                (0..width)
                    .map(|o| values.get(o * columns + class).copied().unwrap_or(0.0))
                    .collect()
            };
            layer.v_gate_bias = (0..classes).map(|c| column(s.cond_v, c)).collect();
            layer.h_gate_bias = (0..classes)
                .map(|c| {
                    let cond = column(s.cond_h, c);
                    layer
                        .conv_h
                        .bias
                        .iter()
                        .zip(&layer.link.bias)
                        .zip(cond)
                        .map(|((&a, &b), c)| a + b + c)
                        .collect()
                })
                .collect();
        }
    }

    /// Logits `[images * 784]` of `input`, keeping nothing for backward.
    pub(crate) fn forward(&self, input: &[f32], labels: &[u8]) -> Vec<f32> {
        let ops = &self.ops;
        let p = ops.maps;
        let n = input.len() / IMAGE_PIXELS * IMAGE_PIXELS;
        // Four activation buffers kept between calls (taken while in use, so a concurrent
        // caller just allocates its own): fresh pages cost as much as the arithmetic.
        let mut buffers = self
            .eval_buffers
            .lock()
            .map(|mut guard| std::mem::take(&mut *guard))
            .unwrap_or_default();
        buffers.resize_with(4, Vec::new);
        let [mut v, mut h, mut v_next, mut h_next] =
            <[Vec<f32>; 4]>::try_from(buffers).unwrap_or_default();
        for buffer in [&mut v, &mut h, &mut v_next, &mut h_next] {
            resize_for_overwrite(buffer, n * p);
        }
        first_layer(ops, input, &mut v[..n * p], &mut h[..n * p]);
        let last = ops.layers.len().saturating_sub(1);
        for (index, layer) in ops.layers.iter().enumerate() {
            let keep_v = index < last;
            gated_layer(
                layer,
                p,
                &v[..n * p],
                &h[..n * p],
                labels,
                LayerOutputs {
                    vp: None,
                    v_ts: None,
                    h_ts: None,
                    v_out: keep_v.then_some(&mut v_next[..n * p]),
                    h_out: &mut h_next[..n * p],
                },
            );
            std::mem::swap(&mut v, &mut v_next);
            std::mem::swap(&mut h, &mut h_next);
        }
        let mut logits = vec![0.0; n];
        head(ops, &h[..n * p], &mut v_next, &mut h_next, &mut logits);
        let kept: usize = [&v, &h, &v_next, &h_next]
            .iter()
            .map(|b| b.capacity())
            .sum();
        if kept <= MAX_KEPT_EVAL_VALUES {
            if let Ok(mut guard) = self.eval_buffers.lock() {
                *guard = vec![v, h, v_next, h_next];
            }
        }
        logits
    }

    /// Forward keeping every activation, then backward from the mean BCE over `input`'s
    /// pixels; returns the BCE sum and writes the gradients into `grads`.
    pub(crate) fn loss_and_grads(
        &mut self,
        input: &[f32],
        labels: &[u8],
        grads: &mut Params,
    ) -> f64 {
        self.forward_train(input, labels);
        let loss_sum = bce_sum(&self.saved.logits, input);
        let pixels = self.saved.logits.len();
        let GatedNet {
            ops,
            slots,
            saved,
            work,
            ..
        } = self;
        let p = ops.maps;
        let n = pixels;
        bce_grad(
            &saved.logits,
            input,
            1.0 / pixels.max(1) as f32,
            resize_for_overwrite(&mut work.grad_logits, n),
        );
        // Head: logits = out2(hidden), hidden = relu(out1(head_in)), head_in = relu(h).
        {
            let (w, b) = grads.conv_mut(slots.out2);
            ops.out2
                .param_grads(&saved.hidden, &work.grad_logits, &mut work.scratch, w, b);
        }
        input_grad_masked(
            &ops.out2,
            &work.grad_logits,
            &saved.hidden,
            resize_for_overwrite(&mut work.grad_hidden, n * p),
        );
        {
            let (w, b) = grads.conv_mut(slots.out1);
            ops.out1
                .param_grads(&saved.head_in, &work.grad_hidden, &mut work.scratch, w, b);
        }
        input_grad_masked(
            &ops.out1,
            &work.grad_hidden,
            &saved.head_in,
            resize_for_overwrite(&mut work.grad_h, n * p),
        );
        // Gated layers, top down. grad_v holds the gradient of the current layer's v output
        // (none for the last layer, whose v output is unused).
        let layer_count = ops.layers.len();
        for index in (0..layer_count).rev() {
            let layer = &ops.layers[index];
            let s = &slots.layers[index];
            let has_v_out = index + 1 < layer_count;
            layer_backward(
                layer,
                p,
                LayerSaved {
                    v_in: &saved.v_in[index],
                    h_in: &saved.h_in[index],
                    vp: &saved.vp[index],
                    v_ts: has_v_out.then(|| saved.v_ts[index].as_slice()),
                    h_ts: &saved.h_ts[index],
                },
                labels,
                work,
                grads,
                s,
            );
            std::mem::swap(&mut work.grad_v, &mut work.grad_v_in);
            std::mem::swap(&mut work.grad_h, &mut work.grad_h_in);
        }
        // First layer: no input gradient needed.
        {
            let (w, b) = grads.conv_mut(slots.first_v);
            ops.first_v
                .param_grads(input, &work.grad_v[..n * p], &mut work.scratch, w, b);
        }
        {
            let (w, b) = grads.conv_mut(slots.first_h);
            ops.first_h
                .param_grads(input, &work.grad_h[..n * p], &mut work.scratch, w, b);
        }
        loss_sum
    }

    fn forward_train(&mut self, input: &[f32], labels: &[u8]) {
        let ops = &self.ops;
        let saved = &mut self.saved;
        let p = ops.maps;
        let n = input.len() / IMAGE_PIXELS * IMAGE_PIXELS;
        let layer_count = ops.layers.len();
        saved.v_in.resize_with(layer_count.max(1), Vec::new);
        saved.h_in.resize_with(layer_count + 1, Vec::new);
        saved.vp.resize_with(layer_count, Vec::new);
        saved.v_ts.resize_with(layer_count, Vec::new);
        saved.h_ts.resize_with(layer_count, Vec::new);
        {
            let v0 = resize_for_overwrite(&mut saved.v_in[0], n * p);
            let h0 = resize_for_overwrite(&mut saved.h_in[0], n * p);
            first_layer(ops, input, v0, h0);
        }
        for (index, layer) in ops.layers.iter().enumerate() {
            let has_v_out = index + 1 < layer_count;
            let (v_done, v_rest) = saved.v_in.split_at_mut(index + 1);
            let (h_done, h_rest) = saved.h_in.split_at_mut(index + 1);
            let v_out = match v_rest.first_mut() {
                Some(next) if has_v_out => Some(resize_for_overwrite(next, n * p)),
                _ => None,
            };
            let v_ts = has_v_out.then(|| resize_for_overwrite(&mut saved.v_ts[index], n * 2 * p));
            gated_layer(
                layer,
                p,
                &v_done[index][..n * p],
                &h_done[index][..n * p],
                labels,
                LayerOutputs {
                    vp: Some(resize_for_overwrite(&mut saved.vp[index], n * 2 * p)),
                    v_ts,
                    h_ts: Some(resize_for_overwrite(&mut saved.h_ts[index], n * 2 * p)),
                    v_out,
                    h_out: resize_for_overwrite(&mut h_rest[0], n * p),
                },
            );
        }
        let h_last = &saved.h_in[layer_count][..n * p];
        saved.logits.resize(n, 0.0);
        head(
            ops,
            h_last,
            resize_for_overwrite(&mut saved.head_in, n * p),
            resize_for_overwrite(&mut saved.hidden, n * p),
            &mut saved.logits,
        );
    }
}

/// The class of row `row` (class 0 when no label is given; a class the model has no column for
/// reads as class 0 in [`GatedLayerOps::gate_biases`]).
pub(crate) fn class_of(labels: &[u8], row: usize) -> usize {
    labels
        .get(row / IMAGE_PIXELS)
        .map_or(0, |&c| usize::from(c))
}

/// The first layer: `v = conv_v0(x) + b`, `h = conv_h0(x) + b`.
fn first_layer(ops: &GatedOps, input: &[f32], v: &mut [f32], h: &mut [f32]) {
    let p = ops.maps;
    for (op, out) in [(&ops.first_v, v), (&ops.first_h, h)] {
        out.par_chunks_mut(CHUNK_ROWS * p)
            .enumerate()
            .for_each(|(chunk, y)| {
                op.forward_rows(input, chunk * CHUNK_ROWS, y, false);
                for row in y.chunks_exact_mut(p) {
                    Epilogue::LINEAR.apply_row(row, &op.bias, None, None, None);
                }
            });
    }
}

/// The head on `h`: `head_in = relu(h)`, `hidden = relu(out1(head_in))`, `logits =
/// out2(hidden)`.
fn head(ops: &GatedOps, h: &[f32], head_in: &mut [f32], hidden: &mut [f32], logits: &mut [f32]) {
    let p = ops.maps;
    let n = logits.len();
    head_in[..n * p]
        .par_chunks_mut(CHUNK_ROWS * p)
        .zip(h[..n * p].par_chunks(CHUNK_ROWS * p))
        .zip(hidden[..n * p].par_chunks_mut(CHUNK_ROWS * p))
        .zip(logits.par_chunks_mut(CHUNK_ROWS))
        .for_each(|(((hr, h), hid), z)| {
            for (r, &x) in hr.iter_mut().zip(h) {
                *r = relu_keeping_sign(x);
            }
            ops.out1.forward_rows(hr, 0, hid, false);
            for row in hid.chunks_exact_mut(p) {
                Epilogue::RELU.apply_row(row, &ops.out1.bias, None, None, None);
            }
            ops.out2.forward_rows(hid, 0, z, false);
            for v in z.iter_mut() {
                *v += ops.out2.bias.first().copied().unwrap_or(0.0);
            }
        });
}

/// Where a gated layer's forward pass writes. The training pass keeps the gate inputs (`vp`,
/// `v_ts`, `h_ts`); evaluation passes `None` and uses chunk-sized temporaries instead.
struct LayerOutputs<'a> {
    vp: Option<&'a mut [f32]>,
    v_ts: Option<&'a mut [f32]>,
    h_ts: Option<&'a mut [f32]>,
    /// `None` for the last layer (its vertical output is unused).
    v_out: Option<&'a mut [f32]>,
    h_out: &'a mut [f32],
}

/// One chunk's slices of [`LayerOutputs`].
struct ChunkOutputs<'a> {
    index: usize,
    vp: Option<&'a mut [f32]>,
    v_ts: Option<&'a mut [f32]>,
    h_ts: Option<&'a mut [f32]>,
    v_out: Option<&'a mut [f32]>,
    h_out: &'a mut [f32],
}

/// Splits an optional buffer into chunks of `len` (or endless `None`s).
fn optional_chunks(
    buffer: Option<&mut [f32]>,
    len: usize,
) -> Box<dyn Iterator<Item = Option<&mut [f32]>> + '_> {
    match buffer {
        Some(b) => Box::new(b.chunks_mut(len).map(Some)),
        None => Box::new(std::iter::repeat_with(|| None)),
    }
}

/// Forward of one gated layer over all rows.
fn gated_layer(
    layer: &GatedLayerOps,
    p: usize,
    v_in: &[f32],
    h_in: &[f32],
    labels: &[u8],
    out: LayerOutputs<'_>,
) {
    let LayerOutputs {
        vp,
        v_ts,
        h_ts,
        v_out,
        h_out,
    } = out;
    let wide = CHUNK_ROWS * 2 * p;
    let jobs: Vec<ChunkOutputs<'_>> = h_out
        .chunks_mut(CHUNK_ROWS * p)
        .zip(optional_chunks(vp, wide))
        .zip(optional_chunks(v_ts, wide))
        .zip(optional_chunks(h_ts, wide))
        .zip(optional_chunks(v_out, CHUNK_ROWS * p))
        .enumerate()
        .map(
            |(index, ((((h_out, vp), v_ts), h_ts), v_out))| ChunkOutputs {
                index,
                vp,
                v_ts,
                h_ts,
                v_out,
                h_out,
            },
        )
        .collect();
    jobs.into_par_iter()
        .for_each(|chunk| gated_layer_chunk(layer, p, v_in, h_in, labels, chunk));
}

/// Forward of one gated layer on one chunk of rows: `vp = conv_v(v) + b`, `v' = gate(vp +
/// cond)`, `hp = link(vp) + conv_h(h)`, `h' = h + res(gate(hp + biases + cond))`.
fn gated_layer_chunk(
    layer: &GatedLayerOps,
    p: usize,
    v_in: &[f32],
    h_in: &[f32],
    labels: &[u8],
    chunk: ChunkOutputs<'_>,
) {
    let rows = chunk.h_out.len() / p;
    let row0 = chunk.index * CHUNK_ROWS;
    let mut temp_vp = Vec::new();
    let mut temp_h_ts = Vec::new();
    let mut temp_v_ts = Vec::new();
    let vp = chunk
        .vp
        .unwrap_or_else(|| resize_for_overwrite(&mut temp_vp, rows * 2 * p));
    let h_ts = chunk
        .h_ts
        .unwrap_or_else(|| resize_for_overwrite(&mut temp_h_ts, rows * 2 * p));
    // Vertical pre-activation.
    layer.conv_v.forward_rows(v_in, row0, vp, false);
    for row in vp.chunks_exact_mut(2 * p) {
        Epilogue::LINEAR.apply_row(row, &layer.conv_v.bias, None, None, None);
    }
    // Vertical gate (skipped for the last layer).
    if let Some(v_out) = chunk.v_out {
        let v_ts = chunk
            .v_ts
            .unwrap_or_else(|| resize_for_overwrite(&mut temp_v_ts, rows * 2 * p));
        v_ts.copy_from_slice(vp);
        for (r, (ts, out)) in v_ts
            .chunks_exact_mut(2 * p)
            .zip(v_out.chunks_exact_mut(p))
            .enumerate()
        {
            let (bias, _) = layer.gate_biases(class_of(labels, row0 + r));
            Epilogue::GATE.apply_row(ts, bias, Some(out), None, None);
        }
    }
    // Horizontal: link first, then the horizontal convolution accumulated onto it (the order
    // the fast sampler repeats, so both give the same values).
    layer.link.forward_rows(vp, 0, h_ts, false);
    layer.conv_h.forward_rows(h_in, row0, h_ts, true);
    let mut gated_h = vec![0.0; rows * p];
    for (r, (ts, out)) in h_ts
        .chunks_exact_mut(2 * p)
        .zip(gated_h.chunks_exact_mut(p))
        .enumerate()
    {
        let (_, bias) = layer.gate_biases(class_of(labels, row0 + r));
        Epilogue::GATE.apply_row(ts, bias, Some(out), None, None);
    }
    layer.res.forward_rows(&gated_h, 0, chunk.h_out, false);
    let h_rows = &h_in[row0 * p..(row0 + rows) * p];
    for (row, residual) in chunk.h_out.chunks_exact_mut(p).zip(h_rows.chunks_exact(p)) {
        RESIDUAL.apply_row(row, &layer.res.bias, None, Some(residual), None);
    }
}

/// `gx = conv^T(grad)` masked by the ReLU derivative of `relu_out` (the ReLU output the
/// convolution read): the gradient before that ReLU.
fn input_grad_masked(op: &ConvOp, grad: &[f32], relu_out: &[f32], gx: &mut [f32]) {
    let cin = op.in_channels();
    gx.par_chunks_mut(CHUNK_ROWS * cin)
        .enumerate()
        .for_each(|(chunk, g)| {
            let row0 = chunk * CHUNK_ROWS;
            op.input_grad_rows(grad, row0, g, false);
            let a = &relu_out[row0 * cin..row0 * cin + g.len()];
            g.iter_mut().zip(a).for_each(|(g, &a)| {
                if !a.is_sign_positive() {
                    *g = 0.0;
                }
            });
        });
}

/// What the forward pass kept for one gated layer.
struct LayerSaved<'a> {
    v_in: &'a [f32],
    h_in: &'a [f32],
    vp: &'a [f32],
    /// `None` for the last layer.
    v_ts: Option<&'a [f32]>,
    h_ts: &'a [f32],
}

/// Backward of one gated layer: from `work.grad_v` (if the layer has a v output) and
/// `work.grad_h`, the parameter gradients into `grads` and the input gradients into
/// `work.grad_v_in`, `work.grad_h_in`.
fn layer_backward(
    layer: &GatedLayerOps,
    p: usize,
    saved: LayerSaved<'_>,
    labels: &[u8],
    work: &mut GradWork,
    grads: &mut Params,
    slots: &crate::model::arch::params::GatedLayerSlots,
) {
    let n = saved.h_in.len() / p;
    let grad_h = &work.grad_h[..n * p];
    let grad_v = saved.v_ts.map(|_| &work.grad_v[..n * p]);
    // The horizontal gate's output, input of `res`.
    resize_for_overwrite(&mut work.gated_h, n * p)
        .par_chunks_mut(CHUNK_ROWS * p)
        .zip(saved.h_ts.par_chunks(CHUNK_ROWS * 2 * p))
        .for_each(|(g, ts)| {
            for (g, ts) in g.chunks_exact_mut(p).zip(ts.chunks_exact(2 * p)) {
                let (t, s) = ts.split_at(p);
                g.iter_mut()
                    .zip(t.iter().zip(s))
                    .for_each(|(g, (&t, &s))| *g = t * s);
            }
        });
    {
        let (w, b) = grads.conv_mut(slots.res);
        layer
            .res
            .param_grads(&work.gated_h[..n * p], grad_h, &mut work.scratch, w, b);
    }
    // dhp = gate'(res^T(dh)).
    resize_for_overwrite(&mut work.grad_hp, n * 2 * p)
        .par_chunks_mut(CHUNK_ROWS * 2 * p)
        .zip(saved.h_ts.par_chunks(CHUNK_ROWS * 2 * p))
        .enumerate()
        .for_each(|(chunk, (ghp, ts))| {
            let rows = ghp.len() / (2 * p);
            let mut grad_gate = vec![0.0; rows * p];
            layer
                .res
                .input_grad_rows(grad_h, chunk * CHUNK_ROWS, &mut grad_gate, false);
            for ((out, ts), g) in ghp
                .chunks_exact_mut(2 * p)
                .zip(ts.chunks_exact(2 * p))
                .zip(grad_gate.chunks_exact(p))
            {
                gate_backward_row(ts, g, out);
            }
        });
    let grad_hp = &work.grad_hp[..n * 2 * p];
    {
        let (w, b) = grads.conv_mut(slots.conv_h);
        layer
            .conv_h
            .param_grads(saved.h_in, grad_hp, &mut work.scratch, w, b);
    }
    {
        let (w, b) = grads.conv_mut(slots.link);
        layer
            .link
            .param_grads(saved.vp, grad_hp, &mut work.scratch, w, b);
    }
    if let Some(cond_h) = slots.cond_h {
        class_bias_grads(grad_hp, 2 * p, labels, grads.values_mut(cond_h));
    }
    // Through the vertical gate: dvg = gate'(dv) (nothing for the last layer).
    if let (Some(v_ts), Some(grad_v)) = (saved.v_ts, grad_v) {
        resize_for_overwrite(&mut work.grad_vgate, n * 2 * p)
            .par_chunks_mut(CHUNK_ROWS * 2 * p)
            .zip(v_ts.par_chunks(CHUNK_ROWS * 2 * p))
            .zip(grad_v.par_chunks(CHUNK_ROWS * p))
            .for_each(|((out, ts), g)| {
                for ((out, ts), g) in out
                    .chunks_exact_mut(2 * p)
                    .zip(ts.chunks_exact(2 * p))
                    .zip(g.chunks_exact(p))
                {
                    gate_backward_row(ts, g, out);
                }
            });
    }
    let grad_vgate = saved.v_ts.map(|_| &work.grad_vgate[..n * 2 * p]);
    if let Some(cond_v) = slots.cond_v {
        // Only the vertical gate saw cond_v (link read vp before conditioning).
        match grad_vgate {
            Some(g) => class_bias_grads(g, 2 * p, labels, grads.values_mut(cond_v)),
            None => grads.values_mut(cond_v).fill(0.0),
        }
    }
    // dvp = link^T(dhp) [+ dvg].
    resize_for_overwrite(&mut work.grad_vp, n * 2 * p)
        .par_chunks_mut(CHUNK_ROWS * 2 * p)
        .enumerate()
        .for_each(|(chunk, gvp)| {
            let row0 = chunk * CHUNK_ROWS;
            layer.link.input_grad_rows(grad_hp, row0, gvp, false);
            if let Some(g) = grad_vgate {
                let g = &g[row0 * 2 * p..row0 * 2 * p + gvp.len()];
                gvp.iter_mut().zip(g).for_each(|(o, &t)| *o += t);
            }
        });
    let grad_vp = &work.grad_vp[..n * 2 * p];
    {
        let (w, b) = grads.conv_mut(slots.conv_v);
        layer
            .conv_v
            .param_grads(saved.v_in, grad_vp, &mut work.scratch, w, b);
    }
    // Input gradients: dh_in = dh + conv_h^T(dhp), dv_in = conv_v^T(dvp).
    resize_for_overwrite(&mut work.grad_h_in, n * p)
        .par_chunks_mut(CHUNK_ROWS * p)
        .enumerate()
        .for_each(|(chunk, gh)| {
            let row0 = chunk * CHUNK_ROWS;
            gh.copy_from_slice(&grad_h[row0 * p..row0 * p + gh.len()]);
            layer.conv_h.input_grad_rows(grad_hp, row0, gh, true);
        });
    resize_for_overwrite(&mut work.grad_v_in, n * p)
        .par_chunks_mut(CHUNK_ROWS * p)
        .enumerate()
        .for_each(|(chunk, gv)| {
            layer
                .conv_v
                .input_grad_rows(grad_vp, chunk * CHUNK_ROWS, gv, false);
        });
}

/// The gradient of a `[width, classes]` class-bias matrix (`out`): column `c` sums the rows of
/// `grad` (`[n, width]`) of every image labelled `c`. Each image is summed in row order, images
/// are added in image order: deterministic.
fn class_bias_grads(grad: &[f32], width: usize, labels: &[u8], out: &mut [f32]) {
    let classes = (out.len() / width.max(1)).max(1);
    let per_image: Vec<Vec<f64>> = grad
        .par_chunks(IMAGE_PIXELS * width)
        .map(|image| {
            let mut sum = vec![0.0f64; width];
            for row in image.chunks_exact(width) {
                sum.iter_mut()
                    .zip(row)
                    .for_each(|(s, &g)| *s += f64::from(g));
            }
            sum
        })
        .collect();
    let mut total = vec![0.0f64; width * classes];
    for (image, sum) in per_image.iter().enumerate() {
        let class = class_of(labels, image * IMAGE_PIXELS);
        let class = if class < classes { class } else { 0 };
        for (o, &s) in sum.iter().enumerate() {
            total[o * classes + class] += s;
        }
    }
    out.iter_mut().zip(total).for_each(|(o, t)| *o = t as f32);
}
