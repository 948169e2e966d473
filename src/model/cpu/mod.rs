//! The fast CPU path: the networks the studio trains and samples with on a CPU.
//!
//! - [`gemm`]: the matrix product (AVX-512 where the CPU has it, else portable).
//! - [`conv_kernels`]: one convolution over its used taps (chunked im2col + GEMM), forward and
//!   backward, channels-last.
//! - [`epilogue`]: bias, activation and residual on one pixel's row, the gate's backward and the
//!   fast `tanh`/`sigmoid`.
//! - `plain_net.rs`, `gated_net.rs`: each family's network with its hand-written backward;
//!   [`net`] puts them behind [`CpuNet`](net::CpuNet).
//! - [`sampler`]: the fast incremental samplers and the straightforward one (a full forward pass
//!   per pixel), which the fast ones are tested against.
//!
//! Speed work and CPU-side arithmetic go here; what the layers are comes from `arch/`.

pub mod conv_kernels;
pub mod epilogue;
mod gated_net;
pub mod gemm;
pub mod net;
mod plain_net;
pub mod sampler;
