//! The sample grids: the live one, filling row by row while it is drawn (paced so the fill stays
//! visible), and every epoch's grid, kept so the user can scrub back through them with a slider
//! (a run opened from its folder brings back the grids of every epoch it wrote);
//! a thin gutter between the tiles; labels that say when a grid was drawn ("end of epoch 3, step
//! 1,800", "during epoch 1, step 250"); "Save PNG". For a conditional model, a "Draw" choice
//! (one row per digit, any digit, or one digit) redraws the grid, whose rows are labelled with
//! their digit. Guidance and temperature sliders redraw it too (guidance only for a model
//! trained with label dropout; the label says which were used).
//!
//! Time is the studio's clock (egui's input time, seconds), passed in by the caller, so the paced
//! reveal is testable without sleeping.

use super::compare::take_focus;
use super::paths::{typed_path, PathField};
use super::status::thousands;
use super::UiCommand;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::sample::{grid_side, GUIDANCE_NEEDS_LABEL_DROPOUT};
use crate::model::{ClassChoice, SampleGrid, SampleStyle, CLASS_COUNT};
use crate::train::{SampleKind, SampleStamp};

/// Pixels between two tiles of a grid.
pub const GUTTER_PX: usize = 1;
/// Epoch grids kept for scrubbing (about 10 KB each).
pub const HISTORY_CAPACITY: usize = 1000;
/// A new grid is revealed at most this many pixels (per image) a second, in drawing order, so
/// the pixel-by-pixel fill stays visible when the fast sampler finishes within a few frames.
pub const REVEAL_PIXELS_PER_SEC: f64 = 1000.0;

/// A finished grid kept compactly (one bit per pixel) with its stamp.
#[derive(Clone, Debug, PartialEq)]
struct KeptGrid {
    stamp: SampleStamp,
    count: usize,
    bits: Vec<u8>,
}

impl KeptGrid {
    fn pack(stamp: SampleStamp, grid: &SampleGrid) -> KeptGrid {
        let mut bits = vec![0u8; grid.pixels.len().div_ceil(8)];
        for (i, &p) in grid.pixels.iter().enumerate() {
            if p > 0.5 {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        KeptGrid {
            stamp,
            count: grid.count,
            bits,
        }
    }

    fn unpack(&self) -> SampleGrid {
        let mut grid = SampleGrid::blank(self.count);
        for (i, p) in grid.pixels.iter_mut().enumerate() {
            if self
                .bits
                .get(i / 8)
                .is_some_and(|b| b & (1 << (i % 8)) != 0)
            {
                *p = 1.0;
            }
        }
        grid.pixels_done = IMAGE_PIXELS;
        grid
    }
}

/// The live grid, the kept epoch grids and their textures.
#[derive(Default)]
pub struct SamplesView {
    live: Option<(SampleStamp, SampleGrid)>,
    complete: bool,
    /// The live grid's drawing was stopped part-way (it will not complete).
    interrupted: bool,
    /// When the grid being drawn started to show (studio seconds), for the paced reveal.
    reveal_started: Option<f64>,
    /// Pixels of each image shown in the live texture now.
    shown_pixels: usize,
    /// Every finished end-of-epoch grid, in epoch order.
    history: Vec<KeptGrid>,
    /// The kept grid being looked at (`None`: the live one).
    scrub: Option<usize>,
    live_texture: Option<egui::TextureHandle>,
    history_texture: Option<(usize, egui::TextureHandle)>,
    dirty: bool,
}

impl SamplesView {
    /// A partially drawn grid arrived at `now` (studio seconds).
    pub fn set_progress(&mut self, stamp: SampleStamp, grid: SampleGrid, now: f64) {
        if self.complete || self.reveal_started.is_none() {
            // A new drawing begins: reveal it from its first pixel.
            self.reveal_started = Some(now);
            self.shown_pixels = 0;
        }
        self.live = Some((stamp, grid));
        self.complete = false;
        self.interrupted = false;
        self.dirty = true;
    }

    /// The drawing in progress was stopped (Stop, Pause, a command during a lone grid): the
    /// partial canvas stays, labelled as interrupted, and is shown whole at once.
    pub fn interrupt_drawing(&mut self) {
        if self.live.is_some() && !self.complete {
            self.interrupted = true;
            self.reveal_started = None;
            self.dirty = true;
        }
    }

    /// Whether the live grid's drawing was stopped part-way.
    pub fn is_interrupted(&self) -> bool {
        self.interrupted
    }

    /// A complete grid arrived; an end-of-epoch grid is also kept for scrubbing. A drawing in
    /// progress keeps its pace; a grid that arrives whole shows at once.
    pub fn set_ready(&mut self, stamp: SampleStamp, grid: SampleGrid) {
        if self.complete || self.reveal_started.is_none() {
            // No drawing was shown (e.g. a grid restored at once): show it whole.
            self.reveal_started = None;
        }
        if stamp.kind == SampleKind::EpochEnd {
            self.keep(stamp, &grid);
        }
        self.live = Some((stamp, grid));
        self.complete = true;
        self.interrupted = false;
        self.dirty = true;
    }

    fn keep(&mut self, stamp: SampleStamp, grid: &SampleGrid) {
        let kept = KeptGrid::pack(stamp, grid);
        match self
            .history
            .iter()
            .position(|k| k.stamp.epoch >= stamp.epoch)
        {
            Some(i) if self.history[i].stamp.epoch == stamp.epoch => self.history[i] = kept,
            Some(i) => self.history.insert(i, kept),
            None => self.history.push(kept),
        }
        if self.history.len() > HISTORY_CAPACITY {
            // Thin the middle, keep the first and the newest grids.
            self.history.remove(1);
        }
        self.history_texture = None;
    }

    /// Keeps earlier epochs' grids (read back from a run folder) for scrubbing; the live grid
    /// stays, or, when there is none, the newest of them is shown.
    pub fn restore_history(&mut self, grids: Vec<(SampleStamp, SampleGrid)>) {
        let mut newest = None;
        for (stamp, grid) in grids {
            if stamp.kind != SampleKind::EpochEnd {
                continue;
            }
            self.keep(stamp, &grid);
            newest = Some((stamp, grid));
        }
        if self.live.is_none() {
            if let Some((stamp, grid)) = newest {
                self.live = Some((stamp, grid));
                self.complete = true;
                self.reveal_started = None;
                self.dirty = true;
            }
        }
    }

    /// Forgets every grid.
    pub fn clear(&mut self) {
        *self = SamplesView::default();
    }

    /// The live grid, if any.
    pub fn grid(&self) -> Option<&SampleGrid> {
        self.live.as_ref().map(|(_, g)| g)
    }

    /// When the live grid was drawn.
    pub fn stamp(&self) -> Option<SampleStamp> {
        self.live.as_ref().map(|(s, _)| *s)
    }

    /// Epochs the model had completed when the live grid was drawn.
    pub fn epoch(&self) -> usize {
        self.stamp().map_or(0, |s| s.epoch.floor() as usize)
    }

    /// Whether the live grid is complete.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The kept end-of-epoch grids' stamps, in epoch order.
    pub fn history(&self) -> Vec<SampleStamp> {
        self.history.iter().map(|k| k.stamp).collect()
    }

    /// Looks at kept grid `index` (`None`: back to the live grid). Out of range: the newest.
    pub fn scrub_to(&mut self, index: Option<usize>) {
        self.scrub = index.map(|i| i.min(self.history.len().saturating_sub(1)));
        if self.history.is_empty() {
            self.scrub = None;
        }
    }

    /// The kept grid being looked at (`None`: the live one).
    pub fn scrubbed(&self) -> Option<usize> {
        self.scrub
    }

    /// Images per side of the grid shown (kept or live), if any.
    pub fn shown_side(&self) -> Option<usize> {
        match self.scrub {
            Some(i) => self.history.get(i).map(|k| grid_side(k.count)),
            None => self.grid().map(SampleGrid::side),
        }
    }

    /// The stamp of the grid shown (kept or live).
    pub fn shown_stamp(&self) -> Option<SampleStamp> {
        match self.scrub {
            Some(i) => self.history.get(i).map(|k| k.stamp),
            None => self.stamp(),
        }
    }

    /// The grid shown, whole (for Save PNG): the kept one being looked at, or the live one once
    /// complete.
    pub fn shown_grid(&self) -> Option<SampleGrid> {
        match self.scrub {
            Some(i) => self.history.get(i).map(KeptGrid::unpack),
            None if self.complete => self.grid().cloned(),
            None => None,
        }
    }

    /// Pixels per image of the live grid to show at `now`: what was drawn, paced by the reveal.
    pub fn pixels_to_show(&self, now: f64) -> usize {
        let drawn = self.grid().map_or(0, |g| g.pixels_done);
        match self.reveal_started {
            Some(started) => {
                let paced = (now - started).max(0.0) * REVEAL_PIXELS_PER_SEC;
                drawn.min(paced as usize)
            }
            None => drawn,
        }
    }

    /// Whether the live texture still has pixels to reveal at `now`.
    pub fn is_revealing(&self, now: f64) -> bool {
        self.pixels_to_show(now) < self.grid().map_or(0, |g| g.pixels_done)
            || (self.shown_pixels < IMAGE_PIXELS
                && self
                    .grid()
                    .is_some_and(|g| g.pixels_done > self.shown_pixels))
    }

    fn live_texture(&mut self, ctx: &egui::Context, now: f64) -> Option<&egui::TextureHandle> {
        let shown = self.pixels_to_show(now);
        if shown != self.shown_pixels {
            self.shown_pixels = shown;
            self.dirty = true;
        }
        if self.dirty {
            self.dirty = false;
            if let Some((_, grid)) = &self.live {
                let image = grid_image(grid, shown);
                match &mut self.live_texture {
                    Some(texture) => texture.set(image, egui::TextureOptions::NEAREST),
                    None => {
                        self.live_texture = Some(ctx.load_texture(
                            "pixelcnn-samples",
                            image,
                            egui::TextureOptions::NEAREST,
                        ));
                    }
                }
            }
        }
        self.live_texture.as_ref()
    }

    fn history_texture(
        &mut self,
        ctx: &egui::Context,
        index: usize,
    ) -> Option<&egui::TextureHandle> {
        if self.history_texture.as_ref().map(|(i, _)| *i) != Some(index) {
            let grid = self.history.get(index)?.unpack();
            let texture = ctx.load_texture(
                "pixelcnn-samples-history",
                grid_image(&grid, IMAGE_PIXELS),
                egui::TextureOptions::NEAREST,
            );
            self.history_texture = Some((index, texture));
        }
        self.history_texture.as_ref().map(|(_, t)| t)
    }
}

/// When a grid was drawn (and, for a conditional model, which digits; and the guidance and
/// temperature when not the model's own probabilities), in words.
pub fn stamp_label(stamp: &SampleStamp) -> String {
    let when = when_label(stamp);
    let label = match stamp.classes {
        Some(classes) => format!("{when}, {}", classes_label(classes)),
        None => when,
    };
    match stamp.style {
        Some(style) => format!("{label}, {}", style_label(style)),
        None => label,
    }
}

/// "guidance 2.5, temperature 0.8" (the parts that are not 1).
pub fn style_label(style: SampleStyle) -> String {
    let mut parts = Vec::new();
    if style.guidance != 1.0 {
        parts.push(format!("guidance {}", style.guidance));
    }
    if style.temperature != 1.0 {
        parts.push(format!("temperature {}", style.temperature));
    }
    if parts.is_empty() {
        "no guidance".to_string()
    } else {
        parts.join(", ")
    }
}

/// The digits a conditional grid was asked for, in words.
pub fn classes_label(classes: ClassChoice) -> String {
    match classes {
        ClassChoice::Rows => "row r draws digit r".to_string(),
        ClassChoice::Any => "any digit".to_string(),
        ClassChoice::Digit(d) => format!("every sample a {d}"),
    }
}

/// The name of a choice in the "Draw" menu.
pub fn choice_name(classes: ClassChoice) -> String {
    match classes {
        ClassChoice::Rows => "one row per digit".to_string(),
        ClassChoice::Any => "any digit".to_string(),
        ClassChoice::Digit(d) => format!("{d}"),
    }
}

fn when_label(stamp: &SampleStamp) -> String {
    let step = thousands(stamp.global_step);
    match stamp.kind {
        SampleKind::EpochEnd => format!("end of epoch {}, step {step}", stamp.epoch.round()),
        SampleKind::Preview => format!(
            "during epoch {}, step {step} (preview)",
            stamp.epoch.floor() + 1.0
        ),
        // Drawn between epochs (after the last one, or before any): the epoch it follows.
        SampleKind::OnDemand if stamp.epoch.fract().abs() < 1e-9 => {
            if stamp.epoch < 0.5 {
                format!("before training, step {step}")
            } else {
                format!("after epoch {}, step {step}", stamp.epoch.round())
            }
        }
        SampleKind::OnDemand => {
            format!("during epoch {}, step {step}", stamp.epoch.floor() + 1.0)
        }
    }
}

/// The grid as a greyscale image with a [`GUTTER_PX`] grey gutter between the tiles; pixels past
/// `shown` (per image) are left black.
pub fn grid_image(grid: &SampleGrid, shown: usize) -> egui::ColorImage {
    let side = grid.side();
    let tile = IMAGE_SIDE + GUTTER_PX;
    let width = side * IMAGE_SIDE + (side - 1) * GUTTER_PX;
    let mut luma = vec![70u8; width * width];
    for index in 0..side * side {
        let (gy, gx) = (index / side, index % side);
        let image = grid
            .pixels
            .get(index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS);
        for pos in 0..IMAGE_PIXELS {
            let (y, x) = (pos / IMAGE_SIDE, pos % IMAGE_SIDE);
            let on = pos < shown && image.and_then(|img| img.get(pos)).is_some_and(|&v| v > 0.5);
            luma[(gy * tile + y) * width + gx * tile + x] = if on { 255 } else { 0 };
        }
    }
    egui::ColorImage::from_gray([width, width], &luma)
}

/// Encodes a grid as a greyscale PNG at `path` (blocking: call it off the UI thread).
pub fn save_png(grid: &SampleGrid, path: &std::path::Path) -> Result<(), String> {
    crate::imaging::save_grid_png(grid, path)
        .map_err(|err| format!("could not save the PNG: {err:#}"))
}

/// Width of the column of controls beside the grid when the panel is wider than tall: its
/// widest row that cannot wrap ("Live", the epoch-grid slider and its value) and a margin.
const SIDE_COLUMN_WIDTH: f32 = 290.0;
/// Smallest grid side drawn beside the controls; a narrower panel puts them above the grid.
const SIDE_GRID_MIN: f32 = 120.0;

/// The "Draw" choice of a conditional model: which digits the grids ask for.
pub struct DrawChoice<'a> {
    /// The choice (kept in the training settings, so later epochs' grids follow it).
    pub classes: &'a mut ClassChoice,
    /// A model exists and can draw now: a change redraws the grid at once.
    pub can_sample: bool,
}

/// The guidance and temperature sliders: how the grids are drawn.
pub struct StyleChoice<'a> {
    /// The choice (kept in the training settings, so later epochs' grids follow it; `None`:
    /// the model's default until a slider moves).
    pub style: &'a mut Option<SampleStyle>,
    /// The model's default ([`SampleStyle::default_for`]), shown while `style` is `None`.
    pub default: SampleStyle,
    /// Whether the model can be guided (trained with label dropout): else the guidance slider
    /// is disabled and says why.
    pub guidable: bool,
    /// A model exists and can draw now: a change redraws the grid at once.
    pub can_sample: bool,
}

/// Slider range of the guidance scale.
pub const GUIDANCE_RANGE: std::ops::RangeInclusive<f32> = 1.0..=5.0;
/// Slider range of the temperature.
pub const TEMPERATURE_RANGE: std::ops::RangeInclusive<f32> = 0.3..=1.5;

/// Draws the grid, the history slider and the buttons; returns what the user asked for.
/// `focus` names a path field to give the keyboard focus to; `draw` is the digit choice of a
/// conditional model (`None` for an unconditional one); `style` the guidance and temperature
/// sliders. In a panel wider than tall (the stacked layout of a small window) the controls
/// stand beside the grid, which takes the width they leave (at most the panel's height),
/// otherwise above it.
pub fn samples_ui(
    ui: &mut egui::Ui,
    view: &mut SamplesView,
    png_path: &mut String,
    focus: &mut Option<PathField>,
    mut draw: Option<DrawChoice<'_>>,
    mut style: Option<StyleChoice<'_>>,
) -> Vec<UiCommand> {
    let now = ui.input(|i| i.time);
    let mut commands = Vec::new();
    let available = ui.available_size();
    if available.x > available.y && available.x - SIDE_COLUMN_WIDTH >= SIDE_GRID_MIN {
        ui.horizontal_top(|ui| {
            let side = available.y.min(available.x - SIDE_COLUMN_WIDTH).max(64.0);
            grid_ui(ui, view, now, side);
            ui.vertical(|ui| {
                ui.set_max_width(SIDE_COLUMN_WIDTH - 10.0);
                sample_controls_ui(ui, view, png_path, focus, now, &mut commands);
                if let Some(draw) = draw.as_mut() {
                    draw_choice_ui(ui, draw, &mut commands);
                }
                if let Some(style) = style.as_mut() {
                    style_choice_ui(ui, style, &mut commands);
                }
            });
        });
    } else {
        sample_controls_ui(ui, view, png_path, focus, now, &mut commands);
        if let Some(draw) = draw.as_mut() {
            draw_choice_ui(ui, draw, &mut commands);
        }
        if let Some(style) = style.as_mut() {
            style_choice_ui(ui, style, &mut commands);
        }
        let available = ui.available_size();
        grid_ui(ui, view, now, available.x.min(available.y).max(64.0));
    }
    commands
}

fn sample_controls_ui(
    ui: &mut egui::Ui,
    view: &mut SamplesView,
    png_path: &mut String,
    focus: &mut Option<PathField>,
    now: f64,
    commands: &mut Vec<UiCommand>,
) {
    ui.horizontal_wrapped(|ui| {
        ui.strong("Samples");
        let live_label = match (view.scrub, view.live.as_ref()) {
            (Some(_), _) => view
                .shown_stamp()
                .map(|s| format!("{} (kept)", stamp_label(&s)))
                .unwrap_or_default(),
            (None, None) => {
                "none yet: a preview appears early in the first epoch, a grid after each epoch, \
                 or press \"Sample now\""
                    .to_string()
            }
            (None, Some((stamp, grid))) if view.interrupted => format!(
                "{}: interrupted at row {} of {IMAGE_SIDE}",
                stamp_label(stamp),
                grid.pixels_done / IMAGE_SIDE
            ),
            (None, Some((stamp, _))) if !view.complete || view.is_revealing(now) => {
                let rows = view.pixels_to_show(now) / IMAGE_SIDE;
                format!(
                    "{}: drawing row {rows} of {IMAGE_SIDE}...",
                    stamp_label(stamp)
                )
            }
            (None, Some((stamp, grid))) => format!(
                "{} ({} images, mean pixel {:.3})",
                stamp_label(stamp),
                grid.count,
                grid.mean_pixel()
            ),
        };
        ui.add(egui::Label::new(live_label).wrap());
    });
    ui.horizontal_wrapped(|ui| {
        if !view.history.is_empty() {
            if ui
                .selectable_label(view.scrub.is_none(), "Live")
                .on_hover_text("Follow the newest grid")
                .clicked()
            {
                view.scrub_to(None);
            }
            let last = view.history.len();
            let mut position = view.scrub.map_or(last, |i| i + 1);
            let epochs: Vec<f64> = view.history.iter().map(|k| k.stamp.epoch).collect();
            let label = ui.label("Epoch grid");
            ui.spacing_mut().slider_width = 90.0;
            let response = ui
                .add(
                    egui::Slider::new(&mut position, 1..=last).custom_formatter(move |v, _| {
                        let i = (v.round() as usize).clamp(1, epochs.len().max(1)) - 1;
                        epochs
                            .get(i)
                            .map_or_else(String::new, |e| format!("epoch {e:.0}"))
                    }),
                )
                .labelled_by(label.id)
                .on_hover_text("Scrub back through the grid of every epoch");
            if response.changed() {
                view.scrub_to(Some(position.saturating_sub(1)));
            }
        }
    });
    ui.horizontal_wrapped(|ui| {
        let label = ui.label(PathField::Png.label());
        let edit = ui
            .add(
                egui::TextEdit::singleline(png_path)
                    .hint_text("or empty for a dialog")
                    .desired_width(140.0),
            )
            .labelled_by(label.id)
            .on_hover_text("Where \"Save PNG\" writes (~ is your home folder)");
        take_focus(focus, PathField::Png, &edit);
        let can_save = view.shown_grid().is_some();
        if ui
            .add_enabled(can_save, egui::Button::new("Save PNG"))
            .on_hover_text("Save the grid shown as a PNG")
            .clicked()
        {
            commands.push(UiCommand::SavePng(typed_path(png_path)));
        }
    });
}

/// Every choice of the "Draw" menu, in its order.
pub fn draw_choices() -> Vec<ClassChoice> {
    let digits = (0..CLASS_COUNT as u8).map(ClassChoice::Digit);
    [ClassChoice::Rows, ClassChoice::Any]
        .into_iter()
        .chain(digits)
        .collect()
}

fn draw_choice_ui(ui: &mut egui::Ui, draw: &mut DrawChoice<'_>, commands: &mut Vec<UiCommand>) {
    let hint = "Which digits the conditional model draws: one row per digit (row r is digit r), \
                any digit, or only the one you pick. A change draws a new grid.";
    let before = *draw.classes;
    let choices = draw_choices();
    let (groups, digits) = choices.split_at(2);
    ui.horizontal_wrapped(|ui| {
        ui.label("Draw:").on_hover_text(hint);
        for &choice in groups {
            ui.selectable_value(draw.classes, choice, choice_name(choice))
                .on_hover_text(hint);
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("or only:").on_hover_text(hint);
        for &choice in digits {
            ui.selectable_value(draw.classes, choice, choice_name(choice))
                .on_hover_text(hint);
        }
    });
    if *draw.classes != before && draw.can_sample {
        commands.push(UiCommand::SampleNow);
    }
}

/// The guidance and temperature sliders; a change (once the slider is let go) redraws the grid.
fn style_choice_ui(ui: &mut egui::Ui, choice: &mut StyleChoice<'_>, commands: &mut Vec<UiCommand>) {
    let mut style = choice.style.unwrap_or(choice.default);
    let before = style;
    let mut released = false;
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().slider_width = 90.0;
        let label = ui.label("Guidance");
        let mut guidance = if choice.guidable { style.guidance } else { 1.0 };
        let response = ui
            .add_enabled(
                choice.guidable,
                egui::Slider::new(&mut guidance, GUIDANCE_RANGE).step_by(0.1),
            )
            .labelled_by(label.id);
        let response = if choice.guidable {
            response.on_hover_text(
                "Classifier-free guidance: each pixel from logit_u + s (logit_c - logit_u), the \
                 asked digit's logit pushed away from the model's logit without a label. Higher: \
                 digits that read more clearly, less varied; 1: none. A change draws a new grid.",
            )
        } else {
            response.on_disabled_hover_text(GUIDANCE_NEEDS_LABEL_DROPOUT)
        };
        if choice.guidable {
            released |= take_slider_value(&response, guidance, &mut style.guidance);
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().slider_width = 90.0;
        let label = ui.label("Temperature");
        let mut temperature = style.temperature;
        let response = ui
            .add(egui::Slider::new(&mut temperature, TEMPERATURE_RANGE).step_by(0.05))
            .labelled_by(label.id)
            .on_hover_text(
                "Each pixel from sigmoid(logit / T): below 1, fewer stray pixels and firmer \
                 strokes (best with guidance); 1: the model's own probabilities. A change draws \
                 a new grid.",
            );
        released |= take_slider_value(&response, temperature, &mut style.temperature);
    });
    if style != before {
        *choice.style = Some(style);
    }
    if released && choice.can_sample && choice.style.is_some() {
        commands.push(UiCommand::SampleNow);
    }
}

/// Takes a slider's `value` into `target` when it really moved; true when the change is
/// finished (the slider let go, or set by a click or a key), so the grid is redrawn.
fn take_slider_value(response: &egui::Response, value: f32, target: &mut f32) -> bool {
    if moved(value, *target) {
        *target = value;
        response.drag_stopped() || !response.dragged()
    } else {
        response.drag_stopped()
    }
}

/// Whether a slider moved its value: snapping to its steps from the range's start changes
/// an f32 in its last bits (0.9 reads back as 0.90000004), which is not a change to redraw for.
fn moved(now: f32, before: f32) -> bool {
    (now - before).abs() > 1e-4
}

/// Width of the digit labels left of a grid drawn one row per digit.
const ROW_LABEL_WIDTH: f32 = 14.0;

fn grid_ui(ui: &mut egui::Ui, view: &mut SamplesView, now: f64, side: f32) {
    let rows_labelled = view
        .shown_stamp()
        .is_some_and(|s| s.classes == Some(ClassChoice::Rows));
    match view.shown_side().filter(|_| rows_labelled) {
        Some(grid_side) => {
            let side = (side - ROW_LABEL_WIDTH - ui.spacing().item_spacing.x).max(64.0);
            ui.horizontal_top(|ui| {
                row_labels_ui(ui, grid_side, side);
                grid_image_ui(ui, view, now, side);
            });
        }
        None => grid_image_ui(ui, view, now, side),
    }
}

/// The digit of each row (row r draws digit r mod 10) beside a grid of `side` points.
fn row_labels_ui(ui: &mut egui::Ui, grid_side: usize, side: f32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(ROW_LABEL_WIDTH, side), egui::Sense::hover());
    let tile = (IMAGE_SIDE + GUTTER_PX) as f32;
    let width = (grid_side * IMAGE_SIDE + (grid_side - 1) * GUTTER_PX) as f32;
    let scale = side / width;
    let size = (IMAGE_SIDE as f32 * scale * 0.6).clamp(7.0, 14.0);
    let color = ui.visuals().text_color();
    for row in 0..grid_side {
        let centre = rect.top() + (row as f32 * tile + IMAGE_SIDE as f32 / 2.0) * scale;
        ui.painter().text(
            egui::pos2(rect.right() - 2.0, centre),
            egui::Align2::RIGHT_CENTER,
            (row % CLASS_COUNT).to_string(),
            egui::FontId::proportional(size),
            color,
        );
    }
}

fn grid_image_ui(ui: &mut egui::Ui, view: &mut SamplesView, now: f64, side: f32) {
    let ctx = ui.ctx().clone();
    if view.scrub.is_none() && view.is_revealing(now) {
        ctx.request_repaint();
    }
    let alt = view
        .shown_stamp()
        .map(|s| format!("sample grid: {}", stamp_label(&s)));
    let texture = match view.scrub {
        Some(index) => view.history_texture(&ctx, index),
        None => view.live_texture(&ctx, now),
    };
    match (texture, alt) {
        (Some(texture), Some(alt)) => {
            let image = egui::Image::new((texture.id(), egui::vec2(side, side))).alt_text(alt);
            ui.add(image);
        }
        _ => {
            let (rect, _) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
            ui.painter()
                .rect_filled(rect, 2.0, egui::Color32::from_gray(16));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::{DEFAULT_GUIDANCE, DEFAULT_TEMPERATURE};

    #[test]
    fn the_style_sliders_at_the_defaults_neither_redraw_nor_change_the_style() {
        let ctx = egui::Context::default();
        let default = SampleStyle {
            guidance: DEFAULT_GUIDANCE,
            temperature: DEFAULT_TEMPERATURE,
        };
        let mut style = None;
        let mut commands = Vec::new();
        for _ in 0..4 {
            let mut output = ctx.run_ui(egui::RawInput::default(), |ui| {
                let mut choice = StyleChoice {
                    style: &mut style,
                    default,
                    guidable: true,
                    can_sample: true,
                };
                style_choice_ui(ui, &mut choice, &mut commands);
            });
            output.textures_delta.clear();
        }
        assert!(commands.is_empty(), "{commands:?}");
        assert_eq!(style, None, "showing the sliders is not a choice");
        assert!(!moved(0.900_000_04, 0.9));
        assert!(moved(0.95, 0.9));
    }

    fn drawn(pixels_done: usize) -> SampleGrid {
        SampleGrid {
            pixels_done,
            ..SampleGrid::blank(4)
        }
    }

    fn stamp(epoch: f64, kind: SampleKind) -> SampleStamp {
        SampleStamp {
            epoch,
            global_step: (epoch * 600.0) as u64,
            kind,
            classes: None,
            style: None,
        }
    }

    #[test]
    fn a_fast_drawing_is_revealed_in_order_and_a_restored_grid_shows_at_once() {
        let mut view = SamplesView::default();
        let t0 = 0.0;
        view.set_progress(stamp(1.0, SampleKind::EpochEnd), drawn(28), t0);
        // 10 ms in, the pace allows 10 pixels though a whole row was drawn.
        assert_eq!(view.pixels_to_show(t0 + 0.010), 10);
        // Long after, never ahead of what was drawn.
        assert_eq!(view.pixels_to_show(t0 + 5.0), 28);
        view.set_ready(stamp(1.0, SampleKind::EpochEnd), drawn(IMAGE_PIXELS));
        // The rest keeps the pace of the drawing that started at t0 ...
        assert_eq!(view.pixels_to_show(t0 + 0.3), 300);
        assert!(view.is_revealing(t0 + 0.3));
        // ... and is whole once the pace reaches 784 pixels.
        let done = t0 + 1.0;
        assert!(IMAGE_PIXELS as f64 / REVEAL_PIXELS_PER_SEC < 1.0);
        assert_eq!(view.pixels_to_show(done), IMAGE_PIXELS);

        let mut restored = SamplesView::default();
        restored.set_ready(stamp(2.0, SampleKind::EpochEnd), drawn(IMAGE_PIXELS));
        assert_eq!(restored.pixels_to_show(t0), IMAGE_PIXELS);
    }

    #[test]
    fn epoch_grids_are_kept_in_order_for_scrubbing_but_previews_are_not() {
        let mut view = SamplesView::default();
        let mut grid = drawn(IMAGE_PIXELS);
        grid.pixels[5] = 1.0;
        view.set_ready(stamp(2.0, SampleKind::EpochEnd), grid.clone());
        view.set_ready(stamp(0.4, SampleKind::Preview), drawn(IMAGE_PIXELS));
        view.set_ready(stamp(1.0, SampleKind::EpochEnd), drawn(IMAGE_PIXELS));
        let epochs: Vec<f64> = view.history().iter().map(|s| s.epoch).collect();
        assert_eq!(epochs, [1.0, 2.0]);
        view.scrub_to(Some(1));
        assert_eq!(view.shown_stamp().map(|s| s.epoch), Some(2.0));
        assert_eq!(view.shown_grid(), Some(grid), "kept bit for bit");
        view.scrub_to(Some(9));
        assert_eq!(view.scrubbed(), Some(1), "clamped to the newest");
        view.scrub_to(None);
        assert_eq!(view.shown_stamp().map(|s| s.epoch), Some(1.0), "live again");
    }

    #[test]
    fn grids_read_back_from_a_run_join_the_history_without_replacing_the_live_one() {
        let mut view = SamplesView::default();
        view.restore_history(vec![
            (stamp(1.0, SampleKind::EpochEnd), drawn(IMAGE_PIXELS)),
            (stamp(2.0, SampleKind::EpochEnd), drawn(IMAGE_PIXELS)),
        ]);
        assert_eq!(view.stamp().map(|s| s.epoch), Some(2.0), "the newest shows");
        assert!(view.is_complete());
        view.set_ready(stamp(3.0, SampleKind::EpochEnd), drawn(IMAGE_PIXELS));
        view.restore_history(vec![(stamp(0.5, SampleKind::Preview), drawn(IMAGE_PIXELS))]);
        let epochs: Vec<f64> = view.history().iter().map(|s| s.epoch).collect();
        assert_eq!(epochs, [1.0, 2.0, 3.0], "previews are not kept");
        assert_eq!(
            view.stamp().map(|s| s.epoch),
            Some(3.0),
            "the live grid stays"
        );
    }

    #[test]
    fn an_interrupted_drawing_shows_its_canvas_at_once_and_cannot_be_saved() {
        let mut view = SamplesView::default();
        view.set_progress(stamp(0.5, SampleKind::OnDemand), drawn(56), 0.0);
        view.interrupt_drawing();
        assert!(view.is_interrupted());
        assert_eq!(view.pixels_to_show(0.0), 56, "no more pacing");
        assert_eq!(view.shown_grid(), None, "a partial grid is not saved");
        view.set_progress(stamp(0.6, SampleKind::OnDemand), drawn(28), 1.0);
        assert!(!view.is_interrupted());
    }

    #[test]
    fn labels_say_when_a_grid_was_drawn() {
        assert_eq!(
            stamp_label(&SampleStamp {
                epoch: 3.0,
                global_step: 1800,
                kind: SampleKind::EpochEnd,
                classes: None,
                style: None,
            }),
            "end of epoch 3, step 1,800"
        );
        assert_eq!(
            stamp_label(&SampleStamp {
                epoch: 2.9,
                global_step: 1750,
                kind: SampleKind::OnDemand,
                classes: None,
                style: None,
            }),
            "during epoch 3, step 1,750"
        );
        assert_eq!(
            stamp_label(&SampleStamp {
                epoch: 2.0,
                global_step: 1200,
                kind: SampleKind::EpochEnd,
                classes: Some(ClassChoice::Rows),
                style: None,
            }),
            "end of epoch 2, step 1,200, row r draws digit r"
        );
        assert_eq!(classes_label(ClassChoice::Digit(7)), "every sample a 7");
        assert_eq!(
            stamp_label(&SampleStamp {
                epoch: 2.0,
                global_step: 1200,
                kind: SampleKind::EpochEnd,
                classes: Some(ClassChoice::Rows),
                style: Some(SampleStyle {
                    guidance: 2.5,
                    temperature: 0.8
                }),
            }),
            "end of epoch 2, step 1,200, row r draws digit r, guidance 2.5, temperature 0.8"
        );
        assert_eq!(
            style_label(SampleStyle {
                guidance: 1.0,
                temperature: 0.9
            }),
            "temperature 0.9"
        );
        // F5 after a finished 3-epoch run: after epoch 3, not during a fourth.
        assert_eq!(
            stamp_label(&SampleStamp {
                epoch: 3.0,
                global_step: 1800,
                kind: SampleKind::OnDemand,
                classes: None,
                style: None,
            }),
            "after epoch 3, step 1,800"
        );
        assert_eq!(
            stamp_label(&SampleStamp {
                epoch: 0.0,
                global_step: 0,
                kind: SampleKind::OnDemand,
                classes: None,
                style: None,
            }),
            "before training, step 0"
        );
    }

    #[test]
    fn the_grid_image_has_a_gutter_between_tiles() {
        let mut grid = SampleGrid::blank(4);
        grid.pixels.fill(1.0);
        grid.pixels_done = IMAGE_PIXELS;
        let image = grid_image(&grid, IMAGE_PIXELS);
        let width = 2 * IMAGE_SIDE + GUTTER_PX;
        assert_eq!(image.size, [width, width]);
        let at = |x: usize, y: usize| image.pixels[y * width + x];
        assert_eq!(at(0, 0), egui::Color32::WHITE);
        assert_eq!(
            at(IMAGE_SIDE, 3),
            egui::Color32::from_gray(70),
            "the gutter"
        );
        assert_eq!(at(IMAGE_SIDE + GUTTER_PX, 3), egui::Color32::WHITE);
    }
}
