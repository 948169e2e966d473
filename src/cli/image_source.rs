//! The image a subcommand explores: a test image by index (in the fixed binarization `eval`
//! uses) or a 28x28 PNG file.

use std::path::PathBuf;

use clap::Args;
use pixelcnn_studio::data::binarize_fixed_image;
use pixelcnn_studio::explore::read_image_png;

/// `--test-index I | --image F.png` (exactly one), plus `--data`.
#[derive(Debug, Args)]
#[group(id = "source", required = true, multiple = false, args = ["test_index", "image"])]
pub struct ImageSourceArgs {
    /// A test image by index (0-based), binarized exactly as `eval` sees it.
    #[arg(long, value_name = "I")]
    test_index: Option<usize>,
    /// A 28x28 PNG (greyscale; colour is turned grey), thresholded at 128: white digit on black.
    #[arg(long, value_name = "FILE.png")]
    image: Option<PathBuf>,
    /// Folder with the four MNIST IDX files (raw or .gz) for --test-index; default: the shipped copy.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

/// The picked image and where it came from.
pub struct PickedImage {
    /// 784 pixels, 0.0 or 1.0.
    pub pixels: Vec<f32>,
    /// Where it came from, as JSON (`{"test_index": I, "label": L}` or `{"image": path}`).
    pub source: serde_json::Value,
    /// Where it came from, in words.
    pub description: String,
}

impl ImageSourceArgs {
    /// Reads the image (loading the test set for `--test-index`).
    pub fn pick(&self) -> anyhow::Result<PickedImage> {
        if let Some(path) = &self.image {
            let pixels = read_image_png(path)?;
            return Ok(PickedImage {
                pixels,
                source: serde_json::json!({ "image": path }),
                description: path.display().to_string(),
            });
        }
        let index = self.test_index.unwrap_or_default();
        let data = super::load_data(self.data.as_deref())?;
        let count = data.test.len();
        let pixels = binarize_fixed_image(&data.test.images, index).ok_or_else(|| {
            anyhow::anyhow!(
                "--test-index {index} is out of range: the test set has {count} images (use 0..={})",
                count.saturating_sub(1)
            )
        })?;
        let label = data.test.label(index);
        Ok(PickedImage {
            pixels,
            source: serde_json::json!({ "test_index": index, "label": label }),
            description: match label {
                Some(label) => format!("test image {index} (label {label})"),
                None => format!("test image {index}"),
            },
        })
    }
}
