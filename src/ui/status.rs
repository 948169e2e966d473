//! The status bar: state, epoch x of y, step, images/s, ETA and the last message.

use crate::messages::{RunProgress, WorkerState};

/// What the status bar shows.
#[derive(Clone, Debug, Default)]
pub struct StatusInfo<'a> {
    /// The worker's state.
    pub state: WorkerState,
    /// Where the run stands.
    pub progress: RunProgress,
    /// The last message (or error) for the user.
    pub message: &'a str,
    /// Whether `message` is an error.
    pub message_is_error: bool,
}

/// Formats seconds as `1h 02m`, `3m 05s` or `12s`.
pub fn format_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
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

/// Draws the status bar.
pub fn status_ui(ui: &mut egui::Ui, info: &StatusInfo<'_>) {
    ui.horizontal(|ui| {
        let state_color = match info.state {
            WorkerState::Training | WorkerState::Sampling => egui::Color32::from_rgb(60, 190, 110),
            WorkerState::Paused | WorkerState::Loading => egui::Color32::from_rgb(230, 170, 40),
            WorkerState::Error => egui::Color32::from_rgb(230, 70, 70),
            _ => ui.visuals().text_color(),
        };
        ui.label(egui::RichText::new(format!("State: {}", info.state.label())).color(state_color));
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
            p.global_step, p.step_in_epoch, p.steps_per_epoch
        ));
        ui.separator();
        ui.label(format!("{:.0} images/s", p.images_per_sec));
        ui.separator();
        let eta = if info.state == WorkerState::Training {
            p.eta_secs()
                .map_or_else(|| "-".to_string(), format_duration)
        } else {
            "-".to_string()
        };
        ui.label(format!("ETA {eta}"));
        ui.separator();
        let text = egui::RichText::new(info.message);
        let text = if info.message_is_error {
            text.color(egui::Color32::from_rgb(230, 70, 70))
        } else {
            text
        };
        ui.add(egui::Label::new(text).truncate());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(12.4), "12s");
        assert_eq!(format_duration(185.0), "3m 05s");
        assert_eq!(format_duration(3720.0), "1h 02m");
        assert_eq!(format_duration(f64::NAN), "-");
    }
}
