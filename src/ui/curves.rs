//! The cost curves: per-step loss (light) and per-epoch train and test cost (bold) against
//! epochs, in a unit the user picks.

use serde::{Deserialize, Serialize};

use crate::train::{bits_per_dim, nats_per_image, EpochRecord, History, StepHistory, StepPoint};

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

/// What the plot shows: a bounded step history (recent at full resolution, the whole run
/// down-sampled) and the epoch records.
#[derive(Clone, Debug, Default)]
pub struct CurveData {
    /// Per-step losses (bounded).
    pub steps: StepHistory,
    /// One record per finished epoch.
    pub epochs: Vec<EpochRecord>,
}

impl CurveData {
    /// Replaces everything with a model's history.
    pub fn set_history(&mut self, history: &History) {
        self.steps = history.steps.clone();
        self.epochs = history.epochs.clone();
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
}

/// Draws the unit switch and the plot.
pub fn curves_ui(ui: &mut egui::Ui, data: &CurveData, unit: &mut CostUnit) {
    ui.horizontal_wrapped(|ui| {
        ui.strong("Cost");
        for choice in CostUnit::ALL {
            ui.selectable_value(unit, choice, choice.label());
        }
        if let Some(last) = data.epochs.last() {
            ui.separator();
            ui.label(format!(
                "epoch {}: train {:.4}, test {:.4} {}",
                last.epoch,
                unit.convert(last.train_cost_nats_per_pixel),
                unit.convert(last.test_cost_nats_per_pixel),
                unit.label()
            ));
        }
    });
    let unit = *unit;
    let step_points: Vec<[f64; 2]> = data
        .steps
        .plot_points()
        .iter()
        .map(|p| [p.epoch, unit.convert(p.loss_nats_per_pixel)])
        .collect();
    let train: Vec<[f64; 2]> = data
        .epochs
        .iter()
        .map(|r| [r.epoch as f64, unit.convert(r.train_cost_nats_per_pixel)])
        .collect();
    let test: Vec<[f64; 2]> = data
        .epochs
        .iter()
        .map(|r| [r.epoch as f64, unit.convert(r.test_cost_nats_per_pixel)])
        .collect();
    let dark = ui.visuals().dark_mode;
    let step_color = if dark {
        egui::Color32::from_rgba_unmultiplied(150, 180, 230, 150)
    } else {
        egui::Color32::from_rgba_unmultiplied(60, 100, 170, 150)
    };
    let train_color = egui::Color32::from_rgb(230, 140, 40);
    let test_color = egui::Color32::from_rgb(60, 190, 110);
    egui_plot::Plot::new("cost_curves")
        .legend(egui_plot::Legend::default())
        .x_axis_label("epoch")
        .y_axis_label(unit.label())
        .include_x(0.0)
        .allow_scroll(false)
        .label_formatter(move |hover| match hover {
            egui_plot::HoverPosition::NearDataPoint {
                plot_name,
                position,
                ..
            } => Some(format!(
                "{plot_name}\nepoch {:.2}\n{:.4} {}",
                position.x,
                position.y,
                unit.label()
            )),
            egui_plot::HoverPosition::Elsewhere { position } => Some(format!(
                "epoch {:.2}\n{:.4} {}",
                position.x,
                position.y,
                unit.label()
            )),
        })
        .show(ui, |plot| {
            plot.line(
                egui_plot::Line::new("step loss", step_points)
                    .color(step_color)
                    .width(1.0),
            );
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
        });
}
