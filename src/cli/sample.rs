//! `sample`: draw a grid of samples from a checkpoint into a PNG.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use pixelcnn_studio::checkpoint;
use pixelcnn_studio::model::arch::memory;
use pixelcnn_studio::model::cpu::sampler::sample_naive_styled;
use pixelcnn_studio::model::{sample_fast_styled, ClassChoice, CpuNet, SampleGrid, SampleStyle};
use pixelcnn_studio::train::backend::check_probabilities;
use pixelcnn_studio::train::{Backend, DeviceChoice};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Which sampler draws the pixels.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Sampler {
    /// The incremental sampler (each layer computed once per position).
    Fast,
    /// The straightforward sampler (one full forward pass per pixel).
    Naive,
}

/// Options of `sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Checkpoint to sample from.
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    /// PNG file to write (a square grid of 28x28 images).
    #[arg(long, value_name = "FILE.png")]
    out: PathBuf,
    /// Number of samples, a square number.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Digits a conditional model draws: `rows` (row r of the grid is digit r), `any` (a random
    /// digit per sample) or one digit 0-9 [default: rows].
    #[arg(long, value_name = "rows|any|D", value_parser = ClassChoice::parse, conflicts_with = "class")]
    classes: Option<ClassChoice>,
    /// Every sample of a conditional model draws this digit (the same as `--classes D`).
    #[arg(long, value_name = "D", value_parser = super::parse_digit)]
    class: Option<u8>,
    /// Seed of the sampling RNG.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Classifier-free guidance scale s: each pixel from logit_u + s (logit_c - logit_u), 1 for
    /// none; needs a conditional model trained with label dropout [default: 2.5 for such a
    /// model, else 1].
    #[arg(long, value_name = "S")]
    guidance: Option<f32>,
    /// Temperature T: each pixel from sigmoid(logit / T); below 1 sharpens [default: 0.8 for a
    /// model trained with label dropout, else 1].
    #[arg(long, value_name = "T")]
    temperature: Option<f32>,
    /// Sampler to use.
    #[arg(long, value_enum, default_value_t = Sampler::Fast)]
    sampler: Sampler,
    /// Where the network runs: `cpu` uses --sampler; `cuda` and `candle-cpu` run the device's
    /// fast sampler (each layer at each position computed once, on the device).
    #[arg(long, value_name = "DEVICE", value_parser = super::train::parse_device, default_value = "cpu")]
    device: DeviceChoice,
    /// Matmul precision on a GPU: `fp32` or `tf32` (needs --device cuda).
    #[arg(long, value_name = "P", value_parser = super::train::parse_precision, default_value = "fp32")]
    precision: pixelcnn_studio::train::Precision,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: SampleArgs) -> anyhow::Result<()> {
    let side = (args.count as f64).sqrt().round() as usize;
    anyhow::ensure!(
        args.count > 0 && args.count <= 10_000 && side * side == args.count,
        "--count {} is not a square number between 1 and 10000 (try 100)",
        args.count
    );
    args.precision
        .apply(args.device)
        .map_err(anyhow::Error::msg)?;
    let snapshot = checkpoint::load(&args.checkpoint)?;
    let choice = args.class.map(ClassChoice::Digit).or(args.classes);
    anyhow::ensure!(
        snapshot.model.conditional() || choice.is_none(),
        "this model is not class-conditional: --class and --classes need a model trained with --conditional"
    );
    let style = chosen_style(args.guidance, args.temperature, &snapshot.model)?;
    // A guided grid keeps the sampler's caches twice (the "no label" pass).
    let copies = if style.is_guided() { 2 } else { 1 };
    let need = memory::estimate(
        &snapshot.model,
        // No evaluation: a batch of one, no test images.
        &memory::Workload::training(1, args.count * copies, 0),
    );
    // The loaded snapshot is allocated already; the network and the sampler are not.
    memory::check(
        || format!("sampling {} images from this model", args.count),
        need.sampling_only_bytes()
            .saturating_sub(need.baseline_bytes + need.snapshot_bytes),
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let labels = if snapshot.model.conditional() {
        choice.unwrap_or_default().labels(args.count, &mut rng)
    } else {
        Vec::new()
    };
    let started = Instant::now();
    // The weights the model evaluates with (the averaged ones of a run that averaged).
    let params = snapshot.eval_params();
    let blank = SampleGrid::blank(args.count);
    let grid = if args.device == DeviceChoice::FastCpu {
        let net = CpuNet::new(&snapshot.model, params);
        let (grid, probabilities) = match args.sampler {
            Sampler::Fast => sample_fast_styled(&net, blank, &labels, style, &mut rng, &mut |_| {
                std::ops::ControlFlow::Continue(())
            }),
            Sampler::Naive => {
                sample_naive_styled(&net, blank, &labels, style, 784, &mut rng, &mut |_| {})
            }
        };
        check_probabilities(&probabilities).map_err(anyhow::Error::msg)?;
        grid
    } else {
        Backend::new(args.device, &snapshot.model, params)
            .and_then(|backend| {
                backend.sample_styled(args.count, &labels, style, None, &mut rng, &mut |_| {
                    std::ops::ControlFlow::Continue(())
                })
            })
            .map_err(anyhow::Error::msg)?
    };
    let seconds = started.elapsed().as_secs_f64();
    pixelcnn_studio::imaging::save_grid_png(&grid, &args.out)?;
    if args.json {
        super::print_json(&serde_json::json!({
            "out": args.out,
            "count": args.count,
            "seconds": seconds,
            "mean_pixel": grid.mean_pixel(),
            "labels": labels,
            "guidance": style.guidance,
            "temperature": style.temperature,
        }))
    } else {
        let styled = if style == SampleStyle::PLAIN {
            String::new()
        } else {
            format!(
                ", guidance {}, temperature {}",
                style.guidance, style.temperature
            )
        };
        println!(
            "wrote {} to {} in {seconds:.2} s (mean pixel {:.3}{styled})",
            super::count_of(args.count, "sample"),
            args.out.display(),
            grid.mean_pixel()
        );
        Ok(())
    }
}

/// The style `--guidance` and `--temperature` ask for, each defaulting to the model's
/// ([`SampleStyle::default_for`]); refused (one line) when the model cannot take it.
pub fn chosen_style(
    guidance: Option<f32>,
    temperature: Option<f32>,
    model: &pixelcnn_studio::model::ModelConfig,
) -> anyhow::Result<SampleStyle> {
    let default = SampleStyle::default_for(model);
    let style = SampleStyle {
        guidance: guidance.unwrap_or(default.guidance),
        temperature: temperature.unwrap_or(default.temperature),
    };
    style.check(model).map_err(anyhow::Error::msg)?;
    Ok(style)
}
