//! The image panel: the test-set browser, the drawing tools, the canvas (with the cut line or
//! the hole) and, for a class-conditional model, the digit picker.

use egui::accesskit::Role;
use egui::{Color32, Rect, Sense, Stroke, Vec2};

use super::grid::{cell_at, cell_rect, color, outline_hovered};
use super::{
    CompletionMode, ExploreContext, ExploreSettings, ExploreView, ImageOrigin, Tool, CANVAS_LABEL,
    CELL,
};
use crate::data::IMAGE_SIDE;
use crate::explore::render::CUT_LINE;

pub(super) fn image_ui(
    ui: &mut egui::Ui,
    view: &mut ExploreView,
    settings: &mut ExploreSettings,
    context: &ExploreContext<'_>,
) {
    ui.strong("Image");
    ui.horizontal(|ui| {
        ui.label("Test image");
        let last = view.test_count.map_or(usize::MAX, |c| c.saturating_sub(1));
        let mut index = view.test_index;
        let changed = ui
            .add(egui::DragValue::new(&mut index).range(0..=last))
            .on_hover_text("Index in the test set (as eval binarizes it)")
            .changed();
        if changed {
            view.ask_test_image(context.data, index);
        }
        if ui
            .button("<")
            .on_hover_text("Previous test image")
            .clicked()
        {
            let index = view.test_index.saturating_sub(1);
            view.ask_test_image(context.data, index);
        }
        if ui.button(">").on_hover_text("Next test image").clicked() {
            let index = view.test_index.saturating_add(1);
            view.ask_test_image(context.data, index);
        }
        if ui.button("Random").clicked() {
            let count = view.test_count.unwrap_or(1).max(1);
            let index = rand::random_range(0..count);
            view.ask_test_image(context.data, index);
        }
    });
    ui.horizontal(|ui| {
        for (tool, label, hint) in [
            (Tool::Pen, "Pen", "Draw ink (right button: erase)"),
            (Tool::Eraser, "Eraser", "Erase ink"),
            (
                Tool::Hole,
                "Hole",
                "Drag a rectangle: the hole the model fills",
            ),
        ] {
            if ui
                .selectable_label(settings.tool == tool, label)
                .on_hover_text(hint)
                .clicked()
            {
                settings.tool = tool;
            }
        }
        if ui.button("Clear").on_hover_text("Blank canvas").clicked() {
            view.clear();
        }
    });
    canvas_ui(ui, view, settings);
    ui.horizontal(|ui| {
        ui.label("Brush size");
        for size in 1..=3 {
            if ui
                .selectable_label(settings.brush == size, size.to_string())
                .on_hover_text(format!("Pen and eraser cover {size}x{size} pixels"))
                .clicked()
            {
                settings.brush = size;
            }
        }
    });
    let caption = match view.origin {
        ImageOrigin::Nothing => "loading the test images...".to_string(),
        ImageOrigin::Test { index, label } => match label {
            Some(label) => format!("test image {index}, a {label}, binarized as eval sees it"),
            None => format!("test image {index}, binarized as eval sees it"),
        },
        ImageOrigin::Drawn {
            from_test: Some(index),
        } => format!("test image {index}, redrawn by you"),
        ImageOrigin::Drawn { from_test: None } => "drawn by you".to_string(),
    };
    ui.label(caption);
    if context.conditional {
        class_picker_ui(ui, view);
    }
}

/// The digit a class-conditional model reads with the image (shown only for such models).
fn class_picker_ui(ui: &mut egui::Ui, view: &mut ExploreView) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Digit").on_hover_text(
            "The class-conditional model scores and completes the image as this digit",
        );
        let label_text = match view.image_label {
            Some(label) => format!("label ({label})"),
            None => "label".to_string(),
        };
        if ui
            .selectable_label(view.picked_class.is_none(), label_text)
            .on_hover_text("The test image's own label (0 for a drawing from scratch)")
            .clicked()
        {
            view.picked_class = None;
        }
        for digit in 0..10u8 {
            if ui
                .selectable_label(view.picked_class == Some(digit), digit.to_string())
                .clicked()
            {
                view.picked_class = Some(digit);
            }
        }
    });
    if view.picked_class.is_none() && view.image_label.is_none() {
        ui.label(egui::RichText::new("read as a 0: pick the digit you drew").small());
    }
}

fn canvas_ui(ui: &mut egui::Ui, view: &mut ExploreView, settings: &mut ExploreSettings) {
    let side = IMAGE_SIDE as f32 * CELL;
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(Role::Canvas, true, CANVAS_LABEL));
    let pointer = response
        .interact_pointer_pos()
        .or_else(|| response.hover_pos());
    let erase = ui.input(|i| i.pointer.secondary_down())
        || response.clicked_by(egui::PointerButton::Secondary);
    let pressed =
        response.is_pointer_button_down_on() || response.clicked() || response.secondary_clicked();
    if pressed {
        let start = ui
            .input(|i| i.pointer.press_origin())
            .and_then(|pos| cell_at(rect, pos));
        // A hole follows the pointer to the canvas edge; pen and eraser stop at it.
        let dragging_hole = settings.tool == Tool::Hole && !erase;
        let cell = pointer.and_then(|pos| {
            if dragging_hole {
                cell_at(rect, rect.clamp(pos))
            } else {
                cell_at(rect, pos)
            }
        });
        if let Some(cell) = cell {
            view.paint(settings, start.unwrap_or(cell), cell, erase);
        }
    } else {
        view.last_cell = None;
        view.hole_anchor = None;
    }
    if response.clicked() || response.secondary_clicked() || response.drag_stopped() {
        // A click lands as press and release in one frame: the next stroke starts afresh.
        view.last_cell = None;
        view.hole_anchor = None;
    }
    if let Some(pos) = response.hover_pos() {
        view.hovered = cell_at(rect, pos).map(|(r, c)| r * IMAGE_SIDE + c);
    }
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, Color32::BLACK);
    for (pos, &p) in view.image.iter().enumerate() {
        if p > 0.5 {
            painter.rect_filled(cell_rect(rect, pos), 0.0, Color32::from_gray(235));
        }
    }
    let grid_line = Stroke::new(0.5, Color32::from_gray(40));
    for i in 1..IMAGE_SIDE {
        let offset = i as f32 * CELL;
        painter.vline(rect.min.x + offset, rect.y_range(), grid_line);
        painter.hline(rect.x_range(), rect.min.y + offset, grid_line);
    }
    let cut_color = color(CUT_LINE);
    match (settings.mode, view.hole) {
        (CompletionMode::TopRows, _) => {
            let y = rect.min.y + settings.keep_rows.min(IMAGE_SIDE) as f32 * CELL;
            painter.hline(rect.x_range(), y, Stroke::new(2.0, cut_color));
        }
        (CompletionMode::Hole, Some(hole)) => {
            let hole_rect = Rect::from_min_max(
                rect.min + Vec2::new(hole.left as f32 * CELL, hole.top as f32 * CELL),
                rect.min + Vec2::new(hole.right as f32 * CELL, hole.bottom as f32 * CELL),
            );
            painter.rect_filled(
                hole_rect,
                0.0,
                Color32::from_rgba_unmultiplied(60, 70, 160, 90),
            );
            painter.rect_stroke(
                hole_rect,
                0.0,
                Stroke::new(2.0, cut_color),
                egui::StrokeKind::Inside,
            );
        }
        (CompletionMode::Hole, None) => {}
    }
    outline_hovered(&painter, rect, view.hovered);
}
