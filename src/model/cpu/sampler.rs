//! Pixel-by-pixel generation: the straightforward sampler (one full forward pass per pixel) and
//! the fast incremental ones, which compute every layer at each position exactly once (plain
//! family: a ring of cached rows per layer; gated family: the vertical stack a whole row at a
//! time, the horizontal stack pixel by pixel).
//!
//! All start from a canvas (all-zero, or a given prefix of rows that is kept), visit the remaining
//! pixels row by row from the top-left and, at each pixel, draw one uniform per image in image
//! order: pixel = 1 if `u < sigmoid(logit)`. So for the same RNG they draw the same numbers and,
//! given the same probabilities, the same pixels. Conditional models read one digit label per
//! image.
//!
//! The `*_styled` samplers draw with a [`SampleStyle`]: the logit is divided by the temperature
//! and, with guidance, combined with the logit of the same canvas under the "no label" class
//! ([`SampleStyle::logit`]), computed alongside (the fast sampler keeps a second set of caches for
//! it; the straightforward one makes a second pass). The others draw plainly.

use std::ops::ControlFlow;

use rand::Rng;

use super::epilogue::{relu_keeping_sign, sigmoid};
use super::gated_net::{class_of, GatedOps};
use super::gemm::{matmul, MatRef};
use super::net::{Body, CpuNet};
use super::plain_net::PlainLayer;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::arch::config::NO_LABEL;
use crate::model::arch::epilogue::{Activation, Epilogue};
use crate::model::sample::{SampleGrid, SampleStyle};

/// Called after each completed image row with the canvas so far.
pub type Progress<'a> = &'a mut dyn FnMut(&SampleGrid);

/// Like [`Progress`], and says whether to go on: `Break` stops the drawing after that row (the
/// grid returned is the partial canvas, `pixels_done < 784`).
pub type RowControl<'a> = &'a mut dyn FnMut(&SampleGrid) -> ControlFlow<()>;

/// The straightforward sampler: 784 full forward passes. Returns the grid and, per drawn pixel,
/// the probability used (`[784, count]`, pixel-major).
pub fn sample_naive<R: Rng>(
    net: &CpuNet,
    count: usize,
    labels: &[u8],
    rng: &mut R,
    progress: Progress<'_>,
) -> (SampleGrid, Vec<f32>) {
    sample_naive_pixels(
        net,
        SampleGrid::blank(count),
        labels,
        IMAGE_PIXELS,
        rng,
        progress,
    )
}

/// [`sample_naive`] from `start` (its first `start.pixels_done` pixels of each image are kept),
/// stopped once `end` pixels (of 784) of each image are done: the rest of the canvas stays as it
/// was and `pixels_done` says how far it got. Every pass costs a full forward pass, so timing a
/// few rows of it measures the whole sampler's pace.
pub fn sample_naive_pixels<R: Rng>(
    net: &CpuNet,
    start: SampleGrid,
    labels: &[u8],
    end: usize,
    rng: &mut R,
    progress: Progress<'_>,
) -> (SampleGrid, Vec<f32>) {
    sample_naive_styled(net, start, labels, SampleStyle::PLAIN, end, rng, progress)
}

/// [`sample_naive_pixels`] drawing with `style`: with guidance, a second full pass per pixel
/// reads the same canvas under the "no label" class.
pub fn sample_naive_styled<R: Rng>(
    net: &CpuNet,
    start: SampleGrid,
    labels: &[u8],
    style: SampleStyle,
    end: usize,
    rng: &mut R,
    progress: Progress<'_>,
) -> (SampleGrid, Vec<f32>) {
    let mut grid = start;
    let count = grid.count;
    let first = grid.pixels_done.min(IMAGE_PIXELS);
    let mut probs = Vec::with_capacity(count * IMAGE_PIXELS);
    let no_labels = vec![NO_LABEL; count];
    for pos in first..end.min(IMAGE_PIXELS) {
        let logits = net.forward(&grid.pixels, labels);
        let unconditional = style
            .is_guided()
            .then(|| net.forward(&grid.pixels, &no_labels));
        for image in 0..count {
            let at = image * IMAGE_PIXELS + pos;
            let l_u = unconditional.as_ref().map_or(0.0, |u| u[at]);
            let p = sigmoid(style.logit(logits[at], l_u));
            probs.push(p);
            grid.pixels[image * IMAGE_PIXELS + pos] = draw(rng, p);
        }
        let _ = finish_pixel(&mut grid, pos, &mut |g| {
            progress(g);
            ControlFlow::Continue(())
        });
    }
    (grid, probs)
}

/// The fast sampler from an all-zero canvas: each layer's activation at each position is
/// computed once, when its position comes up (all it depends on is final by then, by
/// causality). Same draws and probabilities as [`sample_naive`].
pub fn sample_fast<R: Rng>(
    net: &CpuNet,
    count: usize,
    labels: &[u8],
    rng: &mut R,
    progress: Progress<'_>,
) -> (SampleGrid, Vec<f32>) {
    sample_fast_from(net, SampleGrid::blank(count), labels, rng, &mut |grid| {
        progress(grid);
        ControlFlow::Continue(())
    })
}

/// [`sample_fast`] that stops after any row where `control` answers `Break` (to stay responsive:
/// a caller can hand control back between rows).
pub fn sample_fast_while<R: Rng>(
    net: &CpuNet,
    count: usize,
    labels: &[u8],
    rng: &mut R,
    control: RowControl<'_>,
) -> (SampleGrid, Vec<f32>) {
    sample_fast_from(net, SampleGrid::blank(count), labels, rng, control)
}

/// [`sample_fast`] from `start`: its first `start.pixels_done` pixels of each image are kept
/// (the model still reads them, so the rest continues them), the others are drawn; `control`
/// sees the canvas after each drawn row and can stop the drawing there.
///
/// The images are split into two fixed halves computed side by side (each image's values do not
/// depend on the split or on the thread count); the draws stay in image order on this thread.
pub fn sample_fast_from<R: Rng>(
    net: &CpuNet,
    start: SampleGrid,
    labels: &[u8],
    rng: &mut R,
    control: RowControl<'_>,
) -> (SampleGrid, Vec<f32>) {
    sample_fast_styled(net, start, labels, SampleStyle::PLAIN, rng, control)
}

/// [`sample_fast_from`] drawing with `style`. With guidance the two halves computed side by side
/// are every image under its label and every image under the "no label" class, both reading
/// the same canvas; without, the images split in two.
pub fn sample_fast_styled<R: Rng>(
    net: &CpuNet,
    start: SampleGrid,
    labels: &[u8],
    style: SampleStyle,
    rng: &mut R,
    control: RowControl<'_>,
) -> (SampleGrid, Vec<f32>) {
    let mut grid = start;
    let count = grid.count;
    let keep = grid.pixels_done.min(IMAGE_PIXELS);
    let guided = style.is_guided();
    let no_labels = vec![NO_LABEL; count];
    // Images of the first half, and where the second half's canvas starts.
    let (first_half, second_canvas) = if guided {
        (count, 0)
    } else {
        (count.div_ceil(2), count.div_ceil(2))
    };
    let (labels_a, labels_b) = if guided {
        (labels, no_labels.as_slice())
    } else {
        labels.split_at(first_half.min(labels.len()))
    };
    let mut halves = [
        HalfState::new(net, first_half, labels_a),
        HalfState::new(net, count - second_canvas, labels_b),
    ];
    let mut probs = Vec::with_capacity(count * IMAGE_PIXELS);
    for pos in 0..IMAGE_PIXELS {
        {
            let canvas_a = &grid.pixels[..first_half * IMAGE_PIXELS];
            let canvas_b = &grid.pixels[second_canvas * IMAGE_PIXELS..];
            let [a, b] = &mut halves;
            rayon::join(|| a.advance(canvas_a, pos), || b.advance(canvas_b, pos));
        }
        if pos < keep {
            continue;
        }
        if guided {
            let (conditional, unconditional) = (halves[0].logits(), halves[1].logits());
            for (image, (&l_c, &l_u)) in conditional.iter().zip(unconditional).enumerate() {
                let p = sigmoid(style.logit(l_c, l_u));
                probs.push(p);
                grid.pixels[image * IMAGE_PIXELS + pos] = draw(rng, p);
            }
        } else {
            // The logits of this position, one per image, in image order.
            let logits = halves[0].logits().iter().chain(halves[1].logits());
            for (image, &logit) in logits.enumerate().take(count) {
                let p = sigmoid(style.logit(logit, 0.0));
                probs.push(p);
                grid.pixels[image * IMAGE_PIXELS + pos] = draw(rng, p);
            }
        }
        if finish_pixel(&mut grid, pos, control).is_break() {
            break;
        }
    }
    (grid, probs)
}

/// One half of the images and the fast sampler's caches for them.
enum HalfState<'a> {
    Plain(PlainHalf<'a>),
    Gated(GatedHalf<'a>),
}

impl<'a> HalfState<'a> {
    fn new(net: &'a CpuNet, images: usize, labels: &'a [u8]) -> HalfState<'a> {
        match &net.body {
            Body::Plain(plain) => HalfState::Plain(PlainHalf::new(plain.layers(), images)),
            Body::Gated(gated) => HalfState::Gated(GatedHalf::new(&gated.ops, images, labels)),
        }
    }

    /// Computes every layer at position `pos` from the canvas of this half's images.
    fn advance(&mut self, canvas: &[f32], pos: usize) {
        match self {
            HalfState::Plain(half) => half.advance(canvas, pos),
            HalfState::Gated(half) => half.advance(canvas, pos),
        }
    }

    /// The logits of the last position, one per image.
    fn logits(&self) -> &[f32] {
        match self {
            HalfState::Plain(half) => &half.out,
            HalfState::Gated(half) => &half.logits,
        }
    }
}

/// The plain fast sampler's state: `caches[l]`, the input of layer `l + 1`, a ring of the image
/// rows its taps reach (the current one and `kernel / 2` above): small enough to stay in cache.
struct PlainHalf<'a> {
    layers: &'a [PlainLayer],
    images: usize,
    caches: Vec<Vec<f32>>,
    cols: Vec<f32>,
    /// The current layer's output at the current position, `[images, out]`; the logits at the end.
    out: Vec<f32>,
}

/// Image rows a layer's cached input keeps: the current one and those its taps reach above.
fn ring_rows(layer: &PlainLayer) -> usize {
    layer.op.spec.reach_above() + 1
}

/// Values per image of a layer's cached input.
fn ring_len(layer: &PlainLayer) -> usize {
    ring_rows(layer) * IMAGE_SIDE * layer.op.in_channels()
}

impl<'a> PlainHalf<'a> {
    fn new(layers: &'a [PlainLayer], images: usize) -> PlainHalf<'a> {
        PlainHalf {
            layers,
            images,
            caches: layers
                .iter()
                .skip(1)
                .map(|layer| vec![0.0; images * ring_len(layer)])
                .collect(),
            cols: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Computes every layer at position `pos`, leaving the logits in `out`.
    ///
    /// Each tap is its own product accumulated in tap order over a strided view of the cache,
    /// which is the order of the full network's single product, so the values are the same.
    fn advance(&mut self, canvas: &[f32], pos: usize) {
        let PlainHalf {
            layers,
            images,
            caches,
            cols,
            out,
        } = self;
        let images = *images;
        out.clear();
        if images == 0 {
            return;
        }
        let side = IMAGE_SIDE as isize;
        let (y, x) = ((pos / IMAGE_SIDE) as isize, (pos % IMAGE_SIDE) as isize);
        for (index, layer) in layers.iter().enumerate() {
            let (cin, cout) = (layer.op.in_channels(), layer.op.out_channels());
            let (done, rest) = caches.split_at_mut(index);
            out.clear();
            out.resize(images * cout, 0.0);
            // Where the input of (image, row, col) lives: offset of image 0 and the image stride.
            let (input, image_stride, rows): (&[f32], usize, isize) = match done.last() {
                None => (canvas, IMAGE_PIXELS, side),
                Some(cache) => (&**cache, ring_len(layer), ring_rows(layer) as isize),
            };
            let offset = |yy: isize, xx: isize| ((yy.rem_euclid(rows) * side + xx) as usize) * cin;
            if cin == 1 || index == 0 {
                // Gather the taps (one value each for the first layer) into one row per image.
                let width = layer.op.taps().len() * cin;
                cols.clear();
                cols.resize(images * width, 0.0);
                for (t, tap) in layer.op.taps().iter().enumerate() {
                    let (yy, xx) = (y + tap.dy, x + tap.dx);
                    if !((0..side).contains(&yy) && (0..side).contains(&xx)) {
                        continue;
                    }
                    let from = offset(yy, xx);
                    for image in 0..images {
                        let src = image * image_stride + from;
                        let to = image * width + t * cin;
                        cols[to..to + cin].copy_from_slice(&input[src..src + cin]);
                    }
                }
                matmul(
                    out,
                    MatRef::row_major(cols, images, width),
                    MatRef::row_major(&layer.op.packed, width, cout),
                    false,
                );
            } else {
                let mut first = true;
                for (t, tap) in layer.op.taps().iter().enumerate() {
                    let (yy, xx) = (y + tap.dy, x + tap.dx);
                    if !((0..side).contains(&yy) && (0..side).contains(&xx)) {
                        continue;
                    }
                    let lhs =
                        MatRef::strided(&input[offset(yy, xx)..], images, cin, image_stride, 1);
                    let weights = &layer.op.packed[t * cin * cout..(t + 1) * cin * cout];
                    matmul(out, lhs, MatRef::row_major(weights, cin, cout), !first);
                    first = false;
                }
            }
            // The network's epilogue (bias, activation, residual), so the values are those of
            // a full forward pass.
            let from = offset(y, x);
            for (image, row) in out.chunks_exact_mut(cout).enumerate() {
                let residual = layer
                    .epilogue
                    .residual
                    .then(|| &input[image * image_stride + from..][..cin]);
                layer
                    .epilogue
                    .apply_row(row, &layer.op.bias, None, residual, None);
            }
            if let Some(next) = rest.first_mut() {
                let next_layer = &layers[index + 1];
                let (stride, next_rows) = (ring_len(next_layer), ring_rows(next_layer) as isize);
                let to = ((y.rem_euclid(next_rows) * side + x) as usize) * cout;
                for (image, row) in out.chunks_exact(cout).enumerate() {
                    next[image * stride + to..][..cout].copy_from_slice(row);
                }
            }
        }
    }
}

/// The gated fast sampler's state for one half of the images. At the start of each image row
/// the vertical stack is computed for the whole row (it reads only rows above, all drawn); the
/// horizontal stack and the head then run pixel by pixel.
struct GatedHalf<'a> {
    ops: &'a GatedOps,
    images: usize,
    labels: &'a [u8],
    /// Per gated layer, its vertical input: a ring of `b + 1` rows, `[images, ring, 28, p]`.
    v_rings: Vec<Vec<f32>>,
    /// Per gated layer, `link(vp)` of the current row, `[images * 28, 2p]`.
    link_rows: Vec<Vec<f32>>,
    /// Horizontal activations of the current row: `h_rows[l]` is the input of gated layer `l`,
    /// `h_rows[layers]` the last output; `[images * 28, p]`.
    h_rows: Vec<Vec<f32>>,
    cols: Vec<f32>,
    wide: Vec<f32>,
    gated: Vec<f32>,
    narrow: Vec<f32>,
    logits: Vec<f32>,
}

impl<'a> GatedHalf<'a> {
    fn new(ops: &'a GatedOps, images: usize, labels: &'a [u8]) -> GatedHalf<'a> {
        let p = ops.maps;
        let layers = ops.layers.len();
        let ring = |l: &super::gated_net::GatedLayerOps| l.conv_v.spec.reach_above() + 1;
        GatedHalf {
            ops,
            images,
            labels,
            v_rings: ops
                .layers
                .iter()
                .map(|l| vec![0.0; images * ring(l) * IMAGE_SIDE * p])
                .collect(),
            link_rows: vec![vec![0.0; images * IMAGE_SIDE * 2 * p]; layers],
            h_rows: vec![vec![0.0; images * IMAGE_SIDE * p]; layers + 1],
            cols: Vec::new(),
            wide: Vec::new(),
            gated: Vec::new(),
            narrow: Vec::new(),
            logits: Vec::new(),
        }
    }

    fn advance(&mut self, canvas: &[f32], pos: usize) {
        self.logits.clear();
        if self.images == 0 {
            return;
        }
        let (row, col) = (pos / IMAGE_SIDE, pos % IMAGE_SIDE);
        if col == 0 {
            self.vertical_row(canvas, row);
        }
        self.horizontal_pixel(canvas, row, col);
    }

    /// The vertical stack (and the link products) for image row `row`.
    fn vertical_row(&mut self, canvas: &[f32], row: usize) {
        let ops = self.ops;
        let p = ops.maps;
        let images = self.images;
        let m = images * IMAGE_SIDE;
        // First layer: v0 from the canvas rows above, into layer 0's ring.
        gather_row(
            &mut self.cols,
            &ops.first_v.spec.taps,
            1,
            row,
            images,
            |image, yy, xx| &canvas[image * IMAGE_PIXELS + yy * IMAGE_SIDE + xx..][..1],
        );
        let width = ops.first_v.taps().len();
        self.narrow.clear();
        self.narrow.resize(m * p, 0.0);
        matmul(
            &mut self.narrow,
            MatRef::row_major(&self.cols, m, width),
            MatRef::row_major(&ops.first_v.packed, width, p),
            false,
        );
        for values in self.narrow.chunks_exact_mut(p) {
            Epilogue::LINEAR.apply_row(values, &ops.first_v.bias, None, None, None);
        }
        if let Some(layer) = ops.layers.first() {
            let ring = layer.conv_v.spec.reach_above() + 1;
            store_ring_row(&mut self.v_rings[0], &self.narrow, ring, row, images, p);
        }
        let last = ops.layers.len().saturating_sub(1);
        for (index, layer) in ops.layers.iter().enumerate() {
            let ring = layer.conv_v.spec.reach_above() + 1;
            let cache = &self.v_rings[index];
            gather_row(
                &mut self.cols,
                &layer.conv_v.spec.taps,
                p,
                row,
                images,
                |image, yy, xx| {
                    let at = ((image * ring + yy % ring) * IMAGE_SIDE + xx) * p;
                    &cache[at..at + p]
                },
            );
            let width = layer.conv_v.taps().len() * p;
            // vp = conv_v(v) + b.
            self.wide.clear();
            self.wide.resize(m * 2 * p, 0.0);
            matmul(
                &mut self.wide,
                MatRef::row_major(&self.cols, m, width),
                MatRef::row_major(&layer.conv_v.packed, width, 2 * p),
                false,
            );
            for values in self.wide.chunks_exact_mut(2 * p) {
                Epilogue::LINEAR.apply_row(values, &layer.conv_v.bias, None, None, None);
            }
            // link(vp), the start of every horizontal pre-activation of this row.
            layer
                .link
                .forward_rows(&self.wide, 0, &mut self.link_rows[index], false);
            if index < last {
                // v' = gate(vp + cond), into the next layer's ring.
                self.narrow.clear();
                self.narrow.resize(m * p, 0.0);
                for (r, (ts, out)) in self
                    .wide
                    .chunks_exact_mut(2 * p)
                    .zip(self.narrow.chunks_exact_mut(p))
                    .enumerate()
                {
                    let (bias, _) = layer.gate_biases(class_of_row(self.labels, r));
                    Epilogue::GATE.apply_row(ts, bias, Some(out), None, None);
                }
                let next_ring = ops.layers[index + 1].conv_v.spec.reach_above() + 1;
                store_ring_row(
                    &mut self.v_rings[index + 1],
                    &self.narrow,
                    next_ring,
                    row,
                    images,
                    p,
                );
            }
        }
    }

    /// The horizontal stack and the head at pixel (`row`, `col`).
    fn horizontal_pixel(&mut self, canvas: &[f32], row: usize, col: usize) {
        let ops = self.ops;
        let p = ops.maps;
        let images = self.images;
        let side = IMAGE_SIDE as isize;
        // h0 from the pixels to the left.
        let taps = &ops.first_h.spec.taps;
        self.cols.clear();
        self.cols.resize(images * taps.len(), 0.0);
        for (t, tap) in taps.iter().enumerate() {
            let xx = col as isize + tap.dx;
            if (0..side).contains(&xx) {
                for image in 0..images {
                    self.cols[image * taps.len() + t] =
                        canvas[image * IMAGE_PIXELS + row * IMAGE_SIDE + xx as usize];
                }
            }
        }
        self.narrow.clear();
        self.narrow.resize(images * p, 0.0);
        matmul(
            &mut self.narrow,
            MatRef::row_major(&self.cols, images, taps.len()),
            MatRef::row_major(&ops.first_h.packed, taps.len(), p),
            false,
        );
        for (image, values) in self.narrow.chunks_exact_mut(p).enumerate() {
            Epilogue::LINEAR.apply_row(values, &ops.first_h.bias, None, None, None);
            store_pixel(&mut self.h_rows[0], values, image, col, p);
        }
        for (index, layer) in ops.layers.iter().enumerate() {
            // hp = link(vp) + conv_h(h), then the gate, then h' = h + res(gate).
            self.wide.clear();
            for image in 0..images {
                let at = (image * IMAGE_SIDE + col) * 2 * p;
                self.wide
                    .extend_from_slice(&self.link_rows[index][at..at + 2 * p]);
            }
            let h_in = &self.h_rows[index];
            let taps = &layer.conv_h.spec.taps;
            self.cols.clear();
            self.cols.resize(images * taps.len() * p, 0.0);
            for (t, tap) in taps.iter().enumerate() {
                let xx = col as isize + tap.dx;
                if !(0..side).contains(&xx) {
                    continue;
                }
                for image in 0..images {
                    let from = (image * IMAGE_SIDE + xx as usize) * p;
                    let to = (image * taps.len() + t) * p;
                    self.cols[to..to + p].copy_from_slice(&h_in[from..from + p]);
                }
            }
            let width = taps.len() * p;
            matmul(
                &mut self.wide,
                MatRef::row_major(&self.cols, images, width),
                MatRef::row_major(&layer.conv_h.packed, width, 2 * p),
                true,
            );
            self.gated.clear();
            self.gated.resize(images * p, 0.0);
            let labels = self.labels;
            for (image, (ts, out)) in self
                .wide
                .chunks_exact_mut(2 * p)
                .zip(self.gated.chunks_exact_mut(p))
                .enumerate()
            {
                let (_, bias) = layer.gate_biases(class_of(labels, image * IMAGE_PIXELS));
                Epilogue::GATE.apply_row(ts, bias, Some(out), None, None);
            }
            self.narrow.clear();
            self.narrow.resize(images * p, 0.0);
            layer
                .res
                .forward_rows(&self.gated, 0, &mut self.narrow, false);
            let (h_in, h_out) = self.h_rows.split_at_mut(index + 1);
            let h_in = &h_in[index];
            for (image, values) in self.narrow.chunks_exact_mut(p).enumerate() {
                let at = (image * IMAGE_SIDE + col) * p;
                let residual = Some(&h_in[at..at + p]);
                Epilogue {
                    activation: Activation::Identity,
                    residual: true,
                }
                .apply_row(values, &layer.res.bias, None, residual, None);
                store_pixel(&mut h_out[0], values, image, col, p);
            }
        }
        // Head: relu(h) -> out1 -> relu -> out2.
        let h_last = &self.h_rows[ops.layers.len()];
        self.gated.clear();
        for image in 0..images {
            let at = (image * IMAGE_SIDE + col) * p;
            self.gated
                .extend(h_last[at..at + p].iter().map(|&v| relu_keeping_sign(v)));
        }
        self.narrow.clear();
        self.narrow.resize(images * p, 0.0);
        ops.out1
            .forward_rows(&self.gated, 0, &mut self.narrow, false);
        for values in self.narrow.chunks_exact_mut(p) {
            Epilogue::RELU.apply_row(values, &ops.out1.bias, None, None, None);
        }
        self.logits.clear();
        self.logits.resize(images, 0.0);
        ops.out2
            .forward_rows(&self.narrow, 0, &mut self.logits, false);
        for v in &mut self.logits {
            Epilogue::LINEAR.apply_row(std::slice::from_mut(v), &ops.out2.bias, None, None, None);
        }
    }
}

/// The class of row `r` of a `[images * 28, ..]` row buffer.
fn class_of_row(labels: &[u8], r: usize) -> usize {
    class_of(labels, r / IMAGE_SIDE * IMAGE_PIXELS)
}

/// im2col of image row `row` for every image: `cols[(image * 28 + col), t * channels..]` holds
/// the input `fetch(image, yy, xx)` of tap `t` at column `col` (zero outside the image).
fn gather_row<'s>(
    cols: &mut Vec<f32>,
    taps: &[crate::model::arch::conv_spec::Tap],
    channels: usize,
    row: usize,
    images: usize,
    fetch: impl Fn(usize, usize, usize) -> &'s [f32],
) {
    let width = taps.len() * channels;
    let side = IMAGE_SIDE as isize;
    cols.clear();
    cols.resize(images * IMAGE_SIDE * width, 0.0);
    for image in 0..images {
        for col in 0..IMAGE_SIDE {
            let base = (image * IMAGE_SIDE + col) * width;
            for (t, tap) in taps.iter().enumerate() {
                let (yy, xx) = (row as isize + tap.dy, col as isize + tap.dx);
                if (0..side).contains(&yy) && (0..side).contains(&xx) {
                    let to = base + t * channels;
                    cols[to..to + channels].copy_from_slice(fetch(image, yy as usize, xx as usize));
                }
            }
        }
    }
}

/// Writes a row's values (`[images * 28, p]`) into a ring cache at image row `row`.
fn store_ring_row(
    ring_cache: &mut [f32],
    values: &[f32],
    ring: usize,
    row: usize,
    images: usize,
    p: usize,
) {
    for image in 0..images {
        let to = (image * ring + row % ring) * IMAGE_SIDE * p;
        let from = image * IMAGE_SIDE * p;
        ring_cache[to..to + IMAGE_SIDE * p].copy_from_slice(&values[from..from + IMAGE_SIDE * p]);
    }
}

/// Writes one pixel's values into a `[images * 28, p]` row buffer.
fn store_pixel(row_buffer: &mut [f32], values: &[f32], image: usize, col: usize, p: usize) {
    let at = (image * IMAGE_SIDE + col) * p;
    row_buffer[at..at + p].copy_from_slice(values);
}

fn draw<R: Rng>(rng: &mut R, p: f32) -> f32 {
    if rng.random::<f32>() < p {
        1.0
    } else {
        0.0
    }
}

fn finish_pixel(grid: &mut SampleGrid, pos: usize, control: RowControl<'_>) -> ControlFlow<()> {
    grid.pixels_done = pos + 1;
    if (pos + 1).is_multiple_of(IMAGE_SIDE) {
        control(grid)
    } else {
        ControlFlow::Continue(())
    }
}
