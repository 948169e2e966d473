//! Where each parameter lives in the one flat `f32` vector a candle device trains: a
//! convolution's weight gathered to its used taps as the `[taps * in, out]` matrix the device
//! multiplies by, every other tensor (biases, class biases) as stored. One vector means the
//! optimizer updates every parameter with a handful of whole-vector operations, and the layer
//! weights are views into it.
//!
//! Unused (masked-out) taps never reach the device: their stored values stay on the host, and
//! [`DeviceLayout::scatter`] leaves them as they are, so a checkpoint written after device
//! training holds exactly what CPU training would have written (zero for a fresh model).

use crate::model::arch::config::ModelConfig;
use crate::model::arch::conv_spec::ConvSpec;
use crate::model::arch::params::{ParamLayout, Params};

/// How one stored tensor is laid out on the device.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Form {
    /// As stored, row-major.
    AsStored,
    /// A convolution weight `[out, in, kh, kw]` as `[taps * in, out]`: device row `t * in + c`,
    /// column `o` holds stored `[o, c, taps[t]]` (the flat index of a used kernel tap).
    Gathered {
        taps: Vec<usize>,
        inputs: usize,
        outputs: usize,
        area: usize,
    },
}

/// One stored tensor's place in the flat device vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSlot {
    /// Stored name, e.g. `conv_b.0.weight`.
    pub name: String,
    /// First value in the flat vector.
    pub offset: usize,
    /// Values on the device.
    pub len: usize,
    /// Shape on the device (`[taps * in, out]` for a convolution weight).
    pub shape: Vec<usize>,
    /// Shape as stored.
    stored_shape: Vec<usize>,
    form: Form,
}

/// The flat device vector's layout: one slot per stored tensor, in [`ParamLayout`] order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceLayout {
    slots: Vec<DeviceSlot>,
    len: usize,
}

impl DeviceLayout {
    /// The layout of `cfg`'s parameters.
    pub fn new(cfg: &ModelConfig) -> DeviceLayout {
        let convs = cfg.convs();
        let (_, specs) = ParamLayout::new(cfg);
        let mut offset = 0;
        let slots = specs
            .into_iter()
            .map(|spec| {
                let conv = spec
                    .name
                    .strip_suffix(".weight")
                    .and_then(|prefix| convs.iter().find(|c| c.name == prefix));
                let (form, shape) = match conv {
                    Some(conv) => gathered(conv),
                    None => (Form::AsStored, spec.shape.clone()),
                };
                let len = shape.iter().product();
                let slot = DeviceSlot {
                    name: spec.name,
                    offset,
                    len,
                    shape,
                    stored_shape: spec.shape,
                    form,
                };
                offset += len;
                slot
            })
            .collect();
        DeviceLayout { slots, len: offset }
    }

    /// Values in the flat vector (used taps only).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the model has no parameters.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slots, in stored order.
    pub fn slots(&self) -> &[DeviceSlot] {
        &self.slots
    }

    /// The flat device vector of `params`.
    ///
    /// # Errors
    /// `params` does not have this layout's names and shapes.
    pub fn gather(&self, params: &Params) -> Result<Vec<f32>, String> {
        self.check(params)?;
        let mut flat = Vec::with_capacity(self.len);
        for (slot, tensor) in self.slots.iter().zip(&params.tensors) {
            match &slot.form {
                Form::AsStored => flat.extend_from_slice(&tensor.data),
                Form::Gathered {
                    taps,
                    inputs,
                    outputs,
                    area,
                } => {
                    for &tap in taps {
                        for c in 0..*inputs {
                            flat.extend(
                                (0..*outputs).map(|o| tensor.data[(o * inputs + c) * area + tap]),
                            );
                        }
                    }
                }
            }
        }
        Ok(flat)
    }

    /// Writes the flat device vector `flat` back into `params`; unused taps keep their values.
    ///
    /// # Errors
    /// `params` does not have this layout's names and shapes, or `flat` has the wrong length.
    pub fn scatter(&self, flat: &[f32], params: &mut Params) -> Result<(), String> {
        self.check(params)?;
        if flat.len() != self.len {
            return Err(format!(
                "the device holds {} parameter values where the model needs {}",
                flat.len(),
                self.len
            ));
        }
        for (slot, tensor) in self.slots.iter().zip(params.tensors.iter_mut()) {
            let values = &flat[slot.offset..slot.offset + slot.len];
            match &slot.form {
                Form::AsStored => tensor.data.copy_from_slice(values),
                Form::Gathered {
                    taps,
                    inputs,
                    outputs,
                    area,
                } => {
                    for (t, &tap) in taps.iter().enumerate() {
                        for c in 0..*inputs {
                            let row = &values[(t * inputs + c) * outputs..][..*outputs];
                            for (o, &v) in row.iter().enumerate() {
                                tensor.data[(o * inputs + c) * area + tap] = v;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn check(&self, params: &Params) -> Result<(), String> {
        if params.tensors.len() != self.slots.len() {
            return Err(format!(
                "the model has {} parameter tensors where {} were expected",
                params.tensors.len(),
                self.slots.len()
            ));
        }
        for (slot, tensor) in self.slots.iter().zip(&params.tensors) {
            if tensor.name != slot.name
                || tensor.shape != slot.stored_shape
                || tensor.data.len() != slot.stored_shape.iter().product::<usize>()
            {
                return Err(format!(
                    "parameter {} {:?} does not fit the model's {} {:?}",
                    tensor.name, tensor.shape, slot.name, slot.stored_shape
                ));
            }
        }
        Ok(())
    }
}

/// The gathered form and device shape of `conv`'s weight.
fn gathered(conv: &ConvSpec) -> (Form, Vec<usize>) {
    let taps: Vec<usize> = conv.taps.iter().map(|t| t.index).collect();
    let shape = vec![taps.len() * conv.in_channels, conv.out_channels];
    (
        Form::Gathered {
            taps,
            inputs: conv.in_channels,
            outputs: conv.out_channels,
            area: conv.kernel_area(),
        },
        shape,
    )
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn conv_weights_keep_only_their_used_taps_and_come_back_unchanged() {
        let cfg = ModelConfig {
            feature_maps: 4,
            ..ModelConfig::seed()
        };
        let mut params = Params::init(&cfg, &mut rand_chacha::ChaCha8Rng::seed_from_u64(2));
        let layout = DeviceLayout::new(&cfg);
        // conv_a: 24 of 49 taps of 1 input for 4 outputs; conv_b: 5 of 9 taps of 4 inputs.
        assert_eq!(layout.slots()[0].shape, vec![24, 4]);
        assert_eq!(layout.slots()[2].shape, vec![20, 4]);
        let stored = &params.tensors[2].data;
        let flat = layout.gather(&params).unwrap();
        // Row t * in + c, column o: tap 4 (the centre), input 1, output 3.
        let at = layout.slots()[2].offset + (4 * 4 + 1) * 4 + 3;
        assert_eq!(flat[at], stored[(3 * 4 + 1) * 9 + 4]);
        // A masked-out tap on the host survives a round trip; used values are replaced.
        params.tensors[2].data[8] = 7.0;
        let mut back = params.clone();
        back.tensors[2].data[0] = 99.0;
        layout.scatter(&flat, &mut back).unwrap();
        assert_eq!(back, params);
        assert_eq!(
            layout.len(),
            params.len() - 4 * 25 - 2 * 4 * 4 * 4,
            "the masked taps of conv_a and both conv_b layers stay on the host"
        );
    }

    #[test]
    fn a_foreign_model_is_refused() {
        let layout = DeviceLayout::new(&ModelConfig::seed());
        let other = Params::zeros(&ModelConfig::gated());
        assert!(layout.gather(&other).is_err());
        let mut mine = Params::zeros(&ModelConfig::seed());
        assert!(layout.scatter(&[0.0; 3], &mut mine).is_err());
    }
}
