//! The model inspector: every masked layer's mask as a grid, the layer table, and the receptive
//! field of a picked output pixel computed from the configured layer stack.

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::receptive_field::visible_inputs;
use crate::model::{LayerSpec, Mask, ModelConfig};

/// The inspector's runtime state: the picked output pixel and a cache of what it sees.
#[derive(Clone, Debug)]
pub struct InspectorState {
    /// The output pixel (row, column) whose receptive field is shown.
    pub pixel: (usize, usize),
    cache: Option<(ModelConfig, (usize, usize), Vec<bool>)>,
}

impl Default for InspectorState {
    fn default() -> Self {
        InspectorState {
            pixel: (IMAGE_SIDE / 2, IMAGE_SIDE / 2),
            cache: None,
        }
    }
}

impl InspectorState {
    /// The input pixels visible from the picked output pixel (784 flags).
    pub fn visible(&mut self, model: &ModelConfig, layers: &[LayerSpec]) -> &[bool] {
        let fresh = matches!(&self.cache, Some((m, p, _)) if m == model && *p == self.pixel);
        if !fresh {
            let seen = visible_inputs(layers, self.pixel.0, self.pixel.1);
            self.cache = Some((model.clone(), self.pixel, seen));
        }
        self.cache
            .as_ref()
            .map_or(&[][..], |(_, _, seen)| seen.as_slice())
    }
}

/// One line describing a layer's mask, e.g. `conv_a: mask A 7x7, centre hidden`.
pub fn mask_caption(layer: &LayerSpec) -> String {
    let mask = layer.mask();
    let centre = mask.size / 2;
    let kind = layer.mask_kind().map_or("none", |k| k.label());
    let centre_text = if mask.is_kept(centre, centre) {
        "centre visible"
    } else {
        "centre hidden"
    };
    format!(
        "{}: mask {kind} {}x{}, {centre_text}",
        layer.name, mask.size, mask.size
    )
}

/// Width of one mask card.
const MASK_CARD_WIDTH: f32 = 190.0;

/// Draws the inspector for `model`: masks and layer table on the left, the receptive field on
/// the right.
pub fn inspector_ui(ui: &mut egui::Ui, model: &ModelConfig, state: &mut InspectorState) {
    let layers = model.layers();
    egui::Panel::right("receptive_field_panel")
        .resizable(false)
        .exact_size(310.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("receptive_field_scroll")
                .show(ui, |ui| {
                    ui.heading("Receptive field");
                    receptive_field_ui(ui, model, &layers, state);
                });
        });
    egui::CentralPanel::default().show(ui, |ui| {
        egui::ScrollArea::vertical()
            .id_salt("inspector_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.heading("Masks");
                ui.label(
                    "Light taps are used, dark taps are hidden; the red outline marks the centre \
                     (the pixel being predicted).",
                );
                let masked: Vec<&LayerSpec> =
                    layers.iter().filter(|l| l.mask_kind().is_some()).collect();
                let per_row = ((ui.available_width() / (MASK_CARD_WIDTH + 8.0)) as usize).max(1);
                for row in masked.chunks(per_row) {
                    ui.horizontal(|ui| {
                        for layer in row {
                            mask_card_ui(ui, layer);
                        }
                    });
                }
                ui.separator();
                ui.heading("Layers");
                layer_table_ui(ui, &layers);
            });
    });
}

fn mask_card_ui(ui: &mut egui::Ui, layer: &LayerSpec) {
    ui.group(|ui| {
        ui.set_width(MASK_CARD_WIDTH - 14.0);
        ui.vertical(|ui| {
            ui.add(egui::Label::new(egui::RichText::new(mask_caption(layer)).small()).wrap());
            mask_grid_ui(ui, &layer.mask());
        });
    });
}

fn mask_grid_ui(ui: &mut egui::Ui, mask: &Mask) {
    let cell = if mask.size <= 3 { 16.0 } else { 11.0 };
    let side = cell * mask.size as f32;
    let (rect, _) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let centre = mask.size / 2;
    for row in 0..mask.size {
        for col in 0..mask.size {
            let min = rect.min + egui::vec2(col as f32 * cell, row as f32 * cell);
            let cell_rect = egui::Rect::from_min_size(min, egui::vec2(cell, cell)).shrink(1.0);
            let color = if mask.is_kept(row, col) {
                egui::Color32::from_rgb(225, 225, 225)
            } else {
                egui::Color32::from_rgb(45, 45, 50)
            };
            painter.rect_filled(cell_rect, 1.0, color);
            if row == centre && col == centre {
                painter.rect_stroke(
                    cell_rect,
                    1.0,
                    egui::Stroke::new(2.0, egui::Color32::from_rgb(230, 60, 60)),
                    egui::StrokeKind::Inside,
                );
            }
        }
    }
}

fn layer_table_ui(ui: &mut egui::Ui, layers: &[LayerSpec]) {
    egui::Grid::new("layer_table")
        .striped(true)
        .num_columns(7)
        .spacing([16.0, 4.0])
        .show(ui, |ui| {
            for header in [
                "name",
                "kind",
                "kernel",
                "mask",
                "in -> out",
                "output",
                "parameters",
            ] {
                ui.strong(header);
            }
            ui.end_row();
            for layer in layers {
                ui.label(&layer.name);
                let mut kind = layer.kind.label().to_string();
                if layer.relu {
                    kind.push_str(" + ReLU");
                }
                if layer.residual {
                    kind.push_str(" (residual)");
                }
                ui.label(kind);
                ui.label(format!("{}x{}", layer.kernel, layer.kernel));
                ui.label(layer.mask_kind().map_or("-", |k| k.label()));
                ui.label(format!("{} -> {}", layer.in_channels, layer.out_channels));
                let [c, h, w] = layer.output_shape();
                ui.label(format!("{c}x{h}x{w}"));
                ui.label(layer.parameter_count().to_string());
                ui.end_row();
            }
            let total: usize = layers.iter().map(LayerSpec::parameter_count).sum();
            ui.strong("total");
            for _ in 0..5 {
                ui.label("");
            }
            ui.strong(format!("{total} parameters"));
            ui.end_row();
        });
}

fn receptive_field_ui(
    ui: &mut egui::Ui,
    model: &ModelConfig,
    layers: &[LayerSpec],
    state: &mut InspectorState,
) {
    let cell = 10.0;
    let side = cell * IMAGE_SIDE as f32;
    let pixel = state.pixel;
    let visible = state.visible(model, layers).to_vec();
    let count = visible.iter().filter(|&&v| v).count();
    ui.label(format!(
        "Click an output pixel. Output pixel (row {}, col {}) sees {count} of {IMAGE_PIXELS} input pixels (blue); the rest, including the blind spot to its upper right, never reach it.",
        pixel.0, pixel.1
    ));
    let (rect, response) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::click());
    if response.clicked() {
        if let Some(pos) = response.interact_pointer_pos() {
            let local = pos - rect.min;
            let col = (local.x / cell).floor();
            let row = (local.y / cell).floor();
            if (0.0..IMAGE_SIDE as f32).contains(&col) && (0.0..IMAGE_SIDE as f32).contains(&row) {
                state.pixel = (row as usize, col as usize);
            }
        }
    }
    let painter = ui.painter_at(rect);
    for (index, &seen) in visible.iter().enumerate() {
        let (row, col) = (index / IMAGE_SIDE, index % IMAGE_SIDE);
        let min = rect.min + egui::vec2(col as f32 * cell, row as f32 * cell);
        let cell_rect = egui::Rect::from_min_size(min, egui::vec2(cell, cell)).shrink(0.5);
        let color = if (row, col) == state.pixel {
            egui::Color32::from_rgb(230, 60, 60)
        } else if seen {
            egui::Color32::from_rgb(70, 140, 230)
        } else if row * IMAGE_SIDE + col > state.pixel.0 * IMAGE_SIDE + state.pixel.1 {
            egui::Color32::from_gray(30)
        } else {
            egui::Color32::from_gray(70)
        };
        painter.rect_filled(cell_rect, 0.0, color);
    }
    ui.label("Red: the output pixel. Blue: visible inputs. Light grey: earlier pixels it cannot see (blind spot). Dark: later pixels (never visible).");
}
