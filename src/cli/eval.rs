//! `eval`: a checkpoint's cost on the fixed binarization of the test images.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use pixelcnn_studio::checkpoint;
use pixelcnn_studio::train::{bits_per_dim, nats_per_image, Trainer};

/// Options of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Checkpoint to evaluate.
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    /// Use only the first N test images (default: the limit the checkpoint was trained with, or all 10,000).
    #[arg(long, value_name = "N")]
    test_limit: Option<usize>,
    /// Folder with the four MNIST IDX files (raw or .gz); default: the shipped copy.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Where the network runs: cpu, candle-cpu or cuda.
    #[arg(long, value_name = "DEVICE", value_parser = super::train::parse_device, default_value = "cpu")]
    device: pixelcnn_studio::train::DeviceChoice,
    /// Matmul precision on a GPU: `fp32` or `tf32` (needs --device cuda).
    #[arg(long, value_name = "P", value_parser = super::train::parse_precision, default_value = "fp32")]
    precision: pixelcnn_studio::train::Precision,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    args.precision
        .apply(args.device)
        .map_err(anyhow::Error::msg)?;
    let mut snapshot = checkpoint::load(&args.checkpoint)?;
    snapshot.config.device = args.device;
    let data = super::load_data(args.data.as_deref())?;
    let mut trainer = Trainer::from_snapshot(snapshot)?;
    let mut config = trainer.config().clone();
    if args.test_limit.is_some() {
        config.test_limit = args.test_limit;
    }
    let images = config.test_limit.unwrap_or(usize::MAX).min(data.test.len());
    trainer.set_config(config)?;
    let cost = trainer
        .test_cost(&data.test)
        .context("evaluating the checkpoint")?;
    if args.json {
        super::print_json(&serde_json::json!({
            "test_cost_nats_per_pixel": cost,
            "test_nll_nats_per_image": nats_per_image(cost),
            "test_bits_per_dim": bits_per_dim(cost),
            "images": images,
        }))
    } else {
        println!(
            "test cost {cost:.5} nats/pixel = {:.2} nats/image = {:.4} bits/dim over {}",
            nats_per_image(cost),
            bits_per_dim(cost),
            super::count_of(images, "image")
        );
        Ok(())
    }
}
