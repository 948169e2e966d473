//! `train`: train or resume a model with a progress bar; Ctrl-C stops after the current step and
//! still writes the checkpoint.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pixelcnn_studio::checkpoint;
use pixelcnn_studio::train::{
    bits_per_dim, nats_per_image, DeviceChoice, Precision, TrainConfig, TrainEvent, Trainer,
};

use super::model_args::ModelArgs;

/// Options of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Total epochs to reach (a resumed run continues up to this many) [default: 1].
    #[arg(long, value_name = "N")]
    epochs: Option<usize>,
    /// Images per minibatch [default: 100].
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    /// Adam's learning rate [default: 0.001].
    #[arg(long, value_name = "F")]
    lr: Option<f64>,
    /// Seed of initialisation, shuffling, binarization and sampling [default: 1].
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Train on the first N of the 60,000 training images.
    #[arg(long, value_name = "N")]
    train_limit: Option<usize>,
    /// Test on the first N of the 10,000 test images.
    #[arg(long, value_name = "N")]
    test_limit: Option<usize>,
    /// Folder with the four MNIST IDX files (raw or .gz); default: the shipped copy.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Checkpoint to write when training ends (also on Ctrl-C or a NaN loss).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Checkpoint to continue from (its architecture and state; options given here override its settings).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["preset", "family", "conditional", "layers", "maps", "first_kernel", "seed"])]
    resume: Option<PathBuf>,
    /// Write a 10x10 grid of samples as epoch_N.png here after each epoch.
    #[arg(long, value_name = "DIR")]
    samples_dir: Option<PathBuf>,
    /// Where the network runs: `cpu` (fast kernels), `cuda` (the GPU path; needs a build with
    /// `--features cuda`) or `candle-cpu` (the GPU path on the CPU: slow, a check) [default: cpu].
    #[arg(long, value_name = "DEVICE", value_parser = parse_device)]
    device: Option<DeviceChoice>,
    /// Matmul precision on a GPU: `fp32` or `tf32` (tensor cores; needs --device cuda).
    #[arg(long, value_name = "P", value_parser = parse_precision, default_value = "fp32")]
    precision: Precision,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// Parses `--device`.
pub fn parse_device(name: &str) -> Result<DeviceChoice, String> {
    DeviceChoice::parse(name)
}

/// Parses `--precision`.
pub fn parse_precision(name: &str) -> Result<Precision, String> {
    Precision::parse(name)
}

impl TrainArgs {
    fn apply(&self, mut config: TrainConfig) -> TrainConfig {
        if let Some(v) = self.epochs {
            config.epochs = v;
        }
        if let Some(v) = self.batch_size {
            config.batch_size = v;
        }
        if let Some(v) = self.lr {
            config.learning_rate = v;
        }
        if let Some(v) = self.seed {
            config.seed = v;
        }
        if self.train_limit.is_some() {
            config.train_limit = self.train_limit;
        }
        if self.test_limit.is_some() {
            config.test_limit = self.test_limit;
        }
        if let Some(device) = self.device {
            config.device = device;
        }
        config.samples_per_epoch = if self.samples_dir.is_some() { 100 } else { 0 };
        config
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let mut trainer = match &args.resume {
        Some(path) => {
            let snapshot = checkpoint::load(path)?;
            let config = args.apply(snapshot.config.clone());
            let mut trainer = Trainer::from_snapshot(snapshot)?;
            trainer.set_config(config)?;
            trainer
        }
        None => {
            let model = args.model.to_config()?;
            let config = args.apply(TrainConfig {
                epochs: 1,
                ..TrainConfig::default()
            });
            Trainer::new(model, config)?
        }
    };
    args.precision
        .apply(trainer.config().device)
        .map_err(anyhow::Error::msg)?;
    if let Some(dir) = &args.samples_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the samples folder failed: {}", dir.display()))?;
    }
    let data = super::load_data(args.data.as_deref())?;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        // A second handler cannot be installed (e.g. in tests running twice): training still works.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed));
    }
    let steps_per_epoch = trainer.steps_per_epoch(&data.train);
    let remaining_epochs = trainer
        .config()
        .epochs
        .saturating_sub(trainer.progress().epochs_done);
    let remaining_steps = (remaining_epochs * steps_per_epoch)
        .saturating_sub(trainer.progress().step_in_epoch) as u64;
    let bar = ProgressBar::new(remaining_steps);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} epoch {prefix} [{bar:30}] {pos}/{len} steps  {msg}  ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut sample_error: Option<anyhow::Error> = None;
    let samples_dir = args.samples_dir.clone();
    let json = args.json;
    let result = trainer.run(&data, &stop, &mut |event| match event {
        TrainEvent::Started { .. } => {}
        TrainEvent::Step {
            epoch_progress,
            loss_nats_per_pixel,
            images_per_sec,
            ..
        } => {
            bar.set_prefix(format!("{:.2}", epoch_progress));
            bar.set_message(format!(
                "loss {loss_nats_per_pixel:.4}  {images_per_sec:.0} img/s"
            ));
            bar.inc(1);
        }
        TrainEvent::EpochFinished(record) => {
            if !json {
                bar.println(format!(
                    "epoch {}: train {:.5} nats/pixel, test {:.5} nats/pixel = {:.2} nats/image ({:.0} img/s)",
                    record.epoch,
                    record.train_cost_nats_per_pixel,
                    record.test_cost_nats_per_pixel,
                    record.test_nll_nats_per_image(),
                    record.images_per_sec
                ));
            }
        }
        TrainEvent::SamplesReady { epoch, grid } => {
            if let Some(dir) = &samples_dir {
                let path = dir.join(format!("epoch_{epoch}.png"));
                if let Err(err) = pixelcnn_studio::imaging::save_grid_png(grid, &path) {
                    sample_error.get_or_insert(err);
                }
            }
        }
        TrainEvent::Finished { .. } | TrainEvent::Failed { .. } => bar.finish_and_clear(),
    });
    // The weights are the last good ones even when training failed: save them either way.
    if let Some(out) = &args.out {
        if let Err(save_err) = checkpoint::save(out, trainer.snapshot()) {
            return Err(match result {
                Err(train_err) => anyhow::anyhow!("{train_err}; and {save_err}"),
                Ok(_) => save_err.into(),
            });
        }
    }
    let summary = result?;
    if let Some(err) = sample_error {
        return Err(err);
    }
    report(
        &args,
        &trainer,
        summary.images_per_sec,
        summary.stopped,
        args.out.as_deref(),
    )
}

fn report(
    args: &TrainArgs,
    trainer: &Trainer,
    images_per_sec: f64,
    stopped: bool,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let last = trainer.history().epochs.last();
    let train_cost = last.map(|r| r.train_cost_nats_per_pixel);
    let test_cost = last.map(|r| r.test_cost_nats_per_pixel);
    let progress = trainer.progress();
    if args.json {
        return super::print_json(&serde_json::json!({
            "epochs": progress.epochs_done,
            "steps": progress.global_step,
            "train_cost_nats_per_pixel": train_cost,
            "test_cost_nats_per_pixel": test_cost,
            "test_nll_nats_per_image": test_cost.map(nats_per_image),
            "test_bits_per_dim": test_cost.map(bits_per_dim),
            "images_per_sec": images_per_sec,
            "stopped": stopped,
            "checkpoint": out,
        }));
    }
    if stopped {
        println!("stopped after step {}", progress.global_step);
    }
    if let (Some(train), Some(test)) = (train_cost, test_cost) {
        println!(
            "after {} epochs ({} steps): train {train:.5} nats/pixel, test {test:.5} nats/pixel = {:.2} nats/image = {:.4} bits/dim, {images_per_sec:.0} img/s",
            progress.epochs_done,
            progress.global_step,
            nats_per_image(test),
            bits_per_dim(test)
        );
    }
    match out {
        Some(path) => println!("checkpoint: {}", path.display()),
        None => println!("no checkpoint written (pass --out FILE to keep the model)"),
    }
    Ok(())
}
