//! Training: the loop, the optimizer and the metrics it records.

pub mod backend;
pub mod metrics;
pub mod optimizer;
pub mod trainer;

pub use backend::{Backend, DeviceChoice, Precision, StepError};
pub use metrics::{bits_per_dim, nats_per_image, EpochRecord, History, StepHistory, StepPoint};
pub use optimizer::{Adam, AdamConfig, DeviceAdam};
pub use trainer::{
    evaluate_cost, Progress, RunSummary, StepReport, TrainConfig, TrainError, TrainEvent, Trainer,
    TrainingSnapshot,
};
