//! The status bar: state (or the action on its way, e.g. "stopping..."), epoch x of y, step,
//! evaluation progress, images/s while training, ETA, the current message (whole, wrapped) and
//! the message log.

use super::message_log::{entry_label, log_ui, LogEntry, MessageLog};
use crate::messages::{RunProgress, WorkerState};

/// What the status bar shows.
#[derive(Clone, Debug, Default)]
pub struct StatusInfo<'a> {
    /// The worker's state.
    pub state: WorkerState,
    /// An action sent but not confirmed yet ("stopping...", "pausing...", "starting...").
    pub pending: Option<&'static str>,
    /// Where the run stands.
    pub progress: RunProgress,
    /// Test images evaluated and in all, while the epoch's evaluation runs.
    pub evaluation: Option<(usize, usize)>,
    /// The message on the status bar, if any.
    pub message: Option<&'a LogEntry>,
}

/// Formats seconds as `1h 02m`, `3m 05s` or `12s`.
pub fn format_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    if secs < 9.95 {
        return format!("{secs:.1}s");
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The state as the status bar words it.
pub fn state_text(info: &StatusInfo<'_>) -> String {
    match info.pending {
        Some(pending) => format!("State: {pending}"),
        None => format!("State: {}", info.state.label()),
    }
}

/// Draws the status bar; `log_open` toggles the message log under it.
pub fn status_ui(ui: &mut egui::Ui, info: &StatusInfo<'_>, log: &MessageLog, log_open: &mut bool) {
    ui.horizontal_wrapped(|ui| {
        let state_color = match (info.pending, info.state) {
            (Some(_), _) => egui::Color32::from_rgb(230, 170, 40),
            (None, WorkerState::Training | WorkerState::Sampling | WorkerState::Evaluating) => {
                egui::Color32::from_rgb(60, 190, 110)
            }
            (None, WorkerState::Paused | WorkerState::Loading) => {
                egui::Color32::from_rgb(230, 170, 40)
            }
            (None, WorkerState::Error) => ui.visuals().error_fg_color,
            _ => ui.visuals().text_color(),
        };
        ui.label(egui::RichText::new(state_text(info)).color(state_color));
        ui.separator();
        let p = &info.progress;
        let current_epoch = if p.step_in_epoch > 0 || p.epochs_done == 0 {
            p.epochs_done + 1
        } else {
            p.epochs_done
        };
        if p.epochs_target == 0 {
            ui.label("epoch -");
        } else {
            ui.label(format!(
                "epoch {} of {}",
                current_epoch.min(p.epochs_target),
                p.epochs_target
            ));
        }
        ui.separator();
        ui.label(format!(
            "step {} ({}/{} in epoch)",
            thousands(p.global_step),
            p.step_in_epoch,
            p.steps_per_epoch
        ));
        if let (Some((done, total)), WorkerState::Evaluating) = (info.evaluation, info.state) {
            ui.separator();
            ui.label(format!(
                "evaluating {}/{} test images",
                thousands(done as u64),
                thousands(total as u64)
            ));
        }
        ui.separator();
        // A rate is only true while training: blank otherwise.
        let training = info.state == WorkerState::Training && info.pending.is_none();
        if training && p.images_per_sec > 0.0 {
            ui.label(format!("{:.0} images/s", p.images_per_sec));
        } else {
            ui.label("- images/s");
        }
        ui.separator();
        let eta = if training {
            p.eta_secs()
                .map_or_else(|| "-".to_string(), format_duration)
        } else {
            "-".to_string()
        };
        ui.label(format!("ETA {eta}"));
        ui.separator();
        let log_label = format!("Log ({})", log.len());
        if ui
            .selectable_label(*log_open, log_label)
            .on_hover_text("Every message with its time")
            .clicked()
        {
            *log_open = !*log_open;
        }
    });
    if let Some(entry) = info.message {
        entry_label(ui, entry);
    }
    if *log_open {
        ui.separator();
        log_ui(ui, log);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(12.4), "12s");
        assert_eq!(format_duration(0.26), "0.3s");
        assert_eq!(format_duration(185.0), "3m 05s");
        assert_eq!(format_duration(3720.0), "1h 02m");
        assert_eq!(format_duration(f64::NAN), "-");
    }

    #[test]
    fn big_numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1750), "1,750");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_pending_action_replaces_the_state_word() {
        let info = StatusInfo {
            state: WorkerState::Evaluating,
            pending: Some("stopping..."),
            ..StatusInfo::default()
        };
        assert_eq!(state_text(&info), "State: stopping...");
    }
}
