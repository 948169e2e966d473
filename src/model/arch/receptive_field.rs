//! What each input pixel is to an output pixel (visible, in the blind spot, out of reach, later),
//! from the map of the pixels it sees that each family's spec computes, and the receptive field's
//! size per layer of a plain stack.

use super::architecture::Architecture;
use super::config::ModelConfig;
use super::plain_spec::{visible_inputs, LayerSpec};
use crate::data::IMAGE_SIDE;

/// What an input pixel is to an output pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The output pixel itself (never visible: it is what is predicted).
    Output,
    /// An earlier pixel the output sees.
    Visible,
    /// An earlier pixel within the layer stack's reach that masking still hides (the blind spot
    /// of stacked masked convolutions, to the upper right).
    BlindSpot,
    /// An earlier pixel farther away than the kernels reach.
    OutOfReach,
    /// A later pixel (never visible, by design).
    Later,
}

/// For output pixel (`row`, `col`), what each of the 784 input pixels is to it. The reach is
/// the square the unmasked kernels of `layers` would span (the sum of their half-widths).
pub fn classify_inputs(layers: &[LayerSpec], row: usize, col: usize) -> Vec<Reach> {
    let visible = visible_inputs(layers, row, col);
    let reach = layers.iter().map(|l| l.kernel / 2).sum::<usize>();
    classify_visible(&visible, reach, row, col)
}

/// [`classify_inputs`] for a model of either family. The gated one's two stacks see the whole
/// rectangle within their reach above and the row to the left (with a dilated vertical stack,
/// a span of columns per row that narrows with height), so it has no blind spot: what would be
/// one there is a hole, an unseen pixel between two seen ones of its row, or an unseen row
/// between seen ones ([`holes`]).
pub fn classify_model_inputs(model: &ModelConfig, row: usize, col: usize) -> Vec<Reach> {
    let architecture = model.architecture();
    let visible = architecture.visible_inputs(row, col);
    match architecture {
        Architecture::Plain(_) => classify_visible(&visible, architecture.reach(), row, col),
        Architecture::Gated(_) => {
            let holes = holes(&visible, row, col);
            let output = row * IMAGE_SIDE + col;
            visible
                .iter()
                .zip(&holes)
                .enumerate()
                .map(|(pos, (&seen, &hole))| {
                    if pos == output {
                        Reach::Output
                    } else if pos > output {
                        Reach::Later
                    } else if seen {
                        Reach::Visible
                    } else if hole {
                        Reach::BlindSpot
                    } else {
                        Reach::OutOfReach
                    }
                })
                .collect()
        }
    }
}

/// The holes of a receptive field of output pixel (`row`, `col`) (784 flags): earlier pixels
/// not in `visible` that lie between two visible pixels of their row, or in a row that sees
/// nothing between the output's row and a row above that sees something. A field without holes
/// is one span of columns per row, every row from the output's up to the farthest one reached.
pub fn holes(visible: &[bool], row: usize, col: usize) -> Vec<bool> {
    let mut holes = vec![false; visible.len()];
    let output = row * IMAGE_SIDE + col;
    let farthest_row = (0..row.min(IMAGE_SIDE)).find(|&y| {
        visible[y * IMAGE_SIDE..(y + 1) * IMAGE_SIDE]
            .iter()
            .any(|&v| v)
    });
    for y in 0..=row.min(IMAGE_SIDE - 1) {
        let line = &visible[y * IMAGE_SIDE..(y + 1) * IMAGE_SIDE];
        let seen: Vec<usize> = (0..IMAGE_SIDE).filter(|&x| line[x]).collect();
        let span = match (seen.first(), seen.last()) {
            (Some(&first), Some(&last)) => first..=last,
            // A row that sees nothing, between the output's and a farther one that does: a
            // hole of its own (its pixels straight above the output, which any field reaches).
            _ if farthest_row.is_some_and(|far| far < y) && y < row => col..=col,
            _ => continue,
        };
        for x in span {
            let pos = y * IMAGE_SIDE + x;
            if pos < output && !visible[pos] {
                holes[pos] = true;
            }
        }
    }
    holes
}

/// Classifies a visibility map of output pixel (`row`, `col`) whose layers reach `reach` rows
/// and columns.
fn classify_visible(visible: &[bool], reach: usize, row: usize, col: usize) -> Vec<Reach> {
    let output = row * IMAGE_SIDE + col;
    visible
        .iter()
        .enumerate()
        .map(|(pos, &seen)| {
            let (y, x) = (pos / IMAGE_SIDE, pos % IMAGE_SIDE);
            if pos == output {
                Reach::Output
            } else if pos > output {
                Reach::Later
            } else if seen {
                Reach::Visible
            } else if row.abs_diff(y) <= reach && col.abs_diff(x) <= reach {
                Reach::BlindSpot
            } else {
                Reach::OutOfReach
            }
        })
        .collect()
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
    use crate::data::IMAGE_PIXELS;
    use crate::model::arch::config::{FamilyConfig, PlainConfig};

    /// The layer stack of a plain `model`.
    fn layers_of(model: &ModelConfig) -> Vec<LayerSpec> {
        match model.architecture() {
            Architecture::Plain(layers) => layers,
            Architecture::Gated(_) => panic!("not a plain model: {model:?}"),
        }
    }

    /// The seed preset with other plain settings.
    fn seed_with(maps: usize, plain: PlainConfig) -> ModelConfig {
        ModelConfig {
            feature_maps: maps,
            family: FamilyConfig::Plain(plain),
            ..ModelConfig::seed()
        }
    }

    #[test]
    fn an_output_never_sees_itself_or_later_pixels() {
        let layers = layers_of(&ModelConfig::seed());
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
        let layers = layers_of(&ModelConfig::seed());
        let seen = visible_inputs(&layers, 14, 14);
        // Left neighbour and the pixel straight above are visible.
        assert!(seen[14 * 28 + 13] && seen[13 * 28 + 14]);
        // Mask A reaches 3 rows up, each mask-B layer one more.
        assert!(seen[9 * 28 + 14] && !seen[8 * 28 + 14]);
        // The blind spot: far upper right beyond the kernel's reach.
        assert!(!seen[9 * 28 + 27]);
        assert!(receptive_field_size(&layers, 0) == 24);
    }

    /// For every output pixel, the input pixels whose flip changes its logit in the real
    /// network (`deps[output][input]`), over a few random binary images.
    fn real_dependencies(model: &ModelConfig, seed: u64) -> Vec<Vec<bool>> {
        use crate::model::{CpuNet, Params};
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let net = CpuNet::new(model, &Params::init(model, &mut rng));
        let mut deps = vec![vec![false; IMAGE_PIXELS]; IMAGE_PIXELS];
        for _ in 0..2 {
            let base: Vec<f32> = (0..IMAGE_PIXELS)
                .map(|_| if rng.random::<bool>() { 1.0 } else { 0.0 })
                .collect();
            // The base image, then one copy per input pixel with that pixel flipped.
            let mut batch = base.clone();
            for flip in 0..IMAGE_PIXELS {
                let mut image = base.clone();
                image[flip] = 1.0 - image[flip];
                batch.extend_from_slice(&image);
            }
            let logits = net.forward(&batch, &[]);
            for (flip, flipped) in logits.chunks_exact(IMAGE_PIXELS).skip(1).enumerate() {
                for (output, (&a, &b)) in logits.iter().zip(flipped).enumerate() {
                    if a != b {
                        deps[output][flip] = true;
                    }
                }
            }
        }
        deps
    }

    #[test]
    fn the_view_shows_exactly_the_inputs_the_real_network_depends_on() {
        let residual = seed_with(
            16,
            PlainConfig {
                masked_layers: 4,
                masked_relu: true,
                residual: true,
                relu_layers: 1,
                ..PlainConfig::seed()
            },
        );
        let seed = seed_with(16, PlainConfig::seed());
        for (model, rng_seed) in [(seed, 1), (residual, 2)] {
            let deps = real_dependencies(&model, rng_seed);
            let layers = layers_of(&model);
            for &(row, col) in &[(0, 1), (3, 20), (14, 14), (20, 2), (27, 27)] {
                let shown: Vec<bool> = classify_inputs(&layers, row, col)
                    .iter()
                    .map(|&r| r == Reach::Visible)
                    .collect();
                let real = &deps[row * IMAGE_SIDE + col];
                let differ: Vec<usize> =
                    (0..IMAGE_PIXELS).filter(|&i| shown[i] != real[i]).collect();
                assert!(
                    differ.is_empty(),
                    "{model:?} at ({row}, {col}): the view and the network disagree on {differ:?}"
                );
            }
        }
    }

    fn count(map: &[Reach], kind: Reach) -> usize {
        map.iter().filter(|&&r| r == kind).count()
    }

    #[test]
    fn the_blind_spot_lies_to_the_upper_right_and_only_when_masked_layers_stack() {
        let seed = classify_inputs(&layers_of(&ModelConfig::seed()), 14, 14);
        assert_eq!(seed[14 * 28 + 14], Reach::Output);
        assert_eq!(seed[14 * 28 + 15], Reach::Later);
        // Two rows up, five to the right: within the stack's reach (5) but hidden.
        assert_eq!(seed[12 * 28 + 19], Reach::BlindSpot);
        assert_eq!(seed[0], Reach::OutOfReach);
        assert!(count(&seed, Reach::BlindSpot) > 0);
        // No blind spot to the left of the output.
        assert!((9..14).all(|r| (9..=14).all(|c| seed[r * 28 + c] != Reach::BlindSpot)));

        let first_only = seed_with(
            64,
            PlainConfig {
                masked_layers: 0,
                ..PlainConfig::seed()
            },
        );
        let map = classify_inputs(&layers_of(&first_only), 14, 14);
        assert_eq!(count(&map, Reach::BlindSpot), 0);
        assert_eq!(
            count(&map, Reach::Visible),
            24,
            "the whole upper half of mask A"
        );
    }
}
