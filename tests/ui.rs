//! The studio driven through egui_kittest: buttons, sliders, the inspector, checkpoints and a
//! few image snapshots. No display is needed; training runs on tiny synthetic data.

// Tests assert by unwrapping; helpers are not `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use pixelcnn_studio::messages::{DataSource, WorkerState};
use pixelcnn_studio::model::ModelConfig;
use pixelcnn_studio::ui::{FixedDialogs, StudioApp, StudioOptions, Tab, UiSettings};

fn tiny_settings(epochs: usize) -> UiSettings {
    let mut settings = UiSettings::default();
    let controls = &mut settings.controls;
    controls.model = common::tiny_model();
    controls.train.epochs = epochs;
    controls.train.batch_size = 20;
    controls.train.samples_per_epoch = 4;
    settings
}

fn harness(settings: UiSettings, dialog_path: Option<PathBuf>) -> Harness<'static, StudioApp> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| {
            StudioApp::with_context(
                &cc.egui_ctx,
                settings,
                StudioOptions {
                    data: DataSource::Synthetic {
                        train: 200,
                        test: 40,
                        seed: 11,
                    },
                    dialogs: Arc::new(FixedDialogs { path: dialog_path }),
                    frame_log: false,
                },
            )
        })
}

/// Steps the harness until `done` holds for the app (or panics after 60 s).
fn wait_until(harness: &mut Harness<'_, StudioApp>, what: &str, done: impl Fn(&StudioApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(harness.state()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; state {:?}, message {:?}, progress {:?}, train {:?}",
            harness.state().state(),
            harness.state().message(),
            harness.state().progress(),
            harness.state().settings().controls.train
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    settle(harness);
}

/// A few frames, so that a click's command is applied and its result drawn.
fn settle(harness: &mut Harness<'_, StudioApp>) {
    for _ in 0..3 {
        harness.step();
    }
}

#[test]
fn pressing_start_with_tiny_synthetic_data_produces_step_events_and_a_curve() {
    let mut harness = harness(tiny_settings(2), None);
    harness.step();
    harness.get_by_label("Start").click();
    wait_until(&mut harness, "step events", |app| app.step_events() > 0);
    wait_until(&mut harness, "the run to finish", |app| {
        app.state() == WorkerState::Finished
    });
    let app = harness.state();
    assert!(app.curves().steps.len() >= 20, "2 epochs of 10 steps");
    assert_eq!(app.curves().epochs.len(), 2);
    assert!(app.samples().is_complete());
    assert_eq!(app.samples().epoch(), 2);
    assert_eq!(app.progress().global_step, 20);
    // The controls now offer to continue the same model.
    harness.get_by_label("Continue");
    harness.get_by_label_contains("State: finished");
}

#[test]
fn pause_resume_and_stop_change_the_state() {
    // The epochs slider clamps to 200; tiny batches keep the run going for tens of seconds, so
    // it cannot finish before Pause lands even on a loaded machine.
    let mut settings = tiny_settings(200);
    settings.controls.train.batch_size = 2;
    let mut harness = harness(settings, None);
    harness.step();
    harness.get_by_label("Start").click();
    wait_until(&mut harness, "training", |app| app.step_events() > 0);
    harness.get_by_label("Pause").click();
    wait_until(&mut harness, "paused", |app| {
        app.state() == WorkerState::Paused
    });
    harness.get_by_label_contains("State: paused");
    harness.get_by_label("Resume").click();
    wait_until(&mut harness, "training again", |app| {
        app.state() == WorkerState::Training
    });
    harness.get_by_label("Stop").click();
    wait_until(&mut harness, "stopped", |app| {
        app.state() == WorkerState::Stopped
    });
    let steps = harness.state().progress().global_step;
    for _ in 0..10 {
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        harness.state().progress().global_step,
        steps,
        "no steps after Stop"
    );
    assert!(harness.state().has_model(), "Stop keeps the model");
}

#[test]
fn moving_the_feature_map_slider_changes_the_layer_table() {
    let mut harness = harness(UiSettings::default(), None);
    harness.step();
    harness.get_by_label("Inspector").click();
    settle(&mut harness);
    assert_eq!(harness.state().settings().tab, Tab::Inspector);
    harness.get_by_label("1 -> 64");
    assert!(harness.query_by_label("1 -> 32").is_none());
    harness
        .get_by_role_and_label(Role::Slider, "Feature maps")
        .set_value_accesskit(32.0);
    settle(&mut harness);
    assert_eq!(harness.state().model_config().feature_maps, 32);
    harness.get_by_label("1 -> 32");
    assert!(harness.query_by_label("1 -> 64").is_none());
    let total = ModelConfig {
        feature_maps: 32,
        ..ModelConfig::seed()
    }
    .parameter_count();
    harness.get_by_label(&format!("{total} parameters"));
}

#[test]
fn the_inspector_shows_mask_a_with_a_hidden_centre_and_mask_b_with_a_visible_one() {
    let mut harness = harness(UiSettings::default(), None);
    harness.step();
    harness.get_by_label("Inspector").click();
    settle(&mut harness);
    harness.get_by_label("conv_a: mask A 7x7, centre hidden");
    harness.get_by_label("conv_b.0: mask B 3x3, centre visible");
    harness.get_by_label("conv_b.1: mask B 3x3, centre visible");
    // The receptive field of the default pixel (14, 14) through the seed stack.
    let layers = ModelConfig::seed().layers();
    let seen = pixelcnn_studio::model::receptive_field::visible_inputs(&layers, 14, 14);
    let count = seen.iter().filter(|&&v| v).count();
    harness.get_by_label_contains(&format!("sees {count} of 784 input pixels"));
}

#[test]
fn opening_a_corrupt_checkpoint_shows_an_error_and_keeps_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.ckpt");
    std::fs::write(&corrupt, b"this is not a checkpoint").unwrap();
    let mut harness = harness(tiny_settings(1), Some(corrupt.clone()));
    harness.step();
    harness.get_by_label("Start").click();
    wait_until(&mut harness, "the run to finish", |app| {
        app.state() == WorkerState::Finished && app.samples().is_complete()
    });
    let steps = harness.state().progress().global_step;
    let epochs = harness.state().curves().epochs.clone();
    harness.get_by_label("Open checkpoint...").click();
    // The (injected) file dialog answers on its own thread; then, since a trained model would
    // be replaced, the studio asks before opening anything.
    let deadline = Instant::now() + Duration::from_secs(60);
    while harness.query_by_label("Yes, discard it").is_none() {
        assert!(Instant::now() < deadline, "no confirmation was asked");
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    harness.get_by_label("Yes, discard it").click();
    wait_until(&mut harness, "an error", |app| app.last_error().is_some());
    let error = harness.state().last_error().unwrap_or_default().to_string();
    assert!(error.contains("could not open the checkpoint"), "{error}");
    harness.get_by_label_contains("could not open the checkpoint");
    let app = harness.state();
    assert!(app.has_model());
    assert_eq!(app.progress().global_step, steps);
    assert_eq!(app.curves().epochs, epochs);
    assert_eq!(
        std::fs::read(&corrupt).unwrap(),
        b"this is not a checkpoint",
        "the file is untouched"
    );
}

#[test]
fn reset_asks_before_discarding_a_trained_model() {
    let mut harness = harness(tiny_settings(1), None);
    harness.step();
    harness.get_by_label("Start").click();
    wait_until(&mut harness, "the run to finish", |app| {
        app.state() == WorkerState::Finished
    });
    harness.get_by_label("Reset").click();
    settle(&mut harness);
    harness.get_by_label("Cancel").click();
    settle(&mut harness);
    assert!(harness.state().has_model());
    harness.get_by_label("Reset").click();
    settle(&mut harness);
    harness.get_by_label("Yes, discard it").click();
    wait_until(&mut harness, "the reset", |app| !app.has_model());
    assert!(harness.state().curves().is_empty());
    harness.get_by_label("Start");
}

#[test]
fn snapshots_of_the_inspector_and_the_idle_training_view() {
    let mut harness = harness(UiSettings::default(), None);
    settle(&mut harness);
    harness.snapshot("studio_idle");
    harness.get_by_label("Inspector").click();
    settle(&mut harness);
    harness.remove_cursor();
    settle(&mut harness);
    harness.snapshot("studio_inspector");
}

#[test]
fn snapshot_of_the_curves_and_samples_panels_with_fixed_data() {
    use pixelcnn_studio::model::SampleGrid;
    use pixelcnn_studio::train::{EpochRecord, StepPoint};
    use pixelcnn_studio::ui::curves::{curves_ui, CostUnit, CurveData};
    use pixelcnn_studio::ui::samples::{samples_ui, SamplesView};

    let mut curves = CurveData::default();
    let steps: Vec<StepPoint> = (1..=300)
        .map(|i| {
            let epoch = i as f64 / 100.0;
            let wiggle = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
            StepPoint {
                epoch,
                loss_nats_per_pixel: 0.09 + 0.2 / (1.0 + 4.0 * epoch) + 0.01 * wiggle,
            }
        })
        .collect();
    curves.push_steps(&steps);
    for epoch in 1..=3 {
        let e = epoch as f64;
        curves.push_epoch(EpochRecord {
            epoch,
            train_cost_nats_per_pixel: 0.09 + 0.2 / (1.0 + 4.0 * (e - 0.5)),
            test_cost_nats_per_pixel: 0.092 + 0.2 / (1.0 + 4.0 * e),
            images_per_sec: 1000.0,
            elapsed_secs: 10.0,
        });
    }
    // A deterministic grid: the synthetic digits, thresholded.
    let data = pixelcnn_studio::data::Dataset::synthetic(100, 5);
    let mut grid = SampleGrid::blank(100);
    for (out, &ink) in grid.pixels.iter_mut().zip(&data.images) {
        *out = if ink > 127 { 1.0 } else { 0.0 };
    }
    grid.pixels_done = 784;
    let mut samples = SamplesView::default();
    samples.set_ready(3, grid);
    let mut unit = CostUnit::BitsPerDim;
    let mut png_path = String::new();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1200.0, 520.0))
        .build_ui(move |ui| {
            ui.columns(2, |columns| {
                if let [left, right] = columns {
                    curves_ui(left, &curves, &mut unit);
                    let _ = samples_ui(right, &mut samples, &mut png_path);
                }
            });
        });
    settle_ui(&mut harness);
    harness.get_by_label("sample grid after epoch 3");
    harness.snapshot("curves_and_samples");
}

fn settle_ui(harness: &mut Harness<'_>) {
    for _ in 0..3 {
        harness.step();
    }
}

#[test]
fn a_saved_checkpoint_restores_the_model_sliders_curves_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("studio.ckpt");
    let settings = tiny_settings(1);
    let tiny = settings.controls.model.clone();
    // The dialog seam answers "cancelled", as rfd does where no dialog can be shown.
    let mut harness = harness(settings, None);
    settle(&mut harness);
    harness.get_by_label("Start").click();
    wait_until(&mut harness, "the run to finish", |app| {
        app.state() == WorkerState::Finished && app.samples().is_complete()
    });
    harness.get_by_label("Save checkpoint...").click();
    wait_until(&mut harness, "the dialog answer", |app| {
        app.message().contains("no file was chosen")
    });
    // The typed path is the fallback.
    *harness.state_mut().checkpoint_path_mut() = path.display().to_string();
    settle(&mut harness);
    harness.get_by_label("Save checkpoint...").click();
    wait_until(&mut harness, "the save", |app| {
        app.message().contains("checkpoint saved")
    });
    assert!(path.is_file());
    harness.get_by_label("Reset").click();
    settle(&mut harness);
    harness.get_by_label("Yes, discard it").click();
    wait_until(&mut harness, "the reset", |app| !app.has_model());
    harness.state_mut().settings_mut().controls.model = ModelConfig::seed();
    harness.get_by_label("Open checkpoint...").click();
    wait_until(&mut harness, "the restored samples", |app| {
        app.has_model() && app.samples().is_complete()
    });
    let app = harness.state();
    assert_eq!(
        app.model_config(),
        &tiny,
        "the sliders follow the checkpoint"
    );
    assert_eq!(app.curves().epochs.len(), 1);
    assert_eq!(app.progress().global_step, 10);
    assert_eq!(app.samples().epoch(), 1);
    assert!(app.last_error().is_none(), "{:?}", app.last_error());
}
