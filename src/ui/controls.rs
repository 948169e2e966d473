//! The training controls: preset, architecture sliders, training settings, the run buttons
//! and the checkpoint path field.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::UiCommand;
use crate::messages::WorkerState;
use crate::model::ModelConfig;
use crate::train::{DeviceChoice, TrainConfig};

/// Images in the sample grid (10x10).
pub const SAMPLE_COUNT: usize = 100;

/// The architecture preset picked by the user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Preset {
    /// The reference recipe (`ModelConfig::seed`).
    #[default]
    Seed,
    /// The paper's PixelCNN (`ModelConfig::paper`).
    Paper,
    /// Whatever the sliders say.
    Custom,
}

impl Preset {
    /// The preset `model` is exactly, or `Custom`.
    pub fn of(model: &ModelConfig) -> Preset {
        if *model == ModelConfig::seed() {
            Preset::Seed
        } else if *model == ModelConfig::paper() {
            Preset::Paper
        } else {
            Preset::Custom
        }
    }

    /// The user-facing name.
    pub fn label(self) -> &'static str {
        match self {
            Preset::Seed => "seed",
            Preset::Paper => "paper",
            Preset::Custom => "custom",
        }
    }
}

/// What the user chose in the controls (persisted across launches).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ControlSettings {
    /// Last picked preset.
    pub preset: Preset,
    /// The architecture of the next fresh model.
    pub model: ModelConfig,
    /// Training settings.
    pub train: TrainConfig,
}

impl Default for ControlSettings {
    fn default() -> Self {
        ControlSettings {
            preset: Preset::Seed,
            model: ModelConfig::seed(),
            train: TrainConfig {
                samples_per_epoch: SAMPLE_COUNT,
                ..TrainConfig::default()
            },
        }
    }
}

/// What the controls need to know about the run (read-only).
#[derive(Clone, Copy, Debug)]
pub struct ControlsContext {
    /// The worker's state.
    pub state: WorkerState,
    /// The worker holds a model (trained, stopped or opened): architecture changes are locked.
    pub has_model: bool,
}

/// Draws the controls; returns what the user asked for.
pub fn controls_ui(
    ui: &mut egui::Ui,
    settings: &mut ControlSettings,
    context: ControlsContext,
    checkpoint_path: &mut String,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    let state = context.state;
    let busy = state.is_busy();

    ui.heading("Model");
    let locked = context.has_model;
    ui.add_enabled_ui(!locked && !busy, |ui| {
        architecture_ui(ui, settings);
    });
    if locked {
        ui.label(
            egui::RichText::new(
                "The architecture is locked while a model exists: Reset to change it.",
            )
            .small()
            .weak(),
        );
    }
    ui.label(format!(
        "{} layers, {} parameters",
        settings.model.layers().len(),
        settings.model.parameter_count()
    ));

    ui.separator();
    ui.heading("Training");
    ui.add_enabled_ui(!busy, |ui| {
        training_ui(ui, &mut settings.train);
    });

    ui.separator();
    ui.horizontal_wrapped(|ui| {
        let can_start = !busy;
        let start_label = if context.has_model {
            "Continue"
        } else {
            "Start"
        };
        if ui
            .add_enabled(can_start, egui::Button::new(start_label))
            .on_hover_text("Train with these settings")
            .clicked()
        {
            commands.push(UiCommand::Start);
        }
        let (pause_label, pause_command) = if state == WorkerState::Paused {
            ("Resume", UiCommand::Resume)
        } else {
            ("Pause", UiCommand::Pause)
        };
        // Sampling happens between epochs of a run too: Pause then lands when the grid is done.
        let can_pause = matches!(
            state,
            WorkerState::Training | WorkerState::Sampling | WorkerState::Paused
        );
        if ui
            .add_enabled(can_pause, egui::Button::new(pause_label))
            .clicked()
        {
            commands.push(pause_command);
        }
        if ui.add_enabled(busy, egui::Button::new("Stop")).clicked() {
            commands.push(UiCommand::Stop);
        }
        if ui
            .add_enabled(!busy && context.has_model, egui::Button::new("Reset"))
            .on_hover_text("Discard the model and its history")
            .clicked()
        {
            commands.push(UiCommand::Reset);
        }
        let can_sample =
            context.has_model && state != WorkerState::Sampling && state != WorkerState::Loading;
        if ui
            .add_enabled(can_sample, egui::Button::new("Sample now"))
            .on_hover_text("Draw a fresh 10x10 grid from the current model (F5)")
            .clicked()
        {
            commands.push(UiCommand::SampleNow);
        }
    });

    ui.separator();
    ui.heading("Checkpoint");
    ui.horizontal(|ui| {
        ui.label("Path:");
        ui.add(
            egui::TextEdit::singleline(checkpoint_path)
                .hint_text("type a path, or leave empty for a dialog")
                .desired_width(f32::INFINITY),
        )
        .on_hover_text("Used by Save/Open when set; otherwise a file dialog opens");
    });
    let typed = typed_path(checkpoint_path);
    ui.horizontal(|ui| {
        if ui
            .add_enabled(context.has_model, egui::Button::new("Save checkpoint..."))
            .clicked()
        {
            commands.push(UiCommand::SaveCheckpoint(typed.clone()));
        }
        if ui
            .add_enabled(!busy, egui::Button::new("Open checkpoint..."))
            .clicked()
        {
            commands.push(UiCommand::OpenCheckpoint(typed.clone()));
        }
    });
    commands
}

/// The typed path, if any (trimmed).
pub fn typed_path(text: &str) -> Option<PathBuf> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| PathBuf::from(trimmed))
}

fn architecture_ui(ui: &mut egui::Ui, settings: &mut ControlSettings) {
    ui.horizontal(|ui| {
        ui.label("Preset:");
        for preset in [Preset::Seed, Preset::Paper, Preset::Custom] {
            if ui
                .selectable_label(settings.preset == preset, preset.label())
                .clicked()
            {
                settings.preset = preset;
                match preset {
                    Preset::Seed => settings.model = ModelConfig::seed(),
                    Preset::Paper => settings.model = ModelConfig::paper(),
                    Preset::Custom => {}
                }
            }
        }
    });
    let before = settings.model.clone();
    let model = &mut settings.model;
    ui.add(egui::Slider::new(&mut model.masked_layers, 0..=20).text("Masked 3x3 layers"));
    ui.add(egui::Slider::new(&mut model.relu_layers, 0..=4).text("1x1 ReLU layers"));
    ui.add(
        egui::Slider::new(&mut model.feature_maps, 8..=256)
            .logarithmic(true)
            .text("Feature maps"),
    );
    ui.horizontal(|ui| {
        ui.label("First kernel:");
        for size in [3, 5, 7] {
            ui.radio_value(&mut model.first_kernel, size, format!("{size}x{size}"));
        }
    });
    ui.horizontal(|ui| {
        ui.checkbox(&mut model.masked_relu, "ReLU after masked layers");
        ui.checkbox(&mut model.residual, "Residual");
    });
    if settings.model != before {
        settings.preset = Preset::of(&settings.model);
    }
}

fn training_ui(ui: &mut egui::Ui, train: &mut TrainConfig) {
    ui.add(
        egui::Slider::new(&mut train.learning_rate, 1e-5..=1e-1)
            .logarithmic(true)
            .custom_formatter(|v, _| format!("{v:.1e}"))
            .text("Learning rate"),
    );
    ui.add(
        egui::Slider::new(&mut train.batch_size, 1..=1000)
            .logarithmic(true)
            .text("Batch size"),
    );
    ui.add(
        egui::Slider::new(&mut train.epochs, 1..=200)
            .logarithmic(true)
            .text("Epochs"),
    );
    ui.horizontal(|ui| {
        let label = ui.label("Seed");
        ui.add(egui::DragValue::new(&mut train.seed).range(0..=u32::MAX as u64))
            .labelled_by(label.id);
    });
    limit_ui(ui, &mut train.train_limit, 60_000, "Train subset");
    limit_ui(ui, &mut train.test_limit, 10_000, "Test subset");
    device_ui(ui, &mut train.device);
}

fn device_ui(ui: &mut egui::Ui, device: &mut DeviceChoice) {
    ui.horizontal(|ui| {
        ui.label("Device:");
        let choices = [
            (DeviceChoice::Cpu, "fast mask-aware CPU kernels"),
            (
                DeviceChoice::CandleCpu,
                "the GPU code path on the CPU: slow, a check of that code",
            ),
            (
                DeviceChoice::Cuda,
                "the GPU: training stays on it; needs a build with --features cuda",
            ),
        ];
        for (choice, hint) in choices {
            ui.radio_value(device, choice, choice.name())
                .on_hover_text(hint);
        }
    });
}

fn limit_ui(ui: &mut egui::Ui, limit: &mut Option<usize>, full: usize, label: &str) {
    ui.horizontal(|ui| {
        let mut limited = limit.is_some();
        if ui.checkbox(&mut limited, label).changed() {
            *limit = limited.then_some(full / 10);
        }
        if let Some(value) = limit {
            ui.add(
                egui::Slider::new(value, 100..=full)
                    .logarithmic(true)
                    .text("images"),
            );
        } else {
            ui.label("all images");
        }
    });
}
