//! Training history: per-step losses (recent at full resolution, the whole run down-sampled, so
//! memory stays bounded) and per-epoch costs, plus the unit conversions.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::data::IMAGE_PIXELS;

/// Step points kept at full resolution.
pub const RECENT_CAPACITY: usize = 2000;
/// Points kept for the down-sampled whole run.
pub const OVERVIEW_CAPACITY: usize = 2000;

/// Nats per image from nats per pixel.
pub fn nats_per_image(cost_nats_per_pixel: f64) -> f64 {
    cost_nats_per_pixel * IMAGE_PIXELS as f64
}

/// Bits per dimension from nats per pixel.
pub fn bits_per_dim(cost_nats_per_pixel: f64) -> f64 {
    cost_nats_per_pixel / std::f64::consts::LN_2
}

/// One step's loss at a fractional epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepPoint {
    /// Epochs completed when this step ended (fractional).
    pub epoch: f64,
    /// Mean cross-entropy of the minibatch, nats per pixel.
    pub loss_nats_per_pixel: f64,
    /// Steps done in total when this step ended (0 in histories saved before it was recorded).
    #[serde(default)]
    pub global_step: u64,
}

/// The settings a run trained with from a point on: the first record is the run's start, and a
/// new one is added whenever the learning rate or the batch size changes (markers on the plot).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingsRecord {
    /// Epochs completed (fractional) when these settings took effect.
    pub epoch: f64,
    /// Steps done in total when these settings took effect.
    pub global_step: u64,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Images per minibatch.
    pub batch_size: usize,
    /// Minibatches per epoch with this batch size and training subset.
    pub steps_per_epoch: usize,
}

/// Settings records kept at most (a run changes its settings by hand, so this is never reached
/// in practice; it only bounds a malicious or runaway history).
pub const SETTINGS_CAPACITY: usize = 1000;

/// The costs measured at the end of an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean minibatch cost over the epoch, nats per pixel.
    pub train_cost_nats_per_pixel: f64,
    /// Cost on the fixed binarization of the test images, nats per pixel.
    pub test_cost_nats_per_pixel: f64,
    /// Training throughput over the epoch.
    pub images_per_sec: f64,
    /// Wall time of the epoch (training and test).
    pub elapsed_secs: f64,
}

impl EpochRecord {
    /// Test NLL in nats per image.
    pub fn test_nll_nats_per_image(&self) -> f64 {
        nats_per_image(self.test_cost_nats_per_pixel)
    }

    /// Test cost in bits per dimension.
    pub fn test_bits_per_dim(&self) -> f64 {
        bits_per_dim(self.test_cost_nats_per_pixel)
    }
}

/// Per-step losses: the last [`RECENT_CAPACITY`] at full resolution, and the whole run
/// averaged into at most [`OVERVIEW_CAPACITY`] points.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepHistory {
    /// Most recent steps, oldest first.
    pub recent: VecDeque<StepPoint>,
    /// The whole run, each point the mean of `overview_stride` steps.
    pub overview: Vec<StepPoint>,
    /// Steps averaged into each overview point.
    pub overview_stride: usize,
    /// Steps of the incomplete overview bucket.
    pending: Vec<StepPoint>,
}

impl StepHistory {
    /// Records one step.
    pub fn push(&mut self, point: StepPoint) {
        while self.recent.len() >= RECENT_CAPACITY {
            self.recent.pop_front();
        }
        self.recent.push_back(point);
        self.overview_stride = self.overview_stride.max(1);
        self.pending.push(point);
        if self.pending.len() >= self.overview_stride {
            self.overview.push(mean_point(&self.pending));
            self.pending.clear();
        }
        if self.overview.len() > OVERVIEW_CAPACITY {
            self.overview = self.overview.chunks(2).map(mean_point).collect();
            self.overview_stride *= 2;
        }
    }

    /// Total points held (bounded).
    pub fn len(&self) -> usize {
        self.recent.len() + self.overview.len() + self.pending.len()
    }

    /// Whether no step was recorded.
    pub fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }

    /// Points to plot: the overview up to where the recent window starts, then the recent window.
    pub fn plot_points(&self) -> Vec<StepPoint> {
        let start = self.recent.front().map_or(f64::INFINITY, |p| p.epoch);
        self.overview
            .iter()
            .filter(|p| p.epoch < start)
            .chain(self.recent.iter())
            .copied()
            .collect()
    }
}

fn mean_point(points: &[StepPoint]) -> StepPoint {
    let n = points.len().max(1) as f64;
    let step_sum: u128 = points.iter().map(|p| u128::from(p.global_step)).sum();
    let count = points.len().max(1) as u128;
    StepPoint {
        epoch: points.iter().map(|p| p.epoch).sum::<f64>() / n,
        loss_nats_per_pixel: points.iter().map(|p| p.loss_nats_per_pixel).sum::<f64>() / n,
        global_step: u64::try_from((step_sum + count / 2) / count).unwrap_or(u64::MAX),
    }
}

/// Everything measured during a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Per-step losses.
    pub steps: StepHistory,
    /// Per-epoch costs, in order.
    pub epochs: Vec<EpochRecord>,
    /// The settings in force, from the start and at each change (empty in older checkpoints).
    #[serde(default)]
    pub settings: Vec<SettingsRecord>,
}

impl History {
    /// Records the settings in force from now on, when they differ from the last record's
    /// (learning rate, batch size or steps per epoch).
    pub fn record_settings(&mut self, record: SettingsRecord) {
        let same = self.settings.last().is_some_and(|last| {
            last.learning_rate == record.learning_rate
                && last.batch_size == record.batch_size
                && last.steps_per_epoch == record.steps_per_epoch
        });
        if same {
            return;
        }
        if self.settings.len() >= SETTINGS_CAPACITY {
            self.settings.pop();
        }
        self.settings.push(record);
    }

    /// The settings in force at fractional `epoch` (the last record at or before it).
    pub fn settings_at(&self, epoch: f64) -> Option<&SettingsRecord> {
        self.settings.iter().rev().find(|r| r.epoch <= epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_history_stays_bounded_over_a_long_run() {
        let mut history = StepHistory::default();
        for i in 0..100_000 {
            history.push(StepPoint {
                epoch: i as f64 / 600.0,
                loss_nats_per_pixel: 0.1,
                global_step: i + 1,
            });
        }
        assert!(history.len() <= RECENT_CAPACITY + OVERVIEW_CAPACITY + history.overview_stride);
        assert_eq!(history.recent.len(), RECENT_CAPACITY);
        let points = history.plot_points();
        assert!(points.first().is_some_and(|p| p.epoch < 1.0));
        assert!(points.windows(2).all(|w| w[0].epoch <= w[1].epoch));
    }

    #[test]
    fn overview_points_carry_the_mean_step_of_their_bucket() {
        let mut history = StepHistory::default();
        for i in 0..(RECENT_CAPACITY as u64 * 3) {
            history.push(StepPoint {
                epoch: i as f64,
                loss_nats_per_pixel: 0.1,
                global_step: i + 1,
            });
        }
        for point in &history.overview {
            // Steps are epochs + 1 here, so a bucket's mean step is its mean epoch + 1 (rounded
            // at each of the two halvings).
            assert!((point.global_step as f64 - (point.epoch + 1.0)).abs() <= 1.0);
        }
    }

    #[test]
    fn a_settings_record_is_kept_only_when_something_changed() {
        let record = |step: u64, learning_rate: f64, batch_size: usize| SettingsRecord {
            epoch: step as f64 / 10.0,
            global_step: step,
            learning_rate,
            batch_size,
            steps_per_epoch: 600 / batch_size,
        };
        let mut history = History::default();
        history.record_settings(record(0, 1e-3, 100));
        history.record_settings(record(40, 1e-3, 100));
        history.record_settings(record(50, 3e-4, 100));
        history.record_settings(record(70, 3e-4, 50));
        let steps: Vec<u64> = history.settings.iter().map(|r| r.global_step).collect();
        assert_eq!(steps, [0, 50, 70]);
        assert_eq!(
            history.settings_at(5.5).map(|r| r.learning_rate),
            Some(3e-4)
        );
        assert_eq!(
            history.settings_at(4.0).map(|r| r.learning_rate),
            Some(1e-3)
        );
    }

    #[test]
    fn the_overview_averages_each_bucket_and_halves_when_full() {
        let point = |epoch: f64, loss: f64| StepPoint {
            epoch,
            loss_nats_per_pixel: loss,
            global_step: epoch as u64 + 1,
        };
        // Epoch and loss of a point (the mean step of a bucket is checked above).
        let el = |p: Option<&StepPoint>| p.map(|p| (p.epoch, p.loss_nats_per_pixel));
        let mut history = StepHistory::default();
        // Step i at epoch i with loss 3i: every mean below is exact in binary.
        let push =
            |history: &mut StepHistory, i: usize| history.push(point(i as f64, 3.0 * i as f64));
        for i in 0..OVERVIEW_CAPACITY {
            push(&mut history, i);
        }
        assert_eq!(history.overview_stride, 1);
        assert_eq!(el(history.overview.get(7)), Some((7.0, 21.0)));
        // One point more than the overview holds: neighbours are averaged in pairs.
        push(&mut history, OVERVIEW_CAPACITY);
        assert_eq!(history.overview_stride, 2);
        assert_eq!(history.overview.len(), OVERVIEW_CAPACITY / 2 + 1);
        assert_eq!(el(history.overview.first()), Some((0.5, 1.5)));
        assert_eq!(el(history.overview.get(1)), Some((2.5, 7.5)));
        assert_eq!(el(history.overview.get(999)), Some((1998.5, 5995.5)));
        assert_eq!(el(history.overview.get(1000)), Some((2000.0, 6000.0)));
        // New steps now fill buckets of two before they appear.
        push(&mut history, 2001);
        assert_eq!(history.overview.len(), 1001);
        push(&mut history, 2002);
        assert_eq!(el(history.overview.last()), Some((2001.5, 6004.5)));
        // The recent window holds the last steps whole; the plot joins the overview before it.
        assert_eq!(history.recent.len(), RECENT_CAPACITY);
        assert_eq!(el(history.recent.front()), Some((3.0, 9.0)));
        let plot = history.plot_points();
        assert_eq!(el(plot.first()), Some((0.5, 1.5)));
        assert_eq!(el(plot.get(1)), Some((2.5, 7.5)));
        assert_eq!(el(plot.get(2)), Some((3.0, 9.0)));
        assert_eq!(plot.len(), 2 + RECENT_CAPACITY);
    }

    #[test]
    fn unit_conversions_match_the_paper_scale() {
        assert!((nats_per_image(0.1) - 78.4).abs() < 1e-9);
        assert!((bits_per_dim(std::f64::consts::LN_2) - 1.0).abs() < 1e-12);
    }
}
