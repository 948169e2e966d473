//! Seeing what a trained model learned: per-pixel likelihood maps, completions of a kept
//! prefix (or of a hole), images read from PNG files, and the explorer thread that does this
//! work for the studio off the UI thread. Knows nothing of egui.
//!
//! The same functions serve the `nll-map` and `complete` subcommands and the studio's Explore
//! tab, so the command line and the window always agree.

pub mod completion;
pub mod explorer;
pub mod image_input;
pub mod nll_map;
pub mod render;

pub use completion::{
    complete, keep_pixels_for_rows, CompletionError, CompletionSpec, Hole, MAX_COMPLETIONS,
};
pub use explorer::{ExploreEvent, ExploreRequest, Explorer};
pub use image_input::{read_image_png, ImageInputError};
pub use nll_map::{nll_map, nll_maps, NllMap};
