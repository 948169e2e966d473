//! The Runs window and the run bar. The window lists the studio's runs and the run folders the
//! user added (name, preset, epochs, best test cost, state, size); one selected run can be
//! opened (followed read-only when another process writes it), resumed, compared on the curves
//! or deleted (after a question). The bar under the menu says which run the studio shows: the
//! one this studio writes, one opened to look at, or one it follows, with that run's writer,
//! machine, progress and last log line. The lists come from the runs thread
//! ([`crate::run::watch`]): nothing here reads a file.

use std::path::{Path, PathBuf};

use super::compare::{take_focus, ComparedRuns};
use super::curves::CostUnit;
use super::paths::{typed_path, PathField};
use super::status::thousands;
use super::UiCommand;
use crate::run::clock::{age_text, now_unix_ms, utc_text};
use crate::run::watch::last_written_ms;
use crate::run::{Activity, RunState, RunSummary};

/// The run the worker's model belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentRun {
    /// Its folder.
    pub dir: PathBuf,
    /// Its name.
    pub name: String,
    /// Whether this studio writes it (it trained it in this session, or continues it).
    pub writing: bool,
}

/// A run written by another process that the studio follows, read-only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Following {
    /// Its folder.
    pub dir: PathBuf,
    /// The run as last read.
    pub summary: Option<RunSummary>,
    /// The log's last complete line.
    pub log_line: Option<String>,
    /// What could not be read at the last look, if anything.
    pub error: Option<String>,
}

impl Following {
    /// Follows the run in `dir` (nothing read yet).
    pub fn new(dir: PathBuf) -> Following {
        Following {
            dir,
            ..Following::default()
        }
    }

    /// The run's name.
    pub fn name(&self) -> String {
        folder_name(&self.dir)
    }
}

/// The Runs window's state.
#[derive(Clone, Debug, Default)]
pub struct RunsView {
    /// The window is shown.
    pub open: bool,
    /// The runs as last listed.
    pub listed: Vec<RunSummary>,
    /// The selected run's folder.
    pub selected: Option<PathBuf>,
    /// The "Run folder" field.
    pub folder_path: String,
}

/// What the Runs window needs to know about the studio.
pub struct RunsContext<'a> {
    /// Where the studio keeps its runs (`None`: nowhere; only added folders are listed).
    pub root: Option<&'a Path>,
    /// The run of the worker's model.
    pub current: Option<&'a CurrentRun>,
    /// The followed run.
    pub following: Option<&'a Following>,
    /// The runs drawn on the curves.
    pub compared: &'a ComparedRuns,
    /// The unit of costs.
    pub unit: CostUnit,
    /// The worker is busy (a run cannot be opened or resumed now).
    pub busy: bool,
}

/// The Runs window's first width: the table whole with a long state ("live, training on
/// gpu-box (cuda)"), where the studio's window has room.
const DEFAULT_WINDOW_WIDTH: f32 = 900.0;
/// Room (points) the Runs window leaves around it inside the studio's window: its frame and
/// shadow.
const WINDOW_MARGIN: f32 = 32.0;

/// A folder's last component, as a run's name.
pub fn folder_name(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `2.9 MB` for a byte count.
pub fn size_text(bytes: u64) -> String {
    let bytes = bytes as f64;
    if bytes >= 1e9 {
        format!("{:.1} GB", bytes / 1e9)
    } else if bytes >= 1e6 {
        format!("{:.1} MB", bytes / 1e6)
    } else {
        format!("{:.0} kB", (bytes / 1e3).ceil())
    }
}

/// A run's state in words: `live, training on gpu-box (cuda)`, `crashed`, `stopped`, ...
pub fn state_text(summary: &RunSummary) -> String {
    match summary.state {
        RunState::Live => {
            let status = &summary.status;
            format!(
                "live, {} on {} ({})",
                status.activity.label(),
                status.writer.host,
                status.device
            )
        }
        other => other.label().to_string(),
    }
}

/// A cost in `unit`, four decimals, with the unit.
pub fn cost_text(cost_nats_per_pixel: Option<f64>, unit: CostUnit) -> String {
    cost_nats_per_pixel.map_or_else(
        || "-".to_string(),
        |c| format!("{:.4} {}", unit.convert(c), unit.label()),
    )
}

/// Draws the Runs window while `view.open`; returns what the user asked for. `focus` names a
/// path field to give the keyboard focus to.
pub fn runs_window_ui(
    ctx: &egui::Context,
    view: &mut RunsView,
    context: &RunsContext<'_>,
    focus: &mut Option<PathField>,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    let mut open = view.open;
    // Never wider or taller than the studio's window: the table scrolls instead.
    let room = ctx.content_rect().size() - egui::vec2(WINDOW_MARGIN, WINDOW_MARGIN);
    let shown = egui::Window::new("Runs")
        .open(&mut open)
        .default_width(DEFAULT_WINDOW_WIDTH.min(room.x))
        .max_width(room.x)
        .max_height(room.y)
        .collapsible(false)
        .show(ctx, |ui| {
            let where_text = match context.root {
                Some(root) => format!(
                    "Every training run has its own folder in {}.",
                    root.display()
                ),
                None => "This studio keeps no runs of its own (it has no data folder).".into(),
            };
            ui.add(
                egui::Label::new(format!(
                    "{where_text} A run folder written elsewhere (train --run, on this machine \
                     or through a synced folder) is followed live when opened."
                ))
                .wrap(),
            );
            ui.horizontal(|ui| {
                let label = ui.label(PathField::RunFolder.label());
                let edit = ui
                    .add(
                        egui::TextEdit::singleline(&mut view.folder_path)
                            .hint_text("a run folder or checkpoint, or empty for a dialog")
                            .desired_width(300.0),
                    )
                    .labelled_by(label.id);
                take_focus(focus, PathField::RunFolder, &edit);
                if ui
                    .button("Open run folder...")
                    .on_hover_text("Open (or follow) a run folder, or a checkpoint file")
                    .clicked()
                {
                    commands.push(UiCommand::OpenRunFolder(typed_path(&view.folder_path)));
                }
            });
            ui.separator();
            runs_table_ui(ui, view, context);
            ui.separator();
            selection_buttons_ui(ui, view, context, &mut commands);
        });
    if let Some(window) = shown {
        crate::ui::panel_rects::record(ctx, "runs window", window.response.rect);
    }
    view.open = open;
    commands
}

fn runs_table_ui(ui: &mut egui::Ui, view: &mut RunsView, context: &RunsContext<'_>) {
    if view.listed.is_empty() {
        ui.label("No runs yet: press Start, and the run appears here.");
        return;
    }
    let now_ms = now_unix_ms();
    // As wide as the table where there is room; scrolled sideways where there is not.
    egui::ScrollArea::both()
        .max_height(280.0)
        .auto_shrink([true, true])
        .show(ui, |ui| {
            egui::Grid::new("runs_table")
                .striped(true)
                .num_columns(6)
                .spacing([12.0, 4.0])
                .show(ui, |ui| {
                    for header in ["Run", "Preset", "Epochs", "Best test", "State", "Size"] {
                        ui.strong(header);
                    }
                    ui.end_row();
                    for run in &view.listed {
                        let selected = view.selected.as_ref() == Some(&run.dir);
                        let name = run.name();
                        let is_current = context.current.is_some_and(|c| c.dir == run.dir);
                        let compared = context.compared.runs().iter().any(|c| c.path == run.dir);
                        let shown = match (is_current, compared) {
                            (true, _) => format!("{name} (open)"),
                            (false, true) => format!("{name} (compared)"),
                            (false, false) => name.clone(),
                        };
                        let hover = format!(
                            "{}\nwritten by {}; last written {} ({})",
                            run.dir.display(),
                            run.status.writer.describe(),
                            utc_text(last_written_ms(run)),
                            age_text(now_ms.saturating_sub(last_written_ms(run)) as f64 / 1000.0)
                        );
                        if ui
                            .selectable_label(selected, shown)
                            .on_hover_text(hover)
                            .clicked()
                        {
                            view.selected = Some(run.dir.clone());
                        }
                        let preset = if run.status.conditional {
                            format!("{}, conditional", run.status.preset)
                        } else {
                            run.status.preset.clone()
                        };
                        ui.label(preset);
                        ui.label(format!(
                            "{}/{}",
                            run.status.epochs_done, run.status.epochs_target
                        ));
                        ui.label(cost_text(
                            run.status.best_test_cost_nats_per_pixel,
                            context.unit,
                        ));
                        let state = state_text(run);
                        match &run.why {
                            Some(why) => ui.label(state).on_hover_text(why.clone()),
                            None => ui.label(state),
                        };
                        ui.label(size_text(run.size_bytes));
                        ui.end_row();
                    }
                });
        });
}

fn selection_buttons_ui(
    ui: &mut egui::Ui,
    view: &RunsView,
    context: &RunsContext<'_>,
    commands: &mut Vec<UiCommand>,
) {
    let selected = view
        .selected
        .as_ref()
        .and_then(|dir| view.listed.iter().find(|run| &run.dir == dir));
    ui.horizontal_wrapped(|ui| {
        let Some(run) = selected else {
            ui.label("Select a run to open, resume, compare or delete it.");
            return;
        };
        let dir = run.dir.clone();
        let is_current = context.current.is_some_and(|c| c.dir == dir);
        let is_followed = context.following.is_some_and(|f| f.dir == dir);
        let open_hint = if run.is_live() && !is_current {
            "Follow it as it trains (read-only)"
        } else {
            "Show its curves, grids and architecture"
        };
        if ui
            .add_enabled(
                !is_current && !is_followed && !context.busy,
                egui::Button::new("Open"),
            )
            .on_hover_text(open_hint)
            .clicked()
        {
            commands.push(UiCommand::OpenRun {
                dir: dir.clone(),
                resume: false,
            });
        }
        let resumable = !run.is_live() && !context.busy;
        if ui
            .add_enabled(resumable, egui::Button::new("Resume"))
            .on_hover_text("Continue training it here, in its folder")
            .clicked()
        {
            commands.push(UiCommand::OpenRun {
                dir: dir.clone(),
                resume: true,
            });
        }
        let compared = context.compared.runs().iter().any(|c| c.path == dir);
        let compare_label = if compared {
            "Stop comparing"
        } else {
            "Compare"
        };
        if ui
            .button(compare_label)
            .on_hover_text("Draw its train and test costs on the curves")
            .clicked()
        {
            commands.push(UiCommand::CompareRunFolder(dir.clone()));
        }
        let deletable =
            !run.is_live() || (is_current && context.current.is_some_and(|c| c.writing));
        if ui
            .add_enabled(deletable, egui::Button::new("Delete..."))
            .on_hover_text("Delete the run's folder (asks first)")
            .clicked()
        {
            commands.push(UiCommand::DeleteRun(dir));
        }
    });
}

/// Draws the run bar: the run the studio shows and where it stands. Returns what the user
/// asked for.
pub fn run_bar_ui(
    ui: &mut egui::Ui,
    current: Option<&CurrentRun>,
    following: Option<&Following>,
    unit: CostUnit,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    ui.horizontal_wrapped(|ui| {
        if let Some(following) = following {
            following_ui(ui, following, unit, &mut commands);
        } else if let Some(current) = current {
            let text = if current.writing {
                format!("Run {}", current.name)
            } else {
                format!(
                    "Run {} (opened: Continue goes on training it)",
                    current.name
                )
            };
            ui.label(text)
                .on_hover_text(current.dir.display().to_string());
        }
        if ui
            .small_button("Runs...")
            .on_hover_text("Every run: open, resume, compare, delete")
            .clicked()
        {
            commands.push(UiCommand::ShowRuns);
        }
    });
    commands
}

fn following_ui(
    ui: &mut egui::Ui,
    following: &Following,
    unit: CostUnit,
    commands: &mut Vec<UiCommand>,
) {
    ui.strong(format!("Following {}", following.name()))
        .on_hover_text(following.dir.display().to_string());
    match &following.summary {
        None => {
            ui.label("reading...");
        }
        Some(run) => {
            let status = &run.status;
            let state = match (run.state, status.activity) {
                (RunState::Live, Activity::Idle) => "live".to_string(),
                (RunState::Live, activity) => format!("live, {}", activity.label()),
                (other, _) => other.label().to_string(),
            };
            let age = now_unix_ms().saturating_sub(status.heartbeat_unix_ms) as f64 / 1000.0;
            let mut text = format!(
                "{state}; {} on {} ({}); epoch {} of {}, step {}",
                status.writer.program,
                status.writer.host,
                status.device,
                status.epochs_done,
                status.epochs_target,
                thousands(status.global_step)
            );
            if run.state == RunState::Live && status.images_per_sec > 0.0 {
                text.push_str(&format!(", {:.0} images/s", status.images_per_sec));
            }
            if let Some(best) = status.best_test_cost_nats_per_pixel {
                text.push_str(&format!(", best test {}", cost_text(Some(best), unit)));
            }
            text.push_str(&format!("; last written {}", age_text(age)));
            let label = ui.add(egui::Label::new(text).wrap());
            if let Some(why) = &run.why {
                label.on_hover_text(why.clone());
            }
            if !run.is_live()
                && ui
                    .button("Resume here")
                    .on_hover_text("Continue training this run in this studio, in its folder")
                    .clicked()
            {
                commands.push(UiCommand::OpenRun {
                    dir: following.dir.clone(),
                    resume: true,
                });
            }
        }
    }
    if ui
        .button("Stop following")
        .on_hover_text("Go back to this studio's own model")
        .clicked()
    {
        commands.push(UiCommand::StopFollowing);
    }
    if let Some(error) = &following.error {
        ui.colored_label(ui.visuals().warn_fg_color, error.clone());
    } else if let Some(line) = &following.log_line {
        ui.label(egui::RichText::new(line).weak());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_costs_read_as_people_write_them() {
        assert_eq!(size_text(2_900_000), "2.9 MB");
        assert_eq!(size_text(512), "1 kB");
        assert_eq!(size_text(27_400_000_000), "27.4 GB");
        assert_eq!(cost_text(None, CostUnit::BitsPerDim), "-");
        assert_eq!(
            cost_text(Some(0.1), CostUnit::NatsPerImage),
            "78.4000 nats/image"
        );
    }
}
