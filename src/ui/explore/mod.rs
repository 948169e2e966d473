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

use super::{panel_rects, UiCommand};
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
    // Only ever a vertical scroll (its bar always shown when the tab is taller than the
    // window): the columns wrap to the width instead of running past it.
    egui::ScrollArea::vertical()
        .id_salt("explore_scroll")
        .auto_shrink([false, false])
        .scroll_bar_visibility(egui::scroll_area::ScrollBarVisibility::VisibleWhenNeeded)
        .show(ui, |ui| {
            model_line_ui(ui, view, context);
            ui.separator();
            let arrangement = ColumnArrangement::for_width(ui.available_width(), column_gap(ui));
            let image_column =
                |ui: &mut egui::Ui, view: &mut ExploreView, settings: &mut ExploreSettings| {
                    ui.vertical(|ui| {
                        ui.set_width(IMAGE_COLUMN_WIDTH);
                        image_ui(ui, view, settings, context);
                        panel_rects::record_ui(ui, "explore: image");
                    });
                };
            let likelihood_column = |ui: &mut egui::Ui, view: &mut ExploreView| {
                ui.vertical(|ui| {
                    ui.set_width(IMAGE_COLUMN_WIDTH);
                    likelihood_ui(ui, view);
                    panel_rects::record_ui(ui, "explore: likelihood");
                });
            };
            let completion_column = |ui: &mut egui::Ui,
                                     view: &mut ExploreView,
                                     settings: &mut ExploreSettings,
                                     width: f32| {
                ui.vertical(|ui| {
                    ui.set_width(width);
                    completion_ui(ui, view, settings, context);
                    panel_rects::record_ui(ui, "explore: completion");
                });
            };
            match arrangement {
                ColumnArrangement::Row { completion_width } => {
                    ui.horizontal_top(|ui| {
                        image_column(ui, view, settings);
                        ui.separator();
                        likelihood_column(ui, view);
                        ui.separator();
                        completion_column(ui, view, settings, completion_width);
                    });
                }
                ColumnArrangement::PairThenCompletion { completion_width } => {
                    ui.horizontal_top(|ui| {
                        image_column(ui, view, settings);
                        ui.separator();
                        likelihood_column(ui, view);
                    });
                    ui.separator();
                    completion_column(ui, view, settings, completion_width);
                }
                ColumnArrangement::Stacked { completion_width } => {
                    image_column(ui, view, settings);
                    ui.separator();
                    likelihood_column(ui, view);
                    ui.separator();
                    completion_column(ui, view, settings, completion_width);
                }
            }
        });
    panel_rects::record_ui(ui, "explore");
    view.request_map();
    commands
}

/// Width of the image and the likelihood columns: the 28x28 canvas or heatmap and a margin.
const IMAGE_COLUMN_WIDTH: f32 = IMAGE_SIDE as f32 * CELL + 4.0;

/// The room a separator takes between two columns of a row (its line and the spacing on each
/// side).
fn column_gap(ui: &egui::Ui) -> f32 {
    2.0 * ui.spacing().item_spacing.x + 6.0
}

/// How the three columns (image, likelihood, completion) share the tab's width: side by side
/// when they fit, the image and its heatmap side by side over the completion when only those
/// two do, else one above the other. The completion column gets the width left to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColumnArrangement {
    /// All three in a row.
    Row {
        /// Width of the completion column.
        completion_width: f32,
    },
    /// Image and likelihood in a row, the completion under them.
    PairThenCompletion {
        /// Width of the completion column.
        completion_width: f32,
    },
    /// One column above the other.
    Stacked {
        /// Width of the completion column.
        completion_width: f32,
    },
}

impl ColumnArrangement {
    /// The arrangement for `width` points, with `gap` points between two columns of a row.
    pub fn for_width(width: f32, gap: f32) -> ColumnArrangement {
        let pair = 2.0 * IMAGE_COLUMN_WIDTH + gap;
        if width >= pair + gap + COMPLETION_MIN_WIDTH {
            ColumnArrangement::Row {
                completion_width: width - pair - gap,
            }
        } else if width >= pair {
            ColumnArrangement::PairThenCompletion {
                completion_width: width,
            }
        } else {
            ColumnArrangement::Stacked {
                completion_width: width.max(IMAGE_COLUMN_WIDTH),
            }
        }
    }
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
