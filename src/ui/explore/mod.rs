//! The Explore tab: pick an image (browse the test set or draw one), see where the model is
//! surprised (a per-pixel heatmap with its NLL), and let the model complete the image from its
//! top rows or fill a hole, several times.
//!
//! The heavy work runs on the explorer thread ([`crate::explore::Explorer`]); the view only
//! sends requests and polls answers. The weights come from the worker as snapshots taken
//! between training steps, so the tab follows a model while it trains. `view` holds the state
//! and its logic; one file per panel draws it.

mod completion_panel;
mod grid;
mod image_panel;
mod likelihood_panel;
mod view;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::UiCommand;
use crate::data::DataSource;
use crate::data::IMAGE_SIDE;

use completion_panel::completion_ui;
use image_panel::image_ui;
use likelihood_panel::likelihood_ui;
pub use view::ExploreView;

/// Longest time [`ExploreView::poll`] spends draining explorer events in one frame.
pub const EXPLORE_EVENT_BUDGET: Duration = Duration::from_millis(2);
/// While a model trains, its weights are fetched again at most this often.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// A snapshot asked for but not received is asked for again after this long.
const SNAPSHOT_RETRY: Duration = Duration::from_secs(5);
/// Most completions the tab draws at once (the command line allows more).
pub const MAX_TAB_COMPLETIONS: usize = 25;
/// Screen points per image pixel on the canvas and the heatmap.
const CELL: f32 = 9.0;
/// Screen points per image pixel in the completion sheet.
const SHEET_CELL: f32 = 3.0;
/// Narrowest the completion column gets (it takes what is left beside the image and the map).
const COMPLETION_MIN_WIDTH: f32 = 300.0;
/// The accessible name of the drawing canvas.
pub const CANVAS_LABEL: &str = "Drawing canvas";

/// What the left mouse button does on the canvas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tool {
    /// Sets pixels on.
    #[default]
    Pen,
    /// Sets pixels off.
    Eraser,
    /// Drags a rectangle: the hole the model fills.
    Hole,
}

/// What the model completes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompletionMode {
    /// Keep the top rows, draw the rest.
    #[default]
    TopRows,
    /// Keep everything before the hole, draw the rest.
    Hole,
}

/// The user's choices on the tab (persisted with the other settings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExploreSettings {
    /// The canvas tool.
    pub tool: Tool,
    /// Pen and eraser size, image pixels (1-3).
    pub brush: usize,
    /// Rows kept from the top for a completion.
    pub keep_rows: usize,
    /// Completions to draw.
    pub count: usize,
    /// Seed of the completion sampler.
    pub seed: u64,
    /// Top rows or hole.
    pub mode: CompletionMode,
}

impl Default for ExploreSettings {
    fn default() -> Self {
        ExploreSettings {
            tool: Tool::Pen,
            brush: 2,
            keep_rows: 14,
            count: 10,
            seed: 1,
            mode: CompletionMode::TopRows,
        }
    }
}

/// What the app tells the tab about the model each frame.
pub struct ExploreContext<'a> {
    /// Whether the worker holds a model.
    pub has_model: bool,
    /// Changes whenever the worker's model is replaced (started, opened, reset).
    pub model_generation: u64,
    /// Training steps of the worker's model, as last reported.
    pub global_step: u64,
    /// Whether the worker's model is class-conditional (then a class picker shows).
    pub conditional: bool,
    /// Where the test images come from.
    pub data: &'a DataSource,
}

/// Where the image on the canvas came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageOrigin {
    /// Nothing yet (the test set is loading).
    Nothing,
    /// Test image `index` as `eval` binarizes it.
    Test {
        /// Its index.
        index: usize,
        /// Its label.
        label: Option<u8>,
    },
    /// Drawn by the user, maybe over a test image.
    Drawn {
        /// The test image it started from.
        from_test: Option<usize>,
    },
}

/// Draws the Explore tab; returns what it asks the app to do (fetch the weights).
pub fn explore_ui(
    ui: &mut egui::Ui,
    view: &mut ExploreView,
    settings: &mut ExploreSettings,
    context: &ExploreContext<'_>,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    view.follow_model(context, &mut commands);
    view.follow_class(context.conditional);
    if view.origin == ImageOrigin::Nothing && view.test_asked.is_none() && view.message.is_none() {
        view.ask_test_image(context.data, 0);
    }
    view.hovered = None;
    egui::ScrollArea::both()
        .id_salt("explore_scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            model_line_ui(ui, view, context);
            ui.separator();
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(IMAGE_SIDE as f32 * CELL + 4.0);
                    image_ui(ui, view, settings, context);
                });
                ui.separator();
                ui.vertical(|ui| {
                    ui.set_width(IMAGE_SIDE as f32 * CELL + 4.0);
                    likelihood_ui(ui, view);
                });
                ui.separator();
                ui.vertical(|ui| {
                    ui.set_min_width(COMPLETION_MIN_WIDTH);
                    completion_ui(ui, view, settings, context);
                });
            });
        });
    view.request_map();
    commands
}

fn model_line_ui(ui: &mut egui::Ui, view: &ExploreView, context: &ExploreContext<'_>) {
    ui.horizontal(|ui| {
        ui.heading("Explore");
        let text = match (context.has_model, view.model_key) {
            (false, _) => {
                "no model yet: train one (Start) or open a checkpoint (File > Open); the test images can be browsed meanwhile".to_string()
            }
            (true, None) => "fetching the model's weights...".to_string(),
            (true, Some((_, step))) => {
                let live = if context.global_step != step {
                    format!(
                        " (training goes on: refreshed every {} s)",
                        REFRESH_INTERVAL.as_secs()
                    )
                } else {
                    String::new()
                };
                let epochs = match view.model_epochs {
                    1 => "1 epoch".to_string(),
                    n => format!("{n} epochs"),
                };
                format!("the model after {step} steps ({epochs} done){live}")
            }
        };
        ui.label(text);
    });
    if let Some((message, is_error)) = &view.message {
        let color = if *is_error {
            ui.visuals().error_fg_color
        } else {
            ui.visuals().text_color()
        };
        ui.colored_label(color, message);
    }
}
