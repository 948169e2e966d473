//! `nll-map`: where a checkpoint's model finds an image surprising: every pixel's cost
//! `-log p(x_i | x_<i)`, the total NLL, and the heatmap as a PNG.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use pixelcnn_studio::checkpoint;
use pixelcnn_studio::explore::render::{heatmap_canvas, HEAT_SCALE_MAX_NATS};
use pixelcnn_studio::explore::{nll_map, NllMap};
use pixelcnn_studio::model::CpuNet;

use super::image_source::ImageSourceArgs;

/// Screen pixels per image pixel in the heatmap PNG.
const MAP_SCALE: usize = 10;

/// Options of `nll-map`.
#[derive(Debug, Args)]
pub struct NllMapArgs {
    /// Checkpoint whose model scores the image.
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    #[command(flatten)]
    source: ImageSourceArgs,
    /// Write the heatmap here as a PNG (280x280: each pixel's cost in colour, from dark at 0 to
    /// bright at 4 nats or more; ink marked by a white square).
    #[arg(long, value_name = "FILE.png")]
    out: Option<PathBuf>,
    /// Print one JSON object (`nll_nats`, `bits_per_dim`, the 784 `pixel_costs_nats`, ...).
    #[arg(long)]
    json: bool,
}

pub fn run(args: NllMapArgs) -> anyhow::Result<()> {
    let snapshot = checkpoint::load(&args.checkpoint)?;
    let picked = args.source.pick()?;
    let class = args.source.class_for(&picked, &snapshot.model)?;
    let net = CpuNet::new(&snapshot.model, snapshot.eval_params());
    let map = nll_map(&net, &picked.pixels, class).context("the image is not 28x28")?;
    if let Some(out) = &args.out {
        save_heatmap(&map, &picked.pixels, out)?;
    }
    if args.json {
        return super::print_json(&serde_json::json!({
            "source": picked.source,
            "class": class,
            "nll_nats": map.nll_nats(),
            "bits_per_dim": map.bits_per_dim(),
            "cost_nats_per_pixel": map.cost_nats_per_pixel(),
            "pixel_costs_nats": map.cost_nats,
            "prob_on": map.prob_on,
            "out": args.out,
        }));
    }
    let as_class = class.map_or(String::new(), |c| format!(" as a {c}"));
    println!(
        "{}{as_class}: NLL {:.3} nats = {:.4} bits/dim; most surprising pixel {:.2} nats",
        picked.description,
        map.nll_nats(),
        map.bits_per_dim(),
        map.max_cost_nats()
    );
    if let Some(out) = &args.out {
        println!(
            "heatmap (0 to {HEAT_SCALE_MAX_NATS}+ nats, dark to bright): {}",
            out.display()
        );
    }
    Ok(())
}

fn save_heatmap(map: &NllMap, pixels: &[f32], out: &std::path::Path) -> anyhow::Result<()> {
    let canvas = heatmap_canvas(map, pixels, MAP_SCALE);
    super::save_rgb_png(canvas, out)
}
