//! Waiting for threads without guessing how long they take: each wait ends on an event (a
//! message, a disconnected channel), and a generous watchdog exists only to fail a test that
//! would otherwise hang.

use std::time::Duration;

/// How long a wait may take before the test fails instead of hanging; never a speed target.
pub const WATCHDOG: Duration = Duration::from_secs(120);

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
