//! The GPU code path, run on candle's CPU backend (`candle-cpu`) so that every CI run checks it
//! without a GPU: the device network against the fast CPU kernels (values and gradients, both
//! families, conditional and not), the device Adam against the CPU Adam, device training that
//! never copies weights back until asked (exact resume, checkpoints that open on the CPU, a NaN
//! that keeps the last good weights), and the device sampler against the CPU fast sampler.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers in integration tests, too

use candle_core::{Device, Tensor};
use pixelcnn_studio::checkpoint;
use pixelcnn_studio::data::Mnist;
use pixelcnn_studio::model::device::sampler::sample_device;
use pixelcnn_studio::model::{
    sample_fast, CpuNet, DeviceAdam, DeviceNet, FamilyConfig, GatedConfig, ModelConfig, Params,
    PlainConfig,
};
use pixelcnn_studio::train::optimizer::clip_gradients;
use pixelcnn_studio::train::{
    Adam, AdamConfig, Backend, DeviceChoice, NonFiniteValue, Precision, StepError, TrainConfig,
    TrainError, Trainer,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;

use common::training::train_steps;
use common::{assert_close, random_params_images_and_labels};

const PIXELS: usize = 784;

fn plain(maps: usize, residual: bool) -> ModelConfig {
    ModelConfig {
        feature_maps: maps,
        family: FamilyConfig::Plain(PlainConfig {
            masked_layers: 2,
            masked_relu: residual,
            relu_layers: 1,
            residual,
            ..PlainConfig::seed()
        }),
        ..ModelConfig::seed()
    }
}

fn gated(maps: usize, conditional: bool) -> ModelConfig {
    ModelConfig {
        feature_maps: maps,
        first_kernel: 5,
        family: FamilyConfig::Gated(GatedConfig {
            gated_layers: 2,
            conditional,
            ..GatedConfig::preset()
        }),
    }
}

/// The model shapes the tests cover: plain without and with ReLU + residual, gated without and
/// with class conditioning.
fn models() -> Vec<ModelConfig> {
    vec![
        plain(6, false),
        plain(8, true),
        gated(6, false),
        gated(8, true),
    ]
}

#[test]
fn the_device_network_matches_the_fast_kernels_in_values_and_gradients() {
    for cfg in models() {
        let (params, input, labels) = random_params_images_and_labels(&cfg, 2, 11);
        let mut cpu = CpuNet::new(&cfg, &params);
        let cpu_logits = cpu.forward(&input, &labels);
        let mut cpu_grads = params.zeros_like();
        let cpu_loss = cpu.loss_and_grads(&input, &labels, &mut cpu_grads);

        let net = DeviceNet::new(&cfg, &params, &Device::Cpu).unwrap();
        let batch = net.upload_batch(&input, &labels).unwrap();
        let logits: Vec<f32> = net
            .logits(&batch)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_close("logits", &logits, &cpu_logits, 1e-5);

        let mut device = Backend::new(DeviceChoice::GpuPathOnCpu, &cfg, &params).unwrap();
        let mut grads = params.zeros_like();
        let loss = device.loss_and_grads(&input, &labels, &mut grads).unwrap();
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
        let eval = device.loss(&input, &labels).unwrap();
        assert!((eval - cpu_loss).abs() < 1e-6 * cpu_loss, "{eval}");
    }
}

#[test]
fn the_device_adam_matches_the_cpu_adam_step_for_step() {
    let cfg = plain(6, true);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut params = Params::init(&cfg, &mut rng);
    let config = AdamConfig {
        learning_rate: 3e-3,
        ..AdamConfig::default()
    };
    let mut adam = Adam::new(&params, config);
    let net = DeviceNet::new(&cfg, &params, &Device::Cpu).unwrap();
    let layout = net.layout();
    let mut flat = net.params().clone();
    let mut device_adam = DeviceAdam::zeros(layout.len(), &Device::Cpu, 1.0).unwrap();
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
        let device_grads = Tensor::from_vec(device_grads, layout.len(), &Device::Cpu).unwrap();
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

#[test]
fn training_steps_on_the_device_follow_the_cpu_and_read_back_only_when_asked() {
    for cfg in [plain(6, true), gated(6, true)] {
        let (params, _, _) = random_params_images_and_labels(&cfg, 1, 5);
        let mut cpu = Backend::new(DeviceChoice::FastCpu, &cfg, &params).unwrap();
        let mut device = Backend::new(DeviceChoice::GpuPathOnCpu, &cfg, &params).unwrap();
        assert!(device.trains_on_device() && !cpu.trains_on_device());
        let (mut cpu_params, mut device_params) = (params.clone(), params.clone());
        let mut cpu_adam = Adam::new(&params, AdamConfig::default());
        let mut device_adam = cpu_adam.clone();
        for step in 0..3 {
            let (_, batch, labels) = random_params_images_and_labels(&cfg, 3, 20 + step);
            let a = cpu
                .train_step(&batch, &labels, &mut cpu_params, &mut cpu_adam)
                .unwrap();
            let b = device
                .train_step(&batch, &labels, &mut device_params, &mut device_adam)
                .unwrap();
            assert!((a - b).abs() < 1e-6 * a, "step {step}: {a} vs {b}");
        }
        assert_eq!(device_params, params, "the host copy waits for a download");
        assert_eq!(device_adam.step_count, 3);
        device
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

fn device_config() -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 10,
        seed: 3,
        samples_per_epoch: 0,
        device: DeviceChoice::GpuPathOnCpu,
        ..TrainConfig::default()
    }
}

#[test]
fn device_training_resumes_from_its_checkpoint_bit_for_bit_and_the_checkpoint_opens_on_the_cpu() {
    let data = Mnist::synthetic(40, 20, 6);
    let cfg = gated(6, true);
    let run = |steps: usize| {
        let mut trainer = Trainer::new(cfg.clone(), device_config()).unwrap();
        train_steps(&mut trainer, &data, steps).unwrap();
        trainer
    };
    let k = 3; // 4 steps per epoch: the save falls mid-epoch.
    let straight = run(2 * k);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.safetensors");
    let half = run(k);
    checkpoint::save(&path, half.snapshot()).unwrap();
    let loaded = checkpoint::load(&path).unwrap();
    assert_eq!(loaded.progress.global_step, k as u64);
    assert_eq!(loaded.adam.step_count, k as u64);
    assert_ne!(
        loaded.params,
        Trainer::new(cfg.clone(), device_config())
            .unwrap()
            .snapshot()
            .params,
        "the checkpoint holds the trained weights, read back from the device"
    );

    let mut resumed = Trainer::from_snapshot(loaded.clone()).unwrap();
    resumed.set_config(device_config()).unwrap();
    train_steps(&mut resumed, &data, k).unwrap();
    assert_eq!(resumed.snapshot().params, straight.snapshot().params);
    assert_eq!(resumed.snapshot().adam, straight.snapshot().adam);
    assert_eq!(resumed.snapshot().progress, straight.snapshot().progress);

    // The same checkpoint on the CPU kernels: the same test cost, to 1e-6.
    let mut on_device = Trainer::from_snapshot(loaded.clone()).unwrap();
    on_device.set_config(device_config()).unwrap();
    let mut on_cpu = Trainer::from_snapshot(loaded).unwrap();
    let (a, b) = (
        on_device.test_cost(&data.test).unwrap(),
        on_cpu.test_cost(&data.test).unwrap(),
    );
    assert!((a - b).abs() < 1e-6 * b, "device {a} vs cpu {b}");
}

#[test]
fn moving_a_run_from_the_device_to_the_cpu_carries_the_trained_weights() {
    let data = Mnist::synthetic(40, 20, 6);
    let mut trainer = Trainer::new(plain(6, false), device_config()).unwrap();
    train_steps(&mut trainer, &data, 2).unwrap();
    let on_device = trainer.test_cost(&data.test).unwrap();
    let trained = trainer.snapshot().params.clone();
    trainer
        .set_config(TrainConfig {
            device: DeviceChoice::FastCpu,
            ..device_config()
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

#[test]
fn settings_changed_after_a_read_back_are_neither_lost_nor_hidden() {
    let data = Mnist::synthetic(40, 20, 6);
    let mut trainer = Trainer::new(plain(6, false), device_config()).unwrap();
    train_steps(&mut trainer, &data, 1).unwrap();
    let read_back = trainer.snapshot().params.clone();
    let slower = TrainConfig {
        learning_rate: 1e-4,
        ..device_config()
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

#[test]
fn a_non_finite_step_on_the_device_changes_nothing() {
    let cfg = plain(6, true);
    let (params, batch, labels) = random_params_images_and_labels(&cfg, 2, 8);
    let mut backend = Backend::new(DeviceChoice::GpuPathOnCpu, &cfg, &params).unwrap();
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

#[test]
fn a_trainer_on_the_device_stops_on_a_nan_and_keeps_its_weights() {
    let data = Mnist::synthetic(40, 20, 6);
    let mut trainer = Trainer::new(plain(6, false), device_config()).unwrap();
    train_steps(&mut trainer, &data, 1).unwrap();
    let mut snapshot = trainer.snapshot().clone();
    let last = snapshot.params.tensors.len() - 1;
    snapshot.params.tensors[last].data[0] = f32::INFINITY;
    let poisoned = snapshot.params.clone();
    let mut trainer = Trainer::from_snapshot(snapshot).unwrap();
    trainer.set_config(device_config()).unwrap();
    let err = train_steps(&mut trainer, &data, 1).unwrap_err();
    assert!(
        matches!(err, TrainError::NonFinite { step: 2, .. }),
        "{err}"
    );
    assert_eq!(trainer.snapshot().params, poisoned);
    assert_eq!(trainer.progress().global_step, 1);
}

#[test]
fn the_device_sampler_draws_what_the_cpu_fast_sampler_draws() {
    for cfg in [plain(8, true), gated(6, false), gated(8, true)] {
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

        let net = DeviceNet::new(&cfg, &params, &Device::Cpu).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let mut rows = 0;
        let (grid, probs) = sample_device(&net, count, &labels, &mut rng, &mut |g| {
            rows += 1;
            assert_eq!(g.pixels_done, rows * 28);
            std::ops::ControlFlow::Continue(())
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
        let batch = net.upload_batch(&grid.pixels, &labels).unwrap();
        let logits: Vec<f32> = net
            .logits(&batch)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (pos, chunk) in probs.chunks(count).enumerate() {
            for (image, &p) in chunk.iter().enumerate() {
                let z = logits[image * PIXELS + pos];
                let full = 1.0 / (1.0 + (-z).exp());
                assert!((p - full).abs() < 1e-5, "pixel {pos} of image {image}");
            }
        }
    }
}

#[test]
fn the_device_sampler_stops_after_the_row_asked() {
    let cfg = plain(6, false);
    let (params, _, _) = random_params_images_and_labels(&cfg, 1, 2);
    let net = DeviceNet::new(&cfg, &params, &Device::Cpu).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (grid, probs) = sample_device(&net, 2, &[], &mut rng, &mut |g| {
        if g.pixels_done >= 3 * 28 {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(grid.pixels_done, 3 * 28);
    assert_eq!(probs.len(), 3 * 28 * 2);
    assert!(grid.pixels[3 * 28..PIXELS].iter().all(|&p| p == 0.0));
}

#[test]
fn tf32_is_a_gpu_mode_and_is_refused_elsewhere() {
    for device in [DeviceChoice::FastCpu, DeviceChoice::GpuPathOnCpu] {
        let err = Precision::Tf32.apply(device).unwrap_err();
        assert!(err.contains("needs --device cuda"), "{err}");
        Precision::Fp32.apply(device).unwrap();
    }
    assert_eq!(Precision::parse("tf32"), Ok(Precision::Tf32));
    assert!(Precision::parse("fp16").is_err());
}
