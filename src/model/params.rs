//! The trainable parameters as plain named f32 tensors, and their Xavier initialisation.

use rand::Rng;

use super::config::{LayerSpec, ModelConfig};

/// One named parameter tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Checkpoint key, e.g. `conv_b.0.weight`.
    pub name: String,
    /// Shape, e.g. `[64, 64, 3, 3]`.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

/// All parameters of a model: for each layer, its weight then its bias.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Tensors in layer order, `weight` before `bias`.
    pub tensors: Vec<NamedTensor>,
}

impl Params {
    /// Xavier-uniform weights (masked taps set to zero) and zero biases, drawn from `rng`.
    pub fn init<R: Rng>(cfg: &ModelConfig, rng: &mut R) -> Params {
        let mut tensors = Vec::new();
        for layer in cfg.layers() {
            tensors.push(init_weight(&layer, rng));
            tensors.push(NamedTensor {
                name: format!("{}.bias", layer.name),
                shape: vec![layer.out_channels],
                data: vec![0.0; layer.out_channels],
            });
        }
        Params { tensors }
    }

    /// The names and shapes `cfg` needs, all values zero.
    pub fn zeros(cfg: &ModelConfig) -> Params {
        let tensors = cfg
            .layers()
            .into_iter()
            .flat_map(|layer| {
                let shape = layer.weight_shape().to_vec();
                [
                    NamedTensor {
                        name: format!("{}.weight", layer.name),
                        data: vec![0.0; shape.iter().product()],
                        shape,
                    },
                    NamedTensor {
                        name: format!("{}.bias", layer.name),
                        shape: vec![layer.out_channels],
                        data: vec![0.0; layer.out_channels],
                    },
                ]
            })
            .collect();
        Params { tensors }
    }

    /// The same names and shapes, all values zero.
    pub fn zeros_like(&self) -> Params {
        Params {
            tensors: self
                .tensors
                .iter()
                .map(|t| NamedTensor {
                    name: t.name.clone(),
                    shape: t.shape.clone(),
                    data: vec![0.0; t.data.len()],
                })
                .collect(),
        }
    }

    /// Weight and bias of layer `index` (layer order of [`ModelConfig::layers`]).
    pub fn layer(&self, index: usize) -> (&NamedTensor, &NamedTensor) {
        (&self.tensors[2 * index], &self.tensors[2 * index + 1])
    }

    /// Mutable weight and bias of layer `index`.
    pub fn layer_mut(&mut self, index: usize) -> (&mut NamedTensor, &mut NamedTensor) {
        let (weights, biases) = self.tensors.split_at_mut(2 * index + 1);
        (&mut weights[2 * index], &mut biases[0])
    }

    /// Whether every value is finite.
    pub fn all_finite(&self) -> bool {
        self.tensors
            .iter()
            .all(|t| t.data.iter().all(|v| v.is_finite()))
    }

    /// Sets every value to zero.
    pub fn fill_zero(&mut self) {
        for t in &mut self.tensors {
            t.data.fill(0.0);
        }
    }

    /// Total number of values.
    pub fn len(&self) -> usize {
        self.tensors.iter().map(|t| t.data.len()).sum()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn init_weight<R: Rng>(layer: &LayerSpec, rng: &mut R) -> NamedTensor {
    let shape = layer.weight_shape();
    let [out_c, in_c, k, _] = shape;
    let fan_in = (in_c * k * k) as f32;
    let fan_out = (out_c * k * k) as f32;
    let bound = (6.0 / (fan_in + fan_out)).sqrt();
    let mask = layer.mask().as_f32();
    let mut data = Vec::with_capacity(shape.iter().product());
    for _ in 0..out_c * in_c {
        for keep in &mask {
            let value = rng.random_range(-bound..bound);
            data.push(value * keep);
        }
    }
    NamedTensor {
        name: format!("{}.weight", layer.name),
        shape: shape.to_vec(),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn init_zeroes_masked_taps_and_biases_and_stays_in_the_xavier_bound() {
        let cfg = ModelConfig::seed();
        let params = Params::init(&cfg, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
        let (w, b) = params.layer(0);
        assert_eq!(w.name, "conv_a.weight");
        assert_eq!(w.shape, vec![64, 1, 7, 7]);
        assert!(b.data.iter().all(|&v| v == 0.0));
        // Centre tap (3,3) of mask A is hidden for every output channel.
        assert!((0..64).all(|o| w.data[o * 49 + 24] == 0.0));
        let bound = (6.0f32 / (49.0 + 64.0 * 49.0)).sqrt();
        assert!(w.data.iter().all(|v| v.abs() <= bound));
        assert!(w.data.iter().any(|&v| v != 0.0));
        assert_eq!(params.len(), cfg.parameter_count());
    }
}
