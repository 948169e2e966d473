//! The desktop studio: an eframe window with training controls, live curves and samples, a
//! model inspector and checkpoints, talking to the training thread through [`crate::worker`].
//!
//! Each panel is a small `*_ui` function in its own file that returns [`UiCommand`]s; the
//! [`StudioApp`] applies them in one place at the end of the frame. Nothing here touches a
//! tensor: the model lives on the worker thread.

mod app;
pub mod compare;
pub mod controls;
pub mod curves;
pub mod dialogs;
pub mod estimate;
pub mod explore;
pub mod help;
pub mod inspector;
pub mod message_log;
pub mod panel_rects;
pub mod paths;
pub mod prompts;
pub mod runs;
pub mod samples;
mod startup;
pub mod status;

use std::path::PathBuf;

use anyhow::anyhow;

pub use app::{
    FrameStats, StudioApp, StudioOptions, Tab, UiSettings, EVENT_BUDGET, HEADLESS_SPEED,
};
pub use dialogs::{DialogPurpose, DialogResult, FileDialogs, FixedDialogs, RfdDialogs};
pub use prompts::CloseChoice;
pub use startup::{
    AUTOSTART_ENV, EPOCHS_ENV, FRAME_LOG_ENV, MODEL_ENV, OPEN_ENV, PRESET_ENV, TEST_LIMIT_ENV,
    TRAIN_LIMIT_ENV, VIEW_ENV,
};

use crate::data::DataSource;

/// The window title (also eframe's app id: settings and the runs live in its data folder).
pub const WINDOW_TITLE: &str = "PixelCNN Studio";

/// The studio's data folder, where eframe keeps its settings and the studio its runs (in
/// `runs/`): on Linux `$XDG_DATA_HOME/pixelcnnstudio` or `~/.local/share/pixelcnnstudio`;
/// `None` where there is none.
pub fn default_data_folder() -> Option<PathBuf> {
    eframe::storage_dir(WINDOW_TITLE)
}

/// What a panel asks the app to do; applied in one place at the end of the frame.
#[derive(Clone, Debug, PartialEq)]
pub enum UiCommand {
    /// Start (or continue) training with the current settings.
    Start,
    /// Pause training.
    Pause,
    /// Resume paused training.
    Resume,
    /// Pause when running, resume when paused (Space).
    TogglePause,
    /// Stop the run (the model is kept).
    Stop,
    /// Reset the model (asks first when it has trained).
    Reset,
    /// Draw a fresh grid of samples now.
    SampleNow,
    /// Save a copy of the model as a checkpoint ("Save checkpoint as..."): through a dialog,
    /// or to the typed path when given (an existing file is replaced only after a question).
    SaveCheckpoint(Option<PathBuf>),
    /// Open a checkpoint: through a dialog, or from the typed path when given.
    OpenCheckpoint(Option<PathBuf>),
    /// Save the grid shown as PNG: through a dialog, or to the typed path when given.
    SavePng(Option<PathBuf>),
    /// Write the metric history as CSV: through a dialog, or to the typed path when given.
    ExportCsv(Option<PathBuf>),
    /// Add another run's history to the plot: through a dialog, or from the typed path.
    CompareRun(Option<PathBuf>),
    /// Stop comparing with the run at this index.
    RemoveCompared(usize),
    /// Show or hide the Compare and export window.
    ShowCompare,
    /// Show or hide the Help window.
    ShowHelp,
    /// Show another view.
    ShowTab(Tab),
    /// Ask the worker for a copy of the current weights (for the Explore tab).
    SnapshotWeights,
    /// The user answered the confirmation question (`true`: go ahead).
    Confirm(bool),
    /// The user answered the close prompt.
    CloseChoice(CloseChoice),
    /// The user answered the offer to resume a crashed run (`true`: resume).
    ResumeCrashed(bool),
    /// Show or hide the Runs window.
    ShowRuns,
    /// Open a run folder (or a checkpoint file): through a dialog, or from the typed path.
    OpenRunFolder(Option<PathBuf>),
    /// Open the run in `dir`: followed read-only when another process writes it, else loaded
    /// to look at; with `resume`, then trained on (in its folder).
    OpenRun {
        /// The run folder.
        dir: PathBuf,
        /// Continue training it once open.
        resume: bool,
    },
    /// Draw this run's costs on the curves, or stop drawing them.
    CompareRunFolder(PathBuf),
    /// Delete this run's folder (asks first).
    DeleteRun(PathBuf),
    /// Stop following the run another process writes.
    StopFollowing,
    /// Close the window (asks first when the model has unsaved training).
    RequestClose,
}

/// Opens the studio window and runs it until it is closed. `data_dir` overrides the shipped
/// MNIST folder. Returns an error (instead of panicking) when no window can be opened, e.g.
/// without a display, or when a start-up environment variable is malformed.
pub fn run_studio(data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let data_dir = data_dir.unwrap_or_else(crate::data::default_data_dir);
    let startup = startup::Startup::from_env()?;
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(WINDOW_TITLE)
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([800.0, 500.0]),
        ..Default::default()
    };
    eframe::run_native(
        WINDOW_TITLE,
        options,
        Box::new(move |cc| {
            let mut app = StudioApp::new(
                cc,
                StudioOptions {
                    data: DataSource::MnistDir(data_dir),
                    dialogs: std::sync::Arc::new(RfdDialogs),
                    frame_log: startup.frame_log,
                    data_folder: default_data_folder(),
                    autosave_every: crate::run::DEFAULT_AUTOSAVE_EVERY,
                    speed_probe: std::sync::Arc::new(estimate::MeasuredProbe),
                },
            );
            startup.apply(&mut app);
            Ok(Box::new(app))
        }),
    )
    .map_err(|err| anyhow!("could not open the studio window: {err}"))
}
