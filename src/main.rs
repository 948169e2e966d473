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
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        // --help and --version: clap's own text on stdout.
        Err(err) if !err.use_stderr() => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("{}", cli::usage_error_line(&err.render().to_string()));
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
