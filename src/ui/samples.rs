//! The sample grid: the latest 10x10 samples as a crisp (nearest-neighbour) texture, labelled
//! with their epoch, filling row by row while being drawn; "Save PNG".

use std::path::PathBuf;

use super::UiCommand;
use crate::data::IMAGE_SIDE;
use crate::model::SampleGrid;

/// The latest samples and their texture.
#[derive(Default)]
pub struct SamplesView {
    grid: Option<SampleGrid>,
    epoch: usize,
    complete: bool,
    texture: Option<egui::TextureHandle>,
    dirty: bool,
}

impl SamplesView {
    /// A partially drawn grid arrived.
    pub fn set_progress(&mut self, epoch: usize, grid: SampleGrid) {
        self.grid = Some(grid);
        self.epoch = epoch;
        self.complete = false;
        self.dirty = true;
    }

    /// A complete grid arrived.
    pub fn set_ready(&mut self, epoch: usize, grid: SampleGrid) {
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

    fn texture(&mut self, ctx: &egui::Context) -> Option<&egui::TextureHandle> {
        if self.dirty {
            self.dirty = false;
            if let Some(grid) = &self.grid {
                let (width, luma) = grid.to_luma();
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
    let (width, luma) = grid.to_luma();
    let side = u32::try_from(width).map_err(|_| "the grid is too large".to_string())?;
    let image = image::GrayImage::from_raw(side, side, luma)
        .ok_or_else(|| "the grid has the wrong number of pixels".to_string())?;
    image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|err| format!("could not save the PNG: {err}: {}", path.display()))
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
            Some(grid) if !view.complete => {
                let rows = grid.pixels_done / IMAGE_SIDE;
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
