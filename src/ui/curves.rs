//! The cost plot, as a dashboard user expects it: the per-step loss (raw and smoothed with
//! TensorBoard's debiased moving average), per-epoch train and test cost, markers where the
//! learning rate or batch size changed, other runs for comparison (dashed), a log-scale toggle
//! (ticks with the decimals that tell them apart), fractional epochs on the x axis, and a hover
//! that reads the curves at the pointer's epoch: the nearest step, its epoch and loss (raw and
//! smoothed), the epoch end's costs there, and the settings in force.

use serde::{Deserialize, Serialize};

use super::compare::ComparedRuns;
use super::status::thousands;
use super::UiCommand;
use crate::train::metrics_csv::step_at_epoch;
use crate::train::{
    bits_per_dim, nats_per_image, EpochRecord, History, SettingsRecord, StepHistory, StepPoint,
};

/// Plots shorter than this show no legend (it would cover the curves).
pub const LEGEND_MIN_HEIGHT: f32 = 220.0;

/// The unit of the y axis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CostUnit {
    /// Mean cross-entropy per pixel, in nats.
    #[default]
    NatsPerPixel,
    /// Negative log-likelihood per image, in nats (the paper's MNIST unit).
    NatsPerImage,
    /// Bits per dimension.
    BitsPerDim,
}

impl CostUnit {
    /// Every unit, in menu order.
    pub const ALL: [CostUnit; 3] = [
        CostUnit::NatsPerPixel,
        CostUnit::NatsPerImage,
        CostUnit::BitsPerDim,
    ];

    /// Converts a cost in nats per pixel to this unit.
    pub fn convert(self, cost_nats_per_pixel: f64) -> f64 {
        match self {
            CostUnit::NatsPerPixel => cost_nats_per_pixel,
            CostUnit::NatsPerImage => nats_per_image(cost_nats_per_pixel),
            CostUnit::BitsPerDim => bits_per_dim(cost_nats_per_pixel),
        }
    }

    /// The axis label.
    pub fn label(self) -> &'static str {
        match self {
            CostUnit::NatsPerPixel => "nats/pixel",
            CostUnit::NatsPerImage => "nats/image",
            CostUnit::BitsPerDim => "bits/dim",
        }
    }
}

/// How the user likes the plot (persisted).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CurveSettings {
    /// Unit of the y axis.
    pub unit: CostUnit,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Weight of the moving average over step losses, 0 (raw) to 0.99 (TensorBoard's default
    /// is 0.6).
    pub smoothing: f64,
}

impl Default for CurveSettings {
    fn default() -> Self {
        CurveSettings {
            unit: CostUnit::NatsPerPixel,
            log_y: false,
            smoothing: 0.6,
        }
    }
}

/// What the plot shows: a bounded step history (recent at full resolution, the whole run
/// down-sampled), the epoch records and the settings records.
#[derive(Clone, Debug, Default)]
pub struct CurveData {
    /// Per-step losses (bounded).
    pub steps: StepHistory,
    /// One record per finished epoch.
    pub epochs: Vec<EpochRecord>,
    /// The run's settings from its start and at each change.
    pub settings: Vec<SettingsRecord>,
}

impl CurveData {
    /// Replaces everything with a model's history.
    pub fn set_history(&mut self, history: &History) {
        self.steps = history.steps.clone();
        self.epochs = history.epochs.clone();
        self.settings = history.settings.clone();
    }

    /// Appends step losses.
    pub fn push_steps(&mut self, points: &[StepPoint]) {
        for point in points {
            self.steps.push(*point);
        }
    }

    /// Appends an epoch record (replacing one with the same epoch number).
    pub fn push_epoch(&mut self, record: EpochRecord) {
        self.epochs.retain(|r| r.epoch != record.epoch);
        self.epochs.push(record);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = CurveData::default();
    }

    /// Whether there is anything to plot.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.epochs.is_empty()
    }

    /// The whole history (for the CSV export).
    pub fn to_history(&self) -> History {
        History {
            steps: self.steps.clone(),
            epochs: self.epochs.clone(),
            settings: self.settings.clone(),
        }
    }
}

/// TensorBoard's smoothing: an exponential moving average with weight `weight`, debiased so the
/// first values are not pulled towards zero.
pub fn smooth(values: &[f64], weight: f64) -> Vec<f64> {
    let weight = weight.clamp(0.0, 0.999);
    let mut last = 0.0;
    let mut debias = 1.0;
    values
        .iter()
        .map(|&v| {
            last = last * weight + (1.0 - weight) * v;
            debias *= weight;
            last / (1.0 - debias)
        })
        .collect()
}

/// An axis value with as many decimals as the grid spacing `step` needs (0.25 not 0).
pub fn format_tick(value: f64, step: f64) -> String {
    let decimals = if step > 0.0 && step.is_finite() {
        (-step.log10()).ceil().clamp(0.0, 4.0) as usize
    } else {
        0
    };
    format!("{value:.decimals$}")
}

/// A learning rate as the controls write it.
pub fn format_learning_rate(learning_rate: f64) -> String {
    format!("{learning_rate:.1e}")
}

/// A label for a tick at `value` on a log axis whose marks are `step` apart in log10 units:
/// as many decimals as tell neighbouring ticks apart (1.646 and 1.650, not 1.646 twice).
pub fn format_log_tick(log10_value: f64, step: f64) -> String {
    let value = 10f64.powf(log10_value);
    // The next tick is 10^step times this one: the decimals must resolve that difference.
    let gap = (value * (10f64.powf(step.abs()) - 1.0)).abs();
    let decimals = if gap > 0.0 && gap.is_finite() {
        (-gap.log10()).ceil().clamp(0.0, 8.0) as usize
    } else {
        3
    };
    format!("{value:.decimals$}")
}

/// What hovering the plot at one epoch reads off the curves (costs in nats per pixel): the
/// nearest plotted step's loss, raw and smoothed, and at an epoch end that epoch's costs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HoverReadout {
    /// The epoch read (the step's, or the epoch end's).
    pub epoch: f64,
    /// The global step read, when known.
    pub step: Option<u64>,
    /// The nearest step's loss as plotted (a down-sampled mean far back in a long run).
    pub step_loss: Option<f64>,
    /// The smoothed loss at that step (with smoothing on).
    pub smoothed_loss: Option<f64>,
    /// The epoch end at this point: its number and its train and test cost.
    pub epoch_end: Option<(usize, f64, f64)>,
}

/// Reads the curves at `epoch` (the pointer's x): the nearest of the plotted step points
/// (`smoothed` holds their smoothed losses, or nothing) and the nearest epoch end when it is at
/// least as near. The pointer's height plays no part: the values are the curves'.
pub fn hover_readout(
    points: &[StepPoint],
    smoothed: &[f64],
    epochs: &[EpochRecord],
    epoch: f64,
) -> Option<HoverReadout> {
    let nearest_step = points
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| (a.epoch - epoch).abs().total_cmp(&(b.epoch - epoch).abs()));
    let nearest_end = epochs.iter().min_by(|a, b| {
        (a.epoch as f64 - epoch)
            .abs()
            .total_cmp(&(b.epoch as f64 - epoch).abs())
    });
    let step_distance = nearest_step.map_or(f64::INFINITY, |(_, p)| (p.epoch - epoch).abs());
    let end = nearest_end.filter(|r| {
        let distance = (r.epoch as f64 - epoch).abs();
        // At least as near as the nearest step, or that step is the epoch's last.
        distance <= step_distance + 1e-9
            || nearest_step.is_some_and(|(_, p)| (p.epoch - r.epoch as f64).abs() < 1e-6)
    });
    let mut readout = HoverReadout {
        epoch,
        step: None,
        step_loss: None,
        smoothed_loss: None,
        epoch_end: end.map(|r| {
            (
                r.epoch,
                r.train_cost_nats_per_pixel,
                r.test_cost_nats_per_pixel,
            )
        }),
    };
    match (nearest_step, end) {
        (Some((index, point)), _) => {
            readout.epoch = point.epoch;
            readout.step = (point.global_step > 0).then_some(point.global_step);
            readout.step_loss = Some(point.loss_nats_per_pixel);
            readout.smoothed_loss = smoothed.get(index).copied();
            if let Some(record) = end {
                // The epoch end is nearer than any step: read there (no step loss if the
                // nearest step is not that epoch's last).
                if (point.epoch - record.epoch as f64).abs() >= 1e-6 {
                    readout.epoch = record.epoch as f64;
                    readout.step = None;
                    readout.step_loss = None;
                    readout.smoothed_loss = None;
                }
            }
        }
        (None, Some(record)) => readout.epoch = record.epoch as f64,
        (None, None) => return None,
    }
    Some(readout)
}

/// The hover text of a readout, in `unit`, with the step (from the point, else from the
/// settings records) and the settings in force.
pub fn hover_text(readout: &HoverReadout, unit: CostUnit, settings: &History) -> String {
    let step = readout
        .step
        .or_else(|| step_at_epoch(settings, readout.epoch.max(0.0)));
    // Short lines: the tooltip stays narrow enough to show whole beside the pointer.
    let mut text = match step {
        Some(step) => format!("step {}, epoch {:.2}", thousands(step), readout.epoch),
        None => format!("epoch {:.2}", readout.epoch),
    };
    let value = |cost: f64| format!("{:.4}", unit.convert(cost));
    if let Some(loss) = readout.step_loss {
        text.push_str(&format!("\nstep loss {} {}", value(loss), unit.label()));
        if let Some(smoothed) = readout.smoothed_loss {
            text.push_str(&format!("\nsmoothed {}", value(smoothed)));
        }
    }
    if let Some((epoch, train, test)) = readout.epoch_end {
        text.push_str(&format!(
            "\nend of epoch {epoch}:\ntrain {}, test {}",
            value(train),
            value(test),
        ));
    }
    if let Some(record) = settings.settings_at(readout.epoch) {
        text.push_str(&format!(
            "\nlr {}, batch {}",
            format_learning_rate(record.learning_rate),
            record.batch_size
        ));
    }
    text
}

/// Draws the plot's toolbar and the plot; returns what the user asked for.
pub fn curves_ui(
    ui: &mut egui::Ui,
    data: &CurveData,
    settings: &mut CurveSettings,
    compared: &ComparedRuns,
    learning_rate: f64,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    ui.horizontal_wrapped(|ui| {
        ui.strong("Cost");
        egui::ComboBox::from_id_salt("cost_unit")
            .selected_text(settings.unit.label())
            .width(90.0)
            .show_ui(ui, |ui| {
                for choice in CostUnit::ALL {
                    ui.selectable_value(&mut settings.unit, choice, choice.label());
                }
            })
            .response
            .on_hover_text("Unit of the costs");
        ui.checkbox(&mut settings.log_y, "log y")
            .on_hover_text("Logarithmic cost axis");
        ui.spacing_mut().slider_width = 60.0;
        ui.add(
            egui::Slider::new(&mut settings.smoothing, 0.0..=0.99)
                .text("smoothing")
                .fixed_decimals(2),
        )
        .on_hover_text("Moving average of the step loss, as in TensorBoard (0: raw)");
        if ui
            .button("Compare / export...")
            .on_hover_text("Draw other runs' costs next to this one; export the metrics as CSV")
            .clicked()
        {
            commands.push(UiCommand::ShowCompare);
        }
    });
    let unit = settings.unit;
    ui.horizontal_wrapped(|ui| {
        if let Some(last) = data.epochs.last() {
            ui.label(format!(
                "epoch {}: train {:.4}, test {:.4} {};",
                last.epoch,
                unit.convert(last.train_cost_nats_per_pixel),
                unit.convert(last.test_cost_nats_per_pixel),
                unit.label()
            ));
        }
        ui.label(format!(
            "learning rate {}",
            format_learning_rate(learning_rate)
        ))
        .on_hover_text("The learning rate in force (dashed markers show where it changed)");
    });
    plot_ui(ui, data, *settings, compared);
    commands
}

fn plot_ui(ui: &mut egui::Ui, data: &CurveData, settings: CurveSettings, compared: &ComparedRuns) {
    let CurveSettings {
        unit,
        log_y,
        smoothing,
    } = settings;
    // Plotted y: the cost in the unit, or its log10.
    let y = move |cost_nats_per_pixel: f64| {
        let v = unit.convert(cost_nats_per_pixel);
        if log_y {
            v.max(1e-12).log10()
        } else {
            v
        }
    };
    let shown = move |plotted: f64| if log_y { 10f64.powf(plotted) } else { plotted };
    let points = data.steps.plot_points();
    let raw: Vec<[f64; 2]> = points
        .iter()
        .map(|p| [p.epoch, y(p.loss_nats_per_pixel)])
        .collect();
    let smoothed_losses: Vec<f64> = if smoothing > 0.0 {
        let losses: Vec<f64> = points.iter().map(|p| p.loss_nats_per_pixel).collect();
        smooth(&losses, smoothing)
    } else {
        Vec::new()
    };
    let smoothed: Vec<[f64; 2]> = points
        .iter()
        .zip(&smoothed_losses)
        .map(|(p, &v)| [p.epoch, y(v)])
        .collect();
    let epoch_line = |records: &[EpochRecord], test: bool| -> Vec<[f64; 2]> {
        records
            .iter()
            .map(|r| {
                let cost = if test {
                    r.test_cost_nats_per_pixel
                } else {
                    r.train_cost_nats_per_pixel
                };
                [r.epoch as f64, y(cost)]
            })
            .collect()
    };
    let train = epoch_line(&data.epochs, false);
    let test = epoch_line(&data.epochs, true);
    let dark = ui.visuals().dark_mode;
    let step_color = if dark {
        egui::Color32::from_rgb(150, 180, 230)
    } else {
        egui::Color32::from_rgb(60, 100, 170)
    };
    let faint = step_color.gamma_multiply(if smoothing > 0.0 { 0.3 } else { 0.6 });
    let train_color = egui::Color32::from_rgb(230, 140, 40);
    let test_color = egui::Color32::from_rgb(60, 190, 110);
    let marker_color = ui.visuals().weak_text_color();
    let settings_history = History {
        settings: data.settings.clone(),
        ..History::default()
    };
    // In a short plot the legend would cover the curves: hovering still names them.
    let legend = (ui.available_height() >= LEGEND_MIN_HEIGHT).then(egui_plot::Legend::default);
    let mut plot = egui_plot::Plot::new("cost_curves");
    if let Some(legend) = legend {
        plot = plot.legend(legend);
    }
    plot.x_axis_label("epoch")
        .y_axis_label(if log_y {
            format!("{} (log)", unit.label())
        } else {
            unit.label().to_string()
        })
        .include_x(0.0)
        .allow_scroll(false)
        .x_axis_formatter(|mark, _| format_tick(mark.value, mark.step_size))
        .y_axis_formatter(move |mark, _| {
            if log_y {
                format_log_tick(mark.value, mark.step_size)
            } else {
                format_tick(mark.value, mark.step_size / 10.0)
            }
        })
        .label_formatter(|hover| {
            // Another run's line: its own point (a data point, so its value is true).
            if let egui_plot::HoverPosition::NearDataPoint {
                plot_name,
                position,
                ..
            } = hover
            {
                let run_name = plot_name
                    .strip_suffix(": test")
                    .or_else(|| plot_name.strip_suffix(": train"));
                if compared
                    .runs()
                    .iter()
                    .any(|run| Some(run.name.as_str()) == run_name)
                {
                    return Some(format!(
                        "{plot_name}\nepoch {:.2}: {:.4} {}",
                        position.x,
                        shown(position.y),
                        unit.label()
                    ));
                }
            }
            let epoch = match hover {
                egui_plot::HoverPosition::NearDataPoint { position, .. }
                | egui_plot::HoverPosition::Elsewhere { position } => position.x,
            };
            let readout = hover_readout(&points, &smoothed_losses, &data.epochs, epoch)?;
            Some(hover_text(&readout, unit, &settings_history))
        })
        .show(ui, |plot| {
            for record in data.settings.iter().skip(1) {
                plot.vline(
                    egui_plot::VLine::new("settings changed", record.epoch)
                        .color(marker_color)
                        .style(egui_plot::LineStyle::dashed_dense())
                        .width(1.0),
                );
            }
            // One legend entry for the step loss: the smoothed line when there is one (the raw
            // one stays faint behind it, unnamed).
            let raw_name = if smoothed.is_empty() { "step loss" } else { "" };
            plot.line(egui_plot::Line::new(raw_name, raw).color(faint).width(1.0));
            if !smoothed.is_empty() {
                plot.line(
                    egui_plot::Line::new("step loss (smoothed)", smoothed)
                        .color(step_color)
                        .width(1.5),
                );
            }
            plot.line(
                egui_plot::Line::new("train cost (epoch)", train.clone())
                    .color(train_color)
                    .width(3.0),
            );
            plot.points(
                egui_plot::Points::new("train cost (epoch)", train)
                    .color(train_color)
                    .radius(4.0),
            );
            plot.line(
                egui_plot::Line::new("test cost (epoch)", test.clone())
                    .color(test_color)
                    .width(3.0),
            );
            plot.points(
                egui_plot::Points::new("test cost (epoch)", test)
                    .color(test_color)
                    .radius(4.0),
            );
            for run in compared.runs() {
                plot.line(
                    egui_plot::Line::new(
                        format!("{}: test", run.name),
                        epoch_line(&run.history.epochs, true),
                    )
                    .color(run.color)
                    .style(egui_plot::LineStyle::dashed_loose())
                    .width(2.0),
                );
                plot.line(
                    egui_plot::Line::new(
                        format!("{}: train", run.name),
                        epoch_line(&run.history.epochs, false),
                    )
                    .color(run.color.gamma_multiply(0.6))
                    .style(egui_plot::LineStyle::dashed_dense())
                    .width(1.5),
                );
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_is_tensorboards_debiased_moving_average() {
        assert_eq!(smooth(&[1.0, 1.0, 1.0], 0.9), [1.0, 1.0, 1.0]);
        let s = smooth(&[0.0, 1.0], 0.5);
        // last = 0.5 * 0 + 0.5 * 1 = 0.5; debiased by 1 - 0.25.
        assert!((s[1] - 0.5 / 0.75).abs() < 1e-12, "{s:?}");
        assert_eq!(smooth(&[3.0, 5.0], 0.0), [3.0, 5.0]);
    }

    #[test]
    fn log_ticks_close_together_get_the_decimals_that_tell_them_apart() {
        // Marks 0.0002 apart in log10 around 1.646: four decimals, all different.
        let step = 0.0002;
        let labels: Vec<String> = (0..5)
            .map(|i| format_log_tick(1.646f64.log10() + i as f64 * step, step))
            .collect();
        for pair in labels.windows(2) {
            assert_ne!(pair[0], pair[1], "{labels:?}");
        }
        // Wide marks stay short.
        assert_eq!(format_log_tick(0.0, 1.0), "1");
        assert_eq!(format_log_tick(-1.0, 1.0), "0.1");
    }

    fn step(global_step: u64, epoch: f64, loss: f64) -> StepPoint {
        StepPoint {
            epoch,
            loss_nats_per_pixel: loss,
            global_step,
        }
    }

    fn epoch_end(epoch: usize, train: f64, test: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            train_cost_nats_per_pixel: train,
            test_cost_nats_per_pixel: test,
            images_per_sec: 1000.0,
            elapsed_secs: 1.0,
        }
    }

    #[test]
    fn the_hover_reads_the_nearest_step_and_the_epoch_end_there() {
        let points: Vec<StepPoint> = (1..=10)
            .map(|i| step(i, i as f64 / 10.0, 0.7 - 0.03 * i as f64))
            .collect();
        let smoothed: Vec<f64> = points
            .iter()
            .map(|p| p.loss_nats_per_pixel + 0.01)
            .collect();
        let epochs = [epoch_end(1, 0.45, 0.41)];
        // Between steps 3 and 4, nearer 3.
        let readout = hover_readout(&points, &smoothed, &epochs, 0.32).unwrap();
        assert_eq!(readout.step, Some(3));
        assert_eq!(readout.epoch, 0.3);
        assert_eq!(readout.step_loss, Some(0.7 - 0.09));
        assert_eq!(readout.smoothed_loss, Some(0.7 - 0.09 + 0.01));
        assert_eq!(readout.epoch_end, None);
        // At the epoch end: its last step and the epoch's costs.
        let readout = hover_readout(&points, &smoothed, &epochs, 0.99).unwrap();
        assert_eq!(readout.step, Some(10));
        assert_eq!(readout.epoch_end, Some((1, 0.45, 0.41)));
        let text = hover_text(&readout, CostUnit::NatsPerPixel, &History::default());
        assert_eq!(
            text,
            "step 10, epoch 1.00\nstep loss 0.4000 nats/pixel\nsmoothed 0.4100\n\
             end of epoch 1:\ntrain 0.4500, test 0.4100"
        );
        // In bits/dim, the values are converted, never the pointer's height.
        let text = hover_text(&readout, CostUnit::BitsPerDim, &History::default());
        assert!(
            text.contains(&format!("step loss {:.4} bits/dim", bits_per_dim(0.4))),
            "{text}"
        );
    }

    #[test]
    fn with_only_epoch_records_the_hover_reads_the_nearest_epoch_end() {
        let epochs = [epoch_end(1, 0.45, 0.41), epoch_end(2, 0.40, 0.38)];
        let readout = hover_readout(&[], &[], &epochs, 1.8).unwrap();
        assert_eq!(readout.epoch, 2.0);
        assert_eq!(readout.epoch_end, Some((2, 0.40, 0.38)));
        assert_eq!(readout.step_loss, None);
        assert_eq!(hover_readout(&[], &[], &[], 1.0), None);
    }

    #[test]
    fn ticks_of_the_first_epoch_show_their_fraction() {
        assert_eq!(format_tick(0.25, 0.05), "0.25");
        assert_eq!(format_tick(0.0, 0.05), "0.00");
        assert_eq!(format_tick(3.0, 1.0), "3");
        assert_eq!(format_tick(20.0, 10.0), "20");
        assert_eq!(format_learning_rate(3e-4), "3.0e-4");
    }
}
