//! Architecture options shared by `train` and `inspect`.

use clap::Args;
use pixelcnn_studio::model::{
    DilationPattern, FamilyConfig, LabelDropout, ModelConfig, ModelFamily,
};

/// A preset plus overrides.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Architecture preset: `seed` (the 6-layer reference), `paper` (15 mask-B layers, 128
    /// maps), `gated` (the gated PixelCNN sized for a 10-minute CPU run) or `gated-large`
    /// (15 gated layers, 128 maps).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Architecture family: `plain` (masked convolutions) or `gated` (overrides the preset).
    #[arg(long, value_name = "NAME", value_parser = ModelFamily::parse)]
    pub family: Option<ModelFamily>,
    /// Condition the gated model on the digit label (learned per-layer class biases).
    #[arg(long)]
    pub conditional: bool,
    /// Number of masked mask-B (or gated) layers (overrides the preset).
    #[arg(long, value_name = "N")]
    pub layers: Option<usize>,
    /// Feature maps of every hidden layer (overrides the preset).
    #[arg(long, value_name = "N")]
    pub maps: Option<usize>,
    /// Side of the first (mask A) kernel, odd (overrides the preset).
    #[arg(long, value_name = "K")]
    pub first_kernel: Option<usize>,
    /// Side of the mask-B kernels (plain) or of the gated layers' kernels, odd (overrides the
    /// preset).
    #[arg(long, value_name = "K")]
    pub masked_kernel: Option<usize>,
    /// Fraction of training images whose label a conditional gated model does not see (a
    /// learned "no label" class, which guided sampling needs); 0 turns it off [default: 0.1].
    #[arg(long, value_name = "F")]
    pub label_dropout: Option<f32>,
    /// Row dilation of the gated layers' vertical convolutions, a pattern repeated over the
    /// layers (`1,1,2,2,4`: layers 3-4 read rows 2 apart, layer 5 rows 4 apart, ...), or `none`
    /// [default: the preset's; `gated`: 1,1,2,2,4].
    #[arg(long, value_name = "PATTERN", value_parser = DilationPattern::parse)]
    pub vertical_dilation: Option<DilationPattern>,
    /// Whether the gated layers' vertical convolutions also spread their columns by the same
    /// steps (reaching farther sideways at the same cost): `on` or `off` [default: the
    /// preset's; `gated`: on].
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub vertical_column_dilation: Option<bool>,
}

impl ModelArgs {
    /// The validated configuration these options describe.
    pub fn to_config(&self) -> anyhow::Result<ModelConfig> {
        let mut cfg = ModelConfig::preset(self.preset.as_deref().unwrap_or("seed"))?;
        if let Some(family) = self.family {
            cfg = cfg.with_family(family);
        }
        cfg.set_conditional(self.conditional)?;
        if let Some(maps) = self.maps {
            cfg.feature_maps = maps;
        }
        if let Some(k) = self.first_kernel {
            cfg.first_kernel = k;
        }
        let (layers, kernel) = match &mut cfg.family {
            FamilyConfig::Plain(plain) => (&mut plain.masked_layers, &mut plain.masked_kernel),
            FamilyConfig::Gated(gated) => (&mut gated.gated_layers, &mut gated.gated_kernel),
        };
        if let Some(n) = self.layers {
            *layers = n;
        }
        if let Some(k) = self.masked_kernel {
            *kernel = k;
        }
        match &mut cfg.family {
            FamilyConfig::Gated(gated) => {
                if let Some(rate) = self.label_dropout {
                    anyhow::ensure!(
                        gated.conditional,
                        "--label-dropout needs a conditional model: add --conditional"
                    );
                    gated.label_dropout = LabelDropout(rate);
                }
                if let Some(pattern) = self.vertical_dilation {
                    gated.vertical_dilation = pattern;
                }
                if let Some(columns) = self.vertical_column_dilation {
                    gated.vertical_column_dilation = columns;
                }
            }
            FamilyConfig::Plain(_) => {
                anyhow::ensure!(
                    self.label_dropout.is_none()
                        && self.vertical_dilation.is_none()
                        && self.vertical_column_dilation.is_none(),
                    "--label-dropout, --vertical-dilation and --vertical-column-dilation are gated-family options: add --preset gated or --family gated"
                );
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }
}
