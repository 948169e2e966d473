//! The status bar: state (or the action on its way, e.g. "stopping..."), epoch x of y, step,
//! evaluation progress, images/s and ETA while training (the test images/s and the time left
//! while the test evaluation runs), the current message (whole, wrapped) and the message log.

use super::message_log::{entry_label, log_ui, LogEntry, MessageLog};
use crate::messages::{RunProgress, WorkerState};

/// The pace of the test evaluation in progress, from the progress reports it sends: images per
/// second since it (or its resumption) began, and the time left at that pace.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EvaluationClock {
    /// When the evaluation was first seen (studio seconds) and how many images were done then.
    start: Option<(f64, usize)>,
    /// The last report: when it came and how far it was.
    last: Option<(f64, usize, usize)>,
}

impl EvaluationClock {
    /// Takes the evaluation's progress this frame (`None`: no evaluation runs) at studio time
    /// `now_secs`.
    pub fn observe(&mut self, progress: Option<(usize, usize)>, now_secs: f64) {
        let Some((done, total)) = progress else {
            *self = EvaluationClock::default();
            return;
        };
        let restarted = match self.last {
            Some((_, last_done, last_total)) => total != last_total || done < last_done,
            None => true,
        };
        if restarted {
            self.start = Some((now_secs, done));
            self.last = Some((now_secs, done, total));
        } else if self.last.is_some_and(|(_, last_done, _)| done != last_done) {
            self.last = Some((now_secs, done, total));
        }
    }

    /// Test images per second so far (`None` until two reports apart in time came).
    pub fn images_per_sec(&self) -> Option<f64> {
        let ((start_secs, start_done), (last_secs, last_done, _)) = (self.start?, self.last?);
        let secs = last_secs - start_secs;
        (secs > 0.0 && last_done > start_done).then(|| (last_done - start_done) as f64 / secs)
    }

    /// Seconds left at the pace so far, counted from `now_secs`.
    pub fn eta_secs(&self, now_secs: f64) -> Option<f64> {
        let rate = self.images_per_sec()?;
        let (last_secs, done, total) = self.last?;
        let left = total.saturating_sub(done) as f64 / rate - (now_secs - last_secs);
        Some(left.max(0.0))
    }
}

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
    /// The pace of that evaluation.
    pub evaluation_clock: EvaluationClock,
    /// Studio seconds now (for the evaluation's time left).
    pub now_secs: f64,
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

/// The rate slot: training images/s while training, test images/s while the test evaluation
/// runs (a rate is only shown while it is true), "- images/s" otherwise.
pub fn rate_text(info: &StatusInfo<'_>) -> String {
    if info.pending.is_some() {
        return "- images/s".to_string();
    }
    match info.state {
        WorkerState::Training if info.progress.images_per_sec > 0.0 => {
            format!("{:.0} images/s", info.progress.images_per_sec)
        }
        WorkerState::Evaluating if info.evaluation.is_some() => {
            info.evaluation_clock.images_per_sec().map_or_else(
                || "- test images/s".to_string(),
                |rate| format!("{rate:.0} test images/s"),
            )
        }
        _ => "- images/s".to_string(),
    }
}

/// The ETA slot: the run's time left while training, the evaluation's while it runs.
pub fn eta_text(info: &StatusInfo<'_>) -> String {
    if info.pending.is_some() {
        return "ETA -".to_string();
    }
    match info.state {
        WorkerState::Training => format!(
            "ETA {}",
            info.progress
                .eta_secs()
                .map_or_else(|| "-".to_string(), format_duration)
        ),
        WorkerState::Evaluating if info.evaluation.is_some() => format!(
            "evaluation ETA {}",
            info.evaluation_clock
                .eta_secs(info.now_secs)
                .map_or_else(|| "-".to_string(), format_duration)
        ),
        _ => "ETA -".to_string(),
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
        let evaluating = match (info.evaluation, info.state) {
            (Some(progress), WorkerState::Evaluating) => Some(progress),
            _ => None,
        };
        if let Some((done, total)) = evaluating {
            ui.separator();
            ui.label(format!(
                "evaluating {}/{} test images",
                thousands(done as u64),
                thousands(total as u64)
            ));
        }
        ui.separator();
        ui.label(rate_text(info));
        ui.separator();
        ui.label(eta_text(info));
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
    fn a_long_test_evaluation_shows_its_rate_and_time_left() {
        let mut clock = EvaluationClock::default();
        clock.observe(Some((0, 10_000)), 100.0);
        assert_eq!(clock.images_per_sec(), None, "one report: no pace yet");
        clock.observe(Some((500, 10_000)), 105.0);
        clock.observe(Some((500, 10_000)), 106.0);
        clock.observe(Some((1000, 10_000)), 110.0);
        assert_eq!(clock.images_per_sec(), Some(100.0));
        assert_eq!(clock.eta_secs(110.0), Some(90.0));
        assert_eq!(clock.eta_secs(112.0), Some(88.0));
        let info = StatusInfo {
            state: WorkerState::Evaluating,
            evaluation: Some((1000, 10_000)),
            evaluation_clock: clock,
            now_secs: 110.0,
            ..StatusInfo::default()
        };
        assert_eq!(rate_text(&info), "100 test images/s");
        assert_eq!(eta_text(&info), "evaluation ETA 1m 30s");
        // The next evaluation starts afresh.
        clock.observe(None, 120.0);
        clock.observe(Some((0, 10_000)), 200.0);
        assert_eq!(clock.images_per_sec(), None);
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
