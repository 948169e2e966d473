//! Adam with its moments and step count in the open, so a checkpoint can save and restore them,
//! and the gradient clipping that comes before each update. The same update on a candle device
//! is [`crate::model::DeviceAdam`], which takes its per-step scalars from
//! [`AdamConfig::scalars`].

use serde::{Deserialize, Serialize};

use crate::model::{AdamScalars, Params};

/// Gradient values are clamped to `[-GRADIENT_CLIP, GRADIENT_CLIP]` before each update, as the
/// reference does ([`clip_gradients`]).
pub const GRADIENT_CLIP: f32 = 1.0;

/// Adam's hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate.
    pub learning_rate: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator guard.
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Adam (Kingma & Ba 2015) over [`Params`].
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    /// Hyper-parameters.
    pub config: AdamConfig,
    /// Updates applied so far.
    pub step_count: u64,
    /// First moments, shaped like the parameters.
    pub first_moment: Params,
    /// Second moments, shaped like the parameters.
    pub second_moment: Params,
}

impl Adam {
    /// Fresh state (zero moments) for `params`.
    pub fn new(params: &Params, config: AdamConfig) -> Adam {
        Adam {
            config,
            step_count: 0,
            first_moment: params.zeros_like(),
            second_moment: params.zeros_like(),
        }
    }

    /// Applies one update of `grads` to `params`, unconditionally (see [`Adam::try_step`]).
    pub fn step(&mut self, params: &mut Params, grads: &Params) {
        self.step_count += 1;
        let scalars = self.config.scalars(self.step_count);
        for (((p, g), m), v) in params
            .tensors
            .iter_mut()
            .zip(&grads.tensors)
            .zip(self.first_moment.tensors.iter_mut())
            .zip(self.second_moment.tensors.iter_mut())
        {
            let values = p.data.iter_mut().zip(&g.data);
            for ((value, &grad), (m, v)) in values.zip(m.data.iter_mut().zip(v.data.iter_mut())) {
                (*value, *m, *v) = update(&scalars, *value, grad, *m, *v);
            }
        }
    }

    /// Applies one update only if every new weight and moment is finite; otherwise changes
    /// nothing (not even the step count) and says so. A moment near `f32::MAX` (from a damaged
    /// checkpoint, say) would otherwise turn weights into infinities that no later step undoes.
    pub fn try_step(&mut self, params: &mut Params, grads: &Params) -> Result<(), NonFiniteUpdate> {
        let scalars = self.config.scalars(self.step_count + 1);
        let tensors = params.tensors.iter().zip(&grads.tensors).zip(
            self.first_moment
                .tensors
                .iter()
                .zip(&self.second_moment.tensors),
        );
        for ((p, g), (m, v)) in tensors {
            let values = p.data.iter().zip(&g.data).zip(m.data.iter().zip(&v.data));
            for ((&value, &grad), (&m, &v)) in values {
                let (value, m, v) = update(&scalars, value, grad, m, v);
                if !(value.is_finite() && m.is_finite() && v.is_finite()) {
                    return Err(NonFiniteUpdate {
                        tensor: p.name.clone(),
                    });
                }
            }
        }
        self.step(params, grads);
        Ok(())
    }
}

/// An Adam update that would have made a weight or moment NaN or infinite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonFiniteUpdate {
    /// The first parameter tensor concerned.
    pub tensor: String,
}

impl AdamConfig {
    /// The f32 scalars of update number `step` (counted from 1), for the host update and
    /// [`crate::model::DeviceAdam`] alike.
    pub fn scalars(&self, step: u64) -> AdamScalars {
        let t = i32::try_from(step).unwrap_or(i32::MAX);
        AdamScalars {
            step_size: (self.learning_rate / (1.0 - self.beta1.powi(t))) as f32,
            v_correction: (1.0 - self.beta2.powi(t)).sqrt() as f32,
            beta1: self.beta1 as f32,
            beta2: self.beta2 as f32,
            eps: self.eps as f32,
        }
    }
}

/// The update of one value under the scalars `s`: the new `(value, m, v)` (the same arithmetic
/// for [`Adam::step`] and the check of [`Adam::try_step`]).
#[inline]
fn update(s: &AdamScalars, value: f32, grad: f32, m: f32, v: f32) -> (f32, f32, f32) {
    let m = s.beta1 * m + (1.0 - s.beta1) * grad;
    let v = s.beta2 * v + (1.0 - s.beta2) * grad * grad;
    (
        value - s.step_size * m / (v.sqrt() / s.v_correction + s.eps),
        m,
        v,
    )
}

/// Clamps every gradient value to `[-limit, limit]` (the reference clips to 1).
pub fn clip_gradients(grads: &mut Params, limit: f32) {
    for t in &mut grads.tensors {
        for g in &mut t.data {
            *g = g.clamp(-limit, limit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NamedTensor;

    fn one(value: f32) -> Params {
        Params {
            tensors: vec![NamedTensor {
                name: "w".into(),
                shape: vec![1],
                data: vec![value],
            }],
        }
    }

    #[test]
    fn first_adam_step_moves_each_weight_by_the_learning_rate_against_the_gradient_sign() {
        let mut params = one(1.0);
        let mut adam = Adam::new(&params, AdamConfig::default());
        adam.step(&mut params, &one(0.5));
        assert!((params.tensors[0].data[0] - (1.0 - 1e-3)).abs() < 1e-6);
        assert_eq!(adam.step_count, 1);
        assert!((adam.first_moment.tensors[0].data[0] - 0.05).abs() < 1e-7);
    }

    #[test]
    fn an_update_that_would_overflow_changes_nothing() {
        let mut params = one(1.0);
        let mut adam = Adam::new(&params, AdamConfig::default());
        // A first moment at f32::MAX (finite, so a checkpoint may hold it) and a zero gradient
        // (a masked-out tap): the step divides the moment by eps and the weight becomes -inf.
        adam.first_moment.tensors[0].data[0] = f32::MAX;
        let before = (params.clone(), adam.clone());
        let err = adam.try_step(&mut params, &one(0.0)).unwrap_err();
        assert_eq!(err.tensor, "w");
        assert_eq!((params.clone(), adam.clone()), before);
        // The unchecked step does overflow, which is what the check is for.
        adam.step(&mut params, &one(0.0));
        assert!(params.tensors[0].data[0].is_infinite());
    }

    #[test]
    fn a_checked_step_is_the_same_as_an_unchecked_one() {
        let (mut a, mut b) = (one(1.0), one(1.0));
        let (mut adam_a, mut adam_b) = (
            Adam::new(&a, AdamConfig::default()),
            Adam::new(&b, AdamConfig::default()),
        );
        for grad in [0.5, -0.25, 0.125] {
            adam_a.try_step(&mut a, &one(grad)).unwrap();
            adam_b.step(&mut b, &one(grad));
        }
        assert_eq!((a, adam_a), (b, adam_b));
    }

    #[test]
    fn clipping_bounds_gradients() {
        let mut g = one(7.0);
        clip_gradients(&mut g, 1.0);
        assert_eq!(g.tensors[0].data[0], 1.0);
    }
}
