//! Pixel-by-pixel generation: the straightforward sampler (one full forward pass per pixel) and
//! the fast incremental one, which computes every layer at each position exactly once.
//!
//! Both start from an all-zero canvas, visit pixels row by row from the top-left and, at each
//! pixel, draw one uniform per image in image order: pixel = 1 if `u < sigmoid(logit)`. So for
//! the same RNG they draw the same numbers and, given the same probabilities, the same pixels.

use rand::Rng;

use super::cpu_net::CpuNet;
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
    let mut grid = SampleGrid::blank(count);
    let mut probs = Vec::with_capacity(count * IMAGE_PIXELS);
    for pos in 0..IMAGE_PIXELS {
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
pub fn sample_fast<R: Rng>(
    net: &CpuNet,
    count: usize,
    rng: &mut R,
    progress: Progress<'_>,
) -> (SampleGrid, Vec<f32>) {
    let plans = net.plans();
    let mut grid = SampleGrid::blank(count);
    let mut probs = Vec::with_capacity(count * IMAGE_PIXELS);
    // caches[l]: input of layer l, [count * 784, in_channels]; caches[0] is the canvas.
    let mut caches: Vec<Vec<f32>> = plans
        .iter()
        .skip(1)
        .map(|plan| vec![0.0; count * IMAGE_PIXELS * plan.spec.in_channels])
        .collect();
    let side = IMAGE_SIDE as isize;
    let mut cols = Vec::new();
    let mut out = Vec::new();
    for pos in 0..IMAGE_PIXELS {
        let (y, x) = ((pos / IMAGE_SIDE) as isize, (pos % IMAGE_SIDE) as isize);
        for (index, plan) in plans.iter().enumerate() {
            let (cin, cout) = (plan.spec.in_channels, plan.spec.out_channels);
            let (done, rest) = caches.split_at_mut(index);
            let input: &[f32] = done.last().map_or(&grid.pixels, Vec::as_slice);
            let width = plan.taps.len() * cin;
            cols.clear();
            cols.resize(count * width, 0.0);
            for (t, &(dy, dx, _)) in plan.taps.iter().enumerate() {
                let (yy, xx) = (y + dy, x + dx);
                if !((0..side).contains(&yy) && (0..side).contains(&xx)) {
                    continue;
                }
                let src_pos = (yy * side + xx) as usize;
                for image in 0..count {
                    let from = (image * IMAGE_PIXELS + src_pos) * cin;
                    let to = image * width + t * cin;
                    cols[to..to + cin].copy_from_slice(&input[from..from + cin]);
                }
            }
            out.clear();
            for _ in 0..count {
                out.extend_from_slice(&plan.bias);
            }
            matmul(
                &mut out,
                MatRef::row_major(&cols, count, width),
                MatRef::row_major(&plan.packed, width, cout),
                true,
            );
            if plan.spec.relu {
                out.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            if plan.spec.residual {
                for image in 0..count {
                    let from = (image * IMAGE_PIXELS + pos) * cin;
                    for c in 0..cout {
                        out[image * cout + c] += input[from + c];
                    }
                }
            }
            if let Some(next) = rest.first_mut() {
                for image in 0..count {
                    let to = (image * IMAGE_PIXELS + pos) * cout;
                    next[to..to + cout].copy_from_slice(&out[image * cout..(image + 1) * cout]);
                }
            }
        }
        // `out` now holds the logits of this position, one per image.
        for (image, &logit) in out.iter().enumerate().take(count) {
            let p = sigmoid(logit);
            probs.push(p);
            grid.pixels[image * IMAGE_PIXELS + pos] = draw(rng, p);
        }
        finish_pixel(&mut grid, pos, progress);
    }
    (grid, probs)
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
    if (pos + 1) % IMAGE_SIDE == 0 {
        progress(grid);
    }
}
