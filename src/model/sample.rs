//! What sampling produces and is asked for, whichever path draws: the grid of images
//! ([`SampleGrid`]), which digits a conditional model draws ([`ClassChoice`]) and how each pixel
//! is drawn from the model's logits ([`SampleStyle`]: guidance and temperature). The CPU
//! samplers (`cpu/sampler.rs`), the device sampler (`device/sampler.rs`) and everything that
//! shows samples share them.

use rand::Rng;

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::arch::config::ModelConfig;
use crate::model::arch::gated_spec::CLASS_COUNT;

/// How a sampler turns the model's logits into a pixel: with the conditional logit `l_c` (the
/// asked digit), the unconditional one `l_u` (the "no label" class) and
/// `l = (l_u + guidance * (l_c - l_u)) / temperature`, the pixel is 1 with probability
/// `sigmoid(l)`. Guidance 1 is plain conditional sampling and needs no unconditional pass;
/// guidance above 1 (classifier-free guidance, Ho & Salimans 2022) needs a model trained with
/// label dropout. Temperature below 1 sharpens every pixel's probability.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SampleStyle {
    /// Guidance scale `s` (1: none).
    pub guidance: f32,
    /// Temperature `T` (1: the model's own probabilities).
    pub temperature: f32,
}

impl Eq for SampleStyle {}

/// The studio's and `sample`'s guidance scale for a model trained with label dropout (README,
/// "Digits": what each lever did).
pub const DEFAULT_GUIDANCE: f32 = 1.5;
/// The studio's and `sample`'s temperature for a model trained with label dropout.
pub const DEFAULT_TEMPERATURE: f32 = 0.9;
/// The largest guidance scale.
pub const MAX_GUIDANCE: f32 = 10.0;
/// The smallest temperature.
pub const MIN_TEMPERATURE: f32 = 0.05;
/// The largest temperature.
pub const MAX_TEMPERATURE: f32 = 5.0;

impl Default for SampleStyle {
    fn default() -> Self {
        SampleStyle::PLAIN
    }
}

impl SampleStyle {
    /// The model's own probabilities, no guidance: how every model sampled before guidance.
    pub const PLAIN: SampleStyle = SampleStyle {
        guidance: 1.0,
        temperature: 1.0,
    };

    /// The style a model samples with unless asked otherwise: [`DEFAULT_GUIDANCE`] and
    /// [`DEFAULT_TEMPERATURE`] for a model trained with label dropout (temperature alone does
    /// not help, measured), [`SampleStyle::PLAIN`] for every other.
    pub fn default_for(model: &ModelConfig) -> SampleStyle {
        if model.has_no_label_class() {
            SampleStyle {
                guidance: DEFAULT_GUIDANCE,
                temperature: DEFAULT_TEMPERATURE,
            }
        } else {
            SampleStyle::PLAIN
        }
    }

    /// `chosen` (or the model's default), with the guidance a model can take: 1 for a model
    /// without the "no label" class. What the studio and the trainer draw with.
    pub fn for_model(chosen: Option<SampleStyle>, model: &ModelConfig) -> SampleStyle {
        let mut style = chosen.unwrap_or_else(|| SampleStyle::default_for(model));
        if !model.has_no_label_class() {
            style.guidance = 1.0;
        }
        style
    }

    /// Whether a second, unconditional pass is needed (guidance other than 1).
    pub fn is_guided(&self) -> bool {
        self.guidance != 1.0
    }

    /// The logit a pixel is drawn from: `(l_u + s (l_c - l_u)) / T`, or `l_c / T` without
    /// guidance (`unconditional` is then not read).
    #[inline]
    pub fn logit(&self, conditional: f32, unconditional: f32) -> f32 {
        let guided = if self.is_guided() {
            unconditional + self.guidance * (conditional - unconditional)
        } else {
            conditional
        };
        guided / self.temperature
    }

    /// Refuses a style `model` cannot sample with: a guidance scale or temperature out of
    /// range, or guidance for a model that was not trained with label dropout.
    pub fn check(&self, model: &ModelConfig) -> Result<(), String> {
        if !(self.guidance.is_finite() && (0.0..=MAX_GUIDANCE).contains(&self.guidance)) {
            return Err(format!(
                "guidance {} is out of range: use 0 to {MAX_GUIDANCE} (1: none)",
                self.guidance
            ));
        }
        if !(self.temperature.is_finite()
            && (MIN_TEMPERATURE..=MAX_TEMPERATURE).contains(&self.temperature))
        {
            return Err(format!(
                "temperature {} is out of range: use {MIN_TEMPERATURE} to {MAX_TEMPERATURE} (1: none)",
                self.temperature
            ));
        }
        if self.is_guided() && !model.has_no_label_class() {
            return Err(GUIDANCE_NEEDS_LABEL_DROPOUT.to_string());
        }
        Ok(())
    }
}

/// Why a model cannot be guided, in one line (the CLI's error, the studio's tooltip).
pub const GUIDANCE_NEEDS_LABEL_DROPOUT: &str = "guidance needs a class-conditional model trained with label dropout (train --conditional, whose default --label-dropout is 0.1): this model has no \"no label\" class to guide against";

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
