//! Training: the trainer and the one driver that runs it, the optimizer, weight averaging, the
//! learning-rate schedule, the metrics it records and the speed estimate shown before a run.

pub mod averaging;
pub mod backend;
pub mod driver;
pub mod error;
pub mod estimate;
pub mod metrics;
pub mod metrics_csv;
pub mod model_snapshot;
pub mod optimizer;
pub mod schedule;
pub mod trainer;

pub use averaging::{WeightAveraging, DEFAULT_AVERAGING_DECAY};
pub use backend::{Backend, DeviceChoice, Precision};
pub use driver::{
    preview_seed, Driver, RunHooks, RunOutcome, SampleJob, SampleKind, SampleStamp, TrainEvent,
};
pub use error::{NonFiniteValue, StepError, TrainError};
pub use metrics::{
    bits_per_dim, nats_per_image, EpochRecord, History, SettingsRecord, StepHistory, StepPoint,
};
pub use model_snapshot::ModelSnapshot;
pub use optimizer::{Adam, AdamConfig, NonFiniteUpdate};
pub use schedule::LrSchedule;
pub use trainer::{
    default_learning_rate, eval_chunk_images, evaluate_cost, Evaluation, RunPosition, TrainConfig,
    Trainer, TrainingSnapshot,
};
