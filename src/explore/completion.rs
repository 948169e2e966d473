//! Completions: keep the start of an image (its top rows, or everything before a hole) and let
//! the model draw the rest, several times, with the fast sampler started from that prefix.
//!
//! The model is autoregressive in raster order, so it can only condition on pixels that come
//! before the ones it draws: for a hole, every pixel after the hole's first one is redrawn,
//! including the kept pixels to its right and below it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::cpu::sampler::Progress;
use crate::model::{sample_fast_styled, CpuNet, SampleGrid, SampleStyle};

/// Most completions one request may ask for.
pub const MAX_COMPLETIONS: usize = 100;

/// A request that cannot be completed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CompletionError {
    /// The image is not 28x28.
    #[error("the image has {0} pixels, not 784 (28x28)")]
    ImageSize(usize),
    /// Zero or too many completions.
    #[error("{0} completions is out of range: use 1..={MAX_COMPLETIONS}")]
    Count(usize),
    /// More rows kept than the image has.
    #[error("keeping {0} rows is out of range: use 0..=28")]
    KeepRows(usize),
}

/// Pixels kept when the top `rows` rows are kept.
pub fn keep_pixels_for_rows(rows: usize) -> Result<usize, CompletionError> {
    if rows > IMAGE_SIDE {
        return Err(CompletionError::KeepRows(rows));
    }
    Ok(rows * IMAGE_SIDE)
}

/// A rectangle of erased pixels, in pixel rows and columns (`top..bottom`, `left..right`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hole {
    /// First erased row.
    pub top: usize,
    /// First erased column.
    pub left: usize,
    /// One past the last erased row.
    pub bottom: usize,
    /// One past the last erased column.
    pub right: usize,
}

impl Hole {
    /// The hole spanning two corner pixels `(row, col)` (in any order), clamped to the image.
    pub fn spanning(a: (usize, usize), b: (usize, usize)) -> Hole {
        let last = IMAGE_SIDE - 1;
        let (r0, r1) = (a.0.min(b.0).min(last), a.0.max(b.0).min(last));
        let (c0, c1) = (a.1.min(b.1).min(last), a.1.max(b.1).min(last));
        Hole {
            top: r0,
            left: c0,
            bottom: r1 + 1,
            right: c1 + 1,
        }
    }

    /// Whether pixel `pos` (raster index) is erased.
    pub fn contains(&self, pos: usize) -> bool {
        let (row, col) = (pos / IMAGE_SIDE, pos % IMAGE_SIDE);
        (self.top..self.bottom).contains(&row) && (self.left..self.right).contains(&col)
    }

    /// The first erased pixel in raster order: the model keeps everything before it and redraws
    /// everything from it on.
    pub fn first_pixel(&self) -> usize {
        (self.top * IMAGE_SIDE + self.left).min(IMAGE_PIXELS)
    }
}

/// What to complete and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletionSpec {
    /// Pixels kept from the start of the image (the top rows, or all before a hole).
    pub keep_pixels: usize,
    /// Completions to draw.
    pub count: usize,
    /// The digit a class-conditional model completes (others ignore it; without one it draws 0).
    pub label: Option<u8>,
    /// Seed of the sampler.
    pub seed: u64,
}

/// Draws `spec.count` completions of `image` (784 pixels, 0.0 or 1.0): its first
/// `spec.keep_pixels` pixels are kept exactly, the rest drawn by the fast sampler from an RNG
/// seeded by `spec.seed`, from the model's own probabilities (the Explore tab's completions).
/// `progress` sees the completions after each image row drawn.
pub fn complete(
    net: &CpuNet,
    image: &[f32],
    spec: CompletionSpec,
    progress: Progress<'_>,
) -> Result<SampleGrid, CompletionError> {
    complete_styled(net, image, spec, SampleStyle::PLAIN, progress)
}

/// [`complete`] drawing with `style` (guidance and temperature, as `complete --guidance`; the
/// caller checked the model can take it).
pub fn complete_styled(
    net: &CpuNet,
    image: &[f32],
    spec: CompletionSpec,
    style: SampleStyle,
    progress: Progress<'_>,
) -> Result<SampleGrid, CompletionError> {
    let start = prefix_grid(image, spec.keep_pixels, spec.count)?;
    let labels = completion_labels(spec);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut on_row = |grid: &SampleGrid| {
        progress(grid);
        std::ops::ControlFlow::Continue(())
    };
    Ok(sample_fast_styled(net, start, &labels, style, &mut rng, &mut on_row).0)
}

/// The label of each completion: `spec.label` for all, or none.
pub fn completion_labels(spec: CompletionSpec) -> Vec<u8> {
    spec.label
        .map(|label| vec![label; spec.count])
        .unwrap_or_default()
}

/// `count` copies of `image` with its first `keep_pixels` kept (marked done) and the rest
/// blank: where a sampler starts.
pub fn prefix_grid(
    image: &[f32],
    keep_pixels: usize,
    count: usize,
) -> Result<SampleGrid, CompletionError> {
    if image.len() != IMAGE_PIXELS {
        return Err(CompletionError::ImageSize(image.len()));
    }
    if count == 0 || count > MAX_COMPLETIONS {
        return Err(CompletionError::Count(count));
    }
    let keep_pixels = keep_pixels.min(IMAGE_PIXELS);
    let mut pixels = image.repeat(count);
    for copy in pixels.chunks_exact_mut(IMAGE_PIXELS) {
        copy[keep_pixels..].fill(0.0);
    }
    Ok(SampleGrid {
        count,
        pixels,
        pixels_done: keep_pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hole_spans_its_corners_in_any_order_and_starts_at_its_top_left_pixel() {
        let hole = Hole::spanning((12, 20), (5, 3));
        assert_eq!(
            hole,
            Hole {
                top: 5,
                left: 3,
                bottom: 13,
                right: 21
            }
        );
        assert_eq!(hole.first_pixel(), 5 * 28 + 3);
        assert!(hole.contains(5 * 28 + 3) && hole.contains(12 * 28 + 20));
        assert!(!hole.contains(5 * 28 + 2) && !hole.contains(13 * 28 + 3));
    }

    #[test]
    fn requests_out_of_range_are_refused() {
        assert_eq!(keep_pixels_for_rows(29), Err(CompletionError::KeepRows(29)));
        assert_eq!(keep_pixels_for_rows(28), Ok(784));
        let image = vec![0.0; IMAGE_PIXELS];
        assert_eq!(prefix_grid(&image, 0, 0), Err(CompletionError::Count(0)));
        assert_eq!(
            prefix_grid(&image[..100], 0, 1),
            Err(CompletionError::ImageSize(100))
        );
    }
}
