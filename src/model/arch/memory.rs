//! How much memory a model needs, estimated from its architecture before anything is allocated,
//! and the check that refuses a configuration the machine cannot hold (instead of aborting on
//! a failed allocation halfway through).
//!
//! The figures follow what the fast CPU networks keep (`cpu/plain_net.rs`, `cpu/gated_net.rs`):
//! the weights and their packed copies, the gradients and Adam's moments, every activation kept for
//! the backward pass, the gradient and im2col buffers, the evaluation buffers and the sampler's
//! row caches. Each architecture family describes itself as a [`Footprint`]; the rest is shared.

use thiserror::Error;

use super::architecture::Architecture;
use super::config::ModelConfig;
use super::conv_spec::ConvSpec;
use super::gated_spec::GatedSpec;
use super::plain_spec::LayerSpec;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};

/// Images per evaluation pass of the trainer.
pub const EVAL_IMAGES: usize = 500;
/// Test images whose fixed binarization the trainer keeps (at most MNIST's test split).
pub const TEST_IMAGES: usize = 10_000;
/// Rows of an im2col chunk (the fast network's `CHUNK_ROWS`).
const CHUNK_ROWS: u64 = 252;
/// Row groups of the weight-gradient sum (the fast network's `DW_GROUPS`).
const GRADIENT_GROUPS: u64 = 16;
/// What the process needs besides the model: code, thread stacks, the allocator's own state
/// and what it keeps of freed blocks. Measured: with it, the estimate of `bench`'s work came
/// within 1% of the peak resident memory for the seed preset and 1% below it for the paper one.
pub const BASELINE_BYTES: u64 = 48 << 20;
/// Bytes per value.
const F32: u64 = 4;

/// The estimated memory of one model at one batch size, by part (bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MemoryEstimate {
    /// Training images per step.
    pub batch_size: usize,
    /// Images drawn per sample grid.
    pub sample_count: usize,
    /// The weights and the fast network's two packed copies of them (twice with averaged
    /// weights).
    pub weights_bytes: u64,
    /// Gradients, Adam's two moments and the copy of the state kept while an epoch closes.
    pub optimizer_bytes: u64,
    /// Of the weights and optimizer state, what a loaded checkpoint holds already (weights,
    /// averaged weights, and Adam's two moments).
    pub snapshot_bytes: u64,
    /// A training step: the batch, every layer's output kept for the backward pass, the
    /// gradient buffers, the weight-gradient partial sums and each thread's im2col scratch.
    pub activation_bytes: u64,
    /// An evaluation pass and the binarized test set.
    pub evaluation_bytes: u64,
    /// The fast sampler drawing `sample_count` images.
    pub sampling_bytes: u64,
    /// The process itself ([`BASELINE_BYTES`]).
    pub baseline_bytes: u64,
}

impl MemoryEstimate {
    /// Everything training needs at its peak (the buffers of a step stay allocated while the
    /// epoch's evaluation and samples run).
    pub fn training_bytes(&self) -> u64 {
        self.resident_bytes()
            .saturating_add(self.activation_bytes)
            .saturating_add(self.evaluation_bytes)
            .saturating_add(self.sampling_bytes)
    }

    /// What a trainer holds before its first step: weights, optimizer state, the process.
    pub fn resident_bytes(&self) -> u64 {
        self.baseline_bytes
            .saturating_add(self.weights_bytes)
            .saturating_add(self.optimizer_bytes)
    }

    /// Evaluating a loaded model (no training step).
    pub fn evaluation_only_bytes(&self) -> u64 {
        self.resident_bytes().saturating_add(self.evaluation_bytes)
    }

    /// Sampling from a loaded model (no training step).
    pub fn sampling_only_bytes(&self) -> u64 {
        self.resident_bytes().saturating_add(self.sampling_bytes)
    }
}

/// What one architecture keeps, in values (f32): the family-specific part of the estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Stored parameters.
    pub parameters: u64,
    /// One packed copy of every weight (used taps only); the network keeps two.
    pub packed: u64,
    /// Activations kept per pixel for the backward pass (the input and the logits included).
    pub kept_per_pixel: u64,
    /// Gradient buffers per pixel.
    pub gradients_per_pixel: u64,
    /// The largest weight-gradient product (`taps * in * out`), summed per row group.
    pub widest_product: u64,
    /// The widest im2col row (forward or backward).
    pub widest_im2col: u64,
    /// Evaluation buffers per pixel (the logits included).
    pub eval_per_pixel: u64,
    /// Values per image the fast sampler caches.
    pub sampler_per_image: u64,
}

/// The footprint of `cfg`'s family.
pub fn footprint(cfg: &ModelConfig) -> Footprint {
    match cfg.architecture() {
        Architecture::Plain(layers) => plain_footprint(&layers),
        Architecture::Gated(spec) => gated_footprint(&spec, cfg.parameter_count() as u64),
    }
}

/// Image rows a convolution's input cache keeps in the sampler: the current one and those its
/// taps reach above.
fn ring_rows(conv: &ConvSpec) -> u64 {
    conv.taps
        .iter()
        .map(|t| (-t.dy).max(0) as u64)
        .max()
        .unwrap_or(0)
        + 1
}

/// `taps * in * out` and the im2col width of a convolution (0 for a 1x1).
fn conv_sizes(conv: &ConvSpec) -> (u64, u64) {
    let taps = conv.taps.len() as u64;
    let (cin, cout) = (conv.in_channels as u64, conv.out_channels as u64);
    let im2col = if taps > 1 { taps * cin.max(cout) } else { 0 };
    (taps * cin * cout, im2col)
}

/// The plain PixelCNN: every layer's output is kept (and a residual ReLU layer's ReLU part),
/// three gradient buffers and two evaluation buffers as wide as the widest layer.
fn plain_footprint(layers: &[LayerSpec]) -> Footprint {
    let widest = layers
        .iter()
        .map(|l| l.in_channels.max(l.out_channels) as u64)
        .max()
        .unwrap_or(1);
    let convs: Vec<ConvSpec> = layers.iter().map(LayerSpec::conv).collect();
    let sizes: Vec<(u64, u64)> = convs.iter().map(conv_sizes).collect();
    Footprint {
        parameters: layers.iter().map(|l| l.parameter_count() as u64).sum(),
        packed: sizes.iter().map(|s| s.0).sum(),
        kept_per_pixel: 1 + layers
            .iter()
            .map(|l| {
                let cout = l.out_channels as u64;
                if l.residual && l.relu {
                    2 * cout
                } else {
                    cout
                }
            })
            .sum::<u64>(),
        gradients_per_pixel: 3 * widest,
        widest_product: sizes.iter().map(|s| s.0).max().unwrap_or(0),
        widest_im2col: sizes.iter().map(|s| s.1).max().unwrap_or(0),
        eval_per_pixel: 2 * widest + 1,
        sampler_per_image: convs
            .iter()
            .skip(1)
            .map(|c| ring_rows(c) * IMAGE_SIDE as u64 * c.in_channels as u64)
            .sum(),
    }
}

/// The gated PixelCNN `spec` (with `parameters` parameters), `p` maps and `L` gated layers,
/// keeps per pixel the inputs of both stacks (`(2L + 1) p`), each layer's vertical pre-activation and both gates' `[tanh |
/// sigmoid]` (`2p` each, none for the last vertical gate), the head's two inputs and the
/// logit; twelve `p`-wide gradient buffers; four `p`-wide evaluation buffers.
fn gated_footprint(spec: &GatedSpec, parameters: u64) -> Footprint {
    let p = spec.maps as u64;
    let layers = spec.layers.len() as u64;
    let convs = spec.convs();
    let sizes: Vec<(u64, u64)> = convs.iter().copied().map(conv_sizes).collect();
    Footprint {
        parameters,
        packed: sizes.iter().map(|s| s.0).sum(),
        kept_per_pixel: 1
            + (2 * layers + 1) * p
            + 2 * p * (3 * layers).saturating_sub(1)
            + 2 * p
            + 1,
        gradients_per_pixel: 12 * p + 1,
        widest_product: sizes.iter().map(|s| s.0).max().unwrap_or(0),
        widest_im2col: sizes.iter().map(|s| s.1).max().unwrap_or(0),
        eval_per_pixel: 4 * p + 1,
        sampler_per_image: convs
            .iter()
            .filter(|c| c.in_channels > 1)
            .map(|c| ring_rows(c) * IMAGE_SIDE as u64 * c.in_channels as u64)
            .sum(),
    }
}

/// What a model is asked to do, for [`estimate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Training images per step.
    pub batch_size: usize,
    /// Images per evaluation pass.
    pub eval_images: usize,
    /// Test images kept binarized for evaluation.
    pub test_images: usize,
    /// Images drawn per sample grid.
    pub sample_count: usize,
    /// Worker threads (each has its own im2col scratch).
    pub threads: usize,
    /// Whether the run keeps averaged weights (and a network packed with them for its
    /// evaluations and grids).
    pub averaged_weights: bool,
}

impl Workload {
    /// The trainer's: `batch_size` images per step, `sample_count` samples per epoch, and
    /// evaluation over `test_images` test images (at most [`TEST_IMAGES`]) in passes of up to
    /// [`EVAL_IMAGES`], on rayon's threads.
    pub fn training(batch_size: usize, sample_count: usize, test_images: usize) -> Workload {
        let test_images = test_images.min(TEST_IMAGES);
        Workload {
            batch_size,
            eval_images: test_images.min(EVAL_IMAGES),
            test_images,
            sample_count,
            threads: rayon::current_num_threads(),
            averaged_weights: false,
        }
    }
}

/// Estimates the memory of `cfg` doing `work`.
pub fn estimate(cfg: &ModelConfig, work: &Workload) -> MemoryEstimate {
    let Workload {
        batch_size,
        eval_images,
        test_images,
        sample_count,
        threads,
        averaged_weights,
    } = *work;
    let shape = footprint(cfg);
    let parameters = shape.parameters;
    let threads = threads.max(1) as u64;
    let mul = |values: &[u64]| values.iter().fold(1u64, |a, &b| a.saturating_mul(b));

    let pixels = (batch_size as u64).saturating_mul(IMAGE_PIXELS as u64);
    let kept = pixels.saturating_mul(shape.kept_per_pixel);
    let gradients = pixels.saturating_mul(shape.gradients_per_pixel);
    let chunks = pixels.div_ceil(CHUNK_ROWS).max(1);
    let partials = shape
        .widest_product
        .saturating_mul(GRADIENT_GROUPS.min(chunks) + 1);
    let scratch = mul(&[threads, CHUNK_ROWS, shape.widest_im2col]);
    // The batch is copied into the network's input buffer; the trainer keeps its own copy.
    let batch = pixels;
    let activation_values = kept
        .saturating_add(gradients)
        .saturating_add(partials)
        .saturating_add(scratch)
        .saturating_add(batch);

    let eval_pixels = (eval_images as u64).saturating_mul(IMAGE_PIXELS as u64);
    // The evaluation buffers, the binarized test images and the im2col scratch.
    let evaluation_values = eval_pixels
        .saturating_mul(shape.eval_per_pixel)
        .saturating_add((test_images as u64).saturating_mul(IMAGE_PIXELS as u64))
        .saturating_add(scratch);

    let samples = sample_count as u64;
    // The row caches, the canvas and the probabilities.
    let sampling_values = mul(&[samples, shape.sampler_per_image]).saturating_add(mul(&[
        2,
        samples,
        IMAGE_PIXELS as u64,
    ]));

    // Averaged weights: one more copy of the weights, packed twice for their own network, and
    // kept in the snapshot (and its copy while an epoch closes).
    let copies = if averaged_weights { 2 } else { 1 };
    MemoryEstimate {
        batch_size,
        sample_count,
        weights_bytes: F32.saturating_mul(
            parameters
                .saturating_add(2 * shape.packed)
                .saturating_mul(copies),
        ),
        optimizer_bytes: mul(&[F32, parameters, 5 + copies]),
        snapshot_bytes: mul(&[F32, parameters, 2 + copies]),
        activation_bytes: F32.saturating_mul(activation_values),
        evaluation_bytes: F32.saturating_mul(evaluation_values),
        sampling_bytes: F32.saturating_mul(sampling_values),
        baseline_bytes: BASELINE_BYTES,
    }
}

/// Memory this process may still use: `MemAvailable` of `/proc/meminfo`, lowered to what is
/// left under a cgroup (v2) memory limit and under this process's address-space and data
/// limits (`ulimit -v`, `ulimit -d`); `None` where none of them can be read.
pub fn available_bytes() -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let read_number = |path: &str| read(path).and_then(|text| text.trim().parse::<u64>().ok());
    let meminfo = read("/proc/meminfo").and_then(|text| meminfo_available_bytes(&text));
    // "max" (no limit) does not parse: no cgroup figure.
    let cgroup = read_number("/sys/fs/cgroup/memory.max").map(|limit| {
        limit.saturating_sub(read_number("/sys/fs/cgroup/memory.current").unwrap_or(0))
    });
    let limits = read("/proc/self/limits");
    let status = read("/proc/self/status");
    let rlimit = |limit: &str, usage: &str| {
        let limit = limits
            .as_deref()
            .and_then(|text| soft_limit_bytes(text, limit))?;
        let used = status
            .as_deref()
            .and_then(|text| status_kib(text, usage))
            .unwrap_or(0);
        Some(limit.saturating_sub(used.saturating_mul(1024)))
    };
    [
        meminfo,
        cgroup,
        // Resident, not virtual, use: the allocator reserves address space it has not used
        // yet, and counting it would refuse runs that fit.
        rlimit("Max address space", "VmRSS:"),
        rlimit("Max data size", "VmRSS:"),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// The soft limit, in bytes, of the line `name` of a `/proc/self/limits` text; `None` when
/// unlimited or absent.
pub fn soft_limit_bytes(limits: &str, name: &str) -> Option<u64> {
    let rest = limits.lines().find_map(|line| line.strip_prefix(name))?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The kB figure of the line starting with `key` of a `/proc/self/status` text.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
pub fn meminfo_available_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find(|line| line.starts_with("MemAvailable:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => value.checked_mul(1024),
        _ => None,
    }
}

/// A job that needs more memory than the machine has available.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{what} needs about {} more memory (estimate), but only {} is available: use fewer layers or feature maps, a smaller batch or fewer samples", format_bytes(*.need_bytes), format_bytes(*.available_bytes))]
pub struct MemoryError {
    /// What was about to run, e.g. "training this model at batch size 100".
    pub what: String,
    /// The estimate of what it needs beyond what the process holds already.
    pub need_bytes: u64,
    /// What the machine has available.
    pub available_bytes: u64,
}

/// Refuses `need_bytes` more for `what` (beyond what this process holds already) when more
/// than the available memory; passes when the available memory cannot be read.
pub fn check(what: impl FnOnce() -> String, need_bytes: u64) -> Result<(), MemoryError> {
    check_against(what, need_bytes, available_bytes())
}

/// [`check`] against a given amount of available memory (`None`: unknown, so it passes).
pub fn check_against(
    what: impl FnOnce() -> String,
    need_bytes: u64,
    available: Option<u64>,
) -> Result<(), MemoryError> {
    match available {
        Some(available_bytes) if need_bytes > available_bytes => Err(MemoryError {
            what: what(),
            need_bytes,
            available_bytes,
        }),
        _ => Ok(()),
    }
}

/// Bytes in MiB or GiB, e.g. "215 MiB", "14.2 GiB".
pub fn format_bytes(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::arch::config::{FamilyConfig, PlainConfig};

    fn training(cfg: &ModelConfig, batch_size: usize) -> MemoryEstimate {
        estimate(
            cfg,
            &Workload {
                threads: 2,
                ..Workload::training(batch_size, 100, TEST_IMAGES)
            },
        )
    }

    #[test]
    fn the_seed_model_at_batch_100_is_dominated_by_the_outputs_kept_for_backward() {
        let seed = training(&ModelConfig::seed(), 100);
        // 85,441 parameters: the weights twice packed, the gradients, Adam and a backup.
        assert_eq!(seed.optimizer_bytes, 85_441 * 4 * 6);
        // 78,400 pixels: the input and 6 layers' outputs (5 x 64 channels + 1 logit) kept,
        // 101 MB, then the gradient buffers (3 x 64 channels, 60 MB) and the scratch.
        let kept = 78_400 * (1 + 5 * 64 + 1) * 4;
        assert!(
            seed.activation_bytes > kept && seed.activation_bytes < 2 * kept,
            "{seed:?}"
        );
    }

    #[test]
    fn the_largest_valid_model_needs_far_more_than_a_small_one() {
        let huge = ModelConfig {
            feature_maps: 512,
            family: FamilyConfig::Plain(PlainConfig {
                masked_layers: 64,
                ..PlainConfig::seed()
            }),
            ..ModelConfig::seed()
        };
        let big = training(&huge, 100).training_bytes();
        let small = training(&ModelConfig::seed(), 100).training_bytes();
        // 64 layers of 512 channels at 78,400 pixels: over 10 GiB of kept outputs alone.
        assert!(big > 10 << 30, "{big}");
        assert!(big > 20 * small);
        // Batch size scales the activations, not the weights.
        let one = training(&ModelConfig::seed(), 1);
        let hundred = training(&ModelConfig::seed(), 100);
        assert!(hundred.activation_bytes > 20 * one.activation_bytes);
        assert_eq!(hundred.weights_bytes, one.weights_bytes);
        // The sampler's caches grow with the samples drawn.
        let many = estimate(&huge, &Workload::training(100, 10_000, TEST_IMAGES));
        assert!(many.sampling_bytes > 50 << 30, "{many:?}");
    }

    #[test]
    fn a_job_over_the_available_memory_is_refused_with_both_figures() {
        let err =
            check_against(|| "training this model".into(), 3 << 30, Some(1 << 30)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "training this model needs about 3.0 GiB more memory (estimate), but only 1.0 GiB is \
             available: use fewer layers or feature maps, a smaller batch or fewer samples"
        );
        assert!(check_against(|| "x".into(), 3 << 30, Some(4 << 30)).is_ok());
        assert!(check_against(|| "x".into(), u64::MAX, None).is_ok());
    }

    #[test]
    fn a_soft_address_space_limit_is_read_and_unlimited_is_none() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max data size             unlimited            unlimited            bytes\n\
                      Max address space         314572800            unlimited            bytes\n";
        assert_eq!(
            soft_limit_bytes(limits, "Max address space"),
            Some(314_572_800)
        );
        assert_eq!(soft_limit_bytes(limits, "Max data size"), None);
        assert_eq!(
            status_kib("Name: x\nVmSize:\t  3892 kB\n", "VmSize:"),
            Some(3892)
        );
    }

    #[test]
    fn mem_available_is_read_in_bytes() {
        let text = "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    2048 kB\n";
        assert_eq!(meminfo_available_bytes(text), Some(2048 * 1024));
        assert_eq!(meminfo_available_bytes("MemTotal: 5 kB\n"), None);
        #[cfg(target_os = "linux")]
        assert!(available_bytes().is_some_and(|b| b > 0));
    }
}
