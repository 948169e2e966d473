//! The model's description as data: what a PixelCNN is, independent of where it runs.
//!
//! - [`config`]: [`ModelConfig`](config::ModelConfig), the settings (shared ones, and each
//!   family's own in [`FamilyConfig`](config::FamilyConfig)), presets, validation and the flat
//!   stored form. Leaf data: it imports nothing from this folder.
//! - [`plain_spec`], [`gated_spec`]: each family's network as convolutions, built from the
//!   config; [`architecture`] puts them behind one [`Architecture`](architecture::Architecture)
//!   and answers the questions every family answers (convolutions, visible inputs, reach).
//! - [`conv_spec`], [`mask`], [`epilogue`]: one convolution (its taps), the causal masks, and
//!   what follows a convolution (bias, activation, residual).
//! - [`params`]: parameter names, shapes, storage order, initialisation, and where each layer's
//!   tensors sit.
//! - [`receptive_field`], [`memory`]: what an output pixel sees, and what a model costs in memory.
//!
//! A new setting goes to `config.rs`; a new layer shape to the family's spec; a new checkpoint
//! name or initialisation to `params.rs`. Nothing here runs a network: that is `cpu/`,
//! `device/` and `reference.rs`.

pub mod architecture;
pub mod config;
pub mod conv_spec;
pub mod epilogue;
pub mod gated_spec;
pub mod mask;
pub mod memory;
pub mod params;
pub mod plain_spec;
pub mod receptive_field;
