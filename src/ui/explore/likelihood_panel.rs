//! The likelihood panel: the per-pixel heatmap with its colour legend, the NLL and the hovered
//! pixel's probability.

use egui::{Color32, Pos2, Rect, Sense, Vec2};

use super::grid::{cell_at, cell_rect, color, outline_hovered};
use super::{ExploreView, CELL};
use crate::data::IMAGE_SIDE;
use crate::explore::render::{heat_color, HEAT_SCALE_MAX_NATS};

pub(super) fn likelihood_ui(ui: &mut egui::Ui, view: &mut ExploreView) {
    ui.strong("Likelihood: where the model is surprised");
    let side = IMAGE_SIDE as f32 * CELL;
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), Sense::hover());
    if let Some(pos) = response.hover_pos() {
        view.hovered = cell_at(rect, pos).map(|(r, c)| r * IMAGE_SIDE + c);
    }
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, Color32::from_gray(16));
    if let Some(shown) = &view.map {
        for (pos, &cost) in shown.map.cost_nats.iter().enumerate() {
            painter.rect_filled(cell_rect(rect, pos), 0.0, color(heat_color(cost)));
        }
        for (pos, _) in view.image.iter().enumerate().filter(|(_, &p)| p > 0.5) {
            let cell = cell_rect(rect, pos).shrink(CELL / 3.0);
            painter.rect_filled(cell, 0.0, Color32::WHITE);
        }
    }
    outline_hovered(&painter, rect, view.hovered);
    legend_ui(ui, side);
    match &view.map {
        None => {
            ui.label("NLL: no map yet (it needs a model)");
        }
        Some(shown) => {
            let stale = if view.map_is_current() {
                ""
            } else {
                " (updating...)"
            };
            ui.label(
                egui::RichText::new(format!(
                    "NLL {:.2} nats = {:.4} bits/dim{stale}",
                    shown.map.nll_nats(),
                    shown.map.bits_per_dim()
                ))
                .strong(),
            );
            let as_class = view.class.map_or(String::new(), |c| format!(", as a {c}"));
            ui.label(format!(
                "scored by the model after {} steps{as_class}; white squares mark ink",
                shown.global_step
            ));
        }
    }
    let hover_text = match (view.hovered, &view.map) {
        (Some(pos), Some(shown)) => {
            let (row, col) = (pos / IMAGE_SIDE, pos % IMAGE_SIDE);
            let ink = view.image.get(pos).is_some_and(|&p| p > 0.5);
            let prob = shown.map.prob_on.get(pos).copied().unwrap_or_default();
            let cost = shown.map.cost_nats.get(pos).copied().unwrap_or_default();
            format!(
                "row {row}, column {col}: {}; p(on) = {prob:.3}, cost {cost:.3} nats",
                if ink { "ink" } else { "background" }
            )
        }
        (Some(pos), None) => format!("row {}, column {}", pos / IMAGE_SIDE, pos % IMAGE_SIDE),
        (None, _) => "hover a pixel for the model's probability that it is on".to_string(),
    };
    ui.label(hover_text);
}

fn legend_ui(ui: &mut egui::Ui, width: f32) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, 14.0), Sense::hover());
    let painter = ui.painter_at(rect);
    let steps = 56;
    let step_width = width / steps as f32;
    for i in 0..steps {
        let cost = HEAT_SCALE_MAX_NATS * (i as f64 + 0.5) / steps as f64;
        let x = rect.min.x + i as f32 * step_width;
        let cell = Rect::from_min_size(Pos2::new(x, rect.min.y), Vec2::new(step_width + 0.5, 14.0));
        painter.rect_filled(cell, 0.0, color(heat_color(cost)));
    }
    // The tick labels under the scale, painted at their places (the first left-aligned, the
    // last right-aligned), so the row is exactly as wide as the scale.
    let (ticks, _) = ui.allocate_exact_size(Vec2::new(width, 14.0), Sense::hover());
    let painter = ui.painter_at(ticks);
    let font = egui::TextStyle::Small.resolve(ui.style());
    let text_color = ui.visuals().text_color();
    let last = HEAT_SCALE_MAX_NATS as usize;
    for nats in 0..=last {
        let x = ticks.min.x + width * nats as f32 / last as f32;
        let (text, anchor) = match nats {
            0 => ("0".to_string(), egui::Align2::LEFT_TOP),
            n if n == last => (format!("{n}+ nats"), egui::Align2::RIGHT_TOP),
            n => (n.to_string(), egui::Align2::CENTER_TOP),
        };
        painter.text(
            Pos2::new(x, ticks.min.y),
            anchor,
            text,
            font.clone(),
            text_color,
        );
    }
    ui.label(egui::RichText::new("cost of each pixel, -ln p(pixel | pixels before it)").small());
}
