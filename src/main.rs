//! `pixelcnn-studio`: with no subcommand, the desktop studio; otherwise the headless command line
//! (train, eval, sample, inspect, bench).

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc keeps freed memory for reuse: with glibc's default malloc the large per-step
/// buffers turn into page faults and training runs at a third of the speed.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
