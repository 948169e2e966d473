//! The training loop: epochs of shuffled, dynamically binarized minibatches, Adam with clipped
//! gradients, a test cost at the end of each epoch. It reports through a callback, checks a stop
//! flag between steps and never prints.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::backend::{Backend, DeviceChoice, StepError};
use super::metrics::{EpochRecord, History, StepPoint};
use super::optimizer::{Adam, AdamConfig};
use crate::data::{binarize_fixed, binarize_into, Dataset, Mnist, IMAGE_PIXELS};
use crate::model::{ClassChoice, ConfigError, ModelConfig, Params, SampleGrid};

/// Gradient values are clamped to `[-GRADIENT_CLIP, GRADIENT_CLIP]`, as the reference does.
pub const GRADIENT_CLIP: f32 = 1.0;
/// Test images evaluated per forward pass.
const EVAL_BATCH: usize = 500;

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Total epochs to reach (a resumed run continues up to this many).
    pub epochs: usize,
    /// Images per minibatch.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Seeds initialisation, shuffling, binarization and sampling.
    pub seed: u64,
    /// Use only the first N training images.
    pub train_limit: Option<usize>,
    /// Use only the first N test images.
    pub test_limit: Option<usize>,
    /// Samples drawn after each epoch (0 for none).
    pub samples_per_epoch: usize,
    /// Where the network runs. A choice of this run, not of the model: never saved, so a
    /// checkpoint trained on a GPU opens anywhere (on the CPU unless asked otherwise).
    #[serde(skip)]
    pub device: DeviceChoice,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 100,
            learning_rate: 1e-3,
            seed: 1,
            train_limit: None,
            test_limit: None,
            samples_per_epoch: 100,
            device: DeviceChoice::Cpu,
        }
    }
}

impl TrainConfig {
    /// Rejects settings that cannot train.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |msg: String| Err(TrainError::InvalidConfig(msg));
        if self.epochs == 0 || self.epochs > 100_000 {
            return bad(format!(
                "epochs {} is out of range: use 1..=100000",
                self.epochs
            ));
        }
        if self.batch_size == 0 || self.batch_size > 10_000 {
            return bad(format!(
                "batch size {} is out of range: use 1..=10000",
                self.batch_size
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad(format!(
                "learning rate {} is out of range: use a value in (0, 1]",
                self.learning_rate
            ));
        }
        if self.train_limit == Some(0) || self.test_limit == Some(0) {
            return bad("train and test limits must be at least 1".into());
        }
        if self.samples_per_epoch > 10_000 {
            return bad(format!(
                "{} samples per epoch is too many: use at most 10000",
                self.samples_per_epoch
            ));
        }
        Ok(())
    }
}

/// Why training stopped with an error.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The model configuration is invalid.
    #[error(transparent)]
    Model(#[from] ConfigError),
    /// The training configuration is invalid.
    #[error("invalid training configuration: {0}")]
    InvalidConfig(String),
    /// The loss or a gradient became NaN or infinite; the weights are those before this step.
    #[error("the loss became {loss} at step {step}: training stopped, the last good weights are kept (try a lower learning rate)")]
    NonFinite {
        /// Global step that failed.
        step: u64,
        /// The offending loss.
        loss: f64,
    },
    /// A dataset split has no images.
    #[error("the {0} set is empty: check --data and the limits")]
    EmptyData(&'static str),
    /// The compute device failed (e.g. CUDA unavailable).
    #[error("{0}")]
    Device(String),
}

/// What a run reports, in order: `Started`, then `Step`s with an `EpochFinished` (and
/// `SamplesReady` if samples are asked for) closing each epoch, then `Finished` or `Failed`.
#[derive(Debug)]
pub enum TrainEvent<'a> {
    /// Training begins (or resumes).
    Started {
        /// Total epochs of the run.
        epochs: usize,
        /// Minibatches per epoch.
        steps_per_epoch: usize,
        /// Steps already done (non-zero when resumed).
        global_step: u64,
    },
    /// One minibatch was trained.
    Step {
        /// Epochs completed, fractional.
        epoch_progress: f64,
        /// Steps done in total.
        global_step: u64,
        /// The minibatch's mean cross-entropy, nats per pixel.
        loss_nats_per_pixel: f64,
        /// Throughput over the current epoch so far.
        images_per_sec: f64,
    },
    /// An epoch ended and the test cost was measured.
    EpochFinished(EpochRecord),
    /// A grid of samples was drawn after an epoch.
    SamplesReady {
        /// The epoch the model had completed.
        epoch: usize,
        /// The samples.
        grid: &'a SampleGrid,
    },
    /// The run ended: all epochs done, or stopped by the flag.
    Finished {
        /// Whether the stop flag ended it early.
        stopped: bool,
    },
    /// The run failed; the weights are the last good ones.
    Failed {
        /// What went wrong.
        message: String,
    },
}

/// Where a run stands; saved in checkpoints so that resuming is exact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Completed epochs.
    pub epochs_done: usize,
    /// Steps done in the current epoch.
    pub step_in_epoch: usize,
    /// Steps done in total.
    pub global_step: u64,
    /// Sum of the current epoch's step losses.
    pub epoch_loss_sum: f64,
    /// The binarization RNG.
    pub rng: ChaCha8Rng,
}

/// Everything a checkpoint holds.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingSnapshot {
    /// Architecture.
    pub model: ModelConfig,
    /// Training settings.
    pub config: TrainConfig,
    /// Weights.
    pub params: Params,
    /// Optimizer state.
    pub adam: Adam,
    /// Position in the run.
    pub progress: Progress,
    /// Metrics so far.
    pub history: History,
}

/// The result of one [`Trainer::step`].
#[derive(Clone, Copy, Debug)]
pub struct StepReport {
    /// The minibatch's cost, nats per pixel.
    pub loss_nats_per_pixel: f64,
    /// Set when this step closed an epoch.
    pub epoch_finished: Option<EpochRecord>,
}

/// A summary of a whole run.
#[derive(Clone, Copy, Debug)]
pub struct RunSummary {
    /// Whether the stop flag ended it.
    pub stopped: bool,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Steps done.
    pub global_step: u64,
    /// Mean images/s over the steps of this run.
    pub images_per_sec: f64,
}

/// Owns a model, its optimizer and the run's state.
///
/// On a device backend the weights and Adam's moments live on the device while training: the
/// host copies in `snapshot` fall behind, and [`Trainer::snapshot`] reads the device's back
/// (once per step, and only when asked: for a checkpoint or a look at the weights).
pub struct Trainer {
    snapshot: TrainingSnapshot,
    backend: Backend,
    /// Whether the backend's weights and moments are ahead of `snapshot`'s.
    host_behind: bool,
    /// While `host_behind`: the progress, history and Adam step count that `snapshot`'s
    /// weights and moments belong to (what a checkpoint falls back to if the device cannot be
    /// read).
    host_position: Option<(Progress, History, u64)>,
    /// `snapshot` with the device's weights and moments, read at most once per step. Every
    /// method that changes `snapshot` first calls [`Trainer::adopt_synced`], so what was read
    /// back never goes stale.
    synced: OnceLock<TrainingSnapshot>,
    /// Why reading the device's weights back failed (reported by the next step).
    sync_error: OnceLock<String>,
    batch: Vec<f32>,
    /// The digit of each image of `batch`.
    batch_labels: Vec<u8>,
    epoch_order: Option<(usize, Vec<usize>)>,
    /// The fixed binarization of the (limited) test images and their labels.
    test_pixels: Option<(usize, Vec<f32>, Vec<u8>)>,
    epoch_started: Option<Instant>,
    epoch_train_secs: f64,
    /// Images trained in `epoch_train_secs` (not counting steps done before a resume).
    epoch_images: usize,
    /// Training time (steps only, no evaluation or sampling) since this trainer was made.
    total_train_secs: f64,
    /// Images trained in `total_train_secs`.
    total_images: usize,
}

impl Trainer {
    /// A fresh model initialised from `config.seed`.
    pub fn new(model: ModelConfig, config: TrainConfig) -> Result<Trainer, TrainError> {
        model.validate()?;
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let params = Params::init(&model, &mut rng);
        let adam = Adam::new(
            &params,
            AdamConfig {
                learning_rate: config.learning_rate,
                ..AdamConfig::default()
            },
        );
        let snapshot = TrainingSnapshot {
            model,
            config,
            params,
            adam,
            progress: Progress {
                epochs_done: 0,
                step_in_epoch: 0,
                global_step: 0,
                epoch_loss_sum: 0.0,
                rng,
            },
            history: History::default(),
        };
        Trainer::from_snapshot(snapshot)
    }

    /// Continues from a saved state.
    pub fn from_snapshot(snapshot: TrainingSnapshot) -> Result<Trainer, TrainError> {
        snapshot.model.validate()?;
        snapshot.config.validate()?;
        let backend = Backend::new(snapshot.config.device, &snapshot.model, &snapshot.params)
            .map_err(TrainError::Device)?;
        Ok(Trainer {
            snapshot,
            backend,
            host_behind: false,
            host_position: None,
            synced: OnceLock::new(),
            sync_error: OnceLock::new(),
            batch: Vec::new(),
            batch_labels: Vec::new(),
            epoch_order: None,
            test_pixels: None,
            epoch_started: None,
            epoch_train_secs: 0.0,
            epoch_images: 0,
            total_train_secs: 0.0,
            total_images: 0,
        })
    }

    /// The full state, for a checkpoint. After device training the weights and Adam's moments
    /// are read back from the device here (at most once per step). Should that fail (a lost
    /// GPU), this is the last state the host holds, with the progress and history it belongs
    /// to, so a checkpoint written from it still resumes correctly; the next step reports the
    /// failure.
    pub fn snapshot(&self) -> &TrainingSnapshot {
        if !self.host_behind {
            return &self.snapshot;
        }
        self.synced.get_or_init(|| {
            let mut current = self.snapshot.clone();
            match self
                .backend
                .download(&mut current.params, &mut current.adam)
            {
                Ok(()) => current,
                Err(err) => {
                    let _ = self.sync_error.set(err);
                    let mut fallback = self.snapshot.clone();
                    if let Some((progress, history, step_count)) = &self.host_position {
                        fallback.progress = progress.clone();
                        fallback.history = history.clone();
                        fallback.adam.step_count = *step_count;
                    }
                    fallback
                }
            }
        })
    }

    /// Takes over the weights and moments that [`Trainer::snapshot`] read back (and forgets a
    /// failed read's fallback), before `snapshot` changes.
    fn adopt_synced(&mut self) {
        if let Some(synced) = self.synced.take() {
            if self.sync_error.get().is_none() {
                self.snapshot.params = synced.params;
                self.snapshot.adam.first_moment = synced.adam.first_moment;
                self.snapshot.adam.second_moment = synced.adam.second_moment;
                self.host_behind = false;
                self.host_position = None;
            }
        }
    }

    /// Brings the host weights and moments up to date with the device's.
    fn bring_host_up_to_date(&mut self) -> Result<(), TrainError> {
        self.adopt_synced();
        if self.host_behind {
            let snapshot = &mut self.snapshot;
            self.backend
                .download(&mut snapshot.params, &mut snapshot.adam)
                .map_err(TrainError::Device)?;
            self.host_behind = false;
            self.host_position = None;
        }
        Ok(())
    }

    /// The architecture.
    pub fn model_config(&self) -> &ModelConfig {
        &self.snapshot.model
    }

    /// Metrics so far.
    pub fn history(&self) -> &History {
        &self.snapshot.history
    }

    /// Position in the run.
    pub fn progress(&self) -> &Progress {
        &self.snapshot.progress
    }

    /// Changes the settings of the remaining run (epochs target, learning rate, limits...).
    pub fn set_config(&mut self, config: TrainConfig) -> Result<(), TrainError> {
        config.validate()?;
        self.adopt_synced();
        if config.device != self.snapshot.config.device {
            self.bring_host_up_to_date()?;
            self.backend = Backend::new(config.device, &self.snapshot.model, &self.snapshot.params)
                .map_err(TrainError::Device)?;
        }
        self.snapshot.adam.config.learning_rate = config.learning_rate;
        if config.test_limit != self.snapshot.config.test_limit {
            self.test_pixels = None;
        }
        self.snapshot.config = config;
        Ok(())
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.snapshot.config
    }

    /// Whether every epoch asked for is done.
    pub fn is_finished(&self) -> bool {
        self.snapshot.progress.epochs_done >= self.snapshot.config.epochs
    }

    /// Minibatches per epoch for `train` (at least one).
    pub fn steps_per_epoch(&self, train: &Dataset) -> usize {
        (self.train_len(train) / self.snapshot.config.batch_size).max(1)
    }

    fn train_len(&self, train: &Dataset) -> usize {
        limited(train.len(), self.snapshot.config.train_limit)
    }

    /// Trains one minibatch; closes the epoch (with a test cost) when it was the last one.
    pub fn step(&mut self, data: &Mnist) -> Result<StepReport, TrainError> {
        let train_len = self.train_len(&data.train);
        if train_len == 0 {
            return Err(TrainError::EmptyData("training"));
        }
        let steps_per_epoch = self.steps_per_epoch(&data.train);
        let batch_size = self.snapshot.config.batch_size.min(train_len);
        self.adopt_synced();
        if let Some(err) = self.sync_error.take() {
            return Err(TrainError::Device(format!(
                "reading the weights back from the device failed: {err}"
            )));
        }
        let started = Instant::now();
        if self.snapshot.progress.step_in_epoch == 0 {
            self.epoch_started = Some(started);
            self.epoch_train_secs = 0.0;
            self.epoch_images = 0;
        }
        self.fill_batch(data, train_len, batch_size);
        if self.backend.trains_on_device() && !self.host_behind {
            let snapshot = &self.snapshot;
            self.host_position = Some((
                snapshot.progress.clone(),
                snapshot.history.clone(),
                snapshot.adam.step_count,
            ));
        }
        let snapshot = &mut self.snapshot;
        let stepped = self.backend.train_step(
            &self.batch,
            &self.batch_labels,
            &mut snapshot.params,
            &mut snapshot.adam,
        );
        let progress = &mut snapshot.progress;
        let loss = match stepped {
            Ok(loss) => loss,
            Err(StepError::NonFinite { loss }) => {
                return Err(TrainError::NonFinite {
                    step: progress.global_step + 1,
                    loss,
                })
            }
            Err(StepError::Device(message)) => return Err(TrainError::Device(message)),
        };
        if self.backend.trains_on_device() {
            self.host_behind = true;
            self.synced = OnceLock::new();
        }
        progress.global_step += 1;
        progress.step_in_epoch += 1;
        progress.epoch_loss_sum += loss;
        let step_secs = started.elapsed().as_secs_f64();
        self.epoch_train_secs += step_secs;
        self.epoch_images += batch_size;
        self.total_train_secs += step_secs;
        self.total_images += batch_size;
        let epoch_progress =
            progress.epochs_done as f64 + progress.step_in_epoch as f64 / steps_per_epoch as f64;
        self.snapshot.history.steps.push(StepPoint {
            epoch: epoch_progress,
            loss_nats_per_pixel: loss,
        });
        let mut report = StepReport {
            loss_nats_per_pixel: loss,
            epoch_finished: None,
        };
        if self.snapshot.progress.step_in_epoch >= steps_per_epoch {
            report.epoch_finished = Some(self.finish_epoch(data, steps_per_epoch)?);
        }
        Ok(report)
    }

    /// Training images per second over the current epoch so far (steps timed by this trainer).
    pub fn images_per_sec(&self) -> f64 {
        rate(self.epoch_images, self.epoch_train_secs)
    }

    fn finish_epoch(
        &mut self,
        data: &Mnist,
        steps_per_epoch: usize,
    ) -> Result<EpochRecord, TrainError> {
        let images_per_sec = self.images_per_sec();
        let test_cost = self.test_cost(&data.test)?;
        let progress = &mut self.snapshot.progress;
        let record = EpochRecord {
            epoch: progress.epochs_done + 1,
            train_cost_nats_per_pixel: progress.epoch_loss_sum / steps_per_epoch as f64,
            test_cost_nats_per_pixel: test_cost,
            images_per_sec,
            elapsed_secs: self
                .epoch_started
                .map_or(self.epoch_train_secs, |t| t.elapsed().as_secs_f64()),
        };
        progress.epochs_done += 1;
        progress.step_in_epoch = 0;
        progress.epoch_loss_sum = 0.0;
        self.snapshot.history.epochs.push(record);
        Ok(record)
    }

    /// Mean cross-entropy, nats per pixel, on the fixed binarization of the (limited) test set.
    pub fn test_cost(&mut self, test: &Dataset) -> Result<f64, TrainError> {
        let len = limited(test.len(), self.snapshot.config.test_limit);
        if len == 0 {
            return Err(TrainError::EmptyData("test"));
        }
        if self.test_pixels.as_ref().map(|(n, _, _)| *n) != Some(len) {
            let pixels = binarize_fixed(&test.images[..len * IMAGE_PIXELS]);
            let labels = test.labels[..len].to_vec();
            self.test_pixels = Some((len, pixels, labels));
        }
        let (pixels, labels) = self
            .test_pixels
            .as_ref()
            .map_or((&[][..], &[][..]), |(_, p, l)| (p.as_slice(), l.as_slice()));
        evaluate_cost(&self.backend, pixels, labels).map_err(TrainError::Device)
    }

    /// Draws `count` samples with an RNG seeded by `seed`: the fast sampler of the backend (on
    /// the CPU or on the device). A conditional model draws the digits `classes`
    /// asks for. `progress` sees the canvas after each row.
    pub fn sample(
        &self,
        count: usize,
        seed: u64,
        classes: ClassChoice,
        progress: &mut dyn FnMut(&SampleGrid),
    ) -> Result<SampleGrid, TrainError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let labels = if self.snapshot.model.conditional {
            classes.labels(count, &mut rng)
        } else {
            Vec::new()
        };
        self.backend
            .sample(count, &labels, &mut rng, progress)
            .map_err(TrainError::Device)
    }

    /// The seed of the samples drawn after `epoch` (independent of the training RNG, so
    /// sampling never changes the training run).
    pub fn epoch_sample_seed(&self, epoch: usize) -> u64 {
        self.snapshot.config.seed ^ (0x5A4D_0000 + epoch as u64)
    }

    /// Trains until every epoch is done or `stop` is set, reporting through `on_event`.
    pub fn run(
        &mut self,
        data: &Mnist,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(TrainEvent<'_>),
    ) -> Result<RunSummary, TrainError> {
        let steps_per_epoch = self.steps_per_epoch(&data.train);
        on_event(TrainEvent::Started {
            epochs: self.snapshot.config.epochs,
            steps_per_epoch,
            global_step: self.snapshot.progress.global_step,
        });
        let (start_images, start_secs) = (self.total_images, self.total_train_secs);
        let mut stopped = false;
        while !self.is_finished() {
            if stop.load(Ordering::Relaxed) {
                stopped = true;
                break;
            }
            let report = match self.step(data) {
                Ok(report) => report,
                Err(err) => {
                    on_event(TrainEvent::Failed {
                        message: err.to_string(),
                    });
                    return Err(err);
                }
            };
            let progress = &self.snapshot.progress;
            on_event(TrainEvent::Step {
                epoch_progress: self
                    .snapshot
                    .history
                    .steps
                    .recent
                    .back()
                    .map_or(0.0, |p| p.epoch),
                global_step: progress.global_step,
                loss_nats_per_pixel: report.loss_nats_per_pixel,
                images_per_sec: self.images_per_sec(),
            });
            if let Some(record) = report.epoch_finished {
                on_event(TrainEvent::EpochFinished(record));
                let count = self.snapshot.config.samples_per_epoch;
                if count > 0 {
                    let seed = self.epoch_sample_seed(record.epoch);
                    let grid = match self.sample(count, seed, ClassChoice::Rows, &mut |_| {}) {
                        Ok(grid) => grid,
                        Err(err) => {
                            on_event(TrainEvent::Failed {
                                message: err.to_string(),
                            });
                            return Err(err);
                        }
                    };
                    on_event(TrainEvent::SamplesReady {
                        epoch: record.epoch,
                        grid: &grid,
                    });
                }
            }
        }
        on_event(TrainEvent::Finished { stopped });
        Ok(RunSummary {
            stopped,
            epochs_done: self.snapshot.progress.epochs_done,
            global_step: self.snapshot.progress.global_step,
            images_per_sec: rate(
                self.total_images - start_images,
                self.total_train_secs - start_secs,
            ),
        })
    }

    fn fill_batch(&mut self, data: &Mnist, train_len: usize, batch_size: usize) {
        let progress = &mut self.snapshot.progress;
        let epoch = progress.epochs_done;
        if self.epoch_order.as_ref().map(|(e, o)| (*e, o.len())) != Some((epoch, train_len)) {
            let mut order: Vec<usize> = (0..train_len).collect();
            let mut shuffle_rng = ChaCha8Rng::seed_from_u64(
                self.snapshot.config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            order.shuffle(&mut shuffle_rng);
            self.epoch_order = Some((epoch, order));
        }
        let order = self
            .epoch_order
            .as_ref()
            .map_or(&[][..], |(_, o)| o.as_slice());
        let first = (progress.step_in_epoch * batch_size) % train_len.max(1);
        self.batch.resize(batch_size * IMAGE_PIXELS, 0.0);
        self.batch_labels.clear();
        for (slot, out) in self.batch.chunks_exact_mut(IMAGE_PIXELS).enumerate() {
            let index = order[(first + slot) % train_len];
            binarize_into(data.train.image(index), &mut progress.rng, out);
            self.batch_labels.push(data.train.label(index).unwrap_or(0));
        }
    }
}

/// Mean cross-entropy in nats per pixel of `backend` on binarized `pixels` (and their digit
/// `labels`, read by conditional models), in batches.
pub fn evaluate_cost(backend: &Backend, pixels: &[f32], labels: &[u8]) -> Result<f64, String> {
    let mut total = 0.0;
    for (index, batch) in pixels.chunks(EVAL_BATCH * IMAGE_PIXELS).enumerate() {
        let first = index * EVAL_BATCH;
        let images = batch.len() / IMAGE_PIXELS;
        let batch_labels = labels.get(first..first + images).unwrap_or_default();
        total += backend.loss(batch, batch_labels)? * batch.len() as f64;
    }
    Ok(total / pixels.len().max(1) as f64)
}

/// Images per second, 0 before anything was timed.
fn rate(images: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        images as f64 / secs
    } else {
        0.0
    }
}

fn limited(len: usize, limit: Option<usize>) -> usize {
    limit.map_or(len, |l| l.min(len))
}
