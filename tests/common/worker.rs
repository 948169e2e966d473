//! The training thread's fixtures: the tiny synthetic digits its runs load, a tiny run, the
//! command that starts one, and a model slow enough to catch the worker mid-evaluation or
//! mid-grid.

use pixelcnn_studio::data::DataSource;
use pixelcnn_studio::messages::WorkerCommand;
use pixelcnn_studio::model::{FamilyConfig, ModelConfig, PlainConfig};
use pixelcnn_studio::train::TrainConfig;

use super::{tiny_model, tiny_train_config};

/// The synthetic digits a worker test's runs load: 100 training and 20 test images.
pub fn synthetic() -> DataSource {
    DataSource::Synthetic {
        train: 100,
        test: 20,
        seed: 7,
    }
}

/// [`tiny_train_config`] for `epochs`, drawing a grid of 4 at each epoch end.
pub fn tiny_train(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        samples_per_epoch: 4,
        ..tiny_train_config()
    }
}

/// Start of a run of `model` with `train` on `data`, without previews.
pub fn start_with(model: ModelConfig, train: TrainConfig, data: DataSource) -> WorkerCommand {
    WorkerCommand::Start {
        model,
        train,
        data,
        preview_every: None,
    }
}

/// Start of a run of the tiny model on [`synthetic`], without previews.
pub fn start(train: TrainConfig) -> WorkerCommand {
    start_with(tiny_model(), train, synthetic())
}

/// A model big enough that evaluating 1,200 test images takes seconds (14 images per evaluation
/// chunk, 86 chunks), or drawing a 10x10 grid does; trained on one minibatch per epoch, its
/// evaluation starts at once.
pub fn slow_model() -> ModelConfig {
    ModelConfig {
        family: FamilyConfig::Plain(PlainConfig {
            masked_layers: 8,
            ..PlainConfig::seed()
        }),
        ..ModelConfig::seed()
    }
}
