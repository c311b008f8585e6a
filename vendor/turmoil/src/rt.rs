use std::cell::RefCell;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use rand::rngs::SmallRng;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio::task::LocalSet;
use tokio::time::{sleep_until, Duration, Instant};

use super::Result;

// To support re-creation, we need to store a factory of the future that
// represents the software. This is somewhat annoying in that it requires
// boxxing to avoid generics.
type Software<'a> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result>>> + 'a>;

/// Runtime kinds.
pub enum Kind<'a> {
    /// A runtime for executing test code.
    Client,

    /// A runtime that is running simulated host software.
    Host { software: Software<'a> },

    /// A runtime without any software. The network topology uses this for
    /// time tracking and message delivery.
    NoSoftware,
}

/// Runtime configuration.
#[derive(Clone, Default)]
pub struct Config {
    /// Whether io is enabled on the runtime.
    pub enable_io: bool,

    /// Rng used to seed the tokio runtime.
    ///
    /// Only used if the `tokio_unstable` cfg flag is set.
    #[cfg_attr(not(tokio_unstable), expect(dead_code))]
    pub rng: Option<SmallRng>,
}

/// Per host simulated runtime.
///
/// The tokio runtime is paused (see [`Builder::start_paused`]), which gives us
/// control over when and how to advance time. In particular, see [`Rt::tick`],
/// which lets the runtime do a bit more work.
pub struct Rt<'a> {
    /// The tick's sleep, kept from tick to tick and reset to each tick's end (faultline
    /// patch): a new one each tick made and dropped a timer entry. First among the
    /// fields, so it is dropped before the runtime whose timer it holds.
    tick_sleep: Option<Pin<Box<tokio::time::Sleep>>>,

    pub kind: Kind<'a>,

    /// Handle to the Tokio runtime driving this simulated host. Each runtime
    /// may have a different sense of "now" which simulates clock skew.
    tokio: Runtime,

    /// Local task set used for running !Send tasks.
    local: LocalSet,

    /// A user readable name to identify the node.
    pub nodename: Arc<str>,

    /// Optional handle to a host's software. When software finishes, the handle is
    /// consumed to check for error, which is propagated up to fail the simulation.
    handle: Option<JoinHandle<Result>>,

    /// Runtime configuration.
    config: Config,

    /// Set when a task of this host is woken from outside its `LocalSet` (a
    /// message delivered to a socket, a timer firing, another host's task, the
    /// test driver). Cleared as a tick starts (faultline patch: idle host
    /// skipping).
    woken: Arc<AtomicBool>,

    /// Simulated time this host's runtime has not been advanced by because its
    /// ticks were skipped; added back by [`Rt::catch_up`] before it next runs.
    pub(crate) lag: Duration,

    /// The last step this host's runtime ran in.
    pub(crate) ran_in_step: usize,

    /// [`WakeSpy`]'s wakers, kept from tick to tick (reset with the runtime).
    spy: Option<(Waker, Waker)>,
    plain: RefCell<Option<Waker>>,
}

/// Wraps the future a tick drives so that the waker the `LocalSet` registers is
/// one that records the wake before passing it on. The tick's own sleep is polled
/// with the plain waker (`plain`), so that its firing is not taken for a task's.
struct WakeSpy<'s, F> {
    woken: &'s Arc<AtomicBool>,
    /// The spying waker and the waker it wraps, kept across ticks: the runtime's
    /// `block_on` waker is the same every tick, so the spy is built once per runtime.
    spy: &'s mut Option<(Waker, Waker)>,
    plain: &'s RefCell<Option<Waker>>,
    future: F,
}

struct Spy {
    woken: Arc<AtomicBool>,
    inner: Waker,
}

impl Wake for Spy {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Relaxed);
        self.inner.wake_by_ref();
    }
}

impl<F: Future + Unpin> Future for WakeSpy<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let me = &mut *self;
        if !me
            .spy
            .as_ref()
            .is_some_and(|(_, inner)| inner.will_wake(cx.waker()))
        {
            let spy = Waker::from(Arc::new(Spy {
                woken: me.woken.clone(),
                inner: cx.waker().clone(),
            }));
            *me.spy = Some((spy, cx.waker().clone()));
        }
        {
            let mut plain = me.plain.borrow_mut();
            if !plain.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *plain = Some(cx.waker().clone());
            }
        }
        let (spy, _) = me.spy.as_ref().expect("set above");
        Pin::new(&mut me.future).poll(&mut Context::from_waker(spy))
    }
}

/// The tick's sleep kept in `slot`, set to end `duration` from now (registered with the
/// timer at once if it was used before, at its first poll if it is new).
fn sleep_for(
    slot: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    duration: Duration,
) -> Pin<&mut tokio::time::Sleep> {
    let deadline = Instant::now() + duration;
    match slot {
        Some(sleep) => {
            sleep.as_mut().reset(deadline);
            sleep.as_mut()
        }
        None => slot.insert(Box::pin(sleep_until(deadline))).as_mut(),
    }
}

/// Waits for the tick's `sleep`, woken through the tick's plain waker (see [`WakeSpy`]).
async fn plain_sleep(mut sleep: Pin<&mut tokio::time::Sleep>, plain: &RefCell<Option<Waker>>) {
    std::future::poll_fn(|cx| {
        let waker = plain.borrow().clone();
        match waker {
            Some(waker) => sleep.as_mut().poll(&mut Context::from_waker(&waker)),
            None => sleep.as_mut().poll(cx),
        }
    })
    .await
}

impl<'a> Rt<'a> {
    pub(crate) fn client<F>(nodename: Arc<str>, client: F, mut config: Config) -> Self
    where
        F: Future<Output = Result> + 'static,
    {
        let (tokio, local) = init(&mut config);

        let handle = with(&tokio, &local, || tokio::task::spawn_local(client));

        Self {
            tick_sleep: None,
            kind: Kind::Client,
            tokio,
            local,
            nodename,
            handle: Some(handle),
            config,
            woken: Arc::new(AtomicBool::new(true)),
            lag: Duration::ZERO,
            ran_in_step: 0,
            spy: None,
            plain: RefCell::default(),
        }
    }

    pub(crate) fn host<F, Fut>(nodename: Arc<str>, software: F, mut config: Config) -> Self
    where
        F: Fn() -> Fut + 'a,
        Fut: Future<Output = Result> + 'static,
    {
        let (tokio, local) = init(&mut config);

        let software: Software = Box::new(move || Box::pin(software()));
        let handle = with(&tokio, &local, || tokio::task::spawn_local(software()));

        Self {
            tick_sleep: None,
            kind: Kind::Host { software },
            tokio,
            local,
            nodename,
            handle: Some(handle),
            config,
            woken: Arc::new(AtomicBool::new(true)),
            lag: Duration::ZERO,
            ran_in_step: 0,
            spy: None,
            plain: RefCell::default(),
        }
    }

    pub(crate) fn no_software() -> Self {
        let mut config = Config::default();
        let (tokio, local) = init(&mut config);

        Self {
            tick_sleep: None,
            kind: Kind::NoSoftware,
            tokio,
            local,
            nodename: String::new().into(),
            handle: None,
            config,
            woken: Arc::new(AtomicBool::new(true)),
            lag: Duration::ZERO,
            ran_in_step: 0,
            spy: None,
            plain: RefCell::default(),
        }
    }

    pub(crate) fn is_client(&self) -> bool {
        matches!(self.kind, Kind::Client)
    }

    fn is_host(&self) -> bool {
        matches!(self.kind, Kind::Host { .. })
    }

    pub(crate) fn is_software_running(&self) -> bool {
        self.handle.is_some()
    }

    pub(crate) fn now(&self) -> Instant {
        let _guard = self.tokio.enter();
        Instant::now()
    }

    // This method is called by [`Sim::run`], which iterates through all the
    // runtimes and ticks each one. The magic of this method is described in the
    // documentation for [`LocalSet::run_until`], but it may not be entirely
    // obvious how things fit together.
    //
    // A [`LocalSet`] tracks the tasks to run, which may in turn spawn more
    // tasks. `run_until` drives a top level task to completion, but not its
    // children. If you look below, you may be confused. The task we run here
    // just sleeps and has no children! However, it's the _same `LocalSet`_ that
    // is used to run software on the host.
    //
    // In this way, every time `tick` is called, the following unfolds:
    //
    // 1. Time advances on the runtime
    // 2. We schedule a new task that simply sleeps
    // 3. Other tasks on the `LocalSet` get a chance to run
    // 4. The sleep finishes
    // 5. The runtime pauses
    //
    // Returns whether the software has finished successfully or the error
    // that caused failure. Subsequent calls do not return the error as it is
    // expected to fail the simulation.
    pub(crate) fn tick(&mut self, duration: Duration) -> Result<bool> {
        self.woken.store(false, Ordering::Relaxed);
        let Self {
            tokio,
            local,
            woken,
            spy,
            plain,
            tick_sleep,
            ..
        } = self;
        tokio.block_on(async {
            // Registered now, before any task runs, as a new sleep was at its first poll.
            let sleep = sleep_for(tick_sleep, duration);
            let run = std::pin::pin!(local.run_until(plain_sleep(sleep, plain)));
            WakeSpy {
                woken,
                spy,
                plain,
                future: run,
            }
            .await
        });

        // pull for software completion
        match &self.handle {
            Some(handle) if handle.is_finished() => {
                // Consume handle to extract task result
                if let Some(h) = self.handle.take() {
                    match self.tokio.block_on(h) {
                        // If the host was crashed the JoinError is cancelled, which
                        // needs to be handled to not fail the simulation.
                        Err(je) if je.is_cancelled() => {}
                        res => res??,
                    }
                };
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Ok(true),
        }
    }

    /// Whether a task of this host may be ready to run: woken since its last
    /// tick began.
    pub(crate) fn is_woken(&self) -> bool {
        self.woken.load(Ordering::Relaxed)
    }

    /// Advances the runtime's clock by the ticks it skipped, without running its
    /// tasks: they run in the tick that follows, at the right time. Returns
    /// whether a timer fired meanwhile, which means the software did not
    /// register it with [`crate::wake_at`] (its task then runs late).
    pub(crate) fn catch_up(&mut self) -> bool {
        let lag = mem::take(&mut self.lag);
        if lag.is_zero() {
            return false;
        }
        let before = self.woken.swap(false, Ordering::Relaxed);
        let tick_sleep = &mut self.tick_sleep;
        self.tokio
            .block_on(async { sleep_for(tick_sleep, lag).await });
        let fired = self.woken.load(Ordering::Relaxed);
        self.woken.store(before || fired, Ordering::Relaxed);
        fired
    }

    pub(crate) fn crash(&mut self) {
        if !self.is_host() {
            panic!("can only crash host's software");
        }

        if self.handle.take().is_some() {
            self.cancel_tasks();
        };
    }

    pub(crate) fn bounce(&mut self) {
        if !self.is_host() {
            panic!("can only bounce host's software");
        }

        self.cancel_tasks();

        if let Kind::Host { software } = &self.kind {
            let handle = with(&self.tokio, &self.local, || {
                tokio::task::spawn_local(software())
            });
            self.handle.replace(handle);
        };
    }

    /// Cancel all tasks within the [`Rt`] by dropping the current tokio
    /// [`Runtime`].
    ///
    /// Dropping the runtime blocks the calling thread until all futures have
    /// completed, which is desired here to ensure host software completes and
    /// all resources are dropped.
    ///
    /// Both the [`Runtime`] and [`LocalSet`] are replaced with new instances.
    fn cancel_tasks(&mut self) {
        // The tick's sleep holds a timer of the runtime about to be dropped.
        self.tick_sleep = None;
        let (tokio, local) = init(&mut self.config);

        _ = mem::replace(&mut self.tokio, tokio);
        drop(mem::replace(&mut self.local, local));
        // A fresh runtime: nothing to catch up, and its software (if bounced)
        // must run.
        self.lag = Duration::ZERO;
        self.woken = Arc::new(AtomicBool::new(true));
        self.spy = None;
        self.plain = RefCell::default();
    }
}

fn init(config: &mut Config) -> (Runtime, LocalSet) {
    let mut tokio_builder = tokio::runtime::Builder::new_current_thread();

    #[cfg(tokio_unstable)]
    tokio_builder.unhandled_panic(tokio::runtime::UnhandledPanic::ShutdownRuntime);

    if config.enable_io {
        tokio_builder.enable_io();
    }

    #[cfg(tokio_unstable)]
    if let Some(rng) = &mut config.rng {
        let bytes: [u8; 32] = rand::Rng::random(rng);
        let seed = tokio::runtime::RngSeed::from_bytes(&bytes);
        tokio_builder.rng_seed(seed);
    }

    let tokio = tokio_builder
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();

    tokio.block_on(async {
        // Sleep to "round" `Instant::now()` to the closest `ms`
        tokio::time::sleep(Duration::from_millis(1)).await;
    });

    (tokio, new_local())
}

fn new_local() -> LocalSet {
    #[cfg(not(tokio_unstable))]
    let local = LocalSet::new();

    #[cfg(tokio_unstable)]
    let mut local = LocalSet::new();

    #[cfg(tokio_unstable)]
    local.unhandled_panic(tokio::runtime::UnhandledPanic::ShutdownRuntime);

    local
}

fn with<R>(tokio: &Runtime, local: &LocalSet, f: impl FnOnce() -> R) -> R {
    tokio.block_on(async { local.run_until(async { f() }).await })
}
