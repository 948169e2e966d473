//! Where the network runs: the fast CPU kernels, or the device network ([`DeviceNet`]) on a
//! candle device (a CUDA GPU with the `cuda` feature; candle's CPU backend, which is how the
//! tests exercise the GPU code). A training step is one call ([`Backend::train_step`]); on a
//! device it keeps the weights, the gradients and Adam's moments there, and only the loss comes
//! back, so the host copies of the weights and moments fall behind until
//! [`Backend::download`] brings them up to date.
//!
//! With weight averaging ([`Backend::train_step_averaging`]) each step also moves the average
//! (on the host for the CPU, on the device for a device, where it stays until
//! [`Backend::download_averaged`]); [`Backend::loss_averaged`] and [`Backend::sample_styled`]
//! evaluate and draw with it, through a second network built from it when first needed after it
//! changed.

use std::ops::ControlFlow;
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::averaging::{update_average, WeightAveraging};
use super::error::{NonFiniteValue, StepError};
use super::optimizer::{clip_gradients, Adam, GRADIENT_CLIP};
use crate::data::IMAGE_PIXELS;
use crate::model::device::sampler::sample_device_styled;
use crate::model::{sample_fast_styled, CpuNet, ModelConfig, Params, SampleGrid, SampleStyle};
use crate::model::{DeviceAdam, DeviceNet};

/// Where the network runs, as the user picks it (`--device cpu|candle-cpu|cuda`; remembered
/// in the studio's settings, where the names of earlier versions still read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceChoice {
    /// The fast hand-written CPU kernels (mask-aware im2col + GEMM): `cpu`.
    #[default]
    #[serde(alias = "Cpu")]
    FastCpu,
    /// The GPU code path (gathered-tap convolutions, device Adam, device sampler) on candle's
    /// CPU backend: slow, a check of that code without a GPU: `candle-cpu`.
    #[serde(alias = "CandleCpu")]
    GpuPathOnCpu,
    /// The GPU code path on the first CUDA GPU (needs the `cuda` feature): `cuda`.
    Cuda,
}

impl DeviceChoice {
    /// Parses `cpu`, `candle-cpu` or `cuda`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "cpu" => Ok(DeviceChoice::FastCpu),
            "candle-cpu" => Ok(DeviceChoice::GpuPathOnCpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            other => Err(format!(
                "unknown device '{other}': use cpu, candle-cpu or cuda"
            )),
        }
    }

    /// The name [`DeviceChoice::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::FastCpu => "cpu",
            DeviceChoice::GpuPathOnCpu => "candle-cpu",
            DeviceChoice::Cuda => "cuda",
        }
    }
}

/// How a CUDA GPU multiplies f32 matrices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    /// Full f32 (the default; what the CPU computes, for comparisons to 1e-6).
    #[default]
    Fp32,
    /// TF32 tensor cores in cuBLAS (10-bit mantissa products, f32 sums), as PyTorch uses by
    /// default for convolutions: faster, about 1e-3 relative error per product.
    Tf32,
}

impl Precision {
    /// Parses `fp32` or `tf32`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "fp32" => Ok(Precision::Fp32),
            "tf32" => Ok(Precision::Tf32),
            other => Err(format!("unknown precision '{other}': use fp32 or tf32")),
        }
    }

    /// The name [`Precision::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Tf32 => "tf32",
        }
    }

    /// Makes this process's CUDA matmuls use this precision (candle's cuBLAS setting, which is
    /// global). TF32 exists only on a GPU: asking for it on another device is refused.
    ///
    /// # Errors
    /// `tf32` with a device other than `cuda`.
    pub fn apply(self, device: DeviceChoice) -> Result<(), String> {
        if self == Precision::Tf32 && device != DeviceChoice::Cuda {
            return Err(format!(
                "--precision tf32 needs --device cuda: TF32 is a GPU tensor-core mode, and {} computes in fp32",
                device.name()
            ));
        }
        candle_core::cuda::set_gemm_reduced_precision_f32(self == Precision::Tf32);
        Ok(())
    }
}

/// The network on its device.
pub enum Backend {
    /// The fast CPU kernels' network and a gradient buffer (boxed: they are large).
    FastCpu(Box<FastCpuBackend>),
    /// The device network, trained in place on its device.
    Device(Box<DeviceBackend>),
}

/// The fast CPU network with its gradient buffer.
pub struct FastCpuBackend {
    net: CpuNet,
    grads: Option<Params>,
    /// The network with the averaged weights, built when first needed after they changed.
    averaged_net: OnceLock<CpuNet>,
}

/// The device network and, once it has trained, Adam's moments on the device.
pub struct DeviceBackend {
    net: DeviceNet,
    adam: Option<DeviceAdam>,
    /// The averaged weights on the device (flat, the layout of the parameters), once it has
    /// trained with averaging.
    averaged: Option<Tensor>,
    /// The network with the averaged weights, made when first needed after they changed.
    averaged_net: OnceLock<DeviceNet>,
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
            DeviceChoice::FastCpu => {
                return Ok(Backend::FastCpu(Box::new(FastCpuBackend {
                    net: CpuNet::new(cfg, params),
                    grads: None,
                    averaged_net: OnceLock::new(),
                })))
            }
            DeviceChoice::GpuPathOnCpu => Device::Cpu,
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
        let net = DeviceNet::new(cfg, params, &device).map_err(candle_err)?;
        Ok(Backend::Device(Box::new(DeviceBackend {
            net,
            adam: None,
            averaged: None,
            averaged_net: OnceLock::new(),
        })))
    }

    /// Makes the network use `params` of a state the host holds (the trainer went back to
    /// it): a device also forgets its own Adam moments and averaged weights and takes the
    /// host's at its next step; the averaged weights are read from the host again.
    pub fn load_state(&mut self, params: &Params) -> Result<(), String> {
        match self {
            Backend::Device(dev) => {
                dev.adam = None;
                dev.averaged = None;
                dev.averaged_net = OnceLock::new();
            }
            Backend::FastCpu(cpu) => cpu.averaged_net = OnceLock::new(),
        }
        self.set_params(params)
    }

    /// Makes the network use `params` (Adam's moments are not touched).
    pub fn set_params(&mut self, params: &Params) -> Result<(), String> {
        match self {
            Backend::FastCpu(cpu) => {
                cpu.net.set_params(params);
                Ok(())
            }
            Backend::Device(dev) => dev.net.set_params(params).map_err(candle_err),
        }
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        match self {
            Backend::FastCpu(cpu) => cpu.net.config(),
            Backend::Device(dev) => dev.net.config(),
        }
    }

    /// Whether the model reads a digit label per image.
    pub fn is_conditional(&self) -> bool {
        self.config().conditional()
    }

    /// Whether [`Backend::train_step`] leaves the host weights and moments behind (a device
    /// backend: [`Backend::download`] brings them up to date).
    pub fn trains_on_device(&self) -> bool {
        matches!(self, Backend::Device(_))
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
        let classes = self.config().class_count();
        if let Some(bad) = labels.iter().find(|&&l| usize::from(l) >= classes) {
            return Err(if classes > crate::model::CLASS_COUNT {
                format!("label {bad} is not a digit 0-9 or 10 (no label)")
            } else {
                format!("label {bad} is not a digit 0-9")
            });
        }
        Ok(())
    }

    /// Mean BCE (nats per pixel) of `batch` and its gradients into `grads` (on a device they
    /// are downloaded: for checks, not for training); `labels` (one digit per image) are read
    /// by conditional models only.
    pub fn loss_and_grads(
        &mut self,
        batch: &[f32],
        labels: &[u8],
        grads: &mut Params,
    ) -> Result<f64, String> {
        self.check_labels(batch, labels)?;
        match self {
            Backend::FastCpu(cpu) => Ok(cpu.net.loss_and_grads(batch, labels, grads)),
            Backend::Device(dev) => {
                let net = &dev.net;
                let (losses, flat) = net
                    .upload_batch(batch, labels)
                    .and_then(|b| net.loss_and_grads(&b))
                    .map_err(candle_err)?;
                let flat: Vec<f32> = flat.to_vec1().map_err(candle_err)?;
                // Unused taps have no gradient: zero, as on the CPU.
                grads.fill_zero();
                net.layout().scatter(&flat, grads)?;
                mean_loss(&losses, batch.len())
            }
        }
    }

    /// One training step on `batch`: the loss and its gradients, the gradients clipped to
    /// [`GRADIENT_CLIP`], one Adam update. Returns the minibatch's mean BCE, nats per pixel.
    ///
    /// On the CPU `params` and `adam` are updated. On a device the step happens there: only
    /// `adam.step_count` moves on the host, and `params` and Adam's moments are brought up to date
    /// by [`Backend::download`] (the device takes them from the host at its first step).
    ///
    /// # Errors
    /// [`StepError::NonFinite`] when the loss or a gradient is not finite, or (on the CPU) when
    /// Adam's update would not be: nothing was updated. [`StepError::Device`] when the labels
    /// are refused or the device fails.
    pub fn train_step(
        &mut self,
        batch: &[f32],
        labels: &[u8],
        params: &mut Params,
        adam: &mut Adam,
    ) -> Result<f64, StepError> {
        self.train_step_averaging(batch, labels, params, adam, None)
    }

    /// [`Backend::train_step`] that also moves the averaged weights `averaging.0` towards the
    /// updated weights ([`WeightAveraging`], at Adam's new step count). On a device the average
    /// moves there (it takes `averaging.0` from the host at its first step) and
    /// [`Backend::download_averaged`] brings the host's up to date.
    pub fn train_step_averaging(
        &mut self,
        batch: &[f32],
        labels: &[u8],
        params: &mut Params,
        adam: &mut Adam,
        averaging: Option<(&mut Params, WeightAveraging)>,
    ) -> Result<f64, StepError> {
        self.check_labels(batch, labels)
            .map_err(StepError::Device)?;
        match self {
            Backend::FastCpu(cpu) => {
                let grads = cpu.grads.get_or_insert_with(|| params.zeros_like());
                let loss = cpu.net.loss_and_grads(batch, labels, grads);
                if !loss.is_finite() {
                    return Err(StepError::NonFinite(NonFiniteValue::Loss(loss)));
                }
                if !grads.all_finite() {
                    return Err(StepError::NonFinite(NonFiniteValue::Gradient));
                }
                clip_gradients(grads, GRADIENT_CLIP);
                adam.try_step(params, grads).map_err(|update| {
                    StepError::NonFinite(NonFiniteValue::Update(update.tensor))
                })?;
                cpu.net.set_params(params);
                if let Some((averaged, how)) = averaging {
                    update_average(averaged, params, how.weight_at(adam.step_count));
                    cpu.averaged_net = OnceLock::new();
                }
                Ok(loss)
            }
            Backend::Device(dev) => dev.train_step(batch, labels, adam, averaging),
        }
    }

    /// Copies the device's averaged weights into `averaged` (nothing to do on the CPU, or on a
    /// device that has not trained with averaging: the host's are current then).
    pub fn download_averaged(&self, averaged: &mut Params) -> Result<(), String> {
        match self {
            Backend::FastCpu(_) => Ok(()),
            Backend::Device(dev) => match &dev.averaged {
                Some(flat) => {
                    let values: Vec<f32> = flat.to_vec1().map_err(candle_err)?;
                    dev.net.layout().scatter(&values, averaged)
                }
                None => Ok(()),
            },
        }
    }

    /// Copies the device's weights and Adam's moments into `params` and `adam` (nothing to do
    /// on the CPU, whose host copies are the weights).
    pub fn download(&self, params: &mut Params, adam: &mut Adam) -> Result<(), String> {
        match self {
            Backend::FastCpu(_) => Ok(()),
            Backend::Device(dev) => dev.download(params, adam).map_err(candle_err),
        }
    }

    /// Mean BCE (nats per pixel) of `batch`, without gradients.
    pub fn loss(&self, batch: &[f32], labels: &[u8]) -> Result<f64, String> {
        self.loss_averaged(batch, labels, None)
    }

    /// [`Backend::loss`] with the averaged weights when there are some (`averaged`: the
    /// host's; a device that trained with averaging uses its own), else the trained ones.
    pub fn loss_averaged(
        &self,
        batch: &[f32],
        labels: &[u8],
        averaged: Option<&Params>,
    ) -> Result<f64, String> {
        self.check_labels(batch, labels)?;
        match self {
            Backend::FastCpu(cpu) => Ok(cpu.eval_net(averaged).loss(batch, labels)),
            Backend::Device(dev) => {
                let net = dev.eval_net(averaged)?;
                let losses = net
                    .upload_batch(batch, labels)
                    .and_then(|b| net.image_losses(&b))
                    .map_err(candle_err)?;
                mean_loss(&losses, batch.len())
            }
        }
    }

    /// Draws `count` samples with the fast sampler of the backend: the incremental CPU sampler,
    /// or its counterpart on the device (each position of each layer computed once there too).
    /// `labels`: the digit of each sample (conditional models). `progress` sees the canvas
    /// after each image row.
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
        self.sample_styled(count, labels, SampleStyle::PLAIN, None, rng, control)
    }

    /// [`Backend::sample_while`] drawing with `style` (refused when the model cannot take it)
    /// and with the averaged weights when there are some (as [`Backend::loss_averaged`]).
    pub fn sample_styled<R: Rng>(
        &self,
        count: usize,
        labels: &[u8],
        style: SampleStyle,
        averaged: Option<&Params>,
        rng: &mut R,
        control: &mut dyn FnMut(&SampleGrid) -> ControlFlow<()>,
    ) -> Result<SampleGrid, String> {
        let blank = SampleGrid::blank(count);
        self.check_labels(&blank.pixels, labels)?;
        style.check(self.config())?;
        let (grid, probabilities) = match self {
            Backend::FastCpu(cpu) => {
                sample_fast_styled(cpu.eval_net(averaged), blank, labels, style, rng, control)
            }
            Backend::Device(dev) => {
                sample_device_styled(dev.eval_net(averaged)?, count, labels, style, rng, control)
                    .map_err(candle_err)?
            }
        };
        check_probabilities(&probabilities)?;
        Ok(grid)
    }
}

impl FastCpuBackend {
    /// The network to evaluate and sample with: the one of `averaged` when given (built on
    /// first use after the average changed), else the trained one.
    fn eval_net(&self, averaged: Option<&Params>) -> &CpuNet {
        match averaged {
            Some(params) => self
                .averaged_net
                .get_or_init(|| CpuNet::new(self.net.config(), params)),
            None => &self.net,
        }
    }
}

impl DeviceBackend {
    /// The network to evaluate and sample with: with averaging, the device's own average once
    /// it trained, else `averaged` uploaded from the host (made on first use after the average
    /// changed); without, the trained one.
    fn eval_net(&self, averaged: Option<&Params>) -> Result<&DeviceNet, String> {
        let Some(params) = averaged else {
            return Ok(&self.net);
        };
        if let Some(net) = self.averaged_net.get() {
            return Ok(net);
        }
        let mut net = self.net.clone();
        match &self.averaged {
            Some(flat) => net.set_flat_params(flat.clone()),
            None => net.set_params(params),
        }
        .map_err(candle_err)?;
        Ok(self.averaged_net.get_or_init(|| net))
    }

    fn train_step(
        &mut self,
        batch: &[f32],
        labels: &[u8],
        adam: &mut Adam,
        averaging: Option<(&mut Params, WeightAveraging)>,
    ) -> Result<f64, StepError> {
        let device_err = |err: candle_core::Error| StepError::Device(candle_err(err));
        let net = &self.net;
        let uploaded = net.upload_batch(batch, labels).map_err(device_err)?;
        let (losses, grads) = net.loss_and_grads(&uploaded).map_err(device_err)?;
        // One download: the per-image losses and a probe that is 0 when every gradient is
        // finite and NaN otherwise (inf - inf and NaN - NaN are NaN).
        #[allow(clippy::eq_op)] // g - g is the point: 0 for finite g only
        let probe = (&grads - &grads)
            .and_then(|d| d.sum_all())
            .and_then(|s| s.to_dtype(DType::F64))
            .and_then(|s| s.reshape(1))
            .map_err(device_err)?;
        let values: Vec<f64> = Tensor::cat(&[&losses, &probe], 0)
            .and_then(|t| t.to_vec1())
            .map_err(device_err)?;
        let (image_losses, probe) = values.split_at(values.len().saturating_sub(1));
        let loss = image_losses.iter().sum::<f64>() / batch.len().max(1) as f64;
        if !loss.is_finite() {
            return Err(StepError::NonFinite(NonFiniteValue::Loss(loss)));
        }
        if probe.first().is_none_or(|p| !p.is_finite()) {
            return Err(StepError::NonFinite(NonFiniteValue::Gradient));
        }
        if self.adam.is_none() {
            let layout = net.layout();
            let upload = |moment: &Params| -> Result<Tensor, StepError> {
                let flat = layout.gather(moment).map_err(StepError::Device)?;
                Tensor::from_vec(flat, layout.len(), net.device()).map_err(device_err)
            };
            let first = upload(&adam.first_moment)?;
            let second = upload(&adam.second_moment)?;
            self.adam = Some(DeviceAdam::new(first, second, GRADIENT_CLIP).map_err(device_err)?);
        }
        let Some(device_adam) = self.adam.as_mut() else {
            return Err(StepError::Device("Adam's moments are missing".into()));
        };
        let step = adam.step_count + 1;
        let updated = device_adam
            .step(self.net.params(), &grads, &adam.config.scalars(step))
            .map_err(device_err)?;
        if let Some((host_average, how)) = averaging {
            let average = match self.averaged.take() {
                Some(average) => average,
                None => {
                    let layout = net.layout();
                    let flat = layout.gather(host_average).map_err(StepError::Device)?;
                    Tensor::from_vec(flat, layout.len(), net.device()).map_err(device_err)?
                }
            };
            // average += (updated - average) * weight: the host's arithmetic, in f32.
            let weight = Tensor::new(&[how.weight_at(step)], net.device()).map_err(device_err)?;
            let moved = (&updated - &average)
                .and_then(|d| d.broadcast_mul(&weight))
                .and_then(|d| &average + d)
                .map_err(device_err)?;
            self.averaged = Some(moved);
            self.averaged_net = OnceLock::new();
        }
        self.net.set_flat_params(updated).map_err(device_err)?;
        adam.step_count = step;
        Ok(loss)
    }

    fn download(&self, params: &mut Params, adam: &mut Adam) -> candle_core::Result<()> {
        self.net.download(params)?;
        if let Some(device_adam) = &self.adam {
            let layout = self.net.layout();
            let (first, second) = device_adam.moments();
            for (moment, host) in [
                (first, &mut adam.first_moment),
                (second, &mut adam.second_moment),
            ] {
                let flat: Vec<f32> = moment.to_vec1()?;
                layout
                    .scatter(&flat, host)
                    .map_err(candle_core::Error::Msg)?;
            }
        }
        Ok(())
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

/// The mean per pixel of per-image loss sums (`[images]` f64) over `values` pixels.
fn mean_loss(losses: &Tensor, values: usize) -> Result<f64, String> {
    let sums: Vec<f64> = losses.to_vec1().map_err(candle_err)?;
    Ok(sums.iter().sum::<f64>() / values.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_choices_keep_their_command_line_names_and_read_the_names_saved_before() {
        for (choice, name) in [
            (DeviceChoice::FastCpu, "cpu"),
            (DeviceChoice::GpuPathOnCpu, "candle-cpu"),
            (DeviceChoice::Cuda, "cuda"),
        ] {
            assert_eq!(DeviceChoice::parse(name), Ok(choice));
            assert_eq!(choice.name(), name);
            let saved = serde_json::to_string(&choice).unwrap();
            assert_eq!(
                serde_json::from_str::<DeviceChoice>(&saved).unwrap(),
                choice
            );
        }
        // The studio's settings of earlier versions.
        for (old, choice) in [
            ("\"Cpu\"", DeviceChoice::FastCpu),
            ("\"CandleCpu\"", DeviceChoice::GpuPathOnCpu),
            ("\"Cuda\"", DeviceChoice::Cuda),
        ] {
            assert_eq!(serde_json::from_str::<DeviceChoice>(old).unwrap(), choice);
        }
    }
}
