//! One way to run a background thread for the studio: a named thread that takes commands and
//! sends events over bounded queues, wakes the UI after each event, has its panics caught and
//! reported, and is joined when its handle is dropped. The training worker (`worker`), the
//! explorer (`explore::explorer`) and the runs thread (`run::watch`) run on it; this module
//! imports nothing of the crate.
//!
//! The UI holds a [`Service`]: it queues commands without blocking ([`Service::send`], with a
//! typed [`SendError`] when the queue is full or the thread has ended) and drains events
//! without blocking ([`Service::try_recv`]). The thread's body gets the command queue and an
//! [`Outbox`] that sends events and wakes the UI. Dropping the handle queues the service's
//! shutdown command, disconnects both queues (so a thread blocked on either wakes up) and joins
//! the thread.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};

/// Called after every event a service sends, to wake the UI (e.g.
/// `egui::Context::request_repaint`).
pub type RepaintFn = Arc<dyn Fn() + Send + Sync>;

/// What a service is: its thread's name, how the user calls it, its queue sizes, the command
/// that ends it and the event that reports a panic that ended it.
#[derive(Clone, Copy, Debug)]
pub struct ServiceSpec<C, E> {
    /// The thread's name (shown by debuggers and in panic messages).
    pub thread_name: &'static str,
    /// The thread as the user knows it, for messages: "the training thread".
    pub description: &'static str,
    /// Commands the UI may queue before the thread takes them.
    pub command_capacity: usize,
    /// Events the thread may queue before the UI drains them (back-pressure beyond that).
    pub event_capacity: usize,
    /// The command that asks the thread to end (queued when the handle is dropped).
    pub shutdown: fn() -> C,
    /// The event that reports a panic which escaped the thread's body, from its message.
    pub panicked: fn(String) -> E,
}

/// Why a command could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The command queue is full (the thread is busy); try again.
    #[error("{thread} is busy: try again in a moment")]
    Busy {
        /// The thread, as the user knows it ("the training thread").
        thread: &'static str,
    },
    /// The thread has ended.
    #[error("{thread} has ended: restart the studio")]
    Gone {
        /// The thread, as the user knows it.
        thread: &'static str,
    },
}

/// Why [`Service::next_event`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoEvent {
    /// None arrived within the time given.
    TimedOut,
    /// The thread has ended and every event it sent was taken.
    Ended,
}

/// The UI's handle on a service thread. Dropping it ends the thread and joins it.
pub struct Service<C, E> {
    description: &'static str,
    shutdown: fn() -> C,
    commands: Option<Sender<C>>,
    events: Option<Receiver<E>>,
    thread: Option<JoinHandle<()>>,
}

impl<C: Send + 'static, E: Send + 'static> Service<C, E> {
    /// Starts the named thread of `spec` running `body`, which gets the command queue and the
    /// [`Outbox`] for its events (`repaint` is called after each one). A panic that escapes
    /// `body` ends the thread and is reported as the spec's `panicked` event.
    pub fn start(
        spec: ServiceSpec<C, E>,
        repaint: RepaintFn,
        body: impl FnOnce(Receiver<C>, Outbox<E>) + Send + 'static,
    ) -> anyhow::Result<Service<C, E>> {
        let (command_tx, command_rx) = bounded(spec.command_capacity);
        let (event_tx, event_rx) = bounded(spec.event_capacity);
        let outbox = Outbox {
            events: event_tx,
            repaint,
        };
        let thread = std::thread::Builder::new()
            .name(spec.thread_name.into())
            .spawn(move || {
                let reporter = outbox.clone();
                if let Err(message) = guard(|| body(command_rx, outbox)) {
                    reporter.send((spec.panicked)(message));
                }
            })
            .with_context(|| format!("could not start {}", spec.description))?;
        Ok(Service {
            description: spec.description,
            shutdown: spec.shutdown,
            commands: Some(command_tx),
            events: Some(event_rx),
            thread: Some(thread),
        })
    }

    /// Queues a command without blocking.
    pub fn send(&self, command: C) -> Result<(), SendError> {
        let thread = self.description;
        let Some(commands) = &self.commands else {
            return Err(SendError::Gone { thread });
        };
        commands.try_send(command).map_err(|err| match err {
            TrySendError::Full(_) => SendError::Busy { thread },
            TrySendError::Disconnected(_) => SendError::Gone { thread },
        })
    }

    /// The next event if one is waiting (never blocks).
    pub fn try_recv(&self) -> Option<E> {
        self.events.as_ref()?.try_recv().ok()
    }

    /// The next event, waiting at most `timeout` (for tests and the command line; the UI uses
    /// [`Service::try_recv`]). `None` when none came in time or the thread has ended.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<E> {
        self.next_event(timeout).ok()
    }

    /// The next event, waiting at most `timeout`, or why there was none: the time ran out, or
    /// the thread has ended and every event it sent was taken (so a caller can wait for the
    /// thread's end itself, with `timeout` only as a watchdog).
    pub fn next_event(&self, timeout: Duration) -> Result<E, NoEvent> {
        let Some(events) = &self.events else {
            return Err(NoEvent::Ended);
        };
        events.recv_timeout(timeout).map_err(|err| match err {
            RecvTimeoutError::Timeout => NoEvent::TimedOut,
            RecvTimeoutError::Disconnected => NoEvent::Ended,
        })
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

impl<C, E> Drop for Service<C, E> {
    fn drop(&mut self) {
        if let Some(commands) = self.commands.take() {
            // A full queue is fine: dropping the sender disconnects it, which also tells the
            // thread to end.
            let _ = commands.try_send((self.shutdown)());
        }
        // Dropping the receiver unblocks a thread waiting to send an event.
        self.events.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread's side of the event queue: every event sent also wakes the UI.
pub struct Outbox<E> {
    events: Sender<E>,
    repaint: RepaintFn,
}

impl<E> Clone for Outbox<E> {
    fn clone(&self) -> Self {
        Outbox {
            events: self.events.clone(),
            repaint: Arc::clone(&self.repaint),
        }
    }
}

impl<E> Outbox<E> {
    /// Sends `event` (waiting while the queue is full) and wakes the UI; false once the UI's
    /// handle is gone, which means the thread should end.
    pub fn send(&self, event: E) -> bool {
        let sent = self.events.send(event).is_ok();
        (self.repaint)();
        sent
    }

    /// Sends `event` if the queue has room, else drops it (for progress the UI may skip when
    /// it is behind), and wakes the UI either way.
    pub fn send_droppable(&self, event: E) {
        let _ = self.events.try_send(event);
        (self.repaint)();
    }
}

/// Runs `body`, turning a panic into its message (the caller reports it and carries on).
pub fn guard<T>(body: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(body)).map_err(|payload| panic_message(payload.as_ref()))
}

/// The text of a caught panic's payload (a `&str` or a `String`), for an error message.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Command {
        Echo(u32),
        Panic,
        Shutdown,
    }

    #[derive(Debug, PartialEq)]
    enum Event {
        Echoed(u32),
        Panicked(String),
    }

    const SPEC: ServiceSpec<Command, Event> = ServiceSpec {
        thread_name: "test-service",
        description: "the test thread",
        command_capacity: 2,
        event_capacity: 4,
        shutdown: || Command::Shutdown,
        panicked: Event::Panicked,
    };

    const WATCHDOG: Duration = Duration::from_secs(60);

    fn echo(commands: Receiver<Command>, outbox: Outbox<Event>) {
        while let Ok(command) = commands.recv() {
            match command {
                Command::Echo(n) => {
                    if !outbox.send(Event::Echoed(n)) {
                        return;
                    }
                }
                Command::Panic => panic!("asked to panic"),
                Command::Shutdown => return,
            }
        }
    }

    #[test]
    fn a_service_answers_commands_on_its_named_thread_and_wakes_the_ui_per_event() {
        let wakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&wakes);
        let repaint: RepaintFn = Arc::new(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let (name_tx, name_rx) = bounded(1);
        let service = Service::start(SPEC, repaint, move |commands, outbox| {
            let _ = name_tx.send(std::thread::current().name().map(str::to_string));
            echo(commands, outbox);
        })
        .unwrap();
        assert_eq!(
            name_rx.recv_timeout(WATCHDOG).unwrap().as_deref(),
            Some("test-service")
        );
        service.send(Command::Echo(7)).unwrap();
        assert_eq!(service.next_event(WATCHDOG), Ok(Event::Echoed(7)));
        // The wake follows the send: count it once the thread is joined.
        drop(service);
        assert_eq!(wakes.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn a_full_queue_is_busy_and_an_ended_thread_is_gone() {
        let (release_tx, release_rx) = bounded::<()>(0);
        let service = Service::start(SPEC, Arc::new(|| {}), move |commands, outbox| {
            // Hold the queue until released, then end at the first command.
            let _ = release_rx.recv();
            let _ = commands.recv();
            drop(outbox);
        })
        .unwrap();
        service.send(Command::Echo(1)).unwrap();
        service.send(Command::Echo(2)).unwrap();
        assert_eq!(
            service.send(Command::Echo(3)),
            Err(SendError::Busy {
                thread: "the test thread"
            })
        );
        release_tx.send(()).unwrap();
        assert_eq!(service.next_event(WATCHDOG), Err(NoEvent::Ended));
        // The body's command queue ended with it.
        let gone = service.send(Command::Echo(4)).unwrap_err();
        assert_eq!(
            gone,
            SendError::Gone {
                thread: "the test thread"
            }
        );
        assert_eq!(
            gone.to_string(),
            "the test thread has ended: restart the studio"
        );
    }

    #[test]
    fn a_panic_that_escapes_the_body_is_reported_as_the_last_event() {
        let service = Service::start(SPEC, Arc::new(|| {}), echo).unwrap();
        service.send(Command::Panic).unwrap();
        assert_eq!(
            service.next_event(WATCHDOG),
            Ok(Event::Panicked("asked to panic".into()))
        );
        assert_eq!(service.next_event(WATCHDOG), Err(NoEvent::Ended));
    }

    #[test]
    fn dropping_the_handle_ends_and_joins_a_thread_blocked_on_a_full_event_queue() {
        let (ended_tx, ended_rx) = bounded::<()>(0);
        let service = Service::start(SPEC, Arc::new(|| {}), move |_commands, outbox| {
            // Never reads a command: only the disconnected event queue can end it.
            while outbox.send(Event::Echoed(0)) {}
            drop(ended_tx);
        })
        .unwrap();
        let (dropped_tx, dropped_rx) = bounded(1);
        std::thread::spawn(move || {
            drop(service);
            let _ = dropped_tx.send(());
        });
        assert_eq!(dropped_rx.recv_timeout(WATCHDOG), Ok(()), "drop returned");
        // The body's own sender is gone: it ran to its end before the join returned.
        assert_eq!(
            ended_rx.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        );
    }

    #[test]
    fn a_caught_panic_gives_its_message() {
        assert_eq!(guard(|| panic!("plain")), Err::<(), _>("plain".to_string()));
        let n = 3;
        assert_eq!(
            guard(|| panic!("formatted {n}")),
            Err::<(), _>("formatted 3".into())
        );
        assert_eq!(guard(|| 5), Ok(5));
        let payload: Box<dyn Any + Send> = Box::new(42u8);
        assert_eq!(panic_message(payload.as_ref()), "a panic without a message");
    }
}
