//! The sample grid: the latest 10x10 samples as a crisp (nearest-neighbour) texture, labelled
//! with their epoch, filling row by row while being drawn; "Save PNG".

use std::path::PathBuf;
use std::time::Instant;

use super::UiCommand;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::SampleGrid;

/// The latest samples and their texture.
#[derive(Default)]
pub struct SamplesView {
    grid: Option<SampleGrid>,
    epoch: usize,
    complete: bool,
    texture: Option<egui::TextureHandle>,
    dirty: bool,
    /// When the grid being drawn started to show, for the paced reveal.
    reveal_started: Option<Instant>,
    /// Pixels of each image shown in the texture now.
    shown_pixels: usize,
}

/// A new grid is revealed at most this many pixels (per image) a second, in drawing order, so
/// the pixel-by-pixel fill stays visible when the fast sampler finishes within a few frames.
const REVEAL_PIXELS_PER_SEC: f64 = 1000.0;

impl SamplesView {
    /// A partially drawn grid arrived.
    pub fn set_progress(&mut self, epoch: usize, grid: SampleGrid) {
        if self.complete || self.reveal_started.is_none() {
            // A new drawing begins: reveal it from its first pixel.
            self.reveal_started = Some(Instant::now());
            self.shown_pixels = 0;
        }
        self.grid = Some(grid);
        self.epoch = epoch;
        self.complete = false;
        self.dirty = true;
    }

    /// A complete grid arrived.
    pub fn set_ready(&mut self, epoch: usize, grid: SampleGrid) {
        if self.complete || self.reveal_started.is_none() {
            // No drawing was shown (e.g. a grid restored at once): show it whole.
            self.reveal_started = None;
        }
        self.grid = Some(grid);
        self.epoch = epoch;
        self.complete = true;
        self.dirty = true;
    }

    /// Forgets the samples.
    pub fn clear(&mut self) {
        *self = SamplesView::default();
    }

    /// The grid shown, if any.
    pub fn grid(&self) -> Option<&SampleGrid> {
        self.grid.as_ref()
    }

    /// The epoch the samples came from.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Whether the grid shown is complete.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Pixels per image to show now: what was drawn, paced by the reveal.
    fn pixels_to_show(&self) -> usize {
        let drawn = self.grid.as_ref().map_or(0, |g| g.pixels_done);
        match self.reveal_started {
            Some(started) => {
                let paced = started.elapsed().as_secs_f64() * REVEAL_PIXELS_PER_SEC;
                drawn.min(paced as usize)
            }
            None => drawn,
        }
    }

    /// Whether the texture still has pixels to reveal.
    pub fn is_revealing(&self) -> bool {
        self.shown_pixels < IMAGE_PIXELS
            && self
                .grid
                .as_ref()
                .is_some_and(|g| g.pixels_done > self.shown_pixels)
    }

    fn texture(&mut self, ctx: &egui::Context) -> Option<&egui::TextureHandle> {
        let shown = self.pixels_to_show();
        if shown != self.shown_pixels {
            self.shown_pixels = shown;
            self.dirty = true;
        }
        if self.dirty {
            self.dirty = false;
            if let Some(grid) = &self.grid {
                let mut partial = grid.clone();
                for image in partial.pixels.chunks_exact_mut(IMAGE_PIXELS) {
                    image[shown.min(IMAGE_PIXELS)..].fill(0.0);
                }
                let (width, luma) = partial.to_luma();
                let image = egui::ColorImage::from_gray([width, width], &luma);
                match &mut self.texture {
                    Some(texture) => texture.set(image, egui::TextureOptions::NEAREST),
                    None => {
                        self.texture = Some(ctx.load_texture(
                            "pixelcnn-samples",
                            image,
                            egui::TextureOptions::NEAREST,
                        ));
                    }
                }
            }
        }
        self.texture.as_ref()
    }
}

/// Encodes a grid as a greyscale PNG at `path` (blocking: call it off the UI thread).
pub fn save_png(grid: &SampleGrid, path: &std::path::Path) -> Result<(), String> {
    crate::imaging::save_grid_png(grid, path)
        .map_err(|err| format!("could not save the PNG: {err:#}"))
}

/// Draws the grid and its buttons; returns what the user asked for.
pub fn samples_ui(
    ui: &mut egui::Ui,
    view: &mut SamplesView,
    png_path: &mut String,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    ui.horizontal(|ui| {
        ui.strong("Samples");
        match view.grid() {
            None => {
                ui.label("none yet: they appear after each epoch, or press \"Sample now\"");
            }
            Some(_) if !view.complete || view.is_revealing() => {
                let rows = view.pixels_to_show() / IMAGE_SIDE;
                ui.label(format!(
                    "after epoch {}, drawing row {rows} of {IMAGE_SIDE}...",
                    view.epoch
                ));
            }
            Some(grid) => {
                ui.label(format!(
                    "after epoch {} ({} images, mean pixel {:.3})",
                    view.epoch,
                    grid.count,
                    grid.mean_pixel()
                ));
            }
        }
    });
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(png_path)
                .hint_text("PNG path, or empty for a dialog")
                .desired_width(220.0),
        )
        .on_hover_text("Where \"Save PNG\" writes; empty opens a dialog");
        let can_save = view.grid.is_some() && view.complete;
        if ui
            .add_enabled(can_save, egui::Button::new("Save PNG"))
            .clicked()
        {
            let trimmed = png_path.trim();
            let path = (!trimmed.is_empty()).then(|| PathBuf::from(trimmed));
            commands.push(UiCommand::SavePng(path));
        }
    });
    let ctx = ui.ctx().clone();
    let available = ui.available_size();
    let side = available.x.min(available.y).max(64.0);
    if view.is_revealing() {
        ctx.request_repaint();
    }
    match view.texture(&ctx) {
        Some(texture) => {
            let image = egui::Image::new((texture.id(), egui::vec2(side, side)))
                .alt_text(format!("sample grid after epoch {}", view.epoch));
            ui.add(image);
        }
        None => {
            let (rect, _) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
            ui.painter()
                .rect_filled(rect, 2.0, egui::Color32::from_gray(16));
        }
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drawn(pixels_done: usize) -> SampleGrid {
        SampleGrid {
            pixels_done,
            ..SampleGrid::blank(4)
        }
    }

    #[test]
    fn a_fast_drawing_is_revealed_in_order_and_a_restored_grid_shows_at_once() {
        let mut view = SamplesView::default();
        view.set_progress(1, drawn(28));
        assert!(view.pixels_to_show() <= 28, "never ahead of what was drawn");
        view.set_ready(1, drawn(IMAGE_PIXELS));
        std::thread::sleep(std::time::Duration::from_secs_f64(
            IMAGE_PIXELS as f64 / REVEAL_PIXELS_PER_SEC + 0.1,
        ));
        assert_eq!(view.pixels_to_show(), IMAGE_PIXELS);

        let mut restored = SamplesView::default();
        restored.set_ready(2, drawn(IMAGE_PIXELS));
        assert_eq!(restored.pixels_to_show(), IMAGE_PIXELS);
    }
}
