//! The questions the studio asks before losing or replacing anything: discard a model that
//! lives nowhere else (Reset, Open), replace an existing file (Save checkpoint as...), delete a
//! run, keep or discard the run before closing (Save / Discard / Cancel), and, at launch,
//! resume a crashed run, with what is true about it.

use std::path::PathBuf;

use super::curves::CostUnit;
use super::runs::cost_text;
use super::status::thousands;
use crate::run::clock::{age_text, utc_text};
use crate::run::watch::last_written_ms;
use crate::run::RunSummary;

/// A question before something is lost or replaced.
#[derive(Clone, Debug, PartialEq)]
pub enum Confirm {
    /// Reset was pressed for a trained model that has no run folder.
    Reset,
    /// Open was asked for (with the path, or a dialog to come) over a trained model that has
    /// no run folder.
    Open(Option<PathBuf>),
    /// A run folder was asked to be opened (or resumed) over a trained model that has no run
    /// folder.
    OpenRun {
        /// The run folder.
        dir: PathBuf,
        /// Continue training it once open.
        resume: bool,
    },
    /// "Save checkpoint as..." would replace this existing file.
    Replace(PathBuf),
    /// Delete this run's folder.
    DeleteRun {
        /// The run folder.
        dir: PathBuf,
        /// Its name.
        name: String,
    },
}

/// The answer to the close prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseChoice {
    /// Keep the model: its run folder (written one last time), or a checkpoint file where
    /// there is no run folder; then close.
    Save,
    /// Close and throw the model away (its run folder too).
    Discard,
    /// Stay open.
    Cancel,
}

/// A crashed run offered for resuming at launch, with what is true about it.
#[derive(Clone, Debug, PartialEq)]
pub struct ResumeOffer {
    /// The run folder.
    pub dir: PathBuf,
    /// The run's name.
    pub name: String,
    /// Completed epochs in its checkpoint.
    pub epochs_done: usize,
    /// Steps in its checkpoint (where it resumes).
    pub checkpoint_step: u64,
    /// Steps it had reached when its writer was last heard of.
    pub last_step: u64,
    /// Test cost after the last completed epoch, nats per pixel.
    pub test_cost_nats_per_pixel: Option<f64>,
    /// When the run was last written, ms since the Unix epoch.
    pub last_written_unix_ms: u64,
    /// Why it counts as crashed.
    pub why: Option<String>,
}

impl ResumeOffer {
    /// The offer for a crashed run.
    pub fn from_summary(run: &RunSummary) -> ResumeOffer {
        let status = &run.status;
        ResumeOffer {
            dir: run.dir.clone(),
            name: run.name(),
            epochs_done: status.checkpoint_epochs_done.unwrap_or(status.epochs_done),
            checkpoint_step: status.checkpoint_step.unwrap_or(status.global_step),
            last_step: status.global_step,
            test_cost_nats_per_pixel: status.last_test_cost_nats_per_pixel,
            last_written_unix_ms: last_written_ms(run),
            why: run.why.clone(),
        }
    }

    /// The question the launch asks, the test cost in `unit`; `now_unix_ms` for the age.
    pub fn question(&self, unit: CostUnit, now_unix_ms: u64) -> String {
        let test = self.test_cost_nats_per_pixel.map_or_else(String::new, |t| {
            format!(", test {}", cost_text(Some(t), unit))
        });
        let age = age_text(now_unix_ms.saturating_sub(self.last_written_unix_ms) as f64 / 1000.0);
        format!(
            "Resume the crashed run {} (epoch {}, step {}{test})? It was last written {} ({age}).",
            self.name,
            self.epochs_done,
            thousands(self.checkpoint_step),
            utc_text(self.last_written_unix_ms)
        )
    }

    /// What the question leaves out: the steps lost, and why the run counts as crashed.
    pub fn details(&self) -> String {
        let lost = if self.last_step > self.checkpoint_step {
            format!(
                "It had reached step {}; it resumes from its last checkpoint. ",
                thousands(self.last_step)
            )
        } else {
            String::new()
        };
        match &self.why {
            Some(why) => format!("{lost}It stopped without saying so: {why}."),
            None => lost,
        }
    }
}

/// Asks `confirm`; returns the answer once given (`true`: go ahead).
pub fn confirm_ui(ctx: &egui::Context, confirm: &Confirm) -> Option<bool> {
    let (heading, question, yes) = match confirm {
        Confirm::Reset => (
            "Are you sure?",
            "Discard the trained model and its history?".to_string(),
            "Yes, discard it",
        ),
        Confirm::Open(_) | Confirm::OpenRun { .. } => (
            "Are you sure?",
            "Replace the trained model? It has no run folder: unsaved training is lost."
                .to_string(),
            "Yes, discard it",
        ),
        Confirm::Replace(path) => (
            "Replace the file?",
            format!(
                "{} exists. Replace it with this model's checkpoint?",
                path.display()
            ),
            "Replace it",
        ),
        Confirm::DeleteRun { name, .. } => (
            "Delete the run?",
            format!("Delete the run {name}? Its folder, checkpoint and grids are removed."),
            "Yes, delete it",
        ),
    };
    let mut answer = None;
    let response = egui::Modal::new(egui::Id::unique("pixelcnn-confirm")).show(ctx, |ui| {
        ui.set_max_width(420.0);
        ui.heading(heading);
        ui.add(egui::Label::new(question).wrap());
        ui.horizontal(|ui| {
            if ui.button(yes).clicked() {
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

/// What the close prompt says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosePrompt {
    /// The heading.
    pub heading: String,
    /// The explanation.
    pub text: String,
    /// The tooltip of Discard.
    pub discard_hint: String,
}

/// Asks what to do with the model's training before closing; returns the choice once made.
pub fn close_prompt_ui(ctx: &egui::Context, prompt: &ClosePrompt) -> Option<CloseChoice> {
    let mut choice = None;
    let response = egui::Modal::new(egui::Id::unique("pixelcnn-close")).show(ctx, |ui| {
        ui.set_max_width(440.0);
        ui.heading(&prompt.heading);
        ui.add(egui::Label::new(&prompt.text).wrap());
        ui.horizontal(|ui| {
            if ui.button("Save").clicked() {
                choice = Some(CloseChoice::Save);
            }
            if ui
                .button("Discard")
                .on_hover_text(&prompt.discard_hint)
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

/// Offers to resume a crashed run, its test cost in `unit`; returns the answer once given
/// (`true`: resume).
pub fn resume_offer_ui(ctx: &egui::Context, offer: &ResumeOffer, unit: CostUnit) -> Option<bool> {
    let mut answer = None;
    let now = crate::run::clock::now_unix_ms();
    let response = egui::Modal::new(egui::Id::unique("pixelcnn-resume")).show(ctx, |ui| {
        ui.set_max_width(440.0);
        ui.heading("Welcome back");
        ui.add(egui::Label::new(offer.question(unit, now)).wrap());
        let details = offer.details();
        if !details.is_empty() {
            ui.add(egui::Label::new(details).wrap());
        }
        ui.add(egui::Label::new("Every run stays in File > Runs..., whatever you answer.").wrap());
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
    fn the_resume_question_says_what_is_true_in_the_chosen_unit() {
        let written = (20_576 * 86_400 + 15 * 3600 + 42 * 60 + 10) * 1000;
        let offer = ResumeOffer {
            dir: PathBuf::from("/runs/20260503-150000-gated-3f9a2c"),
            name: "20260503-150000-gated-3f9a2c".into(),
            epochs_done: 3,
            checkpoint_step: 1800,
            last_step: 1830,
            test_cost_nats_per_pixel: Some(0.1),
            last_written_unix_ms: written,
            why: Some("its writer, studio (pid 7) on box, is gone".into()),
        };
        assert_eq!(
            offer.question(CostUnit::NatsPerImage, written + 300_000),
            "Resume the crashed run 20260503-150000-gated-3f9a2c (epoch 3, step 1,800, test \
             78.4000 nats/image)? It was last written 2026-05-03 15:42:10 UTC (5 min ago)."
        );
        assert!(offer
            .question(CostUnit::BitsPerDim, written)
            .contains("test 0.1443 bits/dim"));
        assert_eq!(
            offer.details(),
            "It had reached step 1,830; it resumes from its last checkpoint. It stopped \
             without saying so: its writer, studio (pid 7) on box, is gone."
        );
    }
}
