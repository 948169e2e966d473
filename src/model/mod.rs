//! The PixelCNN: configuration, masks, parameters, the fast CPU networks (plain and gated), the
//! candle reference networks, the device network (a GPU's, tested on candle's CPU) and the
//! samplers.

pub mod arch;
pub mod cpu;
pub mod device;
pub mod reference;

pub use arch::architecture::Architecture;
pub use arch::config::{
    ConfigError, FamilyConfig, FlatModelConfig, GatedConfig, ModelConfig, ModelFamily, PlainConfig,
    PRESET_NAMES,
};
pub use arch::conv_spec::{ConvSpec, Tap};
pub use arch::gated_spec::{GatedLayerSpec, GatedSpec, CLASS_COUNT};
pub use arch::mask::{Mask, MaskKind};
pub use arch::params::{ConvParams, ConvSlots, NamedTensor, ParamLayout, Params};
pub use arch::plain_spec::{LayerKind, LayerSpec};
pub use cpu::net::CpuNet;
pub use cpu::sampler::{
    sample_fast, sample_fast_from, sample_fast_while, sample_naive, ClassChoice, SampleGrid,
};
pub use device::adam::{AdamScalars, DeviceAdam};
pub use device::net::DeviceNet;
