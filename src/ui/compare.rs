//! Compare and export: other runs' histories (read from their checkpoints, which all carry one:
//! a checkpoint file, or a run folder's latest checkpoint, added from the Runs window) drawn as
//! extra curves with a name and a colour in the legend, removable; and this run's metric
//! history written as CSV. The window that holds both.

use std::path::{Path, PathBuf};

use super::paths::{typed_path, PathField};
use super::UiCommand;
use crate::train::History;

/// Colours of compared runs, in the order they are added (distinct from this run's curves).
const RUN_COLORS: [egui::Color32; 6] = [
    egui::Color32::from_rgb(170, 110, 230),
    egui::Color32::from_rgb(230, 90, 160),
    egui::Color32::from_rgb(40, 180, 200),
    egui::Color32::from_rgb(190, 150, 80),
    egui::Color32::from_rgb(140, 170, 60),
    egui::Color32::from_rgb(120, 140, 240),
];

/// Another run shown next to this one.
#[derive(Clone, Debug, PartialEq)]
pub struct ComparedRun {
    /// The name in the legend (the file's or the run folder's name, made unique).
    pub name: String,
    /// The checkpoint file or run folder it came from.
    pub path: PathBuf,
    /// Its metric history.
    pub history: History,
    /// Its colour on the plot.
    pub color: egui::Color32,
}

/// The runs being compared.
#[derive(Clone, Debug, Default)]
pub struct ComparedRuns {
    runs: Vec<ComparedRun>,
    added: usize,
}

impl ComparedRuns {
    /// Adds the run read from `path`; returns its name.
    pub fn add(&mut self, path: &Path, history: History) -> String {
        let stem = path
            .file_stem()
            .map_or_else(|| "run".to_string(), |s| s.to_string_lossy().into_owned());
        let mut name = stem.clone();
        let mut copy = 2;
        while self.runs.iter().any(|r| r.name == name) {
            name = format!("{stem} ({copy})");
            copy += 1;
        }
        let color = RUN_COLORS[self.added % RUN_COLORS.len()];
        self.added += 1;
        self.runs.push(ComparedRun {
            name: name.clone(),
            path: path.to_path_buf(),
            history,
            color,
        });
        name
    }

    /// Removes the run at `index` (nothing when out of range).
    pub fn remove(&mut self, index: usize) {
        if index < self.runs.len() {
            self.runs.remove(index);
        }
    }

    /// Whether the run read from `path` is compared.
    pub fn contains(&self, path: &Path) -> bool {
        self.runs.iter().any(|r| r.path == path)
    }

    /// Stops comparing with the run read from `path` (nothing when it is not compared).
    pub fn remove_path(&mut self, path: &Path) {
        self.runs.retain(|r| r.path != path);
    }

    /// The runs, in the order they were added.
    pub fn runs(&self) -> &[ComparedRun] {
        &self.runs
    }

    /// Whether no run is compared.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

/// Reads the metric history of the checkpoint at `path` (blocking: call it off the UI thread).
/// The whole file is validated, as for opening it.
pub fn load_history(path: &Path) -> Result<History, String> {
    crate::checkpoint::load(path)
        .map(|snapshot| snapshot.history)
        .map_err(|err| format!("could not compare with the checkpoint: {err}"))
}

/// The typed paths and focus request of the window.
#[derive(Clone, Debug, Default)]
pub struct CompareFields {
    /// "Checkpoint to compare".
    pub compare_path: String,
    /// "CSV file".
    pub csv_path: String,
}

/// Draws the Compare and export window while `open`; returns what the user asked for.
/// `focus` names a field to give the keyboard focus to (taken when done).
pub fn compare_window_ui(
    ctx: &egui::Context,
    open: &mut bool,
    runs: &ComparedRuns,
    fields: &mut CompareFields,
    focus: &mut Option<PathField>,
    has_history: bool,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    egui::Window::new("Compare and export")
        .open(open)
        .default_width(420.0)
        .collapsible(false)
        .show(ctx, |ui| {
            ui.strong("Compare with other runs");
            ui.label("Their train and test costs are drawn next to this run's (dashed).");
            ui.horizontal(|ui| {
                let label = ui.label(PathField::Compare.label());
                let edit = ui
                    .add(
                        egui::TextEdit::singleline(&mut fields.compare_path)
                            .hint_text("a checkpoint, or empty for a dialog")
                            .desired_width(f32::INFINITY),
                    )
                    .labelled_by(label.id);
                take_focus(focus, PathField::Compare, &edit);
            });
            if ui.button("Add run").clicked() {
                commands.push(UiCommand::CompareRun(typed_path(&fields.compare_path)));
            }
            for (index, run) in runs.runs().iter().enumerate() {
                ui.horizontal(|ui| {
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
                    ui.painter().rect_filled(rect, 2.0, run.color);
                    let best = run
                        .history
                        .epochs
                        .iter()
                        .map(|r| r.test_cost_nats_per_pixel)
                        .fold(f64::INFINITY, f64::min);
                    let summary = if best.is_finite() {
                        format!(
                            "{}: {} epochs, best test {best:.4} nats/pixel",
                            run.name,
                            run.history.epochs.len()
                        )
                    } else {
                        format!("{}: no finished epoch", run.name)
                    };
                    ui.label(summary)
                        .on_hover_text(run.path.display().to_string());
                    if ui
                        .button("Remove")
                        .on_hover_text(format!("Stop comparing with {}", run.name))
                        .clicked()
                    {
                        commands.push(UiCommand::RemoveCompared(index));
                    }
                });
            }
            ui.separator();
            ui.strong("Export this run's metrics");
            ui.label("CSV, one value per row: series, epoch, step, value (costs in nats/pixel).");
            ui.horizontal(|ui| {
                let label = ui.label(PathField::Csv.label());
                let edit = ui
                    .add(
                        egui::TextEdit::singleline(&mut fields.csv_path)
                            .hint_text("where to write, or empty for a dialog")
                            .desired_width(f32::INFINITY),
                    )
                    .labelled_by(label.id);
                take_focus(focus, PathField::Csv, &edit);
            });
            if ui
                .add_enabled(has_history, egui::Button::new("Export CSV"))
                .clicked()
            {
                commands.push(UiCommand::ExportCsv(typed_path(&fields.csv_path)));
            }
        });
    commands
}

/// Gives `response` the keyboard focus when `focus` asks for `field`.
pub fn take_focus(focus: &mut Option<PathField>, field: PathField, response: &egui::Response) {
    if *focus == Some(field) {
        response.request_focus();
        *focus = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_folder_is_compared_under_its_name_and_removed_by_its_path() {
        let mut runs = ComparedRuns::default();
        let dir = Path::new("/data/runs/20260503-150000-gated-3f9a2c");
        assert_eq!(
            runs.add(dir, History::default()),
            "20260503-150000-gated-3f9a2c"
        );
        assert!(runs.contains(dir));
        runs.remove_path(Path::new("/elsewhere"));
        assert!(runs.contains(dir));
        runs.remove_path(dir);
        assert!(runs.is_empty());
    }

    #[test]
    fn runs_get_unique_names_and_their_own_colours() {
        let mut runs = ComparedRuns::default();
        let a = runs.add(Path::new("/r/base.ckpt"), History::default());
        let b = runs.add(Path::new("/other/base.ckpt"), History::default());
        assert_eq!((a.as_str(), b.as_str()), ("base", "base (2)"));
        let colors: Vec<_> = runs.runs().iter().map(|r| r.color).collect();
        assert_ne!(colors[0], colors[1]);
        runs.remove(0);
        runs.remove(7);
        assert_eq!(runs.runs().len(), 1);
        assert_eq!(runs.runs()[0].name, "base (2)");
    }
}
