//! `sample`: draw a grid of samples from a checkpoint into a PNG.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use pixelcnn_studio::checkpoint;
use pixelcnn_studio::model::arch::memory;
use pixelcnn_studio::model::{sample_fast, sample_naive, ClassChoice, CpuNet};
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
    let need = memory::estimate(
        &snapshot.model,
        // No evaluation: a batch of one, no test images.
        &memory::Workload::training(1, args.count, 0),
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
    let grid = if args.device == DeviceChoice::FastCpu {
        let net = CpuNet::new(&snapshot.model, &snapshot.params);
        let (grid, probabilities) = match args.sampler {
            Sampler::Fast => sample_fast(&net, args.count, &labels, &mut rng, &mut |_| {}),
            Sampler::Naive => sample_naive(&net, args.count, &labels, &mut rng, &mut |_| {}),
        };
        check_probabilities(&probabilities).map_err(anyhow::Error::msg)?;
        grid
    } else {
        Backend::new(args.device, &snapshot.model, &snapshot.params)
            .and_then(|backend| backend.sample(args.count, &labels, &mut rng, &mut |_| {}))
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
        }))
    } else {
        println!(
            "wrote {} to {} in {seconds:.2} s (mean pixel {:.3})",
            super::count_of(args.count, "sample"),
            args.out.display(),
            grid.mean_pixel()
        );
        Ok(())
    }
}
