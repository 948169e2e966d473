//! The command line: argument definitions and dispatch to one module per subcommand.

mod bench;
mod complete;
mod eval;
mod image_source;
mod inspect;
mod model_args;
mod nll_map;
mod sample;
mod train;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Train, watch and inspect a PixelCNN on binarized MNIST.
///
/// With no subcommand, opens the desktop studio.
#[derive(Debug, Parser)]
#[command(name = "pixelcnn-studio", version, about, long_about = None)]
pub struct Cli {
    /// Folder with the four MNIST IDX files (raw or .gz) for the studio; default: the shipped copy.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a model (or resume one) and report train/test costs.
    Train(Box<train::TrainArgs>),
    /// Measure a checkpoint's cost on the (fixed-binarization) test images.
    Eval(eval::EvalArgs),
    /// Draw samples from a checkpoint into a PNG grid.
    Sample(sample::SampleArgs),
    /// Show the layer table and the masks of a checkpoint or a preset.
    Inspect(inspect::InspectArgs),
    /// Measure training/eval speed, sampling time and peak memory (medians of several runs).
    Bench(bench::BenchArgs),
    /// Score one image pixel by pixel: its NLL and where the model is surprised (a heatmap).
    NllMap(nll_map::NllMapArgs),
    /// Keep the top rows of an image and let the model complete the rest, several times.
    Complete(complete::CompleteArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // A misspelt kernel choice is an error, not silently the default.
    pixelcnn_studio::model::cpu::gemm::kernel_from_env().map_err(anyhow::Error::msg)?;
    match cli.command {
        None => pixelcnn_studio::ui::run_studio(cli.data),
        Some(Command::Train(args)) => train::run(*args),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Sample(args)) => sample::run(args),
        Some(Command::Inspect(args)) => inspect::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::NllMap(args)) => nll_map::run(args),
        Some(Command::Complete(args)) => complete::run(args),
    }
}

/// `n` and the noun, plural unless `n` is 1: "1 completion", "10 completions".
fn count_of(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Parses a digit option (`--class`): 0 to 9, said that way when the value is not one.
pub fn parse_digit(text: &str) -> Result<u8, String> {
    match text.trim().parse::<u8>() {
        Ok(digit) if digit <= 9 => Ok(digit),
        _ => Err("use a digit from 0 to 9".to_string()),
    }
}

/// Prints `value` as one JSON object on stdout. A field whose value does not exist (`null`:
/// no test cost yet, no class for an unconditional model, no `--out`) is left out, at every
/// depth, so a reader finds either a value or no field.
fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut value = value.clone();
    drop_nulls(&mut value);
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// Removes every object field whose value is `null`, in nested objects and arrays too.
fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(fields) => {
            fields.retain(|_, field| !field.is_null());
            fields.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Loads MNIST from `dir` or the shipped copy, with the path in any error.
fn load_data(dir: Option<&std::path::Path>) -> anyhow::Result<pixelcnn_studio::data::Mnist> {
    let dir = dir.map_or_else(pixelcnn_studio::data::default_data_dir, |d| d.to_path_buf());
    Ok(pixelcnn_studio::data::load_mnist(&dir)?)
}

/// Writes an RGB picture as a PNG, atomically, with the path in any error.
fn save_rgb_png(
    canvas: pixelcnn_studio::explore::render::Canvas,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let image = image::RgbImage::from_raw(canvas.width as u32, canvas.height as u32, canvas.rgb)
        .context("the picture has the wrong number of pixels")?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .context("encoding the PNG failed")?;
    pixelcnn_studio::imaging::write_png(path, &bytes.into_inner())
}

/// clap's usage error as one line: its paragraphs but the usage and the pointer to `--help`,
/// joined, e.g. "error: unexpected argument '--jsn' found; tip: a similar argument exists:
/// '--json' (see --help)".
pub fn usage_error_line(rendered: &str) -> String {
    let paragraphs: Vec<String> = rendered
        .split("\n\n")
        .filter(|p| {
            let p = p.trim_start();
            !p.is_empty() && !p.starts_with("Usage:") && !p.starts_with("For more information")
        })
        .map(|p| {
            p.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let text = paragraphs.join("; ");
    let text = if text.starts_with("error:") {
        text
    } else {
        format!("error: {text}")
    };
    format!("{text} (see --help)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_fields_are_left_out_at_every_depth() {
        let mut value = serde_json::json!({
            "cost": null,
            "steps": 3,
            "source": { "test_index": 1, "label": null },
            "items": [{ "a": null, "b": 1 }],
        });
        drop_nulls(&mut value);
        assert_eq!(
            value,
            serde_json::json!({ "steps": 3, "source": { "test_index": 1 }, "items": [{ "b": 1 }] })
        );
    }

    #[test]
    fn a_digit_is_0_to_9_and_the_error_says_so() {
        assert_eq!(parse_digit("7"), Ok(7));
        assert_eq!(
            parse_digit("10"),
            Err("use a digit from 0 to 9".to_string())
        );
        assert!(parse_digit("-1").is_err());
        assert_eq!(count_of(1, "completion"), "1 completion");
        assert_eq!(count_of(2, "completion"), "2 completions");
    }

    #[test]
    fn a_usage_error_becomes_one_line_with_its_tip() {
        let rendered = "error: unexpected argument '--jsn' found\n\n  tip: a similar argument exists: '--json'\n\nUsage: pixelcnn-studio eval --checkpoint <FILE> --json\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_error_line(rendered),
            "error: unexpected argument '--jsn' found; tip: a similar argument exists: '--json' (see --help)"
        );
        let missing = "error: the following required arguments were not provided:\n  --checkpoint <FILE>\n\nUsage: pixelcnn-studio eval --checkpoint <FILE>\n";
        assert_eq!(
            usage_error_line(missing),
            "error: the following required arguments were not provided: --checkpoint <FILE> (see --help)"
        );
    }
}
