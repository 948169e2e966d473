//! The studio's small items, each seen through egui_kittest: run buttons that stay where they
//! are, a grid drawn after a finished run labelled "after epoch N", no `cuda` in a build
//! without it, a tooltip on locked presets saying why, a test evaluation's rate and time left,
//! and completions that leave with the image they belong to.

// Tests assert by unwrapping; helpers are not `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::studio::{harness_with, options, tiny_settings, train_to_the_end, wait_until};
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use pixelcnn_studio::messages::{WorkerEvent, WorkerState};
use pixelcnn_studio::train::DeviceChoice;
use pixelcnn_studio::ui::explore::ImageOrigin;
use pixelcnn_studio::ui::{StudioApp, Tab, UiSettings};

fn harness_at(settings: UiSettings, size: egui::Vec2) -> Harness<'static, StudioApp> {
    harness_with(settings, options(None, None), size)
}

fn button_rect(harness: &Harness<'_, StudioApp>, label: &str) -> egui::Rect {
    harness.get_by_role_and_label(Role::Button, label).rect()
}

#[test]
fn the_run_buttons_stay_where_they_are_when_training_starts_and_the_architecture_locks() {
    // The smallest window: where the lock notice used to push the buttons below the fold.
    let mut harness = harness_at(tiny_settings(500), egui::vec2(800.0, 500.0));
    harness.step();
    let stop_idle = button_rect(&harness, "Stop");
    let first_idle = button_rect(&harness, "Start");
    harness.get_by_label("Start").click();
    wait_until(&mut harness, "training", |app| {
        app.has_model() && app.state() == WorkerState::Training
    });
    assert_eq!(button_rect(&harness, "Stop"), stop_idle, "Stop moved");
    assert_eq!(
        button_rect(&harness, "Pause"),
        first_idle,
        "the first button moved"
    );
    harness.get_by_label_contains("The architecture is locked");
    harness.get_by_label("Stop").click();
    wait_until(&mut harness, "the stop", |app| {
        app.state() == WorkerState::Stopped
    });
    assert_eq!(button_rect(&harness, "Stop"), stop_idle);
    assert_eq!(button_rect(&harness, "Continue"), first_idle);
    // Every run button is inside the window.
    let window = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(800.0, 500.0));
    for label in ["Continue", "Stop", "Reset", "Sample now"] {
        assert!(
            window.contains_rect(button_rect(&harness, label)),
            "{label}"
        );
    }
}

#[test]
fn a_grid_drawn_after_a_finished_run_is_labelled_after_its_last_epoch() {
    let mut harness = harness_at(tiny_settings(2), egui::vec2(1280.0, 800.0));
    train_to_the_end(&mut harness);
    harness.get_by_label("sample grid: end of epoch 2, step 20");
    harness.key_press(egui::Key::F5);
    wait_until(&mut harness, "the grid of F5", |app| {
        app.samples()
            .stamp()
            .is_some_and(|s| s.kind == pixelcnn_studio::train::SampleKind::OnDemand)
            && app.samples().is_complete()
    });
    harness.get_by_label("sample grid: after epoch 2, step 20");
    assert!(harness.query_by_label_contains("during epoch 3").is_none());
}

#[test]
fn cuda_is_offered_only_in_a_build_with_cuda() {
    let mut settings = tiny_settings(1);
    // A device remembered from a build that had CUDA.
    settings.controls.device = DeviceChoice::Cuda;
    let mut harness = harness_at(settings, egui::vec2(1280.0, 800.0));
    harness.step();
    harness.step();
    harness.get_by_label("cpu");
    if cfg!(feature = "cuda") {
        harness.get_by_label("cuda");
        assert_eq!(
            harness.state().settings().controls.device,
            DeviceChoice::Cuda
        );
    } else {
        assert!(harness.query_by_label("cuda").is_none(), "cuda offered");
        assert_eq!(
            harness.state().settings().controls.device,
            DeviceChoice::FastCpu
        );
    }
}

#[test]
fn a_locked_preset_says_why_in_its_tooltip() {
    let mut harness = harness_at(tiny_settings(1), egui::vec2(1280.0, 800.0));
    train_to_the_end(&mut harness);
    harness.get_by_label("seed").hover();
    for _ in 0..90 {
        harness.step();
    }
    let tooltip = harness.get_by_label_contains("Locked while a model exists");
    let text = format!("{tooltip:?}");
    assert!(text.contains("Reset"), "{text}");
}

#[test]
fn a_long_test_evaluation_shows_its_rate_and_time_left() {
    let mut harness = harness_at(tiny_settings(1), egui::vec2(1280.0, 800.0));
    harness.step();
    let evaluating = |harness: &mut Harness<'_, StudioApp>, done: usize| {
        harness
            .state_mut()
            .on_worker_event(WorkerEvent::Evaluating {
                images_done: done,
                images_total: 10_000,
            });
        // Half a second of studio time between reports.
        for _ in 0..30 {
            harness.step();
        }
    };
    harness
        .state_mut()
        .on_worker_event(WorkerEvent::State(WorkerState::Evaluating));
    evaluating(&mut harness, 0);
    evaluating(&mut harness, 500);
    evaluating(&mut harness, 1000);
    harness.get_by_label("evaluating 1,000/10,000 test images");
    harness.get_by_label_contains("test images/s");
    let eta = harness.get_by_label_contains("evaluation ETA");
    assert!(!format!("{eta:?}").contains("evaluation ETA -"), "{eta:?}");
}

#[test]
fn moving_to_another_image_clears_the_old_images_completions() {
    let mut harness = harness_at(tiny_settings(1), egui::vec2(1280.0, 800.0));
    harness.step();
    harness.get_by_label("Start").click();
    wait_until(&mut harness, "the run to finish", |app| {
        app.state() == WorkerState::Finished
    });
    harness
        .get_by_role_and_label(Role::Button, Tab::Explore.label())
        .click();
    wait_until(&mut harness, "a heatmap of test image 0", |app| {
        app.explore().map_is_current()
            && matches!(app.explore().origin(), ImageOrigin::Test { index: 0, .. })
    });
    harness.get_by_label("Complete").click();
    wait_until(&mut harness, "the completions", |app| {
        app.explore().completions().is_some_and(|(_, done, _)| done)
    });
    harness.get_by_label(">").click();
    wait_until(&mut harness, "test image 1", |app| {
        matches!(app.explore().origin(), ImageOrigin::Test { index: 1, .. })
    });
    assert!(
        harness.state().explore().completions().is_none(),
        "test image 0's completions are still shown"
    );
    assert!(harness
        .query_by_label_contains("completions by the model after")
        .is_none());
    // And Clear forgets them too.
    harness.get_by_label("Complete").click();
    wait_until(&mut harness, "the completions", |app| {
        app.explore().completions().is_some_and(|(_, done, _)| done)
    });
    harness.get_by_label("Clear").click();
    wait_until(&mut harness, "the blank canvas", |app| {
        app.explore().image().iter().all(|&p| p == 0.0)
    });
    assert!(harness.state().explore().completions().is_none());
}
