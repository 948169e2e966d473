//! The trainer: a model, its optimizer and the run's state, with the units of work a run is
//! made of: a minibatch step ([`Trainer::train_step`]), a test evaluation in resumable chunks
//! ([`Trainer::begin_evaluation`]) and sampling that can stop between rows. The loop that strings
//! them together is [`super::driver::Driver`]; nothing here prints.

use std::ops::ControlFlow;
use std::sync::OnceLock;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use rand::Rng;

use super::averaging::WeightAveraging;
use super::backend::{Backend, DeviceChoice};
use super::error::{NonFiniteValue, StepError, TrainError};
use super::metrics::{EpochRecord, History, SettingsRecord, StepPoint};
use super::optimizer::{Adam, AdamConfig};
use super::schedule::LrSchedule;
use crate::data::{binarize_fixed, binarize_into, Dataset, Mnist, IMAGE_PIXELS};
use crate::model::arch::config::GATED_MAPS;
use crate::model::arch::memory::{self, MemoryError};
use crate::model::{
    ClassChoice, FamilyConfig, ModelConfig, Params, SampleGrid, SampleStyle, NO_LABEL,
};

/// Multiply-accumulates one evaluation chunk may cost: about 15 ms in a release build on the
/// development machine (2 cores; about 0.1 s in a debug build), so a run hands control back
/// (stop, pause, close) well within a second for any model.
pub const EVAL_CHUNK_MACS: f64 = 2e9;
/// The most test images evaluated per forward pass.
pub const MAX_EVAL_CHUNK: usize = 500;

/// Test images per evaluation chunk for `model`: as many as fit in [`EVAL_CHUNK_MACS`] (at least
/// one). It depends on the architecture only, so the test cost of a model is the same number
/// however the evaluation is interrupted and resumed.
pub fn eval_chunk_images(model: &ModelConfig) -> usize {
    let macs_per_pixel: usize = model.convs().iter().map(|conv| conv.macs_per_pixel()).sum();
    let macs_per_image = (macs_per_pixel * IMAGE_PIXELS).max(1) as f64;
    ((EVAL_CHUNK_MACS / macs_per_image) as usize).clamp(1, MAX_EVAL_CHUNK)
}

/// Adam's learning rate for the plain family: the reference recipe's.
pub const PLAIN_LEARNING_RATE: f64 = 1e-3;
/// Adam's learning rate for gated models up to [`GATED_MAPS`] maps (the `gated` preset's
/// width): measured to reach a lower test cost in the ten-minute budget than 3e-3, and stable
/// over three epochs (README, "Digits").
pub const GATED_LEARNING_RATE: f64 = 8e-3;
/// Adam's learning rate for wider gated models (`gated-large`): measured to reach a given test
/// cost in about half the images of 1e-3 (README, "The gated PixelCNN"); 8e-3 was not measured
/// at that width.
pub const WIDE_GATED_LEARNING_RATE: f64 = 3e-3;

/// The learning rate a fresh run of `model` starts with unless the user picks one.
pub fn default_learning_rate(model: &ModelConfig) -> f64 {
    match model.family {
        FamilyConfig::Plain(_) => PLAIN_LEARNING_RATE,
        FamilyConfig::Gated(_) if model.feature_maps <= GATED_MAPS => GATED_LEARNING_RATE,
        FamilyConfig::Gated(_) => WIDE_GATED_LEARNING_RATE,
    }
}

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
    /// Which digits a conditional model draws in the grids after each epoch (and previews).
    pub sample_classes: ClassChoice,
    /// The guidance and temperature of those grids (`None`: the model's default,
    /// [`SampleStyle::default_for`]; a model without the "no label" class draws unguided).
    pub sample_style: Option<SampleStyle>,
    /// Keep an exponential moving average of the weights and evaluate and sample with it
    /// (`None`: the trained weights themselves). Checkpoints written before it existed read as
    /// `None`.
    pub weight_averaging: Option<WeightAveraging>,
    /// How the learning rate moves over the run (`learning_rate` is its peak).
    pub lr_schedule: LrSchedule,
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
            sample_classes: ClassChoice::Rows,
            sample_style: None,
            weight_averaging: Some(WeightAveraging::default()),
            lr_schedule: LrSchedule::Constant,
            device: DeviceChoice::FastCpu,
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
        if let Some(averaging) = self.weight_averaging {
            if !averaging.is_valid() {
                return bad(format!(
                    "weight averaging decay {} is out of range: use a value in (0, 1), e.g. 0.95",
                    averaging.decay
                ));
            }
        }
        if !self.lr_schedule.is_valid() {
            return bad(format!(
                "the learning-rate schedule {:?} is out of range",
                self.lr_schedule
            ));
        }
        Ok(())
    }
}

/// Where a run stands; saved in checkpoints (under the metadata key `progress`) so that
/// resuming is exact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunPosition {
    /// Completed epochs.
    pub epochs_done: usize,
    /// Steps done in the current epoch.
    pub step_in_epoch: usize,
    /// Steps done in total.
    pub global_step: u64,
    /// Sum of the current epoch's step losses.
    pub epoch_loss_sum: f64,
    /// The binarization RNG (also the label dropout's: one draw per image after its pixels,
    /// in models trained with label dropout).
    pub rng: ChaCha8Rng,
    /// How far the run is through its learning-rate schedule's budget, 0 to 1 (see
    /// [`LrSchedule`]; 0 in checkpoints written before schedules).
    #[serde(default)]
    pub schedule_progress: f64,
}

/// Everything a checkpoint holds.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingSnapshot {
    /// Architecture.
    pub model: ModelConfig,
    /// Training settings.
    pub config: TrainConfig,
    /// The trained weights (what the optimizer updates).
    pub params: Params,
    /// The averaged weights when the run averages them ([`TrainConfig::weight_averaging`]):
    /// what the model evaluates and samples with.
    pub averaged: Option<Params>,
    /// Optimizer state.
    pub adam: Adam,
    /// Position in the run.
    pub progress: RunPosition,
    /// Metrics so far.
    pub history: History,
}

impl TrainingSnapshot {
    /// The weights the model evaluates and samples with: the averaged ones when the run averages
    /// them, else the trained ones. Checkpoints store these under the parameters' own names.
    pub fn eval_params(&self) -> &Params {
        self.averaged.as_ref().unwrap_or(&self.params)
    }
}

/// A test-set evaluation in progress: [`Trainer::continue_evaluation`] runs it one chunk at a
/// time, so a caller can hand control back between chunks and resume later.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Test images to evaluate.
    images: usize,
    /// Images already evaluated.
    next_image: usize,
    /// Images per chunk.
    chunk_images: usize,
    /// Sum of chunk costs weighted by their pixel counts.
    weighted_nats: f64,
    /// Compute time spent so far.
    secs: f64,
}

impl Evaluation {
    /// Test images evaluated so far.
    pub fn images_done(&self) -> usize {
        self.next_image
    }

    /// Test images in all.
    pub fn images(&self) -> usize {
        self.images
    }

    /// Compute time spent so far, seconds.
    pub fn secs(&self) -> f64 {
        self.secs
    }
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
    host_position: Option<(RunPosition, History, u64)>,
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
    /// The batch size whose training memory was checked against the machine's.
    memory_checked_batch: Option<usize>,
    /// The state before the current epoch's last step, until the epoch closes: when its test
    /// cost is not finite, the epoch is rolled back to before that step.
    before_epoch_end: Option<Box<TrainingSnapshot>>,
    /// The wall-clock budget the schedule decays over (`train --time-limit`) instead of the
    /// epochs: a choice of this run, never saved.
    time_budget_secs: Option<f64>,
    /// With a time budget: when this trainer's part of it began and the schedule's progress
    /// then (set at the first step under that budget).
    budget_clock: Option<(Instant, f64)>,
}

impl Trainer {
    /// A fresh model initialised from `config.seed`.
    pub fn new(model: ModelConfig, config: TrainConfig) -> Result<Trainer, TrainError> {
        model.validate()?;
        config.validate()?;
        // A new trainer is made to train: refuse before the weights are even allocated. The
        // batch checked is the one that can exist (no larger than the training images), as
        // each step checks it again once the data is known.
        let batch_size = config
            .batch_size
            .min(limited(crate::data::mnist::TRAIN_COUNT, config.train_limit));
        check_training_memory(&model, &config, batch_size, None, false)?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let params = Params::init(&model, &mut rng);
        let adam = Adam::new(
            &params,
            AdamConfig {
                learning_rate: config.learning_rate,
                ..AdamConfig::default()
            },
        );
        // The average starts at the initial weights.
        let averaged = config.weight_averaging.map(|_| params.clone());
        let snapshot = TrainingSnapshot {
            model,
            config,
            params,
            averaged,
            adam,
            progress: RunPosition {
                epochs_done: 0,
                step_in_epoch: 0,
                global_step: 0,
                epoch_loss_sum: 0.0,
                rng,
                schedule_progress: 0.0,
            },
            history: History::default(),
        };
        Trainer::from_snapshot(snapshot)
    }

    /// Continues from a saved state. A run that averages its weights but has no average yet
    /// (a checkpoint written without, resumed with averaging) starts it from the weights.
    pub fn from_snapshot(mut snapshot: TrainingSnapshot) -> Result<Trainer, TrainError> {
        snapshot.model.validate()?;
        snapshot.config.validate()?;
        match (snapshot.config.weight_averaging, &snapshot.averaged) {
            (Some(_), None) => snapshot.averaged = Some(snapshot.params.clone()),
            (None, Some(_)) => snapshot.averaged = None,
            _ => {}
        }
        check_resident_memory(&snapshot.model, &snapshot.config)?;
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
            memory_checked_batch: None,
            before_epoch_end: None,
            time_budget_secs: None,
            budget_clock: None,
        })
    }

    /// Makes the learning-rate schedule decay over `secs` of wall clock from the next step on
    /// (from where the run stands in it: the rest of the decay fits in `secs`), instead of over
    /// the epochs; `None` goes back to the epochs.
    pub fn set_time_budget(&mut self, secs: Option<f64>) -> Result<(), TrainError> {
        if let Some(secs) = secs {
            if !(secs.is_finite() && secs > 0.0) {
                return Err(TrainError::InvalidConfig(format!(
                    "a time budget of {secs} s is not a positive time"
                )));
            }
        }
        if secs != self.time_budget_secs {
            self.time_budget_secs = secs;
            self.budget_clock = None;
        }
        Ok(())
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
            let downloaded = self
                .backend
                .download(&mut current.params, &mut current.adam)
                .and_then(|()| match &mut current.averaged {
                    Some(averaged) => self.backend.download_averaged(averaged),
                    None => Ok(()),
                });
            match downloaded {
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
                self.snapshot.averaged = synced.averaged;
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
            if let Some(averaged) = &mut snapshot.averaged {
                self.backend
                    .download_averaged(averaged)
                    .map_err(TrainError::Device)?;
            }
            self.host_behind = false;
            self.host_position = None;
        }
        Ok(())
    }

    /// Whether training runs on a device (a GPU, or candle's CPU backend standing in for one).
    pub fn trains_on_device(&self) -> bool {
        self.backend.trains_on_device()
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
    pub fn progress(&self) -> &RunPosition {
        &self.snapshot.progress
    }

    /// Changes the settings of the remaining run (epochs target, learning rate, limits...).
    /// Turning weight averaging on starts the average from the weights as they are; turning
    /// it off forgets the average.
    pub fn set_config(&mut self, config: TrainConfig) -> Result<(), TrainError> {
        config.validate()?;
        self.adopt_synced();
        let averaging_changes =
            config.weight_averaging.is_some() != self.snapshot.config.weight_averaging.is_some();
        if config.device != self.snapshot.config.device || averaging_changes {
            self.bring_host_up_to_date()?;
        }
        if averaging_changes {
            self.snapshot.averaged = config
                .weight_averaging
                .map(|_| self.snapshot.params.clone());
            self.backend
                .load_state(&self.snapshot.params)
                .map_err(TrainError::Device)?;
        }
        if config.device != self.snapshot.config.device {
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

    /// Goes back to the state before the current epoch's last step (when its test cost is not
    /// finite), so the weights kept are the last ones whose costs were finite; returns whether
    /// there was such a state.
    fn roll_back_epoch_end(&mut self) -> Result<bool, TrainError> {
        let Some(before) = self.before_epoch_end.take() else {
            return Ok(false);
        };
        self.snapshot = *before;
        self.synced = OnceLock::new();
        self.host_behind = false;
        self.host_position = None;
        self.backend
            .load_state(&self.snapshot.params)
            .map_err(TrainError::Device)?;
        Ok(true)
    }

    /// Whether every minibatch of the current epoch is trained: the epoch waits for its test
    /// evaluation ([`Trainer::close_epoch`]) before the next step.
    pub fn epoch_steps_done(&self, train: &Dataset) -> bool {
        self.snapshot.progress.step_in_epoch >= self.steps_per_epoch(train)
    }

    /// Trains one minibatch and returns its cost (nats per pixel). The epoch is not closed here:
    /// when [`Trainer::epoch_steps_done`] turns true, evaluate and call [`Trainer::close_epoch`].
    pub fn train_step(&mut self, data: &Mnist) -> Result<f64, TrainError> {
        let train_len = self.train_len(&data.train);
        if train_len == 0 {
            return Err(TrainError::EmptyData("training"));
        }
        let steps_per_epoch = self.steps_per_epoch(&data.train);
        let batch_size = self.snapshot.config.batch_size.min(train_len);
        if self.memory_checked_batch != Some(batch_size) {
            let config = &self.snapshot.config;
            let test_images = limited(data.test.len(), config.test_limit);
            check_training_memory(
                &self.snapshot.model,
                config,
                batch_size,
                Some(test_images),
                true,
            )?;
            self.memory_checked_batch = Some(batch_size);
        }
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
        // The state before a step that closes the epoch, kept in case its test cost fails
        // (read back from the device if it trains there).
        let rollback_before = (self.snapshot.progress.step_in_epoch + 1 >= steps_per_epoch)
            .then(|| Box::new(self.snapshot().clone()));
        let rng_before = self.snapshot.progress.rng.clone();
        self.fill_batch(data, train_len, batch_size);
        if self.backend.trains_on_device() && !self.host_behind {
            let snapshot = &self.snapshot;
            self.host_position = Some((
                snapshot.progress.clone(),
                snapshot.history.clone(),
                snapshot.adam.step_count,
            ));
        }
        if self.time_budget_secs.is_some() && self.budget_clock.is_none() {
            self.budget_clock = Some((started, self.snapshot.progress.schedule_progress));
        }
        let snapshot = &mut self.snapshot;
        snapshot.adam.config.learning_rate = snapshot.config.lr_schedule.learning_rate(
            snapshot.config.learning_rate,
            snapshot.progress.global_step,
            snapshot.progress.schedule_progress,
        );
        let averaging = match (&mut snapshot.averaged, snapshot.config.weight_averaging) {
            (Some(averaged), Some(how)) => Some((averaged, how)),
            _ => None,
        };
        let stepped = self.backend.train_step_averaging(
            &self.batch,
            &self.batch_labels,
            &mut snapshot.params,
            &mut snapshot.adam,
            averaging,
        );
        let loss = match stepped {
            Ok(loss) => loss,
            Err(StepError::NonFinite(what)) => return Err(self.non_finite(rng_before, what)),
            Err(StepError::Device(message)) => return Err(TrainError::Device(message)),
        };
        if self.backend.trains_on_device() {
            self.host_behind = true;
            self.synced = OnceLock::new();
        }
        let total_steps = (self.snapshot.config.epochs * steps_per_epoch).max(1) as f64;
        let budget = self.time_budget_secs;
        let progress = &mut self.snapshot.progress;
        progress.global_step += 1;
        progress.step_in_epoch += 1;
        progress.epoch_loss_sum += loss;
        progress.schedule_progress = match (budget, self.budget_clock) {
            (Some(secs), Some((since, at_start))) => {
                let share = since.elapsed().as_secs_f64() / secs;
                (at_start + (1.0 - at_start) * share).min(1.0)
            }
            _ => (progress.global_step as f64 / total_steps).min(1.0),
        };
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
            global_step: progress.global_step,
        });
        if rollback_before.is_some() {
            self.before_epoch_end = rollback_before;
        }
        Ok(loss)
    }

    /// The error of a step that failed on `what`, with the binarization RNG put back as it was
    /// before the step: the state is then exactly the one before it.
    fn non_finite(&mut self, rng_before: ChaCha8Rng, what: NonFiniteValue) -> TrainError {
        self.snapshot.progress.rng = rng_before;
        TrainError::NonFinite {
            step: self.snapshot.progress.global_step + 1,
            what,
        }
    }

    /// Training images per second over the current epoch so far (steps timed by this trainer).
    pub fn images_per_sec(&self) -> f64 {
        rate(self.epoch_images, self.epoch_train_secs)
    }

    /// Training images per second over every step this trainer timed (a whole run of a fresh
    /// trainer; 0 before the first step).
    pub fn overall_images_per_sec(&self) -> f64 {
        rate(self.total_images, self.total_train_secs)
    }

    /// Closes the current epoch with its measured test cost: records the epoch's costs in the
    /// history and moves on to the next epoch.
    pub fn close_epoch(&mut self, train: &Dataset, test_cost: f64) -> EpochRecord {
        self.adopt_synced();
        let steps_per_epoch = self.steps_per_epoch(train);
        let images_per_sec = self.images_per_sec();
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
        self.before_epoch_end = None;
        record
    }

    /// Mean cross-entropy, nats per pixel, on the fixed binarization of the (limited) test set:
    /// a whole [`Evaluation`] at once (it blocks until done); an error when it is not a finite
    /// number.
    pub fn test_cost(&mut self, test: &Dataset) -> Result<f64, TrainError> {
        let mut evaluation = self.begin_evaluation(test)?;
        loop {
            if let Some(cost) = self.continue_evaluation(test, &mut evaluation)? {
                return Ok(cost);
            }
        }
    }

    /// Test images per evaluation chunk: by the model's cost on the CPU ([`eval_chunk_images`]);
    /// on a device the largest chunk (a GPU needs big batches, and a chunk there is quick).
    fn eval_chunk(&self) -> usize {
        if self.backend.trains_on_device() {
            MAX_EVAL_CHUNK
        } else {
            eval_chunk_images(&self.snapshot.model)
        }
    }

    /// Starts an evaluation of the (limited) test set; nothing is computed yet.
    pub fn begin_evaluation(&mut self, test: &Dataset) -> Result<Evaluation, TrainError> {
        let images = self.prepare_test_pixels(test)?;
        Ok(Evaluation {
            images,
            next_image: 0,
            chunk_images: self.eval_chunk(),
            weighted_nats: 0.0,
            secs: 0.0,
        })
    }

    /// Evaluates the next chunk of `evaluation` (about [`EVAL_CHUNK_MACS`] of work); returns the
    /// test cost in nats per pixel once every image is done. An evaluation begun under other
    /// settings (another test subset, or another device and so another chunk size) starts over.
    ///
    /// # Errors
    /// A test cost that is not finite: right after the epoch's last step the trainer goes back
    /// to before that step and says so ([`TrainError::NonFinite`]); otherwise (a model loaded
    /// that way) [`TrainError::NonFiniteCost`].
    pub fn continue_evaluation(
        &mut self,
        test: &Dataset,
        evaluation: &mut Evaluation,
    ) -> Result<Option<f64>, TrainError> {
        let images = self.prepare_test_pixels(test)?;
        if evaluation.images != images || evaluation.chunk_images != self.eval_chunk() {
            *evaluation = self.begin_evaluation(test)?;
        }
        let (pixels, labels) = self
            .test_pixels
            .as_ref()
            .map_or((&[][..], &[][..]), |(_, p, l)| (p.as_slice(), l.as_slice()));
        let started = Instant::now();
        let end = (evaluation.next_image + evaluation.chunk_images).min(evaluation.images);
        if let Some(chunk) = pixels.get(evaluation.next_image * IMAGE_PIXELS..end * IMAGE_PIXELS) {
            if !chunk.is_empty() {
                let chunk_labels = labels.get(evaluation.next_image..end).unwrap_or_default();
                let cost = self
                    .backend
                    .loss_averaged(chunk, chunk_labels, self.snapshot.averaged.as_ref())
                    .map_err(TrainError::Device)?;
                evaluation.weighted_nats += cost * chunk.len() as f64;
            }
        }
        evaluation.next_image = end;
        evaluation.secs += started.elapsed().as_secs_f64();
        if end < evaluation.images {
            return Ok(None);
        }
        let cost = evaluation.weighted_nats / (evaluation.images * IMAGE_PIXELS).max(1) as f64;
        if cost.is_finite() {
            return Ok(Some(cost));
        }
        // An epoch that cannot close goes back to the state before its last step: nothing
        // unloadable is kept.
        if self.roll_back_epoch_end()? {
            Err(TrainError::NonFinite {
                step: self.snapshot.progress.global_step + 1,
                what: NonFiniteValue::TestCost(cost),
            })
        } else {
            Err(TrainError::NonFiniteCost { cost })
        }
    }

    /// Binarizes the (limited) test images once; returns how many there are.
    fn prepare_test_pixels(&mut self, test: &Dataset) -> Result<usize, TrainError> {
        let len = limited(test.len(), self.snapshot.config.test_limit);
        if len == 0 {
            return Err(TrainError::EmptyData("test"));
        }
        if self.test_pixels.as_ref().map(|(n, _, _)| *n) != Some(len) {
            let pixels = binarize_fixed(&test.images[..len * IMAGE_PIXELS]);
            let labels = test.labels[..len].to_vec();
            self.test_pixels = Some((len, pixels, labels));
        }
        Ok(len)
    }

    /// Draws `count` samples with an RNG seeded by `seed`: the fast (incremental) sampler of
    /// the fast CPU kernels, or the device sampler on a device, with the averaged weights when
    /// the run averages them and the style of [`Trainer::sample_style`]. A conditional model
    /// draws the digits `classes` asks for. `progress` sees the canvas after each row.
    pub fn sample(
        &self,
        count: usize,
        seed: u64,
        classes: ClassChoice,
        progress: &mut dyn FnMut(&SampleGrid),
    ) -> Result<SampleGrid, TrainError> {
        self.sample_while(count, seed, classes, &mut |grid| {
            progress(grid);
            ControlFlow::Continue(())
        })
    }

    /// [`Trainer::sample`] that stops after any row where `control` answers `Break`: the grid
    /// returned is then partial (`pixels_done < 784`). The same seed always draws the same grid.
    pub fn sample_while(
        &self,
        count: usize,
        seed: u64,
        classes: ClassChoice,
        control: &mut dyn FnMut(&SampleGrid) -> ControlFlow<()>,
    ) -> Result<SampleGrid, TrainError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let labels = if self.snapshot.model.conditional() {
            classes.labels(count, &mut rng)
        } else {
            Vec::new()
        };
        self.backend
            .sample_styled(
                count,
                &labels,
                self.sample_style(),
                self.snapshot.averaged.as_ref(),
                &mut rng,
                control,
            )
            .map_err(TrainError::Device)
    }

    /// The guidance and temperature the grids are drawn with: the settings' choice (or the
    /// model's default), unguided for a model without the "no label" class.
    pub fn sample_style(&self) -> SampleStyle {
        SampleStyle::for_model(self.snapshot.config.sample_style, &self.snapshot.model)
    }

    /// Notes the settings in force from now on in the history (a marker on the cost plot when
    /// the learning rate or batch size changed).
    pub fn record_settings(&mut self, train: &Dataset) {
        self.adopt_synced();
        let steps_per_epoch = self.steps_per_epoch(train);
        let progress = &self.snapshot.progress;
        let record = SettingsRecord {
            epoch: progress.epochs_done as f64
                + progress.step_in_epoch as f64 / steps_per_epoch as f64,
            global_step: progress.global_step,
            learning_rate: self.snapshot.config.learning_rate,
            batch_size: self.snapshot.config.batch_size,
            steps_per_epoch,
        };
        self.snapshot.history.record_settings(record);
    }

    /// The seed of the samples drawn after `epoch` (independent of the training RNG, so
    /// sampling never changes the training run).
    pub fn epoch_sample_seed(&self, epoch: usize) -> u64 {
        self.snapshot.config.seed ^ (0x5A4D_0000 + epoch as u64)
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
        let label_dropout = self.snapshot.model.label_dropout();
        for (slot, out) in self.batch.chunks_exact_mut(IMAGE_PIXELS).enumerate() {
            let index = order[(first + slot) % train_len];
            binarize_into(data.train.image(index), &mut progress.rng, out);
            let mut label = data.train.label(index).unwrap_or(0);
            // Label dropout: the image is trained as "no label" (its draw comes from the run's
            // seeded stream, so a resume repeats it).
            if label_dropout > 0.0 && progress.rng.random::<f32>() < label_dropout {
                label = NO_LABEL;
            }
            self.batch_labels.push(label);
        }
    }
}

/// Refuses a loaded model whose network, optimizer state and an evaluation pass would not fit
/// in the memory available (the snapshot itself is allocated already, the rest is not).
fn check_resident_memory(model: &ModelConfig, config: &TrainConfig) -> Result<(), MemoryError> {
    let work = workload(model, config, config.batch_size, None);
    let need = memory::estimate(model, &work);
    memory::check(
        || "this model".to_string(),
        need.evaluation_only_bytes()
            .saturating_sub(need.baseline_bytes + need.snapshot_bytes),
    )
}

/// What the trainer does with `config` at `batch_size`, evaluating `test_images` (when known,
/// else the test limit or the whole test split).
fn workload(
    model: &ModelConfig,
    config: &TrainConfig,
    batch_size: usize,
    test_images: Option<usize>,
) -> memory::Workload {
    let test_images = test_images.unwrap_or(limited(memory::TEST_IMAGES, config.test_limit));
    // A guided grid keeps the sampler's caches twice (the "no label" pass).
    let guided = SampleStyle::for_model(config.sample_style, model).is_guided();
    let samples = config.samples_per_epoch * if guided { 2 } else { 1 };
    memory::Workload {
        averaged_weights: config.weight_averaging.is_some(),
        ..memory::Workload::training(batch_size, samples, test_images)
    }
}

/// Refuses training `model` at `batch_size` when it would not fit in the memory available.
/// `held` says whether the trainer's weights and optimizer state are allocated already.
fn check_training_memory(
    model: &ModelConfig,
    config: &TrainConfig,
    batch_size: usize,
    test_images: Option<usize>,
    held: bool,
) -> Result<(), MemoryError> {
    let work = workload(model, config, batch_size, test_images);
    let need = memory::estimate(model, &work);
    let more = if held {
        need.training_bytes().saturating_sub(need.resident_bytes())
    } else {
        need.training_bytes()
    };
    memory::check(
        || format!("training this model at batch size {batch_size}"),
        more,
    )
}

/// Mean cross-entropy in nats per pixel of `backend` on binarized `pixels` (and their digit
/// `labels`, read by conditional models), in chunks of `chunk_images` images (the same sum as a
/// [`Trainer`]'s evaluation with that chunk size).
pub fn evaluate_cost(
    backend: &Backend,
    pixels: &[f32],
    labels: &[u8],
    chunk_images: usize,
) -> Result<f64, String> {
    let mut total = 0.0;
    let chunk_images = chunk_images.max(1);
    for (index, batch) in pixels.chunks(chunk_images * IMAGE_PIXELS).enumerate() {
        let first = index * chunk_images;
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
