//! Training from tests through what ships: the one training driver (`Driver`), stopped after a
//! number of steps by a [`StopAfter`] hook.

use pixelcnn_studio::checkpoint;
use pixelcnn_studio::data::Mnist;
use pixelcnn_studio::model::ModelConfig;
use pixelcnn_studio::train::{
    Driver, RunHooks, RunOutcome, TrainConfig, TrainError, TrainEvent, Trainer, TrainingSnapshot,
};

/// Run hooks that hand control back once `steps` training steps are done, and once the epoch
/// the last of them closed (if it did) has its test cost, as a run always closes an epoch
/// before the next step. They keep each step's loss.
pub struct StopAfter {
    steps: usize,
    steps_per_epoch: usize,
    /// The last step closed an epoch whose test cost is not measured yet.
    closing: bool,
    /// The loss of each step run so far, nats per pixel.
    pub losses: Vec<f64>,
}

impl StopAfter {
    /// Hooks that stop `trainer`'s run on `data` after `steps` steps.
    pub fn new(steps: usize, trainer: &Trainer, data: &Mnist) -> StopAfter {
        StopAfter {
            steps,
            steps_per_epoch: trainer.steps_per_epoch(&data.train),
            closing: false,
            losses: Vec::new(),
        }
    }
}

impl RunHooks for StopAfter {
    fn on_event(&mut self, trainer: &Trainer, event: TrainEvent<'_>) {
        match event {
            TrainEvent::Step {
                loss_nats_per_pixel,
                ..
            } => {
                self.losses.push(loss_nats_per_pixel);
                self.closing = trainer.progress().step_in_epoch >= self.steps_per_epoch;
            }
            TrainEvent::EpochFinished(_) => self.closing = false,
            _ => {}
        }
    }

    fn should_yield(&mut self) -> bool {
        self.losses.len() >= self.steps && !self.closing
    }
}

/// Trains `steps` minibatches with a fresh [`Driver`] (closing, with its test cost, each epoch
/// they complete; no grid is drawn) and returns their losses, or the run's error. Panics when
/// the run finishes first: the trainer's epochs are too few for the steps asked.
pub fn train_steps(
    trainer: &mut Trainer,
    data: &Mnist,
    steps: usize,
) -> Result<Vec<f64>, TrainError> {
    let mut hooks = StopAfter::new(steps, trainer, data);
    let outcome = Driver::new().run(trainer, data, &mut hooks)?;
    assert!(
        outcome == RunOutcome::Yielded && hooks.losses.len() == steps,
        "the run finished after {} of {steps} steps: give the trainer more epochs",
        hooks.losses.len()
    );
    Ok(hooks.losses)
}

/// Trains until every epoch of the trainer's config is done (closing each with its test cost
/// and drawing the grids its config asks for).
pub fn train_to_the_end(trainer: &mut Trainer, data: &Mnist) -> Result<(), TrainError> {
    struct Never;
    impl RunHooks for Never {
        fn on_event(&mut self, _trainer: &Trainer, _event: TrainEvent<'_>) {}
        fn should_yield(&mut self) -> bool {
            false
        }
    }
    Driver::new().run(trainer, data, &mut Never).map(|_| ())
}

/// Trains `model` with `config` on `data` twice: `2 * k` steps straight, and `k` steps saved to
/// a checkpoint file, loaded (onto `config.device`, which a checkpoint does not hold) and
/// trained `k` steps more. Asserts that the checkpoint holds the model, its family and
/// conditioning, and that the two runs end bit for bit alike: weights (trained and averaged),
/// Adam's state, the run's position (with the schedule's progress) and every epoch's costs. Returns the loaded checkpoint.
pub fn assert_resume_is_bit_identical(
    model: &ModelConfig,
    config: &TrainConfig,
    data: &Mnist,
    k: usize,
) -> TrainingSnapshot {
    let run = |steps: usize| {
        let mut trainer = Trainer::new(model.clone(), config.clone()).unwrap();
        train_steps(&mut trainer, data, steps).unwrap();
        trainer
    };
    let straight = run(2 * k);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.safetensors");
    checkpoint::save(&path, run(k).snapshot()).unwrap();
    let loaded = checkpoint::load(&path).unwrap();
    assert_eq!(
        &loaded.model, model,
        "the family and conditioning are saved"
    );
    assert_eq!(loaded.progress.global_step, k as u64);
    assert_eq!(loaded.adam.step_count, k as u64);

    let mut resumed = Trainer::from_snapshot(loaded.clone()).unwrap();
    if resumed.config().device != config.device {
        resumed.set_config(config.clone()).unwrap();
    }
    train_steps(&mut resumed, data, k).unwrap();
    assert_eq!(resumed.snapshot().params, straight.snapshot().params);
    assert_eq!(
        resumed.snapshot().averaged,
        straight.snapshot().averaged,
        "the averaged weights too"
    );
    assert_eq!(resumed.snapshot().adam, straight.snapshot().adam);
    assert_eq!(resumed.snapshot().progress, straight.snapshot().progress);
    let costs = |t: &Trainer| {
        t.history()
            .epochs
            .iter()
            .map(|r| (r.train_cost_nats_per_pixel, r.test_cost_nats_per_pixel))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        costs(&resumed),
        costs(&straight),
        "timings aside, the same history"
    );
    loaded
}

/// Trains the tiny model (see [`super::tiny_train_config`]) `epochs` epochs on 100 synthetic
/// digits of `seed`, with that seed, and saves it at `path`: a small finished run's checkpoint.
pub fn write_checkpoint(path: &std::path::Path, epochs: usize, seed: u64) {
    let data = Mnist::synthetic(100, 20, seed);
    let config = TrainConfig {
        epochs,
        seed,
        ..super::tiny_train_config()
    };
    let mut trainer = Trainer::new(super::tiny_model(), config).unwrap();
    train_to_the_end(&mut trainer, &data).unwrap();
    checkpoint::save(path, trainer.snapshot()).unwrap();
}
