//! Sleeps and timeouts that tell the simulation when they are due.
//!
//! turmoil runs with idle-host skipping (`vendor/turmoil/PATCH.md`): in each step a
//! host runs only if one of its tasks was woken, a message waits for it, or a deadline
//! it registered falls in the step. A sleep the host did not register would fire late,
//! when something else woke the host. So every sleep and timeout in code the simulation
//! runs (wire, broker-model, workload, sim) goes through these functions, which tell
//! the hook the simulation installed ([`set_deadline_hook`]: `turmoil::announce_wake`)
//! before handing over to tokio, and withdraw the deadline when they are dropped (a
//! request timeout whose response came first then costs its host no run for nothing);
//! clippy's `disallowed-methods` in those crates forbids the tokio ones. Outside a
//! simulation (`serve`, certification over TCP) no hook is set and these are tokio's
//! own.

use std::cell::Cell;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep, Timeout};

/// What the simulation installs: `announce` is told each deadline a sleep or timeout
/// is created with and may return a token; `withdraw` gets that token back when the
/// sleep or timeout is dropped, fired or not (`turmoil::announce_wake` and
/// `turmoil::withdraw_wake`). A timeout whose future finished first thus costs its host
/// no run at a deadline where nothing is due.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineHook {
    /// Called with each deadline; the token it returns goes to `withdraw` on drop.
    pub announce: fn(Instant) -> Option<u128>,
    /// Called once with each token `announce` returned, when its timer is dropped.
    pub withdraw: fn(u128),
}

thread_local! {
    static HOOK: Cell<Option<DeadlineHook>> = const { Cell::new(None) };
}

/// Installs `hook` for this thread (the simulation's), returning the previous one.
pub fn set_deadline_hook(hook: Option<DeadlineHook>) -> Option<DeadlineHook> {
    HOOK.with(|cell| cell.replace(hook))
}

fn announce(deadline: Instant) -> Withdraw {
    Withdraw(HOOK.with(Cell::get).and_then(|hook| {
        let token = (hook.announce)(deadline)?;
        Some((hook.withdraw, token))
    }))
}

/// Hands an announced deadline's token back when its timer goes.
#[derive(Debug)]
struct Withdraw(Option<(fn(u128), u128)>);

impl Drop for Withdraw {
    fn drop(&mut self) {
        if let Some((withdraw, token)) = self.0.take() {
            withdraw(token);
        }
    }
}

pin_project_lite::pin_project! {
    /// A tokio sleep or timeout whose deadline was announced, and is withdrawn when it
    /// is dropped.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Announced<F> {
        #[pin]
        timer: F,
        withdraw: Withdraw,
    }
}

impl<F: Future> Future for Announced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().timer.poll(cx)
    }
}

/// `tokio::time::sleep`, announced.
#[allow(clippy::disallowed_methods)]
pub fn sleep(duration: Duration) -> Announced<Sleep> {
    match Instant::now().checked_add(duration) {
        Some(deadline) => sleep_until(deadline),
        None => Announced {
            timer: tokio::time::sleep(duration),
            withdraw: Withdraw(None),
        },
    }
}

/// `tokio::time::sleep_until`, announced.
#[allow(clippy::disallowed_methods)]
pub fn sleep_until(deadline: Instant) -> Announced<Sleep> {
    let withdraw = announce(deadline);
    Announced {
        timer: tokio::time::sleep_until(deadline),
        withdraw,
    }
}

/// `tokio::time::timeout`, announced.
#[allow(clippy::disallowed_methods)]
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Announced<Timeout<F::IntoFuture>> {
    match Instant::now().checked_add(duration) {
        Some(deadline) => timeout_at(deadline, future),
        None => Announced {
            timer: tokio::time::timeout(duration, future),
            withdraw: Withdraw(None),
        },
    }
}

/// `tokio::time::timeout_at`, announced. When the future finishes first, dropping the
/// timeout withdraws its deadline.
#[allow(clippy::disallowed_methods)]
pub fn timeout_at<F: IntoFuture>(
    deadline: Instant,
    future: F,
) -> Announced<Timeout<F::IntoFuture>> {
    let withdraw = announce(deadline);
    Announced {
        timer: tokio::time::timeout_at(deadline, future),
        withdraw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SEEN: AtomicUsize = AtomicUsize::new(0);
    static WITHDRAWN: AtomicUsize = AtomicUsize::new(0);

    fn count(_: Instant) -> Option<u128> {
        Some(SEEN.fetch_add(1, Ordering::Relaxed) as u128)
    }

    fn uncount(_: u128) {
        WITHDRAWN.fetch_add(1, Ordering::Relaxed);
    }

    #[tokio::test(start_paused = true)]
    async fn every_sleep_and_timeout_announces_its_deadline_and_withdraws_it_when_dropped() {
        let hook = DeadlineHook {
            announce: count,
            withdraw: uncount,
        };
        let previous = set_deadline_hook(Some(hook));
        sleep(Duration::from_millis(5)).await;
        sleep_until(Instant::now() + Duration::from_millis(5)).await;
        let _ = timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
        // Finishes first: its deadline is withdrawn unfired.
        assert_eq!(
            timeout_at(Instant::now() + Duration::from_secs(30), async { 7 }).await,
            Ok(7)
        );
        // Never polled, dropped: withdrawn too.
        drop(sleep(Duration::from_secs(1)));
        assert_eq!(SEEN.load(Ordering::Relaxed), 5);
        assert_eq!(WITHDRAWN.load(Ordering::Relaxed), 5);
        set_deadline_hook(previous);
        sleep(Duration::from_millis(5)).await;
        assert_eq!(SEEN.load(Ordering::Relaxed), 5);
        assert_eq!(WITHDRAWN.load(Ordering::Relaxed), 5);
    }
}
