//! "About N per epoch on this machine" before Start: the chosen model's speed, measured by a
//! short probe off the UI thread (and refined with the speed of the run in progress), turned
//! into time per epoch and per run, with a warning when a run would take over an hour.

use crate::data::DataSource;
use crate::model::ModelConfig;
use crate::train::estimate::{probe_speed, SpeedEstimate};
use crate::train::{DeviceChoice, TrainConfig};

use super::status::format_duration;

/// Seconds the settings must stay unchanged before a probe starts (sliders move in steps).
pub const PROBE_DEBOUNCE_SECS: f64 = 0.4;
/// A run longer than this gets a warning.
pub const LONG_RUN_SECS: f64 = 3600.0;
/// Training and test images of MNIST (and of look-alikes such as Fashion-MNIST).
const MNIST_SIZES: (usize, usize) = (60_000, 10_000);

/// Measures a model's speed (blocking: the studio calls it on a short-lived thread).
pub trait SpeedProbe: Send + Sync {
    /// The speed of `model` on `device` with minibatches of `batch_size`.
    fn probe(
        &self,
        model: &ModelConfig,
        device: DeviceChoice,
        batch_size: usize,
    ) -> Result<SpeedEstimate, String>;
}

/// The real probe: a few steps of the trainer on synthetic images.
#[derive(Clone, Copy, Debug, Default)]
pub struct MeasuredProbe;

impl SpeedProbe for MeasuredProbe {
    fn probe(
        &self,
        model: &ModelConfig,
        device: DeviceChoice,
        batch_size: usize,
    ) -> Result<SpeedEstimate, String> {
        probe_speed(model, device, batch_size).map_err(|err| err.to_string())
    }
}

/// A probe that answers a fixed speed at once, for tests.
#[derive(Clone, Copy, Debug)]
pub struct FixedProbe(pub SpeedEstimate);

impl SpeedProbe for FixedProbe {
    fn probe(&self, _: &ModelConfig, _: DeviceChoice, _: usize) -> Result<SpeedEstimate, String> {
        Ok(self.0)
    }
}

/// What a speed was measured for.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeKey {
    /// The architecture.
    pub model: ModelConfig,
    /// Where it runs.
    pub device: DeviceChoice,
    /// Images per minibatch.
    pub batch_size: usize,
}

impl ProbeKey {
    /// The key of a run with these settings.
    pub fn of(model: &ModelConfig, train: &TrainConfig) -> ProbeKey {
        ProbeKey {
            model: model.clone(),
            device: train.device,
            batch_size: train.batch_size,
        }
    }
}

/// Speeds known in this session, the probe in flight and the settings waiting for one.
#[derive(Clone, Debug, Default)]
pub struct EstimateState {
    known: Vec<(ProbeKey, Result<SpeedEstimate, String>)>,
    in_flight: Option<ProbeKey>,
    /// The settings last seen and since when (studio seconds), for the debounce.
    seen: Option<(ProbeKey, f64)>,
}

impl EstimateState {
    /// The settings the controls show now (`now`: studio seconds). Returns the key to probe now,
    /// if any: unknown, unchanged for [`PROBE_DEBOUNCE_SECS`], no probe running, and `idle`
    /// (no run going, so the probe neither slows one down nor is slowed by it).
    pub fn wanted(&mut self, key: &ProbeKey, now: f64, idle: bool) -> Option<ProbeKey> {
        match &self.seen {
            Some((seen, _)) if seen == key => {}
            _ => self.seen = Some((key.clone(), now)),
        }
        let since = self.seen.as_ref().map_or(now, |(_, t)| *t);
        let ready = idle
            && self.in_flight.is_none()
            && self.lookup(key).is_none()
            && now - since >= PROBE_DEBOUNCE_SECS;
        if ready {
            self.in_flight = Some(key.clone());
            Some(key.clone())
        } else {
            None
        }
    }

    /// A probe answered.
    pub fn finish(&mut self, key: ProbeKey, result: Result<SpeedEstimate, String>) {
        if self.in_flight.as_ref() == Some(&key) {
            self.in_flight = None;
        }
        self.known.retain(|(k, _)| *k != key);
        self.known.push((key, result));
    }

    /// A run of `key` trains at `train_images_per_sec` right now: the best measure there is.
    pub fn observe_training(&mut self, key: &ProbeKey, train_images_per_sec: f64) {
        if train_images_per_sec <= 0.0 || !train_images_per_sec.is_finite() {
            return;
        }
        match self.known.iter_mut().find(|(k, _)| k == key) {
            Some((_, Ok(speed))) => speed.train_images_per_sec = train_images_per_sec,
            Some((_, result)) => {
                *result = Ok(SpeedEstimate {
                    train_images_per_sec,
                    // Evaluation is a forward pass, about a third of a training step.
                    eval_images_per_sec: 3.0 * train_images_per_sec,
                    sample_secs_per_image: 0.0,
                })
            }
            None => self.finish(
                key.clone(),
                Ok(SpeedEstimate {
                    train_images_per_sec,
                    eval_images_per_sec: 3.0 * train_images_per_sec,
                    sample_secs_per_image: 0.0,
                }),
            ),
        }
    }

    /// What is known about `key`.
    pub fn lookup(&self, key: &ProbeKey) -> Option<&Result<SpeedEstimate, String>> {
        self.known.iter().find(|(k, _)| k == key).map(|(_, r)| r)
    }

    /// Whether a probe is running.
    pub fn is_measuring(&self) -> bool {
        self.in_flight.is_some()
    }
}

/// Training and test images of one epoch with `train`'s subsets on `data`.
pub fn epoch_images(data: &DataSource, train: &TrainConfig) -> (usize, usize) {
    let (all_train, all_test) = match data {
        DataSource::Synthetic { train, test, .. } => (*train, *test),
        DataSource::MnistDir(_) => MNIST_SIZES,
    };
    let limit = |all: usize, limit: Option<usize>| limit.map_or(all, |l| l.min(all));
    (
        limit(all_train, train.train_limit),
        limit(all_test, train.test_limit),
    )
}

/// The line shown next to Start.
#[derive(Clone, Debug, PartialEq)]
pub struct EstimateLine {
    /// The text.
    pub text: String,
    /// Whether the run would take over an hour.
    pub warn: bool,
}

/// The estimate for a run of `key` with `train` on `data`, from what `state` knows.
pub fn estimate_line(
    state: &EstimateState,
    key: &ProbeKey,
    train: &TrainConfig,
    data: &DataSource,
    epochs_left: usize,
) -> EstimateLine {
    match state.lookup(key) {
        Some(Ok(speed)) => {
            let (train_images, test_images) = epoch_images(data, train);
            let epoch = speed.epoch_secs(train_images, test_images, train.samples_per_epoch);
            let run = epoch * epochs_left as f64;
            let mut text = if epochs_left == 0 {
                format!(
                    "about {} per epoch on this machine; raise Epochs to train more",
                    format_duration(epoch)
                )
            } else {
                format!(
                    "about {} per epoch on this machine; {} epoch{}: about {}",
                    format_duration(epoch),
                    epochs_left,
                    if epochs_left == 1 { "" } else { "s" },
                    format_duration(run)
                )
            };
            let warn = run > LONG_RUN_SECS;
            if warn {
                text.push_str(" (over an hour: fewer epochs or a subset make it shorter)");
            }
            EstimateLine { text, warn }
        }
        Some(Err(err)) => EstimateLine {
            text: format!("speed unknown: {err}"),
            warn: false,
        },
        None => EstimateLine {
            text: "measuring this model's speed on this machine...".into(),
            warn: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(batch_size: usize) -> ProbeKey {
        ProbeKey {
            model: ModelConfig::seed(),
            device: DeviceChoice::FastCpu,
            batch_size,
        }
    }

    const SPEED: SpeedEstimate = SpeedEstimate {
        train_images_per_sec: 1000.0,
        eval_images_per_sec: 4000.0,
        sample_secs_per_image: 0.0005,
    };

    #[test]
    fn a_probe_waits_for_the_settings_to_settle_and_runs_once() {
        let mut state = EstimateState::default();
        assert_eq!(state.wanted(&key(100), 0.0, true), None, "just changed");
        assert_eq!(state.wanted(&key(50), 0.3, true), None, "changed again");
        assert_eq!(state.wanted(&key(50), 0.6, true), None, "not settled yet");
        assert_eq!(state.wanted(&key(50), 0.8, false), None, "a run is going");
        assert_eq!(state.wanted(&key(50), 0.8, true), Some(key(50)));
        assert_eq!(state.wanted(&key(50), 2.0, true), None, "in flight");
        state.finish(key(50), Ok(SPEED));
        assert_eq!(state.wanted(&key(50), 3.0, true), None, "known");
        assert!(!state.is_measuring());
    }

    #[test]
    fn the_line_gives_epoch_and_run_time_and_warns_past_an_hour() {
        let mut state = EstimateState::default();
        state.finish(key(100), Ok(SPEED));
        let mnist = DataSource::MnistDir("assets/mnist".into());
        let train = TrainConfig {
            epochs: 10,
            samples_per_epoch: 100,
            ..TrainConfig::default()
        };
        // 60 s training + 2.5 s test + 0.05 s sampling per epoch.
        let line = estimate_line(&state, &key(100), &train, &mnist, 10);
        assert_eq!(
            line.text,
            "about 1m 03s per epoch on this machine; 10 epochs: about 10m 26s"
        );
        assert!(!line.warn);
        let long = estimate_line(&state, &key(100), &train, &mnist, 100);
        assert!(
            long.warn && long.text.contains("over an hour"),
            "{}",
            long.text
        );
        // The live speed of a run replaces the probe's training speed.
        state.observe_training(&key(100), 2000.0);
        let faster = estimate_line(&state, &key(100), &train, &mnist, 1);
        assert!(
            faster.text.starts_with("about 33s per epoch"),
            "{}",
            faster.text
        );
    }
}
