//! Pixel-by-pixel generation: the straightforward sampler (one full forward pass per pixel) and
//! the fast incremental one, which computes every layer at each position exactly once.
//!
//! Both start from an all-zero canvas, visit pixels row by row from the top-left and, at each
//! pixel, draw one uniform per image in image order: pixel = 1 if `u < sigmoid(logit)`. So for
//! the same RNG they draw the same numbers and, given the same probabilities, the same pixels.

use rand::Rng;

use super::cpu_net::{CpuNet, LayerPlan};
use super::gemm::{matmul, MatRef};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};

/// A set of generated images.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleGrid {
    /// Number of images.
    pub count: usize,
    /// `count * 784` pixels, 0.0 or 1.0; pixels not yet drawn are 0.
    pub pixels: Vec<f32>,
    /// Pixels of each image drawn so far (784 when complete).
    pub pixels_done: usize,
}

impl SampleGrid {
    /// An all-zero canvas of `count` images.
    pub fn blank(count: usize) -> SampleGrid {
        SampleGrid {
            count,
            pixels: vec![0.0; count * IMAGE_PIXELS],
            pixels_done: 0,
        }
    }

    /// Images per side of the square grid (`ceil(sqrt(count))`).
    pub fn side(&self) -> usize {
        let mut side = (self.count as f64).sqrt() as usize;
        while side * side < self.count {
            side += 1;
        }
        side.max(1)
    }

    /// Mean of the drawn pixels.
    pub fn mean_pixel(&self) -> f64 {
        self.pixels.iter().map(|&p| p as f64).sum::<f64>() / self.pixels.len().max(1) as f64
    }

    /// The grid as one greyscale image, `side * 28` square, white strokes on black.
    pub fn to_luma(&self) -> (usize, Vec<u8>) {
        let side = self.side();
        let width = side * IMAGE_SIDE;
        let mut out = vec![0u8; width * width];
        for (index, image) in self.pixels.chunks_exact(IMAGE_PIXELS).enumerate() {
            let (gy, gx) = (index / side, index % side);
            for (pos, &value) in image.iter().enumerate() {
                let (y, x) = (pos / IMAGE_SIDE, pos % IMAGE_SIDE);
                out[(gy * IMAGE_SIDE + y) * width + gx * IMAGE_SIDE + x] =
                    if value > 0.5 { 255 } else { 0 };
            }
        }
        (width, out)
    }
}

/// Called after each completed image row with the canvas so far.
pub type Progress<'a> = &'a mut dyn FnMut(&SampleGrid);

/// The straightforward sampler: 784 full forward passes. Returns the grid and, per drawn pixel,
/// the probability used (`[784, count]`, pixel-major).
pub fn sample_naive<R: Rng>(
    net: &CpuNet,
    count: usize,
    rng: &mut R,
    progress: Progress<'_>,
) -> (SampleGrid, Vec<f32>) {
    sample_naive_pixels(net, count, IMAGE_PIXELS, rng, progress)
}

/// [`sample_naive`] stopped after the first `pixels` pixels (of 784) of each image: the rest of
/// the canvas stays 0 and `pixels_done` says how far it got. Every pass costs a full forward pass,
/// so timing a few rows of it measures the whole sampler's pace.
pub fn sample_naive_pixels<R: Rng>(
    net: &CpuNet,
    count: usize,
    pixels: usize,
    rng: &mut R,
    progress: Progress<'_>,
) -> (SampleGrid, Vec<f32>) {
    let mut grid = SampleGrid::blank(count);
    let mut probs = Vec::with_capacity(count * IMAGE_PIXELS);
    for pos in 0..pixels.min(IMAGE_PIXELS) {
        let logits = net.forward(&grid.pixels);
        for image in 0..count {
            let p = sigmoid(logits[image * IMAGE_PIXELS + pos]);
            probs.push(p);
            grid.pixels[image * IMAGE_PIXELS + pos] = draw(rng, p);
        }
        finish_pixel(&mut grid, pos, progress);
    }
    (grid, probs)
}

/// The fast sampler: layer activations are cached per position and each is computed once, when
/// its position comes up (all it depends on is final by then, by causality). Same draws and
/// probabilities as [`sample_naive`].
///
/// A layer's cached input only needs the rows its taps reach (the current row and `kernel / 2`
/// above), so each cache is a ring of that many image rows: small enough to stay in cache.
/// The images are split into two fixed halves computed side by side (each image's values do not
/// depend on the split or on the thread count); the draws stay in image order on this thread.
pub fn sample_fast<R: Rng>(
    net: &CpuNet,
    count: usize,
    rng: &mut R,
    progress: Progress<'_>,
) -> (SampleGrid, Vec<f32>) {
    let plans = net.plans();
    let mut grid = SampleGrid::blank(count);
    let mut probs = Vec::with_capacity(count * IMAGE_PIXELS);
    // caches[l]: input of layer l + 1, [count, ring rows * 28, channels].
    let mut caches: Vec<Vec<f32>> = plans
        .iter()
        .skip(1)
        .map(|plan| vec![0.0; count * ring_len(plan)])
        .collect();
    let first_half = count.div_ceil(2);
    let mut scratch = [Scratch::default(), Scratch::default()];
    for pos in 0..IMAGE_PIXELS {
        {
            let (canvas_a, canvas_b) = grid.pixels.split_at(first_half * IMAGE_PIXELS);
            let mut caches_a = Vec::with_capacity(caches.len());
            let mut caches_b = Vec::with_capacity(caches.len());
            for (cache, plan) in caches.iter_mut().zip(plans.iter().skip(1)) {
                let (a, b) = cache.split_at_mut(first_half * ring_len(plan));
                caches_a.push(a);
                caches_b.push(b);
            }
            let [scratch_a, scratch_b] = &mut scratch;
            rayon::join(
                || advance(plans, canvas_a, &mut caches_a, first_half, pos, scratch_a),
                || {
                    advance(
                        plans,
                        canvas_b,
                        &mut caches_b,
                        count - first_half,
                        pos,
                        scratch_b,
                    )
                },
            );
        }
        // The logits of this position, one per image, in image order.
        let logits = scratch[0].out.iter().chain(&scratch[1].out);
        for (image, &logit) in logits.enumerate().take(count) {
            let p = sigmoid(logit);
            probs.push(p);
            grid.pixels[image * IMAGE_PIXELS + pos] = draw(rng, p);
        }
        finish_pixel(&mut grid, pos, progress);
    }
    (grid, probs)
}

/// Image rows a layer's cached input keeps: the current one and those its taps reach above.
fn ring_rows(plan: &LayerPlan) -> usize {
    plan.taps
        .iter()
        .map(|&(dy, _, _)| (-dy).max(0) as usize)
        .max()
        .unwrap_or(0)
        + 1
}

/// Values per image of a layer's cached input.
fn ring_len(plan: &LayerPlan) -> usize {
    ring_rows(plan) * IMAGE_SIDE * plan.spec.in_channels
}

/// Per-half buffers of the fast sampler.
#[derive(Default)]
struct Scratch {
    cols: Vec<f32>,
    /// The current layer's output at the current position, `[images, out]`; the logits at the end.
    out: Vec<f32>,
}

/// Computes every layer at position `pos` for `images` images: `canvas` their pixels,
/// `caches[l]` their cached input of layer `l + 1`. Leaves the logits in `scratch.out`.
///
/// Each tap is its own product accumulated in tap order over a strided view of the cache, which
/// is the order of the full network's single product, so the values are the same.
fn advance(
    plans: &[LayerPlan],
    canvas: &[f32],
    caches: &mut [&mut [f32]],
    images: usize,
    pos: usize,
    scratch: &mut Scratch,
) {
    let Scratch { cols, out } = scratch;
    out.clear();
    if images == 0 {
        return;
    }
    let side = IMAGE_SIDE as isize;
    let (y, x) = ((pos / IMAGE_SIDE) as isize, (pos % IMAGE_SIDE) as isize);
    for (index, plan) in plans.iter().enumerate() {
        let (cin, cout) = (plan.spec.in_channels, plan.spec.out_channels);
        let (done, rest) = caches.split_at_mut(index);
        out.clear();
        out.resize(images * cout, 0.0);
        // Where the input of (image, row, col) lives: offset of image 0 and the image stride.
        let (input, image_stride, rows): (&[f32], usize, isize) = match done.last() {
            None => (canvas, IMAGE_PIXELS, side),
            Some(cache) => (&**cache, ring_len(plan), ring_rows(plan) as isize),
        };
        let offset = |yy: isize, xx: isize| ((yy.rem_euclid(rows) * side + xx) as usize) * cin;
        if cin == 1 || index == 0 {
            // Gather the taps (one value each for the first layer) into one row per image.
            let width = plan.taps.len() * cin;
            cols.clear();
            cols.resize(images * width, 0.0);
            for (t, &(dy, dx, _)) in plan.taps.iter().enumerate() {
                let (yy, xx) = (y + dy, x + dx);
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
                MatRef::row_major(&plan.packed, width, cout),
                false,
            );
        } else {
            let mut first = true;
            for (t, &(dy, dx, _)) in plan.taps.iter().enumerate() {
                let (yy, xx) = (y + dy, x + dx);
                if !((0..side).contains(&yy) && (0..side).contains(&xx)) {
                    continue;
                }
                let lhs = MatRef::strided(&input[offset(yy, xx)..], images, cin, image_stride, 1);
                let weights = &plan.packed[t * cin * cout..(t + 1) * cin * cout];
                matmul(out, lhs, MatRef::row_major(weights, cin, cout), !first);
                first = false;
            }
        }
        // Bias after the product and then the ReLU, in the network's order, so the values are
        // those of a full forward pass.
        for row in out.chunks_exact_mut(cout) {
            for (v, &b) in row.iter_mut().zip(&plan.bias) {
                *v += b;
                if plan.spec.relu {
                    *v = v.max(0.0);
                }
            }
        }
        if plan.spec.residual {
            let from = offset(y, x);
            for (image, row) in out.chunks_exact_mut(cout).enumerate() {
                let src = &input[image * image_stride + from..][..cout];
                row.iter_mut().zip(src).for_each(|(v, &s)| *v += s);
            }
        }
        if let Some(next) = rest.first_mut() {
            let next_plan = &plans[index + 1];
            let (stride, next_rows) = (ring_len(next_plan), ring_rows(next_plan) as isize);
            let to = ((y.rem_euclid(next_rows) * side + x) as usize) * cout;
            for (image, row) in out.chunks_exact(cout).enumerate() {
                next[image * stride + to..][..cout].copy_from_slice(row);
            }
        }
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

fn draw<R: Rng>(rng: &mut R, p: f32) -> f32 {
    if rng.random::<f32>() < p {
        1.0
    } else {
        0.0
    }
}

fn finish_pixel(grid: &mut SampleGrid, pos: usize, progress: Progress<'_>) {
    grid.pixels_done = pos + 1;
    if (pos + 1).is_multiple_of(IMAGE_SIDE) {
        progress(grid);
    }
}
