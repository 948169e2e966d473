//! The PixelCNN: configuration, masks, parameters, the fast CPU networks (plain and gated), the
//! candle reference networks, the device network (a GPU's, tested on candle's CPU) and the
//! samplers.

pub mod candle_net;
pub mod config;
pub mod conv_kernels;
pub mod conv_spec;
pub mod cpu_net;
pub mod device_conv;
pub mod device_layout;
pub mod device_net;
pub mod device_sampler;
pub mod epilogue;
mod gated_net;
pub mod gated_spec;
pub mod gemm;
pub mod mask;
pub mod memory;
pub mod params;
mod plain_net;
pub mod receptive_field;
pub mod sampler;

pub use candle_net::PixelCnn;
pub use config::{ConfigError, LayerKind, LayerSpec, ModelConfig, ModelFamily, PRESET_NAMES};
pub use conv_spec::{ConvSpec, Tap};
pub use cpu_net::CpuNet;
pub use device_net::DeviceNet;
pub use gated_spec::{GatedLayerSpec, GatedSpec, CLASS_COUNT};
pub use mask::{Mask, MaskKind};
pub use params::{ConvParams, ConvSlots, NamedTensor, ParamLayout, Params};
pub use sampler::{
    sample_fast, sample_fast_from, sample_fast_while, sample_naive, ClassChoice, SampleGrid,
};
