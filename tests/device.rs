//! The GPU code path, each test written once and run on every device the build has, in candle's
//! `test_device!` style: on candle's CPU backend (`NAME_candle_cpu`, so every CI run checks the
//! path without a GPU) and, in a build with the `cuda` feature, on the first CUDA GPU
//! (`NAME_cuda`: `cargo test --features cuda --test device`). They check the device network
//! against the fast CPU kernels (values and gradients, both families, conditional and not), the
//! device Adam against the CPU Adam, device training that never copies weights back until asked
//! (exact resume, checkpoints that open on the CPU, a NaN that keeps the last good weights),
//! the device backend against the fast one as the trainer drives it, and the device sampler
//! against the CPU fast sampler (plain, guided and tempered; issue 16's dilated model with the
//! "no label" class too) and against a model whose classes draw known images.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers in integration tests, too

use std::ops::ControlFlow;

use candle_core::{Device, Tensor};
use pixelcnn_studio::data::Mnist;
use pixelcnn_studio::model::device::sampler::{sample_device, sample_device_styled};
use pixelcnn_studio::model::{
    sample_fast, sample_fast_styled, CpuNet, DeviceAdam, DeviceNet, ModelConfig, Params, SampleGrid,
};
use pixelcnn_studio::train::optimizer::clip_gradients;
use pixelcnn_studio::train::{
    Adam, AdamConfig, Backend, DeviceChoice, NonFiniteValue, StepError, TrainConfig, TrainError,
    Trainer,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;

use common::training::{assert_resume_is_bit_identical, train_steps};
use common::{
    assert_close, class_patterns, digits_model, gated_model, random_params_images_and_labels,
    random_params_images_and_no_labels, tiny_gated_model, tiny_model, tiny_residual_model,
    SAMPLE_STYLES,
};

const PIXELS: usize = 784;

/// Instantiates the test body `$body(&Device)` once per device this build has: `$candle_cpu`
/// on candle's CPU backend always, `$cuda` on the first CUDA GPU in a build with the `cuda`
/// feature. The body is the same; only the device it is handed differs.
macro_rules! test_device {
    ($body:ident, $candle_cpu:ident, $cuda:ident) => {
        #[test]
        fn $candle_cpu() {
            $body(&Device::Cpu);
        }

        #[cfg(feature = "cuda")]
        #[test]
        fn $cuda() {
            $body(&Device::new_cuda(0).expect("the cuda device tests need a CUDA GPU"));
        }
    };
}

/// How a user picks `device` (`--device candle-cpu` or `--device cuda`), for the code that
/// makes its own device from that choice (the backend, the trainer).
fn choice_of(device: &Device) -> DeviceChoice {
    match device {
        Device::Cpu => DeviceChoice::GpuPathOnCpu,
        Device::Cuda(_) => DeviceChoice::Cuda,
        Device::Metal(_) => panic!("no device choice runs on Metal"),
    }
}

/// `cfg` with `maps` feature maps.
fn with_maps(maps: usize, cfg: ModelConfig) -> ModelConfig {
    ModelConfig {
        feature_maps: maps,
        ..cfg
    }
}

/// The model shapes the tests cover: plain without and with ReLU + residual, gated without and
/// with class conditioning; 6 maps or 8.
fn models() -> Vec<ModelConfig> {
    vec![
        with_maps(6, tiny_model()),
        tiny_residual_model(),
        gated_model(2, 6, false),
        tiny_gated_model(true),
    ]
}

/// Three epochs of batches of 10 on `device`, no samples.
fn device_config(device: &Device) -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 10,
        seed: 3,
        device: choice_of(device),
        ..common::tiny_train_config()
    }
}

/// The logits `net` computes for `input`, `[images * 784]`.
fn logits_of(net: &DeviceNet, input: &[f32], labels: &[u8]) -> Vec<f32> {
    let batch = net.upload_batch(input, labels).unwrap();
    net.logits(&batch)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

test_device!(
    the_device_network_matches_the_fast_kernels_in_values_and_gradients,
    the_device_network_matches_the_fast_kernels_in_values_and_gradients_candle_cpu,
    the_device_network_matches_the_fast_kernels_in_values_and_gradients_cuda
);
fn the_device_network_matches_the_fast_kernels_in_values_and_gradients(device: &Device) {
    for cfg in models() {
        let (params, input, labels) = random_params_images_and_labels(&cfg, 2, 11);
        let mut cpu = CpuNet::new(&cfg, &params);
        let cpu_logits = cpu.forward(&input, &labels);
        let mut cpu_grads = params.zeros_like();
        let cpu_loss = cpu.loss_and_grads(&input, &labels, &mut cpu_grads);

        let net = DeviceNet::new(&cfg, &params, device).unwrap();
        assert_close(
            "logits",
            &logits_of(&net, &input, &labels),
            &cpu_logits,
            1e-5,
        );

        let mut backend = Backend::new(choice_of(device), &cfg, &params).unwrap();
        let mut grads = params.zeros_like();
        let loss = backend.loss_and_grads(&input, &labels, &mut grads).unwrap();
        assert!(
            (loss - cpu_loss).abs() < 1e-6 * cpu_loss,
            "{cfg:?}: loss {loss} vs {cpu_loss}"
        );
        for (ours, theirs) in grads.tensors.iter().zip(&cpu_grads.tensors) {
            // A bias gradient sums every pixel of the batch: the device sums in f32, the CPU
            // kernels add chunk sums in f64.
            let tol = if ours.name.ends_with("bias") || ours.name.contains("cond") {
                1e-4
            } else {
                1e-5
            };
            assert_close(&ours.name, &ours.data, &theirs.data, tol);
        }
        let eval = backend.loss(&input, &labels).unwrap();
        assert!((eval - cpu_loss).abs() < 1e-6 * cpu_loss, "{eval}");
    }
}

test_device!(
    the_device_adam_matches_the_cpu_adam_step_for_step,
    the_device_adam_matches_the_cpu_adam_step_for_step_candle_cpu,
    the_device_adam_matches_the_cpu_adam_step_for_step_cuda
);
fn the_device_adam_matches_the_cpu_adam_step_for_step(device: &Device) {
    let cfg = with_maps(6, tiny_residual_model());
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut params = Params::init(&cfg, &mut rng);
    let config = AdamConfig {
        learning_rate: 3e-3,
        ..AdamConfig::default()
    };
    let mut adam = Adam::new(&params, config);
    let net = DeviceNet::new(&cfg, &params, device).unwrap();
    let layout = net.layout();
    let mut flat = net.params().clone();
    let mut device_adam = DeviceAdam::zeros(layout.len(), device, 1.0).unwrap();
    for step in 1..=5u64 {
        // Gradients up to 3 in size, so that clipping to 1 matters.
        let mut grads = params.zeros_like();
        for t in &mut grads.tensors {
            t.data
                .iter_mut()
                .for_each(|g| *g = rng.random_range(-3.0..3.0));
        }
        let device_grads = layout.gather(&grads).unwrap();
        clip_gradients(&mut grads, 1.0);
        adam.step(&mut params, &grads);
        let device_grads = Tensor::from_vec(device_grads, layout.len(), device).unwrap();
        flat = device_adam
            .step(&flat, &device_grads, &config.scalars(step))
            .unwrap();
    }
    let expected = layout.gather(&params).unwrap();
    let got: Vec<f32> = flat.to_vec1().unwrap();
    let (first, second) = device_adam.moments();
    let moments = [
        (first, layout.gather(&adam.first_moment).unwrap()),
        (second, layout.gather(&adam.second_moment).unwrap()),
    ];
    for (i, (a, b)) in got.iter().zip(&expected).enumerate() {
        assert!(
            (a - b).abs() <= 1e-6 * b.abs().max(1.0),
            "param {i}: {a} vs {b}"
        );
    }
    for (device, host) in moments {
        let device: Vec<f32> = device.to_vec1().unwrap();
        for (a, b) in device.iter().zip(&host) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-3), "{a} vs {b}");
        }
    }
}

test_device!(
    training_steps_on_the_device_follow_the_cpu_and_read_back_only_when_asked,
    training_steps_on_the_device_follow_the_cpu_and_read_back_only_when_asked_candle_cpu,
    training_steps_on_the_device_follow_the_cpu_and_read_back_only_when_asked_cuda
);
fn training_steps_on_the_device_follow_the_cpu_and_read_back_only_when_asked(device: &Device) {
    for cfg in [with_maps(6, tiny_residual_model()), gated_model(2, 6, true)] {
        let (params, _, _) = random_params_images_and_labels(&cfg, 1, 5);
        let mut cpu = Backend::new(DeviceChoice::FastCpu, &cfg, &params).unwrap();
        let mut on_device = Backend::new(choice_of(device), &cfg, &params).unwrap();
        assert!(on_device.trains_on_device() && !cpu.trains_on_device());
        let (mut cpu_params, mut device_params) = (params.clone(), params.clone());
        let mut cpu_adam = Adam::new(&params, AdamConfig::default());
        let mut device_adam = cpu_adam.clone();
        for step in 0..3 {
            let (_, batch, labels) = random_params_images_and_labels(&cfg, 3, 20 + step);
            let a = cpu
                .train_step(&batch, &labels, &mut cpu_params, &mut cpu_adam)
                .unwrap();
            let b = on_device
                .train_step(&batch, &labels, &mut device_params, &mut device_adam)
                .unwrap();
            assert!((a - b).abs() < 1e-6 * a, "step {step}: {a} vs {b}");
        }
        assert_eq!(device_params, params, "the host copy waits for a download");
        assert_eq!(device_adam.step_count, 3);
        on_device
            .download(&mut device_params, &mut device_adam)
            .unwrap();
        for (ours, theirs) in device_params.tensors.iter().zip(&cpu_params.tensors) {
            assert_close(&ours.name, &ours.data, &theirs.data, 1e-5);
        }
        for (ours, theirs) in device_adam
            .first_moment
            .tensors
            .iter()
            .zip(&cpu_adam.first_moment.tensors)
        {
            assert_close(&ours.name, &ours.data, &theirs.data, 1e-4);
        }
    }
}

test_device!(
    device_training_resumes_from_its_checkpoint_bit_for_bit_and_the_checkpoint_opens_on_the_cpu,
    device_training_resumes_from_its_checkpoint_bit_for_bit_and_the_checkpoint_opens_on_the_cpu_candle_cpu,
    device_training_resumes_from_its_checkpoint_bit_for_bit_and_the_checkpoint_opens_on_the_cpu_cuda
);
fn device_training_resumes_from_its_checkpoint_bit_for_bit_and_the_checkpoint_opens_on_the_cpu(
    device: &Device,
) {
    let data = Mnist::synthetic(40, 20, 6);
    let cfg = gated_model(2, 6, true);
    // 4 steps per epoch: the save falls mid-epoch.
    let loaded = assert_resume_is_bit_identical(&cfg, &device_config(device), &data, 3);
    assert_ne!(
        loaded.params,
        Trainer::new(cfg.clone(), device_config(device))
            .unwrap()
            .snapshot()
            .params,
        "the checkpoint holds the trained weights, read back from the device"
    );

    // The same checkpoint on the CPU kernels: the same test cost, to 1e-6.
    let mut on_device = Trainer::from_snapshot(loaded.clone()).unwrap();
    on_device.set_config(device_config(device)).unwrap();
    let mut on_cpu = Trainer::from_snapshot(loaded).unwrap();
    let (a, b) = (
        on_device.test_cost(&data.test).unwrap(),
        on_cpu.test_cost(&data.test).unwrap(),
    );
    assert!((a - b).abs() < 1e-6 * b, "device {a} vs cpu {b}");
}

test_device!(
    moving_a_run_from_the_device_to_the_cpu_carries_the_trained_weights,
    moving_a_run_from_the_device_to_the_cpu_carries_the_trained_weights_candle_cpu,
    moving_a_run_from_the_device_to_the_cpu_carries_the_trained_weights_cuda
);
fn moving_a_run_from_the_device_to_the_cpu_carries_the_trained_weights(device: &Device) {
    let data = Mnist::synthetic(40, 20, 6);
    let mut trainer = Trainer::new(with_maps(6, tiny_model()), device_config(device)).unwrap();
    train_steps(&mut trainer, &data, 2).unwrap();
    let on_device = trainer.test_cost(&data.test).unwrap();
    let trained = trainer.snapshot().params.clone();
    trainer
        .set_config(TrainConfig {
            device: DeviceChoice::FastCpu,
            ..device_config(device)
        })
        .unwrap();
    assert_eq!(trainer.snapshot().params, trained);
    let on_cpu = trainer.test_cost(&data.test).unwrap();
    assert!(
        (on_device - on_cpu).abs() < 1e-6 * on_cpu,
        "{on_device} vs {on_cpu}"
    );
    train_steps(&mut trainer, &data, 1).unwrap();
    assert_ne!(
        trainer.snapshot().params,
        trained,
        "training goes on, on the CPU"
    );
}

test_device!(
    settings_changed_after_a_read_back_are_neither_lost_nor_hidden,
    settings_changed_after_a_read_back_are_neither_lost_nor_hidden_candle_cpu,
    settings_changed_after_a_read_back_are_neither_lost_nor_hidden_cuda
);
fn settings_changed_after_a_read_back_are_neither_lost_nor_hidden(device: &Device) {
    let data = Mnist::synthetic(40, 20, 6);
    let mut trainer = Trainer::new(with_maps(6, tiny_model()), device_config(device)).unwrap();
    train_steps(&mut trainer, &data, 1).unwrap();
    let read_back = trainer.snapshot().params.clone();
    let slower = TrainConfig {
        learning_rate: 1e-4,
        ..device_config(device)
    };
    trainer.set_config(slower).unwrap();
    assert_eq!(trainer.snapshot().config.learning_rate, 1e-4);
    assert_eq!(trainer.snapshot().adam.config.learning_rate, 1e-4);
    assert_eq!(trainer.snapshot().params, read_back);
    train_steps(&mut trainer, &data, 1).unwrap();
    let after = trainer.snapshot();
    assert_eq!(after.adam.config.learning_rate, 1e-4);
    assert_eq!(after.adam.step_count, 2);
    assert_ne!(after.params, read_back);
}

test_device!(
    a_non_finite_step_on_the_device_changes_nothing,
    a_non_finite_step_on_the_device_changes_nothing_candle_cpu,
    a_non_finite_step_on_the_device_changes_nothing_cuda
);
fn a_non_finite_step_on_the_device_changes_nothing(device: &Device) {
    let cfg = with_maps(6, tiny_residual_model());
    let (params, batch, labels) = random_params_images_and_labels(&cfg, 2, 8);
    let mut backend = Backend::new(choice_of(device), &cfg, &params).unwrap();
    let mut host = params.clone();
    let mut adam = Adam::new(&params, AdamConfig::default());
    for _ in 0..2 {
        backend
            .train_step(&batch, &labels, &mut host, &mut adam)
            .unwrap();
    }
    let (mut good, mut good_adam) = (host.clone(), adam.clone());
    backend.download(&mut good, &mut good_adam).unwrap();
    // Poison the output bias on the device: the loss becomes NaN.
    let mut poisoned = good.clone();
    let last = poisoned.tensors.len() - 1;
    poisoned.tensors[last].data[0] = f32::NAN;
    backend.set_params(&poisoned).unwrap();
    let err = backend
        .train_step(&batch, &labels, &mut host, &mut adam)
        .unwrap_err();
    assert!(
        matches!(err, StepError::NonFinite(NonFiniteValue::Loss(_))),
        "{err}"
    );
    assert_eq!(adam.step_count, 2, "the step was not counted");
    let (mut after, mut after_adam) = (host.clone(), adam.clone());
    backend.download(&mut after, &mut after_adam).unwrap();
    assert_eq!(after_adam, good_adam, "Adam's moments are untouched");
    assert!(after.tensors[last].data[0].is_nan());
    after.tensors[last].data[0] = good.tensors[last].data[0];
    assert_eq!(after, good, "no weight moved");
}

test_device!(
    a_trainer_on_the_device_stops_on_a_nan_and_keeps_its_weights,
    a_trainer_on_the_device_stops_on_a_nan_and_keeps_its_weights_candle_cpu,
    a_trainer_on_the_device_stops_on_a_nan_and_keeps_its_weights_cuda
);
fn a_trainer_on_the_device_stops_on_a_nan_and_keeps_its_weights(device: &Device) {
    let data = Mnist::synthetic(40, 20, 6);
    let mut trainer = Trainer::new(with_maps(6, tiny_model()), device_config(device)).unwrap();
    train_steps(&mut trainer, &data, 1).unwrap();
    let mut snapshot = trainer.snapshot().clone();
    let last = snapshot.params.tensors.len() - 1;
    snapshot.params.tensors[last].data[0] = f32::INFINITY;
    let poisoned = snapshot.params.clone();
    let mut trainer = Trainer::from_snapshot(snapshot).unwrap();
    trainer.set_config(device_config(device)).unwrap();
    let err = train_steps(&mut trainer, &data, 1).unwrap_err();
    assert!(
        matches!(err, TrainError::NonFinite { step: 2, .. }),
        "{err}"
    );
    assert_eq!(trainer.snapshot().params, poisoned);
    assert_eq!(trainer.progress().global_step, 1);
}

test_device!(
    the_device_backend_takes_new_weights_samples_and_trains_like_the_fast_one,
    the_device_backend_takes_new_weights_samples_and_trains_like_the_fast_one_candle_cpu,
    the_device_backend_takes_new_weights_samples_and_trains_like_the_fast_one_cuda
);
/// The backend as the trainer drives it, both families: the same loss and gradients as the
/// fast backend, new weights reaching both, the same grid but for pixels whose probability sits
/// on a draw, and a trainer whose steps have the fast trainer's losses.
fn the_device_backend_takes_new_weights_samples_and_trains_like_the_fast_one(device: &Device) {
    for model in [tiny_model(), tiny_gated_model(true)] {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let params = Params::init(&model, &mut rng);
        let mut fast = Backend::new(DeviceChoice::FastCpu, &model, &params).unwrap();
        let mut on_device = Backend::new(choice_of(device), &model, &params).unwrap();
        let data = Mnist::synthetic(10, 10, 4);
        let batch: Vec<f32> = data
            .train
            .images
            .iter()
            .map(|&p| if p > 127 { 1.0 } else { 0.0 })
            .collect();
        let labels = &data.train.labels;
        let (mut fast_grads, mut device_grads) = (params.zeros_like(), params.zeros_like());
        let fast_loss = fast
            .loss_and_grads(&batch, labels, &mut fast_grads)
            .unwrap();
        let device_loss = on_device
            .loss_and_grads(&batch, labels, &mut device_grads)
            .unwrap();
        assert!(
            (fast_loss - device_loss).abs() < 1e-5,
            "{fast_loss} vs {device_loss}"
        );
        assert_ne!(fast_grads, params.zeros_like());
        for (ours, theirs) in device_grads.tensors.iter().zip(&fast_grads.tensors) {
            assert_close(&ours.name, &ours.data, &theirs.data, 1e-4);
        }
        // New weights reach both.
        let shifted = Params::init(&model, &mut rng);
        fast.set_params(&shifted).unwrap();
        on_device.set_params(&shifted).unwrap();
        let (a, b) = (
            fast.loss(&batch, labels).unwrap(),
            on_device.loss(&batch, labels).unwrap(),
        );
        assert!(
            (a - b).abs() < 1e-5 && (a - fast_loss).abs() > 1e-4,
            "{a} vs {b}"
        );
        // Same RNG draws: the grids agree but for pixels whose probability sits on a draw.
        let draw = |backend: &Backend| {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            backend
                .sample(4, &labels[..4], &mut rng, &mut |_| {})
                .unwrap()
        };
        let (g1, g2) = (draw(&fast), draw(&on_device));
        let differing = g1
            .pixels
            .iter()
            .zip(&g2.pixels)
            .filter(|(a, b)| a != b)
            .count();
        assert!(differing <= 2, "{differing} pixels differ");
        // And a trainer on the device takes the fast trainer's steps.
        let losses = |device: DeviceChoice| {
            let config = TrainConfig {
                batch_size: 10,
                device,
                ..common::tiny_train_config()
            };
            let mut trainer = Trainer::new(model.clone(), config).unwrap();
            train_steps(&mut trainer, &data, 2).unwrap()
        };
        let (fast_losses, device_losses) =
            (losses(DeviceChoice::FastCpu), losses(choice_of(device)));
        for (a, b) in fast_losses.iter().zip(&device_losses) {
            assert!(
                (a - b).abs() < 1e-6 * a,
                "{fast_losses:?} vs {device_losses:?}"
            );
        }
    }
}

test_device!(
    the_device_sampler_draws_what_the_cpu_fast_sampler_draws,
    the_device_sampler_draws_what_the_cpu_fast_sampler_draws_candle_cpu,
    the_device_sampler_draws_what_the_cpu_fast_sampler_draws_cuda
);
fn the_device_sampler_draws_what_the_cpu_fast_sampler_draws(device: &Device) {
    for cfg in [
        tiny_residual_model(),
        gated_model(2, 6, false),
        tiny_gated_model(true),
    ] {
        let (params, _, _) = random_params_images_and_labels(&cfg, 1, 13);
        let count = 4;
        let labels: Vec<u8> = if cfg.conditional() {
            vec![3, 1, 4, 1]
        } else {
            Vec::new()
        };
        let cpu = CpuNet::new(&cfg, &params);
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let (cpu_grid, cpu_probs) = sample_fast(&cpu, count, &labels, &mut rng, &mut |_| {});
        let after_cpu: u32 = rng.random();

        let net = DeviceNet::new(&cfg, &params, device).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let mut rows = 0;
        let (grid, probs) = sample_device(&net, count, &labels, &mut rng, &mut |g| {
            rows += 1;
            assert_eq!(g.pixels_done, rows * 28);
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(rows, 28);
        assert_eq!(
            rng.random::<u32>(),
            after_cpu,
            "the same numbers were drawn"
        );
        assert_close("probabilities", &probs, &cpu_probs, 1e-5);
        assert_eq!(grid.pixels, cpu_grid.pixels, "{cfg:?}");

        // Each probability is the full network's on the finished canvas (causality).
        let logits = logits_of(&net, &grid.pixels, &labels);
        for (pos, chunk) in probs.chunks(count).enumerate() {
            for (image, &p) in chunk.iter().enumerate() {
                let z = logits[image * PIXELS + pos];
                let full = 1.0 / (1.0 + (-z).exp());
                assert!((p - full).abs() < 1e-5, "pixel {pos} of image {image}");
            }
        }
    }
}

test_device!(
    the_device_sampler_draws_the_class_asked_for,
    the_device_sampler_draws_the_class_asked_for_candle_cpu,
    the_device_sampler_draws_the_class_asked_for_cuda
);
/// A model whose every class draws one known image (`common::class_patterns`): each image the
/// device draws is the one of the class asked for.
fn the_device_sampler_draws_the_class_asked_for(device: &Device) {
    let net = DeviceNet::new(&class_patterns::model(), &class_patterns::params(), device).unwrap();
    let labels: Vec<u8> = (0..10).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (grid, _) = sample_device(&net, labels.len(), &labels, &mut rng, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    for (image, &label) in grid.pixels.chunks_exact(PIXELS).zip(&labels) {
        assert!(image == class_patterns::image(label), "a {label} was asked");
    }
}

test_device!(
    the_device_sampler_stops_after_the_row_asked,
    the_device_sampler_stops_after_the_row_asked_candle_cpu,
    the_device_sampler_stops_after_the_row_asked_cuda
);
fn the_device_sampler_stops_after_the_row_asked(device: &Device) {
    let cfg = with_maps(6, tiny_model());
    let (params, _, _) = random_params_images_and_labels(&cfg, 1, 2);
    let net = DeviceNet::new(&cfg, &params, device).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (grid, probs) = sample_device(&net, 2, &[], &mut rng, &mut |g| {
        if g.pixels_done >= 3 * 28 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(grid.pixels_done, 3 * 28);
    assert_eq!(probs.len(), 3 * 28 * 2);
    assert!(grid.pixels[3 * 28..PIXELS].iter().all(|&p| p == 0.0));
}

test_device!(
    the_device_network_matches_the_fast_kernels_with_dilation_and_the_no_label_class,
    the_device_network_matches_the_fast_kernels_with_dilation_and_the_no_label_class_candle_cpu,
    the_device_network_matches_the_fast_kernels_with_dilation_and_the_no_label_class_cuda
);
/// Issue 16's model: five gated layers, so the preset's rows 1, 1, 2, 2, 4 apart all occur, and
/// half the labels the "no label" class.
fn the_device_network_matches_the_fast_kernels_with_dilation_and_the_no_label_class(
    device: &Device,
) {
    let cfg = digits_model(5, 6);
    let (params, input, labels) = random_params_images_and_no_labels(&cfg, 2, 3);
    let mut cpu = CpuNet::new(&cfg, &params);
    let net = DeviceNet::new(&cfg, &params, device).unwrap();
    assert_close(
        "logits",
        &logits_of(&net, &input, &labels),
        &cpu.forward(&input, &labels),
        1e-5,
    );
    let mut cpu_grads = params.zeros_like();
    cpu.loss_and_grads(&input, &labels, &mut cpu_grads);
    let mut backend = Backend::new(choice_of(device), &cfg, &params).unwrap();
    let mut grads = params.zeros_like();
    backend.loss_and_grads(&input, &labels, &mut grads).unwrap();
    for (ours, theirs) in grads.tensors.iter().zip(&cpu_grads.tensors) {
        // Sums over the batch in f32 on the device, chunk sums in f64 on the CPU.
        let tol = if ours.name.ends_with("bias") || ours.name.contains("cond") {
            1e-4
        } else {
            1e-5
        };
        assert_close(&ours.name, &ours.data, &theirs.data, tol);
    }
}

test_device!(
    the_device_sampler_draws_what_the_cpu_fast_sampler_draws_guided_and_tempered,
    the_device_sampler_draws_what_the_cpu_fast_sampler_draws_guided_and_tempered_candle_cpu,
    the_device_sampler_draws_what_the_cpu_fast_sampler_draws_guided_and_tempered_cuda
);
/// Guidance alone, temperature alone and both (the styles `tests/digits.rs` checks the CPU
/// samplers at), on issue 16's dilated model with the "no label" class.
fn the_device_sampler_draws_what_the_cpu_fast_sampler_draws_guided_and_tempered(device: &Device) {
    let cfg = digits_model(3, 6);
    let (params, _, _) = random_params_images_and_labels(&cfg, 1, 13);
    let labels = [3u8, 1, 4, 1];
    let cpu = CpuNet::new(&cfg, &params);
    let net = DeviceNet::new(&cfg, &params, device).unwrap();
    for style in [SAMPLE_STYLES[1], SAMPLE_STYLES[2], SAMPLE_STYLES[4]] {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let (cpu_grid, cpu_probs) = sample_fast_styled(
            &cpu,
            SampleGrid::blank(4),
            &labels,
            style,
            &mut rng,
            &mut |_| ControlFlow::Continue(()),
        );
        let after_cpu: u32 = rng.random();
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let (grid, probs) = sample_device_styled(&net, 4, &labels, style, &mut rng, &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(
            rng.random::<u32>(),
            after_cpu,
            "the same numbers were drawn"
        );
        assert_close("probabilities", &probs, &cpu_probs, 1e-5);
        assert_eq!(grid.pixels, cpu_grid.pixels, "{style:?}");
    }
}
