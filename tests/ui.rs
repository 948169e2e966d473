//! The studio driven through egui_kittest: buttons, sliders, the inspector, checkpoints, the
//! close prompt without run folders, compare runs and CSV export, and sample-history scrubbing
//! (the image snapshots of every tab at several window sizes are in `tests/layout.rs`; run
//! folders, autosave and the resume offer in `tests/runs.rs`). No display is needed; training
//! runs on tiny synthetic data.

// Tests assert by unwrapping; helpers are not `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::class_patterns;
use common::studio::{
    harness, harness_with, options, request_close, sent_viewport_command, settle, step_until,
    tiny_settings, train_to_the_end, wait_until,
};
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use pixelcnn_studio::data::IMAGE_PIXELS;
use pixelcnn_studio::messages::WorkerState;
use pixelcnn_studio::model::{ClassChoice, FamilyConfig, ModelConfig};
use pixelcnn_studio::train::{SampleKind, TrainConfig};
use pixelcnn_studio::ui::controls::Preset;
use pixelcnn_studio::ui::{StudioApp, Tab, UiSettings};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn pressing_start_with_tiny_synthetic_data_produces_step_events_and_a_curve() {
    let mut harness = harness(tiny_settings(2), None);
    harness.step();
    harness.get_by_label("Start").click();
    wait_until(&mut harness, "step events", |app| app.step_events() > 0);
    wait_until(&mut harness, "the run to finish", |app| {
        app.state() == WorkerState::Finished && app.samples().is_complete()
    });
    let app = harness.state();
    assert!(app.curves().steps.len() >= 20, "2 epochs of 10 steps");
    assert_eq!(app.curves().epochs.len(), 2);
    assert_eq!(app.samples().epoch(), 2);
    assert_eq!(app.progress().global_step, 20);
    assert_eq!(app.title(), "PixelCNN Studio \u{2014} finished, epoch 2/2");
    // The controls now offer to continue the same model.
    harness.get_by_label("Continue");
    harness.get_by_label_contains("State: finished");
}

#[test]
fn pause_resume_and_stop_change_the_state_and_space_toggles_pause() {
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
    // One set of buttons: while paused, Resume stands where Start was; no greyed Continue.
    assert!(harness.query_by_label("Continue").is_none());
    assert!(harness.query_by_label("Start").is_none());
    harness.get_by_label_contains("- images/s");
    harness.key_press(egui::Key::Space);
    wait_until(&mut harness, "training again", |app| {
        app.state() == WorkerState::Training
    });
    harness.key_press(egui::Key::Space);
    wait_until(&mut harness, "paused by Space", |app| {
        app.state() == WorkerState::Paused
    });
    harness.get_by_label("Resume").click();
    wait_until(&mut harness, "training again", |app| {
        app.state() == WorkerState::Training
    });
    harness.get_by_label("Stop").click();
    harness.step();
    // Until the worker confirms, the status bar says what is on its way.
    let label = harness.state().state_label();
    assert!(
        label == "stopping..." || harness.state().state() == WorkerState::Stopped,
        "{label}"
    );
    wait_until(&mut harness, "stopped", |app| {
        app.state() == WorkerState::Stopped && app.state_label() == "stopped"
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
    // Reset is available without waiting for anything else.
    assert!(!harness.get_by_label("Reset").accesskit_node().is_disabled());
}

#[test]
fn a_stale_error_is_cleared_by_the_next_action_and_kept_in_the_log() {
    let mut settings = tiny_settings(1);
    settings.controls.model.first_kernel = 4;
    let mut harness = harness(settings, None);
    harness.step();
    harness.get_by_label("Start").click();
    wait_until(&mut harness, "the error", |app| app.last_error().is_some());
    assert!(harness.state().message().contains("even"));
    harness
        .state_mut()
        .settings_mut()
        .controls
        .model
        .first_kernel = 5;
    settle(&mut harness);
    harness.get_by_label("Start").click();
    wait_until(&mut harness, "the run to finish", |app| {
        app.state() == WorkerState::Finished
    });
    let app = harness.state();
    assert!(app.last_error().is_none(), "{:?}", app.last_error());
    assert!(!app.message().contains("even"));
    assert!(app
        .message_log()
        .entries()
        .any(|e| e.is_error && e.text.contains("even")));
}

/// Settings on the seed preset (the studio itself starts on the gated one).
fn seed_settings() -> UiSettings {
    let mut settings = UiSettings::default();
    settings.controls.model = ModelConfig::seed();
    settings.controls.preset = Preset::Seed;
    settings
}

#[test]
fn moving_the_feature_map_slider_changes_the_layer_table() {
    let mut harness = harness(seed_settings(), None);
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
fn the_inspector_shows_the_masks_and_a_receptive_field_with_its_blind_spot() {
    let mut harness = harness(seed_settings(), None);
    harness.step();
    harness.get_by_label("Inspector").click();
    settle(&mut harness);
    harness.get_by_label("conv_a: mask A 7x7, centre hidden");
    harness.get_by_label("conv_b.0: mask B 3x3, centre visible");
    harness.get_by_label("conv_b.1: mask B 3x3, centre visible");
    // The receptive field of the default pixel (14, 14) through the seed stack.
    let seen = ModelConfig::seed().visible_inputs(14, 14);
    let count = seen.iter().filter(|&&v| v).count();
    harness.get_by_label_contains(&format!("sees {count} of 784 input pixels"));
    harness.get_by_label_contains("blind spot: earlier pixels within reach");
    // Without masked 3x3 layers there is no blind spot, and the view does not claim one.
    harness
        .get_by_role_and_label(Role::Slider, "Masked 3x3 layers")
        .set_value_accesskit(0.0);
    settle(&mut harness);
    harness.get_by_label_contains("sees 24 of 784 input pixels");
    assert!(harness.query_by_label_contains("blind").is_none());
}

#[test]
fn the_gated_preset_shows_both_stacks_and_no_blind_spot() {
    let mut harness = harness(seed_settings(), None);
    harness.step();
    harness.get_by_label("gated").click();
    settle(&mut harness);
    let model = harness.state().model_config().clone();
    assert!(
        matches!(model.family, FamilyConfig::Gated(_)) && model.conditional(),
        "{model:?}"
    );
    assert_eq!(harness.state().settings().controls.preset, Preset::Gated);
    assert_eq!(
        harness.state().settings().controls.train.learning_rate,
        pixelcnn_studio::train::default_learning_rate(&model)
    );
    harness.get_by_label("Inspector").click();
    settle(&mut harness);
    harness.get_by_label_contains("conv_v0: 3x7, 21 taps, vertical stack");
    harness.get_by_label_contains("conv_h0: 1x3, 3 taps, horizontal stack");
    // The preset's vertical stack is dilated in rows and columns: one card per dilation.
    harness.get_by_label_contains("layers.*.conv_v (x4: layers 0, 1, 5, 6, undilated)");
    harness.get_by_label_contains("layers.*.conv_v (x2: layers 4, 9, rows and columns 4 apart)");
    harness.get_by_label_contains("reach 23 rows up and 23 columns either side instead of 13");
    let seen = model.visible_inputs(14, 14).iter().filter(|&&v| v).count();
    harness.get_by_label_contains(&format!("sees {seen} of 784 input pixels"));
    harness.get_by_label_contains("No blind spot");
    assert!(harness
        .query_by_label_contains("blind spot: earlier pixels within reach")
        .is_none());
    // The conditional switch adds the class biases to the table.
    harness.get_by_label("layers.0.cond_v, cond_h");
    harness.get_by_label("Conditional").click();
    settle(&mut harness);
    assert!(!harness.state().model_config().conditional());
    assert!(harness.query_by_label("layers.0.cond_v, cond_h").is_none());
    assert_eq!(harness.state().settings().controls.preset, Preset::Gated);
}

/// Asserts the studio's grid is complete and each of its images is the known image of the
/// digit `classes` asks for at its place (`common::class_patterns`).
fn assert_grid_draws(harness: &Harness<'_, StudioApp>, classes: ClassChoice) {
    let grid = harness.state().samples().grid().unwrap();
    assert_eq!(grid.pixels_done, IMAGE_PIXELS);
    let labels = classes.labels(grid.count, &mut ChaCha8Rng::seed_from_u64(0));
    for (index, (image, &label)) in grid
        .pixels
        .chunks_exact(IMAGE_PIXELS)
        .zip(&labels)
        .enumerate()
    {
        assert!(
            image == class_patterns::image(label),
            "sample {index} is not the {label} asked for"
        );
    }
}

#[test]
fn a_conditional_model_draws_the_digit_asked_for_and_labels_its_rows() {
    // A model whose every class draws one known image, opened from a checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("patterns.safetensors");
    let trainer = class_patterns::trainer(TrainConfig::default());
    pixelcnn_studio::checkpoint::save(&path, trainer.snapshot()).unwrap();
    let mut harness = harness(tiny_settings(1), Some(path));
    harness.step();
    harness.get_by_label("Open checkpoint...").click();
    wait_until(&mut harness, "the opened model", |app| app.has_model());
    harness.get_by_label("Sample now").click();
    wait_until(&mut harness, "a grid", |app| app.samples().is_complete());
    let stamp = harness.state().samples().stamp().unwrap();
    assert_eq!(
        stamp.classes,
        Some(ClassChoice::Rows),
        "the default draws rows"
    );
    assert_grid_draws(&harness, ClassChoice::Rows);
    // The grid's caption and its image's alternative text both say so.
    assert!(harness
        .query_all_by_label_contains("row r draws digit r")
        .next()
        .is_some());
    harness.get_by_label("7").click();
    wait_until(&mut harness, "a grid of sevens", |app| {
        app.samples().is_complete()
            && app.samples().stamp().unwrap().classes == Some(ClassChoice::Digit(7))
    });
    assert_grid_draws(&harness, ClassChoice::Digit(7));
    assert!(harness
        .query_all_by_label_contains("every sample a 7")
        .next()
        .is_some());
    assert_eq!(
        harness.state().settings().controls.train.sample_classes,
        ClassChoice::Digit(7)
    );
}

#[test]
fn an_unconditional_model_has_no_draw_choice() {
    let mut harness = harness(tiny_settings(1), None);
    train_to_the_end(&mut harness);
    assert_eq!(harness.state().samples().stamp().unwrap().classes, None);
    assert!(harness.query_by_label("Draw:").is_none());
}

#[test]
fn opening_a_corrupt_checkpoint_shows_an_error_and_keeps_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.ckpt");
    std::fs::write(&corrupt, b"this is not a checkpoint").unwrap();
    let mut harness = harness(tiny_settings(1), Some(corrupt.clone()));
    train_to_the_end(&mut harness);
    let steps = harness.state().progress().global_step;
    let epochs = harness.state().curves().epochs.clone();
    harness.get_by_label("Open checkpoint...").click();
    // The (injected) file dialog answers on its own thread; then, since a trained model would
    // be replaced, the studio asks before opening anything.
    step_until(&mut harness, "confirmation asked", |harness| {
        harness.query_by_label("Yes, discard it").is_some()
    });
    harness.get_by_label("Yes, discard it").click();
    wait_until(&mut harness, "an error", |app| app.last_error().is_some());
    let error = harness.state().last_error().unwrap_or_default().to_string();
    assert!(error.contains("could not open the checkpoint"), "{error}");
    // The whole message is on the status bar, path included (wrapped, not cut off).
    harness.get_by_label_contains(&corrupt.display().to_string());
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
    train_to_the_end(&mut harness);
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
fn a_saved_checkpoint_restores_the_model_sliders_curves_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("studio.ckpt");
    let settings = tiny_settings(1);
    let tiny = settings.controls.model.clone();
    // The dialog seam answers "cancelled", as rfd does where no dialog can be shown.
    let mut harness = harness(settings, None);
    train_to_the_end(&mut harness);
    harness.get_by_label("Save checkpoint as...").click();
    wait_until(&mut harness, "the dialog answer", |app| {
        app.message().contains("no file was chosen")
    });
    // The message names the field to type in, and that field has the keyboard focus.
    assert!(harness.state().message().contains("\"Checkpoint path\""));
    settle(&mut harness);
    assert!(harness
        .get_by_role_and_label(Role::TextInput, "Checkpoint path")
        .is_focused());
    // The typed path is the fallback.
    *harness.state_mut().checkpoint_path_mut() = path.display().to_string();
    settle(&mut harness);
    harness.get_by_label("Save checkpoint as...").click();
    wait_until(&mut harness, "the save", |app| {
        app.message().contains("checkpoint saved")
    });
    assert!(path.is_file());
    assert!(!harness.state().has_unsaved_work());
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

#[test]
fn closing_with_an_unsaved_model_asks_save_discard_or_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.ckpt");
    let mut harness = harness(tiny_settings(1), None);
    // Nothing trained yet: closing just closes.
    harness.step();
    request_close(&mut harness);
    assert!(!sent_viewport_command(
        &harness,
        &egui::ViewportCommand::CancelClose
    ));
    assert!(!harness.state().is_asking_to_close());

    train_to_the_end(&mut harness);
    assert!(harness.state().has_unsaved_work());
    request_close(&mut harness);
    assert!(sent_viewport_command(
        &harness,
        &egui::ViewportCommand::CancelClose
    ));
    settle(&mut harness);
    harness.get_by_label("Save the model before closing?");
    harness.get_by_label("Cancel").click();
    settle(&mut harness);
    assert!(!harness.state().is_asking_to_close());
    assert!(!harness.state().close_allowed(), "Cancel keeps the window");

    // Save writes the typed path, then closes.
    *harness.state_mut().checkpoint_path_mut() = path.display().to_string();
    request_close(&mut harness);
    settle(&mut harness);
    harness.get_by_label("Save").click();
    step_until(&mut harness, "close after the save", |harness| {
        harness.state().close_allowed()
    });
    // The frame that saw the save asked the window to close.
    assert!(sent_viewport_command(
        &harness,
        &egui::ViewportCommand::Close
    ));
    assert!(path.is_file());

    // Discard closes at once, without writing anything.
    let mut harness = harness_with(
        tiny_settings(1),
        options(None, None),
        egui::vec2(1280.0, 800.0),
    );
    train_to_the_end(&mut harness);
    request_close(&mut harness);
    settle(&mut harness);
    harness.get_by_label("Discard").click();
    harness.step();
    assert!(harness.state().close_allowed());
    assert!(sent_viewport_command(
        &harness,
        &egui::ViewportCommand::Close
    ));
}

#[test]
fn other_runs_can_be_compared_and_removed_and_the_metrics_exported_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-run.safetensors");
    common::training::write_checkpoint(&other, 2, 4);
    let mut harness = harness(tiny_settings(1), None);
    train_to_the_end(&mut harness);
    harness.get_by_label("Compare / export...").click();
    settle(&mut harness);
    harness.state_mut().compare_fields_mut().compare_path = other.display().to_string();
    settle(&mut harness);
    harness.get_by_label("Add run").click();
    wait_until(&mut harness, "the compared run", |app| {
        !app.compared().is_empty()
    });
    let run = &harness.state().compared().runs()[0];
    assert_eq!(run.name, "other-run");
    assert_eq!(run.history.epochs.len(), 2);
    harness.get_by_label_contains("other-run: 2 epochs, best test");
    // A broken file is an error; nothing is added.
    let broken = dir.path().join("broken.safetensors");
    std::fs::write(&broken, b"nope").unwrap();
    harness.state_mut().compare_fields_mut().compare_path = broken.display().to_string();
    settle(&mut harness);
    harness.get_by_label("Add run").click();
    wait_until(&mut harness, "the error", |app| app.last_error().is_some());
    assert!(harness
        .state()
        .last_error()
        .unwrap()
        .contains("broken.safetensors"));
    assert_eq!(harness.state().compared().runs().len(), 1);
    harness.get_by_label("Remove").click();
    settle(&mut harness);
    assert!(harness.state().compared().is_empty());

    let csv = dir.path().join("metrics.csv");
    harness.state_mut().compare_fields_mut().csv_path = csv.display().to_string();
    settle(&mut harness);
    harness.get_by_label("Export CSV").click();
    wait_until(&mut harness, "the CSV", |app| {
        app.message().contains("metrics saved")
    });
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("series,epoch,step,value\n"), "{text}");
    assert!(text.contains("\ntest_cost_nats_per_pixel,1,10,"), "{text}");
    assert_eq!(text.matches("\nstep_loss_nats_per_pixel,").count(), 10);
}

#[test]
fn every_epochs_grid_is_kept_and_can_be_scrubbed_back_to() {
    let mut harness = harness(tiny_settings(3), None);
    train_to_the_end(&mut harness);
    let kept: Vec<f64> = harness
        .state()
        .samples()
        .history()
        .iter()
        .map(|s| s.epoch)
        .collect();
    assert_eq!(kept, [1.0, 2.0, 3.0]);
    harness
        .get_by_role_and_label(Role::Slider, "Epoch grid")
        .set_value_accesskit(2.0);
    settle(&mut harness);
    let shown = harness.state().samples().shown_stamp().unwrap();
    assert_eq!((shown.epoch, shown.kind), (2.0, SampleKind::EpochEnd));
    harness.get_by_label("sample grid: end of epoch 2, step 20");
    harness.get_by_label("Live").click();
    settle(&mut harness);
    assert_eq!(harness.state().samples().scrubbed(), None);
    harness.get_by_label("sample grid: end of epoch 3, step 30");
}
