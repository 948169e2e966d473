//! Issue 16, digits anyone can read: label dropout (the "no label" class), guided and tempered
//! sampling on every sampler, the dilated vertical stack, weight averaging and the learning-rate
//! schedule, with the guarantees they must keep: causality without holes on the network itself,
//! the candle cross-check, the fast sampler identical to the straightforward one at every
//! guidance scale and temperature, exact resume, and old checkpoints. The device path's checks
//! of the same model (network and guided sampler) are in `tests/device.rs`, run on every device.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers in integration tests, too

use pixelcnn_studio::checkpoint;
use pixelcnn_studio::data::Mnist;
use pixelcnn_studio::model::arch::receptive_field::{classify_model_inputs, holes, Reach};
use pixelcnn_studio::model::cpu::sampler::sample_naive_styled;
use pixelcnn_studio::model::{
    sample::{DEFAULT_GUIDANCE, DEFAULT_TEMPERATURE},
    sample_fast_styled, ClassChoice, CpuNet, DilationPattern, FamilyConfig, GatedConfig,
    LabelDropout, ModelConfig, Params, SampleGrid, SampleStyle, NO_LABEL,
};
use pixelcnn_studio::train::{LrSchedule, TrainConfig, Trainer, WeightAveraging};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;

use common::cli::{assert_clean_error, run_json, studio};
use common::training::{assert_resume_is_bit_identical, train_steps};
use common::{
    assert_close, digits_model, random_params_images_and_labels,
    random_params_images_and_no_labels, reference_logits_loss_and_grads, SAMPLE_STYLES,
};

const PIXELS: usize = 784;

/// `cfg` with other settings of the gated family.
fn with(cfg: ModelConfig, change: impl FnOnce(&mut GatedConfig)) -> ModelConfig {
    let mut cfg = cfg;
    if let FamilyConfig::Gated(gated) = &mut cfg.family {
        change(gated);
    }
    cfg
}

#[test]
fn the_gated_preset_is_dilated_and_a_conditional_run_drops_labels() {
    let mut cfg = ModelConfig::gated();
    let FamilyConfig::Gated(gated) = &cfg.family else {
        panic!("gated");
    };
    assert_eq!(gated.vertical_dilation.steps(), [1, 1, 2, 2, 4]);
    assert!(gated.vertical_column_dilation);
    let spec = match cfg.architecture() {
        pixelcnn_studio::model::Architecture::Gated(spec) => spec,
        _ => panic!("gated"),
    };
    assert_eq!((spec.reach(), spec.reach_columns()), (23, 23));
    assert_eq!(spec.undilated_reach(), 13);
    assert_eq!(cfg.class_count(), 0, "unconditional: no class biases");
    cfg.set_conditional(true).unwrap();
    assert_eq!(cfg.class_count(), 11);
    assert_eq!(cfg.label_dropout(), 0.1);
    let params = Params::zeros(&cfg);
    let cond = params
        .tensors
        .iter()
        .find(|t| t.name == "layers.0.cond_v.weight")
        .unwrap();
    assert_eq!(cond.shape, [64, 11], "ten digits and \"no label\"");
    // Dilation spreads the taps: the same parameters and work as undilated.
    let undilated = with(cfg.clone(), |g| g.vertical_dilation = DilationPattern::NONE);
    assert_eq!(cfg.parameter_count(), undilated.parameter_count());
    let rows_only = with(cfg.clone(), |g| g.vertical_column_dilation = false);
    assert_eq!(cfg.parameter_count(), rows_only.parameter_count());
    let macs = |c: &ModelConfig| {
        c.convs()
            .iter()
            .map(|conv| conv.macs_per_pixel())
            .sum::<usize>()
    };
    assert_eq!(macs(&cfg), macs(&rows_only));
}

/// Flipping input pixel `q` changes the logit of pixel `p` only if `q < p` and `p` sees `q` by
/// the spec, the network reaches as far as the spec says, and the field has no holes: checked
/// on the network itself.
#[test]
fn a_dilated_network_is_causal_and_its_field_has_no_holes() {
    for (pattern, columns) in [
        ("1,1,2,2,4", false),
        ("1,1,2,2,4", true),
        ("1,2", false),
        ("4,1,1", true),
    ] {
        let cfg = with(digits_model(5, 8), |g| {
            g.vertical_dilation = DilationPattern::parse(pattern).unwrap();
            g.vertical_column_dilation = columns;
        });
        let pattern = format!("{pattern}, columns {columns}");
        let (params, _, _) = random_params_images_and_labels(&cfg, 1, 5);
        let net = CpuNet::new(&cfg, &params);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let base: Vec<f32> = (0..PIXELS)
            .map(|_| if rng.random::<f32>() < 0.4 { 1.0 } else { 0.0 })
            .collect();
        let mut batch = base.clone();
        for q in 0..PIXELS {
            let mut image = base.clone();
            image[q] = 1.0 - image[q];
            batch.extend_from_slice(&image);
        }
        let labels = vec![NO_LABEL; PIXELS + 1];
        let logits = net.forward(&batch, &labels);
        let (base_logits, flipped) = logits.split_at(PIXELS);
        for &(row, col) in &[(27, 14), (27, 0), (20, 27), (14, 14), (5, 3), (0, 9)] {
            let p = row * 28 + col;
            let seen = cfg.visible_inputs(row, col);
            let changed: Vec<bool> = (0..PIXELS)
                .map(|q| flipped[q * PIXELS + p] != base_logits[p])
                .collect();
            for q in 0..PIXELS {
                if q >= p {
                    assert!(!changed[q], "{pattern}: logit {p} depends on pixel {q}");
                }
                assert!(
                    !changed[q] || seen[q],
                    "{pattern}: logit ({row}, {col}) depends on pixel {q}, outside its field"
                );
            }
            // The network reaches exactly as far as the spec says: the same first row and the
            // same leftmost and rightmost columns. A pixel reached through only a few paths
            // can move the logit by less than f32 resolution, so a few seen pixels may not
            // visibly move it; more than 1% would be a field the network does not have.
            let extent = |field: &[bool]| {
                let at: Vec<(usize, usize)> = (0..PIXELS)
                    .filter(|&q| field[q])
                    .map(|q| (q / 28, q % 28))
                    .collect();
                (
                    at.iter().map(|&(r, _)| r).min(),
                    at.iter().map(|&(_, c)| c).min(),
                    at.iter().map(|&(_, c)| c).max(),
                )
            };
            assert_eq!(
                extent(&changed),
                extent(&seen),
                "{pattern}: the reach of logit ({row}, {col})"
            );
            let seen_count = seen.iter().filter(|&&v| v).count();
            let unmoved = (0..PIXELS).filter(|&q| seen[q] && !changed[q]).count();
            assert!(
                unmoved * 100 <= seen_count,
                "{pattern}: {unmoved} of the {seen_count} pixels logit ({row}, {col}) sees do not move it"
            );
            assert!(
                holes(&seen, row, col).iter().all(|&h| !h),
                "{pattern}: the field of ({row}, {col}) has a hole"
            );
            let classes = classify_model_inputs(&cfg, row, col);
            assert!(
                !classes.contains(&Reach::BlindSpot),
                "{pattern}: a blind spot"
            );
        }
        // The dilated stack reaches farther up than the undilated one, at the same cost.
        let undilated = with(cfg.clone(), |g| g.vertical_dilation = DilationPattern::NONE);
        let count = |c: &ModelConfig| c.visible_inputs(27, 14).iter().filter(|&&v| v).count();
        assert!(count(&cfg) > count(&undilated), "{pattern}");
        if columns {
            // Spread columns reach farther sideways than rows alone.
            let rows_only = with(cfg.clone(), |g| g.vertical_column_dilation = false);
            assert!(count(&cfg) > count(&rows_only), "{pattern}");
        }
    }
}

#[test]
fn the_dilated_eleven_class_network_matches_the_candle_formulation() {
    for (layers, maps) in [(5, 6), (3, 16)] {
        let cfg = digits_model(layers, maps);
        let (params, input, labels) = random_params_images_and_no_labels(&cfg, 2, 11);
        let mut net = CpuNet::new(&cfg, &params);
        let logits = net.forward(&input, &labels);
        let mut grads = params.zeros_like();
        net.loss_and_grads(&input, &labels, &mut grads);
        let (ref_logits, _, ref_grads) =
            reference_logits_loss_and_grads(&cfg, &params, &input, &labels);
        assert_close("logits", &logits, &ref_logits, 1e-5);
        for (ours, theirs) in grads.tensors.iter().zip(&ref_grads) {
            let tol = if ours.name.ends_with("bias") || ours.name.contains("cond") {
                1e-4
            } else {
                1e-5
            };
            assert_close(&ours.name, &ours.data, theirs, tol);
        }
        // The "no label" column learns from the images that had their label dropped.
        let cond = grads
            .tensors
            .iter()
            .find(|t| t.name == "layers.0.cond_h.weight")
            .unwrap();
        assert!(cond.data.iter().skip(10).step_by(11).any(|&g| g != 0.0));
    }
}

#[test]
fn the_fast_sampler_draws_what_the_straightforward_one_draws_at_every_guidance_and_temperature() {
    let cfg = digits_model(3, 6);
    let (params, input, _) = random_params_images_and_labels(&cfg, 4, 21);
    let net = CpuNet::new(&cfg, &params);
    let labels = ClassChoice::Rows.labels(4, &mut ChaCha8Rng::seed_from_u64(0));
    for style in SAMPLE_STYLES {
        style.check(&cfg).unwrap();
        for keep in [0, 9 * 28 + 5] {
            let start = SampleGrid {
                count: 4,
                pixels: input
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| if i % PIXELS < keep { p } else { 0.0 })
                    .collect(),
                pixels_done: keep,
            };
            let (fast, fast_probs) = sample_fast_styled(
                &net,
                start.clone(),
                &labels,
                style,
                &mut ChaCha8Rng::seed_from_u64(4),
                &mut |_| std::ops::ControlFlow::Continue(()),
            );
            let (naive, naive_probs) = sample_naive_styled(
                &net,
                start,
                &labels,
                style,
                PIXELS,
                &mut ChaCha8Rng::seed_from_u64(4),
                &mut |_| {},
            );
            assert_close("probabilities", &fast_probs, &naive_probs, 1e-5);
            assert_eq!(fast.pixels, naive.pixels, "{style:?}, keep {keep}");
            let ink = fast.mean_pixel();
            assert!(ink > 0.0 && ink < 1.0, "{style:?}: mean pixel {ink}");
        }
    }
    // Plain sampling is what the samplers always drew: guidance 1 needs no second pass.
    let plain = |style| {
        sample_fast_styled(
            &net,
            SampleGrid::blank(4),
            &labels,
            style,
            &mut ChaCha8Rng::seed_from_u64(8),
            &mut |_| std::ops::ControlFlow::Continue(()),
        )
    };
    let before = pixelcnn_studio::model::sample_fast(
        &net,
        4,
        &labels,
        &mut ChaCha8Rng::seed_from_u64(8),
        &mut |_| {},
    );
    assert_eq!(plain(SampleStyle::PLAIN), before);
}

#[test]
fn each_guided_probability_is_the_guided_logit_of_the_full_network_on_the_finished_canvas() {
    let cfg = digits_model(3, 6);
    let (params, _, _) = random_params_images_and_labels(&cfg, 1, 31);
    let net = CpuNet::new(&cfg, &params);
    let labels = [2u8, 7];
    let style = SampleStyle {
        guidance: 2.0,
        temperature: 0.9,
    };
    let (grid, probs) = sample_fast_styled(
        &net,
        SampleGrid::blank(2),
        &labels,
        style,
        &mut ChaCha8Rng::seed_from_u64(3),
        &mut |_| std::ops::ControlFlow::Continue(()),
    );
    let conditional = net.forward(&grid.pixels, &labels);
    let unconditional = net.forward(&grid.pixels, &[NO_LABEL, NO_LABEL]);
    for (pos, pair) in probs.chunks(2).enumerate() {
        for (image, &p) in pair.iter().enumerate() {
            let at = image * PIXELS + pos;
            let (c, u) = (f64::from(conditional[at]), f64::from(unconditional[at]));
            let expected = 1.0 / (1.0 + (-(u + 2.0 * (c - u)) / 0.9).exp());
            assert!((f64::from(p) - expected).abs() < 1e-5, "pixel {pos}");
        }
    }
}

#[test]
fn guidance_is_refused_for_a_model_without_the_no_label_class() {
    let old = with(digits_model(2, 4), |g| g.label_dropout = LabelDropout::NONE);
    let guided = SampleStyle {
        guidance: 2.0,
        temperature: 1.0,
    };
    let err = guided.check(&old).unwrap_err();
    assert!(err.contains("trained with label dropout"), "{err}");
    assert!(guided.check(&digits_model(2, 4)).is_ok());
    // Temperature needs no label: any model takes it.
    let cooler = SampleStyle {
        guidance: 1.0,
        temperature: 0.8,
    };
    assert!(cooler.check(&ModelConfig::seed()).is_ok());
    assert_eq!(SampleStyle::default_for(&old), SampleStyle::PLAIN);
    assert_eq!(SampleStyle::for_model(Some(guided), &old).guidance, 1.0);
    assert!(SampleStyle::default_for(&digits_model(2, 4)).is_guided());
}

fn tiny_run(schedule: LrSchedule) -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 20,
        seed: 7,
        samples_per_epoch: 0,
        lr_schedule: schedule,
        weight_averaging: Some(WeightAveraging { decay: 0.9 }),
        ..TrainConfig::default()
    }
}

fn trained(cfg: &ModelConfig, config: &TrainConfig, data: &Mnist, steps: usize) -> Trainer {
    let mut trainer = Trainer::new(cfg.clone(), config.clone()).unwrap();
    train_steps(&mut trainer, data, steps).unwrap();
    trainer
}

#[test]
fn a_run_with_label_dropout_averaging_and_a_schedule_resumes_bit_for_bit() {
    let data = Mnist::synthetic(100, 20, 2);
    let cfg = with(digits_model(3, 6), |g| g.label_dropout = LabelDropout(0.5));
    for schedule in [LrSchedule::Constant, LrSchedule::COSINE] {
        let k = 7; // 5 steps per epoch: the save falls mid-epoch.
                   // Weights (trained and averaged), Adam, the position with the schedule's progress.
        let loaded = assert_resume_is_bit_identical(&cfg, &tiny_run(schedule), &data, k);
        let averaged = loaded.averaged.as_ref();
        assert!(averaged.is_some(), "the average is saved");
        assert_ne!(
            averaged,
            Some(&loaded.params),
            "the average lags the weights"
        );
        assert!(
            (loaded.progress.schedule_progress - 7.0 / 15.0).abs() < 1e-12,
            "{schedule:?}: 7 of 15 steps"
        );
    }
}

#[test]
fn the_cosine_schedule_warms_up_and_decays_to_the_end_of_the_epochs() {
    let data = Mnist::synthetic(100, 20, 2);
    let schedule = LrSchedule::WarmupCosine {
        warmup_steps: 4,
        floor: 0.0,
    };
    let mut trainer = Trainer::new(digits_model(2, 4), tiny_run(schedule)).unwrap();
    let mut rates = Vec::new();
    for _ in 0..15 {
        train_steps(&mut trainer, &data, 1).unwrap();
        rates.push(trainer.snapshot().adam.config.learning_rate);
    }
    let peak = trainer.config().learning_rate;
    assert_eq!(rates[0], peak / 4.0);
    assert_eq!(rates[3], peak);
    assert!(rates[4..].windows(2).all(|w| w[1] < w[0]), "{rates:?}");
    assert!(
        rates[14] < 0.02 * peak,
        "near 0 at the last step: {rates:?}"
    );
    assert_eq!(trainer.progress().schedule_progress, 1.0);
}

#[test]
fn a_time_budget_moves_the_schedule_by_wall_clock() {
    let data = Mnist::synthetic(100, 20, 2);
    let mut trainer = Trainer::new(digits_model(2, 4), tiny_run(LrSchedule::COSINE)).unwrap();
    trainer.set_time_budget(Some(3600.0)).unwrap();
    train_steps(&mut trainer, &data, 3).unwrap();
    let progress = trainer.progress().schedule_progress;
    // Three tiny steps are far less than an hour, and not the 3 of 15 steps of the epochs.
    assert!(progress > 0.0 && progress < 0.01, "{progress}");
}

#[test]
fn a_checkpoint_names_the_averaged_weights_as_the_parameters_and_keeps_the_trained_ones_raw() {
    let data = Mnist::synthetic(100, 40, 2);
    let cfg = digits_model(2, 4);
    let mut trainer = trained(&cfg, &tiny_run(LrSchedule::Constant), &data, 6);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("averaged.safetensors");
    checkpoint::save(&path, trainer.snapshot()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().clone().unwrap();
    assert_eq!(metadata["weights"], "averaged");
    let snapshot = trainer.snapshot().clone();
    let read = |name: &str| -> Vec<f32> {
        file.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let named = |params: &Params| -> Vec<f32> {
        let found = params.tensors.iter().find(|t| t.name == "out2.weight");
        found.unwrap().data.clone()
    };
    assert_eq!(
        read("out2.weight"),
        named(snapshot.averaged.as_ref().unwrap())
    );
    assert_eq!(read("raw.out2.weight"), named(&snapshot.params));
    assert_ne!(read("out2.weight"), read("raw.out2.weight"));
    // A reader of the file alone (the parameters' own names) gets the test cost we report.
    let template = Params::zeros(&cfg);
    let outside = Params {
        tensors: template
            .tensors
            .into_iter()
            .map(|mut t| {
                t.data = read(&t.name);
                t
            })
            .collect(),
    };
    let net = CpuNet::new(&cfg, &outside);
    let images = data.test.len();
    let pixels = pixelcnn_studio::data::binarize_fixed(&data.test.images);
    let outside_cost = net.loss(&pixels, &data.test.labels[..images]);
    let reported = trainer.test_cost(&data.test).unwrap();
    assert!(
        (outside_cost - reported).abs() < 1e-9,
        "{outside_cost} vs {reported}"
    );
    // Without averaging there is no raw copy, and the parameters are the trained weights.
    let unaveraged = TrainConfig {
        weight_averaging: None,
        ..tiny_run(LrSchedule::Constant)
    };
    let trainer = trained(&cfg, &unaveraged, &data, 2);
    checkpoint::save(&path, trainer.snapshot()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert!(file.names().iter().all(|n| !n.starts_with("raw.")));
    assert_eq!(checkpoint::load(&path).unwrap().averaged, None);
}

/// A checkpoint's bytes rewritten as a file written before these levers: without the metadata
/// key `weights`, and without `fields` (top-level keys of each JSON metadata value) in any of
/// them.
fn as_written_before(bytes: &[u8], fields: &[&str]) -> Vec<u8> {
    let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let mut metadata = header.metadata().clone().unwrap();
    assert!(metadata.remove("weights").is_some());
    let mut removed = 0;
    for value in metadata.values_mut() {
        if let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str(value) {
            for field in fields {
                removed += usize::from(object.remove(*field).is_some());
            }
            *value = serde_json::Value::Object(object).to_string();
        }
    }
    assert_eq!(removed, fields.len(), "each field was in the file once");
    let tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = file
        .names()
        .into_iter()
        .map(|name| (name.to_string(), file.tensor(name).unwrap()))
        .collect();
    safetensors::serialize(tensors, Some(metadata)).unwrap()
}

#[test]
fn a_conditional_checkpoint_written_before_these_levers_opens_and_resumes_as_it_was() {
    let data = Mnist::synthetic(100, 20, 2);
    // The model and run of a file written before: ten classes, no dilation, no averaging.
    let cfg = with(digits_model(2, 6), |g| {
        g.label_dropout = LabelDropout::NONE;
        g.vertical_dilation = DilationPattern::NONE;
        g.vertical_column_dilation = false;
    });
    let config = TrainConfig {
        weight_averaging: None,
        ..tiny_run(LrSchedule::Constant)
    };
    let k = 4;
    let straight = trained(&cfg, &config, &data, 2 * k);
    let bytes = checkpoint::to_bytes(trained(&cfg, &config, &data, k).snapshot()).unwrap();
    let old = as_written_before(
        &bytes,
        &[
            "label_dropout",
            "vertical_dilation",
            "vertical_column_dilation",
            "sample_style",
            "weight_averaging",
            "lr_schedule",
            "schedule_progress",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.safetensors");
    std::fs::write(&path, old).unwrap();
    let loaded = checkpoint::load(&path).unwrap();
    assert_eq!(loaded.model, cfg);
    assert_eq!(loaded.model.class_count(), 10);
    assert_eq!(
        loaded.config.weight_averaging, None,
        "an old run did not average"
    );
    assert_eq!(loaded.averaged, None);
    assert_eq!(SampleStyle::default_for(&loaded.model), SampleStyle::PLAIN);
    let mut resumed = Trainer::from_snapshot(loaded).unwrap();
    train_steps(&mut resumed, &data, k).unwrap();
    assert_eq!(resumed.snapshot().params, straight.snapshot().params);
    assert_eq!(resumed.snapshot().adam, straight.snapshot().adam);
}

#[test]
fn label_dropout_draws_from_the_runs_seeded_stream() {
    let data = Mnist::synthetic(100, 20, 2);
    let config = tiny_run(LrSchedule::Constant);
    let cfg = with(digits_model(2, 4), |g| g.label_dropout = LabelDropout(0.9));
    let a = trained(&cfg, &config, &data, 3);
    let b = trained(&cfg, &config, &data, 3);
    assert_eq!(a.snapshot(), b.snapshot(), "the same seed, the same run");
    // Most labels were dropped: the "no label" column moved away from its start.
    let start = Trainer::new(cfg.clone(), config.clone()).unwrap();
    let column = |t: &Trainer| -> Vec<f32> {
        let cond = t
            .snapshot()
            .params
            .tensors
            .iter()
            .find(|t| t.name == "layers.1.cond_h.weight")
            .unwrap();
        cond.data.iter().skip(10).step_by(11).copied().collect()
    };
    assert_ne!(column(&a), column(&start));
}

#[test]
fn the_command_line_trains_samples_and_completes_with_the_new_levers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let report = run_json(
        root,
        &[
            "train",
            "--preset",
            "gated",
            "--conditional",
            "--layers",
            "2",
            "--maps",
            "8",
            "--vertical-dilation",
            "1,2",
            "--label-dropout",
            "0.2",
            "--weight-averaging",
            "0.9",
            "--lr-schedule",
            "cosine",
            "--epochs",
            "1",
            "--train-limit",
            "200",
            "--test-limit",
            "50",
            "--out",
            "ck.safetensors",
            "--json",
        ],
    );
    assert_eq!(report["steps"], 2);
    let loaded = checkpoint::load(&root.join("ck.safetensors")).unwrap();
    assert_eq!(loaded.model.label_dropout(), 0.2);
    assert_eq!(loaded.config.lr_schedule, LrSchedule::COSINE);
    assert_eq!(loaded.config.weight_averaging.map(|w| w.decay), Some(0.9));
    let sample = run_json(
        root,
        &[
            "sample",
            "--checkpoint",
            "ck.safetensors",
            "--out",
            "g.png",
            "--count",
            "4",
            "--guidance",
            "2",
            "--temperature",
            "0.9",
            "--json",
        ],
    );
    assert_eq!(sample["guidance"], 2.0);
    let defaults = run_json(
        root,
        &[
            "sample",
            "--checkpoint",
            "ck.safetensors",
            "--out",
            "d.png",
            "--count",
            "4",
            "--json",
        ],
    );
    assert_eq!(defaults["guidance"], f64::from(DEFAULT_GUIDANCE));
    assert!(
        (defaults["temperature"].as_f64().unwrap() - f64::from(DEFAULT_TEMPERATURE)).abs() < 1e-6
    );
    run_json(
        root,
        &[
            "complete",
            "--checkpoint",
            "ck.safetensors",
            "--test-index",
            "0",
            "--keep-rows",
            "10",
            "--count",
            "2",
            "--guidance",
            "3",
            "--out",
            "c.png",
            "--json",
        ],
    );
    let inspect = run_json(
        root,
        &["inspect", "--checkpoint", "ck.safetensors", "--json"],
    );
    assert_eq!(inspect["row_dilations"], serde_json::json!([1, 2]));
    assert_eq!(inspect["column_dilations"], serde_json::json!([1, 2]));
    assert_eq!(inspect["classes"], 11);

    // A model without label dropout: guidance is one clear line, temperature is fine.
    run_json(
        root,
        &[
            "train",
            "--preset",
            "gated",
            "--conditional",
            "--layers",
            "2",
            "--maps",
            "8",
            "--label-dropout",
            "0",
            "--epochs",
            "1",
            "--train-limit",
            "100",
            "--test-limit",
            "20",
            "--out",
            "old.safetensors",
            "--json",
        ],
    );
    assert_clean_error(
        studio()
            .args([
                "sample",
                "--checkpoint",
                "old.safetensors",
                "--out",
                "x.png",
                "--guidance",
                "2",
            ])
            .current_dir(root)
            .assert(),
        "guidance needs a class-conditional model trained with label dropout",
    );
    run_json(
        root,
        &[
            "sample",
            "--checkpoint",
            "old.safetensors",
            "--out",
            "t.png",
            "--count",
            "4",
            "--temperature",
            "0.8",
            "--json",
        ],
    );
    assert_clean_error(
        studio()
            .args([
                "train",
                "--preset",
                "seed",
                "--label-dropout",
                "0.1",
                "--epochs",
                "1",
            ])
            .current_dir(root)
            .assert(),
        "gated-family options",
    );
    assert_clean_error(
        studio()
            .args(["train", "--preset", "gated", "--vertical-dilation", "1,0"])
            .current_dir(root)
            .assert(),
        "dilation",
    );
}
