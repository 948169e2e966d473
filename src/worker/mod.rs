//! The training thread: a [`crate::service`] thread that owns the data, the model and the
//! trainer, takes [`WorkerCommand`]s and reports [`WorkerEvent`]s.
//!
//! The thread runs the training driver ([`crate::train::Driver`]), which hands control back
//! whenever a command is waiting, between two training steps, two chunks of the test evaluation
//! or two image rows of a grid: every command (pause, stop, close, sample now, save...) takes
//! effect within one of those units. Step losses are coalesced into at most one
//! [`WorkerEvent::Steps`] per [`STEP_EVENT_INTERVAL`]. Panics and training errors are caught and
//! reported as [`WorkerEvent::Error`]; the thread keeps serving commands afterwards. With a
//! runs folder, every training run lives in its own run folder ([`crate::run`]): made at the
//! first Start of a model, taken over when an opened run is continued, written at every epoch
//! end, at least every [`WorkerOptions::autosave_every`] of training and when training stops,
//! and closed (or deleted, when the user discards it) when the model is put away.

mod checkpoint_io;
mod run;

use std::path::PathBuf;
use std::time::Duration;

use crate::run::DEFAULT_AUTOSAVE_EVERY;

use crate::messages::{WorkerCommand, WorkerEvent};
use crate::service::{RepaintFn, Service, ServiceSpec};

/// Commands the UI may queue before the worker takes them.
pub const COMMAND_CAPACITY: usize = 64;
/// Events the worker may queue before the UI drains them (back-pressure beyond that).
pub const EVENT_CAPACITY: usize = 256;
/// The shortest time between two coalesced step events.
pub const STEP_EVENT_INTERVAL: Duration = Duration::from_millis(50);
/// Name of the worker thread.
pub const THREAD_NAME: &str = "pixelcnn-worker";

/// The training thread as a service: its name, queues, shutdown command and panic report.
pub const SPEC: ServiceSpec<WorkerCommand, WorkerEvent> = ServiceSpec {
    thread_name: THREAD_NAME,
    description: "the training thread",
    command_capacity: COMMAND_CAPACITY,
    event_capacity: EVENT_CAPACITY,
    shutdown: || WorkerCommand::Shutdown,
    panicked: |message| {
        WorkerEvent::Error(format!(
            "the training thread hit a bug and ended: {message}"
        ))
    },
};

/// How the worker keeps the user's work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerOptions {
    /// The folder new run folders are made in (the studio's data folder's `runs/`); `None`:
    /// no run folders (tests, scripts): a model is kept only by "Save checkpoint as...".
    pub runs_root: Option<PathBuf>,
    /// The longest stretch of training between two checkpoints of a run (2 minutes).
    pub autosave_every: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            runs_root: None,
            autosave_every: DEFAULT_AUTOSAVE_EVERY,
        }
    }
}

/// The UI's handle on the training thread. Dropping it stops the thread and joins it.
pub type Worker = Service<WorkerCommand, WorkerEvent>;

impl Worker {
    /// Starts the named worker thread without run folders; `repaint` is called after each
    /// event it sends.
    pub fn spawn(repaint: RepaintFn) -> anyhow::Result<Worker> {
        Worker::spawn_with(WorkerOptions::default(), repaint)
    }

    /// Starts the named worker thread with `options`; `repaint` is called after each event it
    /// sends.
    pub fn spawn_with(options: WorkerOptions, repaint: RepaintFn) -> anyhow::Result<Worker> {
        Service::start(SPEC, repaint, move |commands, outbox| {
            run::worker_main(commands, outbox, options)
        })
    }
}
