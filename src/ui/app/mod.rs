//! `StudioApp`, split the way rerun splits its viewer: this file holds the state, its
//! construction and accessors and the `eframe::App` glue; `logic.rs` drains the worker, the runs
//! thread and the background threads; `commands.rs` applies every [`UiCommand`] in one place;
//! `layout.rs` draws the panels, windows and prompts (`runs.rs` the run bar and the Runs
//! window).

mod commands;
mod layout;
mod logic;
mod runs;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use serde::{Deserialize, Serialize};

use super::compare::{CompareFields, ComparedRuns};
use super::controls::ControlSettings;
use super::curves::{CurveData, CurveSettings};
use super::dialogs::{DialogResult, FileDialogs, FixedDialogs};
use super::estimate::{EstimateState, FixedProbe, ProbeKey, SpeedProbe};
use super::explore::{ExploreSettings, ExploreView};
use super::inspector::InspectorState;
use super::message_log::MessageLog;
use super::paths::PathField;
use super::prompts::{Confirm, ResumeOffer};
use super::runs::{CurrentRun, Following, RunsView};
use super::samples::SamplesView;
use super::status::EvaluationClock;
use super::UiCommand;
use crate::data::DataSource;
use crate::messages::{RunProgress, WorkerState};
use crate::model::ModelConfig;
use crate::run::watch::RunsService;
use crate::run::{DEFAULT_AUTOSAVE_EVERY, RUNS_DIR};
use crate::train::estimate::SpeedEstimate;
use crate::train::History;
use crate::worker::{Worker, WorkerOptions};

/// Longest time `logic()` spends draining worker events in one frame.
pub const EVENT_BUDGET: Duration = Duration::from_millis(4);
/// Frame durations kept for the statistics.
const FRAME_WINDOW: usize = 1000;

/// The main views. [`Tab::ALL`] is the order of the tab bar.
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

impl Tab {
    /// Every tab, in the order of the tab bar.
    pub const ALL: [Tab; 3] = [Tab::Training, Tab::Inspector, Tab::Explore];

    /// The tab's name.
    pub fn label(self) -> &'static str {
        match self {
            Tab::Training => "Training",
            Tab::Inspector => "Inspector",
            Tab::Explore => "Explore",
        }
    }
}

/// The user's choices, persisted across launches (eframe persistence). Runtime state (the
/// model, curves, samples) is never persisted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UiSettings {
    /// Preset, architecture, training settings and device.
    pub controls: ControlSettings,
    /// Unit, log scale and smoothing of the cost plot.
    pub curves: CurveSettings,
    /// The view shown.
    pub tab: Tab,
    /// The Explore tab's tool, brush and completion settings.
    pub explore: ExploreSettings,
    /// Show the controls panel (it can be collapsed to give the plots room).
    pub show_controls: bool,
    /// Show frame-time statistics in the status area.
    pub show_frame_stats: bool,
    /// Run folders the user added to the Runs window (outside the studio's runs folder).
    pub added_runs: Vec<PathBuf>,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            controls: ControlSettings::default(),
            curves: CurveSettings::default(),
            tab: Tab::Training,
            explore: ExploreSettings::default(),
            show_controls: true,
            show_frame_stats: false,
            added_runs: Vec::new(),
        }
    }
}

/// How to build a [`StudioApp`]: the data source, the file-dialog seam, the data folder (where
/// the runs live) and the speed probe are injected, so tests use synthetic data, never open a
/// real dialog, never touch the user's data folder and get a fixed speed.
pub struct StudioOptions {
    /// Where the worker loads images from when Start is pressed.
    pub data: DataSource,
    /// How to ask the user for paths.
    pub dialogs: Arc<dyn FileDialogs>,
    /// Print frame-time statistics to stderr every few seconds.
    pub frame_log: bool,
    /// The studio's data folder: every training run gets its own folder in its `runs/`
    /// (crashed ones are offered for resuming at launch, and the previous versions' autosave
    /// there becomes a run); `None`: no run folders (a model is kept only by "Save checkpoint
    /// as...").
    pub data_folder: Option<PathBuf>,
    /// The longest stretch of training between two checkpoints of a run (2 minutes).
    pub autosave_every: Duration,
    /// How the speed shown before Start is measured.
    pub speed_probe: Arc<dyn SpeedProbe>,
}

/// The speed [`StudioOptions::headless`] reports for every model.
pub const HEADLESS_SPEED: SpeedEstimate = SpeedEstimate {
    train_images_per_sec: 1000.0,
    eval_images_per_sec: 4000.0,
    sample_secs_per_image: 0.0005,
};

impl StudioOptions {
    /// Options for tests and scripts: dialogs that answer "cancelled", no data folder (so no
    /// run folders), no frame log, and a fixed speed ([`HEADLESS_SPEED`]).
    pub fn headless(data: DataSource) -> StudioOptions {
        StudioOptions {
            data,
            dialogs: Arc::new(FixedDialogs::default()),
            frame_log: false,
            data_folder: None,
            autosave_every: DEFAULT_AUTOSAVE_EVERY,
            speed_probe: Arc::new(FixedProbe(HEADLESS_SPEED)),
        }
    }
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

/// An action sent to the worker and not confirmed yet: the status bar says so meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Starting,
    Pausing,
    Resuming,
    Stopping,
    /// A checkpoint or the run is being written (the worker takes it after the current step).
    Saving,
    /// The run is being discarded.
    Discarding,
}

impl Pending {
    fn label(self) -> &'static str {
        match self {
            Pending::Starting => "starting...",
            Pending::Pausing => "pausing...",
            Pending::Resuming => "resuming...",
            Pending::Stopping => "stopping...",
            Pending::Saving => "saving...",
            Pending::Discarding => "discarding...",
        }
    }
}

/// Where closing the window stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct CloseFlow {
    /// The Save / Discard / Cancel prompt is up.
    asking: bool,
    /// Save was chosen: close once the checkpoint (or the run) is saved.
    save_then_close: bool,
    /// Discard was chosen: close once the run folder is deleted.
    discard_then_close: bool,
    /// The user chose; let the window close.
    allowed: bool,
}

/// Work done on short-lived threads, reported back to the UI.
enum Background {
    Dialog(DialogResult),
    PngSaved(Result<PathBuf, String>),
    CsvSaved(Result<PathBuf, String>),
    Compared(PathBuf, Result<History, String>),
    Speed(ProbeKey, Result<SpeedEstimate, String>),
}

/// The studio application.
pub struct StudioApp {
    settings: UiSettings,
    data: DataSource,
    dialogs: Arc<dyn FileDialogs>,
    speed_probe: Arc<dyn SpeedProbe>,
    data_folder: Option<PathBuf>,
    worker: Option<Worker>,
    /// The thread that reads run folders (lists, follows, deletes).
    runs_service: Option<RunsService>,
    runs: RunsView,
    /// Whether the runs thread is listing (while the Runs window is shown).
    listing: bool,
    /// The run of the worker's model.
    current_run: Option<CurrentRun>,
    /// The run another process writes that the studio shows, read-only.
    following: Option<Following>,
    /// Start training once this run folder is open (Resume).
    start_after_open: Option<PathBuf>,
    ctx: egui::Context,
    background_tx: Sender<Background>,
    background_rx: Receiver<Background>,
    state: WorkerState,
    pending_action: Option<Pending>,
    progress: RunProgress,
    evaluation: Option<(usize, usize)>,
    /// The pace of the test evaluation in progress (layout: the status bar's rate and ETA).
    evaluation_clock: EvaluationClock,
    /// Whether the first window was fitted to the screen it opened on (layout).
    window_fitted: bool,
    curves: CurveData,
    compared: ComparedRuns,
    samples: SamplesView,
    inspector: InspectorState,
    explore: ExploreView,
    /// Bumped whenever the worker's model is replaced (started, opened, reset).
    model_generation: u64,
    has_model: bool,
    /// The model has training that was not saved to a checkpoint by the user.
    unsaved: bool,
    log: MessageLog,
    log_open: bool,
    confirm: Option<Confirm>,
    close: CloseFlow,
    resume_offer: Option<ResumeOffer>,
    estimate: EstimateState,
    checkpoint_path: String,
    png_path: String,
    compare_fields: CompareFields,
    compare_open: bool,
    help_open: bool,
    focus: Option<PathField>,
    title: String,
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

    /// Builds the app for a context with the given settings; starts the worker thread and the
    /// runs thread, which, with a data folder, looks for crashed runs to offer.
    pub fn with_context(
        ctx: &egui::Context,
        settings: UiSettings,
        options: StudioOptions,
    ) -> StudioApp {
        let repaint_ctx = ctx.clone();
        let worker = Worker::spawn_with(
            WorkerOptions {
                runs_root: options.data_folder.as_ref().map(|d| d.join(RUNS_DIR)),
                autosave_every: options.autosave_every,
            },
            Arc::new(move || repaint_ctx.request_repaint()),
        );
        let runs_ctx = ctx.clone();
        let runs_service = crate::run::watch::spawn(Arc::new(move || runs_ctx.request_repaint()));
        let mut log = MessageLog::default();
        let worker = match worker {
            Ok(worker) => {
                log.show(
                    0.0,
                    format!("ready: press Start to train on {}", options.data.describe()),
                );
                Some(worker)
            }
            Err(err) => {
                log.error(0.0, format!("{err:#}"));
                None
            }
        };
        let runs_service = match runs_service {
            Ok(service) => Some(service),
            Err(err) => {
                log.error(0.0, format!("{err:#}"));
                None
            }
        };
        let (background_tx, background_rx) = unbounded();
        let mut app = StudioApp {
            settings,
            data: options.data,
            dialogs: options.dialogs,
            speed_probe: options.speed_probe,
            data_folder: options.data_folder,
            worker,
            runs_service,
            runs: RunsView::default(),
            listing: false,
            current_run: None,
            following: None,
            start_after_open: None,
            ctx: ctx.clone(),
            background_tx,
            background_rx,
            state: WorkerState::Idle,
            pending_action: None,
            progress: RunProgress::default(),
            evaluation: None,
            evaluation_clock: EvaluationClock::default(),
            window_fitted: false,
            curves: CurveData::default(),
            compared: ComparedRuns::default(),
            samples: SamplesView::default(),
            inspector: InspectorState::default(),
            explore: ExploreView::new(ctx),
            model_generation: 0,
            has_model: false,
            unsaved: false,
            log,
            log_open: false,
            confirm: None,
            close: CloseFlow::default(),
            resume_offer: None,
            estimate: EstimateState::default(),
            checkpoint_path: String::new(),
            png_path: String::new(),
            compare_fields: CompareFields::default(),
            compare_open: false,
            help_open: false,
            focus: None,
            title: super::WINDOW_TITLE.to_string(),
            frame_stats: FrameStats::default(),
            frame_log: options.frame_log,
            last_frame_log: Instant::now(),
            frame_started: None,
            pending: Vec::new(),
            step_events: 0,
            events_seen: 0,
        };
        app.look_for_crashed_runs();
        app
    }

    /// The worker's state as last reported.
    pub fn state(&self) -> WorkerState {
        self.state
    }

    /// The state word of the status bar: an action on its way ("stopping...") or the state.
    pub fn state_label(&self) -> &'static str {
        self.pending_action
            .map_or_else(|| self.shown_state().label(), Pending::label)
    }

    /// Where the run stands, as last reported.
    pub fn progress(&self) -> RunProgress {
        self.progress
    }

    /// The curve data (bounded step history, epoch records, settings records).
    pub fn curves(&self) -> &CurveData {
        &self.curves
    }

    /// The runs compared with this one.
    pub fn compared(&self) -> &ComparedRuns {
        &self.compared
    }

    /// The Explore tab's state.
    pub fn explore(&self) -> &ExploreView {
        &self.explore
    }

    /// The sample view.
    pub fn samples(&self) -> &SamplesView {
        &self.samples
    }

    /// Whether the worker holds a model (architecture locked until Reset).
    pub fn has_model(&self) -> bool {
        self.has_model
    }

    /// Whether the model has training from this session that closing could throw away
    /// (closing asks first: keep or discard its run, or, without a run folder, save it).
    pub fn has_unsaved_work(&self) -> bool {
        self.has_model && self.unsaved
    }

    /// The last error shown, if it is still the status bar's message.
    pub fn last_error(&self) -> Option<&str> {
        self.log
            .current()
            .filter(|e| e.is_error)
            .map(|e| e.text.as_str())
    }

    /// The status-bar message (empty when a new action cleared it).
    pub fn message(&self) -> &str {
        self.log.current().map_or("", |e| e.text.as_str())
    }

    /// Every message so far, with its time.
    pub fn message_log(&self) -> &MessageLog {
        &self.log
    }

    /// The crashed run offered for resuming, while the offer is up.
    pub fn resume_offer(&self) -> Option<&ResumeOffer> {
        self.resume_offer.as_ref()
    }

    /// The run of the worker's model, if it has one.
    pub fn current_run(&self) -> Option<&CurrentRun> {
        self.current_run.as_ref()
    }

    /// The run written by another process that the studio follows, if any.
    pub fn following(&self) -> Option<&Following> {
        self.following.as_ref()
    }

    /// The Runs window's state (its list, its selection).
    pub fn runs(&self) -> &RunsView {
        &self.runs
    }

    /// The Runs window's state, to change it (select a run, type a folder).
    pub fn runs_mut(&mut self) -> &mut RunsView {
        &mut self.runs
    }

    /// Where the studio keeps its runs (`None`: it has no data folder).
    pub fn runs_root(&self) -> Option<PathBuf> {
        self.data_folder.as_ref().map(|d| d.join(RUNS_DIR))
    }

    /// The state the status bar shows: the followed run's, or the worker's.
    pub fn shown_state(&self) -> WorkerState {
        match self.following.as_ref().and_then(|f| f.summary.as_ref()) {
            Some(run) => followed_state(run),
            None if self.following.is_some() => WorkerState::Idle,
            None => self.state,
        }
    }

    /// Whether the close prompt (Save / Discard / Cancel) is up.
    pub fn is_asking_to_close(&self) -> bool {
        self.close.asking
    }

    /// Whether the user allowed the window to close.
    pub fn close_allowed(&self) -> bool {
        self.close.allowed
    }

    /// The window title as last set ("PixelCNN Studio - training, epoch 3/10").
    pub fn title(&self) -> &str {
        &self.title
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

    /// The typed path fields of the Compare and export window.
    pub fn compare_fields_mut(&mut self) -> &mut CompareFields {
        &mut self.compare_fields
    }

    /// The line next to Start: what a run with these settings costs.
    pub fn estimate_text(&self) -> String {
        self.estimate_line().text
    }

    /// Frame-time statistics.
    pub fn frame_stats(&self) -> &FrameStats {
        &self.frame_stats
    }

    /// Studio seconds (egui's clock): the time base of the message log and the sample reveal.
    fn now(&self) -> f64 {
        self.ctx.input(|i| i.time)
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
        self.layout(ui);
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
        // Stops and joins the worker thread (which writes the run's last checkpoint) before the
        // window goes.
        self.worker.take();
        self.runs_service.take();
    }
}

/// The worker state that stands for a followed run's state in the status bar.
fn followed_state(run: &crate::run::RunSummary) -> WorkerState {
    use crate::run::{Activity, RunState};
    match (run.state, run.status.activity) {
        (RunState::Live, Activity::Evaluating) => WorkerState::Evaluating,
        (RunState::Live, Activity::Sampling) => WorkerState::Sampling,
        (RunState::Live, Activity::Paused) => WorkerState::Paused,
        (RunState::Live, _) => WorkerState::Training,
        (RunState::Stopped, _) => WorkerState::Stopped,
        (RunState::Finished, _) => WorkerState::Finished,
        (RunState::Crashed, _) => WorkerState::Error,
    }
}
