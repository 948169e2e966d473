//! The questions the studio asks before losing anything: discard the model (Reset, Open), save it
//! before closing (Save / Discard / Cancel), and, at launch, resume the last run from its
//! autosave.

use std::path::{Path, PathBuf};

use super::status::thousands;

/// A question about discarding the trained model.
#[derive(Clone, Debug, PartialEq)]
pub enum Confirm {
    /// Reset was pressed.
    Reset,
    /// Open was asked for (with the path, or a dialog to come).
    Open(Option<PathBuf>),
}

/// The answer to the close prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseChoice {
    /// Save the model, then close.
    Save,
    /// Close and throw the model away (its autosave too).
    Discard,
    /// Stay open.
    Cancel,
}

/// What the autosave holds, read at launch (off the UI thread).
#[derive(Clone, Debug, PartialEq)]
pub struct AutosaveSummary {
    /// Where it is.
    pub path: PathBuf,
    /// Completed epochs.
    pub epochs_done: usize,
    /// Steps done in total.
    pub global_step: u64,
    /// Test cost after the last completed epoch, nats per pixel.
    pub test_cost_nats_per_pixel: Option<f64>,
}

impl AutosaveSummary {
    /// The question the launch asks.
    pub fn question(&self) -> String {
        let test = self
            .test_cost_nats_per_pixel
            .map_or_else(String::new, |t| format!(", test {t:.4} nats/pixel"));
        format!(
            "Resume the last run (epoch {}, step {}{test})?",
            self.epochs_done,
            thousands(self.global_step)
        )
    }
}

/// Reads and validates the autosave at `path` (blocking: call it off the UI thread). `Ok(None)`
/// when there is none.
pub fn read_autosave(path: &Path) -> Result<Option<AutosaveSummary>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let snapshot = crate::checkpoint::load(path)
        .map_err(|err| format!("the autosave of the last run could not be read: {err}"))?;
    Ok(Some(AutosaveSummary {
        path: path.to_path_buf(),
        epochs_done: snapshot.progress.epochs_done,
        global_step: snapshot.progress.global_step,
        test_cost_nats_per_pixel: snapshot
            .history
            .epochs
            .last()
            .map(|r| r.test_cost_nats_per_pixel),
    }))
}

/// Asks `confirm`; returns the answer once given (`true`: go ahead).
pub fn confirm_ui(ctx: &egui::Context, confirm: &Confirm) -> Option<bool> {
    let question = match confirm {
        Confirm::Reset => "Discard the trained model and its history?",
        Confirm::Open(_) => {
            "Replace the trained model with the checkpoint? Unsaved training is lost."
        }
    };
    let mut answer = None;
    let response = egui::Modal::new(egui::Id::unique("pixelcnn-confirm")).show(ctx, |ui| {
        ui.set_max_width(380.0);
        ui.heading("Are you sure?");
        ui.add(egui::Label::new(question).wrap());
        ui.horizontal(|ui| {
            if ui.button("Yes, discard it").clicked() {
                answer = Some(true);
            }
            if ui.button("Cancel").clicked() {
                answer = Some(false);
            }
        });
    });
    if answer.is_none() && response.should_close() {
        answer = Some(false);
    }
    answer
}

/// Asks what to do with an unsaved model before closing; returns the choice once made.
/// `save_hint` says where Save writes (the typed path, or a dialog).
pub fn close_prompt_ui(ctx: &egui::Context, save_hint: &str) -> Option<CloseChoice> {
    let mut choice = None;
    let response = egui::Modal::new(egui::Id::unique("pixelcnn-close")).show(ctx, |ui| {
        ui.set_max_width(420.0);
        ui.heading("Save the model before closing?");
        ui.add(
            egui::Label::new(format!(
                "The trained model has training that is not saved to a checkpoint. {save_hint}"
            ))
            .wrap(),
        );
        ui.horizontal(|ui| {
            if ui.button("Save").clicked() {
                choice = Some(CloseChoice::Save);
            }
            if ui
                .button("Discard")
                .on_hover_text("Close without saving; the autosave is deleted too")
                .clicked()
            {
                choice = Some(CloseChoice::Discard);
            }
            if ui.button("Cancel").clicked() {
                choice = Some(CloseChoice::Cancel);
            }
        });
    });
    if choice.is_none() && response.should_close() {
        choice = Some(CloseChoice::Cancel);
    }
    choice
}

/// Offers to resume the autosaved run; returns the answer once given (`true`: resume).
pub fn resume_offer_ui(ctx: &egui::Context, summary: &AutosaveSummary) -> Option<bool> {
    let mut answer = None;
    let response = egui::Modal::new(egui::Id::unique("pixelcnn-resume")).show(ctx, |ui| {
        ui.set_max_width(420.0);
        ui.heading("Welcome back");
        ui.add(egui::Label::new(summary.question()).wrap());
        ui.add(
            egui::Label::new(
                "It was autosaved when the studio last closed or finished an epoch. A new run \
                 replaces it at its first epoch end.",
            )
            .wrap(),
        );
        ui.horizontal(|ui| {
            if ui.button("Resume it").clicked() {
                answer = Some(true);
            }
            if ui.button("Not now").clicked() {
                answer = Some(false);
            }
        });
    });
    if answer.is_none() && response.should_close() {
        answer = Some(false);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resume_question_names_the_epoch_and_the_test_cost() {
        let summary = AutosaveSummary {
            path: PathBuf::from("/x/autosave.safetensors"),
            epochs_done: 3,
            global_step: 1800,
            test_cost_nats_per_pixel: Some(0.09521),
        };
        assert_eq!(
            summary.question(),
            "Resume the last run (epoch 3, step 1,800, test 0.0952 nats/pixel)?"
        );
    }

    #[test]
    fn no_autosave_is_no_offer_and_a_broken_one_is_a_message() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("autosave.safetensors");
        assert_eq!(read_autosave(&missing), Ok(None));
        std::fs::write(&missing, b"junk").unwrap_or_else(|e| panic!("{e}"));
        let err = read_autosave(&missing).err().unwrap_or_default();
        assert!(err.contains("could not be read"), "{err}");
    }
}
