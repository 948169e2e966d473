//! What sampling produces and is asked for, whichever path draws: the grid of images
//! ([`SampleGrid`]) and which digits a conditional model draws ([`ClassChoice`]). The CPU
//! samplers (`cpu/sampler.rs`), the device sampler (`device/sampler.rs`) and everything that
//! shows samples share them.

use rand::Rng;

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::arch::gated_spec::CLASS_COUNT;

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
        grid_side(self.count)
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

/// Images per side of a square grid of `count` images (`ceil(sqrt(count))`, at least 1).
pub fn grid_side(count: usize) -> usize {
    let mut side = (count as f64).sqrt() as usize;
    while side * side < count {
        side += 1;
    }
    side.max(1)
}

/// Which digits a conditional model is asked to draw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ClassChoice {
    /// One row of the square grid per digit: row `r` draws digit `r mod 10`.
    #[default]
    Rows,
    /// Any digit: each sample's digit drawn uniformly (from the sampling RNG, first).
    Any,
    /// Every sample draws this digit (0-9).
    Digit(u8),
}

impl ClassChoice {
    /// The digit of each of `count` samples (a grid of `ceil(sqrt(count))` per row).
    pub fn labels<R: Rng>(self, count: usize, rng: &mut R) -> Vec<u8> {
        let side = grid_side(count);
        (0..count)
            .map(|i| match self {
                ClassChoice::Rows => ((i / side) % CLASS_COUNT) as u8,
                ClassChoice::Any => rng.random_range(0..CLASS_COUNT as u8),
                ClassChoice::Digit(d) => d.min(CLASS_COUNT as u8 - 1),
            })
            .collect()
    }

    /// Parses `rows`, `any` or a digit `0`-`9`.
    pub fn parse(text: &str) -> Result<ClassChoice, String> {
        match text {
            "rows" => Ok(ClassChoice::Rows),
            "any" => Ok(ClassChoice::Any),
            digit => match digit.parse::<u8>() {
                Ok(d) if usize::from(d) < CLASS_COUNT => Ok(ClassChoice::Digit(d)),
                _ => Err(format!(
                    "'{digit}' is not a class choice: use rows, any or a digit 0-9"
                )),
            },
        }
    }
}
