//! The image a subcommand explores: a test image by index (in the fixed binarization `eval`
//! uses) or a 28x28 PNG file, and the digit a class-conditional model reads with it.

use std::path::PathBuf;

use clap::Args;
use pixelcnn_studio::data::binarize_fixed_image;
use pixelcnn_studio::explore::read_image_png;
use pixelcnn_studio::model::ModelConfig;

/// `--test-index I | --image F.png` (exactly one).
#[derive(Debug, Args)]
#[group(id = "source", required = true, multiple = false)]
pub struct WhichImage {
    /// A test image by index (0-based), binarized exactly as `eval` sees it.
    #[arg(long, value_name = "I")]
    test_index: Option<usize>,
    /// A 28x28 PNG (greyscale; colour is turned grey), thresholded at 128: white digit on black.
    #[arg(long, value_name = "FILE.png")]
    image: Option<PathBuf>,
}

/// The image, where test images come from, and the digit a conditional model reads.
#[derive(Debug, Args)]
pub struct ImageSourceArgs {
    #[command(flatten)]
    which: WhichImage,
    /// Folder with the four MNIST IDX files (raw or .gz) for --test-index; default: the shipped copy.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The digit a class-conditional model reads (default: the test image's label; needed with
    /// --image).
    #[arg(long, value_name = "D", value_parser = super::parse_digit)]
    class: Option<u8>,
}

/// The picked image and where it came from.
pub struct PickedImage {
    /// 784 pixels, 0.0 or 1.0.
    pub pixels: Vec<f32>,
    /// Where it came from, as JSON (`{"test_index": I, "label": L}` or `{"image": path}`).
    pub source: serde_json::Value,
    /// Where it came from, in words.
    pub description: String,
    /// The test image's label, when it is one.
    pub label: Option<u8>,
}

impl ImageSourceArgs {
    /// Reads the image (loading the test set for `--test-index`).
    pub fn pick(&self) -> anyhow::Result<PickedImage> {
        if let Some(path) = &self.which.image {
            let pixels = read_image_png(path)?;
            return Ok(PickedImage {
                pixels,
                source: serde_json::json!({ "image": path }),
                description: path.display().to_string(),
                label: None,
            });
        }
        let index = self.which.test_index.unwrap_or_default();
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
            label,
        })
    }

    /// The digit `model` reads with `picked`: `--class`, else the test image's label, for a
    /// class-conditional model; `None` for any other (which refuses `--class`).
    pub fn class_for(
        &self,
        picked: &PickedImage,
        model: &ModelConfig,
    ) -> anyhow::Result<Option<u8>> {
        if !model.conditional() {
            anyhow::ensure!(
                self.class.is_none(),
                "this model is not class-conditional: --class needs a model trained with --conditional"
            );
            return Ok(None);
        }
        let class = self.class.or(picked.label).ok_or_else(|| {
            anyhow::anyhow!(
                "this model is class-conditional: say which digit the image is with --class D"
            )
        })?;
        Ok(Some(class))
    }
}
