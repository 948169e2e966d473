//! The status message and its history: each new action replaces (or clears) the message shown on
//! the status bar, and the log keeps every message with the time it appeared, so nothing stale
//! lingers next to a state it no longer describes and nothing is lost either.

use std::collections::VecDeque;

/// Messages kept in the log (the oldest go first).
pub const LOG_CAPACITY: usize = 500;

/// One message.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// When it appeared: seconds since the studio started.
    pub at_secs: f64,
    /// The text, whole.
    pub text: String,
    /// Whether it reports a failure.
    pub is_error: bool,
}

/// The current status message and the log of every message.
#[derive(Clone, Debug, Default)]
pub struct MessageLog {
    entries: VecDeque<LogEntry>,
    /// The message on the status bar (`None`: cleared by a new action).
    current: Option<LogEntry>,
}

impl MessageLog {
    /// Shows `text` on the status bar and logs it.
    pub fn show(&mut self, at_secs: f64, text: impl Into<String>) {
        self.push(at_secs, text.into(), false, true);
    }

    /// Shows the error `text` on the status bar and logs it.
    pub fn error(&mut self, at_secs: f64, text: impl Into<String>) {
        self.push(at_secs, text.into(), true, true);
    }

    /// Logs `text` without changing the status bar (background notes such as autosaves).
    pub fn note(&mut self, at_secs: f64, text: impl Into<String>) {
        self.push(at_secs, text.into(), false, false);
    }

    /// A new action began: the old message no longer applies.
    pub fn clear_current(&mut self) {
        self.current = None;
    }

    /// The message on the status bar.
    pub fn current(&self) -> Option<&LogEntry> {
        self.current.as_ref()
    }

    /// Every message kept, oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &LogEntry> {
        self.entries.iter()
    }

    /// Number of messages kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn push(&mut self, at_secs: f64, text: String, is_error: bool, shown: bool) {
        let entry = LogEntry {
            at_secs,
            text,
            is_error,
        };
        if shown {
            self.current = Some(entry.clone());
        }
        if self.entries.len() >= LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }
}

/// Seconds since start as `h:mm:ss`.
pub fn format_clock(secs: f64) -> String {
    let total = if secs.is_finite() && secs > 0.0 {
        secs as u64
    } else {
        0
    };
    format!(
        "{}:{:02}:{:02}",
        total / 3600,
        (total / 60) % 60,
        total % 60
    )
}

/// One message in full, wrapped; errors in the error colour.
pub fn entry_label(ui: &mut egui::Ui, entry: &LogEntry) {
    let text = egui::RichText::new(&entry.text);
    let text = if entry.is_error {
        text.color(ui.visuals().error_fg_color)
    } else {
        text
    };
    ui.add(egui::Label::new(text).wrap());
}

/// The log as a list, newest first, each message whole (wrapped).
pub fn log_ui(ui: &mut egui::Ui, log: &MessageLog) {
    if log.is_empty() {
        ui.label("No messages yet.");
        return;
    }
    egui::ScrollArea::vertical()
        .id_salt("message_log_scroll")
        .max_height(140.0)
        .auto_shrink([false, true])
        .show(ui, |ui| {
            for entry in log.entries().rev() {
                ui.horizontal_wrapped(|ui| {
                    ui.monospace(format_clock(entry.at_secs));
                    entry_label(ui, entry);
                });
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_action_clears_the_message_but_the_log_keeps_it_with_its_time() {
        let mut log = MessageLog::default();
        log.error(3.0, "CUDA is not available");
        assert_eq!(log.current().map(|e| e.is_error), Some(true));
        log.clear_current();
        assert!(log.current().is_none());
        log.note(5.0, "autosaved");
        assert!(
            log.current().is_none(),
            "a note leaves the status bar alone"
        );
        log.show(65.0, "training finished");
        let texts: Vec<(&str, f64)> = log
            .entries()
            .map(|e| (e.text.as_str(), e.at_secs))
            .collect();
        assert_eq!(
            texts,
            [
                ("CUDA is not available", 3.0),
                ("autosaved", 5.0),
                ("training finished", 65.0)
            ]
        );
        assert_eq!(format_clock(3725.9), "1:02:05");
    }

    #[test]
    fn the_log_stays_bounded() {
        let mut log = MessageLog::default();
        for i in 0..(LOG_CAPACITY + 10) {
            log.note(i as f64, format!("note {i}"));
        }
        assert_eq!(log.len(), LOG_CAPACITY);
        assert_eq!(log.entries().next().map(|e| e.at_secs), Some(10.0));
    }
}
