//! Sleeps and timeouts that tell the simulation when they are due.
//!
//! turmoil runs with idle-host skipping (`vendor/turmoil/PATCH.md`): in each step a
//! host runs only if one of its tasks was woken, a message waits for it, or a deadline
//! it registered falls in the step. A sleep the host did not register would fire late,
//! when something else woke the host. So every sleep and timeout in code the simulation
//! runs (wire, broker-model, workload, sim) goes through these functions, which tell
//! the hook the simulation installed ([`set_deadline_hook`]: `turmoil::wake_at`) before
//! handing over to tokio; clippy's `disallowed-methods` in those crates forbids the
//! tokio ones. Outside a simulation (`serve`, certification over TCP) no hook is set
//! and these are tokio's own.

use std::cell::Cell;
use std::future::IntoFuture;
use std::time::Duration;
use tokio::time::{Instant, Sleep, Timeout};

/// Called with each deadline a sleep or timeout is created with.
pub type DeadlineHook = fn(Instant);

thread_local! {
    static HOOK: Cell<Option<DeadlineHook>> = const { Cell::new(None) };
}

/// Installs `hook` for this thread (the simulation's), returning the previous one.
pub fn set_deadline_hook(hook: Option<DeadlineHook>) -> Option<DeadlineHook> {
    HOOK.with(|cell| cell.replace(hook))
}

fn announce(deadline: Instant) {
    if let Some(hook) = HOOK.with(Cell::get) {
        hook(deadline);
    }
}

/// `tokio::time::sleep`, announced.
#[allow(clippy::disallowed_methods)]
pub fn sleep(duration: Duration) -> Sleep {
    match Instant::now().checked_add(duration) {
        Some(deadline) => sleep_until(deadline),
        None => tokio::time::sleep(duration),
    }
}

/// `tokio::time::sleep_until`, announced.
#[allow(clippy::disallowed_methods)]
pub fn sleep_until(deadline: Instant) -> Sleep {
    announce(deadline);
    tokio::time::sleep_until(deadline)
}

/// `tokio::time::timeout`, announced.
#[allow(clippy::disallowed_methods)]
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    match Instant::now().checked_add(duration) {
        Some(deadline) => timeout_at(deadline, future),
        None => tokio::time::timeout(duration, future),
    }
}

/// `tokio::time::timeout_at`, announced. A timeout whose future finishes first still
/// announced its deadline: the host then runs once for nothing, which is safe.
#[allow(clippy::disallowed_methods)]
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    announce(deadline);
    tokio::time::timeout_at(deadline, future)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SEEN: AtomicUsize = AtomicUsize::new(0);

    fn count(_: Instant) {
        SEEN.fetch_add(1, Ordering::Relaxed);
    }

    #[tokio::test(start_paused = true)]
    async fn every_sleep_and_timeout_announces_its_deadline() {
        let previous = set_deadline_hook(Some(count));
        sleep(Duration::from_millis(5)).await;
        sleep_until(Instant::now() + Duration::from_millis(5)).await;
        let _ = timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
        let _ = timeout_at(Instant::now(), async {}).await;
        set_deadline_hook(previous);
        sleep(Duration::from_millis(5)).await;
        assert_eq!(SEEN.load(Ordering::Relaxed), 4);
    }
}
