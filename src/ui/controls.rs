//! The training controls: preset, architecture sliders, training settings, the run buttons
//! (Start or Continue, Pause/Resume, Stop, Reset, Sample now) with what a run will cost, and the
//! checkpoint path field.

use serde::{Deserialize, Serialize};

use super::compare::take_focus;
use super::estimate::EstimateLine;
use super::paths::{typed_path, PathField};
use super::UiCommand;
use crate::messages::WorkerState;
use crate::model::{
    Architecture, FamilyConfig, GatedConfig, ModelConfig, ModelFamily, PlainConfig,
};
use crate::train::{default_learning_rate, DeviceChoice, TrainConfig};

/// Images in the sample grid (10x10).
pub const SAMPLE_COUNT: usize = 100;
/// Epochs a first run asks for: digits within the first few, under an hour in all on 2 cores
/// (10 epochs of [`DEFAULT_TRAIN_IMAGES`]: 100,000 images).
pub const DEFAULT_EPOCHS: usize = 10;
/// Training images per epoch of a first run (the first 10,000 of the 60,000): an epoch, and so
/// the first test point and grid, within about 3 minutes at 56 images/s (the gated preset on
/// 2 cores without AVX-512), 70 s at 142 images/s (with AVX-512).
pub const DEFAULT_TRAIN_IMAGES: usize = 10_000;
/// Test images per evaluation of a first run (the first 2,000 of the 10,000): about 10 s.
pub const DEFAULT_TEST_IMAGES: usize = 2_000;
/// Default seconds between preview grids during the first epoch.
pub const DEFAULT_PREVIEW_SECS: f64 = 30.0;

/// An architecture preset. The list is [`Preset::ALL`]; `Custom` is whatever the sliders say.
/// A gated preset is either conditional or not: the Conditional switch is not part of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Preset {
    /// The reference recipe (`ModelConfig::seed`).
    Seed,
    /// The paper's PixelCNN (`ModelConfig::paper`).
    Paper,
    /// The gated PixelCNN sized for a 10-minute CPU run (`ModelConfig::gated`).
    #[default]
    Gated,
    /// The gated PixelCNN at the paper's size (`ModelConfig::gated_large`).
    GatedLarge,
    /// Whatever the sliders say.
    Custom,
}

impl Preset {
    /// Every preset, in the order the controls show them.
    pub const ALL: [Preset; 5] = [
        Preset::Seed,
        Preset::Paper,
        Preset::Gated,
        Preset::GatedLarge,
        Preset::Custom,
    ];

    /// The architecture of a named preset (`None` for `Custom`), unconditional.
    pub fn model(self) -> Option<ModelConfig> {
        match self {
            Preset::Seed => Some(ModelConfig::seed()),
            Preset::Paper => Some(ModelConfig::paper()),
            Preset::Gated => Some(ModelConfig::gated()),
            Preset::GatedLarge => Some(ModelConfig::gated_large()),
            Preset::Custom => None,
        }
    }

    /// The preset `model` is exactly (conditioning aside), or `Custom`.
    pub fn of(model: &ModelConfig) -> Preset {
        let mut unconditional = model.clone();
        match &mut unconditional.family {
            FamilyConfig::Plain(_) => {}
            FamilyConfig::Gated(gated) => gated.conditional = false,
        }
        Preset::ALL
            .into_iter()
            .find(|p| p.model().as_ref() == Some(&unconditional))
            .unwrap_or(Preset::Custom)
    }

    /// The user-facing name.
    pub fn label(self) -> &'static str {
        match self {
            Preset::Seed => "seed",
            Preset::Paper => "paper",
            Preset::Gated => "gated",
            Preset::GatedLarge => "gated-large",
            Preset::Custom => "custom",
        }
    }

    /// What the preset is, for its tooltip.
    pub fn description(self) -> &'static str {
        match self {
            Preset::Seed => {
                "seed: the 6-layer reference recipe (7x7 mask A, two 3x3 mask B, two 1x1 ReLU, \
                 64 maps): trains an epoch in about a minute on 2 cores; draws stroke fragments"
            }
            Preset::Paper => {
                "paper: 15 residual mask-B layers of 128 maps with ReLU, as in 1601.06759; \
                 about 25 times the work per image"
            }
            Preset::Gated => {
                "gated: the gated PixelCNN of 1606.05328 (vertical and horizontal stacks, no \
                 blind spot), sized to draw digits after 10 minutes on 2 cores"
            }
            Preset::GatedLarge => {
                "gated-large: 15 gated layers of 128 maps, the paper's size: best samples, \
                 meant for a GPU or a long run"
            }
            Preset::Custom => "custom: your own stack, set with the sliders below",
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
    /// Training settings (its `device` mirrors [`ControlSettings::device`]).
    pub train: TrainConfig,
    /// Where the network runs (kept here: `TrainConfig` never saves its device).
    pub device: DeviceChoice,
    /// Seconds between preview grids during the first epoch (0: none).
    pub preview_every_secs: f64,
}

impl Default for ControlSettings {
    /// The gated preset, conditioned on the label: it draws digits within minutes.
    fn default() -> Self {
        let model = conditional_gated();
        ControlSettings {
            preset: Preset::Gated,
            train: TrainConfig {
                samples_per_epoch: SAMPLE_COUNT,
                learning_rate: default_learning_rate(&model),
                epochs: DEFAULT_EPOCHS,
                train_limit: Some(DEFAULT_TRAIN_IMAGES),
                test_limit: Some(DEFAULT_TEST_IMAGES),
                ..TrainConfig::default()
            },
            model,
            device: DeviceChoice::FastCpu,
            preview_every_secs: DEFAULT_PREVIEW_SECS,
        }
    }
}

impl ControlSettings {
    /// The training settings to run with (the chosen device included).
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            device: self.device,
            ..self.train.clone()
        }
    }
}

/// What the controls need to know about the run (read-only).
#[derive(Clone, Debug)]
pub struct ControlsContext {
    /// The worker's state.
    pub state: WorkerState,
    /// An action sent but not confirmed yet ("stopping...").
    pub pending: Option<&'static str>,
    /// The worker holds a model (trained, stopped or opened): architecture changes are locked.
    pub has_model: bool,
    /// What a run with these settings will cost.
    pub estimate: Option<EstimateLine>,
    /// A run another process writes is followed: everything is shown (the settings still
    /// scroll) and nothing can be changed or pressed, as its writer trains it.
    pub read_only: bool,
}

/// Width of the first run button (Start, Continue, Pause or Resume), whatever it says, so the
/// buttons after it never move when it changes.
const FIRST_RUN_BUTTON_WIDTH: f32 = 84.0;

/// Draws the controls; returns what the user asked for. `focus` names a path field to focus.
///
/// The run buttons and what a run will cost come first, at a place nothing above them can
/// move (a notice, a wrapped line, the window's height); the settings scroll under them.
pub fn controls_ui(
    ui: &mut egui::Ui,
    settings: &mut ControlSettings,
    context: &ControlsContext,
    checkpoint_path: &mut String,
    focus: &mut Option<PathField>,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    let enabled = !context.read_only;
    ui.add_enabled_ui(enabled, |ui| run_buttons_ui(ui, context, &mut commands));
    if let Some(estimate) = &context.estimate {
        let text = egui::RichText::new(&estimate.text);
        let text = if estimate.warn {
            text.color(ui.visuals().warn_fg_color)
        } else {
            text
        };
        ui.add(egui::Label::new(text).wrap());
    }
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt("controls_scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.add_enabled_ui(enabled, |ui| {
                settings_ui(ui, settings, context, checkpoint_path, focus, &mut commands);
            });
        });
    commands
}

/// Why the architecture cannot be changed now, if it cannot.
fn architecture_lock(context: &ControlsContext) -> Option<&'static str> {
    if context.has_model {
        Some("Locked while a model exists: Reset (or open another checkpoint) to change the architecture.")
    } else if context.state.is_busy() {
        Some("Locked while the worker is busy: wait for it or Stop.")
    } else {
        None
    }
}

fn settings_ui(
    ui: &mut egui::Ui,
    settings: &mut ControlSettings,
    context: &ControlsContext,
    checkpoint_path: &mut String,
    focus: &mut Option<PathField>,
    commands: &mut Vec<UiCommand>,
) {
    let busy = context.state.is_busy();
    ui.heading("Model");
    let lock = architecture_lock(context);
    ui.add_enabled_ui(lock.is_none(), |ui| {
        architecture_ui(ui, settings, lock);
    });
    if context.has_model {
        ui.add(
            egui::Label::new(
                "The architecture is locked while a model exists: Reset to change it.",
            )
            .wrap(),
        );
    }
    ui.label(model_summary(&settings.model));

    ui.separator();
    ui.heading("Training");
    ui.add_enabled_ui(!busy, |ui| {
        training_ui(ui, settings);
    });

    ui.separator();
    ui.heading("Checkpoint");
    ui.horizontal(|ui| {
        let label = ui.label(PathField::Checkpoint.label());
        let edit = ui
            .add(
                egui::TextEdit::singleline(checkpoint_path)
                    .hint_text("or empty for a dialog")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id)
            .on_hover_text("Used by Save checkpoint as... and Open when set (~ is your home folder); otherwise a file dialog opens");
        take_focus(focus, PathField::Checkpoint, &edit);
    });
    let typed = typed_path(checkpoint_path);
    // Wrapped, so the two buttons never widen the panel.
    ui.horizontal_wrapped(|ui| {
        if ui
            .add_enabled(context.has_model, egui::Button::new("Save checkpoint as..."))
            .on_hover_text("Save a copy of the model, its optimizer state and history (Ctrl+S); asks before replacing a file. The run folder keeps the model anyway")
            .clicked()
        {
            commands.push(UiCommand::SaveCheckpoint(typed.clone()));
        }
        if ui
            .add_enabled(!busy, egui::Button::new("Open checkpoint..."))
            .on_hover_text("Replace the model with a saved one (Ctrl+O)")
            .clicked()
        {
            commands.push(UiCommand::OpenCheckpoint(typed.clone()));
        }
    });
}

/// One clear set: Start (Continue when a model exists) turning into Pause/Resume while a run
/// goes, Stop, Reset and Sample now. The first button has one width whatever it says, so the
/// others keep their places.
fn run_buttons_ui(ui: &mut egui::Ui, context: &ControlsContext, commands: &mut Vec<UiCommand>) {
    let state = context.state;
    let settled = context.pending.is_none();
    let first =
        |label: &str| egui::Button::new(label).min_size(egui::vec2(FIRST_RUN_BUTTON_WIDTH, 0.0));
    ui.horizontal_wrapped(|ui| {
        if state == WorkerState::Paused {
            if ui
                .add_enabled(settled, first("Resume"))
                .on_hover_text("Continue the paused run (Space)")
                .clicked()
            {
                commands.push(UiCommand::Resume);
            }
        } else if state.is_busy() {
            if ui
                .add_enabled(settled && state.is_running(), first("Pause"))
                .on_hover_text("Suspend the run; the model stays in memory (Space)")
                .clicked()
            {
                commands.push(UiCommand::Pause);
            }
        } else {
            let label = if context.has_model {
                "Continue"
            } else {
                "Start"
            };
            if ui
                .add_enabled(settled, first(label))
                .on_hover_text("Train with these settings")
                .clicked()
            {
                commands.push(UiCommand::Start);
            }
        }
        if ui
            .add_enabled(state.is_busy() && settled, egui::Button::new("Stop"))
            .on_hover_text("End the run now; the model is kept and Continue carries on")
            .clicked()
        {
            commands.push(UiCommand::Stop);
        }
        if ui
            .add_enabled(context.has_model, egui::Button::new("Reset"))
            .on_hover_text("Discard the model and its history (asks first)")
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
}

/// The `gated` preset, conditioned on the label: the studio's default model, and the one the
/// family switch picks for the gated family.
fn conditional_gated() -> ModelConfig {
    ModelConfig {
        family: FamilyConfig::Gated(GatedConfig {
            conditional: true,
            ..GatedConfig::preset()
        }),
        ..ModelConfig::gated()
    }
}

/// "6 layers, 60,865 parameters" (plain) or "5 gated layers, conditional, 45,377 parameters".
pub fn model_summary(model: &ModelConfig) -> String {
    let parameters = super::status::thousands(model.parameter_count() as u64);
    match model.architecture() {
        Architecture::Plain(layers) => format!("{} layers, {parameters} parameters", layers.len()),
        Architecture::Gated(spec) => {
            let conditioning = if spec.conditional {
                ", conditional"
            } else {
                ""
            };
            format!(
                "{} gated layers{conditioning}, {parameters} parameters",
                spec.layers.len()
            )
        }
    }
}

/// Makes `model` the next model: the preset follows it, and a change of family (or a picked
/// preset) resets the learning rate to that family's default.
fn choose_model(settings: &mut ControlSettings, model: ModelConfig, reset_rate: bool) {
    settings.preset = Preset::of(&model);
    if reset_rate {
        settings.train.learning_rate = default_learning_rate(&model);
    }
    settings.model = model;
}

/// The architecture's controls; `lock` (why they are disabled, if they are) is added to each
/// one's tooltip.
fn architecture_ui(ui: &mut egui::Ui, settings: &mut ControlSettings, lock: Option<&str>) {
    let locked = |text: &str| match lock {
        Some(why) => format!("{text}\n\n{why}"),
        None => text.to_string(),
    };
    ui.horizontal_wrapped(|ui| {
        ui.label("Preset:");
        for preset in Preset::ALL {
            if ui
                .selectable_label(settings.preset == preset, preset.label())
                .on_hover_text(preset.description())
                .on_disabled_hover_text(locked(preset.description()))
                .clicked()
            {
                match preset.model() {
                    Some(mut model) => {
                        // Conditioning is a switch of its own: a gated preset keeps it, and
                        // coming from the plain family it starts on.
                        let conditional = match &settings.model.family {
                            FamilyConfig::Plain(_) => true,
                            FamilyConfig::Gated(gated) => gated.conditional,
                        };
                        match &mut model.family {
                            FamilyConfig::Plain(_) => {}
                            FamilyConfig::Gated(gated) => gated.conditional = conditional,
                        }
                        choose_model(settings, model, true);
                    }
                    None => settings.preset = Preset::Custom,
                }
            }
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("Family:");
        let mut family = settings.model.family.kind();
        let plain = "Masked convolutions (1601.06759): simple, with a blind spot";
        ui.radio_value(&mut family, ModelFamily::Plain, "Plain")
            .on_hover_text(plain)
            .on_disabled_hover_text(locked(plain));
        let gated = "Gated vertical and horizontal stacks (1606.05328): no blind spot, better \
                     digits per minute";
        ui.radio_value(&mut family, ModelFamily::Gated, "Gated")
            .on_hover_text(gated)
            .on_disabled_hover_text(locked(gated));
        if family != settings.model.family.kind() {
            let model = match family {
                ModelFamily::Plain => ModelConfig::seed(),
                ModelFamily::Gated => conditional_gated(),
            };
            choose_model(settings, model, true);
        }
        match &mut settings.model.family {
            FamilyConfig::Plain(_) => {}
            FamilyConfig::Gated(gated) => {
                let conditional = "Condition every gate on the digit label: the model learns \
                                   each digit and draws the one you ask for";
                ui.checkbox(&mut gated.conditional, "Conditional")
                    .on_hover_text(conditional)
                    .on_disabled_hover_text(locked(conditional));
            }
        }
    });
    let before = settings.model.clone();
    let model = &mut settings.model;
    match &mut model.family {
        FamilyConfig::Plain(plain) => {
            plain_sliders_ui(ui, plain, &mut model.feature_maps, &mut model.first_kernel);
        }
        FamilyConfig::Gated(gated) => {
            gated_sliders_ui(ui, gated, &mut model.feature_maps, &mut model.first_kernel);
        }
    }
    if settings.model != before {
        settings.preset = Preset::of(&settings.model);
    }
}

fn plain_sliders_ui(
    ui: &mut egui::Ui,
    plain: &mut PlainConfig,
    feature_maps: &mut usize,
    first_kernel: &mut usize,
) {
    ui.add(egui::Slider::new(&mut plain.masked_layers, 0..=20).text("Masked 3x3 layers"))
        .on_hover_text(
            "Mask-B convolutions after the first layer: each one widens the view by a pixel \
             (and the blind spot with it)",
        );
    ui.add(egui::Slider::new(&mut plain.relu_layers, 0..=4).text("1x1 ReLU layers"))
        .on_hover_text("Per-pixel layers before the output: more capacity, same view");
    feature_maps_ui(
        ui,
        feature_maps,
        "Channels of every hidden layer: the work grows with its square",
    );
    first_kernel_ui(ui, first_kernel);
    ui.horizontal_wrapped(|ui| {
        ui.checkbox(&mut plain.masked_relu, "ReLU after masked layers")
            .on_hover_text("A ReLU after each mask-B layer (the paper has one)");
        ui.checkbox(&mut plain.residual, "Residual")
            .on_hover_text("Skip connections around the mask-B layers (h + f(h)), as in the paper");
    });
}

fn gated_sliders_ui(
    ui: &mut egui::Ui,
    gated: &mut GatedConfig,
    feature_maps: &mut usize,
    first_kernel: &mut usize,
) {
    ui.add(egui::Slider::new(&mut gated.gated_layers, 1..=20).text("Gated layers"))
        .on_hover_text(
            "Gated layers after the first: each one widens the view by a row and a column",
        );
    feature_maps_ui(
        ui,
        feature_maps,
        "Channels of each stack: the work grows with its square",
    );
    first_kernel_ui(ui, first_kernel);
    ui.horizontal(|ui| {
        ui.label("Stack kernel:")
            .on_hover_text("The width of every gated layer's kernels: how far each layer looks");
        for size in [3, 5] {
            ui.radio_value(&mut gated.gated_kernel, size, format!("{size}x{size}"));
        }
    });
}

fn feature_maps_ui(ui: &mut egui::Ui, feature_maps: &mut usize, hint: &str) {
    ui.add(
        egui::Slider::new(feature_maps, 8..=256)
            .logarithmic(true)
            .text("Feature maps"),
    )
    .on_hover_text(hint);
}

fn first_kernel_ui(ui: &mut egui::Ui, first_kernel: &mut usize) {
    ui.horizontal(|ui| {
        ui.label("First kernel:")
            .on_hover_text("The first layer's kernel: how far it looks");
        for size in [3, 5, 7] {
            ui.radio_value(first_kernel, size, format!("{size}x{size}"));
        }
    });
}

fn training_ui(ui: &mut egui::Ui, settings: &mut ControlSettings) {
    let train = &mut settings.train;
    ui.add(
        egui::Slider::new(&mut train.learning_rate, 1e-5..=1e-1)
            .logarithmic(true)
            .custom_formatter(|v, _| format!("{v:.1e}"))
            .text("Learning rate"),
    )
    .on_hover_text(
        "Adam's step size (the reference uses 1e-3; the gated preset trains best at 8e-3, \
         wider gated models at 3e-3). Picking a preset sets its default.",
    );
    ui.add(
        egui::Slider::new(&mut train.batch_size, 1..=1000)
            .logarithmic(true)
            .text("Batch size"),
    )
    .on_hover_text("Images per minibatch (the reference uses 100)");
    ui.add(
        egui::Slider::new(&mut train.epochs, 1..=200)
            .logarithmic(true)
            .text("Epochs"),
    )
    .on_hover_text("Epochs to reach in all: a continued run trains up to this many");
    ui.horizontal(|ui| {
        let label = ui.label("Seed");
        ui.add(egui::DragValue::new(&mut train.seed).range(0..=u32::MAX as u64))
            .labelled_by(label.id)
            .on_hover_text("Seeds initialisation, shuffling, binarization and sampling");
    });
    limit_ui(
        ui,
        &mut train.train_limit,
        60_000,
        "Train subset",
        "Train on the first N of the 60,000 training images: shorter epochs",
    );
    limit_ui(
        ui,
        &mut train.test_limit,
        10_000,
        "Test subset",
        "Measure the test cost on the first N of the 10,000 test images: quicker epoch ends",
    );
    ui.add(
        egui::Slider::new(&mut settings.preview_every_secs, 0.0..=300.0)
            .step_by(5.0)
            .suffix(" s")
            .text("Preview every"),
    )
    .on_hover_text("During the first epoch, draw a preview grid this often (0: no previews)");
    device_ui(ui, &mut settings.device);
}

/// The devices this build can run on: `cuda` only in a build with the `cuda` feature.
pub fn offered_devices() -> Vec<DeviceChoice> {
    let mut devices = vec![DeviceChoice::FastCpu, DeviceChoice::GpuPathOnCpu];
    if cfg!(feature = "cuda") {
        devices.push(DeviceChoice::Cuda);
    }
    devices
}

fn device_ui(ui: &mut egui::Ui, device: &mut DeviceChoice) {
    // A device remembered from a build that had it falls back to the fast CPU kernels.
    if !offered_devices().contains(device) {
        *device = DeviceChoice::FastCpu;
    }
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("Device:");
        if !cfg!(feature = "cuda") {
            label.on_hover_text(
                "Where the network runs. cuda is not offered: this build has no cuda feature",
            );
        }
        for choice in offered_devices() {
            let hint = match choice {
                DeviceChoice::FastCpu => "fast mask-aware CPU kernels",
                DeviceChoice::GpuPathOnCpu => {
                    "the GPU code path on the CPU: slow, a check of that code"
                }
                DeviceChoice::Cuda => "candle's CUDA backend on the first GPU",
            };
            ui.radio_value(device, choice, choice.name())
                .on_hover_text(hint);
        }
    });
}

fn limit_ui(ui: &mut egui::Ui, limit: &mut Option<usize>, full: usize, label: &str, hint: &str) {
    ui.horizontal_wrapped(|ui| {
        let mut limited = limit.is_some();
        if ui
            .checkbox(&mut limited, label)
            .on_hover_text(hint)
            .changed()
        {
            *limit = limited.then_some(full / 10);
        }
        if limit.is_none() {
            ui.label("all images");
        }
    });
    // On a line of its own, so a subset (the studio's default) never widens the panel.
    if let Some(value) = limit {
        ui.add(
            egui::Slider::new(value, 100..=full)
                .logarithmic(true)
                .text("images"),
        )
        .on_hover_text(hint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_recognised_from_their_architecture() {
        for preset in Preset::ALL {
            if let Some(model) = preset.model() {
                assert_eq!(Preset::of(&model), preset);
            }
        }
        let custom = ModelConfig {
            feature_maps: 20,
            ..ModelConfig::seed()
        };
        assert_eq!(Preset::of(&custom), Preset::Custom);
    }

    #[test]
    fn a_conditional_gated_model_is_still_the_gated_preset() {
        assert_eq!(Preset::of(&conditional_gated()), Preset::Gated);
        assert_eq!(Preset::of(&ModelConfig::gated_large()), Preset::GatedLarge);
    }

    #[test]
    fn the_studio_starts_on_the_conditional_gated_preset_at_its_learning_rate() {
        let settings = ControlSettings::default();
        assert_eq!(settings.preset, Preset::Gated);
        assert_eq!(settings.model, conditional_gated());
        assert!(settings.model.conditional());
        assert_eq!(
            settings.train.learning_rate,
            default_learning_rate(&settings.model)
        );
        assert!(settings.model.validate().is_ok());
    }
}
