//! The device (GPU) path.

pub mod adam;
pub mod conv;
mod epilogue;
pub mod layout;
pub mod net;
pub mod sampler;
