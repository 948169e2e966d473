//! The fast CPU network against the candle reference formulation (values and gradients, over
//! a table of architectures), causality, and the fast sampler against the straightforward one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers in integration tests, too

mod common;

use common::{assert_close, random_params_and_images, reference_logits_loss_and_grads};
use pixelcnn_studio::model::{
    sample_fast, sample_naive, CpuNet, FamilyConfig, ModelConfig, PlainConfig,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PIXELS: usize = 784;

/// The seed preset with `maps` feature maps and the plain settings `plain`.
fn seed_with(maps: usize, plain: PlainConfig) -> ModelConfig {
    ModelConfig {
        feature_maps: maps,
        family: FamilyConfig::Plain(plain),
        ..ModelConfig::seed()
    }
}

/// Two 3x3 mask-B layers with ReLU after a 5x5 mask A, one 1x1 layer, 6 maps (6 is not a
/// multiple of 16: the portable GEMM kernel).
fn small_config(residual: bool) -> ModelConfig {
    ModelConfig {
        first_kernel: 5,
        ..seed_with(
            6,
            PlainConfig {
                masked_relu: true,
                relu_layers: 1,
                residual,
                ..PlainConfig::seed()
            },
        )
    }
}

/// One architecture of the reference comparison.
struct Case {
    name: &'static str,
    cfg: ModelConfig,
    /// Images per batch: 12 (9,408 rows) spans several chunks and threads of the fast kernels.
    batch: usize,
    /// Zero biases, as initialised: blank regions then carry exactly-zero activations, the
    /// ReLU's kink, where the two formulations must agree on the gradient too.
    zero_biases: bool,
}

fn reference_cases() -> Vec<Case> {
    let case = |name, cfg, batch| Case {
        name,
        cfg,
        batch,
        zero_biases: false,
    };
    vec![
        case("small", small_config(false), 12),
        case("small, residual", small_config(true), 12),
        Case {
            zero_biases: true,
            ..case(
                "seed-shaped, 8 maps, zero biases",
                seed_with(
                    8,
                    PlainConfig {
                        masked_layers: 1,
                        ..PlainConfig::seed()
                    },
                ),
                12,
            )
        },
        // 16 and 32 maps take the AVX-512 kernel where the CPU has it.
        case(
            "16 maps, 7x7 mask A",
            seed_with(
                16,
                PlainConfig {
                    masked_relu: true,
                    relu_layers: 1,
                    ..PlainConfig::seed()
                },
            ),
            2,
        ),
        case(
            "32 maps, residual",
            seed_with(
                32,
                PlainConfig {
                    masked_relu: true,
                    relu_layers: 1,
                    residual: true,
                    ..PlainConfig::seed()
                },
            ),
            2,
        ),
        case("the seed preset", ModelConfig::seed(), 2),
        case(
            "paper-shaped: 15 residual mask-B layers with ReLU, 16 maps",
            ModelConfig {
                feature_maps: 16,
                ..ModelConfig::paper()
            },
            2,
        ),
        case(
            "5x5 mask-B kernels",
            seed_with(
                8,
                PlainConfig {
                    masked_kernel: 5,
                    masked_relu: true,
                    ..PlainConfig::seed()
                },
            ),
            3,
        ),
        case(
            "no mask-B layers",
            seed_with(
                8,
                PlainConfig {
                    masked_layers: 0,
                    ..PlainConfig::seed()
                },
            ),
            3,
        ),
        case(
            "no 1x1 ReLU layers",
            seed_with(
                8,
                PlainConfig {
                    relu_layers: 0,
                    masked_relu: true,
                    ..PlainConfig::seed()
                },
            ),
            3,
        ),
    ]
}

/// Logits, loss and every gradient of the fast network against candle's conv2d with a masked
/// weight, for each architecture of the table.
#[test]
fn fast_network_matches_the_masked_conv2d_reference_in_values_and_gradients() {
    for case in reference_cases() {
        let Case {
            name,
            cfg,
            batch,
            zero_biases,
        } = case;
        cfg.validate().unwrap();
        let (mut params, input) = random_params_and_images(&cfg, batch, 7);
        if zero_biases {
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

        let (ref_logits, ref_loss, ref_grads) =
            reference_logits_loss_and_grads(&cfg, &params, &input, &[]);
        assert_close(&format!("{name}: logits"), &fast_logits, &ref_logits, 1e-5);
        assert!(
            (fast_loss - ref_loss).abs() < 1e-5,
            "{name}: loss {fast_loss} vs {ref_loss}"
        );

        assert_eq!(ref_grads.len(), grads.tensors.len(), "{name}");
        // The reference's gradient flows through `weight * mask`, so masked taps get zero too.
        for (reference_grad, ours) in ref_grads.iter().zip(&grads.tensors) {
            // A bias gradient sums every pixel of the batch: the reference sums in plain f32
            // (ours adds chunk sums in f64), so the two drift apart by more.
            let tol = if ours.name.ends_with("bias") {
                1e-4
            } else {
                1e-5
            };
            assert_close(
                &format!("{name}: {}", ours.name),
                &ours.data,
                reference_grad,
                tol,
            );
        }
    }
}

#[test]
fn an_output_never_depends_on_its_own_or_later_pixels() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (trial, residual) in [(0u64, false), (1, true)] {
        let cfg = small_config(residual);
        let (params, input) = random_params_and_images(&cfg, 1, 100 + trial);
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
        let (params, _) = random_params_and_images(&cfg, 1, 21);
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
