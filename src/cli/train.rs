//! `train`: train or resume a model through the one training driver, with a progress bar; the
//! checkpoint (and metrics CSV) is written at every epoch end; Ctrl-C stops after the current
//! step, evaluation chunk or sample row and still writes them. With `--run DIR` the run lives in
//! a run folder ([`pixelcnn_studio::run`]), written as the studio writes its own (and followed
//! live by a studio that opens it).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pixelcnn_studio::checkpoint;
use pixelcnn_studio::run::{RunFiles, RunState, RunWriter, WriterOptions, DEFAULT_AUTOSAVE_EVERY};
use pixelcnn_studio::train::metrics_csv::write_history_csv;
use pixelcnn_studio::train::{
    bits_per_dim, default_learning_rate, nats_per_image, DeviceChoice, Driver, LrSchedule,
    Precision, RunHooks, RunOutcome, TrainConfig, TrainEvent, Trainer, WeightAveraging,
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
    /// Adam's learning rate [default: 0.001 for the plain family (the reference recipe), 0.008
    /// for gated models up to 32 maps (the `gated` preset), 0.003 for wider ones]; with a
    /// schedule, its peak.
    #[arg(long, value_name = "F")]
    lr: Option<f64>,
    /// How the learning rate moves: `constant`, or `cosine` (20 steps of warm-up, then a cosine
    /// decay to 0 at the end of the epochs, or of --time-limit) [default: constant].
    #[arg(long, value_name = "NAME", value_parser = LrSchedule::parse)]
    lr_schedule: Option<LrSchedule>,
    /// Evaluate and sample with an exponential moving average of the weights, of decay D
    /// (warmed up as min(D, (1+k)/(10+k)) at step k), or `off` [default: 0.95; a resumed run
    /// keeps its checkpoint's].
    #[arg(long, value_name = "D|off", value_parser = parse_averaging)]
    weight_averaging: Option<Averaging>,
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
    /// Checkpoint to write at every epoch end and when training ends (also on Ctrl-C or a NaN
    /// loss), so a killed run loses at most one epoch.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write the metric history as CSV (series,epoch,step,value) here, at every epoch end and
    /// when training ends.
    #[arg(long, value_name = "FILE")]
    metrics_csv: Option<PathBuf>,
    /// Checkpoint to continue from (its architecture and state; options given here override its settings).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["preset", "family", "conditional", "layers", "maps", "first_kernel", "masked_kernel", "label_dropout", "vertical_dilation", "vertical_column_dilation", "seed"])]
    resume: Option<PathBuf>,
    /// Write a 10x10 grid of samples as epoch_N.png here after each epoch.
    #[arg(long, value_name = "DIR")]
    samples_dir: Option<PathBuf>,
    /// Train in this run folder: a new run when the folder does not exist or is empty (from
    /// the model options, or from --resume FILE), the run there continued when it holds one.
    /// Its checkpoint and metrics are written at every epoch end, at least every 2 minutes of
    /// training and at the end, with every epoch's grid, the config, a log and the run's
    /// state, which a studio that opens the folder follows live.
    #[arg(long, value_name = "DIR")]
    run: Option<PathBuf>,
    /// With --run: the longest stretch of training between two checkpoints, in seconds.
    #[arg(long, value_name = "SECS", hide = true)]
    autosave_secs: Option<f64>,
    /// Where the network runs: `cpu` (fast kernels), `cuda` (the GPU path; needs a build with
    /// `--features cuda`) or `candle-cpu` (the GPU path on the CPU: slow, a check) [default: cpu].
    #[arg(long, value_name = "DEVICE", value_parser = parse_device)]
    device: Option<DeviceChoice>,
    /// Stop training after this many seconds of wall clock (steps, evaluations and grids
    /// included), then measure the test cost of the model as it stands (reported as the final
    /// test cost) and write `--out`.
    #[arg(long, value_name = "SECS")]
    time_limit: Option<f64>,
    /// Matmul precision on a GPU: `fp32` or `tf32` (tensor cores; needs --device cuda).
    #[arg(long, value_name = "P", value_parser = parse_precision, default_value = "fp32")]
    precision: Precision,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// `--weight-averaging`: a decay, or off.
#[derive(Clone, Copy, Debug)]
struct Averaging(Option<WeightAveraging>);

/// Parses `--weight-averaging`.
fn parse_averaging(text: &str) -> Result<Averaging, String> {
    if text == "off" {
        return Ok(Averaging(None));
    }
    match text.parse::<f32>() {
        Ok(decay) if decay > 0.0 && decay < 1.0 => Ok(Averaging(Some(WeightAveraging { decay }))),
        _ => Err(format!(
            "'{text}' is not a decay: use a number between 0 and 1 (e.g. 0.95) or off"
        )),
    }
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
        if let Some(schedule) = self.lr_schedule {
            config.lr_schedule = schedule;
        }
        if let Some(Averaging(averaging)) = self.weight_averaging {
            config.weight_averaging = averaging;
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
        // A run folder keeps every epoch's grid.
        config.samples_per_epoch = if self.samples_dir.is_some() || self.run.is_some() {
            100
        } else {
            0
        };
        config
    }

    /// How `--run` writes its folder.
    fn writer_options(&self) -> anyhow::Result<WriterOptions> {
        let autosave_every = match self.autosave_secs {
            None => DEFAULT_AUTOSAVE_EVERY,
            Some(secs) if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs),
            Some(secs) => {
                anyhow::bail!("--autosave-secs {secs} is not a positive number of seconds")
            }
        };
        Ok(WriterOptions {
            program: "train",
            autosave_every,
        })
    }

    /// Whether an option that sets the architecture (or the seed it is made from) was given.
    fn sets_the_model(&self) -> bool {
        let m = &self.model;
        m.preset.is_some()
            || m.family.is_some()
            || m.conditional
            || m.layers.is_some()
            || m.maps.is_some()
            || m.first_kernel.is_some()
            || m.masked_kernel.is_some()
            || self.seed.is_some()
    }
}

/// The run `--run DIR` continues, when the folder holds one: its writer and its checkpoint.
fn take_over_run(
    args: &TrainArgs,
) -> anyhow::Result<Option<(RunWriter, pixelcnn_studio::train::TrainingSnapshot)>> {
    let Some(dir) = &args.run else {
        return Ok(None);
    };
    if !RunFiles::new(dir).status().exists() {
        return Ok(None);
    }
    if args.resume.is_some() {
        anyhow::bail!(
            "--run {} holds a run already: leave out --resume to continue it, or pick a new folder",
            dir.display()
        );
    }
    if args.sets_the_model() {
        anyhow::bail!(
            "--run {} holds a run already, whose model is fixed: leave out the model options and --seed to continue it",
            dir.display()
        );
    }
    let options = args.writer_options()?;
    Ok(Some(RunWriter::take_over(dir, &options)?))
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    if let Some(secs) = args.time_limit {
        anyhow::ensure!(
            secs.is_finite() && secs > 0.0,
            "--time-limit {secs} is not a positive number of seconds"
        );
    }
    let (taken_writer, taken_snapshot) = match take_over_run(&args)? {
        Some((writer, snapshot)) => (Some(writer), Some(snapshot)),
        None => (None, None),
    };
    let mut trainer = match (taken_snapshot, &args.resume) {
        (Some(snapshot), _) => {
            let config = args.apply(snapshot.config.clone());
            let mut trainer = Trainer::from_snapshot(snapshot)?;
            trainer.set_config(config)?;
            trainer
        }
        (None, Some(path)) => {
            let snapshot = checkpoint::load(path)?;
            let config = args.apply(snapshot.config.clone());
            let mut trainer = Trainer::from_snapshot(snapshot)?;
            trainer.set_config(config)?;
            trainer
        }
        (None, None) => {
            let model = args.model.to_config()?;
            let config = args.apply(TrainConfig {
                epochs: 1,
                learning_rate: default_learning_rate(&model),
                ..TrainConfig::default()
            });
            Trainer::new(model, config)?
        }
    };
    // The schedule's decay ends at the time limit, when there is one.
    trainer.set_time_budget(args.time_limit)?;
    args.precision
        .apply(trainer.config().device)
        .map_err(anyhow::Error::msg)?;
    if let Some(dir) = &args.samples_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the samples folder failed: {}", dir.display()))?;
    }
    let data = super::load_data(args.data.as_deref())?;
    let mut run_writer = match (taken_writer, &args.run) {
        (Some(writer), _) => Some(writer),
        (None, Some(dir)) => Some(RunWriter::create(dir, &trainer, &args.writer_options()?)?),
        (None, None) => None,
    };
    if let Some(writer) = &mut run_writer {
        writer.begin(&trainer, trainer.steps_per_epoch(&data.train))?;
        if !args.json {
            eprintln!("run folder: {}", writer.dir().display());
        }
    }

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
    let mut hooks = CliHooks {
        bar: &bar,
        stop: &stop,
        args: &args,
        run: run_writer,
        failure: None,
        deadline: args
            .time_limit
            .map(|secs| Instant::now() + Duration::from_secs_f64(secs)),
        time_up: false,
    };
    let mut result = Driver::new().run(&mut trainer, &data, &mut hooks);
    bar.finish_and_clear();
    let failure = hooks.failure.take();
    let run_writer = hooks.run.take();
    // Stopped by the time limit part-way through an epoch: the cost of the model as it stands.
    let mut final_test_cost = None;
    if hooks.time_up && failure.is_none() && result.is_ok() {
        if !args.json {
            eprintln!("time limit reached: measuring the test cost of the model as it stands");
        }
        match trainer.test_cost(&data.test) {
            Ok(cost) => final_test_cost = Some(cost),
            Err(err) => result = Err(err),
        }
    }
    // The weights are the last good ones even when training failed: save them either way.
    let saved = save_outputs(&args, &trainer);
    if let Some(mut writer) = run_writer {
        let error = match (&result, &failure) {
            (Err(err), _) => Some(err.to_string()),
            (Ok(_), Some(err)) => Some(format!("{err:#}")),
            (Ok(_), None) => None,
        };
        let state = if error.is_none() && trainer.is_finished() {
            RunState::Finished
        } else {
            RunState::Stopped
        };
        writer.settle(&trainer, state, error)?;
    }
    let outcome = match (result, saved) {
        (Err(train_err), Err(save_err)) => {
            return Err(anyhow::anyhow!("{train_err}; and {save_err:#}"))
        }
        (Err(train_err), Ok(())) => return Err(train_err.into()),
        (Ok(_), Err(save_err)) => return Err(save_err),
        (Ok(outcome), Ok(())) => outcome,
    };
    if let Some(err) = failure {
        return Err(err);
    }
    report(
        &args,
        &trainer,
        trainer.overall_images_per_sec(),
        outcome == RunOutcome::Yielded,
        final_test_cost,
    )
}

/// Writes `--out` and `--metrics-csv` (each when asked for).
fn save_outputs(args: &TrainArgs, trainer: &Trainer) -> anyhow::Result<()> {
    if let Some(out) = &args.out {
        checkpoint::save(out, trainer.snapshot())?;
    }
    if let Some(csv) = &args.metrics_csv {
        write_history_csv(csv, trainer.history()).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// The command line's side of a run: the progress bar, Ctrl-C, and the files written at every
/// epoch end (checkpoint, metrics CSV, sample grid) and, with `--run`, the run folder. A failed
/// write stops the run at once.
struct CliHooks<'a> {
    bar: &'a ProgressBar,
    stop: &'a AtomicBool,
    args: &'a TrainArgs,
    /// The run folder's writer (`--run`).
    run: Option<RunWriter>,
    /// The first failure of a file written during the run.
    failure: Option<anyhow::Error>,
    /// When `--time-limit` ends the run.
    deadline: Option<Instant>,
    /// Whether the deadline ended it.
    time_up: bool,
}

impl CliHooks<'_> {
    /// A line for the user above the progress bar (printed plainly when stderr is no terminal
    /// and the bar is hidden, so logs still get it).
    fn say(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl RunHooks for CliHooks<'_> {
    fn on_event(&mut self, trainer: &Trainer, event: TrainEvent<'_>) {
        if let Some(writer) = &mut self.run {
            let written = writer
                .record(trainer, &event)
                .and_then(|saved| match saved {
                    Some(saved) => Ok(Some(saved)),
                    None => writer.tick(trainer),
                });
            if let Err(err) = written {
                self.failure.get_or_insert(err.into());
                // As for --out below: no epoch line for an epoch whose files are not written.
                return;
            }
        }
        match event {
            TrainEvent::Step {
                epoch_progress,
                loss_nats_per_pixel,
                images_per_sec,
                ..
            } => {
                self.bar.set_prefix(format!("{epoch_progress:.2}"));
                self.bar.set_message(format!(
                    "loss {loss_nats_per_pixel:.4}  {images_per_sec:.0} img/s"
                ));
                self.bar.inc(1);
            }
            TrainEvent::Evaluating {
                images_done,
                images_total,
            } => {
                self.bar.set_message(format!(
                    "evaluating {images_done}/{images_total} test images"
                ));
            }
            TrainEvent::EpochFinished(record) => {
                // Every epoch end is saved: a killed run loses at most one epoch. The epoch's
                // line follows its files, so a line shown means they are on disk, and a failed
                // write (a full disk) leaves stderr with its one error line.
                if let Err(err) = save_outputs(self.args, trainer) {
                    self.failure.get_or_insert(err);
                    return;
                }
                if !self.args.json {
                    self.say(format!(
                        "epoch {}: train {:.5} nats/pixel, test {:.5} nats/pixel = {:.2} nats/image ({:.0} img/s)",
                        record.epoch,
                        record.train_cost_nats_per_pixel,
                        record.test_cost_nats_per_pixel,
                        record.test_nll_nats_per_image(),
                        record.images_per_sec
                    ));
                }
            }
            TrainEvent::Sampling { .. } => {}
            TrainEvent::SamplesReady { stamp, grid } => {
                let (Some(dir), Some(epoch)) = (&self.args.samples_dir, stamp.completed_epoch())
                else {
                    return;
                };
                let path = dir.join(format!("epoch_{epoch}.png"));
                if let Err(err) = pixelcnn_studio::imaging::save_grid_png(grid, &path) {
                    self.failure.get_or_insert(err);
                }
            }
        }
    }

    fn should_yield(&mut self) -> bool {
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            self.time_up = true;
        }
        self.time_up || self.stop.load(Ordering::Relaxed) || self.failure.is_some()
    }
}

fn report(
    args: &TrainArgs,
    trainer: &Trainer,
    images_per_sec: f64,
    stopped: bool,
    final_test_cost: Option<f64>,
) -> anyhow::Result<()> {
    let out = args.out.as_deref();
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
            "final_test_cost_nats_per_pixel": final_test_cost,
            "final_test_nll_nats_per_image": final_test_cost.map(nats_per_image),
            "checkpoint": out,
            "run": args.run,
        }));
    }
    if stopped {
        println!("stopped after step {}", progress.global_step);
    }
    if let Some(test) = final_test_cost {
        println!(
            "at the time limit ({} steps, epoch {:.2}): test {test:.5} nats/pixel = {:.2} nats/image",
            progress.global_step,
            trainer.history().steps.recent.back().map_or(0.0, |p| p.epoch),
            nats_per_image(test)
        );
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
    match (out, &args.run) {
        (Some(path), _) => println!("checkpoint: {}", path.display()),
        (None, Some(_)) => {}
        (None, None) => println!("no checkpoint written (pass --out FILE to keep the model)"),
    }
    if let Some(dir) = &args.run {
        println!("run folder: {}", dir.display());
    }
    Ok(())
}
