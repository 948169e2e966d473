//! Per-pixel costs `-log p(x_i | x_<i)` of binarized images from one forward pass: the
//! likelihood heatmap. Their sum is the image's negative log-likelihood, computed term by term
//! exactly as the training loss and `eval` compute it.

use crate::data::IMAGE_PIXELS;
use crate::model::CpuNet;
use crate::train::bits_per_dim;

/// Where one image's likelihood goes: every pixel's cost and probability of being on.
#[derive(Clone, Debug, PartialEq)]
pub struct NllMap {
    /// `-log p(x_i | x_<i)` in nats for each of the 784 pixels, row-major.
    pub cost_nats: Vec<f64>,
    /// `p(x_i = 1 | x_<i)` for each of the 784 pixels, row-major.
    pub prob_on: Vec<f32>,
}

impl NllMap {
    /// The map of one image from its 784 logits and 784 pixels (0.0 or 1.0).
    fn from_logits(logits: &[f32], pixels: &[f32]) -> NllMap {
        NllMap {
            cost_nats: logits
                .iter()
                .zip(pixels)
                .map(|(&z, &x)| pixel_cost_nats(z, x))
                .collect(),
            prob_on: logits.iter().map(|&z| sigmoid(z)).collect(),
        }
    }

    /// The image's negative log-likelihood, nats: the sum of the pixel costs in raster order
    /// (the order `eval` adds them in for a single image).
    pub fn nll_nats(&self) -> f64 {
        self.cost_nats.iter().sum()
    }

    /// The mean cost in nats per pixel (what `eval` reports as `test_cost_nats_per_pixel`).
    pub fn cost_nats_per_pixel(&self) -> f64 {
        self.nll_nats() / IMAGE_PIXELS as f64
    }

    /// The mean cost in bits per dimension.
    pub fn bits_per_dim(&self) -> f64 {
        bits_per_dim(self.cost_nats_per_pixel())
    }

    /// The most surprising pixel's cost, nats (0 for an empty map).
    pub fn max_cost_nats(&self) -> f64 {
        self.cost_nats.iter().copied().fold(0.0, f64::max)
    }
}

/// `-log p(x | logit z)` in nats for a binary pixel `x`: `max(z,0) - z*x + ln(1 + e^-|z|)`, the
/// stable form the training loss and `eval` sum.
pub fn pixel_cost_nats(logit: f32, pixel: f32) -> f64 {
    let z = f64::from(logit);
    z.max(0.0) - z * f64::from(pixel) + (-z.abs()).exp().ln_1p()
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The maps of `images` (`[n * 784]`, pixels 0.0 or 1.0) from one batched forward pass; a
/// class-conditional model reads one digit label per image from `labels` (others ignore it).
/// A trailing partial image is ignored.
pub fn nll_maps(net: &CpuNet, images: &[f32], labels: &[u8]) -> Vec<NllMap> {
    let whole = images.len() / IMAGE_PIXELS * IMAGE_PIXELS;
    let images = &images[..whole];
    if images.is_empty() {
        return Vec::new();
    }
    let logits = net.forward(images, labels);
    logits
        .chunks_exact(IMAGE_PIXELS)
        .zip(images.chunks_exact(IMAGE_PIXELS))
        .map(|(logits, pixels)| NllMap::from_logits(logits, pixels))
        .collect()
}

/// The map of one image (784 pixels, 0.0 or 1.0) under the digit `label` (read by a
/// class-conditional model, which takes 0 without one); `None` when `image` is not 784 values.
pub fn nll_map(net: &CpuNet, image: &[f32], label: Option<u8>) -> Option<NllMap> {
    if image.len() != IMAGE_PIXELS {
        return None;
    }
    nll_maps(net, image, label.as_slice()).pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pixel_costs_ln2_at_even_odds_and_little_when_the_model_is_sure() {
        assert!((pixel_cost_nats(0.0, 1.0) - std::f64::consts::LN_2).abs() < 1e-12);
        assert!((pixel_cost_nats(0.0, 0.0) - std::f64::consts::LN_2).abs() < 1e-12);
        assert!(pixel_cost_nats(20.0, 1.0) < 1e-8);
        assert!((pixel_cost_nats(20.0, 0.0) - 20.0).abs() < 1e-6);
    }
}
