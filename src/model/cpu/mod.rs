//! The fast CPU networks and samplers.

pub mod conv_kernels;
pub mod epilogue;
mod gated_net;
pub mod gemm;
pub mod net;
mod plain_net;
pub mod sampler;
