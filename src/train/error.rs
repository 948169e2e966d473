//! What goes wrong in training: [`TrainError`] for a run, [`StepError`] for one step of a
//! backend, and [`NonFiniteValue`], the one description of a value that became NaN or infinite
//! (a step's loss, gradient or update, or an epoch's test cost) that both of them carry.

use thiserror::Error;

use crate::model::arch::memory::MemoryError;
use crate::model::ConfigError;

/// Why training stopped with an error.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The model configuration is invalid.
    #[error(transparent)]
    Model(#[from] ConfigError),
    /// The training configuration is invalid.
    #[error("invalid training configuration: {0}")]
    InvalidConfig(String),
    /// The loss, a gradient, Adam's update or the test cost became NaN or infinite; the state
    /// is the one before the step that failed.
    #[error("{what} at step {step}: training stopped, the last good weights are kept (try a lower learning rate)")]
    NonFinite {
        /// Global step that failed.
        step: u64,
        /// What became NaN or infinite.
        what: NonFiniteValue,
    },
    /// A model's test cost is NaN or infinite (its outputs overflow: weights too large).
    #[error("the test cost is {cost}: the model's outputs are not finite numbers (its weights are too large or damaged)")]
    NonFiniteCost {
        /// The cost.
        cost: f64,
    },
    /// The model and batch need more memory than the machine has available.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// A dataset split has no images.
    #[error("the {0} set is empty: check --data and the limits")]
    EmptyData(&'static str),
    /// The compute device failed (e.g. CUDA unavailable).
    #[error("{0}")]
    Device(String),
}

/// What became NaN or infinite: a training step's loss, gradient or update, or the test cost
/// that closes an epoch.
#[derive(Clone, Debug, PartialEq)]
pub enum NonFiniteValue {
    /// The minibatch loss, with its value.
    Loss(f64),
    /// A gradient (the loss was finite).
    Gradient,
    /// Adam's update of a weight or moment, in this parameter tensor.
    Update(String),
    /// The test cost at the end of the epoch, with its value.
    TestCost(f64),
}

impl std::fmt::Display for NonFiniteValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NonFiniteValue::Loss(loss) => write!(f, "the loss became {loss}"),
            NonFiniteValue::Gradient => {
                write!(f, "a gradient became NaN or infinite (the loss was finite)")
            }
            NonFiniteValue::Update(tensor) => write!(
                f,
                "Adam's update would have made '{tensor}' or its moments NaN or infinite"
            ),
            NonFiniteValue::TestCost(cost) => write!(f, "the test cost became {cost}"),
        }
    }
}

/// Why a backend's training step did not update the weights (the weights and Adam's state are
/// unchanged in every case).
#[derive(Clone, Debug, PartialEq, Error)]
pub enum StepError {
    /// The loss, a gradient or Adam's update became NaN or infinite.
    #[error("{0}")]
    NonFinite(NonFiniteValue),
    /// The device failed or the input was refused.
    #[error("{0}")]
    Device(String),
}
