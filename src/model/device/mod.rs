//! The device (GPU) path.

pub mod conv;
pub mod layout;
pub mod net;
pub mod sampler;
