//! The model's description as data.

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
