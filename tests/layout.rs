//! The studio's layout at every window size: image snapshots of the three tabs (Training,
//! Inspector, Explore) at 800x500, 1024x768, 1280x720 and 1600x1000, and at those sizes and
//! more a check that no two panels overlap and none leaves the window, from the rectangles each
//! panel records while it is drawn; the same with the run bar (a run of this studio's, then a
//! followed one) and the Runs window open, which stays inside the window. A fixed run is replayed into the studio, so the pictures
//! are the same on every machine.

// Tests assert by unwrapping; helpers are not `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::studio::{harness_with, options, settle, step_until, synthetic, wait_until};
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use pixelcnn_studio::messages::{RunProgress, WorkerEvent, WorkerState};
use pixelcnn_studio::model::{ClassChoice, ModelConfig, SampleGrid};
use pixelcnn_studio::run::identity::WriterId;
use pixelcnn_studio::run::status::{FORMAT_NAME, FORMAT_VERSION};
use pixelcnn_studio::run::{Activity, RunFiles, RunState, RunStatus};
use pixelcnn_studio::train::{
    EpochRecord, History, ModelSnapshot, SampleKind, SampleStamp, SettingsRecord, StepPoint,
    TrainConfig, Trainer,
};
use pixelcnn_studio::ui::panel_rects::{self, PanelRect};
use pixelcnn_studio::ui::{StudioApp, StudioOptions, Tab, UiCommand, UiSettings};

/// The sizes the snapshots are taken at: the minimum window, two common laptop screens and a
/// large window.
const SNAPSHOT_SIZES: [(f32, f32); 4] = [
    (800.0, 500.0),
    (1024.0, 768.0),
    (1280.0, 720.0),
    (1600.0, 1000.0),
];

/// More sizes the overlap check runs at (no pictures).
const MORE_SIZES: [(f32, f32); 5] = [
    (900.0, 600.0),
    (1100.0, 768.0),
    (1280.0, 800.0),
    (1366.0, 768.0),
    (1920.0, 1080.0),
];

fn harness_at(width: f32, height: f32) -> Harness<'static, StudioApp> {
    harness_with(
        UiSettings::default(),
        options(None, None),
        egui::vec2(width, height),
    )
}

/// The model of the replayed run: the studio's default (gated, conditional).
fn replayed_model() -> ModelConfig {
    let mut model = ModelConfig::gated();
    model.set_conditional(true).unwrap();
    model
}

/// A fixed history and grid, replayed as worker events, so pictures are deterministic.
pub fn replay_a_finished_run(app: &mut StudioApp) {
    let steps: Vec<StepPoint> = (1..=300u64)
        .map(|i| {
            let epoch = i as f64 / 100.0;
            let wiggle = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
            StepPoint {
                epoch,
                loss_nats_per_pixel: 0.09 + 0.2 / (1.0 + 4.0 * epoch) + 0.01 * wiggle,
                global_step: i,
            }
        })
        .collect();
    let mut history = History::default();
    for (epoch, learning_rate) in [(0.0, 1e-3), (2.0, 3e-4)] {
        history.record_settings(SettingsRecord {
            epoch,
            global_step: (epoch * 100.0) as u64,
            learning_rate,
            batch_size: 100,
            steps_per_epoch: 100,
        });
    }
    let progress = RunProgress {
        epochs_done: 3,
        epochs_target: 3,
        step_in_epoch: 0,
        steps_per_epoch: 100,
        global_step: 300,
        images_per_sec: 0.0,
        batch_size: 100,
    };
    app.on_worker_event(WorkerEvent::Started {
        model: replayed_model(),
        train: TrainConfig {
            epochs: 3,
            learning_rate: 3e-3,
            ..TrainConfig::default()
        },
        history,
        progress,
    });
    app.on_worker_event(WorkerEvent::Steps {
        points: steps,
        progress,
    });
    for epoch in 1..=3 {
        let e = epoch as f64;
        app.on_worker_event(WorkerEvent::EpochFinished {
            record: EpochRecord {
                epoch,
                train_cost_nats_per_pixel: 0.09 + 0.2 / (1.0 + 4.0 * (e - 0.5)),
                test_cost_nats_per_pixel: 0.092 + 0.2 / (1.0 + 4.0 * e),
                images_per_sec: 1000.0,
                elapsed_secs: 10.0,
            },
            progress,
        });
    }
    // A deterministic grid: the synthetic digits, thresholded.
    let data = pixelcnn_studio::data::Dataset::synthetic(100, 5);
    let mut grid = SampleGrid::blank(100);
    for (out, &ink) in grid.pixels.iter_mut().zip(&data.images) {
        *out = if ink > 127 { 1.0 } else { 0.0 };
    }
    grid.pixels_done = 784;
    app.on_worker_event(WorkerEvent::SamplesReady {
        stamp: SampleStamp {
            epoch: 3.0,
            global_step: 300,
            kind: SampleKind::EpochEnd,
            classes: Some(ClassChoice::Rows),
            style: None,
        },
        grid,
    });
    app.on_worker_event(WorkerEvent::State(WorkerState::Finished));
}

/// The studio at `width` x `height` with the fixed run replayed and the speed estimate in.
fn replayed_studio(width: f32, height: f32) -> Harness<'static, StudioApp> {
    let mut harness = harness_at(width, height);
    harness.step();
    replay_a_finished_run(harness.state_mut());
    harness.remove_cursor();
    wait_until(&mut harness, "the speed estimate", |app| {
        app.estimate_text().starts_with("about")
    });
    harness
}

/// Shows `tab`. For Explore, the weights the tab asks the worker for are answered with a fixed
/// (seeded, untrained) copy of the replayed model, and ten completions are drawn.
fn show_tab(harness: &mut Harness<'static, StudioApp>, tab: Tab) {
    // The tab bar's button (the controls have a "Training" heading too).
    harness
        .get_by_role_and_label(Role::Button, tab.label())
        .click();
    settle(harness);
    if tab == Tab::Explore {
        // The worker holds no model (the run was replayed) and says so; the fixed weights
        // answer in its place, and a fixed line replaces its message.
        wait_until(harness, "the worker's answer", |app| {
            app.message().contains("no model to explore")
        });
        let trainer = Trainer::new(replayed_model(), TrainConfig::default()).unwrap();
        let mut snapshot = ModelSnapshot::of(&trainer);
        snapshot.global_step = 300;
        snapshot.epochs_done = 3;
        let app = harness.state_mut();
        app.on_worker_event(WorkerEvent::WeightsSnapshot(snapshot));
        app.on_worker_event(WorkerEvent::Message(
            "opened checkpoint gated.safetensors (3 epochs trained)".into(),
        ));
        wait_until(harness, "the heatmap", |app| app.explore().map_is_current());
        // Below the fold in a small window: scrolled to first, as a user would.
        harness.get_by_label("Complete").scroll_to_me();
        settle(harness);
        harness.get_by_label("Complete").click();
        wait_until(harness, "the completions", |app| {
            app.explore().completions().is_some_and(|(_, done, _)| done)
        });
    }
    harness.remove_cursor();
    settle(harness);
}

/// The recorded rectangle of panel `name`, if it was drawn.
fn panel(rects: &[PanelRect], name: &str) -> Option<egui::Rect> {
    rects.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// Fails when two of the tab's panels overlap, when one leaves the window, or (Explore) when a
/// column overlaps another or runs past the tab's right edge.
fn assert_panels_hold(harness: &Harness<'static, StudioApp>, tab: Tab, size: (f32, f32)) {
    let rects = panel_rects::recorded(&harness.ctx);
    let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(size.0, size.1));
    let tab_panels: &[&str] = match tab {
        Tab::Training => &["curves", "samples"],
        Tab::Inspector => {
            if panel(&rects, "inspector").is_some() {
                &["inspector"]
            } else {
                &["masks and layers", "receptive field"]
            }
        }
        Tab::Explore => &["explore"],
    };
    // The run bar is drawn only while a run is shown.
    let run_bar: &[&str] = if panel(&rects, "run bar").is_some() {
        &["run bar"]
    } else {
        &[]
    };
    let names: Vec<&str> = ["menu bar", "status bar", "controls"]
        .iter()
        .chain(run_bar)
        .chain(tab_panels)
        .copied()
        .collect();
    let mut top: Vec<PanelRect> = Vec::new();
    for name in names {
        let rect = panel(&rects, name)
            .unwrap_or_else(|| panic!("{tab:?} at {size:?}: panel '{name}' not drawn: {rects:?}"));
        assert!(
            screen.expand(0.5).contains_rect(rect),
            "{tab:?} at {size:?}: '{name}' {rect:?} leaves the window {screen:?}; all: {rects:?}"
        );
        top.push((rects.iter().find(|(n, _)| *n == name).unwrap().0, rect));
    }
    if let Some((a, b)) = panel_rects::first_overlap(&top, 0.5) {
        panic!(
            "{tab:?} at {size:?}: '{}' {:?} overlaps '{}' {:?}",
            a.0, a.1, b.0, b.1
        );
    }
    if tab == Tab::Explore {
        let area = panel(&rects, "explore").unwrap();
        let columns: Vec<PanelRect> = rects
            .iter()
            .filter(|(n, _)| n.starts_with("explore: "))
            .copied()
            .collect();
        assert_eq!(columns.len(), 3, "{rects:?}");
        if let Some((a, b)) = panel_rects::first_overlap(&columns, 0.5) {
            panic!(
                "Explore at {size:?}: '{}' {:?} overlaps '{}' {:?}",
                a.0, a.1, b.0, b.1
            );
        }
        for (name, rect) in columns {
            assert!(
                rect.right() <= area.right() + 0.5 && rect.left() >= area.left() - 0.5,
                "Explore at {size:?}: '{name}' {rect:?} runs past the tab {area:?}"
            );
        }
    }
}

/// Every tab at `width` x `height`: the panels hold, and (when asked) a snapshot of each.
fn check_every_tab(width: f32, height: f32, snapshots: bool) {
    let mut harness = replayed_studio(width, height);
    let size = format!("{width}x{height}");
    for tab in Tab::ALL {
        show_tab(&mut harness, tab);
        assert_panels_hold(&harness, tab, (width, height));
        if snapshots {
            let name = tab.label().to_lowercase();
            harness.snapshot(format!("studio_{name}_{size}"));
        }
    }
}

#[test]
fn every_tab_at_the_smallest_window() {
    let (width, height) = SNAPSHOT_SIZES[0];
    check_every_tab(width, height, true);
}

#[test]
fn every_tab_at_1024x768() {
    let (width, height) = SNAPSHOT_SIZES[1];
    check_every_tab(width, height, true);
}

#[test]
fn every_tab_at_1280x720() {
    let (width, height) = SNAPSHOT_SIZES[2];
    check_every_tab(width, height, true);
}

#[test]
fn every_tab_at_a_large_window() {
    let (width, height) = SNAPSHOT_SIZES[3];
    check_every_tab(width, height, true);
}

#[test]
fn no_panels_overlap_at_other_common_sizes() {
    for (width, height) in MORE_SIZES {
        check_every_tab(width, height, false);
    }
}

/// Panels keep the sizes they had (egui remembers them, across launches too): shrinking the
/// window from a large one, whose samples and receptive-field panels were wide, must not push
/// them over the curves or the layer table.
#[test]
fn shrinking_a_large_window_keeps_the_panels_apart() {
    let mut harness = replayed_studio(1600.0, 1000.0);
    for tab in [Tab::Inspector, Tab::Training] {
        show_tab(&mut harness, tab);
    }
    for (width, height) in [(1150.0, 768.0), (1024.0, 768.0), (800.0, 500.0)] {
        harness.set_size(egui::vec2(width, height));
        for tab in [Tab::Training, Tab::Inspector] {
            show_tab(&mut harness, tab);
            assert_panels_hold(&harness, tab, (width, height));
        }
    }
}

/// The layer table of every preset is readable whole beside the receptive field at 1280 points
/// wide: no column cut off behind a horizontal scroll.
#[test]
fn the_layer_table_fits_beside_the_receptive_field_at_1280() {
    let presets = [ModelConfig::seed(), ModelConfig::paper(), replayed_model()];
    for model in presets {
        for height in [720.0, 800.0] {
            let mut settings = UiSettings::default();
            settings.controls.model = model.clone();
            let mut harness = harness_with(
                settings,
                StudioOptions::headless(synthetic()),
                egui::vec2(1280.0, height),
            );
            harness.step();
            show_tab(&mut harness, Tab::Inspector);
            assert_panels_hold(&harness, Tab::Inspector, (1280.0, height));
            let rects = panel_rects::recorded(&harness.ctx);
            let table = panel(&rects, "layer table").expect("a layer table");
            let area = panel(&rects, "masks and layers").expect("the table beside the field");
            assert!(
                table.left() >= area.left() - 0.5 && table.right() <= area.right() + 0.5,
                "{model:?} at 1280x{height}: the table {table:?} is cut off in {area:?}"
            );
        }
    }
}

/// Writes a run folder `name` in `runs` holding only its state file: a stopped run of this
/// machine's, or (`live`) one that a process on another machine trains now.
fn write_run(runs: &std::path::Path, name: &str, live: bool) -> std::path::PathBuf {
    let dir = runs.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let writer = if live {
        WriterId {
            program: "train".into(),
            pid: 4242,
            host: "gpu-box-in-the-basement".into(),
            boot_id: "another-machine".into(),
            start_ticks: None,
        }
    } else {
        WriterId::this_process("studio")
    };
    let status = RunStatus {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        name: name.into(),
        preset: "gated".into(),
        conditional: true,
        state: if live {
            RunState::Live
        } else {
            RunState::Stopped
        },
        activity: if live {
            Activity::Training
        } else {
            Activity::Idle
        },
        writer,
        device: if live { "cuda" } else { "cpu" }.into(),
        created_unix_ms: now_ms,
        heartbeat_unix_ms: now_ms,
        epochs_done: 3,
        epochs_target: 50,
        step_in_epoch: 120,
        steps_per_epoch: 600,
        global_step: 1920,
        batch_size: 100,
        images_per_sec: 2345.6,
        last_test_cost_nats_per_pixel: Some(0.1123),
        best_test_cost_nats_per_pixel: Some(0.1101),
        ..RunStatus::default()
    };
    status.write(&RunFiles::new(&dir).status()).unwrap();
    dir
}

/// The run bar and the Runs window at every size: the studio's own run shown in the bar with
/// the Runs window open over the training tab (two runs listed, one selected), then a run
/// another machine trains followed (the bar says where it runs). The panels still hold, and
/// the window stays inside the studio's.
#[test]
fn the_run_bar_and_the_runs_window_hold_at_every_size() {
    let data = tempfile::tempdir().unwrap();
    let runs = data.path().join("runs");
    let own = write_run(&runs, "20260503-154210-gated-3f9a2c", false);
    let remote = write_run(&runs, "20260504-101500-gated-large-77aa01", true);
    for (width, height) in SNAPSHOT_SIZES.into_iter().chain(MORE_SIZES) {
        let mut harness = harness_with(
            UiSettings::default(),
            options(None, Some(data.path().to_path_buf())),
            egui::vec2(width, height),
        );
        harness.step();
        replay_a_finished_run(harness.state_mut());
        harness
            .state_mut()
            .on_worker_event(WorkerEvent::RunAttached {
                dir: own.clone(),
                name: "20260503-154210-gated-3f9a2c".into(),
                writing: true,
            });
        harness.state_mut().apply(UiCommand::ShowRuns);
        wait_until(&mut harness, "the runs listed", |app| {
            app.runs().listed.len() == 2
        });
        harness.state_mut().runs_mut().selected = Some(remote.clone());
        harness.remove_cursor();
        settle(&mut harness);
        let size = (width, height);
        let check = |harness: &Harness<'static, StudioApp>, what: &str| {
            assert_panels_hold(harness, Tab::Training, size);
            let rects = panel_rects::recorded(&harness.ctx);
            assert!(
                panel(&rects, "run bar").is_some(),
                "{what}: no run bar: {rects:?}"
            );
            let window = panel(&rects, "runs window").expect("the Runs window");
            let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(width, height));
            assert!(
                screen.expand(0.5).contains_rect(window),
                "{what} at {size:?}: the Runs window {window:?} leaves the studio's"
            );
        };
        check(&harness, "the studio's run");
        harness.get_by_label("Open").click();
        step_until(&mut harness, "the followed run", |harness| {
            harness
                .state()
                .following()
                .is_some_and(|f| f.summary.is_some())
        });
        harness.remove_cursor();
        settle(&mut harness);
        harness.get_by_label_contains("Following 20260504-101500-gated-large-77aa01");
        check(&harness, "the followed run");
        // Closed, the window leaves the followed run's bar over the tab.
        harness.state_mut().runs_mut().open = false;
        settle(&mut harness);
        assert_panels_hold(&harness, Tab::Training, size);
    }
}
