//! The fast CPU network against the candle reference formulation (values and gradients),
//! causality, and the fast sampler against the straightforward one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers in integration tests, too

use candle_core::{Device, Tensor};
use pixelcnn_studio::model::{
    candle_net::bce_with_logits, sample_fast, sample_naive, CpuNet, ModelConfig, Params, PixelCnn,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PIXELS: usize = 784;

fn small_config(residual: bool) -> ModelConfig {
    ModelConfig {
        first_kernel: 5,
        masked_layers: 2,
        masked_kernel: 3,
        masked_relu: true,
        relu_layers: 1,
        feature_maps: 6,
        residual,
        ..ModelConfig::seed()
    }
}

/// Random binary images with random (non-zero) biases so every path is exercised.
fn setup(cfg: &ModelConfig, batch: usize, seed: u64) -> (Params, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut params = Params::init(cfg, &mut rng);
    for t in params
        .tensors
        .iter_mut()
        .filter(|t| t.name.ends_with("bias"))
    {
        t.data
            .iter_mut()
            .for_each(|b| *b = rng.random_range(-0.1..0.1));
    }
    let input = (0..batch * PIXELS)
        .map(|_| if rng.random::<f32>() < 0.3 { 1.0 } else { 0.0 })
        .collect();
    (params, input)
}

fn assert_close(what: &str, ours: &[f32], reference: &[f32], tol: f32) {
    assert_eq!(ours.len(), reference.len(), "{what}: lengths differ");
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert!(
            (a - b).abs() <= tol * scale,
            "{what}[{i}]: fast {a} vs reference {b} (scale {scale})"
        );
    }
}

#[test]
fn fast_network_matches_the_masked_conv2d_reference_in_values_and_gradients() {
    let seed_like = ModelConfig {
        feature_maps: 8,
        masked_layers: 1,
        ..ModelConfig::seed()
    };
    for cfg in [small_config(false), small_config(true), seed_like] {
        // Enough rows (12 * 784) to span several chunks and threads of the fast kernels.
        let batch = 12;
        let (mut params, input) = setup(&cfg, batch, 7);
        if cfg.masked_layers == 1 {
            // As initialised: zero biases, so blank image regions carry exactly-zero activations.
            for t in params
                .tensors
                .iter_mut()
                .filter(|t| t.name.ends_with("bias"))
            {
                t.data.fill(0.0);
            }
        }
        let mut net = CpuNet::new(&cfg, &params);
        let fast_logits = net.forward(&input, &[]);
        let mut grads = params.zeros_like();
        let fast_loss = net.loss_and_grads(&input, &[], &mut grads);

        let device = Device::Cpu;
        let (reference, vars) = PixelCnn::from_params(&cfg, &params, &device).unwrap();
        let x = Tensor::from_vec(input.clone(), (batch, 1, 28, 28), &device).unwrap();
        let logits = reference.forward(&x, None).unwrap();
        let loss = bce_with_logits(&logits, &x).unwrap();
        let ref_logits: Vec<f32> = logits.flatten_all().unwrap().to_vec1().unwrap();
        assert_close("logits", &fast_logits, &ref_logits, 1e-5);
        let ref_loss = loss.to_scalar::<f32>().unwrap() as f64;
        assert!(
            (fast_loss - ref_loss).abs() < 1e-5,
            "loss {fast_loss} vs {ref_loss}"
        );

        let store = loss.backward().unwrap();
        for (var, ours) in vars.iter().zip(&grads.tensors) {
            let g = store.get(var.as_tensor()).unwrap();
            // The reference's gradient flows through `weight * mask`, so masked taps get zero too.
            let reference_grad: Vec<f32> = g.flatten_all().unwrap().to_vec1().unwrap();
            assert_close(&ours.name, &ours.data, &reference_grad, 1e-5);
        }
    }
}

#[test]
fn seed_preset_matches_the_reference_on_a_batch() {
    let cfg = ModelConfig::seed();
    let (params, input) = setup(&cfg, 2, 11);
    let net = CpuNet::new(&cfg, &params);
    let (reference, _) = PixelCnn::from_params(&cfg, &params, &Device::Cpu).unwrap();
    let x = Tensor::from_vec(input.clone(), (2, 1, 28, 28), &Device::Cpu).unwrap();
    let ref_logits: Vec<f32> = reference
        .forward(&x, None)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_close("seed logits", &net.forward(&input, &[]), &ref_logits, 1e-5);
}

#[test]
fn an_output_never_depends_on_its_own_or_later_pixels() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (trial, residual) in [(0u64, false), (1, true)] {
        let cfg = small_config(residual);
        let (params, input) = setup(&cfg, 1, 100 + trial);
        let net = CpuNet::new(&cfg, &params);
        let base = net.forward(&input, &[]);
        for _ in 0..40 {
            let k = rng.random_range(0..PIXELS);
            let mut changed = input.clone();
            changed[k] = 1.0 - changed[k];
            let out = net.forward(&changed, &[]);
            for pos in 0..=k {
                assert_eq!(
                    out[pos], base[pos],
                    "output {pos} changed when pixel {k} flipped"
                );
            }
            // And it is not trivially constant: some later output moves.
            if k + 1 < PIXELS && k % 28 < 27 {
                assert!(
                    out[k + 1..].iter().zip(&base[k + 1..]).any(|(a, b)| a != b),
                    "flipping pixel {k} changed nothing after it"
                );
            }
        }
    }
}

#[test]
fn fast_sampler_draws_the_same_pixels_with_the_same_probabilities_as_the_naive_one() {
    for residual in [false, true] {
        let cfg = small_config(residual);
        let (params, _) = setup(&cfg, 1, 21);
        let net = CpuNet::new(&cfg, &params);
        let count = 4;
        let mut rows_seen = 0;
        let (naive, naive_probs) = sample_naive(
            &net,
            count,
            &[],
            &mut ChaCha8Rng::seed_from_u64(9),
            &mut |_| {},
        );
        let (fast, fast_probs) = sample_fast(
            &net,
            count,
            &[],
            &mut ChaCha8Rng::seed_from_u64(9),
            &mut |_| rows_seen += 1,
        );
        assert_eq!(rows_seen, 28);
        assert_eq!(naive.pixels, fast.pixels, "same seed, same samples");
        assert_close("probabilities", &fast_probs, &naive_probs, 1e-5);
        assert!(fast.mean_pixel() > 0.0 && fast.mean_pixel() < 1.0);
        let (width, luma) = fast.to_luma();
        assert_eq!(width, 56);
        assert_eq!(luma.len(), 56 * 56);
    }
}
