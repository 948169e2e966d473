//! Which input pixels an output pixel can see through the configured layer stack.

use super::config::LayerSpec;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};

/// For output pixel (`row`, `col`), a 784-long map of the input pixels that reach it through
/// `layers` (propagating each layer's unmasked taps backwards). Stacked masked convolutions
/// leave a blind spot to the upper right, which shows here.
pub fn visible_inputs(layers: &[LayerSpec], row: usize, col: usize) -> Vec<bool> {
    let mut seen = vec![false; IMAGE_PIXELS];
    if row >= IMAGE_SIDE || col >= IMAGE_SIDE {
        return seen;
    }
    seen[row * IMAGE_SIDE + col] = true;
    let side = IMAGE_SIDE as isize;
    for layer in layers.iter().rev() {
        let taps = layer.mask().taps();
        let mut reached = vec![false; IMAGE_PIXELS];
        for (pos, _) in seen.iter().enumerate().filter(|(_, &s)| s) {
            let (y, x) = ((pos / IMAGE_SIDE) as isize, (pos % IMAGE_SIDE) as isize);
            for &(dy, dx) in &taps {
                let (yy, xx) = (y + dy, x + dx);
                if (0..side).contains(&yy) && (0..side).contains(&xx) {
                    reached[(yy * side + xx) as usize] = true;
                }
            }
        }
        seen = reached;
    }
    seen
}

/// Number of input pixels visible from the centre pixel (14, 14) through the first
/// `upto + 1` layers: a size for the layer table.
pub fn receptive_field_size(layers: &[LayerSpec], upto: usize) -> usize {
    let end = (upto + 1).min(layers.len());
    visible_inputs(&layers[..end], IMAGE_SIDE / 2, IMAGE_SIDE / 2)
        .iter()
        .filter(|&&v| v)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;

    #[test]
    fn an_output_never_sees_itself_or_later_pixels() {
        let layers = ModelConfig::seed().layers();
        for &(row, col) in &[(0, 0), (5, 9), (14, 14), (27, 27)] {
            let seen = visible_inputs(&layers, row, col);
            let pos = row * IMAGE_SIDE + col;
            assert!(
                seen[pos..].iter().all(|&v| !v),
                "pixel {pos} sees the future"
            );
        }
        assert!(visible_inputs(&layers, 0, 0).iter().all(|&v| !v));
    }

    #[test]
    fn seed_stack_sees_the_mask_a_field_plus_the_b_growth_with_a_blind_spot() {
        let layers = ModelConfig::seed().layers();
        let seen = visible_inputs(&layers, 14, 14);
        // Left neighbour and the pixel straight above are visible.
        assert!(seen[14 * 28 + 13] && seen[13 * 28 + 14]);
        // Mask A reaches 3 rows up, each mask-B layer one more.
        assert!(seen[9 * 28 + 14] && !seen[8 * 28 + 14]);
        // The blind spot: far upper right beyond the kernel's reach.
        assert!(!seen[9 * 28 + 27]);
        assert!(receptive_field_size(&layers, 0) == 24);
    }
}
