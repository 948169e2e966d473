//! `pixelcnn-studio`: with no subcommand, the desktop studio; otherwise the headless command line
//! (train, eval, sample, inspect, bench).

mod cli;

use std::alloc::{GlobalAlloc, Layout};
use std::process::ExitCode;

use clap::Parser;

/// mimalloc keeps freed memory for reuse: with glibc's default malloc the large per-step
/// buffers turn into page faults and training runs at a third of the speed.
#[global_allocator]
static GLOBAL: OutOfMemoryExit = OutOfMemoryExit(mimalloc::MiMalloc);

/// An allocator that, when the one it wraps has no memory left (a memory cap, `ulimit -v`),
/// prints one line and exits with status 1, instead of the standard library's abort with a
/// multi-line report. The memory estimate refuses oversized models before this can happen;
/// this is the last resort for what it cannot foresee.
struct OutOfMemoryExit(mimalloc::MiMalloc);

// SAFETY: every method forwards its arguments unchanged to mimalloc's, which upholds the
// `GlobalAlloc` contract, and returns its result; where mimalloc returns null the process
// exits instead of returning.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for OutOfMemoryExit {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let ptr = unsafe { self.0.alloc(layout) };
        if ptr.is_null() {
            out_of_memory(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on unchanged.
        let ptr = unsafe { self.0.alloc_zeroed(layout) };
        if ptr.is_null() {
            out_of_memory(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from mimalloc, with `layout`.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        let new = unsafe { self.0.realloc(ptr, layout, new_size) };
        if new.is_null() {
            out_of_memory(new_size);
        }
        new
    }
}

/// Prints one line on stderr without allocating and exits with status 1.
fn out_of_memory(bytes: usize) -> ! {
    use std::io::Write;
    let mut line = [0u8; 256];
    let mut cursor = std::io::Cursor::new(&mut line[..]);
    let _ = writeln!(
        cursor,
        "error: out of memory: {} MiB more could not be allocated; use fewer layers or \
         feature maps, a smaller batch or fewer samples, or free some memory",
        bytes.div_ceil(1 << 20)
    );
    let len = (cursor.position() as usize).min(line.len());
    let _ = std::io::stderr().write_all(&line[..len]);
    std::process::exit(1)
}

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
