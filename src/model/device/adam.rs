//! Adam's update on a candle device: the moments as two flat vectors shaped like the device
//! network's parameter vector, the clipping and the update as a few whole-vector operations.
//! The step count and the hyper-parameters stay with the host optimizer (`train::Adam`), which
//! hands each step its scalars ([`AdamScalars`]).

use candle_core::{Device, Tensor};

/// The f32 scalars of one Adam update, number `t` (counted from 1): what the host optimizer
/// computes from its hyper-parameters (`train::AdamConfig::scalars`) for its own update and
/// this one alike.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamScalars {
    /// `learning_rate / (1 - beta1^t)`.
    pub step_size: f32,
    /// `sqrt(1 - beta2^t)`.
    pub v_correction: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator guard.
    pub eps: f32,
}

/// Adam's moments on a candle device, each one flat vector shaped like a device parameter vector:
/// the arithmetic of the host Adam's step and its gradient clipping as a few whole-vector
/// operations.
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

    /// Clips `grads` and returns `params` after one update with the scalars `s`:
    /// `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
    /// `p -= step_size * m / (sqrt(v) / v_correction + eps)`, in f32 as on the host.
    pub fn step(
        &mut self,
        params: &Tensor,
        grads: &Tensor,
        s: &AdamScalars,
    ) -> candle_core::Result<Tensor> {
        let shape = grads.shape();
        let (low, high) = &self.clip_bounds;
        let g = grads
            .maximum(&low.broadcast_as(shape)?)?
            .minimum(&high.broadcast_as(shape)?)?;
        let (beta1, beta2) = (s.beta1, s.beta2);
        let f = f64::from;
        self.first_moment =
            (self.first_moment.affine(f(beta1), 0.0)? + g.affine(f(1.0 - beta1), 0.0)?)?;
        self.second_moment =
            (self.second_moment.affine(f(beta2), 0.0)? + g.sqr()?.affine(f(1.0 - beta2), 0.0)?)?;
        let denominator = self
            .second_moment
            .sqrt()?
            .affine(f(1.0 / s.v_correction), f(s.eps))?;
        params - (self.first_moment.affine(f(s.step_size), 0.0)? / denominator)?
    }
}
