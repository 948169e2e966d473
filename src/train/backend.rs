//! Where the network runs: the fast CPU kernels, or candle's reference formulation on a candle
//! device (CPU for checking, CUDA with the `cuda` feature).

use std::ops::ControlFlow;

use candle_core::{Device, Tensor, Var};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::data::IMAGE_PIXELS;
use crate::model::candle_net::bce_with_logits;
use crate::model::epilogue::sigmoid;
use crate::model::{sample_fast_while, CpuNet, ModelConfig, Params, PixelCnn, SampleGrid};

/// The compute device a user picks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceChoice {
    /// The fast CPU kernels (mask-aware im2col + GEMM).
    #[default]
    Cpu,
    /// candle's conv2d formulation on the CPU: slow, a cross-check of the fast kernels.
    CandleCpu,
    /// candle's conv2d formulation on the first CUDA GPU (needs the `cuda` feature).
    Cuda,
}

impl DeviceChoice {
    /// Parses `cpu`, `candle-cpu` or `cuda`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "cpu" => Ok(DeviceChoice::Cpu),
            "candle-cpu" => Ok(DeviceChoice::CandleCpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            other => Err(format!(
                "unknown device '{other}': use cpu, candle-cpu or cuda"
            )),
        }
    }

    /// The name [`DeviceChoice::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::CandleCpu => "candle-cpu",
            DeviceChoice::Cuda => "cuda",
        }
    }
}

/// The network on its device.
pub enum Backend {
    /// The fast CPU network (boxed: it carries its reusable buffers).
    Cpu(Box<CpuNet>),
    /// candle's reference network.
    Candle(CandleBackend),
}

/// candle's network with its variables and device.
pub struct CandleBackend {
    model: PixelCnn,
    vars: Vec<Var>,
    device: Device,
}

fn candle_err(err: candle_core::Error) -> String {
    format!("candle: {err}")
}

impl Backend {
    /// Builds the network for `cfg` with `params` on `choice`.
    pub fn new(
        choice: DeviceChoice,
        cfg: &ModelConfig,
        params: &Params,
    ) -> Result<Backend, String> {
        let device = match choice {
            DeviceChoice::Cpu => return Ok(Backend::Cpu(Box::new(CpuNet::new(cfg, params)))),
            DeviceChoice::CandleCpu => Device::Cpu,
            DeviceChoice::Cuda => {
                if !candle_core::utils::cuda_is_available() {
                    return Err(
                        "CUDA is not available: this build has no cuda feature (rebuild with cargo build --release --features cuda); use --device cpu"
                            .into(),
                    );
                }
                Device::new_cuda(0).map_err(|err| {
                    format!("CUDA is not available: no GPU found ({err}); use --device cpu")
                })?
            }
        };
        let (model, vars) = PixelCnn::from_params(cfg, params, &device).map_err(candle_err)?;
        Ok(Backend::Candle(CandleBackend {
            model,
            vars,
            device,
        }))
    }

    /// Makes the network use `params`.
    pub fn set_params(&mut self, params: &Params) -> Result<(), String> {
        match self {
            Backend::Cpu(net) => {
                net.set_params(params);
                Ok(())
            }
            Backend::Candle(c) => {
                for (var, t) in c.vars.iter().zip(&params.tensors) {
                    let value = Tensor::from_slice(&t.data, t.shape.as_slice(), &c.device)
                        .map_err(candle_err)?;
                    var.set(&value).map_err(candle_err)?;
                }
                Ok(())
            }
        }
    }

    /// Whether the model reads a digit label per image.
    pub fn is_conditional(&self) -> bool {
        match self {
            Backend::Cpu(net) => net.config().conditional,
            Backend::Candle(c) => c.model.is_conditional(),
        }
    }

    /// Refuses a label list that does not give a conditional model one digit per image.
    fn check_labels(&self, pixels: &[f32], labels: &[u8]) -> Result<(), String> {
        let images = pixels.len() / IMAGE_PIXELS;
        if !self.is_conditional() {
            return Ok(());
        }
        if labels.len() != images {
            return Err(format!(
                "a conditional model needs one digit label per image: {} labels for {images} images",
                labels.len()
            ));
        }
        if let Some(bad) = labels
            .iter()
            .find(|&&l| usize::from(l) >= crate::model::CLASS_COUNT)
        {
            return Err(format!("label {bad} is not a digit 0-9"));
        }
        Ok(())
    }

    /// Mean BCE (nats per pixel) of `batch` and its gradients into `grads`; `labels` (one digit
    /// per image) are read by conditional models only.
    pub fn loss_and_grads(
        &mut self,
        batch: &[f32],
        labels: &[u8],
        grads: &mut Params,
    ) -> Result<f64, String> {
        self.check_labels(batch, labels)?;
        match self {
            Backend::Cpu(net) => Ok(net.loss_and_grads(batch, labels, grads)),
            Backend::Candle(c) => {
                let x = c.images(batch)?;
                let y = c.labels(labels)?;
                let loss =
                    bce_with_logits(&c.model.forward(&x, y.as_ref()).map_err(candle_err)?, &x)
                        .map_err(candle_err)?;
                let store = loss.backward().map_err(candle_err)?;
                for (var, grad) in c.vars.iter().zip(grads.tensors.iter_mut()) {
                    match store.get(var.as_tensor()) {
                        Some(g) => {
                            grad.data = g
                                .flatten_all()
                                .and_then(|g| g.to_vec1::<f32>())
                                .map_err(candle_err)?
                        }
                        None => grad.data.fill(0.0),
                    }
                }
                loss.to_scalar::<f32>().map(f64::from).map_err(candle_err)
            }
        }
    }

    /// Mean BCE (nats per pixel) of `batch`, without gradients.
    pub fn loss(&self, batch: &[f32], labels: &[u8]) -> Result<f64, String> {
        self.check_labels(batch, labels)?;
        match self {
            Backend::Cpu(net) => Ok(net.loss(batch, labels)),
            Backend::Candle(c) => {
                let x = c.images(batch)?;
                let y = c.labels(labels)?;
                let logits = c.model.forward(&x, y.as_ref()).map_err(candle_err)?;
                bce_with_logits(&logits, &x)
                    .and_then(|l| l.to_scalar::<f32>())
                    .map(f64::from)
                    .map_err(candle_err)
            }
        }
    }

    /// Draws `count` samples: the fast incremental sampler on the CPU, the straightforward one
    /// (a forward pass per pixel) on a candle device. `labels`: the digit of each sample
    /// (conditional models).
    pub fn sample<R: Rng>(
        &self,
        count: usize,
        labels: &[u8],
        rng: &mut R,
        progress: &mut dyn FnMut(&SampleGrid),
    ) -> Result<SampleGrid, String> {
        self.sample_while(count, labels, rng, &mut |grid| {
            progress(grid);
            ControlFlow::Continue(())
        })
    }

    /// [`Backend::sample`] that stops after any image row where `control` answers `Break`; the
    /// grid returned is then the partial canvas (`pixels_done < 784`).
    pub fn sample_while<R: Rng>(
        &self,
        count: usize,
        labels: &[u8],
        rng: &mut R,
        control: &mut dyn FnMut(&SampleGrid) -> ControlFlow<()>,
    ) -> Result<SampleGrid, String> {
        let blank = SampleGrid::blank(count);
        self.check_labels(&blank.pixels, labels)?;
        match self {
            Backend::Cpu(net) => {
                let (grid, probabilities) = sample_fast_while(net, count, labels, rng, control);
                check_probabilities(&probabilities)?;
                Ok(grid)
            }
            Backend::Candle(c) => {
                let mut grid = blank;
                let y = c.labels(labels)?;
                for pos in 0..IMAGE_PIXELS {
                    let x = c.images(&grid.pixels)?;
                    let logits: Vec<f32> = c
                        .model
                        .forward(&x, y.as_ref())
                        .and_then(|l| l.flatten_all())
                        .and_then(|l| l.to_vec1())
                        .map_err(candle_err)?;
                    for image in 0..count {
                        let p = sigmoid(logits[image * IMAGE_PIXELS + pos]);
                        check_probabilities(&[p])?;
                        let pixel = if rng.random::<f32>() < p { 1.0 } else { 0.0 };
                        grid.pixels[image * IMAGE_PIXELS + pos] = pixel;
                    }
                    grid.pixels_done = pos + 1;
                    if (pos + 1) % 28 == 0 && control(&grid).is_break() {
                        break;
                    }
                }
                Ok(grid)
            }
        }
    }
}

/// Refuses samples drawn from probabilities that are not numbers (a model whose outputs
/// overflow draws blank images that look like a result).
pub fn check_probabilities(probabilities: &[f32]) -> Result<(), String> {
    match probabilities.iter().find(|p| !p.is_finite()) {
        Some(p) => Err(format!(
            "the model's output is not a finite number (a pixel probability is {p}): its weights are too large or damaged"
        )),
        None => Ok(()),
    }
}

impl CandleBackend {
    fn images(&self, pixels: &[f32]) -> Result<Tensor, String> {
        let batch = pixels.len() / IMAGE_PIXELS;
        Tensor::from_slice(pixels, (batch, 1, 28, 28), &self.device).map_err(candle_err)
    }

    /// The labels as a `[batch]` u32 tensor, for conditional models only.
    fn labels(&self, labels: &[u8]) -> Result<Option<Tensor>, String> {
        if !self.model.is_conditional() {
            return Ok(None);
        }
        let digits: Vec<u32> = labels.iter().map(|&l| u32::from(l)).collect();
        Tensor::from_vec(digits, labels.len(), &self.device)
            .map(Some)
            .map_err(candle_err)
    }
}
