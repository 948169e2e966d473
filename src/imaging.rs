//! Writing sample grids as PNG images.

use std::path::Path;

use anyhow::Context;

use crate::model::SampleGrid;

/// Saves `grid` as a greyscale PNG (`side * 28` pixels square, white strokes on black).
pub fn save_grid_png(grid: &SampleGrid, path: &Path) -> anyhow::Result<()> {
    let (width, luma) = grid.to_luma();
    let image = image::GrayImage::from_raw(width as u32, width as u32, luma)
        .context("sample grid has the wrong number of pixels")?;
    image
        .save_with_format(path, image::ImageFormat::Png)
        .with_context(|| format!("writing the PNG failed: {}", path.display()))
}
