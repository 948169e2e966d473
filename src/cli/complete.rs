//! `complete`: keep the top rows of an image and let a checkpoint's model draw the rest, several
//! times; writes the original beside its completions as a PNG.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use pixelcnn_studio::checkpoint;
use pixelcnn_studio::explore::completion::complete_styled;
use pixelcnn_studio::explore::completion::completion_labels;
use pixelcnn_studio::explore::render::completion_sheet;
use pixelcnn_studio::explore::{keep_pixels_for_rows, nll_maps, CompletionSpec, MAX_COMPLETIONS};
use pixelcnn_studio::model::CpuNet;

use super::image_source::ImageSourceArgs;

/// Screen pixels per image pixel in the PNG.
const SHEET_SCALE: usize = 4;
/// Tiles per row of the PNG (the original and up to 10 completions).
const SHEET_COLUMNS: usize = 11;

/// Options of `complete`.
#[derive(Debug, Args)]
pub struct CompleteArgs {
    /// Checkpoint whose model completes the image.
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    #[command(flatten)]
    source: ImageSourceArgs,
    /// Image rows kept from the top (0-28); the model draws the rest.
    #[arg(long, value_name = "K")]
    keep_rows: usize,
    /// Completions to draw (1-100).
    #[arg(long, value_name = "N", default_value_t = 10)]
    count: usize,
    /// Seed of the sampler.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Classifier-free guidance scale (as `sample --guidance`; needs a conditional model trained
    /// with label dropout) [default: 2.5 for such a model, else 1].
    #[arg(long, value_name = "S")]
    guidance: Option<f32>,
    /// Temperature (as `sample --temperature`) [default: 0.8 for a model trained with label
    /// dropout, else 1].
    #[arg(long, value_name = "T")]
    temperature: Option<f32>,
    /// PNG to write: the original (cut line in red) then the completions (kept ink white, drawn
    /// ink amber), 11 to a row.
    #[arg(long, value_name = "FILE.png")]
    out: PathBuf,
    /// Print one JSON object (the completions' pixels and NLLs, ...).
    #[arg(long)]
    json: bool,
}

pub fn run(args: CompleteArgs) -> anyhow::Result<()> {
    let keep_pixels = keep_pixels_for_rows(args.keep_rows)?;
    anyhow::ensure!(
        (1..=MAX_COMPLETIONS).contains(&args.count),
        "--count {} is out of range: use 1..={MAX_COMPLETIONS}",
        args.count
    );
    let snapshot = checkpoint::load(&args.checkpoint)?;
    let picked = args.source.pick()?;
    let class = args.source.class_for(&picked, &snapshot.model)?;
    let style = super::sample::chosen_style(args.guidance, args.temperature, &snapshot.model)?;
    let net = CpuNet::new(&snapshot.model, snapshot.eval_params());
    let spec = CompletionSpec {
        keep_pixels,
        count: args.count,
        label: class,
        seed: args.seed,
    };
    let started = Instant::now();
    let grid = complete_styled(&net, &picked.pixels, spec, style, &mut |_| {})?;
    let seconds = started.elapsed().as_secs_f64();
    let sheet = completion_sheet(
        &picked.pixels,
        &grid.pixels,
        keep_pixels,
        None,
        SHEET_COLUMNS,
        SHEET_SCALE,
    );
    super::save_rgb_png(sheet, &args.out)?;
    if args.json {
        let maps = nll_maps(&net, &grid.pixels, &completion_labels(spec));
        let completions: Vec<_> = grid
            .pixels
            .chunks_exact(784)
            .zip(&maps)
            .map(|(pixels, map)| {
                let bits: Vec<u8> = pixels.iter().map(|&p| u8::from(p > 0.5)).collect();
                serde_json::json!({ "pixels": bits, "nll_nats": map.nll_nats() })
            })
            .collect();
        return super::print_json(&serde_json::json!({
            "source": picked.source,
            "class": class,
            "keep_rows": args.keep_rows,
            "count": args.count,
            "seed": args.seed,
            "seconds": seconds,
            "out": args.out,
            "completions": completions,
        }));
    }
    let as_class = class.map_or(String::new(), |c| format!(" as a {c}"));
    println!(
        "{}{as_class}: kept {}, drew {} in {seconds:.2} s: {}",
        picked.description,
        super::count_of(args.keep_rows, "row"),
        super::count_of(args.count, "completion"),
        args.out.display()
    );
    Ok(())
}
