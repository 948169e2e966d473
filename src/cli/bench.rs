//! `bench`: training and evaluation images/s, grid sampling time and peak memory.

use clap::Args;
use pixelcnn_studio::bench::{run_bench, BenchOptions};
use pixelcnn_studio::model::cpu::gemm::{self, Kernel};

/// Options of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model preset: `seed`, `paper`, `gated` or `gated-large`.
    #[arg(long, default_value = "seed", value_name = "NAME")]
    preset: String,
    /// Condition the gated model on the digit label.
    #[arg(long)]
    conditional: bool,
    /// Timed runs per figure after a warm-up (medians are reported).
    #[arg(long, default_value_t = 5, value_name = "N")]
    runs: usize,
    /// Skip timing the straightforward sampler (the slow part of the bench).
    #[arg(long)]
    skip_naive: bool,
    /// Image rows (1-28) of the straightforward sampler to time and scale to the whole grid
    /// [default: 28 for seed, 2 for paper].
    #[arg(long, value_name = "N")]
    naive_rows: Option<usize>,
    /// Where training, evaluation and sampling run: cpu, candle-cpu or cuda.
    #[arg(long, value_name = "DEVICE", value_parser = super::train::parse_device, default_value = "cpu")]
    device: pixelcnn_studio::train::DeviceChoice,
    /// GEMM kernel of the cpu device: `auto` (AVX-512 where the CPU has it) or `portable`
    /// [default: PIXELCNN_KERNEL, else auto].
    #[arg(long, value_name = "KERNEL", value_parser = Kernel::parse)]
    kernel: Option<Kernel>,
    /// Matmul precision on a GPU: `fp32` or `tf32` (needs --device cuda).
    #[arg(long, value_name = "P", value_parser = super::train::parse_precision, default_value = "fp32")]
    precision: pixelcnn_studio::train::Precision,
    /// Images per training and evaluation batch (the sampled grid stays 10x10).
    #[arg(long, default_value_t = pixelcnn_studio::bench::BENCH_BATCH, value_name = "N")]
    batch_size: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(kernel) = args.kernel {
        gemm::set_kernel(kernel);
    }
    let report = run_bench(&BenchOptions {
        preset: args.preset,
        conditional: args.conditional,
        runs: args.runs,
        skip_naive: args.skip_naive,
        naive_rows: args.naive_rows,
        device: args.device,
        precision: args.precision,
        batch_size: args.batch_size,
    })?;
    if args.json {
        super::print_json(&serde_json::to_value(&report)?)
    } else {
        print!("{}", report.to_text());
        Ok(())
    }
}
