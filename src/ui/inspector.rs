//! The model inspector: every masked layer's mask as a grid (for the gated family, the taps of
//! both stacks), the layer table, and the receptive field of a picked output pixel computed from
//! the configured network, in five colours: the output, visible pixels, the blind spot (plain
//! family only), pixels out of reach and later pixels.

use super::panel_rects;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::arch::gated_spec::conv_role;
use crate::model::arch::receptive_field::{classify_model_inputs, Reach};
use crate::model::{Architecture, ConvSpec, FamilyConfig, GatedSpec, LayerSpec, ModelConfig};

/// The inspector's runtime state: the picked output pixel and a cache of what it sees.
#[derive(Clone, Debug)]
pub struct InspectorState {
    /// The output pixel (row, column) whose receptive field is shown.
    pub pixel: (usize, usize),
    cache: Option<(ModelConfig, (usize, usize), Vec<Reach>)>,
    /// How wide the layer table was when last drawn (the receptive field beside it leaves it
    /// that much room).
    table_width: Option<f32>,
}

impl Default for InspectorState {
    fn default() -> Self {
        InspectorState {
            pixel: (IMAGE_SIDE / 2, IMAGE_SIDE / 2),
            cache: None,
            table_width: None,
        }
    }
}

impl InspectorState {
    /// What each input pixel is to the picked output pixel (784 entries), as the view draws it.
    pub fn classified(&mut self, model: &ModelConfig) -> &[Reach] {
        let fresh = matches!(&self.cache, Some((m, p, _)) if m == model && *p == self.pixel);
        if !fresh {
            let map = classify_model_inputs(model, self.pixel.0, self.pixel.1);
            self.cache = Some((model.clone(), self.pixel, map));
        }
        self.cache
            .as_ref()
            .map_or(&[][..], |(_, _, map)| map.as_slice())
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
const MASK_CARD_WIDTH: f32 = 200.0;
/// Below this width the receptive field goes under the layer table instead of beside it.
const SIDE_BY_SIDE_MIN_WIDTH: f32 = 760.0;
/// The layer table's width before it was first drawn (about what the widest one takes).
const TABLE_WIDTH_GUESS: f32 = 680.0;
/// Room the table's column needs besides the table: its scroll bar and margins.
const TABLE_MARGIN: f32 = 40.0;
/// The narrowest the receptive field is drawn beside the table.
const FIELD_MIN_WIDTH: f32 = 260.0;

/// How wide the receptive-field panel beside the table may be at `width`, when the table
/// (`table_width` points) is to stay readable whole: `None` when the two do not fit side by
/// side and the field goes under the table.
pub fn field_width_range(width: f32, table_width: f32) -> Option<(f32, f32)> {
    let room = width - table_width - TABLE_MARGIN;
    if width < SIDE_BY_SIDE_MIN_WIDTH || room < FIELD_MIN_WIDTH {
        return None;
    }
    let widest = room.min(width * 0.6);
    let default = (width * 0.42).clamp(300.0, 560.0).min(widest);
    Some((default, widest))
}

/// Draws the inspector for `model`: masks and the layer table, and the receptive field beside
/// them (in a resizable panel that leaves the table its width) when there is room, or under
/// them when the window is narrow.
pub fn inspector_ui(ui: &mut egui::Ui, model: &ModelConfig, state: &mut InspectorState) {
    let width = ui.available_width();
    let table_width = state.table_width.unwrap_or(TABLE_WIDTH_GUESS);
    if let Some((default, widest)) = field_width_range(width, table_width) {
        egui::Panel::right("receptive_field_panel")
            .resizable(true)
            .default_size(default)
            .size_range(FIELD_MIN_WIDTH..=widest)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("receptive_field_scroll")
                    .show(ui, |ui| {
                        ui.heading("Receptive field");
                        receptive_field_ui(ui, model, state);
                    });
                panel_rects::record_ui(ui, "receptive field");
            });
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::both()
                .id_salt("inspector_scroll")
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    masks_and_table_ui(ui, model, &mut state.table_width)
                });
            panel_rects::record_ui(ui, "masks and layers");
        });
    } else {
        // Narrow: one column of sections that collapse, so any one can have the room.
        egui::ScrollArea::vertical()
            .id_salt("inspector_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                masks_and_table_ui(ui, model, &mut state.table_width);
                ui.separator();
                egui::CollapsingHeader::new(egui::RichText::new("Receptive field").heading())
                    .id_salt("receptive_field_section")
                    .default_open(true)
                    .show(ui, |ui| receptive_field_ui(ui, model, state));
            });
        panel_rects::record_ui(ui, "inspector");
    }
}

/// The masks (or stacks) and the layer table; `table_width` learns how wide the table is.
fn masks_and_table_ui(ui: &mut egui::Ui, model: &ModelConfig, table_width: &mut Option<f32>) {
    let architecture = model.architecture();
    let heading = match architecture {
        Architecture::Plain(_) => "Masks",
        Architecture::Gated(_) => "Stacks",
    };
    egui::CollapsingHeader::new(egui::RichText::new(heading).heading())
        .id_salt("masks_section")
        .default_open(true)
        .show(ui, |ui| match &architecture {
            Architecture::Plain(layers) => masks_ui(ui, layers),
            Architecture::Gated(spec) => stacks_ui(ui, spec),
        });
    ui.separator();
    egui::CollapsingHeader::new(egui::RichText::new("Layers").heading())
        .id_salt("layers_section")
        .default_open(true)
        .show(ui, |ui| match &architecture {
            Architecture::Plain(layers) => layers_ui(ui, layers, table_width),
            Architecture::Gated(spec) => gated_layers_ui(ui, model, spec, table_width),
        });
}

/// How the gated network's two stacks see the image, for the Stacks section.
pub const STACKS_EXPLANATION: &str = "Two stacks replace the masks. The vertical stack reads \
     only the rows above (its first layer stops a row short, so later layers may read their own \
     row of it); the horizontal stack reads the pixels to the left on the same row (its first \
     layer excludes the pixel itself). A 1x1 link feeds the vertical stack into the horizontal \
     one, so together they see the whole rectangle above and the row to the left: no blind spot. \
     Each layer gates its output, tanh(a) * sigmoid(b), and adds it back to the horizontal stack \
     (residual).";

fn stacks_ui(ui: &mut egui::Ui, spec: &GatedSpec) {
    ui.add(egui::Label::new(STACKS_EXPLANATION).wrap());
    if spec.conditional {
        ui.add(
            egui::Label::new(
                "Conditional: every layer adds a learned bias for the digit label to both halves \
                 of both gates.",
            )
            .wrap(),
        );
    }
    if spec.is_dilated() {
        ui.add(
            egui::Label::new(format!(
                "Dilated: the vertical convolutions of some layers read taps 2 or more rows (or \
                 rows and columns) apart, with the same taps and work, so the stacks reach {} \
                 rows up and {} columns either side instead of {}, still without holes.",
                spec.reach(),
                spec.reach_columns(),
                spec.undilated_reach()
            ))
            .wrap(),
        );
    }
    ui.add(
        egui::Label::new(
            "Light taps are read, dark ones are not; the red outline marks the pixel being \
             predicted (each grid is centred on it).",
        )
        .wrap(),
    );
    let layers = spec.layers.len();
    let mut cards = vec![
        (spec.first_v.clone(), spec.first_v.name.clone()),
        (spec.first_h.clone(), spec.first_h.name.clone()),
    ];
    if let Some(first) = spec.layers.first() {
        let all = |conv: &ConvSpec| {
            let part = conv.name.rsplit('.').next().unwrap_or(&conv.name);
            format!("layers.*.{part} (x{layers})")
        };
        if spec.is_dilated() {
            // One card per dilation of the vertical convolutions.
            let mut dilations: Vec<(usize, usize)> = spec
                .layers
                .iter()
                .map(|l| (l.row_dilation, l.column_dilation))
                .collect();
            dilations.sort_unstable();
            dilations.dedup();
            for dilation in dilations {
                let same: Vec<_> = spec
                    .layers
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| (l.row_dilation, l.column_dilation) == dilation)
                    .collect();
                let names: Vec<String> = same.iter().map(|(i, _)| i.to_string()).collect();
                if let Some((_, layer)) = same.first() {
                    let spacing = layer
                        .dilation_label()
                        .unwrap_or_else(|| "undilated".to_string());
                    let title = format!(
                        "layers.*.conv_v (x{}: layers {}, {spacing})",
                        same.len(),
                        names.join(", ")
                    );
                    cards.push((layer.conv_v.clone(), title));
                }
            }
        } else {
            cards.push((first.conv_v.clone(), all(&first.conv_v)));
        }
        cards.push((first.conv_h.clone(), all(&first.conv_h)));
    }
    let per_row = ((ui.available_width() / (MASK_CARD_WIDTH + 8.0)) as usize).max(1);
    for row in cards.chunks(per_row) {
        ui.horizontal(|ui| {
            for (conv, title) in row {
                card_ui(ui, &tap_caption(conv, title), conv);
            }
        });
    }
}

/// One line describing a gated convolution's taps, e.g.
/// `conv_v0: 3x7, 21 taps, vertical stack, rows above`.
pub fn tap_caption(conv: &ConvSpec, title: &str) -> String {
    format!(
        "{title}: {}x{}, {} taps, {}",
        conv.kernel_height,
        conv.kernel_width,
        conv.taps.len(),
        conv_role(&conv.name)
    )
}

fn gated_layers_ui(
    ui: &mut egui::Ui,
    model: &ModelConfig,
    spec: &GatedSpec,
    table_width: &mut Option<f32>,
) {
    ui.add(
        egui::Label::new(format!(
            "{} gated layers of {} maps per stack, {} parameters in all",
            spec.layers.len(),
            spec.maps,
            super::status::thousands(model.parameter_count() as u64)
        ))
        .wrap(),
    );
    egui::ScrollArea::horizontal()
        .id_salt("layer_table_scroll")
        .auto_shrink([false, true])
        .show(ui, |ui| {
            let table = gated_table_ui(ui, model, spec);
            *table_width = Some(table.rect.width());
            panel_rects::record(ui.ctx(), "layer table", table.rect);
        });
}

fn gated_table_ui(ui: &mut egui::Ui, model: &ModelConfig, spec: &GatedSpec) -> egui::Response {
    let class_bias = 2 * spec.maps * spec.classes;
    egui::Grid::new("layer_table")
        .striped(true)
        .num_columns(6)
        .spacing([16.0, 4.0])
        .show(ui, |ui| {
            for header in ["name", "role", "kernel", "taps", "in -> out", "parameters"] {
                ui.strong(header);
            }
            ui.end_row();
            for conv in spec.convs() {
                ui.label(&conv.name);
                ui.label(conv_role(&conv.name));
                ui.label(format!("{}x{}", conv.kernel_height, conv.kernel_width));
                ui.label(conv.taps.len().to_string());
                ui.label(format!("{} -> {}", conv.in_channels, conv.out_channels));
                ui.label(conv.parameter_count().to_string());
                ui.end_row();
                let is_last_of_layer = conv.name.ends_with(".res");
                if spec.conditional && is_last_of_layer {
                    let layer = conv.name.trim_end_matches(".res");
                    ui.label(format!("{layer}.cond_v, cond_h"));
                    ui.label("class bias of each gate");
                    ui.label("-");
                    ui.label("-");
                    ui.label(format!("{} -> {}", spec.classes, 2 * spec.maps));
                    ui.label((2 * class_bias).to_string());
                    ui.end_row();
                }
            }
            ui.strong("total");
            for _ in 0..4 {
                ui.label("");
            }
            ui.strong(format!("{} parameters", model.parameter_count()));
            ui.end_row();
        })
        .response
}

fn masks_ui(ui: &mut egui::Ui, layers: &[LayerSpec]) {
    ui.add(
        egui::Label::new(
            "Light taps are used, dark taps are hidden; the red outline marks the centre \
             (the pixel being predicted).",
        )
        .wrap(),
    );
    let masked: Vec<&LayerSpec> = layers.iter().filter(|l| l.mask_kind().is_some()).collect();
    // Cards in rows that fit the width (a group's size is only known once drawn, so the rows
    // are counted here rather than left to a wrapping layout).
    let per_row = ((ui.available_width() / (MASK_CARD_WIDTH + 8.0)) as usize).max(1);
    for row in masked.chunks(per_row) {
        ui.horizontal(|ui| {
            for layer in row {
                card_ui(ui, &mask_caption(layer), &layer.conv());
            }
        });
    }
}

fn layers_ui(ui: &mut egui::Ui, layers: &[LayerSpec], table_width: &mut Option<f32>) {
    let total: usize = layers.iter().map(LayerSpec::parameter_count).sum();
    ui.add(
        egui::Label::new(format!(
            "{} layers, {} parameters in all",
            layers.len(),
            super::status::thousands(total as u64)
        ))
        .wrap(),
    );
    egui::ScrollArea::horizontal()
        .id_salt("layer_table_scroll")
        .auto_shrink([false, true])
        .show(ui, |ui| {
            let table = layer_table_ui(ui, layers);
            *table_width = Some(table.rect.width());
            panel_rects::record(ui.ctx(), "layer table", table.rect);
        });
}

fn card_ui(ui: &mut egui::Ui, caption: &str, conv: &ConvSpec) {
    ui.group(|ui| {
        ui.set_width(MASK_CARD_WIDTH - 14.0);
        ui.vertical(|ui| {
            ui.add(egui::Label::new(caption).wrap());
            tap_grid_ui(ui, conv);
        });
    });
}

/// Half the side of the square, centred on the output pixel, that holds every tap of `conv`.
pub fn tap_grid_radius(conv: &ConvSpec) -> usize {
    conv.taps
        .iter()
        .map(|t| t.dy.unsigned_abs().max(t.dx.unsigned_abs()))
        .max()
        .unwrap_or(0)
        .max(1)
}

/// The taps of `conv` on a square centred on the output pixel (a mask, for the plain family).
fn tap_grid_ui(ui: &mut egui::Ui, conv: &ConvSpec) {
    let radius = tap_grid_radius(conv);
    let size = 2 * radius + 1;
    let cell = if size <= 3 { 16.0 } else { 11.0 };
    let side = cell * size as f32;
    let (rect, _) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let r = radius as isize;
    for row in 0..size {
        for col in 0..size {
            let (dy, dx) = (row as isize - r, col as isize - r);
            let min = rect.min + egui::vec2(col as f32 * cell, row as f32 * cell);
            let cell_rect = egui::Rect::from_min_size(min, egui::vec2(cell, cell)).shrink(1.0);
            let color = if conv.taps.iter().any(|t| t.dy == dy && t.dx == dx) {
                egui::Color32::from_rgb(225, 225, 225)
            } else {
                egui::Color32::from_rgb(45, 45, 50)
            };
            painter.rect_filled(cell_rect, 1.0, color);
            if dy == 0 && dx == 0 {
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

fn layer_table_ui(ui: &mut egui::Ui, layers: &[LayerSpec]) -> egui::Response {
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
        })
        .response
}

/// The colour of each kind of input pixel in the receptive-field view.
pub fn reach_color(reach: Reach) -> egui::Color32 {
    match reach {
        Reach::Output => egui::Color32::from_rgb(230, 60, 60),
        Reach::Visible => egui::Color32::from_rgb(70, 140, 230),
        Reach::BlindSpot => egui::Color32::from_rgb(235, 160, 40),
        Reach::OutOfReach => egui::Color32::from_gray(95),
        Reach::Later => egui::Color32::from_gray(35),
    }
}

/// The legend entry of each kind of input pixel.
pub fn reach_label(reach: Reach) -> &'static str {
    match reach {
        Reach::Output => "the output pixel (what is predicted)",
        Reach::Visible => "visible: earlier pixels it sees",
        Reach::BlindSpot => "blind spot: earlier pixels within reach that masking hides",
        Reach::OutOfReach => "out of reach: earlier pixels farther than the kernels reach",
        Reach::Later => "later pixels (never visible)",
    }
}

/// The caption above the receptive-field view; it mentions a blind spot only when there is one.
pub fn receptive_field_caption(pixel: (usize, usize), map: &[Reach]) -> String {
    let count = |kind| map.iter().filter(|&&r| r == kind).count();
    let mut text = format!(
        "Output pixel (row {}, col {}) sees {} of {IMAGE_PIXELS} input pixels.",
        pixel.0,
        pixel.1,
        count(Reach::Visible)
    );
    let blind = count(Reach::BlindSpot);
    if blind > 0 {
        text.push_str(&format!(
            " Stacked masks hide {blind} earlier pixels within its reach: the blind spot."
        ));
    }
    text.push_str(" Click an output pixel to move it.");
    text
}

fn receptive_field_ui(ui: &mut egui::Ui, model: &ModelConfig, state: &mut InspectorState) {
    let pixel = state.pixel;
    let map = state.classified(model).to_vec();
    ui.add(egui::Label::new(receptive_field_caption(pixel, &map)).wrap());
    match model.family {
        // The caption above names the blind spot when there is one.
        FamilyConfig::Plain(_) => {}
        FamilyConfig::Gated(_) => {
            ui.add(
                egui::Label::new(
                    "No blind spot: the vertical stack covers every row above within reach, the \
                     horizontal stack the row to the left.",
                )
                .wrap(),
            );
        }
    }
    let cell = (ui.available_width() / IMAGE_SIDE as f32)
        .clamp(4.0, 16.0)
        .floor();
    let side = cell * IMAGE_SIDE as f32;
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
    for (index, &reach) in map.iter().enumerate() {
        let (row, col) = (index / IMAGE_SIDE, index % IMAGE_SIDE);
        let min = rect.min + egui::vec2(col as f32 * cell, row as f32 * cell);
        let cell_rect = egui::Rect::from_min_size(min, egui::vec2(cell, cell)).shrink(0.5);
        painter.rect_filled(cell_rect, 0.0, reach_color(reach));
    }
    for reach in [
        Reach::Output,
        Reach::Visible,
        Reach::BlindSpot,
        Reach::OutOfReach,
        Reach::Later,
    ] {
        let count = map.iter().filter(|&&r| r == reach).count();
        if reach == Reach::BlindSpot && count == 0 {
            continue;
        }
        ui.horizontal(|ui| {
            let (swatch, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
            ui.painter().rect_filled(swatch, 1.0, reach_color(reach));
            ui.add(egui::Label::new(format!("{} ({count})", reach_label(reach))).wrap());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::arch::receptive_field::classify_inputs;
    use crate::model::{GatedConfig, PlainConfig};

    fn plain_layers(model: &ModelConfig) -> Vec<LayerSpec> {
        match model.architecture() {
            Architecture::Plain(layers) => layers,
            Architecture::Gated(_) => panic!("not a plain model"),
        }
    }

    #[test]
    fn the_gated_family_shows_no_blind_spot_and_the_plain_one_does() {
        let mut state = InspectorState::default();
        let gated = ModelConfig {
            family: FamilyConfig::Gated(GatedConfig {
                conditional: true,
                ..GatedConfig::preset()
            }),
            ..ModelConfig::gated()
        };
        let map = state.classified(&gated).to_vec();
        assert!(!map.contains(&Reach::BlindSpot));
        let visible = map.iter().filter(|&&r| r == Reach::Visible).count();
        let expected = gated.visible_inputs(14, 14).iter().filter(|&&v| v).count();
        assert_eq!(visible, expected);
        assert!(
            visible > 24,
            "the gated stacks see more than the first layer"
        );
        let plain = state.classified(&ModelConfig::seed()).to_vec();
        assert!(plain.contains(&Reach::BlindSpot));
    }

    #[test]
    fn tap_grids_are_centred_on_the_predicted_pixel() {
        let seed = plain_layers(&ModelConfig::seed());
        assert_eq!(tap_grid_radius(&seed[0].conv()), 3, "a 7x7 mask A");
        assert_eq!(tap_grid_radius(&seed[1].conv()), 1, "a 3x3 mask B");
        let Architecture::Gated(spec) = ModelConfig::gated().architecture() else {
            panic!("the gated preset is gated");
        };
        // The first horizontal layer reads 3 pixels to the left: a 7x7 square around the pixel.
        assert_eq!(tap_grid_radius(&spec.first_h), 3);
        assert!(spec.first_h.taps.iter().all(|t| t.dy == 0 && t.dx < 0));
        assert!(spec.first_v.taps.iter().all(|t| t.dy < 0));
        let caption = tap_caption(&spec.first_v, "conv_v0");
        assert!(
            caption.contains("3x7") && caption.contains("vertical"),
            "{caption}"
        );
    }

    #[test]
    fn the_caption_mentions_a_blind_spot_only_when_there_is_one() {
        let seed = plain_layers(&ModelConfig::seed());
        let with = receptive_field_caption((14, 14), &classify_inputs(&seed, 14, 14));
        assert!(with.contains("blind spot"), "{with}");
        let first_only = plain_layers(&ModelConfig {
            family: FamilyConfig::Plain(PlainConfig {
                masked_layers: 0,
                ..PlainConfig::seed()
            }),
            ..ModelConfig::seed()
        });
        let without = receptive_field_caption((14, 14), &classify_inputs(&first_only, 14, 14));
        assert!(!without.contains("blind"), "{without}");
        assert!(without.contains("sees 24 of 784 input pixels"), "{without}");
    }
}
