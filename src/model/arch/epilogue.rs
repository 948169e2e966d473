//! What follows a layer's convolution, as data: the bias, an activation (none, ReLU or the gate
//! `tanh(a) * sigmoid(b)`) and an optional residual. The CPU networks apply it to rows
//! (`cpu/epilogue.rs`), the device and reference networks to candle tensors
//! (`device/epilogue.rs`).

use super::plain_spec::LayerSpec;

/// The nonlinearity of an epilogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// None.
    Identity,
    /// `max(z, 0)`.
    Relu,
    /// `tanh(z[..c]) * sigmoid(z[c..])` over a `2c`-channel input, giving `c` channels.
    Gate,
}

/// Bias, activation and residual after a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epilogue {
    /// The nonlinearity.
    pub activation: Activation,
    /// Whether the layer's input is added to the result (`x + f(x)`).
    pub residual: bool,
}

impl Epilogue {
    /// Bias only.
    pub const LINEAR: Epilogue = Epilogue {
        activation: Activation::Identity,
        residual: false,
    };
    /// Bias, then ReLU.
    pub const RELU: Epilogue = Epilogue {
        activation: Activation::Relu,
        residual: false,
    };
    /// Bias, then the gate.
    pub const GATE: Epilogue = Epilogue {
        activation: Activation::Gate,
        residual: false,
    };

    /// The epilogue of a plain layer: its ReLU and residual connection.
    pub fn of_layer(spec: &LayerSpec) -> Epilogue {
        Epilogue {
            activation: if spec.relu {
                Activation::Relu
            } else {
                Activation::Identity
            },
            residual: spec.residual,
        }
    }
}
