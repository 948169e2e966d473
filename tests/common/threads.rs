//! Waiting for threads without guessing how long they take: each wait ends on an event (a
//! message, a disconnected channel), and a generous watchdog exists only to fail a test that
//! would otherwise hang.

use std::fmt::Debug;
use std::time::Duration;

use pixelcnn_studio::service::{NoEvent, Service};

/// How long a wait may take before the test fails instead of hanging; never a speed target.
pub const WATCHDOG: Duration = Duration::from_secs(120);

/// Takes `service`'s events until `done` accepts one, and returns them all (that one last);
/// fails, with the last events taken, if the thread ends first or the watchdog runs out.
pub fn collect_until<C, E>(service: &Service<C, E>, mut done: impl FnMut(&E) -> bool) -> Vec<E>
where
    C: Send + 'static,
    E: Send + Debug + 'static,
{
    let mut events = Vec::new();
    loop {
        match service.next_event(WATCHDOG) {
            Ok(event) => {
                let stop = done(&event);
                events.push(event);
                if stop {
                    return events;
                }
            }
            Err(why) => panic!(
                "{why:?} before the event waited for, after {} events; the last: {}",
                events.len(),
                last_events(&events)
            ),
        }
    }
}

/// Takes `service`'s events until `pick` turns one into a value, and returns that value;
/// fails if the thread ends first or the watchdog runs out.
pub fn next_matching<C, E, T>(service: &Service<C, E>, mut pick: impl FnMut(E) -> Option<T>) -> T
where
    C: Send + 'static,
    E: Send + 'static,
{
    loop {
        match service.next_event(WATCHDOG) {
            Ok(event) => {
                if let Some(found) = pick(event) {
                    return found;
                }
            }
            Err(NoEvent::TimedOut) => panic!("no such event within {WATCHDOG:?}"),
            Err(NoEvent::Ended) => panic!("the thread ended before such an event"),
        }
    }
}

/// The last three of `events`, each cut to 120 characters (grids are long).
fn last_events<E: Debug>(events: &[E]) -> String {
    let from = events.len().saturating_sub(3);
    events[from..]
        .iter()
        .map(|e| format!("{e:?}").chars().take(120).collect::<String>())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Drops `handle` on another thread and waits until the drop has returned (a service handle's
/// drop joins its thread); fails, naming `what`, if the watchdog runs out first.
pub fn drop_and_wait_for_the_join<T: Send + 'static>(handle: T, what: &str) {
    let (dropped_tx, dropped_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        drop(handle);
        let _ = dropped_tx.send(());
    });
    assert!(
        dropped_rx.recv_timeout(WATCHDOG).is_ok(),
        "dropping {what} did not return: its thread was not stopped and joined"
    );
}

/// A repaint callback that holds a channel's sender, and that channel's receiver: once the
/// thread that owns the callback has ended (and dropped it), the receiver reports the
/// channel disconnected.
pub fn repaint_with_witness() -> (
    std::sync::Arc<dyn Fn() + Send + Sync>,
    crossbeam_channel::Receiver<()>,
) {
    let (witness_tx, witness_rx) = crossbeam_channel::bounded::<()>(0);
    let repaint = std::sync::Arc::new(move || {
        // Using the sender makes the callback own it.
        let _ = witness_tx.len();
    });
    (repaint, witness_rx)
}

/// Whether the thread holding `witness`'s sender has dropped it (it ended).
pub fn witness_released(witness: &crossbeam_channel::Receiver<()>) -> bool {
    witness.try_recv() == Err(crossbeam_channel::TryRecvError::Disconnected)
}
