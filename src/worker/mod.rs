//! The training thread: a named thread that owns the data, the model and the trainer, takes
//! [`WorkerCommand`]s and reports [`WorkerEvent`]s over bounded channels, and is joined on drop.
//!
//! The thread runs the training driver ([`crate::train::Driver`]), which hands control back
//! whenever a command is waiting, between two training steps, two chunks of the test evaluation
//! or two image rows of a grid: every command (pause, stop, close, sample now, save...) takes
//! effect within one of those units. Step losses are coalesced into at most one
//! [`WorkerEvent::Steps`] per [`STEP_EVENT_INTERVAL`]. Panics and training errors are caught and
//! reported as [`WorkerEvent::Error`]; the thread keeps serving commands afterwards. With an
//! autosave path, the model is written there at every epoch end and on exit.

mod checkpoint_io;
mod run;

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::messages::{WorkerCommand, WorkerEvent};

/// Commands the UI may queue before the worker takes them.
pub const COMMAND_CAPACITY: usize = 64;
/// Events the worker may queue before the UI drains them (back-pressure beyond that).
pub const EVENT_CAPACITY: usize = 256;
/// The shortest time between two coalesced step events.
pub const STEP_EVENT_INTERVAL: Duration = Duration::from_millis(50);
/// Name of the worker thread.
pub const THREAD_NAME: &str = "pixelcnn-worker";

/// Called after every event send to wake the UI (e.g. `egui::Context::request_repaint`).
pub type RepaintFn = Arc<dyn Fn() + Send + Sync>;

/// How the worker keeps the user's work.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerOptions {
    /// Where to write the autosave checkpoint (atomically) at every epoch end and on exit;
    /// `None` for no autosave (tests, scripts).
    pub autosave: Option<PathBuf>,
}

/// Why a command could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The command queue is full (the worker is busy); try again.
    #[error("the training thread is busy: try again in a moment")]
    Busy,
    /// The worker thread has ended.
    #[error("the training thread has ended: restart the studio")]
    Gone,
}

/// The UI's handle on the training thread. Dropping it stops the thread and joins it.
pub struct Worker {
    commands: Option<Sender<WorkerCommand>>,
    events: Option<Receiver<WorkerEvent>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the named worker thread without an autosave; `repaint` is called after each event
    /// it sends.
    pub fn spawn(repaint: RepaintFn) -> anyhow::Result<Worker> {
        Worker::spawn_with(WorkerOptions::default(), repaint)
    }

    /// Starts the named worker thread with `options`; `repaint` is called after each event it
    /// sends.
    pub fn spawn_with(options: WorkerOptions, repaint: RepaintFn) -> anyhow::Result<Worker> {
        let (command_tx, command_rx) = bounded(COMMAND_CAPACITY);
        let (event_tx, event_rx) = bounded(EVENT_CAPACITY);
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || run::worker_main(command_rx, event_tx, repaint, options))
            .context("could not start the training thread")?;
        Ok(Worker {
            commands: Some(command_tx),
            events: Some(event_rx),
            thread: Some(thread),
        })
    }

    /// Queues a command without blocking.
    pub fn send(&self, command: WorkerCommand) -> Result<(), SendError> {
        let Some(commands) = &self.commands else {
            return Err(SendError::Gone);
        };
        commands.try_send(command).map_err(|err| match err {
            TrySendError::Full(_) => SendError::Busy,
            TrySendError::Disconnected(_) => SendError::Gone,
        })
    }

    /// The next event if one is waiting (never blocks).
    pub fn try_recv(&self) -> Option<WorkerEvent> {
        self.events.as_ref()?.try_recv().ok()
    }

    /// The next event, waiting at most `timeout` (for tests and the command line; the UI
    /// uses [`Worker::try_recv`]).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<WorkerEvent> {
        self.events.as_ref()?.recv_timeout(timeout).ok()
    }

    /// Whether events are waiting to be received.
    pub fn has_pending(&self) -> bool {
        self.events.as_ref().is_some_and(|rx| !rx.is_empty())
    }

    /// Whether the thread is still running.
    pub fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(commands) = self.commands.take() {
            // A full queue is fine: dropping the sender disconnects it, which also ends the loop.
            let _ = commands.try_send(WorkerCommand::Shutdown);
        }
        // Dropping the receiver unblocks a worker waiting to send an event.
        self.events.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The text of a caught panic's payload (a `&str` or a `String`), for an error message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_string()
    }
}
