//! The app's side of the run bar and the Runs window: what they are given and where their
//! commands go.

use super::StudioApp;
use crate::ui::runs::{run_bar_ui, runs_window_ui, RunsContext};

impl StudioApp {
    /// The bar under the menu naming the run shown (only while there is one).
    pub(super) fn run_bar(&mut self, ui: &mut egui::Ui) {
        if self.current_run.is_none() && self.following.is_none() {
            return;
        }
        egui::Panel::top("run_bar").show(ui, |ui| {
            let commands = run_bar_ui(
                ui,
                self.current_run.as_ref(),
                self.following.as_ref(),
                self.settings.curves.unit,
            );
            self.pending.extend(commands);
            crate::ui::panel_rects::record_ui(ui, "run bar");
        });
    }

    /// The Runs window, while it is shown.
    pub(super) fn runs_window(&mut self, ctx: &egui::Context) {
        if !self.runs.open {
            return;
        }
        let root = self.runs_root();
        let context = RunsContext {
            root: root.as_deref(),
            current: self.current_run.as_ref(),
            following: self.following.as_ref(),
            compared: &self.compared,
            unit: self.settings.curves.unit,
            busy: self.state.is_busy(),
        };
        let commands = runs_window_ui(ctx, &mut self.runs, &context, &mut self.focus);
        self.pending.extend(commands);
    }
}
