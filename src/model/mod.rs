//! The PixelCNN, one folder per concern. Where a change goes:
//!
//! - [`arch`], the model's description as data: what a model *is*. [`ModelConfig`] (leaf data:
//!   it imports nothing that reads it) and each family's own settings; each family's spec
//!   ([`arch::plain_spec`], [`arch::gated_spec`]) behind [`Architecture`]; convolutions and their
//!   taps, masks, epilogues; parameter names, shapes, initialisation and slots; the receptive
//!   field and the memory estimate. A setting, a preset, a layer's shape, a checkpoint name or a
//!   size estimate changes here.
//! - [`cpu`], the fast CPU path: GEMM, gathered-tap convolutions, the row epilogue, the plain and
//!   gated networks behind [`CpuNet`], the fast and the straightforward samplers. CPU speed,
//!   kernels, backward passes and CPU sampling change here.
//! - [`device`], the candle device (GPU) path: gathered-tap convolutions, the flat parameter
//!   layout, [`DeviceNet`], the device sampler, [`DeviceAdam`], the tensor epilogue. GPU-side
//!   arithmetic changes here.
//! - [`reference`](mod@reference), the candle reference network: the test oracle, used by tests
//!   only.
//! - [`sample`]: what every sampler produces and is asked for ([`SampleGrid`], [`ClassChoice`]).
//!
//! Imports point one way: `cpu`, `device` and `reference` read `arch` and `sample`; `arch` reads
//! none of them (outside its tests), and `cpu` and `device` do not read each other (`reference`
//! shares the tensor epilogue that `device/epilogue.rs` implements). Inside
//! `arch`, the config reads nothing; the specs read the config; the parameters, receptive field
//! and memory estimate read the specs. Code outside `model/` imports the types re-exported here.
//!
//! # Adding a layer type
//! A new kind of layer in the plain stack, built from a convolution (its taps) and an existing
//! activation: its [`LayerKind`] and place in the stack in `arch/plain_spec.rs` (the compiler
//! lists the `LayerKind` matches), its setting in `arch/config.rs` ([`PlainConfig`], validation
//! and the flat record), new tap shapes in `arch/conv_spec.rs`, the oracle's formulation in
//! `reference.rs`, and the control that sets it (`ui/controls.rs`, `cli/model_args.rs`). The
//! networks, samplers, parameter layout, memory estimate, receptive field, inspector and
//! `inspect` read layers through [`LayerSpec`] and [`ConvSpec`] and need nothing. A new
//! activation adds an [`arch::epilogue::Activation`] variant, whose matches the compiler lists:
//! its row form (`cpu/epilogue.rs`), its tensor form (`device/epilogue.rs`) and the hand-written
//! backward passes (`cpu/plain_net.rs`, `cpu/gated_net.rs`, `device/net.rs`).
//!
//! # Adding a family
//! A [`FamilyConfig`] variant with its settings and a [`ModelFamily`] name (`arch/config.rs`,
//! presets and the flat record included) and an [`Architecture`] variant with its spec (a new
//! `arch/<family>_spec.rs`). From there the compiler lists every place that must handle it:
//! `arch/architecture.rs`, `arch/params.rs` (names and storage order), `arch/memory.rs`,
//! `cpu/net.rs` (and a new `cpu/<family>_net.rs`), `cpu/sampler.rs`, `device/net.rs`,
//! `device/sampler.rs`, `reference.rs`, and outside `model/`: `train/trainer.rs` (its default
//! learning rate), `ui/controls.rs`, `ui/inspector.rs`, `ui/startup.rs`, `cli/inspect.rs`,
//! `cli/model_args.rs`.

pub mod arch;
pub mod cpu;
pub mod device;
pub mod reference;
pub mod sample;

pub use arch::architecture::Architecture;
pub use arch::config::{
    ConfigError, DilationPattern, FamilyConfig, FlatModelConfig, GatedConfig, LabelDropout,
    ModelConfig, ModelFamily, PlainConfig, NO_LABEL, PRESET_NAMES,
};
pub use arch::conv_spec::{ConvSpec, Tap};
pub use arch::gated_spec::{GatedLayerSpec, GatedSpec, CLASS_COUNT};
pub use arch::mask::{Mask, MaskKind};
pub use arch::params::{ConvParams, ConvSlots, NamedTensor, ParamLayout, Params};
pub use arch::plain_spec::{LayerKind, LayerSpec};
pub use cpu::net::CpuNet;
pub use cpu::sampler::{
    sample_fast, sample_fast_from, sample_fast_styled, sample_fast_while, sample_naive,
    sample_naive_styled,
};
pub use device::adam::{AdamScalars, DeviceAdam};
pub use device::net::DeviceNet;
pub use sample::{ClassChoice, SampleGrid, SampleStyle};
