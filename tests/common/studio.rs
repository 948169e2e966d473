//! The studio under egui_kittest: a harness on tiny synthetic data with injected file dialogs
//! (and, where a test asks, a data folder for its runs), tiny settings, the window's close
//! button, and waits that step frames until the app reaches a state (a generous watchdog fails
//! a test that would otherwise hang; it is never a speed target).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use pixelcnn_studio::data::DataSource;
use pixelcnn_studio::messages::WorkerState;
use pixelcnn_studio::ui::{FixedDialogs, StudioApp, StudioOptions, UiSettings};

use super::threads::WATCHDOG;

/// The window size most studio tests use.
pub const WINDOW_SIZE: egui::Vec2 = egui::vec2(1280.0, 800.0);

/// The synthetic digits the studio's runs load: 200 training and 40 test images.
pub fn synthetic() -> DataSource {
    DataSource::Synthetic {
        train: 200,
        test: 40,
        seed: 11,
    }
}

/// Headless options on [`synthetic`] data whose file dialogs answer `dialog_path` (`None`:
/// cancelled), with its runs in the data folder `data_folder` or none (no run folders).
pub fn options(dialog_path: Option<PathBuf>, data_folder: Option<PathBuf>) -> StudioOptions {
    StudioOptions {
        dialogs: Arc::new(FixedDialogs { path: dialog_path }),
        data_folder,
        ..StudioOptions::headless(synthetic())
    }
}

/// The studio with `settings` and `options` in a window of `size`.
pub fn harness_with(
    settings: UiSettings,
    options: StudioOptions,
    size: egui::Vec2,
) -> Harness<'static, StudioApp> {
    let mut options = Some(options);
    Harness::builder().with_size(size).build_eframe(move |cc| {
        let options = options.take().expect("built once");
        StudioApp::with_context(&cc.egui_ctx, settings, options)
    })
}

/// The studio with `settings` in a 1280x800 window, its dialogs answering `dialog_path`.
pub fn harness(settings: UiSettings, dialog_path: Option<PathBuf>) -> Harness<'static, StudioApp> {
    harness_with(settings, options(dialog_path, None), WINDOW_SIZE)
}

/// The studio with `settings` in a 1280x800 window keeping its runs in `data_folder` (none:
/// no run folders), its dialogs cancelled.
pub fn harness_in(settings: UiSettings, data_folder: Option<&Path>) -> Harness<'static, StudioApp> {
    harness_with(
        settings,
        options(None, data_folder.map(Path::to_path_buf)),
        WINDOW_SIZE,
    )
}

/// The tiny model trained `epochs` epochs on the synthetic digits: batches of 20, a grid of 4
/// at each epoch end, every image of the (tiny) sets, no previews.
pub fn tiny_settings(epochs: usize) -> UiSettings {
    let mut settings = UiSettings::default();
    let controls = &mut settings.controls;
    controls.model = super::tiny_model();
    controls.train.epochs = epochs;
    controls.train.batch_size = 20;
    controls.train.samples_per_epoch = 4;
    controls.train.train_limit = None;
    controls.train.test_limit = None;
    controls.preview_every_secs = 0.0;
    settings
}

/// Asks the window to close, as the title bar's close button does.
pub fn request_close(harness: &mut Harness<'_, StudioApp>) {
    harness
        .input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    harness.step();
}

/// Whether the last frame sent the window `wanted`.
pub fn sent_viewport_command(
    harness: &Harness<'_, StudioApp>,
    wanted: &egui::ViewportCommand,
) -> bool {
    harness
        .output()
        .viewport_output
        .get(&egui::ViewportId::ROOT)
        .is_some_and(|v| v.commands.contains(wanted))
}

/// Steps frames until `done` holds for the harness; fails, naming `what` and the app's state,
/// if the watchdog runs out first.
pub fn step_until(
    harness: &mut Harness<'_, StudioApp>,
    what: &str,
    done: impl Fn(&Harness<'_, StudioApp>) -> bool,
) {
    let deadline = Instant::now() + WATCHDOG;
    while !done(harness) {
        let app = harness.state();
        assert!(
            Instant::now() < deadline,
            "no {what} within {WATCHDOG:?}; state {:?}, message {:?}, progress {:?}, explore error {:?}, log {:?}",
            app.state(),
            app.message(),
            app.progress(),
            app.explore().error(),
            app.message_log()
                .entries()
                .map(|e| e.text.clone())
                .collect::<Vec<_>>()
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Steps frames until `done` holds for the app (see [`step_until`]), then [`settle`]s.
pub fn wait_until(
    harness: &mut Harness<'_, StudioApp>,
    what: &str,
    done: impl Fn(&StudioApp) -> bool,
) {
    step_until(harness, what, |harness| done(harness.state()));
    settle(harness);
}

/// A few frames, so that a click's command is applied and its result drawn.
pub fn settle(harness: &mut Harness<'_, StudioApp>) {
    for _ in 0..3 {
        harness.step();
    }
}

/// Presses Start and waits until the run finished with its last grid drawn.
pub fn train_to_the_end(harness: &mut Harness<'_, StudioApp>) {
    harness.step();
    harness.get_by_label("Start").click();
    wait_until(harness, "end of the run", |app| {
        app.state() == WorkerState::Finished && app.samples().is_complete()
    });
}
