//! Where each panel drew this frame: every panel records the rectangle its content took, so a
//! test can check at any window size that no two panels overlap and none leaves the window.
//!
//! The record lives in the context's temporary memory: [`begin_frame`] clears it at the start
//! of the frame, [`record`] adds a panel's rectangle, [`recorded`] reads the last frame's.

/// One panel's name and the rectangle its content took.
pub type PanelRect = (&'static str, egui::Rect);

fn key() -> egui::Id {
    egui::Id::unique("pixelcnn_studio_panel_rects")
}

/// Forgets the previous frame's rectangles (called once, at the start of the frame).
pub fn begin_frame(ctx: &egui::Context) {
    ctx.data_mut(|data| data.insert_temp(key(), Vec::<PanelRect>::new()));
}

/// Records `rect` as what the panel `name` took this frame.
pub fn record(ctx: &egui::Context, name: &'static str, rect: egui::Rect) {
    ctx.data_mut(|data| {
        data.get_temp_mut_or_default::<Vec<PanelRect>>(key())
            .push((name, rect));
    });
}

/// Records what `ui` took so far (its `min_rect`: everything its widgets allocated, beyond its
/// bounds too) as the panel `name`.
pub fn record_ui(ui: &egui::Ui, name: &'static str) {
    record(ui.ctx(), name, ui.min_rect());
}

/// The rectangles recorded in the last frame, in the order they were drawn.
pub fn recorded(ctx: &egui::Context) -> Vec<PanelRect> {
    ctx.data(|data| data.get_temp::<Vec<PanelRect>>(key()))
        .unwrap_or_default()
}

/// The first pair of panels in `rects` whose rectangles overlap by more than `tolerance`
/// points in both directions (touching edges do not count).
pub fn first_overlap(rects: &[PanelRect], tolerance: f32) -> Option<(PanelRect, PanelRect)> {
    rects.iter().enumerate().find_map(|(i, a)| {
        rects.iter().skip(i + 1).find_map(|b| {
            let overlap = a.1.intersect(b.1);
            (overlap.width() > tolerance && overlap.height() > tolerance).then_some((*a, *b))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_panels_do_not_overlap_and_covering_ones_do() {
        let rect = |x0: f32, y0: f32, x1: f32, y1: f32| {
            egui::Rect::from_min_max(egui::pos2(x0, y0), egui::pos2(x1, y1))
        };
        let left = ("left", rect(0.0, 0.0, 100.0, 100.0));
        let right = ("right", rect(100.0, 0.0, 200.0, 100.0));
        assert_eq!(first_overlap(&[left, right], 0.5), None);
        let covering = ("covering", rect(90.0, 10.0, 150.0, 50.0));
        assert_eq!(
            first_overlap(&[left, right, covering], 0.5),
            Some((left, covering))
        );
    }
}
