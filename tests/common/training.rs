//! Training from tests through what ships: the one training driver (`Driver`), stopped after a
//! number of steps by a [`StopAfter`] hook.

use pixelcnn_studio::data::Mnist;
use pixelcnn_studio::train::{Driver, RunHooks, RunOutcome, TrainError, TrainEvent, Trainer};

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
