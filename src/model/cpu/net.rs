//! The fast CPU PixelCNN of either family: masked (or shifted) convolutions that compute only
//! their used taps, channels-last, as chunked im2col + GEMM on all cores, with bias and
//! activation fused and a hand-written backward (`plain_net.rs`, `gated_net.rs`).
//!
//! # Shapes
//! Input `[images * 784]` of 0/1 pixels, labels one digit per image (read by conditional models
//! only; a missing label counts as 0), logits `[images * 784]`.

pub use super::conv_kernels::bce_sum;
use super::gated_net::GatedNet;
use super::plain_net::PlainNet;
use crate::model::arch::architecture::Architecture;
use crate::model::arch::config::ModelConfig;
use crate::model::arch::params::Params;

/// The network of one family.
#[derive(Debug)]
pub(crate) enum Body {
    Plain(Box<PlainNet>),
    Gated(Box<GatedNet>),
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
        let body = match cfg.architecture() {
            Architecture::Plain(layers) => Body::Plain(Box::new(PlainNet::new(&layers, params))),
            Architecture::Gated(spec) => Body::Gated(Box::new(GatedNet::new(&spec, params))),
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
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::data::IMAGE_PIXELS;

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
