//! The PixelCNN: configuration, masks, parameters, the fast CPU network, the candle reference
//! network and the samplers.

pub mod candle_net;
pub mod config;
pub mod cpu_net;
pub mod gemm;
pub mod mask;
pub mod memory;
pub mod params;
pub mod receptive_field;
pub mod sampler;

pub use candle_net::PixelCnn;
pub use config::{ConfigError, LayerKind, LayerSpec, ModelConfig};
pub use cpu_net::CpuNet;
pub use mask::{Mask, MaskKind};
pub use params::{NamedTensor, Params};
pub use sampler::{sample_fast, sample_naive, SampleGrid};
