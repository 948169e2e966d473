//! PixelCNN Studio: train, watch and inspect a PixelCNN (van den Oord et al. 2016,
//! arXiv 1601.06759) on dynamically binarized MNIST.
//!
//! The engine (`data`, `model`, `train`, `checkpoint`, `run`, `explore`) knows nothing of egui;
//! the command line (`cli`) and the desktop studio (`ui`, through `worker`) both drive it, and
//! both keep a training run in a run folder (`run`). The studio's background threads (the
//! worker, the explorer, the runs thread) run on `service`.

pub mod atomic_file;
pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod explore;
pub mod imaging;
pub mod input_file;
pub mod messages;
pub mod model;
pub mod run;
pub mod service;
pub mod train;
pub mod ui;
pub mod worker;
