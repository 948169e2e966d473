//! The fast CPU PixelCNN of either family: masked (or shifted) convolutions that compute only
//! their used taps, channels-last, as chunked im2col + GEMM on all cores, with bias and
//! activation fused and a hand-written backward ([`super::plain_net`], [`super::gated_net`]).
//!
//! # Shapes
//! Input `[images * 784]` of 0/1 pixels, labels one digit per image (read by conditional models
//! only; a missing label counts as 0), logits `[images * 784]`.

use super::config::{ModelConfig, ModelFamily};
pub use super::conv_kernels::bce_sum;
use super::gated_net::GatedNet;
use super::params::Params;
use super::plain_net::PlainNet;

/// The network of one family.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per network, never moved in a hot loop
pub(crate) enum Body {
    Plain(PlainNet),
    Gated(GatedNet),
}

/// The fast CPU network: packed weights and reusable buffers.
#[derive(Debug)]
pub struct CpuNet {
    config: ModelConfig,
    pub(crate) body: Body,
}

impl CpuNet {
    /// A network for `cfg` with the weights of `params`.
    pub fn new(cfg: &ModelConfig, params: &Params) -> CpuNet {
        let body = match cfg.family {
            ModelFamily::Plain => Body::Plain(PlainNet::new(cfg, params)),
            ModelFamily::Gated => Body::Gated(GatedNet::new(cfg, params)),
        };
        CpuNet {
            config: cfg.clone(),
            body,
        }
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Re-packs the weights from `params` (same config).
    pub fn set_params(&mut self, params: &Params) {
        match &mut self.body {
            Body::Plain(net) => net.set_params(params),
            Body::Gated(net) => net.set_params(params),
        }
    }

    /// Logits `[images * 784]` for binarized images `input`, keeping nothing for backward.
    pub fn forward(&self, input: &[f32], labels: &[u8]) -> Vec<f32> {
        match &self.body {
            Body::Plain(net) => net.forward(input),
            Body::Gated(net) => net.forward(input, labels),
        }
    }

    /// Mean binary cross-entropy in nats per pixel of `input` (targets = inputs), without
    /// gradients.
    pub fn loss(&self, input: &[f32], labels: &[u8]) -> f64 {
        let logits = self.forward(input, labels);
        bce_sum(&logits, input) / input.len().max(1) as f64
    }

    /// Mean BCE in nats per pixel and its gradients (written into `grads`, same layout as the
    /// params this net was built from).
    pub fn loss_and_grads(&mut self, input: &[f32], labels: &[u8], grads: &mut Params) -> f64 {
        let sum = match &mut self.body {
            Body::Plain(net) => net.loss_and_grads(input, grads),
            Body::Gated(net) => net.loss_and_grads(input, labels, grads),
        };
        sum / input.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::data::IMAGE_PIXELS;
    use crate::model::candle_net::{bce_with_logits, PixelCnn};

    /// 16 and 32 feature maps take the AVX-512 kernel where the CPU has it (the integration tests
    /// use 6 and 8, which take the `gemm` crate): values and gradients against the reference.
    #[test]
    fn wide_layers_match_the_reference_in_values_and_gradients() {
        for (maps, residual) in [(16, false), (32, true)] {
            let cfg = ModelConfig {
                family: ModelFamily::Plain,
                conditional: false,
                first_kernel: 7,
                masked_layers: 2,
                masked_kernel: 3,
                masked_relu: true,
                relu_layers: 1,
                feature_maps: maps,
                residual,
            };
            let mut rng = ChaCha8Rng::seed_from_u64(31);
            let mut params = Params::init(&cfg, &mut rng);
            for t in params
                .tensors
                .iter_mut()
                .filter(|t| t.name.ends_with("bias"))
            {
                t.data
                    .iter_mut()
                    .for_each(|b| *b = rng.random_range(-0.1..0.1));
            }
            let batch = 2;
            let input: Vec<f32> = (0..batch * IMAGE_PIXELS)
                .map(|_| if rng.random::<f32>() < 0.3 { 1.0 } else { 0.0 })
                .collect();
            let mut net = CpuNet::new(&cfg, &params);
            let logits = net.forward(&input, &[]);
            let mut grads = params.zeros_like();
            net.loss_and_grads(&input, &[], &mut grads);

            let (reference, vars) = PixelCnn::from_params(&cfg, &params, &Device::Cpu).unwrap();
            let x = Tensor::from_vec(input.clone(), (batch, 1, 28, 28), &Device::Cpu).unwrap();
            let ref_logits = reference.forward(&x, None).unwrap();
            let store = bce_with_logits(&ref_logits, &x)
                .unwrap()
                .backward()
                .unwrap();
            let ref_logits: Vec<f32> = ref_logits.flatten_all().unwrap().to_vec1().unwrap();
            let close = |what: &str, ours: &[f32], theirs: &[f32], tol: f32| {
                let scale = theirs.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
                    assert!((a - b).abs() <= tol * scale, "{what}[{i}]: {a} vs {b}");
                }
            };
            close("logits", &logits, &ref_logits, 1e-5);
            for (var, ours) in vars.iter().zip(&grads.tensors) {
                let g = store.get(var.as_tensor()).unwrap();
                let theirs: Vec<f32> = g.flatten_all().unwrap().to_vec1().unwrap();
                // A bias gradient sums every pixel of the batch: the reference sums in plain
                // f32 (ours adds chunk sums in f64), so the two drift apart by more.
                let tol = if ours.name.ends_with("bias") {
                    1e-4
                } else {
                    1e-5
                };
                close(&ours.name, &ours.data, &theirs, tol);
            }
        }
    }

    /// The trainer promises bit-identical resumes: the gradients may not depend on how many
    /// threads share the work.
    #[test]
    fn gradients_are_bit_identical_whatever_the_thread_count() {
        let cfg = ModelConfig {
            feature_maps: 16,
            ..ModelConfig::seed()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let params = Params::init(&cfg, &mut rng);
        let input: Vec<f32> = (0..5 * IMAGE_PIXELS)
            .map(|_| if rng.random::<f32>() < 0.2 { 1.0 } else { 0.0 })
            .collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut net = CpuNet::new(&cfg, &params);
                let mut grads = params.zeros_like();
                let loss = net.loss_and_grads(&input, &[], &mut grads);
                (loss, grads, net.forward(&input, &[]))
            })
        };
        let one = run(1);
        for threads in [2, 3] {
            assert!(run(threads) == one, "{threads} threads changed the result");
        }
    }
}
