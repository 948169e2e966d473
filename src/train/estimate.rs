//! What a run will cost before it starts: a short probe measures a model's training, evaluation
//! and sampling speed on this machine (a few steps of the trainer on synthetic images, well under
//! a second for the presets in a release build), and [`SpeedEstimate::epoch_secs`] turns that
//! into seconds per epoch for the chosen subsets.

use std::time::Instant;

use super::backend::DeviceChoice;
use super::error::TrainError;
use super::trainer::{eval_chunk_images, TrainConfig, Trainer};
use crate::data::Mnist;
use crate::model::ModelConfig;

/// Images in the largest probe grid (the sampler's cost grows linearly with the count).
const PROBE_SAMPLES: usize = 10;

/// A model's measured speed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpeedEstimate {
    /// Training throughput (whole steps: forward, backward, Adam), images per second.
    pub train_images_per_sec: f64,
    /// Evaluation throughput (forward and loss), images per second.
    pub eval_images_per_sec: f64,
    /// Seconds to draw one image with the sampler.
    pub sample_secs_per_image: f64,
}

impl SpeedEstimate {
    /// Seconds for one epoch: `train_images` trained, `test_images` evaluated and
    /// `samples_per_epoch` images drawn.
    pub fn epoch_secs(
        &self,
        train_images: usize,
        test_images: usize,
        samples_per_epoch: usize,
    ) -> f64 {
        let per = |images: usize, rate: f64| {
            if rate > 0.0 {
                images as f64 / rate
            } else {
                0.0
            }
        };
        per(train_images, self.train_images_per_sec)
            + per(test_images, self.eval_images_per_sec)
            + samples_per_epoch as f64 * self.sample_secs_per_image
    }
}

/// Measures `model`'s speed on `device` with minibatches like `batch_size` (capped so that the
/// probe stays short for large models): one warm-up step, two timed steps, one evaluation chunk
/// and a few sampled images.
pub fn probe_speed(
    model: &ModelConfig,
    device: DeviceChoice,
    batch_size: usize,
) -> Result<SpeedEstimate, TrainError> {
    let chunk = eval_chunk_images(model);
    let batch = batch_size.clamp(1, (chunk / 2).max(4));
    let config = TrainConfig {
        epochs: 1,
        batch_size: batch,
        samples_per_epoch: 0,
        device,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(model.clone(), config)?;
    let data = Mnist::synthetic(batch * 4, chunk, 1);
    trainer.train_step(&data)?;
    let started = Instant::now();
    for _ in 0..2 {
        trainer.train_step(&data)?;
    }
    let train_secs = started.elapsed().as_secs_f64();

    let mut evaluation = trainer.begin_evaluation(&data.test)?;
    while trainer
        .continue_evaluation(&data.test, &mut evaluation)?
        .is_none()
    {}
    let samples = PROBE_SAMPLES.min(chunk).max(1);
    let started = Instant::now();
    trainer.sample(samples, 1, trainer.config().sample_classes, &mut |_| {})?;
    let sample_secs = started.elapsed().as_secs_f64();

    let rate = |images: usize, secs: f64| images as f64 / secs.max(1e-9);
    Ok(SpeedEstimate {
        train_images_per_sec: rate(2 * batch, train_secs),
        eval_images_per_sec: rate(evaluation.images(), evaluation.secs()),
        sample_secs_per_image: sample_secs / samples as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FamilyConfig, PlainConfig};

    #[test]
    fn an_epoch_costs_its_training_evaluation_and_sampling_time() {
        let speed = SpeedEstimate {
            train_images_per_sec: 1000.0,
            eval_images_per_sec: 4000.0,
            sample_secs_per_image: 0.001,
        };
        let secs = speed.epoch_secs(60_000, 10_000, 100);
        assert!((secs - (60.0 + 2.5 + 0.1)).abs() < 1e-9, "{secs}");
    }

    #[test]
    fn a_probe_of_a_tiny_model_measures_positive_speeds() {
        let model = ModelConfig {
            feature_maps: 4,
            family: FamilyConfig::Plain(PlainConfig {
                masked_layers: 1,
                relu_layers: 0,
                ..PlainConfig::seed()
            }),
            ..ModelConfig::seed()
        };
        let speed =
            probe_speed(&model, DeviceChoice::FastCpu, 100).unwrap_or_else(|e| panic!("{e}"));
        assert!(speed.train_images_per_sec > 0.0 && speed.train_images_per_sec.is_finite());
        assert!(speed.eval_images_per_sec > 0.0 && speed.eval_images_per_sec.is_finite());
        assert!(speed.sample_secs_per_image > 0.0);
    }
}
