//! `inspect`: the layer table and the masks of a checkpoint or a preset.

use std::path::PathBuf;

use clap::Args;
use pixelcnn_studio::checkpoint;
use pixelcnn_studio::model::arch::gated_spec::conv_role;
use pixelcnn_studio::model::arch::memory::{self, format_bytes, MemoryEstimate};
use pixelcnn_studio::model::arch::receptive_field::receptive_field_size;
use pixelcnn_studio::model::{Architecture, GatedSpec, LayerKind, LayerSpec, ModelConfig};
use pixelcnn_studio::train::TrainConfig;

use super::model_args::ModelArgs;

/// Options of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Checkpoint whose architecture to show (instead of a preset).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["preset", "family", "conditional", "layers", "maps", "first_kernel", "masked_kernel", "label_dropout", "vertical_dilation", "vertical_column_dilation"])]
    checkpoint: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let (cfg, batch_size) = match &args.checkpoint {
        Some(path) => {
            let snapshot = checkpoint::load(path)?;
            (snapshot.model, snapshot.config.batch_size)
        }
        None => (args.model.to_config()?, TrainConfig::default().batch_size),
    };
    // The figures of a run with the trainer's defaults: a 10x10 grid of samples per epoch.
    let samples = TrainConfig::default().samples_per_epoch;
    let work = memory::Workload::training(batch_size, samples, memory::TEST_IMAGES);
    let need = memory::estimate(&cfg, &work);
    match cfg.architecture() {
        Architecture::Plain(layers) if args.json => {
            super::print_json(&inspect_json(&cfg, &layers, &need))
        }
        Architecture::Plain(layers) => {
            print!("{}", inspect_text(&cfg, &layers, &need));
            Ok(())
        }
        Architecture::Gated(spec) if args.json => {
            let mut report = gated_json(&cfg, &spec);
            report["memory_estimate"] = memory_json(&need);
            super::print_json(&report)
        }
        Architecture::Gated(spec) => {
            print!("{}{}", gated_text(&cfg, &spec), memory_text(&need));
            Ok(())
        }
    }
}

fn memory_json(need: &MemoryEstimate) -> serde_json::Value {
    serde_json::json!({
        "batch_size": need.batch_size,
        "sample_count": need.sample_count,
        "training_bytes": need.training_bytes(),
        "evaluation_only_bytes": need.evaluation_only_bytes(),
        "sampling_only_bytes": need.sampling_only_bytes(),
        "parts": need,
        "available_bytes": memory::available_bytes(),
    })
}

fn memory_text(need: &MemoryEstimate) -> String {
    let available = memory::available_bytes().map_or_else(|| "unknown".to_string(), format_bytes);
    format!(
        "memory (estimate): training at batch size {} needs {} (weights {}, gradients and Adam {}, \
         activations {}, evaluation {}, {} samples {}); evaluation alone {}; available {available}\n",
        need.batch_size,
        format_bytes(need.training_bytes()),
        format_bytes(need.weights_bytes),
        format_bytes(need.optimizer_bytes),
        format_bytes(need.activation_bytes),
        format_bytes(need.evaluation_bytes),
        need.sample_count,
        format_bytes(need.sampling_bytes),
        format_bytes(need.evaluation_only_bytes()),
    )
}

fn gated_json(cfg: &ModelConfig, spec: &GatedSpec) -> serde_json::Value {
    let convs: Vec<_> = spec
        .convs()
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "role": conv_role(&c.name),
                "kernel": [c.kernel_height, c.kernel_width],
                "taps": c.taps.iter().map(|t| [t.dy, t.dx]).collect::<Vec<_>>(),
                "in_channels": c.in_channels,
                "out_channels": c.out_channels,
                "parameters": c.parameter_count(),
            })
        })
        .collect();
    let field = spec.visible_inputs(14, 14).iter().filter(|&&v| v).count();
    serde_json::json!({
        "config": cfg,
        "family": "gated",
        "conditional": spec.conditional,
        "classes": spec.classes,
        "label_dropout": cfg.label_dropout(),
        "gated_layers": spec.layers.len(),
        "row_dilations": spec.layers.iter().map(|l| l.row_dilation).collect::<Vec<_>>(),
        "column_dilations": spec.layers.iter().map(|l| l.column_dilation).collect::<Vec<_>>(),
        "reach_rows": spec.reach(),
        "reach_columns": spec.reach_columns(),
        "receptive_field_pixels": field,
        "blind_spot": false,
        "convolutions": convs,
        "class_bias_parameters": spec.layers.len() * 2 * 2 * spec.maps * spec.classes,
        "total_params": cfg.parameter_count(),
    })
}

fn gated_text(cfg: &ModelConfig, spec: &GatedSpec) -> String {
    let mut out = format!(
        "gated PixelCNN{}: {} gated layers, {} maps per stack\n\n",
        if spec.conditional {
            ", conditioned on the digit label"
        } else {
            ""
        },
        spec.layers.len(),
        spec.maps
    );
    out.push_str(&format!(
        "{:<18} {:<32} {:>6} {:>5} {:>10} {:>9}\n",
        "convolution", "role", "kernel", "taps", "channels", "params"
    ));
    for c in spec.convs() {
        let dilation = spec
            .layers
            .iter()
            .find(|l| l.conv_v.name == c.name)
            .and_then(|l| l.dilation_label())
            .map_or(String::new(), |label| format!(" ({label})"));
        out.push_str(&format!(
            "{:<18} {:<32} {:>6} {:>5} {:>10} {:>9}{dilation}\n",
            c.name,
            conv_role(&c.name),
            format!("{}x{}", c.kernel_height, c.kernel_width),
            c.taps.len(),
            format!("{}->{}", c.in_channels, c.out_channels),
            c.parameter_count(),
        ));
    }
    if spec.conditional {
        let no_label = if spec.classes > 10 {
            format!(
                " (10 digits and \"no label\": trained with label dropout {})",
                cfg.label_dropout()
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "class biases: layers.N.cond_v and cond_h, {} x {} each{no_label}\n",
            2 * spec.maps,
            spec.classes
        ));
    }
    out.push_str(&format!("total parameters: {}\n", cfg.parameter_count()));
    let field = spec.visible_inputs(14, 14);
    let shape = if spec.is_dilated() {
        format!(
            "{} rows up (the dilated vertical stack) and up to {} columns either side, fewer in \
             the rows farthest up, with no holes",
            spec.reach(),
            spec.reach_columns()
        )
    } else {
        format!(
            "the full rectangle {} rows up and {} columns either side",
            spec.reach(),
            spec.reach_columns()
        )
    };
    out.push_str(&format!(
        "\nreceptive field of pixel (14, 14): {} pixels, no blind spot: {shape}, plus the row to \
         the left\n",
        field.iter().filter(|&&v| v).count(),
    ));
    for (y, row) in field.chunks(28).enumerate() {
        let line: String = row
            .iter()
            .enumerate()
            .map(|(x, &v)| match (y, x) {
                (14, 14) => 'X',
                _ if v => '#',
                _ => '.',
            })
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("# = visible to the logit of X, . = not visible (later pixels or out of reach)\n");
    out
}

fn mask_label(cfg_layer: &LayerSpec) -> &'static str {
    cfg_layer.mask_kind().map_or("-", |k| k.label())
}

fn inspect_json(
    cfg: &ModelConfig,
    layers: &[LayerSpec],
    need: &MemoryEstimate,
) -> serde_json::Value {
    let rows: Vec<_> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            serde_json::json!({
                "name": l.name,
                "kind": l.kind.label(),
                "kernel": l.kernel,
                "mask": mask_label(l),
                "in_channels": l.in_channels,
                "out_channels": l.out_channels,
                "relu": l.relu,
                "residual": l.residual,
                "output_shape": l.output_shape(),
                "parameters": l.parameter_count(),
                "effective_parameters": l.effective_parameter_count(),
                "receptive_field_pixels": receptive_field_size(layers, i),
                "mask_grid": l.mask_kind().map(|_| l.mask().to_text()),
            })
        })
        .collect();
    serde_json::json!({
        "config": cfg,
        "layers": rows,
        "total_params": cfg.parameter_count(),
        "memory_estimate": memory_json(need),
    })
}

fn inspect_text(cfg: &ModelConfig, layers: &[LayerSpec], need: &MemoryEstimate) -> String {
    let masked_b_layers = layers
        .iter()
        .filter(|l| l.kind == LayerKind::MaskedB)
        .count();
    let mut out = format!(
        "{:<12} {:<18} {:>6} {:>4} {:>10} {:>10} {:>6} {:>10} {:>9}\n",
        "layer", "kind", "kernel", "mask", "channels", "output", "relu", "params", "field"
    );
    for (i, l) in layers.iter().enumerate() {
        let [c, h, w] = l.output_shape();
        out.push_str(&format!(
            "{:<12} {:<18} {:>6} {:>4} {:>10} {:>10} {:>6} {:>10} {:>9}\n",
            l.name,
            l.kind.label(),
            format!("{}x{}", l.kernel, l.kernel),
            mask_label(l),
            format!("{}->{}", l.in_channels, l.out_channels),
            format!("{c}x{h}x{w}"),
            if l.residual {
                "res"
            } else if l.relu {
                "yes"
            } else {
                "no"
            },
            l.parameter_count(),
            receptive_field_size(layers, i),
        ));
    }
    out.push_str(&format!("total parameters: {}\n", cfg.parameter_count()));
    out.push_str(&memory_text(need));
    out.push_str("field = input pixels visible from the centre pixel through the layers so far\n");
    let mut shown = Vec::new();
    for l in layers.iter().filter(|l| l.mask_kind().is_some()) {
        let key = (l.kernel, mask_label(l));
        if shown.contains(&key) {
            continue;
        }
        shown.push(key);
        out.push_str(&format!(
            "\nmask {} ({}x{}, used by {}{}): # visible, . hidden, [ ] centre\n{}",
            mask_label(l),
            l.kernel,
            l.kernel,
            l.name,
            if l.kind == LayerKind::MaskedB && masked_b_layers > 1 {
                " and the other mask-B layers"
            } else {
                ""
            },
            l.mask().to_text()
        ));
    }
    out
}
