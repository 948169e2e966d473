//! `StudioApp`: owns the worker handle and the UI state; `logic()` drains worker events under a
//! small time budget every frame, `ui()` lays out the panels, and every panel's commands are
//! applied in one place ([`StudioApp::apply`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use serde::{Deserialize, Serialize};

use super::controls::{controls_ui, ControlSettings, ControlsContext, Preset, SAMPLE_COUNT};
use super::curves::{curves_ui, CostUnit, CurveData};
use super::dialogs::{spawn_dialog, DialogPurpose, DialogResult, FileDialogs};
use super::explore::{explore_ui, ExploreContext, ExploreSettings, ExploreView};
use super::inspector::{inspector_ui, InspectorState};
use super::samples::{samples_ui, save_png, SamplesView};
use super::status::{status_ui, StatusInfo};
use super::UiCommand;
use crate::messages::{DataSource, RunProgress, WorkerCommand, WorkerEvent, WorkerState};
use crate::model::ModelConfig;
use crate::train::{History, TrainConfig};
use crate::worker::Worker;

/// Longest time `logic()` spends draining worker events in one frame.
pub const EVENT_BUDGET: Duration = Duration::from_millis(4);
/// Frame durations kept for the statistics.
const FRAME_WINDOW: usize = 1000;

/// The main views.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tab {
    /// Curves and samples.
    #[default]
    Training,
    /// Masks, layer table and receptive field.
    Inspector,
    /// Likelihood heatmaps and completions of test images or drawn digits.
    Explore,
}

/// The user's choices, persisted across launches (eframe persistence). Runtime state (the
/// model, curves, samples) is never persisted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UiSettings {
    /// Preset, architecture and training settings.
    pub controls: ControlSettings,
    /// Unit of the cost plot.
    pub unit: CostUnit,
    /// The view shown.
    pub tab: Tab,
    /// The Explore tab's tool, brush and completion settings.
    pub explore: ExploreSettings,
    /// Show frame-time statistics in the status area.
    pub show_frame_stats: bool,
}

/// How to build a [`StudioApp`]: the data source and the file-dialog seam are injected so tests
/// use synthetic data and never open a real dialog.
pub struct StudioOptions {
    /// Where the worker loads images from when Start is pressed.
    pub data: DataSource,
    /// How to ask the user for paths.
    pub dialogs: Arc<dyn FileDialogs>,
    /// Print frame-time statistics to stderr every few seconds.
    pub frame_log: bool,
}

/// Frame durations of the last frames, for responsiveness figures.
#[derive(Clone, Debug, Default)]
pub struct FrameStats {
    /// Time spent in `logic()` + `ui()` per frame, milliseconds.
    pub app_ms: VecDeque<f64>,
    /// eframe's measured CPU time of whole frames (painting included), milliseconds.
    pub frame_cpu_ms: VecDeque<f64>,
}

impl FrameStats {
    fn push(queue: &mut VecDeque<f64>, value: f64) {
        if queue.len() == FRAME_WINDOW {
            queue.pop_front();
        }
        queue.push_back(value);
    }

    /// Median and 99th percentile of `values`, milliseconds.
    pub fn median_p99(values: &VecDeque<f64>) -> Option<(f64, f64)> {
        if values.is_empty() {
            return None;
        }
        let mut sorted: Vec<f64> = values.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let index = ((sorted.len() - 1) as f64 * q).round() as usize;
            sorted.get(index).copied().unwrap_or_default()
        };
        Some((at(0.5), at(0.99)))
    }

    /// A one-line summary.
    pub fn summary(&self) -> String {
        let part = |name: &str, values: &VecDeque<f64>| match Self::median_p99(values) {
            Some((median, p99)) => format!(
                "{name}: median {median:.2} ms, p99 {p99:.2} ms over {} frames",
                values.len()
            ),
            None => format!("{name}: no frames"),
        };
        format!(
            "{}; {}",
            part("frame cpu", &self.frame_cpu_ms),
            part("app logic+ui", &self.app_ms)
        )
    }
}

enum Confirm {
    Reset,
    Open(Option<PathBuf>),
}

enum Background {
    Dialog(DialogResult),
    PngSaved(Result<PathBuf, String>),
}

/// The studio application.
pub struct StudioApp {
    settings: UiSettings,
    data: DataSource,
    dialogs: Arc<dyn FileDialogs>,
    worker: Option<Worker>,
    ctx: egui::Context,
    background_tx: Sender<Background>,
    background_rx: Receiver<Background>,
    state: WorkerState,
    progress: RunProgress,
    curves: CurveData,
    samples: SamplesView,
    inspector: InspectorState,
    explore: ExploreView,
    /// Bumped whenever the worker's model is replaced (started, opened, reset).
    model_generation: u64,
    has_model: bool,
    message: String,
    message_is_error: bool,
    last_error: Option<String>,
    confirm: Option<Confirm>,
    checkpoint_path: String,
    png_path: String,
    frame_stats: FrameStats,
    frame_log: bool,
    last_frame_log: Instant,
    frame_started: Option<Instant>,
    pending: Vec<UiCommand>,
    step_events: u64,
    events_seen: u64,
}

impl StudioApp {
    /// Builds the app inside eframe (restores persisted settings from `cc.storage`).
    pub fn new(cc: &eframe::CreationContext<'_>, options: StudioOptions) -> StudioApp {
        let settings = cc
            .storage
            .and_then(|storage| eframe::get_value::<UiSettings>(storage, eframe::APP_KEY))
            .unwrap_or_default();
        StudioApp::with_context(&cc.egui_ctx, settings, options)
    }

    /// Builds the app for a context with the given settings; starts the worker thread.
    pub fn with_context(
        ctx: &egui::Context,
        settings: UiSettings,
        options: StudioOptions,
    ) -> StudioApp {
        let repaint_ctx = ctx.clone();
        let worker = Worker::spawn(Arc::new(move || repaint_ctx.request_repaint()));
        let (worker, message, is_error) = match worker {
            Ok(worker) => (
                Some(worker),
                format!("ready: press Start to train on {}", options.data.describe()),
                false,
            ),
            Err(err) => (None, format!("{err:#}"), true),
        };
        let (background_tx, background_rx) = unbounded();
        StudioApp {
            settings,
            data: options.data,
            dialogs: options.dialogs,
            worker,
            ctx: ctx.clone(),
            background_tx,
            background_rx,
            state: WorkerState::Idle,
            progress: RunProgress::default(),
            curves: CurveData::default(),
            samples: SamplesView::default(),
            inspector: InspectorState::default(),
            explore: ExploreView::new(ctx),
            model_generation: 0,
            has_model: false,
            last_error: is_error.then(|| message.clone()),
            message,
            message_is_error: is_error,
            confirm: None,
            checkpoint_path: String::new(),
            png_path: String::new(),
            frame_stats: FrameStats::default(),
            frame_log: options.frame_log,
            last_frame_log: Instant::now(),
            frame_started: None,
            pending: Vec::new(),
            step_events: 0,
            events_seen: 0,
        }
    }

    /// The worker's state as last reported.
    pub fn state(&self) -> WorkerState {
        self.state
    }

    /// Where the run stands, as last reported.
    pub fn progress(&self) -> RunProgress {
        self.progress
    }

    /// The curve data (bounded step history and epoch records).
    pub fn curves(&self) -> &CurveData {
        &self.curves
    }

    /// The sample view.
    pub fn samples(&self) -> &SamplesView {
        &self.samples
    }

    /// The Explore tab's state.
    pub fn explore(&self) -> &ExploreView {
        &self.explore
    }

    /// Whether the worker holds a model (architecture locked until Reset).
    pub fn has_model(&self) -> bool {
        self.has_model
    }

    /// The last error shown, if any.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The status-bar message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Number of coalesced step events received.
    pub fn step_events(&self) -> u64 {
        self.step_events
    }

    /// The user's settings.
    pub fn settings(&self) -> &UiSettings {
        &self.settings
    }

    /// The user's settings, to change them (e.g. from the environment at start-up).
    pub fn settings_mut(&mut self) -> &mut UiSettings {
        &mut self.settings
    }

    /// The architecture the controls describe.
    pub fn model_config(&self) -> &ModelConfig {
        &self.settings.controls.model
    }

    /// The typed checkpoint path (empty: use a dialog).
    pub fn checkpoint_path_mut(&mut self) -> &mut String {
        &mut self.checkpoint_path
    }

    /// Frame-time statistics.
    pub fn frame_stats(&self) -> &FrameStats {
        &self.frame_stats
    }

    /// Drains worker and background events without blocking, for at most `EVENT_BUDGET` (4 ms).
    pub fn drain_events(&mut self) {
        let started = Instant::now();
        while started.elapsed() < EVENT_BUDGET {
            let Some(event) = self.worker.as_ref().and_then(Worker::try_recv) else {
                break;
            };
            self.events_seen += 1;
            self.on_event(event);
        }
        if self.worker.as_ref().is_some_and(Worker::has_pending) {
            // Out of budget with events left: come back next frame even if the worker is quiet.
            self.ctx.request_repaint();
        }
        while let Ok(item) = self.background_rx.try_recv() {
            self.on_background(item);
        }
        self.explore.poll();
    }

    fn show_message(&mut self, message: impl Into<String>) {
        self.message = message.into();
        self.message_is_error = false;
    }

    fn show_error(&mut self, message: impl Into<String>) {
        let message = message.into();
        self.last_error = Some(message.clone());
        self.message = message;
        self.message_is_error = true;
    }

    fn restore_controls(&mut self, model: ModelConfig, train: crate::train::TrainConfig) {
        let controls = &mut self.settings.controls;
        controls.preset = Preset::of(&model);
        controls.model = model;
        controls.train = train;
    }

    /// The worker holds this model now (started or opened): mirror its settings and curves.
    fn adopt_model(
        &mut self,
        model: ModelConfig,
        train: TrainConfig,
        history: &History,
        progress: RunProgress,
    ) {
        self.has_model = true;
        self.model_generation += 1;
        self.restore_controls(model, train);
        self.curves.set_history(history);
        self.progress = progress;
    }

    fn on_event(&mut self, event: WorkerEvent) {
        match event {
            WorkerEvent::State(state) => self.state = state,
            WorkerEvent::Started {
                model,
                train,
                history,
                progress,
            } => self.adopt_model(model, train, &history, progress),
            WorkerEvent::Steps { points, progress } => {
                self.curves.push_steps(&points);
                self.progress = progress;
                self.step_events += 1;
            }
            WorkerEvent::EpochFinished { record, progress } => {
                self.curves.push_epoch(record);
                self.progress = progress;
            }
            WorkerEvent::SampleProgress { epoch, grid } => self.samples.set_progress(epoch, grid),
            WorkerEvent::SamplesReady { epoch, grid } => self.samples.set_ready(epoch, grid),
            WorkerEvent::CheckpointSaved { path } => {
                self.show_message(format!("checkpoint saved to {}", path.display()));
            }
            WorkerEvent::CheckpointOpened {
                path: _,
                model,
                train,
                history,
                progress,
            } => {
                self.adopt_model(model, train, &history, progress);
                self.samples.clear();
                self.last_error = None;
            }
            WorkerEvent::WeightsSnapshot(snapshot) => self.explore.set_model(snapshot),
            WorkerEvent::ResetDone => {
                self.has_model = false;
                self.model_generation += 1;
                self.curves.clear();
                self.samples.clear();
                self.progress = RunProgress::default();
            }
            WorkerEvent::Message(message) => self.show_message(message),
            WorkerEvent::Error(message) => self.show_error(message),
            WorkerEvent::Finished { .. } => {}
        }
    }

    fn on_background(&mut self, item: Background) {
        match item {
            Background::Dialog(DialogResult { purpose, path }) => {
                let Some(path) = path else {
                    self.show_message(
                        "no file was chosen (or no file dialog is available here): type a path in the field and press the button again",
                    );
                    return;
                };
                match purpose {
                    DialogPurpose::SaveCheckpoint => {
                        self.send(WorkerCommand::SaveCheckpoint { path })
                    }
                    DialogPurpose::OpenCheckpoint => {
                        self.apply(UiCommand::OpenCheckpoint(Some(path)))
                    }
                    DialogPurpose::SavePng => self.save_png_to(path),
                }
            }
            Background::PngSaved(Ok(path)) => {
                self.show_message(format!("samples saved to {}", path.display()));
            }
            Background::PngSaved(Err(message)) => self.show_error(message),
        }
    }

    fn send(&mut self, command: WorkerCommand) {
        let result = match &self.worker {
            Some(worker) => worker.send(command).map_err(|err| err.to_string()),
            None => Err("the training thread is not running: restart the studio".to_string()),
        };
        if let Err(message) = result {
            self.show_error(message);
        }
    }

    fn open_dialog(&mut self, purpose: DialogPurpose, save: bool) {
        let tx = self.background_tx.clone();
        let ctx = self.ctx.clone();
        let forwarded = spawn_dialog(Arc::clone(&self.dialogs), purpose, save, move |result| {
            let _ = tx.send(Background::Dialog(result));
            ctx.request_repaint();
        });
        if forwarded {
            self.show_message("waiting for the file dialog...");
        } else {
            self.show_error("could not open a file dialog: type a path in the field instead");
        }
    }

    fn save_png_to(&mut self, path: PathBuf) {
        let Some(grid) = self.samples.grid().cloned() else {
            self.show_error("there are no samples to save yet");
            return;
        };
        let tx = self.background_tx.clone();
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("pixelcnn-save-png".into())
            .spawn(move || {
                let result = save_png(&grid, &path).map(|()| path);
                let _ = tx.send(Background::PngSaved(result));
                ctx.request_repaint();
            });
        if spawned.is_err() {
            self.show_error("could not start saving the PNG");
        }
    }

    fn open_checkpoint(&mut self, path: Option<PathBuf>) {
        match path {
            Some(path) => self.send(WorkerCommand::OpenCheckpoint { path }),
            None => self.open_dialog(DialogPurpose::OpenCheckpoint, false),
        }
    }

    /// Applies one command (from a panel, a shortcut or the start-up environment).
    pub fn apply(&mut self, command: UiCommand) {
        match command {
            UiCommand::Start => {
                self.last_error = None;
                let controls = &self.settings.controls;
                let command = WorkerCommand::Start {
                    model: controls.model.clone(),
                    train: controls.train.clone(),
                    data: self.data.clone(),
                };
                self.send(command);
            }
            UiCommand::Pause => self.send(WorkerCommand::Pause),
            UiCommand::Resume => self.send(WorkerCommand::Resume),
            UiCommand::Stop => self.send(WorkerCommand::Stop),
            UiCommand::Reset => {
                if self.progress.global_step > 0 {
                    self.confirm = Some(Confirm::Reset);
                } else {
                    self.send(WorkerCommand::Reset);
                }
            }
            UiCommand::SampleNow => self.send(WorkerCommand::SampleNow {
                count: SAMPLE_COUNT,
            }),
            UiCommand::SaveCheckpoint(Some(path)) => {
                self.send(WorkerCommand::SaveCheckpoint { path });
            }
            UiCommand::SaveCheckpoint(None) => {
                self.open_dialog(DialogPurpose::SaveCheckpoint, true);
            }
            // Pick the file first, then ask (once) before replacing a trained model: a model
            // trained while the dialog was open is protected too.
            UiCommand::OpenCheckpoint(None) => self.open_checkpoint(None),
            UiCommand::OpenCheckpoint(path) => {
                if self.has_model && self.progress.global_step > 0 {
                    self.confirm = Some(Confirm::Open(path));
                } else {
                    self.open_checkpoint(path);
                }
            }
            UiCommand::SavePng(Some(path)) => self.save_png_to(path),
            UiCommand::SavePng(None) => self.open_dialog(DialogPurpose::SavePng, true),
            UiCommand::ShowTab(tab) => self.settings.tab = tab,
            UiCommand::SnapshotWeights => self.send(WorkerCommand::SnapshotWeights),
            UiCommand::Confirm(yes) => match (self.confirm.take(), yes) {
                (Some(Confirm::Reset), true) => self.send(WorkerCommand::Reset),
                (Some(Confirm::Open(path)), true) => self.open_checkpoint(path),
                _ => {}
            },
        }
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                let typed = super::controls::typed_path(&self.checkpoint_path);
                let save = egui::Button::new("Save checkpoint...").shortcut_text("Ctrl+S");
                if ui.add_enabled(self.has_model, save).clicked() {
                    self.pending.push(UiCommand::SaveCheckpoint(typed.clone()));
                    ui.close();
                }
                let open = egui::Button::new("Open checkpoint...").shortcut_text("Ctrl+O");
                if ui.add_enabled(!self.state.is_busy(), open).clicked() {
                    self.pending.push(UiCommand::OpenCheckpoint(typed));
                    ui.close();
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                ui.checkbox(&mut self.settings.show_frame_stats, "Frame-time statistics");
            });
            ui.separator();
            for (tab, label) in [
                (Tab::Training, "Training"),
                (Tab::Inspector, "Inspector"),
                (Tab::Explore, "Explore"),
            ] {
                if ui
                    .selectable_label(self.settings.tab == tab, label)
                    .clicked()
                {
                    self.pending.push(UiCommand::ShowTab(tab));
                }
            }
        });
    }

    fn shortcuts(&mut self, ui: &egui::Ui) {
        let save = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::S);
        let open = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::O);
        let typed = super::controls::typed_path(&self.checkpoint_path);
        if ui.input_mut(|i| i.consume_shortcut(&save)) && self.has_model {
            self.pending.push(UiCommand::SaveCheckpoint(typed.clone()));
        }
        if ui.input_mut(|i| i.consume_shortcut(&open)) && !self.state.is_busy() {
            self.pending.push(UiCommand::OpenCheckpoint(typed));
        }
        let sample = egui::KeyboardShortcut::new(egui::Modifiers::NONE, egui::Key::F5);
        if ui.input_mut(|i| i.consume_shortcut(&sample))
            && self.has_model
            && self.state != WorkerState::Sampling
        {
            self.pending.push(UiCommand::SampleNow);
        }
    }

    fn confirm_ui(&mut self, ctx: &egui::Context) {
        let Some(confirm) = &self.confirm else {
            return;
        };
        let question = match confirm {
            Confirm::Reset => "Discard the trained model and its history?",
            Confirm::Open(_) => {
                "Replace the trained model with the checkpoint? Unsaved training is lost."
            }
        };
        let response = egui::Modal::new(egui::Id::unique("pixelcnn-confirm")).show(ctx, |ui| {
            ui.set_max_width(360.0);
            ui.heading("Are you sure?");
            ui.label(question);
            ui.horizontal(|ui| {
                if ui.button("Yes, discard it").clicked() {
                    self.pending.push(UiCommand::Confirm(true));
                }
                if ui.button("Cancel").clicked() {
                    self.pending.push(UiCommand::Confirm(false));
                }
            });
        });
        if response.should_close()
            && !self
                .pending
                .iter()
                .any(|c| matches!(c, UiCommand::Confirm(_)))
        {
            self.pending.push(UiCommand::Confirm(false));
        }
    }

    fn training_tab_ui(&mut self, ui: &mut egui::Ui) {
        let width = ui.available_width();
        egui::Panel::right("samples_panel")
            .resizable(true)
            .default_size((width * 0.45).clamp(280.0, 560.0))
            .show(ui, |ui| {
                let commands = samples_ui(ui, &mut self.samples, &mut self.png_path);
                self.pending.extend(commands);
            });
        egui::CentralPanel::default().show(ui, |ui| {
            curves_ui(ui, &self.curves, &mut self.settings.unit);
        });
    }

    fn log_frames(&mut self) {
        if self.frame_log && self.last_frame_log.elapsed() >= Duration::from_secs(5) {
            self.last_frame_log = Instant::now();
            eprintln!(
                "[frames] state={} step={} {}",
                self.state.label(),
                self.progress.global_step,
                self.frame_stats.summary()
            );
        }
    }
}

impl eframe::App for StudioApp {
    fn logic(&mut self, _ctx: &egui::Context, frame: &mut eframe::Frame) {
        self.frame_started = Some(Instant::now());
        if let Some(cpu_secs) = frame.info().cpu_usage {
            FrameStats::push(
                &mut self.frame_stats.frame_cpu_ms,
                f64::from(cpu_secs) * 1e3,
            );
        }
        self.drain_events();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        if self.frame_started.is_none() {
            // Harnesses that call ui() without logic() still get events.
            self.drain_events();
        }
        self.shortcuts(ui);
        egui::Panel::top("menu_bar").show(ui, |ui| self.menu_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| {
            status_ui(
                ui,
                &StatusInfo {
                    state: self.state,
                    progress: self.progress,
                    message: &self.message,
                    message_is_error: self.message_is_error,
                },
            );
            if self.settings.show_frame_stats {
                ui.label(egui::RichText::new(self.frame_stats.summary()).small());
            }
        });
        egui::Panel::left("controls_panel")
            .resizable(true)
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let context = ControlsContext {
                        state: self.state,
                        has_model: self.has_model,
                    };
                    let commands = controls_ui(
                        ui,
                        &mut self.settings.controls,
                        context,
                        &mut self.checkpoint_path,
                    );
                    self.pending.extend(commands);
                });
            });
        egui::CentralPanel::default().show(ui, |ui| match self.settings.tab {
            Tab::Training => self.training_tab_ui(ui),
            Tab::Inspector => {
                let model = self.settings.controls.model.clone();
                inspector_ui(ui, &model, &mut self.inspector);
            }
            Tab::Explore => {
                let context = ExploreContext {
                    has_model: self.has_model,
                    model_generation: self.model_generation,
                    global_step: self.progress.global_step,
                    conditional: self.has_model && self.settings.controls.model.conditional,
                    data: &self.data,
                };
                let commands =
                    explore_ui(ui, &mut self.explore, &mut self.settings.explore, &context);
                self.pending.extend(commands);
            }
        });
        let ctx = ui.ctx().clone();
        self.confirm_ui(&ctx);
        for command in std::mem::take(&mut self.pending) {
            self.apply(command);
        }
        if let Some(started) = self.frame_started.take() {
            FrameStats::push(
                &mut self.frame_stats.app_ms,
                started.elapsed().as_secs_f64() * 1e3,
            );
        }
        self.log_frames();
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        // Stops and joins the worker thread before the window goes away.
        self.worker.take();
    }
}
