//! The studio's layout: menu and tab bar, status bar, the collapsible controls panel, the
//! current tab (its panels split side by side when there is room and stacked when not, every
//! split resizable), the windows and the prompts; then the frame's commands are applied, the
//! close request is answered and the window title follows the run.

use super::StudioApp;
use crate::messages::WorkerState;
use crate::model::SampleStyle;
use crate::ui::compare::compare_window_ui;
use crate::ui::controls::{controls_ui, ControlsContext};
use crate::ui::curves::curves_ui;
use crate::ui::estimate::{estimate_line, EstimateLine, ProbeKey};
use crate::ui::explore::{explore_ui, ExploreContext};
use crate::ui::help::help_ui;
use crate::ui::inspector::inspector_ui;
use crate::ui::panel_rects;
use crate::ui::paths::{typed_path, PathField};
use crate::ui::prompts::{close_prompt_ui, confirm_ui, resume_offer_ui};
use crate::ui::samples::{samples_ui, DrawChoice, StyleChoice};
use crate::ui::status::{status_ui, StatusInfo};
use crate::ui::{Tab, UiCommand, WINDOW_TITLE};

/// Below this width the training tab stacks the samples under the curves.
const SIDE_BY_SIDE_MIN_WIDTH: f32 = 720.0;
/// The narrowest the curves get beside the samples (their toolbar and a readable plot): the
/// samples panel never takes more, whatever width it kept from a larger window.
const CURVES_MIN_WIDTH: f32 = 400.0;
/// The lowest the curves get above the stacked samples (their toolbar and a readable plot).
const CURVES_MIN_HEIGHT: f32 = 150.0;
/// The narrowest the samples panel gets beside the curves.
const SAMPLES_MIN_WIDTH: f32 = 200.0;

/// Room left on a screen for taskbars and panels the window manager keeps (a fraction of the
/// screen's height).
const SCREEN_MARGIN_FRACTION: f32 = 0.05;
/// The smallest window the studio is laid out for.
const MIN_WINDOW_SIZE: egui::Vec2 = egui::vec2(800.0, 500.0);

/// The inner size a window of `inner` points (`outer` with its title bar and frame) should take
/// to fit a screen of `monitor` points, leaving room for a taskbar; `None` when it fits as it
/// is. Never smaller than [`MIN_WINDOW_SIZE`].
fn fitted_inner_size(
    monitor: egui::Vec2,
    inner: egui::Vec2,
    outer: egui::Vec2,
) -> Option<egui::Vec2> {
    let decorations = (outer - inner).max(egui::Vec2::ZERO);
    let room = monitor - decorations - egui::vec2(0.0, monitor.y * SCREEN_MARGIN_FRACTION);
    if inner.x <= room.x && inner.y <= room.y {
        return None;
    }
    Some(inner.min(room).max(MIN_WINDOW_SIZE))
}

/// Scroll bars that are always drawn where a view scrolls (egui's default floating bars show
/// only under the pointer, so a view cut off at the window's edge looked like one that ends
/// there).
fn show_scroll_bars(ui: &mut egui::Ui) {
    let solid = egui::style::ScrollStyle::solid();
    if ui.ctx().global_style().spacing.scroll.floating {
        ui.ctx()
            .global_style_mut(|style| style.spacing.scroll = solid);
    }
    ui.style_mut().spacing.scroll = solid;
}

impl StudioApp {
    /// Draws one frame and applies what the user asked for.
    pub(super) fn layout(&mut self, ui: &mut egui::Ui) {
        panel_rects::begin_frame(ui.ctx());
        show_scroll_bars(ui);
        self.fit_window_to_screen(ui.ctx());
        self.answer_close_request(ui.ctx());
        self.shortcuts(ui);
        egui::Panel::top("menu_bar").show(ui, |ui| {
            self.menu_ui(ui);
            panel_rects::record_ui(ui, "menu bar");
        });
        self.run_bar(ui);
        egui::Panel::bottom("status_bar").show(ui, |ui| {
            let now_secs = self.now();
            self.evaluation_clock.observe(self.evaluation, now_secs);
            let info = StatusInfo {
                state: self.shown_state(),
                pending: self.pending_action.map(super::Pending::label),
                progress: self.progress,
                evaluation: self.evaluation,
                evaluation_clock: self.evaluation_clock,
                now_secs,
                message: self.log.current(),
            };
            status_ui(ui, &info, &self.log, &mut self.log_open);
            if self.settings.show_frame_stats {
                ui.label(self.frame_stats.summary());
            }
            panel_rects::record_ui(ui, "status bar");
        });
        let mut show_controls = self.settings.show_controls;
        egui::Panel::left("controls_panel")
            .resizable(true)
            .default_size(280.0)
            .size_range(220.0..=440.0)
            .show_collapsible(ui, &mut show_controls, |ui| {
                // The run buttons stay at the top; the settings scroll under them.
                self.controls_panel_ui(ui);
                panel_rects::record_ui(ui, "controls");
            });
        self.settings.show_controls = show_controls;
        egui::CentralPanel::default().show(ui, |ui| match self.settings.tab {
            Tab::Training => self.training_tab_ui(ui),
            Tab::Inspector => {
                let model = self.settings.controls.model.clone();
                inspector_ui(ui, &model, &mut self.inspector);
            }
            Tab::Explore => {
                let context = ExploreContext {
                    has_model: self.has_model,
                    model_generation: self.model_generation,
                    global_step: self.progress.global_step,
                    conditional: self.has_model && self.settings.controls.model.conditional(),
                    data: &self.data,
                };
                let commands =
                    explore_ui(ui, &mut self.explore, &mut self.settings.explore, &context);
                self.pending.extend(commands);
            }
        });
        let ctx = ui.ctx().clone();
        help_ui(&ctx, &mut self.help_open);
        let commands = compare_window_ui(
            &ctx,
            &mut self.compare_open,
            &self.compared,
            &mut self.compare_fields,
            &mut self.focus,
            !self.curves.is_empty(),
        );
        self.pending.extend(commands);
        self.runs_window(&ctx);
        self.prompts_ui(&ctx);
        for command in std::mem::take(&mut self.pending) {
            self.apply(command);
        }
        self.probe_speed_if_due();
        self.update_title(&ctx);
    }

    /// Once the window's screen is known (the first frames), shrinks a window that does not fit
    /// on it with its title bar (eframe fits the inner size only, and a size restored from a
    /// larger screen may not fit at all), and keeps it on the screen, so the status bar, where
    /// errors appear, is never off-screen.
    fn fit_window_to_screen(&mut self, ctx: &egui::Context) {
        if self.window_fitted {
            return;
        }
        let (monitor, inner, outer) = ctx.input(|i| {
            let viewport = i.viewport();
            (
                viewport.monitor_size,
                viewport.inner_rect,
                viewport.outer_rect,
            )
        });
        let (Some(monitor), Some(inner), Some(outer)) = (monitor, inner, outer) else {
            return; // Not known yet: the next frame looks again.
        };
        self.window_fitted = true;
        let Some(size) = fitted_inner_size(monitor, inner.size(), outer.size()) else {
            return;
        };
        ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
        let outer_size = size + (outer.size() - inner.size()).max(egui::Vec2::ZERO);
        let position = outer.min.clamp(
            egui::Pos2::ZERO,
            (monitor - outer_size).max(egui::Vec2::ZERO).to_pos2(),
        );
        if position != outer.min {
            ctx.send_viewport_cmd(egui::ViewportCommand::OuterPosition(position));
        }
    }

    /// Closing with unsaved training asks first (Save / Discard / Cancel).
    fn answer_close_request(&mut self, ctx: &egui::Context) {
        let requested = ctx.input(|i| i.viewport().close_requested());
        if requested && !self.close.allowed && self.has_unsaved_work() {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.close.asking = true;
        }
    }

    fn controls_panel_ui(&mut self, ui: &mut egui::Ui) {
        let context = ControlsContext {
            state: self.state,
            pending: self.pending_action.map(super::Pending::label),
            has_model: self.has_model,
            estimate: (!self.state.is_busy()).then(|| self.estimate_line()),
            // A followed run is read-only: its writer trains it.
            read_only: self.following.is_some(),
        };
        let commands = controls_ui(
            ui,
            &mut self.settings.controls,
            &context,
            &mut self.checkpoint_path,
            &mut self.focus,
        );
        self.pending.extend(commands);
    }

    /// What a run with the controls' settings would cost.
    pub(super) fn estimate_line(&self) -> EstimateLine {
        let controls = &self.settings.controls;
        let train = controls.train_config();
        let key = ProbeKey::of(&controls.model, &train);
        let epochs_left = if self.has_model {
            train.epochs.saturating_sub(self.progress.epochs_done)
        } else {
            train.epochs
        };
        estimate_line(&self.estimate, &key, &train, &self.data, epochs_left)
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                let typed = typed_path(&self.checkpoint_path);
                let save = egui::Button::new("Save checkpoint as...").shortcut_text("Ctrl+S");
                if ui.add_enabled(self.has_model, save).clicked() {
                    self.pending.push(UiCommand::SaveCheckpoint(typed.clone()));
                    ui.close();
                }
                let open = egui::Button::new("Open checkpoint...").shortcut_text("Ctrl+O");
                if ui.add_enabled(!self.state.is_busy(), open).clicked() {
                    self.pending.push(UiCommand::OpenCheckpoint(typed));
                    ui.close();
                }
                ui.separator();
                if ui.button("Runs...").clicked() {
                    self.pending.push(UiCommand::ShowRuns);
                    ui.close();
                }
                let open_run = egui::Button::new("Open run folder...");
                if ui.add_enabled(!self.state.is_busy(), open_run).clicked() {
                    self.pending
                        .push(UiCommand::OpenRunFolder(self.typed(PathField::RunFolder)));
                    ui.close();
                }
                ui.separator();
                if ui.button("Compare with a checkpoint...").clicked() {
                    self.pending
                        .push(UiCommand::CompareRun(self.typed(PathField::Compare)));
                    ui.close();
                }
                let export = egui::Button::new("Export metrics CSV...").shortcut_text("Ctrl+E");
                if ui.add_enabled(!self.curves.is_empty(), export).clicked() {
                    self.pending
                        .push(UiCommand::ExportCsv(self.typed(PathField::Csv)));
                    ui.close();
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    self.pending.push(UiCommand::RequestClose);
                    ui.close();
                }
            });
            ui.menu_button("View", |ui| {
                ui.checkbox(&mut self.settings.show_controls, "Controls panel");
                ui.checkbox(&mut self.log_open, "Message log");
                ui.checkbox(&mut self.settings.show_frame_stats, "Frame-time statistics");
            });
            ui.menu_button("Help", |ui| {
                if ui
                    .add(egui::Button::new("Help and shortcuts").shortcut_text("F1"))
                    .clicked()
                {
                    self.pending.push(UiCommand::ShowHelp);
                    ui.close();
                }
            });
            ui.separator();
            for tab in Tab::ALL {
                if ui
                    .selectable_label(self.settings.tab == tab, tab.label())
                    .clicked()
                {
                    self.pending.push(UiCommand::ShowTab(tab));
                }
            }
        });
    }

    fn shortcuts(&mut self, ui: &egui::Ui) {
        let shortcut = |modifiers, key| egui::KeyboardShortcut::new(modifiers, key);
        let command = egui::Modifiers::COMMAND;
        let none = egui::Modifiers::NONE;
        let typed = typed_path(&self.checkpoint_path);
        if ui.input_mut(|i| i.consume_shortcut(&shortcut(command, egui::Key::S))) && self.has_model
        {
            self.pending.push(UiCommand::SaveCheckpoint(typed.clone()));
        }
        if ui.input_mut(|i| i.consume_shortcut(&shortcut(command, egui::Key::O)))
            && !self.state.is_busy()
        {
            self.pending.push(UiCommand::OpenCheckpoint(typed));
        }
        if ui.input_mut(|i| i.consume_shortcut(&shortcut(command, egui::Key::E)))
            && !self.curves.is_empty()
        {
            self.pending
                .push(UiCommand::ExportCsv(self.typed(PathField::Csv)));
        }
        if ui.input_mut(|i| i.consume_shortcut(&shortcut(none, egui::Key::F5)))
            && self.has_model
            && self.state != WorkerState::Sampling
        {
            self.pending.push(UiCommand::SampleNow);
        }
        if ui.input_mut(|i| i.consume_shortcut(&shortcut(none, egui::Key::F1))) {
            self.pending.push(UiCommand::ShowHelp);
        }
        // Space toggles pause, unless the user is typing.
        if !ui.ctx().text_edit_focused()
            && ui.input_mut(|i| i.consume_shortcut(&shortcut(none, egui::Key::Space)))
        {
            self.pending.push(UiCommand::TogglePause);
        }
    }

    fn prompts_ui(&mut self, ctx: &egui::Context) {
        if let Some(confirm) = &self.confirm {
            if let Some(answer) = confirm_ui(ctx, confirm) {
                self.pending.push(UiCommand::Confirm(answer));
            }
        }
        if self.close.asking {
            if let Some(choice) = close_prompt_ui(ctx, &self.close_prompt()) {
                self.close.asking = false;
                self.pending.push(UiCommand::CloseChoice(choice));
            }
        }
        if let Some(offer) = &self.resume_offer {
            if let Some(answer) = resume_offer_ui(ctx, offer, self.settings.curves.unit) {
                self.pending.push(UiCommand::ResumeCrashed(answer));
            }
        }
    }

    fn training_tab_ui(&mut self, ui: &mut egui::Ui) {
        let size = ui.available_size();
        if size.x >= SIDE_BY_SIDE_MIN_WIDTH {
            let widest = (size.x - CURVES_MIN_WIDTH).max(SAMPLES_MIN_WIDTH);
            egui::Panel::right("samples_panel")
                .resizable(true)
                .default_size((size.x * 0.45).clamp(260.0, 600.0).min(widest))
                .size_range(SAMPLES_MIN_WIDTH..=widest)
                .show(ui, |ui| {
                    self.samples_panel_ui(ui);
                    panel_rects::record_ui(ui, "samples");
                });
        } else {
            // The curves keep their toolbar and a readable plot above; what the samples panel
            // cannot fit under them (its buttons and sliders on a short window) scrolls.
            let tallest = (size.y - CURVES_MIN_HEIGHT).max(120.0);
            egui::Panel::bottom("samples_panel_stacked")
                .resizable(true)
                .default_size((size.y * 0.45).max(150.0).min(tallest))
                .size_range(120.0..=tallest)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical()
                        .auto_shrink([false, false])
                        .show(ui, |ui| self.samples_panel_ui(ui));
                    panel_rects::record_ui(ui, "samples");
                });
        }
        egui::CentralPanel::default().show(ui, |ui| {
            let learning_rate = self.settings.controls.train.learning_rate;
            let commands = curves_ui(
                ui,
                &self.curves,
                &mut self.settings.curves,
                &self.compared,
                learning_rate,
            );
            self.pending.extend(commands);
            panel_rects::record_ui(ui, "curves");
        });
    }

    fn samples_panel_ui(&mut self, ui: &mut egui::Ui) {
        let conditional = self.settings.controls.model.conditional();
        // A grid being drawn is interrupted by the new request, which draws the new choice.
        let can_sample = self.has_model && self.state != crate::messages::WorkerState::Loading;
        let model = &self.settings.controls.model;
        let style = Some(StyleChoice {
            default: SampleStyle::default_for(model),
            guidable: model.has_no_label_class(),
            style: &mut self.settings.controls.train.sample_style,
            can_sample,
        });
        let draw = conditional.then_some(DrawChoice {
            classes: &mut self.settings.controls.train.sample_classes,
            can_sample,
        });
        let commands = samples_ui(
            ui,
            &mut self.samples,
            &mut self.png_path,
            &mut self.focus,
            draw,
            style,
        );
        self.pending.extend(commands);
    }

    /// "PixelCNN Studio - training, epoch 3/10" while a model exists, "PixelCNN Studio -
    /// following NAME: training, epoch 3/10" while a run another process writes is followed;
    /// sent when it changes.
    fn update_title(&mut self, ctx: &egui::Context) {
        let shown = self.shown_state();
        let status = if self.progress.epochs_target == 0 && shown != WorkerState::Idle {
            Some(self.state_label().to_string())
        } else if self.has_model || self.following.is_some() || shown.is_busy() {
            let p = &self.progress;
            let epoch = if p.step_in_epoch > 0 || p.epochs_done == 0 {
                p.epochs_done + 1
            } else {
                p.epochs_done
            };
            Some(format!(
                "{}, epoch {}/{}",
                self.state_label(),
                epoch.min(p.epochs_target.max(1)),
                p.epochs_target
            ))
        } else {
            None
        };
        let followed = self.following.as_ref().map(|f| f.name());
        let title = match (followed, status) {
            (Some(name), Some(status)) => {
                format!("{WINDOW_TITLE} \u{2014} following {name}: {status}")
            }
            (Some(name), None) => format!("{WINDOW_TITLE} \u{2014} following {name}"),
            (None, Some(status)) => format!("{WINDOW_TITLE} \u{2014} {status}"),
            (None, None) => WINDOW_TITLE.to_string(),
        };
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_with_a_title_bar_is_fitted_to_a_screen_of_its_own_size() {
        let monitor = egui::vec2(1280.0, 800.0);
        // The default 1280x800 window and a 30-point title bar on a 1280x800 screen.
        let fitted = fitted_inner_size(monitor, monitor, egui::vec2(1280.0, 830.0)).unwrap();
        assert_eq!(fitted, egui::vec2(1280.0, 800.0 - 30.0 - 40.0));
        // On a larger screen it fits as it is.
        let large = egui::vec2(1920.0, 1080.0);
        assert_eq!(
            fitted_inner_size(large, monitor, egui::vec2(1280.0, 830.0)),
            None
        );
        // Never below the smallest layout.
        let tiny = egui::vec2(640.0, 480.0);
        assert_eq!(
            fitted_inner_size(tiny, monitor, monitor),
            Some(MIN_WINDOW_SIZE)
        );
    }
}
