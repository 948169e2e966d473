//! Training on real MNIST: the cost falls, the same seed gives the same losses; a non-finite
//! loss, gradient, update or test cost stops training with the last good state kept; settings
//! and devices that cannot run are refused clearly. Every run goes through the shipped driver
//! (`common::training`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers in integration tests, too

mod common;

use common::training::{train_steps, train_to_the_end};
use pixelcnn_studio::checkpoint;
use pixelcnn_studio::data::{default_data_dir, load_mnist, Dataset, Mnist, IMAGE_PIXELS};
use pixelcnn_studio::model::{FamilyConfig, ModelConfig, PlainConfig};
use pixelcnn_studio::train::{
    DeviceChoice, Driver, NonFiniteValue, Precision, RunHooks, RunOutcome, TrainConfig, TrainError,
    TrainEvent, Trainer,
};

fn small_real_run() -> TrainConfig {
    TrainConfig {
        epochs: 2,
        batch_size: 50,
        seed: 3,
        train_limit: Some(2000),
        test_limit: Some(500),
        samples_per_epoch: 4,
        ..TrainConfig::default()
    }
}

fn small_model() -> ModelConfig {
    ModelConfig {
        feature_maps: 16,
        ..ModelConfig::seed()
    }
}

#[test]
fn the_cost_falls_when_training_briefly_on_real_mnist() {
    let data = load_mnist(&default_data_dir()).unwrap();
    let mut trainer = Trainer::new(small_model(), small_real_run()).unwrap();
    let initial_test = trainer.test_cost(&data.test).unwrap();
    struct Names(Vec<&'static str>);
    impl RunHooks for Names {
        fn on_event(&mut self, _trainer: &Trainer, event: TrainEvent<'_>) {
            self.0.push(match event {
                TrainEvent::Step { .. } => "step",
                TrainEvent::Evaluating { .. } => "evaluating",
                TrainEvent::EpochFinished(_) => "epoch",
                TrainEvent::Sampling { .. } => "sampling",
                TrainEvent::SamplesReady { grid, .. } => {
                    assert_eq!(grid.count, 4);
                    "samples"
                }
            })
        }
        fn should_yield(&mut self) -> bool {
            false
        }
    }
    let mut events = Names(Vec::new());
    let outcome = Driver::new().run(&mut trainer, &data, &mut events).unwrap();
    let events = events.0;
    assert_eq!(outcome, RunOutcome::Finished);
    assert_eq!(events.first(), Some(&"step"));
    assert_eq!(events.last(), Some(&"samples"));
    assert_eq!(events.iter().filter(|e| **e == "step").count(), 80);
    assert_eq!(events.iter().filter(|e| **e == "epoch").count(), 2);
    assert_eq!(events.iter().filter(|e| **e == "samples").count(), 2);
    let epochs = &trainer.history().epochs;
    let final_test = epochs[1].test_cost_nats_per_pixel;
    assert!(
        initial_test > 0.5,
        "an untrained model is near a coin flip: {initial_test}"
    );
    // Below a per-pixel-mean model (~0.26) and falling between epochs.
    assert!(final_test < 0.25, "test cost {final_test}");
    assert!(epochs[1].train_cost_nats_per_pixel < epochs[0].train_cost_nats_per_pixel);
    let steps = &trainer.history().steps.recent;
    assert!(steps.back().unwrap().loss_nats_per_pixel < steps.front().unwrap().loss_nats_per_pixel);
}

#[test]
fn the_same_seed_gives_the_same_losses() {
    let data = Mnist::synthetic(200, 50, 9);
    let losses = |seed| {
        let mut trainer = Trainer::new(
            small_model(),
            TrainConfig {
                seed,
                epochs: 1,
                samples_per_epoch: 0,
                ..TrainConfig::default()
            },
        )
        .unwrap();
        train_steps(&mut trainer, &data, 2).unwrap()
    };
    assert_eq!(losses(5), losses(5));
    assert_ne!(losses(5), losses(6));
}

#[test]
fn a_non_finite_loss_stops_training_and_keeps_the_last_good_weights() {
    let data = Mnist::synthetic(200, 50, 9);
    let mut trainer = Trainer::new(small_model(), TrainConfig::default()).unwrap();
    train_steps(&mut trainer, &data, 1).unwrap();
    let mut snapshot = trainer.snapshot().clone();
    // Poison one bias: the loss becomes NaN on the next step.
    let last = snapshot.params.tensors.len() - 1;
    snapshot.params.tensors[last].data[0] = f32::INFINITY;
    let poisoned = snapshot.clone();
    let mut trainer = Trainer::from_snapshot(snapshot).unwrap();
    let err = train_steps(&mut trainer, &data, 1).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::NonFinite {
                what: NonFiniteValue::Loss(_),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(trainer.snapshot(), &poisoned, "no update was applied");
}

#[test]
fn an_adam_update_that_would_overflow_stops_training_and_keeps_a_loadable_state() {
    let data = Mnist::synthetic(100, 20, 9);
    let mut trainer = common::trained(&data, 2);
    let mut snapshot = trainer.snapshot().clone();
    // The last tap of each mask-A kernel is hidden: its gradient is always zero, so its second
    // moment is zero too, and a first moment at f32::MAX (finite: a checkpoint may hold it)
    // divided by eps overflows the weight to -inf.
    let kernel_taps = 5 * 5;
    snapshot.adam.first_moment.tensors[0].data[kernel_taps - 1] = f32::MAX;
    trainer = Trainer::from_snapshot(snapshot.clone()).unwrap();
    let err = train_steps(&mut trainer, &data, 1).unwrap_err();
    assert!(
        matches!(
            &err,
            TrainError::NonFinite {
                step: 3,
                what: NonFiniteValue::Update(tensor),
            } if tensor == "conv_a.weight"
        ),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(
            "Adam's update would have made 'conv_a.weight' or its moments NaN or infinite at step 3"
        ),
        "{err}"
    );
    // Nothing changed, not even the binarization RNG.
    let after = trainer.snapshot();
    assert_eq!(after, &snapshot);
    // And what is kept saves and loads.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.safetensors");
    checkpoint::save(&path, after).unwrap();
    assert_eq!(checkpoint::load(&path).unwrap().params, snapshot.params);
}

#[test]
fn a_finite_loss_with_a_non_finite_gradient_is_not_reported_as_the_loss() {
    let shown = TrainError::NonFinite {
        step: 4,
        what: NonFiniteValue::Gradient,
    }
    .to_string();
    assert!(
        shown.starts_with("a gradient became NaN or infinite (the loss was finite) at step 4"),
        "{shown}"
    );
}

#[test]
fn a_model_whose_outputs_overflow_has_no_test_cost() {
    let data = Mnist::synthetic(40, 20, 5);
    let mut snapshot = common::trained(&data, 1).snapshot().clone();
    // Every weight x 1e30 (the trained and the averaged ones): finite, but the logits
    // overflow.
    let averaged = snapshot.averaged.as_mut().map(|a| &mut a.tensors);
    for t in snapshot
        .params
        .tensors
        .iter_mut()
        .chain(averaged.into_iter().flatten())
    {
        t.data.iter_mut().for_each(|w| *w *= 1e30);
    }
    let mut trainer = Trainer::from_snapshot(snapshot).unwrap();
    let err = trainer.test_cost(&data.test).unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteCost { .. }), "{err}");
    assert!(err.to_string().contains("not finite"), "{err}");
}

#[test]
fn an_epoch_whose_test_cost_is_not_finite_is_rolled_back_to_before_its_last_step() {
    // Blank training images give the first layer's weights a zero gradient, so a first layer
    // at f32::MAX trains finitely; on inked test images its outputs overflow.
    let data = Mnist {
        train: Dataset {
            images: vec![0; 20 * IMAGE_PIXELS],
            labels: vec![0; 20],
        },
        test: Mnist::synthetic(1, 10, 4).test,
    };
    // Two steps of 10 images make the epoch.
    let config = TrainConfig {
        epochs: 1,
        batch_size: 10,
        seed: 2,
        samples_per_epoch: 0,
        ..TrainConfig::default()
    };
    let mut snapshot = Trainer::new(common::tiny_model(), config)
        .unwrap()
        .snapshot()
        .clone();
    assert_eq!(snapshot.params.tensors[0].name, "conv_a.weight");
    snapshot.params.tensors[0].data.fill(f32::MAX);
    let mut one_step = Trainer::from_snapshot(snapshot.clone()).unwrap();
    train_steps(&mut one_step, &data, 1).unwrap();

    let mut trainer = Trainer::from_snapshot(snapshot).unwrap();
    let err = train_to_the_end(&mut trainer, &data).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::NonFinite {
                step: 2,
                what: NonFiniteValue::TestCost(cost),
            } if !cost.is_finite()
        ),
        "{err}"
    );
    assert_eq!(
        trainer.snapshot(),
        one_step.snapshot(),
        "the state is the one before the epoch's last step"
    );
    assert!(trainer.history().epochs.is_empty());
}

#[test]
fn a_run_that_needs_more_memory_than_any_machine_is_refused_before_allocating() {
    let huge = ModelConfig {
        feature_maps: 512,
        family: FamilyConfig::Plain(PlainConfig {
            masked_layers: 64,
            ..PlainConfig::seed()
        }),
        ..ModelConfig::seed()
    };
    let config = TrainConfig {
        batch_size: 10_000,
        ..TrainConfig::default()
    };
    let err = Trainer::new(huge, config).err().unwrap();
    assert!(matches!(err, TrainError::Memory(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with("training this model at batch size 10000 needs about ")
            && message.contains(" GiB more memory (estimate), but only "),
        "{message}"
    );
}

#[test]
fn invalid_settings_are_rejected_with_a_clear_message() {
    let bad = TrainConfig {
        batch_size: 0,
        ..TrainConfig::default()
    };
    let err = Trainer::new(ModelConfig::seed(), bad).err().unwrap();
    assert!(err.to_string().contains("batch size 0"), "{err}");
    let bad_model = ModelConfig {
        first_kernel: 4,
        ..ModelConfig::seed()
    };
    let err = Trainer::new(bad_model, TrainConfig::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("even"), "{err}");
}

/// A build without the `cuda` feature refuses CUDA with a clear way out; a build with it trains
/// on the GPU when one is there, and otherwise says that none was found.
#[test]
fn asking_for_cuda_trains_on_the_gpu_or_says_clearly_why_not() {
    let config = TrainConfig {
        device: DeviceChoice::Cuda,
        batch_size: 10,
        samples_per_epoch: 0,
        ..TrainConfig::default()
    };
    let trainer = Trainer::new(common::tiny_model(), config);
    if cfg!(feature = "cuda") {
        match candle_core::Device::new_cuda(0) {
            Ok(_) => {
                let mut trainer = trainer.unwrap();
                let data = Mnist::synthetic(20, 10, 1);
                let losses = train_steps(&mut trainer, &data, 1).unwrap();
                assert!(losses[0] > 0.0 && losses[0].is_finite(), "{losses:?}");
            }
            Err(_) => {
                let err = trainer.err().unwrap();
                assert!(err.to_string().contains("no GPU found"), "{err}");
            }
        }
    } else {
        let err = trainer.err().unwrap();
        let message = err.to_string();
        assert!(
            message.contains("CUDA is not available: this build has no cuda feature")
                && message.contains("--features cuda")
                && message.contains("use --device cpu"),
            "{message}"
        );
    }
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
