//! Reading a digit from a PNG file: 28x28 greyscale (colour is converted to grey), thresholded
//! at 128 into the 0/1 pixels the model sees, white ink on black like MNIST.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ImageFormat, ImageReader};
use thiserror::Error;

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::input_file::{read_capped, without_os_code, CappedReadError};

/// Grey levels at or above this are ink (1.0); below it background (0.0).
pub const INK_THRESHOLD: u8 = 128;
/// Files larger than this cannot be a 28x28 PNG worth reading (and are not read into memory).
const MAX_FILE_BYTES: u64 = 16 << 20;

/// Why an image file cannot be used.
#[derive(Debug, Error)]
pub enum ImageInputError {
    /// The file cannot be opened or read: missing, not a regular file (a folder, a named pipe,
    /// a device) or unreadable.
    #[error("cannot read the image: {reason}; give the path of a 28x28 PNG file: {}", .path.display())]
    Read {
        /// What is wrong, in words (the OS error once, without its code).
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// The file is far too large for a 28x28 image.
    #[error("the file is {bytes} bytes, too large for a 28x28 PNG (at most {} MiB): give a 28x28 greyscale PNG: {}", MAX_FILE_BYTES >> 20, .path.display())]
    TooLarge {
        /// Its size (at least this many bytes when it grew while being read).
        bytes: u64,
        /// The file.
        path: PathBuf,
    },
    /// The file is not a PNG image (or a broken one).
    #[error("not a readable PNG image ({reason}): give a 28x28 greyscale PNG, white digit on black: {}", .path.display())]
    NotPng {
        /// What the decoder said.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// The image is not 28x28.
    #[error("the image is {width}x{height} pixels, not 28x28: scale it to 28x28 (white digit on black, like MNIST): {}", .path.display())]
    WrongSize {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The file.
        path: PathBuf,
    },
}

/// Reads `path` as a 28x28 PNG and returns its 784 pixels, 1.0 where the grey level is at least
/// [`INK_THRESHOLD`], else 0.0. Only a regular file of at most 16 MiB is read: a folder, a
/// named pipe or a device (`/dev/zero`) is refused as what it is.
pub fn read_image_png(path: &Path) -> Result<Vec<f32>, ImageInputError> {
    let data = read_capped(path, MAX_FILE_BYTES).map_err(|err| match err {
        CappedReadError::Open(open) => ImageInputError::Read {
            reason: open.to_string(),
            path: path.to_path_buf(),
        },
        CappedReadError::TooLarge { bytes } => ImageInputError::TooLarge {
            bytes,
            path: path.to_path_buf(),
        },
        CappedReadError::Read(error) => ImageInputError::Read {
            reason: without_os_code(&error),
            path: path.to_path_buf(),
        },
    })?;
    decode_png(&data, path)
}

/// Decodes PNG `data` (read from `path`, named in errors) into 784 binary pixels.
pub fn decode_png(data: &[u8], path: &Path) -> Result<Vec<f32>, ImageInputError> {
    let not_png = |reason: String| ImageInputError::NotPng {
        reason,
        path: path.to_path_buf(),
    };
    if image::guess_format(data).ok() != Some(ImageFormat::Png) {
        return Err(not_png("it does not start with the PNG signature".into()));
    }
    let reader = || ImageReader::with_format(Cursor::new(data), ImageFormat::Png);
    // The header first: a wrong size is reported without decoding a large image.
    let (width, height) = reader()
        .into_dimensions()
        .map_err(|err| not_png(err.to_string()))?;
    if (width, height) != (IMAGE_SIDE as u32, IMAGE_SIDE as u32) {
        return Err(ImageInputError::WrongSize {
            width,
            height,
            path: path.to_path_buf(),
        });
    }
    let grey = reader()
        .decode()
        .map_err(|err| not_png(err.to_string()))?
        .into_luma8();
    let pixels: Vec<f32> = grey
        .as_raw()
        .iter()
        .map(|&level| if level >= INK_THRESHOLD { 1.0 } else { 0.0 })
        .collect();
    debug_assert_eq!(pixels.len(), IMAGE_PIXELS);
    Ok(pixels)
}

/// Encodes 784 binary pixels as a 28x28 greyscale PNG (white ink on black): the format
/// [`read_image_png`] reads back to the same pixels.
pub fn encode_png(pixels: &[f32]) -> Result<Vec<u8>, String> {
    let luma: Vec<u8> = pixels
        .iter()
        .map(|&p| if p > 0.5 { 255 } else { 0 })
        .collect();
    let image = image::GrayImage::from_raw(IMAGE_SIDE as u32, IMAGE_SIDE as u32, luma)
        .ok_or_else(|| format!("{} pixels is not a 28x28 image", pixels.len()))?;
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .map_err(|err| format!("could not encode the PNG: {err}"))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_digit_reads_back_to_the_same_pixels() {
        let pixels: Vec<f32> = (0..IMAGE_PIXELS)
            .map(|i| if i % 7 == 0 { 1.0 } else { 0.0 })
            .collect();
        let png = encode_png(&pixels).expect("encodes");
        assert_eq!(
            decode_png(&png, Path::new("x.png")).expect("decodes"),
            pixels
        );
    }

    #[test]
    fn text_is_not_a_png() {
        let err = decode_png(b"hello", Path::new("notes.txt")).expect_err("not a PNG");
        assert!(matches!(err, ImageInputError::NotPng { .. }), "{err}");
        assert!(err.to_string().ends_with("notes.txt"), "{err}");
    }
}
