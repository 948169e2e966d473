//! Turning 0-255 grey images into the 0/1 pixels the PixelCNN models.
//!
//! Training uses dynamic binarization (a fresh draw every time an image is seen);
//! evaluation uses one fixed draw so that test costs are comparable across runs.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::mnist::IMAGE_PIXELS;

/// Seed of the one fixed binarization of the test set used for evaluation.
pub const TEST_BINARIZATION_SEED: u64 = 0x7E57_B1A2_2016_0601;

/// Dynamic binarization: `out[i] = 1.0` with probability `images[i] / 255`, else `0.0`.
///
/// Draws one uniform `f32` per pixel, in order (`rng.random::<f32>() < p`), so the result
/// depends only on the pixels and the generator's state. A pixel of 0 is always 0.0 and a
/// pixel of 255 always 1.0. Only the first `min(images.len(), out.len())` values are
/// written; callers pass equal lengths (checked in debug builds).
pub fn binarize_into<R: Rng>(images: &[u8], rng: &mut R, out: &mut [f32]) {
    debug_assert_eq!(images.len(), out.len(), "binarize_into: length mismatch");
    for (pixel, bit) in images.iter().zip(out.iter_mut()) {
        let p = f32::from(*pixel) / 255.0;
        *bit = if rng.random::<f32>() < p { 1.0 } else { 0.0 };
    }
}

/// The fixed test binarization: one draw from a constant seed
/// (`ChaCha8Rng::seed_from_u64(TEST_BINARIZATION_SEED)`), identical on every call.
pub fn binarize_fixed(images: &[u8]) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(TEST_BINARIZATION_SEED);
    let mut out = vec![0.0; images.len()];
    binarize_into(images, &mut rng, &mut out);
    out
}

/// Image `index` of the fixed test binarization: the same 784 values as
/// `binarize_fixed(images)[index * 784..][..784]`, found by moving the generator to that image's
/// draws instead of making all those before it (one `u32` word per pixel). `None` when `images`
/// has no image `index`.
pub fn binarize_fixed_image(images: &[u8], index: usize) -> Option<Vec<f32>> {
    let start = index.checked_mul(IMAGE_PIXELS)?;
    let image = images.get(start..start.checked_add(IMAGE_PIXELS)?)?;
    let mut rng = ChaCha8Rng::seed_from_u64(TEST_BINARIZATION_SEED);
    rng.set_word_pos(start as u128);
    let mut out = vec![0.0; IMAGE_PIXELS];
    binarize_into(image, &mut rng, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_and_white_pixels_are_certain() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut out = [0.5f32; 4];
        binarize_into(&[0, 255, 0, 255], &mut rng, &mut out);
        assert_eq!(out, [0.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn one_fixed_test_image_is_the_same_as_in_the_whole_fixed_binarization() {
        let images: Vec<u8> = (0..5 * IMAGE_PIXELS)
            .map(|i| (i * 37 % 256) as u8)
            .collect();
        let all = binarize_fixed(&images);
        for index in 0..5 {
            let one = binarize_fixed_image(&images, index).expect("image in range");
            assert_eq!(one, all[index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS]);
        }
        assert_eq!(binarize_fixed_image(&images, 5), None);
    }
}
