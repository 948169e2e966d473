//! Writing sample grids as PNG images, atomically: a failed write (a full disk, say) leaves an
//! existing image at the path as it was.

use std::path::Path;

use anyhow::Context;

use crate::atomic_file;
use crate::model::SampleGrid;

/// Saves `grid` as a greyscale PNG (`side * 28` pixels square, white strokes on black). The
/// image is encoded in memory and written atomically.
pub fn save_grid_png(grid: &SampleGrid, path: &Path) -> anyhow::Result<()> {
    write_png(path, &grid_png_bytes(grid)?)
}

/// Writes encoded PNG `bytes` to `path` atomically (an existing file survives a failed write).
pub fn write_png(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    atomic_file::write(path, bytes).map_err(|err| {
        anyhow::anyhow!(
            "writing the PNG failed ({} failed: {}): {}",
            err.action,
            err.error,
            path.display()
        )
    })
}

/// `grid` encoded as a greyscale PNG.
pub fn grid_png_bytes(grid: &SampleGrid) -> anyhow::Result<Vec<u8>> {
    let (width, luma) = grid.to_luma();
    let image = image::GrayImage::from_raw(width as u32, width as u32, luma)
        .context("sample grid has the wrong number of pixels")?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .context("encoding the PNG failed")?;
    Ok(bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_is_written_as_a_png_of_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        save_grid_png(&SampleGrid::blank(4), &path).unwrap();
        let png = image::open(&path).unwrap();
        assert_eq!((png.width(), png.height()), (56, 56));
    }

    #[test]
    fn a_failed_write_leaves_the_existing_png_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        // A name that fits, but leaves no room for the temporary name's suffix: creating the
        // temporary file fails, as on a full disk. The image there must survive whole.
        let path = dir.path().join(format!("{}grid.png", "g".repeat(242)));
        let before = grid_png_bytes(&SampleGrid::blank(4)).unwrap();
        std::fs::write(&path, &before).unwrap();
        let err = save_grid_png(&SampleGrid::blank(9), &path).unwrap_err();
        assert!(err.to_string().contains("writing the PNG failed"), "{err}");
        assert!(err.to_string().ends_with("grid.png"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
