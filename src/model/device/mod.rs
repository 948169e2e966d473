//! The candle device path: the network a GPU trains and samples with (tested on candle's CPU
//! backend), built like the fast CPU one (channels-last, only the used taps, a hand-written
//! backward).
//!
//! - [`conv`]: one convolution as one gather and one matmul, forward, backward and at a few
//!   positions (for the sampler).
//! - [`layout`]: every parameter in one flat device vector, and back to the host's tensors.
//! - [`net`]: [`DeviceNet`](net::DeviceNet), both families, forward and backward.
//! - [`sampler`]: sampling with the fast sampler's caches, on the device.
//! - [`adam`]: [`DeviceAdam`](adam::DeviceAdam), Adam's update on the flat vector.
//! - `epilogue.rs`: bias, activation and residual on candle tensors (also used by
//!   `reference.rs`).
//!
//! GPU-side arithmetic goes here; what the layers are comes from `arch/`.

pub mod adam;
pub mod conv;
mod epilogue;
pub mod layout;
pub mod net;
pub mod sampler;
