//! The learning-rate schedule: constant (how every run trained before schedules), or warm-up
//! then a cosine decay to the end of the run's budget, the epochs asked for or, with a time limit
//! (`train --time-limit`), that much wall clock.
//!
//! The schedule reads its position in the budget, a fraction from 0 to 1, from the run's
//! position ([`super::RunPosition::schedule_progress`]), which every step advances and every
//! checkpoint records: with an epoch budget it is the steps done over the steps of all the
//! epochs; with a time budget each step adds the wall clock since the one before over the time
//! left when the run (or its resume) began, so a resumed run carries on from where the
//! interrupted one was and ends its decay at its own time limit.

use serde::{Deserialize, Serialize};

/// How the learning rate moves over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LrSchedule {
    /// The learning rate asked for, at every step.
    #[default]
    Constant,
    /// A linear warm-up from near 0 over the first `warmup_steps` steps, then a cosine decay
    /// from the learning rate asked for down to `floor` times it at the end of the budget.
    WarmupCosine {
        /// Steps of the linear warm-up.
        warmup_steps: u32,
        /// The last learning rate as a fraction of the peak (0 to 1).
        floor: f32,
    },
}

impl LrSchedule {
    /// The schedule `train --lr-schedule cosine` uses: 20 steps of warm-up, decay to 0.
    pub const COSINE: LrSchedule = LrSchedule::WarmupCosine {
        warmup_steps: 20,
        floor: 0.0,
    };

    /// Parses `constant` or `cosine`.
    pub fn parse(name: &str) -> Result<LrSchedule, String> {
        match name {
            "constant" => Ok(LrSchedule::Constant),
            "cosine" => Ok(LrSchedule::COSINE),
            other => Err(format!(
                "unknown learning-rate schedule '{other}': use constant or cosine"
            )),
        }
    }

    /// The learning rate of the step after `steps_done` steps, at `progress` (0 to 1) through
    /// the budget, for a peak of `peak`.
    pub fn learning_rate(&self, peak: f64, steps_done: u64, progress: f64) -> f64 {
        match *self {
            LrSchedule::Constant => peak,
            LrSchedule::WarmupCosine {
                warmup_steps,
                floor,
            } => {
                if steps_done < u64::from(warmup_steps) {
                    return peak * (steps_done + 1) as f64 / f64::from(warmup_steps);
                }
                let q = progress.clamp(0.0, 1.0);
                let f = 0.5 * (1.0 + (std::f64::consts::PI * q).cos());
                let floor = f64::from(floor);
                peak * (floor + (1.0 - floor) * f)
            }
        }
    }

    /// Whether the settings are usable.
    pub fn is_valid(&self) -> bool {
        match *self {
            LrSchedule::Constant => true,
            LrSchedule::WarmupCosine {
                warmup_steps,
                floor,
            } => warmup_steps <= 1_000_000 && (0.0..=1.0).contains(&floor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_warms_up_then_decays_to_its_floor_at_the_end_of_the_budget() {
        let schedule = LrSchedule::COSINE;
        assert_eq!(schedule.learning_rate(3e-3, 0, 0.0), 3e-3 / 20.0);
        assert_eq!(schedule.learning_rate(3e-3, 19, 0.01), 3e-3);
        assert_eq!(schedule.learning_rate(3e-3, 20, 0.0), 3e-3);
        assert!((schedule.learning_rate(3e-3, 100, 0.5) - 1.5e-3).abs() < 1e-12);
        assert!(schedule.learning_rate(3e-3, 400, 1.0).abs() < 1e-12);
        assert_eq!(LrSchedule::Constant.learning_rate(1e-3, 5, 0.9), 1e-3);
        assert_eq!(LrSchedule::parse("cosine"), Ok(LrSchedule::COSINE));
        assert!(LrSchedule::parse("linear").is_err());
        let json = serde_json::to_string(&LrSchedule::COSINE).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"warmup_cosine","warmup_steps":20,"floor":0.0}"#
        );
    }
}
