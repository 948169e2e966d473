//! The completion panel: keep rows or fill a hole, how many and which seed, and the sheet of
//! the original beside its completions.

use super::{
    CompletionMode, ExploreContext, ExploreSettings, ExploreView, COMPLETION_MIN_WIDTH,
    MAX_TAB_COMPLETIONS, SHEET_CELL,
};
use crate::data::IMAGE_SIDE;
use crate::explore::render::{completion_sheet, GUTTER};

/// Tiles per row of the completion sheet that fit in `width` points (2 to 13): each tile is a
/// 28x28 image and a gutter, with a gutter more at the sheet's edge, at [`SHEET_CELL`] points
/// per image pixel.
pub(super) fn sheet_columns(width: f32) -> usize {
    let tile = (IMAGE_SIDE + GUTTER) as f32 * SHEET_CELL;
    let room = width.max(COMPLETION_MIN_WIDTH) - GUTTER as f32 * SHEET_CELL;
    ((room / tile) as usize).clamp(2, 13)
}

pub(super) fn completion_ui(
    ui: &mut egui::Ui,
    view: &mut ExploreView,
    settings: &mut ExploreSettings,
    context: &ExploreContext<'_>,
) {
    ui.strong("Completion");
    ui.radio_value(
        &mut settings.mode,
        CompletionMode::TopRows,
        "Keep the top rows",
    );
    ui.radio_value(&mut settings.mode, CompletionMode::Hole, "Fill a hole");
    match settings.mode {
        CompletionMode::TopRows => {
            ui.add(egui::Slider::new(&mut settings.keep_rows, 0..=IMAGE_SIDE).text("Keep rows"))
                .on_hover_text("Rows kept from the top (the red line on the canvas)");
        }
        CompletionMode::Hole => {
            let text = match view.hole {
                Some(hole) => format!(
                    "hole: rows {}-{}, columns {}-{}",
                    hole.top,
                    hole.bottom - 1,
                    hole.left,
                    hole.right - 1
                ),
                None => "pick the Hole tool and drag a rectangle on the canvas".into(),
            };
            ui.label(text);
        }
    }
    ui.add(egui::Slider::new(&mut settings.count, 1..=MAX_TAB_COMPLETIONS).text("Completions"));
    ui.horizontal(|ui| {
        ui.label("Seed");
        ui.add(egui::DragValue::new(&mut settings.seed))
            .on_hover_text("Seed of the sampler: the same seed gives the same completions");
        let busy = view.completion_in_flight.is_some();
        let ready = context.has_model && view.model_key.is_some() && !busy;
        let button = ui
            .add_enabled(ready, egui::Button::new("Complete"))
            .on_disabled_hover_text(if busy {
                "completions are being drawn"
            } else {
                "needs a model: train one or open a checkpoint"
            });
        if button.clicked() {
            view.request_completion(settings);
        }
    });
    if settings.mode == CompletionMode::Hole {
        ui.label(
            egui::RichText::new(
                "The model reads pixels in raster order (left to right, top to bottom), so it \
                 cannot see the pixels below or right of the hole's first pixel: it keeps \
                 everything before that pixel and redraws everything after it. Ink it drew \
                 inside the hole is amber; ink it redrew outside the hole is shown faded.",
            )
            .small(),
        );
    }
    let Some(shown) = &view.completion else {
        ui.label("Kept ink is white, ink the model drew is amber.");
        return;
    };
    let status = if shown.done {
        format!(
            "{} completions by the model after {} steps; kept ink white, drawn ink amber",
            shown.grid.count,
            shown.global_step.unwrap_or_default()
        )
    } else {
        format!(
            "drawing row {} of {IMAGE_SIDE}...",
            shown.grid.pixels_done / IMAGE_SIDE
        )
    };
    ui.label(status);
    let columns = sheet_columns(ui.available_width());
    if columns != view.sheet_columns {
        view.sheet_columns = columns;
        view.sheet_dirty = true;
    }
    if view.sheet_dirty {
        view.sheet_dirty = false;
        let sheet = completion_sheet(
            &shown.original,
            &shown.grid.pixels,
            shown.keep_pixels,
            shown.hole.as_ref(),
            columns,
            1,
        );
        let image = egui::ColorImage::from_rgb([sheet.width, sheet.height], &sheet.rgb);
        match &mut view.sheet_texture {
            Some(texture) => texture.set(image, egui::TextureOptions::NEAREST),
            None => {
                view.sheet_texture = Some(ui.ctx().load_texture(
                    "pixelcnn-completions",
                    image,
                    egui::TextureOptions::NEAREST,
                ));
            }
        }
    }
    if let Some(texture) = &view.sheet_texture {
        let size = texture.size_vec2() * SHEET_CELL;
        ui.add(
            egui::Image::new((texture.id(), size))
                .alt_text("the original (left, cut line in red) and its completions"),
        );
    }
}
