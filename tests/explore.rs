//! Exploring a model: likelihood maps that add up to `eval`'s cost, completions that keep their
//! prefix and match the straightforward sampler, the explorer thread, PNG input, the `nll-map`
//! and `complete` subcommands, and the Explore tab. (The worker's weight snapshots, which the
//! explorer runs, are tested in `tests/worker.rs`.)

// Tests assert by unwrapping; helpers are not `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::cli::{assert_clean_error, json_of, run_json, studio};
use common::relative_gap;
use common::studio::{harness, wait_until};
use common::threads::next_matching;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use pixelcnn_studio::data::{
    binarize_fixed, binarize_fixed_image, default_data_dir, load_mnist, DataSource, Mnist,
    IMAGE_PIXELS,
};
use pixelcnn_studio::explore::completion::{completion_labels, prefix_grid};
use pixelcnn_studio::explore::image_input::encode_png;
use pixelcnn_studio::explore::{
    complete, nll_map, read_image_png, CompletionSpec, ExploreEvent, ExploreRequest, Explorer,
    Hole, ImageInputError,
};
use pixelcnn_studio::messages::WorkerState;
use pixelcnn_studio::model::cpu::sampler::sample_naive_pixels;
use pixelcnn_studio::model::{CpuNet, ModelConfig};
use pixelcnn_studio::train::{evaluate_cost, Backend, DeviceChoice, ModelSnapshot, Trainer};
use pixelcnn_studio::ui::explore::{CompletionMode, ImageOrigin, CANVAS_LABEL};
use pixelcnn_studio::ui::{StudioApp, Tab, UiSettings};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A tiny model trained for 3 steps on synthetic digits, and that data.
fn trained(model: ModelConfig) -> (Trainer, Mnist) {
    let data = Mnist::synthetic(100, 12, 4);
    (common::trained_model(model, &data, 3), data)
}

/// The network of the weights the trainer evaluates and samples with (the averaged ones).
fn net_of(trainer: &Trainer) -> CpuNet {
    CpuNet::new(trainer.model_config(), trainer.snapshot().eval_params())
}

#[test]
fn the_heatmap_of_a_test_image_sums_to_the_cost_eval_gives_that_image() {
    for model in common::tiny_models() {
        let conditional = model.conditional();
        let (mut trainer, data) = trained(model);
        let net = net_of(&trainer);
        let backend = Backend::new(
            DeviceChoice::FastCpu,
            trainer.model_config(),
            trainer.snapshot().eval_params(),
        )
        .unwrap();
        for index in [0, 5, 11] {
            let image = binarize_fixed_image(&data.test.images, index).unwrap();
            let label = data.test.label(index);
            let map = nll_map(&net, &image, label).unwrap();
            assert_eq!(map.cost_nats.len(), IMAGE_PIXELS);
            assert!(map.cost_nats.iter().all(|&c| c >= 0.0));
            // The image exactly as eval binarizes the test set, scored the way eval scores it.
            let upto = binarize_fixed(&data.test.images[..(index + 1) * IMAGE_PIXELS]);
            let eval_image = &upto[index * IMAGE_PIXELS..];
            assert_eq!(eval_image, image.as_slice());
            let eval_nll = evaluate_cost(&backend, eval_image, label.as_slice(), 1).unwrap()
                * IMAGE_PIXELS as f64;
            assert!(
                relative_gap(map.nll_nats(), eval_nll) < 1e-4,
                "{:?} image {index}: heatmap sum {} vs eval {eval_nll}",
                trainer.model_config(),
                map.nll_nats()
            );
            // A conditional model scores the same pixels differently as another digit.
            let other = label.map(|l| (l + 1) % 10);
            let as_other = nll_map(&net, &image, other).unwrap().nll_nats();
            assert_eq!(as_other != map.nll_nats(), conditional);
        }
        // And through the trainer's own test cost, limited to the first image.
        let mut config = trainer.config().clone();
        config.test_limit = Some(1);
        trainer.set_config(config).unwrap();
        let eval_nll = trainer.test_cost(&data.test).unwrap() * IMAGE_PIXELS as f64;
        let first = binarize_fixed_image(&data.test.images, 0).unwrap();
        let map = nll_map(&net, &first, data.test.label(0)).unwrap();
        assert!(relative_gap(map.nll_nats(), eval_nll) < 1e-4);
        let bits = map.nll_nats() / IMAGE_PIXELS as f64 / std::f64::consts::LN_2;
        assert!((map.bits_per_dim() - bits).abs() < 1e-12);
    }
}

#[test]
fn a_completion_keeps_its_prefix_exactly_and_matches_the_straightforward_sampler() {
    for model in common::tiny_models() {
        let (trainer, data) = trained(model);
        let net = net_of(&trainer);
        let image = binarize_fixed_image(&data.test.images, 3).unwrap();
        let hole = Hole::spanning((9, 6), (15, 20));
        for keep_pixels in [0, 10 * 28, hole.first_pixel(), IMAGE_PIXELS] {
            let spec = CompletionSpec {
                keep_pixels,
                count: 3,
                label: Some(3),
                seed: 17,
            };
            let mut rows = 0;
            let fast = complete(&net, &image, spec, &mut |_| rows += 1).unwrap();
            let start = prefix_grid(&image, keep_pixels, spec.count).unwrap();
            let (naive, _) = sample_naive_pixels(
                &net,
                start,
                &completion_labels(spec),
                IMAGE_PIXELS,
                &mut ChaCha8Rng::seed_from_u64(17),
                &mut |_| {},
            );
            assert_eq!(
                fast.pixels,
                naive.pixels,
                "{:?}, keep {keep_pixels}: same seed, same prefix, same pixels",
                trainer.model_config()
            );
            assert_eq!(fast.pixels_done, IMAGE_PIXELS);
            assert_eq!(rows, 28 - keep_pixels / 28, "progress after each drawn row");
            for completion in fast.pixels.chunks_exact(IMAGE_PIXELS) {
                assert_eq!(
                    completion[..keep_pixels],
                    image[..keep_pixels],
                    "prefix kept"
                );
                assert!(completion.iter().all(|&p| p == 0.0 || p == 1.0));
            }
        }
        // The drawn part depends on the seed.
        let spec = |seed| CompletionSpec {
            keep_pixels: 0,
            count: 4,
            label: Some(3),
            seed,
        };
        let a = complete(&net, &image, spec(1), &mut |_| {}).unwrap();
        let b = complete(&net, &image, spec(2), &mut |_| {}).unwrap();
        assert_ne!(a.pixels, b.pixels);
    }
}

#[test]
fn a_png_of_the_wrong_size_or_a_file_that_is_no_image_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.png");
    image::GrayImage::new(64, 48).save(&big).unwrap();
    let err = read_image_png(&big).unwrap_err();
    assert!(matches!(
        err,
        ImageInputError::WrongSize {
            width: 64,
            height: 48,
            ..
        }
    ));
    let text = err.to_string();
    assert!(
        text.contains("64x48") && text.contains("not 28x28"),
        "{text}"
    );
    assert!(text.ends_with("big.png"), "the path last: {text}");

    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a picture").unwrap();
    let err = read_image_png(&notes).unwrap_err();
    assert!(matches!(err, ImageInputError::NotPng { .. }), "{err}");

    let missing = read_image_png(&dir.path().join("missing.png")).unwrap_err();
    assert!(matches!(missing, ImageInputError::Read { .. }), "{missing}");

    // A colour 28x28 PNG is turned grey and thresholded at 128.
    let colour = dir.path().join("colour.png");
    let mut rgb = image::RgbImage::new(28, 28);
    rgb.put_pixel(3, 2, image::Rgb([255, 255, 255]));
    rgb.put_pixel(4, 2, image::Rgb([100, 100, 100]));
    rgb.save(&colour).unwrap();
    let pixels = read_image_png(&colour).unwrap();
    assert_eq!(pixels.iter().filter(|&&p| p == 1.0).count(), 1);
    assert_eq!(pixels[2 * 28 + 3], 1.0);
}

#[test]
fn the_explorer_thread_serves_test_images_maps_and_completions_then_joins() {
    // A conditional model: the label travels with every request.
    let (trainer, _) = trained(common::tiny_gated_model(true));
    let net = net_of(&trainer);
    let (repaint, witness) = common::threads::repaint_with_witness();
    let explorer = Explorer::spawn(repaint).unwrap();
    let data = DataSource::Synthetic {
        train: 100,
        test: 12,
        seed: 4,
    };

    explorer
        .send(ExploreRequest::NllMap {
            id: 1,
            image: vec![0.0; IMAGE_PIXELS],
            label: None,
        })
        .unwrap();
    let message = next_matching(&explorer, |e| match e {
        ExploreEvent::Failed { id: 1, message } => Some(message),
        _ => None,
    });
    assert!(message.contains("no model"), "{message}");

    explorer
        .send(ExploreRequest::TestImage {
            data: data.clone(),
            index: 7,
        })
        .unwrap();
    let (count, label, image) = next_matching(&explorer, |e| match e {
        ExploreEvent::TestImage {
            index: 7,
            count,
            label,
            pixels,
        } => Some((count, label, pixels)),
        _ => None,
    });
    assert_eq!((count, label), (12, Some(7)));
    let synthetic = Mnist::synthetic(100, 12, 4);
    assert_eq!(
        image,
        binarize_fixed_image(&synthetic.test.images, 7).unwrap()
    );

    explorer
        .send(ExploreRequest::SetModel(ModelSnapshot::of(&trainer)))
        .unwrap();
    explorer
        .send(ExploreRequest::NllMap {
            id: 2,
            image: image.clone(),
            label: Some(7),
        })
        .unwrap();
    let (step, map) = next_matching(&explorer, |e| match e {
        ExploreEvent::NllMap {
            id: 2,
            global_step,
            map,
        } => Some((global_step, map)),
        _ => None,
    });
    assert_eq!(step, 3);
    assert_eq!(map, nll_map(&net, &image, Some(7)).unwrap());

    let spec = CompletionSpec {
        keep_pixels: 12 * 28,
        count: 5,
        label: Some(2),
        seed: 9,
    };
    explorer
        .send(ExploreRequest::Complete {
            id: 3,
            image: image.clone(),
            spec,
        })
        .unwrap();
    let grid = next_matching(&explorer, |e| match e {
        ExploreEvent::Completed { id: 3, grid, .. } => Some(grid),
        _ => None,
    });
    assert_eq!(grid, complete(&net, &image, spec, &mut |_| {}).unwrap());

    assert!(!common::threads::witness_released(&witness));
    common::threads::drop_and_wait_for_the_join(explorer, "the explorer's handle");
    assert!(
        common::threads::witness_released(&witness),
        "the thread ended with its state"
    );
}

// --- The command line -----------------------------------------------------------------------

/// A small checkpoint trained briefly on real MNIST, in `dir`.
fn checkpoint_in(dir: &Path) -> PathBuf {
    run_json(
        dir,
        &[
            "train",
            "--maps",
            "8",
            "--layers",
            "1",
            "--train-limit",
            "300",
            "--test-limit",
            "20",
            "--batch-size",
            "50",
            "--json",
            "--out",
            "ck.safetensors",
        ],
    );
    dir.join("ck.safetensors")
}

#[test]
fn nll_map_and_complete_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint_in(dir.path());

    // nll-map: the heatmap's total is eval's cost of that one image.
    let map = run_json(
        dir.path(),
        &[
            "nll-map",
            "--checkpoint",
            "ck.safetensors",
            "--test-index",
            "0",
            "--out",
            "map.png",
            "--json",
        ],
    );
    let costs: Vec<f64> = map["pixel_costs_nats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_f64().unwrap())
        .collect();
    assert_eq!(costs.len(), 784);
    let nll = map["nll_nats"].as_f64().unwrap();
    assert!(relative_gap(costs.iter().sum(), nll) < 1e-9);
    let eval = run_json(
        dir.path(),
        &[
            "eval",
            "--checkpoint",
            "ck.safetensors",
            "--test-limit",
            "1",
            "--json",
        ],
    );
    let eval_nll = eval["test_nll_nats_per_image"].as_f64().unwrap();
    assert!(
        relative_gap(nll, eval_nll) < 1e-4,
        "{nll} vs eval {eval_nll}"
    );
    assert!(
        relative_gap(
            map["bits_per_dim"].as_f64().unwrap(),
            eval["test_bits_per_dim"].as_f64().unwrap()
        ) < 1e-4
    );
    let png = image::open(dir.path().join("map.png")).unwrap();
    assert_eq!((png.width(), png.height()), (280, 280));

    // complete: the kept rows are the test image's, the same seed gives the same completions.
    let args = [
        "complete",
        "--checkpoint",
        "ck.safetensors",
        "--test-index",
        "0",
        "--keep-rows",
        "14",
        "--count",
        "4",
        "--seed",
        "3",
        "--out",
        "grid.png",
        "--json",
    ];
    let first = run_json(dir.path(), &args);
    let again = run_json(dir.path(), &args);
    assert_eq!(first["completions"], again["completions"]);
    let mnist = load_mnist(&default_data_dir()).unwrap();
    let original = binarize_fixed_image(&mnist.test.images, 0).unwrap();
    let completions = first["completions"].as_array().unwrap();
    assert_eq!(completions.len(), 4);
    for completion in completions {
        let pixels: Vec<f32> = completion["pixels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(pixels.len(), 784);
        assert_eq!(pixels[..14 * 28], original[..14 * 28], "kept rows");
        assert!(completion["nll_nats"].as_f64().unwrap() > 0.0);
    }
    let sheet = image::open(dir.path().join("grid.png")).unwrap();
    assert_eq!(
        (sheet.width(), sheet.height()),
        (5 * 30 * 4 + 8, 30 * 4 + 8)
    );

    // --image reads a 28x28 PNG: the test image written out scores the same.
    std::fs::write(dir.path().join("digit.png"), encode_png(&original).unwrap()).unwrap();
    let from_file = run_json(
        dir.path(),
        &[
            "nll-map",
            "--checkpoint",
            "ck.safetensors",
            "--image",
            "digit.png",
            "--json",
        ],
    );
    assert_eq!(from_file["nll_nats"], map["nll_nats"]);
    assert_eq!(from_file["source"]["image"], "digit.png");

    let past_the_end = studio()
        .args([
            "nll-map",
            "--checkpoint",
            "ck.safetensors",
            "--test-index",
            "10000",
        ])
        .current_dir(dir.path())
        .assert();
    assert_clean_error(past_the_end, "--test-index 10000 is out of range");
}

#[test]
fn bad_image_input_gives_a_clear_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck.safetensors");
    let trainer = Trainer::new(common::tiny_model(), common::tiny_train_config()).unwrap();
    pixelcnn_studio::checkpoint::save(&ck, trainer.snapshot()).unwrap();
    image::GrayImage::new(32, 32)
        .save(dir.path().join("big.png"))
        .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let run = |args: &[&str]| studio().args(args).current_dir(dir.path()).assert();
    assert_clean_error(
        run(&[
            "nll-map",
            "--checkpoint",
            "ck.safetensors",
            "--image",
            "big.png",
        ]),
        "32x32 pixels, not 28x28",
    );
    assert_clean_error(
        run(&[
            "complete",
            "--checkpoint",
            "ck.safetensors",
            "--image",
            "notes.txt",
            "--keep-rows",
            "10",
            "--out",
            "g.png",
        ]),
        "not a readable PNG image",
    );
    assert_clean_error(
        run(&[
            "complete",
            "--checkpoint",
            "ck.safetensors",
            "--image",
            "big.png",
            "--keep-rows",
            "29",
            "--out",
            "g.png",
        ]),
        "keeping 29 rows is out of range",
    );
    // Exactly one image source.
    let both = run(&[
        "nll-map",
        "--checkpoint",
        "ck.safetensors",
        "--image",
        "big.png",
        "--test-index",
        "1",
    ]);
    both.failure();

    // The digit: refused for a model that does not read one, required with --image for one
    // that does.
    std::fs::write(
        dir.path().join("digit.png"),
        encode_png(&[0.0; IMAGE_PIXELS]).unwrap(),
    )
    .unwrap();
    assert_clean_error(
        run(&[
            "nll-map",
            "--checkpoint",
            "ck.safetensors",
            "--image",
            "digit.png",
            "--class",
            "3",
        ]),
        "not class-conditional",
    );
    let conditional =
        Trainer::new(common::tiny_gated_model(true), common::tiny_train_config()).unwrap();
    pixelcnn_studio::checkpoint::save(&dir.path().join("cond.safetensors"), conditional.snapshot())
        .unwrap();
    assert_clean_error(
        run(&[
            "complete",
            "--checkpoint",
            "cond.safetensors",
            "--image",
            "digit.png",
            "--keep-rows",
            "10",
            "--out",
            "g.png",
        ]),
        "--class D",
    );
    assert!(
        !dir.path().join("g.png").exists(),
        "nothing written on error"
    );
    let scored = run(&[
        "nll-map",
        "--checkpoint",
        "cond.safetensors",
        "--image",
        "digit.png",
        "--class",
        "3",
        "--json",
    ])
    .success();
    assert_eq!(json_of(&scored.get_output().stdout)["class"], 3);
}

// --- The Explore tab ------------------------------------------------------------------------

fn tab_harness_for(model: ModelConfig) -> Harness<'static, StudioApp> {
    let mut settings = UiSettings::default();
    settings.controls.model = model;
    settings.controls.train.epochs = 1;
    settings.controls.train.batch_size = 20;
    settings.controls.train.samples_per_epoch = 0;
    harness(settings, None)
}

fn shown_nll_label(harness: &Harness<'_, StudioApp>) -> String {
    let nll = harness.state().explore().shown_nll_nats().unwrap();
    let text = format!("NLL {nll:.2} nats");
    harness.get_by_label_contains(&text);
    text
}

/// The studio with `model` trained to the end of its tiny run, showing the Explore tab.
fn explore_after_training(model: ModelConfig) -> Harness<'static, StudioApp> {
    let mut harness = tab_harness_for(model);
    harness.step();
    harness.get_by_label("Start").click();
    wait_until(&mut harness, "the run to finish", |app| {
        app.state() == WorkerState::Finished
    });
    harness.get_by_label("Explore").click();
    harness
}

#[test]
fn drawing_on_the_canvas_changes_the_nll_shown() {
    let mut harness = explore_after_training(common::tiny_model());
    wait_until(&mut harness, "a heatmap of the first test image", |app| {
        app.explore().map_is_current()
            && matches!(app.explore().origin(), ImageOrigin::Test { index: 0, .. })
    });
    assert_eq!(harness.state().settings().tab, Tab::Explore);
    let test_label = shown_nll_label(&harness);

    harness.get_by_label("Clear").click();
    wait_until(&mut harness, "the blank canvas scored", |app| {
        app.explore().map_is_current() && app.explore().image().iter().all(|&p| p == 0.0)
    });
    let blank_nll = harness.state().explore().shown_nll_nats().unwrap();
    let blank_label = shown_nll_label(&harness);
    assert_ne!(blank_label, test_label);

    harness.get_by_label(CANVAS_LABEL).click();
    wait_until(&mut harness, "the drawn stroke scored", |app| {
        app.explore().map_is_current() && app.explore().image().contains(&1.0)
    });
    let app = harness.state();
    let ink = app.explore().image().iter().filter(|&&p| p == 1.0).count();
    assert_eq!(ink, 4, "a click with the 2x2 pen inks four pixels");
    assert!(
        app.explore().image()[14 * 28 + 14] == 1.0,
        "under the pointer"
    );
    assert_eq!(
        app.explore().origin(),
        ImageOrigin::Drawn { from_test: None }
    );
    let drawn_nll = app.explore().shown_nll_nats().unwrap();
    assert_ne!(drawn_nll, blank_nll, "the stroke changed the NLL");
    assert_ne!(
        shown_nll_label(&harness),
        blank_label,
        "and the label shows it"
    );
}

#[test]
fn the_tab_completes_the_image_below_the_cut_line_and_fills_a_dragged_hole() {
    let mut harness = explore_after_training(common::tiny_model());
    wait_until(&mut harness, "a heatmap", |app| {
        app.explore().map_is_current()
    });
    harness.get_by_label("Complete").click();
    wait_until(&mut harness, "the completions", |app| {
        app.explore().completions().is_some_and(|(_, done, _)| done)
    });
    let app = harness.state();
    let (grid, _, keep) = app.explore().completions().unwrap();
    assert_eq!(keep, app.settings().explore.keep_rows * 28);
    assert_eq!(grid.count, app.settings().explore.count);
    for completion in grid.pixels.chunks_exact(IMAGE_PIXELS) {
        assert_eq!(completion[..keep], app.explore().image()[..keep]);
    }
    harness.get_by_label_contains("completions by the model after");

    // The stretch: drag a hole with the Hole tool and let the model fill it.
    harness.get_by_label("Hole").click();
    harness.step();
    let canvas = harness.get_by_label(CANVAS_LABEL).rect();
    let cell = canvas.width() / 28.0;
    let at = |row: usize, col: usize| {
        canvas.min + egui::vec2((col as f32 + 0.5) * cell, (row as f32 + 0.5) * cell)
    };
    harness.hover_at(at(8, 6));
    harness.step();
    harness.drag_at(at(8, 6));
    harness.step();
    for (row, col) in [(10, 9), (13, 15), (16, 20)] {
        harness.hover_at(at(row, col));
        harness.step();
    }
    harness.drop_at(at(16, 20));
    harness.step();
    let hole = Hole::spanning((8, 6), (16, 20));
    assert_eq!(harness.state().explore().hole(), Some(hole));
    assert_eq!(
        harness.state().settings().explore.mode,
        CompletionMode::Hole
    );
    harness.get_by_label_contains("cannot see the pixels below or right of the hole");
    harness.get_by_label("Complete").click();
    wait_until(&mut harness, "the hole filled", |app| {
        app.explore()
            .completions()
            .is_some_and(|(_, done, keep)| done && keep == hole.first_pixel())
    });
    let app = harness.state();
    let (grid, _, keep) = app.explore().completions().unwrap();
    for completion in grid.pixels.chunks_exact(IMAGE_PIXELS) {
        assert_eq!(completion[..keep], app.explore().image()[..keep]);
    }
}

#[test]
fn a_digit_picker_shows_for_a_conditional_model_only_and_rescores_the_image() {
    let mut harness = explore_after_training(common::tiny_model());
    wait_until(&mut harness, "a heatmap", |app| {
        app.explore().map_is_current()
    });
    assert!(harness.query_by_label("Digit").is_none(), "no picker");
    assert_eq!(harness.state().explore().class(), None);

    let mut harness = explore_after_training(common::tiny_gated_model(true));
    wait_until(&mut harness, "a heatmap of test image 0", |app| {
        app.explore().map_is_current()
            && matches!(app.explore().origin(), ImageOrigin::Test { index: 0, .. })
    });
    harness.get_by_label("Digit");
    let ImageOrigin::Test { label, .. } = harness.state().explore().origin() else {
        unreachable!()
    };
    assert_eq!(
        harness.state().explore().class(),
        label,
        "the test label by default"
    );
    let as_label = harness.state().explore().shown_nll_nats().unwrap();
    // A digit no other widget is named by (the brush sizes are 1-3).
    let other = if label == Some(7) { 8 } else { 7 };
    harness.get_by_label(&other.to_string()).click();
    wait_until(&mut harness, "the image scored as another digit", |app| {
        app.explore().map_is_current() && app.explore().class() == Some(other)
    });
    assert_ne!(
        harness.state().explore().shown_nll_nats().unwrap(),
        as_label
    );
    harness.get_by_label_contains(&format!("as a {other}"));

    // The pick belongs to that image: the next test image is read as its own label.
    harness.get_by_label(">").click();
    wait_until(&mut harness, "test image 1 scored", |app| {
        app.explore().map_is_current()
            && matches!(app.explore().origin(), ImageOrigin::Test { index: 1, .. })
    });
    let ImageOrigin::Test { label, .. } = harness.state().explore().origin() else {
        unreachable!()
    };
    assert_eq!(harness.state().explore().class(), label);
}
