//! Weight averaging: an exponential moving average of the weights (Polyak averaging), kept
//! beside the trained weights and used for the test cost and for sampling. After optimizer step
//! `k` (1, 2, ...) the average moves towards the weights by `1 - d_k`, with the decay warming up
//! as `d_k = min(D, (1 + k) / (10 + k))` (so the first steps are not averaged in for long), and
//! starts from the initial weights. With the short windows that pay in a ten-minute run
//! (D about 0.95: some 20 steps), the average is the model of the last few dozen steps without
//! their noise.

use serde::{Deserialize, Serialize};

use crate::model::Params;

/// The decay the studio and `train` average with unless told otherwise (README, "Digits").
pub const DEFAULT_AVERAGING_DECAY: f32 = 0.95;

/// How the weights are averaged: the longest decay `D` of the warm-up schedule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WeightAveraging {
    /// `D`, in `(0, 1)`: the average's window is about `1 / (1 - D)` steps once warmed up.
    pub decay: f32,
}

impl Default for WeightAveraging {
    fn default() -> Self {
        WeightAveraging {
            decay: DEFAULT_AVERAGING_DECAY,
        }
    }
}

impl WeightAveraging {
    /// The decay of step `step` (counting from 1): `min(D, (1 + k) / (10 + k))`.
    pub fn decay_at(&self, step: u64) -> f64 {
        let k = step as f64;
        f64::from(self.decay).min((1.0 + k) / (10.0 + k))
    }

    /// The share of the new weights after step `step`, `1 - d_k`, as the f32 both paths use.
    pub fn weight_at(&self, step: u64) -> f32 {
        (1.0 - self.decay_at(step)) as f32
    }

    /// Whether the decay is usable: in `(0, 1)`.
    pub fn is_valid(&self) -> bool {
        self.decay > 0.0 && self.decay < 1.0
    }
}

/// `averaged += weight * (params - averaged)`, value by value (the arithmetic the device path
/// repeats: a difference, a product, a sum, in f32).
pub fn update_average(averaged: &mut Params, params: &Params, weight: f32) {
    for (a, p) in averaged.tensors.iter_mut().zip(&params.tensors) {
        for (a, &p) in a.data.iter_mut().zip(&p.data) {
            *a += (p - *a) * weight;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decay_warms_up_then_holds_at_its_limit() {
        let averaging = WeightAveraging { decay: 0.95 };
        assert!((averaging.decay_at(1) - 2.0 / 11.0).abs() < 1e-15);
        assert!((averaging.decay_at(100) - 101.0 / 110.0).abs() < 1e-15);
        assert_eq!(averaging.decay_at(171), f64::from(0.95f32));
        assert_eq!(averaging.decay_at(10_000), f64::from(0.95f32));
        assert!(!WeightAveraging { decay: 1.0 }.is_valid());
        assert!(WeightAveraging::default().is_valid());
    }

    #[test]
    fn the_average_moves_towards_the_weights_by_its_share() {
        let cfg = crate::model::ModelConfig::seed();
        let mut averaged = Params::zeros(&cfg);
        let mut params = Params::zeros(&cfg);
        params.tensors[0].data.fill(2.0);
        update_average(&mut averaged, &params, 0.25);
        assert!(averaged.tensors[0].data.iter().all(|&v| v == 0.5));
        update_average(&mut averaged, &params, 1.0);
        assert!(averaged.tensors[0].data.iter().all(|&v| v == 2.0));
    }
}
