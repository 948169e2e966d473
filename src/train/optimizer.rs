//! Adam with its moments and step count in the open, so a checkpoint can save and restore them;
//! and the same update on a candle device ([`DeviceAdam`]), over one flat parameter vector, for
//! training that keeps everything on a GPU.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::model::Params;

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
        let update = Update::new(&self.config, self.step_count);
        for (((p, g), m), v) in params
            .tensors
            .iter_mut()
            .zip(&grads.tensors)
            .zip(self.first_moment.tensors.iter_mut())
            .zip(self.second_moment.tensors.iter_mut())
        {
            let values = p.data.iter_mut().zip(&g.data);
            for ((value, &grad), (m, v)) in values.zip(m.data.iter_mut().zip(v.data.iter_mut())) {
                (*value, *m, *v) = update.apply(*value, grad, *m, *v);
            }
        }
    }

    /// Applies one update only if every new weight and moment is finite; otherwise changes
    /// nothing (not even the step count) and says so. A moment near `f32::MAX` (from a damaged
    /// checkpoint, say) would otherwise turn weights into infinities that no later step undoes.
    pub fn try_step(&mut self, params: &mut Params, grads: &Params) -> Result<(), NonFiniteUpdate> {
        let update = Update::new(&self.config, self.step_count + 1);
        let tensors = params.tensors.iter().zip(&grads.tensors).zip(
            self.first_moment
                .tensors
                .iter()
                .zip(&self.second_moment.tensors),
        );
        for ((p, g), (m, v)) in tensors {
            let values = p.data.iter().zip(&g.data).zip(m.data.iter().zip(&v.data));
            for ((&value, &grad), (&m, &v)) in values {
                let (value, m, v) = update.apply(value, grad, m, v);
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

/// The constants of update number `t`, and the update of one value (the same arithmetic for
/// [`Adam::step`] and the check of [`Adam::try_step`]).
struct Update {
    step_size: f32,
    v_correction: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
}

impl Update {
    fn new(config: &AdamConfig, step: u64) -> Update {
        let t = i32::try_from(step).unwrap_or(i32::MAX);
        Update {
            step_size: (config.learning_rate / (1.0 - config.beta1.powi(t))) as f32,
            v_correction: (1.0 - config.beta2.powi(t)).sqrt() as f32,
            beta1: config.beta1 as f32,
            beta2: config.beta2 as f32,
            eps: config.eps as f32,
        }
    }

    /// The new `(value, m, v)`.
    #[inline]
    fn apply(&self, value: f32, grad: f32, m: f32, v: f32) -> (f32, f32, f32) {
        let m = self.beta1 * m + (1.0 - self.beta1) * grad;
        let v = self.beta2 * v + (1.0 - self.beta2) * grad * grad;
        (
            value - self.step_size * m / (v.sqrt() / self.v_correction + self.eps),
            m,
            v,
        )
    }
}

/// Adam's moments on a candle device, each one flat vector shaped like a device parameter vector:
/// the arithmetic of [`Adam::step`] and [`clip_gradients`] as a few whole-vector operations.
/// The step count and the hyper-parameters stay with the host [`Adam`].
#[derive(Clone, Debug)]
pub struct DeviceAdam {
    first_moment: Tensor,
    second_moment: Tensor,
    /// `[1]` tensors holding `-limit` and `limit` of the gradient clipping.
    clip_bounds: (Tensor, Tensor),
}

impl DeviceAdam {
    /// Moments from flat vectors already on the device; gradients are clipped to `[-clip, clip]`.
    ///
    /// # Errors
    /// The two moments differ in shape, or the bounds cannot be placed on their device.
    pub fn new(
        first_moment: Tensor,
        second_moment: Tensor,
        clip: f32,
    ) -> candle_core::Result<DeviceAdam> {
        if first_moment.dims() != second_moment.dims() {
            candle_core::bail!(
                "Adam's moments differ in shape: {:?} and {:?}",
                first_moment.dims(),
                second_moment.dims()
            );
        }
        let device = first_moment.device().clone();
        let clip_bounds = (
            Tensor::from_vec(vec![-clip], 1, &device)?,
            Tensor::from_vec(vec![clip], 1, &device)?,
        );
        Ok(DeviceAdam {
            first_moment,
            second_moment,
            clip_bounds,
        })
    }

    /// Zero moments for `len` parameters on `device`.
    pub fn zeros(len: usize, device: &Device, clip: f32) -> candle_core::Result<DeviceAdam> {
        let zeros = Tensor::zeros(len, candle_core::DType::F32, device)?;
        DeviceAdam::new(zeros.clone(), zeros, clip)
    }

    /// The first and second moments.
    pub fn moments(&self) -> (&Tensor, &Tensor) {
        (&self.first_moment, &self.second_moment)
    }

    /// Clips `grads` and returns `params` after one update, the `step`-th (counted from 1), with
    /// the hyper-parameters of `config`: `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
    /// `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`, in f32 as on the host.
    pub fn step(
        &mut self,
        params: &Tensor,
        grads: &Tensor,
        config: &AdamConfig,
        step: u64,
    ) -> candle_core::Result<Tensor> {
        let shape = grads.shape();
        let (low, high) = &self.clip_bounds;
        let g = grads
            .maximum(&low.broadcast_as(shape)?)?
            .minimum(&high.broadcast_as(shape)?)?;
        let t = i32::try_from(step).unwrap_or(i32::MAX);
        let step_size = (config.learning_rate / (1.0 - config.beta1.powi(t))) as f32;
        let v_correction = (1.0 - config.beta2.powi(t)).sqrt() as f32;
        let (beta1, beta2, eps) = (config.beta1 as f32, config.beta2 as f32, config.eps as f32);
        let f = f64::from;
        self.first_moment =
            (self.first_moment.affine(f(beta1), 0.0)? + g.affine(f(1.0 - beta1), 0.0)?)?;
        self.second_moment =
            (self.second_moment.affine(f(beta2), 0.0)? + g.sqr()?.affine(f(1.0 - beta2), 0.0)?)?;
        let denominator = self
            .second_moment
            .sqrt()?
            .affine(f(1.0 / v_correction), f(eps))?;
        params - (self.first_moment.affine(f(step_size), 0.0)? / denominator)?
    }
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
