//! The metric history as CSV, one value per row (`series,epoch,step,value`), so a spreadsheet or
//! a plotting script can pick the series it wants: the step losses (the whole run down-sampled,
//! the recent steps in full), each epoch's train and test cost, throughput and duration, and the
//! learning rate and batch size from each change on.

use std::fmt::Write as _;
use std::path::Path;

use super::metrics::History;

/// The header line.
pub const CSV_HEADER: &str = "series,epoch,step,value";

/// The whole history as CSV text (header included). Costs are in nats per pixel; `epoch` is
/// fractional for step rows; `step` is empty where the history does not know it.
pub fn history_csv(history: &History) -> String {
    let mut out = String::with_capacity(64 * (history.steps.len() + 8 * history.epochs.len()));
    out.push_str(CSV_HEADER);
    out.push('\n');
    let mut row = |series: &str, epoch: f64, step: Option<u64>, value: f64| {
        let step = step.map_or_else(String::new, |s| s.to_string());
        let _ = writeln!(out, "{series},{epoch},{step},{value}");
    };
    for record in &history.settings {
        row(
            "learning_rate",
            record.epoch,
            Some(record.global_step),
            record.learning_rate,
        );
        row(
            "batch_size",
            record.epoch,
            Some(record.global_step),
            record.batch_size as f64,
        );
    }
    for point in history.steps.plot_points() {
        let step = (point.global_step > 0).then_some(point.global_step);
        row(
            "step_loss_nats_per_pixel",
            point.epoch,
            step,
            point.loss_nats_per_pixel,
        );
    }
    for record in &history.epochs {
        let epoch = record.epoch as f64;
        let step = step_at_epoch(history, epoch);
        row(
            "train_cost_nats_per_pixel",
            epoch,
            step,
            record.train_cost_nats_per_pixel,
        );
        row(
            "test_cost_nats_per_pixel",
            epoch,
            step,
            record.test_cost_nats_per_pixel,
        );
        row("train_images_per_sec", epoch, step, record.images_per_sec);
        row("epoch_secs", epoch, step, record.elapsed_secs);
    }
    out
}

/// The global step at fractional `epoch`, from the settings in force then (`None` for histories
/// without settings records).
pub fn step_at_epoch(history: &History, epoch: f64) -> Option<u64> {
    let record = history.settings_at(epoch)?;
    let steps = (epoch - record.epoch) * record.steps_per_epoch as f64;
    Some(record.global_step + steps.round().max(0.0) as u64)
}

/// Writes [`history_csv`] to `path` atomically (a temporary file renamed over it), so a reader
/// never sees half a file. The error names the path.
pub fn write_history_csv(path: &Path, history: &History) -> Result<(), String> {
    crate::atomic_file::write(path, history_csv(history).as_bytes()).map_err(|err| {
        format!(
            "could not write the metrics CSV ({} failed: {}): {}",
            err.action,
            err.error,
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{EpochRecord, SettingsRecord, StepPoint};

    fn history() -> History {
        let mut history = History::default();
        history.record_settings(SettingsRecord {
            epoch: 0.0,
            global_step: 0,
            learning_rate: 1e-3,
            batch_size: 100,
            steps_per_epoch: 4,
        });
        for step in 1..=8u64 {
            history.steps.push(StepPoint {
                epoch: step as f64 / 4.0,
                loss_nats_per_pixel: 0.5 / step as f64,
                global_step: step,
            });
        }
        for epoch in 1..=2 {
            history.epochs.push(EpochRecord {
                epoch,
                train_cost_nats_per_pixel: 0.2 / epoch as f64,
                test_cost_nats_per_pixel: 0.25 / epoch as f64,
                images_per_sec: 1000.0,
                elapsed_secs: 2.5,
            });
        }
        history
    }

    #[test]
    fn every_series_lands_in_its_rows_with_epoch_and_step() {
        let text = history_csv(&history());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&CSV_HEADER));
        let rows = |series: &str| {
            lines
                .iter()
                .filter(|l| l.starts_with(&format!("{series},")))
                .copied()
                .collect::<Vec<_>>()
        };
        assert_eq!(rows("step_loss_nats_per_pixel").len(), 8);
        assert_eq!(
            rows("step_loss_nats_per_pixel")[1],
            "step_loss_nats_per_pixel,0.5,2,0.25"
        );
        assert_eq!(
            rows("test_cost_nats_per_pixel"),
            [
                "test_cost_nats_per_pixel,1,4,0.25",
                "test_cost_nats_per_pixel,2,8,0.125"
            ]
        );
        assert_eq!(rows("learning_rate"), ["learning_rate,0,0,0.001"]);
        assert!(lines.iter().skip(1).all(|l| l.split(',').count() == 4));
    }

    #[test]
    fn writing_to_a_missing_folder_is_an_error_naming_the_path() {
        let err = write_history_csv(Path::new("/definitely/not/here/m.csv"), &history())
            .err()
            .unwrap_or_default();
        assert!(err.contains("/definitely/not/here/m.csv"), "{err}");
    }
}
