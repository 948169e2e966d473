//! A copy of a model's weights taken between two training steps, for exploring it while it
//! trains (or after a checkpoint was opened). The worker takes it, the UI passes it on, the
//! explorer runs it: all three import it from here.

use std::sync::Arc;

use super::trainer::Trainer;
use crate::model::{ModelConfig, Params};

/// The architecture and weights of a model at one point of its training. Cheap to clone (the
/// weights are shared); the UI passes it on to the explorer thread without looking inside.
#[derive(Clone, PartialEq)]
pub struct ModelSnapshot {
    /// The architecture.
    pub model: ModelConfig,
    /// The weights the model evaluates and samples with (the averaged ones when the run
    /// averages them).
    pub params: Arc<Params>,
    /// Training steps the weights had taken.
    pub global_step: u64,
    /// Epochs the model had completed.
    pub epochs_done: usize,
}

impl ModelSnapshot {
    /// A copy of `trainer`'s current weights (those it evaluates with).
    pub fn of(trainer: &Trainer) -> ModelSnapshot {
        ModelSnapshot {
            model: trainer.model_config().clone(),
            params: Arc::new(trainer.snapshot().eval_params().clone()),
            global_step: trainer.progress().global_step,
            epochs_done: trainer.progress().epochs_done,
        }
    }
}

impl std::fmt::Debug for ModelSnapshot {
    /// The shape of the snapshot, not its millions of weights.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSnapshot")
            .field("model", &self.model)
            .field("tensors", &self.params.tensors.len())
            .field("global_step", &self.global_step)
            .field("epochs_done", &self.epochs_done)
            .finish()
    }
}
