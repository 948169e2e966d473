//! The cost plot, as a dashboard user expects it: the per-step loss (raw and smoothed with
//! TensorBoard's debiased moving average), per-epoch train and test cost, markers where the
//! learning rate or batch size changed, other runs for comparison (dashed), a log-scale toggle,
//! fractional epochs on the x axis and hover values with the epoch and the step.

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
    let smoothed: Vec<[f64; 2]> = if smoothing > 0.0 {
        let losses: Vec<f64> = points.iter().map(|p| p.loss_nats_per_pixel).collect();
        points
            .iter()
            .zip(smooth(&losses, smoothing))
            .map(|(p, v)| [p.epoch, y(v)])
            .collect()
    } else {
        Vec::new()
    };
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
                let value = 10f64.powf(mark.value);
                format!("{value:.3}")
            } else {
                format_tick(mark.value, mark.step_size / 10.0)
            }
        })
        .label_formatter(move |hover| {
            let (name, position) = match hover {
                egui_plot::HoverPosition::NearDataPoint {
                    plot_name,
                    position,
                    ..
                } => (*plot_name, *position),
                egui_plot::HoverPosition::Elsewhere { position } => ("", *position),
            };
            let epoch = position.x;
            let step = step_at_epoch(&settings_history, epoch.max(0.0))
                .map(|s| format!(" (step {})", thousands(s)))
                .unwrap_or_default();
            let mut text = String::new();
            if !name.is_empty() {
                text.push_str(name);
                text.push('\n');
            }
            text.push_str(&format!(
                "epoch {epoch:.2}{step}\n{:.4} {}",
                shown(position.y),
                unit.label()
            ));
            if let Some(record) = settings_history.settings_at(epoch) {
                text.push_str(&format!(
                    "\nlr {}, batch {}",
                    format_learning_rate(record.learning_rate),
                    record.batch_size
                ));
            }
            Some(text)
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
    fn ticks_of_the_first_epoch_show_their_fraction() {
        assert_eq!(format_tick(0.25, 0.05), "0.25");
        assert_eq!(format_tick(0.0, 0.05), "0.00");
        assert_eq!(format_tick(3.0, 1.0), "3");
        assert_eq!(format_tick(20.0, 10.0), "20");
        assert_eq!(format_learning_rate(3e-4), "3.0e-4");
    }
}
