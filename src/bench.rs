//! The speed benchmark behind `pixelcnn-studio bench`: training and evaluation images/s, the
//! time to sample a 10x10 grid with the fast and the straightforward sampler, and peak memory.
//!
//! Every figure is the median of several timed runs after a warm-up. Training runs through the
//! training driver, step for step what a real run does (binarize, forward, backward, gradient
//! clipping, Adam, re-packing the weights), on batches of 100 synthetic digits; evaluation is the
//! trainer's test evaluation; sampling is the trainer's sampler.

use std::time::Instant;

use anyhow::Context;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::data::{Mnist, IMAGE_PIXELS};
use crate::model::arch::memory;
use crate::model::cpu::gemm;
use crate::model::cpu::sampler::sample_naive_pixels;
use crate::model::{sample_fast, ClassChoice, CpuNet, ModelConfig, SampleGrid};
use crate::train::{DeviceChoice, Driver, Precision, RunHooks, TrainConfig, TrainEvent, Trainer};

/// Images per training and evaluation batch unless asked otherwise.
pub const BENCH_BATCH: usize = 100;
/// Images per sampled grid (10 x 10).
pub const GRID_IMAGES: usize = 100;

/// What to measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchOptions {
    /// Model preset (one of [`crate::model::PRESET_NAMES`]).
    pub preset: String,
    /// Condition the model on the digit label (gated presets only).
    pub conditional: bool,
    /// Timed runs per figure (the median is reported); at least 1.
    pub runs: usize,
    /// Skip the straightforward sampler (it takes about 20 s for the seed preset).
    pub skip_naive: bool,
    /// Image rows (1..=28) of the straightforward sampler to time; `None` picks 28 (the whole
    /// grid) for the seed preset and 2 for the paper preset, whose 784 passes take minutes.
    pub naive_rows: Option<usize>,
    /// Where training, evaluation and sampling run (the straightforward sampler is always
    /// timed on the CPU kernels).
    pub device: DeviceChoice,
    /// How a GPU multiplies f32 matrices (`tf32` needs `cuda`).
    pub precision: Precision,
    /// Images per training minibatch, 1..=10000.
    pub batch_size: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            preset: "seed".into(),
            conditional: false,
            runs: 5,
            skip_naive: false,
            naive_rows: None,
            device: DeviceChoice::FastCpu,
            precision: Precision::Fp32,
            batch_size: BENCH_BATCH,
        }
    }
}

/// The measured figures (JSON keys are the field names).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    /// Model preset measured.
    pub preset: String,
    /// Whether the model was class-conditional.
    pub conditional: bool,
    /// Where training, evaluation and sampling ran (`cpu`, `candle-cpu`, `cuda`).
    pub device: String,
    /// Matmul precision on a GPU (`fp32` or `tf32`).
    pub precision: String,
    /// Images per training minibatch.
    pub batch: usize,
    /// Images per sampled grid.
    pub grid_images: usize,
    /// Worker threads (rayon's pool).
    pub threads: usize,
    /// The GEMM kernel of the cpu device: `avx512` or `portable` (`bench --kernel`,
    /// `PIXELCNN_KERNEL`).
    pub kernel: String,
    /// Timed runs per figure.
    pub runs: usize,
    /// Training steps per timed run.
    pub train_steps_per_run: usize,
    /// Median training throughput, images/s (full step: forward, backward, clip, Adam).
    pub train_images_per_sec: f64,
    /// Each run's training throughput.
    pub train_runs_images_per_sec: Vec<f64>,
    /// Hundreds of test images per timed evaluation run (evaluated in the trainer's chunks).
    pub eval_passes_per_run: usize,
    /// Median evaluation throughput (forward only), images/s.
    pub eval_images_per_sec: f64,
    /// Each run's evaluation throughput.
    pub eval_runs_images_per_sec: Vec<f64>,
    /// Median seconds to sample a 10x10 grid with the fast (incremental) sampler.
    pub sample_grid_secs_fast: f64,
    /// Each run's fast-sampler seconds.
    pub sample_fast_runs_secs: Vec<f64>,
    /// Median seconds to sample a 10x10 grid with the device's incremental sampler (each layer
    /// at each position computed once, on the device); `None` on the CPU.
    pub sample_grid_secs_device: Option<f64>,
    /// Each run's device-sampler seconds.
    pub sample_device_runs_secs: Vec<f64>,
    /// Seconds for a whole 10x10 grid with the straightforward sampler (784 full forward
    /// passes): measured if `naive_rows_timed` is 28, else the timed rows scaled to 28 (every
    /// pass costs the same); `None` when skipped.
    pub sample_grid_secs_naive: Option<f64>,
    /// Image rows of the straightforward sampler actually timed (28 passes each).
    pub naive_rows_timed: usize,
    /// Seconds those rows took.
    pub naive_secs_timed: Option<f64>,
    /// `sample_grid_secs_naive / sample_grid_secs_fast`.
    pub fast_sampler_speedup: Option<f64>,
    /// Peak resident memory of this process (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// What `model::arch::memory` estimates for this benchmark's work (training, evaluation and
    /// sampling at batch 100), MiB: the figure the trainer checks against the free memory.
    pub estimated_peak_mib: f64,
}

/// Runs the benchmark. Takes about a minute for the seed preset with the straightforward sampler.
///
/// # Errors
/// An unknown preset, or `runs == 0`.
pub fn run_bench(options: &BenchOptions) -> anyhow::Result<BenchReport> {
    let mut cfg = ModelConfig::preset(&options.preset).context("choose the benchmark's model")?;
    cfg.set_conditional(options.conditional)?;
    cfg.validate()?;
    anyhow::ensure!(options.runs > 0, "runs must be at least 1");
    anyhow::ensure!(
        (1..=10_000).contains(&options.batch_size),
        "batch size {} is out of range: use 1..=10000",
        options.batch_size
    );
    options
        .precision
        .apply(options.device)
        .map_err(anyhow::Error::msg)?;
    let runs = options.runs;
    let batch_size = options.batch_size;
    // The paper-sized presets are about 25 times the work per image: fewer steps per run.
    let paper = matches!(options.preset.as_str(), "paper" | "gated-large");
    let train_steps_per_run = if paper { 2 } else { 10 };
    let warm_up_steps = if paper { 1 } else { 3 };
    let eval_passes_per_run = if paper { 3 } else { 20 };
    let total_steps = warm_up_steps + runs * train_steps_per_run;
    // Synthetic digits (about MNIST's share of ink, so ReLU sparsity looks like real data),
    // enough that the timed steps never reach an epoch's end.
    let data = Mnist::synthetic(
        batch_size * (total_steps + 1),
        BENCH_BATCH * eval_passes_per_run,
        2016,
    );
    let config = TrainConfig {
        epochs: 1,
        batch_size,
        seed: 2016,
        samples_per_epoch: 0,
        device: options.device,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(cfg.clone(), config)?;

    // Training: the driver's steps (binarize, forward, backward, clip, Adam) on the device.
    let mut driver = Driver::new();
    let mut train_steps = |trainer: &mut Trainer, steps: usize| -> anyhow::Result<f64> {
        let mut budget = StepBudget { steps_left: steps };
        let started = Instant::now();
        driver.run(trainer, &data, &mut budget)?;
        anyhow::ensure!(budget.steps_left == 0, "the benchmark run ended early");
        Ok(started.elapsed().as_secs_f64())
    };
    train_steps(&mut trainer, warm_up_steps)?;
    let mut train_runs = Vec::with_capacity(runs);
    for _ in 0..runs {
        let secs = train_steps(&mut trainer, train_steps_per_run)?;
        train_runs.push((batch_size * train_steps_per_run) as f64 / secs);
    }

    // Evaluation: the trainer's test evaluation (forward and loss, in its chunks).
    std::hint::black_box(trainer.test_cost(&data.test)?);
    let mut eval_runs = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        std::hint::black_box(trainer.test_cost(&data.test)?);
        let secs = started.elapsed().as_secs_f64();
        eval_runs.push((BENCH_BATCH * eval_passes_per_run) as f64 / secs);
    }

    // Sampling a 10x10 grid: the fast sampler on the CPU kernels (with the trained weights), and
    // on a device also the device's own sampler (the trainer's).
    let params = &trainer.snapshot().params;
    let net = CpuNet::new(&cfg, params);
    let grid_labels = if cfg.conditional() {
        ClassChoice::Rows.labels(GRID_IMAGES, &mut ChaCha8Rng::seed_from_u64(0))
    } else {
        Vec::new()
    };
    let fast_runs = timed_runs(runs, |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        std::hint::black_box(sample_fast(
            &net,
            GRID_IMAGES,
            &grid_labels,
            &mut rng,
            &mut |_| {},
        ));
        Ok(())
    })?;
    let device_runs = if trainer.trains_on_device() {
        timed_runs(runs, |seed| {
            std::hint::black_box(trainer.sample(
                GRID_IMAGES,
                seed,
                ClassChoice::Rows,
                &mut |_| {},
            )?);
            Ok(())
        })?
    } else {
        Vec::new()
    };
    let sample_grid_secs_fast = median(&fast_runs);

    let naive_rows = options
        .naive_rows
        .unwrap_or(if paper { 2 } else { 28 })
        .clamp(1, 28);
    let (naive_secs_timed, sample_grid_secs_naive) = if options.skip_naive {
        (None, None)
    } else {
        let pixels = naive_rows * 28;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let labels = if cfg.conditional() {
            ClassChoice::Rows.labels(GRID_IMAGES, &mut rng)
        } else {
            Vec::new()
        };
        let secs = time_secs(|| {
            std::hint::black_box(sample_naive_pixels(
                &net,
                SampleGrid::blank(GRID_IMAGES),
                &labels,
                pixels,
                &mut rng,
                &mut |_| {},
            ));
        });
        (Some(secs), Some(secs * IMAGE_PIXELS as f64 / pixels as f64))
    };

    Ok(BenchReport {
        preset: options.preset.clone(),
        conditional: cfg.conditional(),
        device: options.device.name().to_string(),
        precision: options.precision.name().to_string(),
        batch: batch_size,
        grid_images: GRID_IMAGES,
        threads: rayon::current_num_threads(),
        kernel: gemm::kernel_description(gemm::kernel()).to_string(),
        runs,
        train_steps_per_run,
        train_images_per_sec: median(&train_runs),
        train_runs_images_per_sec: train_runs,
        eval_passes_per_run,
        eval_images_per_sec: median(&eval_runs),
        eval_runs_images_per_sec: eval_runs,
        sample_grid_secs_fast,
        sample_fast_runs_secs: fast_runs,
        sample_grid_secs_device: (!device_runs.is_empty()).then(|| median(&device_runs)),
        sample_device_runs_secs: device_runs,
        sample_grid_secs_naive,
        naive_rows_timed: if options.skip_naive { 0 } else { naive_rows },
        naive_secs_timed,
        fast_sampler_speedup: sample_grid_secs_naive.map(|naive| naive / sample_grid_secs_fast),
        peak_rss_mib: peak_rss_mib().unwrap_or(0.0),
        estimated_peak_mib: estimated_peak_mib(&cfg, batch_size),
    })
}

impl BenchReport {
    /// A few human-readable lines.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "preset {}{} | device {} ({}) | batch {} | {} threads | {} kernel | median of {} runs\n\
             train   {:>9.1} images/s\n\
             eval    {:>9.1} images/s\n\
             sample  {:>9.3} s per 10x10 grid, fast sampler on the CPU kernels\n",
            self.preset,
            if self.conditional {
                " (conditional)"
            } else {
                ""
            },
            self.device,
            self.precision,
            self.batch,
            self.threads,
            self.kernel,
            self.runs,
            self.train_images_per_sec,
            self.eval_images_per_sec,
            self.sample_grid_secs_fast,
        );
        if let Some(device) = self.sample_grid_secs_device {
            out.push_str(&format!(
                "        {device:>9.3} s per 10x10 grid, the device's incremental sampler\n"
            ));
        }
        if let (Some(naive), Some(speedup)) =
            (self.sample_grid_secs_naive, self.fast_sampler_speedup)
        {
            let how = if self.naive_rows_timed == 28 {
                "measured".to_string()
            } else {
                format!("{} of 28 rows timed", self.naive_rows_timed)
            };
            out.push_str(&format!(
                "        {naive:>9.3} s per grid, straightforward sampler ({how}): {speedup:.0}x slower\n"
            ));
        }
        out.push_str(&format!(
            "peak memory {:.0} MiB (estimated {:.0} MiB)\n",
            self.peak_rss_mib, self.estimated_peak_mib
        ));
        out
    }
}

/// Hooks that let a run train a fixed number of steps, then hand control back.
struct StepBudget {
    steps_left: usize,
}

impl RunHooks for StepBudget {
    fn on_event(&mut self, _trainer: &Trainer, event: TrainEvent<'_>) {
        if let TrainEvent::Step { .. } = event {
            self.steps_left = self.steps_left.saturating_sub(1);
        }
    }

    fn should_yield(&mut self) -> bool {
        self.steps_left == 0
    }
}

/// After one untimed warm-up, `runs` timed calls of `body` (given the run's number as a seed).
fn timed_runs(
    runs: usize,
    mut body: impl FnMut(u64) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<f64>> {
    body(0)?;
    (1..=runs as u64)
        .map(|seed| {
            let started = Instant::now();
            body(seed)?;
            Ok(started.elapsed().as_secs_f64())
        })
        .collect()
}

/// The memory estimate of this benchmark's work, MiB.
fn estimated_peak_mib(cfg: &ModelConfig, batch_size: usize) -> f64 {
    // Evaluation passes of one batch, no test set kept.
    let work = memory::Workload {
        eval_images: BENCH_BATCH,
        ..memory::Workload::training(batch_size, GRID_IMAGES, 0)
    };
    memory::estimate(cfg, &work).training_bytes() as f64 / (1024.0 * 1024.0)
}

fn time_secs(body: impl FnOnce()) -> f64 {
    let start = Instant::now();
    body();
    start.elapsed().as_secs_f64()
}

/// Median of `values` (mean of the middle two for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// This process's peak resident set (`VmHWM` in `/proc/self/status`), MiB; `None` off Linux.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn peak_memory_is_read_from_proc_and_counts_what_was_touched() {
        // 64 MiB written page by page: the peak resident set holds at least that much.
        let touched = vec![1u8; 64 << 20];
        std::hint::black_box(&touched);
        let mib = peak_rss_mib().expect("VmHWM is readable on Linux");
        assert!(mib >= 64.0, "peak {mib} MiB after touching 64 MiB");
    }

    #[test]
    fn an_unknown_preset_is_an_error() {
        let options = BenchOptions {
            preset: "huge".into(),
            ..BenchOptions::default()
        };
        assert!(run_bench(&options).is_err());
    }
}
