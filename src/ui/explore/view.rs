//! The Explore tab's state and logic: the image, the model it is scored by (kept in step with
//! the worker's through snapshots), the requests in flight to the explorer thread and the
//! answers shown.

use std::time::Instant;

use super::grid::{brush_cells, line_cells};
use super::{
    CompletionMode, ExploreContext, ExploreSettings, ImageOrigin, Tool, EXPLORE_EVENT_BUDGET,
    MAX_TAB_COMPLETIONS, REFRESH_INTERVAL, SNAPSHOT_RETRY,
};
use crate::data::{DataSource, IMAGE_PIXELS, IMAGE_SIDE};
use crate::explore::{
    CompletionSpec, ExploreEvent, ExploreRequest, Explorer, Hole, NllMap, MAX_COMPLETIONS,
};
use crate::model::SampleGrid;
use crate::train::ModelSnapshot;
use crate::ui::UiCommand;

/// The likelihood map shown.
pub(super) struct ShownMap {
    pub(super) map: NllMap,
    pub(super) global_step: u64,
}

/// Completions shown (being drawn or done).
pub(super) struct ShownCompletion {
    pub(super) original: Vec<f32>,
    pub(super) keep_pixels: usize,
    pub(super) hole: Option<Hole>,
    pub(super) grid: SampleGrid,
    pub(super) done: bool,
    pub(super) global_step: Option<u64>,
}

/// The Explore tab's state.
pub struct ExploreView {
    pub(super) ctx: egui::Context,
    pub(super) explorer: Option<Explorer>,
    /// Why the explorer could not start.
    pub(super) explorer_error: Option<String>,
    pub(super) image: Vec<f32>,
    pub(super) origin: ImageOrigin,
    /// Bumped on every change of the image (or of the digit a conditional model reads).
    pub(super) image_version: u64,
    /// The label of the test image the canvas shows (or was drawn over).
    pub(super) image_label: Option<u8>,
    /// The digit picked for a conditional model (`None`: the image's label); reset when
    /// another test image is shown.
    pub(super) picked_class: Option<u8>,
    /// The digit a conditional model reads with the image (`None` for other models).
    pub(super) class: Option<u8>,
    pub(super) test_index: usize,
    pub(super) test_count: Option<usize>,
    pub(super) test_asked: Option<usize>,
    pub(super) last_cell: Option<(usize, usize)>,
    pub(super) hole_anchor: Option<(usize, usize)>,
    pub(super) hole: Option<Hole>,
    /// `(model generation, global step)` of the weights the explorer holds.
    pub(super) model_key: Option<(u64, u64)>,
    pub(super) model_epochs: usize,
    /// When a snapshot was asked for and for which model generation, until it arrives.
    pub(super) snapshot_asked: Option<(Instant, u64)>,
    pub(super) last_asked_at: Option<Instant>,
    pub(super) next_id: u64,
    pub(super) map_in_flight: Option<(u64, u64)>,
    pub(super) map_version: Option<u64>,
    pub(super) map: Option<ShownMap>,
    pub(super) completion_in_flight: Option<u64>,
    pub(super) completion: Option<ShownCompletion>,
    pub(super) sheet_texture: Option<egui::TextureHandle>,
    pub(super) sheet_dirty: bool,
    pub(super) sheet_columns: usize,
    pub(super) hovered: Option<usize>,
    pub(super) message: Option<(String, bool)>,
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

    pub(super) fn explorer(&mut self) -> Option<&Explorer> {
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
    pub(super) fn send(&mut self, request: ExploreRequest) -> bool {
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
    pub(super) fn follow_class(&mut self, conditional: bool) {
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

    pub(super) fn fresh_id(&mut self) -> u64 {
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

    pub(super) fn on_event(&mut self, event: ExploreEvent) {
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
                    self.forget_completions();
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

    /// Forgets the completions shown and any being drawn: they belong to the image that was
    /// on the canvas before (another test image, or a cleared canvas).
    pub(super) fn forget_completions(&mut self) {
        self.completion = None;
        self.completion_in_flight = None;
        self.sheet_dirty = true;
    }

    pub(super) fn set_image(&mut self, pixels: Vec<f32>) {
        self.image = pixels;
        self.image_version += 1;
    }

    pub(super) fn ask_test_image(&mut self, data: &DataSource, index: usize) {
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
    pub(super) fn follow_model(
        &mut self,
        context: &ExploreContext<'_>,
        commands: &mut Vec<UiCommand>,
    ) {
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
    pub(super) fn request_map(&mut self) {
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

    pub(super) fn request_completion(&mut self, settings: &ExploreSettings) {
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
    pub(super) fn paint(
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

    pub(super) fn clear(&mut self) {
        self.set_image(vec![0.0; IMAGE_PIXELS]);
        self.origin = ImageOrigin::Drawn { from_test: None };
        self.image_label = None;
        self.hole = None;
        self.forget_completions();
    }
}
