//! The desktop studio: an eframe window with training controls, live curves and samples, a
//! model inspector and checkpoints, talking to the training thread through [`crate::worker`].
//!
//! Each panel is a small `*_ui` function in its own file that returns [`UiCommand`]s; the
//! [`StudioApp`] applies them in one place at the end of the frame.

mod app;
pub mod controls;
pub mod curves;
pub mod dialogs;
pub mod explore;
pub mod inspector;
pub mod samples;
mod startup;
pub mod status;

use std::path::PathBuf;

use anyhow::anyhow;

pub use app::{FrameStats, StudioApp, StudioOptions, Tab, UiSettings, EVENT_BUDGET};
pub use dialogs::{DialogPurpose, DialogResult, FileDialogs, FixedDialogs, RfdDialogs};
pub use startup::{
    AUTOSTART_ENV, EPOCHS_ENV, FRAME_LOG_ENV, MODEL_ENV, OPEN_ENV, PRESET_ENV, TEST_LIMIT_ENV,
    TRAIN_LIMIT_ENV, VIEW_ENV,
};

use crate::messages::DataSource;

/// The window title.
pub const WINDOW_TITLE: &str = "PixelCNN Studio";

/// What a panel asks the app to do; applied in one place at the end of the frame.
#[derive(Clone, Debug, PartialEq)]
pub enum UiCommand {
    /// Start (or continue) training with the current settings.
    Start,
    /// Pause training.
    Pause,
    /// Resume paused training.
    Resume,
    /// Stop the run (the model is kept).
    Stop,
    /// Reset the model (asks first when it has trained).
    Reset,
    /// Draw a fresh grid of samples now.
    SampleNow,
    /// Save the checkpoint: through a dialog, or to the typed path when given.
    SaveCheckpoint(Option<PathBuf>),
    /// Open a checkpoint: through a dialog, or from the typed path when given.
    OpenCheckpoint(Option<PathBuf>),
    /// Save the sample grid as PNG: through a dialog, or to the typed path when given.
    SavePng(Option<PathBuf>),
    /// Show another view.
    ShowTab(Tab),
    /// Ask the worker for a copy of the current weights (for the Explore tab).
    SnapshotWeights,
    /// The user answered the confirmation question (`true`: go ahead).
    Confirm(bool),
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
                },
            );
            startup.apply(&mut app);
            Ok(Box::new(app))
        }),
    )
    .map_err(|err| anyhow!("could not open the studio window: {err}"))
}
