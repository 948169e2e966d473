//! The Explore tab: pick an image (browse the test set or draw one), see where the model is
//! surprised (a per-pixel heatmap with its NLL), and let the model complete the image from its
//! top rows or fill a hole, several times.
//!
//! The heavy work runs on the explorer thread ([`crate::explore::Explorer`]); this view only
//! sends requests and polls answers. The weights come from the worker as snapshots taken
//! between training steps, so the tab follows a model while it trains.

use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2};
use serde::{Deserialize, Serialize};

use super::UiCommand;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::explore::render::{completion_sheet, heat_color, Rgb, CUT_LINE, HEAT_SCALE_MAX_NATS};
use crate::explore::{
    CompletionSpec, ExploreEvent, ExploreRequest, Explorer, Hole, ModelSnapshot, NllMap,
    MAX_COMPLETIONS,
};
use crate::messages::DataSource;
use crate::model::SampleGrid;

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

/// The likelihood map shown.
struct ShownMap {
    map: NllMap,
    global_step: u64,
}

/// Completions shown (being drawn or done).
struct ShownCompletion {
    original: Vec<f32>,
    keep_pixels: usize,
    hole: Option<Hole>,
    grid: SampleGrid,
    done: bool,
    global_step: Option<u64>,
}

/// The Explore tab's state.
pub struct ExploreView {
    ctx: egui::Context,
    explorer: Option<Explorer>,
    /// Why the explorer could not start.
    explorer_error: Option<String>,
    image: Vec<f32>,
    origin: ImageOrigin,
    /// Bumped on every change of the image (or of the digit a conditional model reads).
    image_version: u64,
    /// The label of the test image the canvas shows (or was drawn over).
    image_label: Option<u8>,
    /// The digit picked for a conditional model (`None`: the image's label); reset when
    /// another test image is shown.
    picked_class: Option<u8>,
    /// The digit a conditional model reads with the image (`None` for other models).
    class: Option<u8>,
    test_index: usize,
    test_count: Option<usize>,
    test_asked: Option<usize>,
    last_cell: Option<(usize, usize)>,
    hole_anchor: Option<(usize, usize)>,
    hole: Option<Hole>,
    /// `(model generation, global step)` of the weights the explorer holds.
    model_key: Option<(u64, u64)>,
    model_epochs: usize,
    /// When a snapshot was asked for and for which model generation, until it arrives.
    snapshot_asked: Option<(Instant, u64)>,
    last_asked_at: Option<Instant>,
    next_id: u64,
    map_in_flight: Option<(u64, u64)>,
    map_version: Option<u64>,
    map: Option<ShownMap>,
    completion_in_flight: Option<u64>,
    completion: Option<ShownCompletion>,
    sheet_texture: Option<egui::TextureHandle>,
    sheet_dirty: bool,
    sheet_columns: usize,
    hovered: Option<usize>,
    message: Option<(String, bool)>,
}

impl ExploreView {
    /// A view whose explorer thread wakes `ctx` (started when the tab is first shown).
    pub fn new(ctx: &egui::Context) -> ExploreView {
        ExploreView {
            ctx: ctx.clone(),
            explorer: None,
            explorer_error: None,
            image: vec![0.0; IMAGE_PIXELS],
            origin: ImageOrigin::Nothing,
            image_version: 0,
            image_label: None,
            picked_class: None,
            class: None,
            test_index: 0,
            test_count: None,
            test_asked: None,
            last_cell: None,
            hole_anchor: None,
            hole: None,
            model_key: None,
            model_epochs: 0,
            snapshot_asked: None,
            last_asked_at: None,
            next_id: 1,
            map_in_flight: None,
            map_version: None,
            map: None,
            completion_in_flight: None,
            completion: None,
            sheet_texture: None,
            sheet_dirty: false,
            sheet_columns: 0,
            hovered: None,
            message: None,
        }
    }

    /// The 784 pixels on the canvas.
    pub fn image(&self) -> &[f32] {
        &self.image
    }

    /// Where the image came from.
    pub fn origin(&self) -> ImageOrigin {
        self.origin
    }

    /// The NLL shown, nats (`None` before the first map arrives).
    pub fn shown_nll_nats(&self) -> Option<f64> {
        self.map.as_ref().map(|m| m.map.nll_nats())
    }

    /// Whether the map shown is of the image on the canvas now.
    pub fn map_is_current(&self) -> bool {
        self.map.is_some() && self.map_version == Some(self.image_version)
    }

    /// The completions shown, if any: the grid, whether it is complete, and the pixels kept.
    pub fn completions(&self) -> Option<(&SampleGrid, bool, usize)> {
        self.completion
            .as_ref()
            .map(|c| (&c.grid, c.done, c.keep_pixels))
    }

    /// The hole drawn with the Hole tool, if any.
    pub fn hole(&self) -> Option<Hole> {
        self.hole
    }

    /// The last error shown on the tab.
    pub fn error(&self) -> Option<&str> {
        match &self.message {
            Some((text, true)) => Some(text),
            _ => None,
        }
    }

    /// The worker's weights arrived: hand them to the explorer and rescore the image.
    pub fn set_model(&mut self, snapshot: ModelSnapshot) {
        let generation = self.snapshot_asked.map_or(0, |(_, g)| g);
        self.snapshot_asked = None;
        self.model_key = Some((generation, snapshot.global_step));
        self.model_epochs = snapshot.epochs_done;
        if self.send(ExploreRequest::SetModel(snapshot)) {
            self.map_version = None;
        }
    }

    fn explorer(&mut self) -> Option<&Explorer> {
        if self.explorer.is_none() && self.explorer_error.is_none() {
            let ctx = self.ctx.clone();
            match Explorer::spawn(std::sync::Arc::new(move || ctx.request_repaint())) {
                Ok(explorer) => self.explorer = Some(explorer),
                Err(err) => self.explorer_error = Some(format!("{err:#}")),
            }
        }
        self.explorer.as_ref()
    }

    /// Sends a request; on failure shows why and returns false.
    fn send(&mut self, request: ExploreRequest) -> bool {
        let result = match self.explorer() {
            Some(explorer) => explorer.send(request).map_err(|err| err.to_string()),
            None => Err(self
                .explorer_error
                .clone()
                .unwrap_or_else(|| "the explorer thread is not running".into())),
        };
        match result {
            Ok(()) => true,
            Err(message) => {
                self.message = Some((message, true));
                false
            }
        }
    }

    /// Follows the digit a conditional model reads: the picked one, else the image's label,
    /// else 0; a change rescored the image like an edit.
    fn follow_class(&mut self, conditional: bool) {
        let class = conditional.then(|| self.picked_class.or(self.image_label).unwrap_or(0));
        if class != self.class {
            self.class = class;
            self.image_version += 1;
        }
    }

    /// The digit a conditional model reads with the image (`None` for other models).
    pub fn class(&self) -> Option<u8> {
        self.class
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Drains explorer events without blocking, for at most [`EXPLORE_EVENT_BUDGET`].
    pub fn poll(&mut self) {
        let started = Instant::now();
        while started.elapsed() < EXPLORE_EVENT_BUDGET {
            let Some(event) = self.explorer.as_ref().and_then(Explorer::try_recv) else {
                break;
            };
            self.on_event(event);
        }
    }

    fn on_event(&mut self, event: ExploreEvent) {
        match event {
            ExploreEvent::TestImage {
                index,
                count,
                label,
                pixels,
            } => {
                self.test_count = Some(count);
                if self.test_asked == Some(index) {
                    self.test_asked = None;
                    self.test_index = index;
                    self.origin = ImageOrigin::Test { index, label };
                    self.image_label = label;
                    self.picked_class = None;
                    self.set_image(pixels);
                }
            }
            ExploreEvent::NllMap {
                id,
                global_step,
                map,
            } => {
                if let Some((in_flight, version)) = self.map_in_flight {
                    if id >= in_flight {
                        self.map_in_flight = None;
                        self.map_version = Some(version);
                    }
                }
                self.map = Some(ShownMap { map, global_step });
            }
            ExploreEvent::CompletionProgress { id, grid } => {
                if self.completion_in_flight == Some(id) {
                    if let Some(shown) = &mut self.completion {
                        shown.grid = grid;
                        self.sheet_dirty = true;
                    }
                }
            }
            ExploreEvent::Completed {
                id,
                global_step,
                grid,
            } => {
                if self.completion_in_flight == Some(id) {
                    self.completion_in_flight = None;
                    if let Some(shown) = &mut self.completion {
                        shown.grid = grid;
                        shown.done = true;
                        shown.global_step = Some(global_step);
                        self.sheet_dirty = true;
                    }
                }
            }
            ExploreEvent::Failed { id, message } => {
                if self.completion_in_flight == Some(id) {
                    self.completion_in_flight = None;
                    self.completion = None;
                }
                if self
                    .map_in_flight
                    .is_some_and(|(in_flight, _)| id >= in_flight)
                {
                    self.map_in_flight = None;
                }
                self.message = Some((message, true));
            }
            ExploreEvent::Error(message) => {
                self.test_asked = None;
                self.message = Some((message, true));
            }
        }
    }

    fn set_image(&mut self, pixels: Vec<f32>) {
        self.image = pixels;
        self.image_version += 1;
    }

    fn ask_test_image(&mut self, data: &DataSource, index: usize) {
        let index = match self.test_count {
            Some(count) => index.min(count.saturating_sub(1)),
            None => index,
        };
        if self.send(ExploreRequest::TestImage {
            data: data.clone(),
            index,
        }) {
            self.test_asked = Some(index);
            self.test_index = index;
        }
    }

    /// Keeps the explorer's model in step with the worker's: asks for a snapshot when the
    /// worker's model changed (at most every [`REFRESH_INTERVAL`]), forgets it after a reset.
    fn follow_model(&mut self, context: &ExploreContext<'_>, commands: &mut Vec<UiCommand>) {
        if !context.has_model {
            if self.model_key.take().is_some() {
                self.send(ExploreRequest::ForgetModel);
                self.map = None;
                self.map_version = None;
            }
            self.snapshot_asked = None;
            return;
        }
        let key = (context.model_generation, context.global_step);
        if self.model_key == Some(key) {
            return;
        }
        let due = match self.snapshot_asked {
            // An answer is awaited: ask again only if it seems lost.
            Some((at, _)) => at.elapsed() >= SNAPSHOT_RETRY,
            // Another model: at once; the same model trained further: at the refresh pace.
            None => {
                self.model_key
                    .is_none_or(|(generation, _)| generation != key.0)
                    || self
                        .last_asked_at
                        .is_none_or(|at| at.elapsed() >= REFRESH_INTERVAL)
            }
        };
        if due {
            commands.push(UiCommand::SnapshotWeights);
            self.snapshot_asked = Some((Instant::now(), key.0));
            self.last_asked_at = Some(Instant::now());
        } else {
            self.ctx.request_repaint_after(REFRESH_INTERVAL);
        }
    }

    /// Sends the map request when the image or the model changed and none is in flight.
    fn request_map(&mut self) {
        if self.model_key.is_none()
            || self.map_in_flight.is_some()
            || self.map_version == Some(self.image_version)
            || self.origin == ImageOrigin::Nothing
        {
            return;
        }
        let id = self.fresh_id();
        let version = self.image_version;
        if self.send(ExploreRequest::NllMap {
            id,
            image: self.image.clone(),
            label: self.class,
        }) {
            self.map_in_flight = Some((id, version));
        }
    }

    fn request_completion(&mut self, settings: &ExploreSettings) {
        let (keep_pixels, hole) = match (settings.mode, self.hole) {
            (CompletionMode::Hole, Some(hole)) => (hole.first_pixel(), Some(hole)),
            (CompletionMode::Hole, None) => {
                self.message = Some((
                    "draw the hole first: pick the Hole tool and drag a rectangle on the canvas"
                        .into(),
                    true,
                ));
                return;
            }
            (CompletionMode::TopRows, _) => (settings.keep_rows.min(IMAGE_SIDE) * IMAGE_SIDE, None),
        };
        let count = settings
            .count
            .clamp(1, MAX_TAB_COMPLETIONS.min(MAX_COMPLETIONS));
        let id = self.fresh_id();
        let request = ExploreRequest::Complete {
            id,
            image: self.image.clone(),
            spec: CompletionSpec {
                keep_pixels,
                count,
                label: self.class,
                seed: settings.seed,
            },
        };
        if self.send(request) {
            self.completion_in_flight = Some(id);
            let start = SampleGrid {
                count,
                pixels: self.image.repeat(count),
                pixels_done: keep_pixels,
            };
            let mut grid = start;
            for image in grid.pixels.chunks_exact_mut(IMAGE_PIXELS) {
                image[keep_pixels.min(IMAGE_PIXELS)..].fill(0.0);
            }
            self.completion = Some(ShownCompletion {
                original: self.image.clone(),
                keep_pixels,
                hole,
                grid,
                done: false,
                global_step: None,
            });
            self.sheet_dirty = true;
            self.message = None;
        }
    }

    /// Applies the pen, eraser or hole tool at canvas cell `cell`, for a stroke that started
    /// at `start` (where the button was pressed: a fast stroke may have moved on by the first
    /// frame that sees it).
    fn paint(
        &mut self,
        settings: &mut ExploreSettings,
        start: (usize, usize),
        cell: (usize, usize),
        erase: bool,
    ) {
        let tool = if erase { Tool::Eraser } else { settings.tool };
        if tool == Tool::Hole {
            let anchor = *self.hole_anchor.get_or_insert(start);
            self.hole = Some(Hole::spanning(anchor, cell));
            settings.mode = CompletionMode::Hole;
            return;
        }
        let value = if tool == Tool::Pen { 1.0 } else { 0.0 };
        let from = self.last_cell.unwrap_or(start);
        let mut changed = false;
        for (row, col) in line_cells(from, cell) {
            for (r, c) in brush_cells(row, col, settings.brush) {
                if let Some(pixel) = self.image.get_mut(r * IMAGE_SIDE + c) {
                    if *pixel != value {
                        *pixel = value;
                        changed = true;
                    }
                }
            }
        }
        self.last_cell = Some(cell);
        if changed {
            self.image_version += 1;
            self.origin = match self.origin {
                ImageOrigin::Test { index, .. } => ImageOrigin::Drawn {
                    from_test: Some(index),
                },
                ImageOrigin::Nothing => ImageOrigin::Drawn { from_test: None },
                drawn => drawn,
            };
        }
    }

    fn clear(&mut self) {
        self.set_image(vec![0.0; IMAGE_PIXELS]);
        self.origin = ImageOrigin::Drawn { from_test: None };
        self.image_label = None;
        self.hole = None;
    }
}

/// The cells on the straight line from `a` to `b` (Bresenham), both included.
fn line_cells(a: (usize, usize), b: (usize, usize)) -> Vec<(usize, usize)> {
    let (mut r, mut c) = (a.0 as i64, a.1 as i64);
    let (r1, c1) = (b.0 as i64, b.1 as i64);
    let (dr, dc) = ((r1 - r).abs(), -(c1 - c).abs());
    let (sr, sc) = ((r1 - r).signum(), (c1 - c).signum());
    let mut err = dr + dc;
    let mut cells = Vec::new();
    loop {
        cells.push((r as usize, c as usize));
        if r == r1 && c == c1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dc {
            err += dc;
            r += sr;
        }
        if e2 <= dr {
            err += dr;
            c += sc;
        }
    }
    cells
}

/// The cells a brush of side `size` (1-3) covers at `(row, col)`, inside the image.
fn brush_cells(row: usize, col: usize, size: usize) -> Vec<(usize, usize)> {
    let size = size.clamp(1, 3) as i64;
    let (lo, hi) = (-(size - 1) / 2, size / 2);
    let mut cells = Vec::new();
    for dr in lo..=hi {
        for dc in lo..=hi {
            let (r, c) = (row as i64 + dr, col as i64 + dc);
            if (0..IMAGE_SIDE as i64).contains(&r) && (0..IMAGE_SIDE as i64).contains(&c) {
                cells.push((r as usize, c as usize));
            }
        }
    }
    cells
}

fn color(rgb: Rgb) -> Color32 {
    Color32::from_rgb(rgb[0], rgb[1], rgb[2])
}

/// The image cell under `pos` on a 28x28 grid drawn in `rect`.
fn cell_at(rect: Rect, pos: Pos2) -> Option<(usize, usize)> {
    if !rect.contains(pos) {
        return None;
    }
    // The far edges belong to the last row and column.
    let col = (((pos.x - rect.min.x) / CELL).floor() as usize).min(IMAGE_SIDE - 1);
    let row = (((pos.y - rect.min.y) / CELL).floor() as usize).min(IMAGE_SIDE - 1);
    Some((row, col))
}

fn cell_rect(rect: Rect, pos: usize) -> Rect {
    let (row, col) = (pos / IMAGE_SIDE, pos % IMAGE_SIDE);
    Rect::from_min_size(
        rect.min + Vec2::new(col as f32 * CELL, row as f32 * CELL),
        Vec2::splat(CELL),
    )
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

fn image_ui(
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
    if let Some(pos) = view.hovered {
        painter.rect_stroke(
            cell_rect(rect, pos),
            0.0,
            Stroke::new(1.0, Color32::from_rgb(80, 200, 255)),
            egui::StrokeKind::Inside,
        );
    }
}

fn likelihood_ui(ui: &mut egui::Ui, view: &mut ExploreView) {
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
    if let Some(pos) = view.hovered {
        painter.rect_stroke(
            cell_rect(rect, pos),
            0.0,
            Stroke::new(1.0, Color32::from_rgb(80, 200, 255)),
            egui::StrokeKind::Inside,
        );
    }
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
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 0.0;
        let tick_width = width / HEAT_SCALE_MAX_NATS as f32;
        for nats in 0..=(HEAT_SCALE_MAX_NATS as usize) {
            let text = if nats == HEAT_SCALE_MAX_NATS as usize {
                format!("{nats}+ nats")
            } else {
                format!("{nats}")
            };
            let width = if nats == 0 {
                tick_width / 2.0
            } else {
                tick_width
            };
            ui.add_sized(
                [width, 14.0],
                egui::Label::new(egui::RichText::new(text).small()),
            );
        }
    });
    ui.label(egui::RichText::new("cost of each pixel, -ln p(pixel | pixels before it)").small());
}

fn completion_ui(
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
    let tile = (IMAGE_SIDE as f32 + 2.0) * SHEET_CELL;
    let columns = ((ui.available_width().max(COMPLETION_MIN_WIDTH) / tile) as usize).clamp(2, 13);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stroke_covers_every_cell_between_its_ends() {
        let cells = line_cells((0, 0), (3, 6));
        assert_eq!(cells.first(), Some(&(0, 0)));
        assert_eq!(cells.last(), Some(&(3, 6)));
        assert_eq!(cells.len(), 7, "one cell per column of the longer axis");
        assert!(cells
            .windows(2)
            .all(|w| { w[0].0.abs_diff(w[1].0) <= 1 && w[0].1.abs_diff(w[1].1) <= 1 }));
    }

    #[test]
    fn a_brush_stays_inside_the_image() {
        assert_eq!(brush_cells(0, 0, 1), vec![(0, 0)]);
        assert_eq!(brush_cells(27, 27, 2), vec![(27, 27)]);
        assert_eq!(brush_cells(5, 5, 3).len(), 9);
    }
}
