//! The candle half of a layer's epilogue ([`Epilogue`]): bias, activation and residual on
//! tensors, for the device network, the device sampler and the candle reference.

use candle_core::{Result, Tensor};

use crate::model::arch::epilogue::{Activation, Epilogue};

impl Epilogue {
    /// Applies the epilogue to candle tensors `[batch, channels, h, w]`: `bias` broadcasts
    /// (e.g. `[1, c, 1, 1]` or a per-image `[batch, c, 1, 1]`), `residual` has the output's
    /// shape.
    pub fn apply_tensor(
        &self,
        pre: &Tensor,
        bias: Option<&Tensor>,
        residual: Option<&Tensor>,
    ) -> Result<Tensor> {
        let z = match bias {
            Some(b) => pre.broadcast_add(b)?,
            None => pre.clone(),
        };
        let y = match self.activation {
            Activation::Identity => z,
            Activation::Relu => z.relu()?,
            Activation::Gate => {
                let c = z.dim(1)? / 2;
                let a = z.narrow(1, 0, c)?;
                let b = z.narrow(1, c, c)?;
                (a.tanh()? * candle_nn::ops::sigmoid(&b)?)?
            }
        };
        match (self.residual, residual) {
            (true, Some(r)) => y + r,
            _ => Ok(y),
        }
    }
}
