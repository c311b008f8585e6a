//! The fault proxies of live certification. `faultline certify` cannot partition a
//! third-party cluster's network, so it puts one TCP proxy in front of each broker:
//! faultline's clients connect to the proxies on loopback, the proxies forward to the
//! brokers, and faults are injected in the proxies.
//!
//! - [`ProxyCluster`]: the proxies, one per broker, and the handle that faults them.
//! - `link`: one client connection and its upstream connection, under the current fault.
//! - `rewrite`: advertised broker addresses in Metadata and FindCoordinator responses
//!   replaced with proxy addresses, so clients never go around the proxies.
//!
//! This runs on real tokio, never inside the simulation.

mod link;
mod rewrite;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

use rewrite::{join_address, same_broker, split_address, PROXY_HOST};

/// Where proxies for clients listen: loopback, as [`PROXY_HOST`] names it.
const PROXY_LOOPBACK: [u8; 4] = [127, 0, 0, 1];

/// What a proxy does to the traffic between faultline's clients and its broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkFault {
    /// Forward normally.
    #[default]
    None,
    /// A network partition between faultline's clients and this broker: existing
    /// connections are cut (closed), new ones are accepted and closed at once.
    Partition,
    /// A black hole: connections stay open, bytes are swallowed, nothing comes back
    /// (clients see timeouts, not errors). Healing closes the connections it swallowed
    /// from, as their lost bytes leave them out of step; clients reconnect.
    BlackHole,
    /// Every frame in both directions is held this long before being forwarded, in order.
    Latency(Duration),
}

/// Counters for the certificate: how much traffic went through the proxies and what they
/// did to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStats {
    /// Client connections accepted and served (forwarded, or swallowed by a black hole).
    pub connections: u64,
    /// Client connections closed at accept because their proxy was partitioned.
    pub connections_refused: u64,
    /// Connection pairs closed by a fault: a partition, a reset, a healed black hole.
    pub connections_cut: u64,
    /// Client connections closed because their broker could not be reached.
    pub upstream_connect_failures: u64,
    /// Frames forwarded, both directions.
    pub frames_forwarded: u64,
    /// Frames swallowed by a black hole, both directions.
    pub frames_swallowed: u64,
    /// Advertised broker addresses replaced with proxy addresses.
    pub addresses_rewritten: u64,
    /// Metadata or FindCoordinator responses that did not decode, forwarded unrewritten
    /// (a client following them would bypass the proxies).
    pub responses_undecodable: u64,
    /// Proxies started for brokers the upstream list did not name, found in responses.
    pub proxies_discovered: u64,
}

/// Live counters behind [`ProxyStats`], one per field and with the same meaning.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    connections_refused: AtomicU64,
    connections_cut: AtomicU64,
    upstream_connect_failures: AtomicU64,
    frames_forwarded: AtomicU64,
    frames_swallowed: AtomicU64,
    addresses_rewritten: AtomicU64,
    responses_undecodable: AtomicU64,
    proxies_discovered: AtomicU64,
}

/// Adds `n` to a counter; statistics only, so no ordering with other memory.
fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// What every connection through one proxy obeys, published on a watch channel so a
/// change reaches open connections at once.
#[derive(Debug, Clone, Copy, Default)]
struct Control {
    /// The current fault.
    fault: LinkFault,
    /// Bumped whenever open connections must close (partition, reset, a black hole
    /// healed, shutdown). A counter rather than a flag, so that two quick changes the
    /// watch channel coalesces still close every connection opened before them.
    epoch: u64,
    /// The proxy stops accepting.
    shut_down: bool,
}

impl Control {
    /// The control after switching to `fault`.
    fn with_fault(self, fault: LinkFault) -> Control {
        let cuts = fault == LinkFault::Partition
            || (self.fault == LinkFault::BlackHole && fault != LinkFault::BlackHole);
        Control {
            fault,
            epoch: self.epoch + u64::from(cuts),
            shut_down: self.shut_down,
        }
    }
}

/// One proxy: a loopback listener in front of one broker.
#[derive(Debug)]
struct Proxy {
    /// The broker's own address, `host:port`.
    upstream: String,
    /// Where the proxy listens (always on [`PROXY_HOST`]).
    address: SocketAddr,
    /// The fault and epoch its connections obey.
    control: watch::Sender<Control>,
}

/// The proxies, behind a lock held only for lookups and additions (never across an await).
#[derive(Debug, Default)]
struct Registry {
    /// Proxies in start order: the upstream list's first, then discovered ones.
    proxies: Vec<Arc<Proxy>>,
    /// The fault of the latest [`ProxyCluster::set_all`], which discovered proxies start with.
    default_fault: LinkFault,
    /// Set by shutdown; no proxy starts after it.
    shut_down: bool,
}

/// State shared by the handle and every proxy task.
#[derive(Debug, Default)]
struct Shared {
    /// The proxies and what a new one starts with.
    registry: Mutex<Registry>,
    /// What the proxies did, for [`ProxyCluster::stats`].
    counters: Counters,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic elsewhere leaves the list itself consistent: every write is one push.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The proxy whose upstream is the same broker as `address`.
    fn find(&self, address: &str) -> Option<Arc<Proxy>> {
        let wanted = split_address(address)?;
        self.registry()
            .proxies
            .iter()
            .find(|proxy| split_address(&proxy.upstream).is_some_and(|up| same_broker(up, wanted)))
            .cloned()
    }

    /// The proxy port for an advertised broker address, starting a proxy for a broker
    /// no proxy fronts yet. `None` (address left as advertised) after shutdown or if no
    /// listener could be bound.
    fn resolve(self: &Arc<Self>, host: &str, port: i32) -> Option<u16> {
        let mut registry = self.registry();
        let known = registry.proxies.iter().find(|proxy| {
            split_address(&proxy.upstream).is_some_and(|up| same_broker(up, (host, port)))
        });
        if let Some(proxy) = known {
            return Some(proxy.address.port());
        }
        if registry.shut_down {
            return None;
        }
        let fault = registry.default_fault;
        let any_port = SocketAddr::from((PROXY_LOOPBACK, 0));
        match self.start_proxy(&mut registry, join_address(host, port), any_port, fault) {
            Ok(proxy) => {
                bump(&self.counters.proxies_discovered, 1);
                tracing::info!(upstream = %proxy.upstream, proxy = %proxy.address, "proxy started for a discovered broker");
                Some(proxy.address.port())
            }
            Err(e) => {
                tracing::warn!(host, port, error = %e, "no proxy for a discovered broker");
                None
            }
        }
    }

    /// Binds a listener on `at` for `upstream`, registers it and spawns its accept loop.
    /// Synchronous (a std bind), so a response being rewritten can start one in passing.
    fn start_proxy(
        self: &Arc<Self>,
        registry: &mut Registry,
        upstream: String,
        at: SocketAddr,
        fault: LinkFault,
    ) -> std::io::Result<Arc<Proxy>> {
        let listener = std::net::TcpListener::bind(at)?;
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let proxy = Arc::new(Proxy {
            upstream,
            address: listener.local_addr()?,
            control: watch::Sender::new(Control::default().with_fault(fault)),
        });
        registry.proxies.push(Arc::clone(&proxy));
        tokio::spawn(accept_loop(listener, Arc::clone(&proxy), Arc::clone(self)));
        Ok(proxy)
    }
}

/// Accepts client connections until shutdown; each gets its own task.
async fn accept_loop(listener: TcpListener, proxy: Arc<Proxy>, shared: Arc<Shared>) {
    let mut control = proxy.control.subscribe();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = control.wait_for(|c| c.shut_down) => return,
        };
        let client = match accepted {
            Ok((client, _)) => client,
            Err(e) => {
                // Out of descriptors and the like: back off rather than spin.
                tracing::warn!(proxy = %proxy.address, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if control.borrow().fault == LinkFault::Partition {
            bump(&shared.counters.connections_refused, 1);
            drop(client);
            continue;
        }
        bump(&shared.counters.connections, 1);
        tokio::spawn(link::serve(client, Arc::clone(&proxy), Arc::clone(&shared)));
    }
}

/// Closes everything when the last [`ProxyCluster`] clone is dropped.
#[derive(Debug)]
struct Handle {
    /// The state the proxy tasks share.
    shared: Arc<Shared>,
    /// How many proxies the upstream list started: the first entries of the registry.
    bootstrap_len: usize,
}

impl Drop for Handle {
    fn drop(&mut self) {
        shut_down(&self.shared);
    }
}

fn shut_down(shared: &Shared) {
    let proxies = {
        let mut registry = shared.registry();
        registry.shut_down = true;
        registry.proxies.clone()
    };
    for proxy in proxies {
        proxy.control.send_modify(|c| {
            c.shut_down = true;
            c.epoch += 1;
        });
    }
}

/// One fault proxy per broker. A cheap, clonable handle; the proxies stop when
/// [`ProxyCluster::shutdown`] is called or the last clone is dropped.
#[derive(Debug, Clone)]
pub struct ProxyCluster {
    /// Dropped with the last clone, which shuts the proxies down.
    handle: Arc<Handle>,
}

impl ProxyCluster {
    /// One proxy per upstream `host:port`, each listening on 127.0.0.1:0.
    pub async fn start(upstreams: &[String]) -> std::io::Result<ProxyCluster> {
        let shared = Arc::new(Shared::default());
        let cluster = ProxyCluster {
            handle: Arc::new(Handle {
                shared: Arc::clone(&shared),
                bootstrap_len: upstreams.len(),
            }),
        };
        for upstream in upstreams {
            let mut registry = shared.registry();
            let any_port = SocketAddr::from((PROXY_LOOPBACK, 0));
            shared.start_proxy(&mut registry, upstream.clone(), any_port, LinkFault::None)?;
        }
        Ok(cluster)
    }

    /// One proxy per `(listen, upstream)` pair, each on its own fixed address: the
    /// inter-broker links a target routes through faultline (`[[link]]`), which its
    /// processes were told to dial before any proxy existed.
    pub async fn start_links(links: &[(String, String)]) -> std::io::Result<ProxyCluster> {
        let shared = Arc::new(Shared::default());
        let cluster = ProxyCluster {
            handle: Arc::new(Handle {
                shared: Arc::clone(&shared),
                bootstrap_len: links.len(),
            }),
        };
        for (listen, upstream) in links {
            let at: SocketAddr = listen.parse().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("link address {listen:?} is not ip:port"),
                )
            })?;
            let mut registry = shared.registry();
            shared.start_proxy(&mut registry, upstream.clone(), at, LinkFault::None)?;
        }
        Ok(cluster)
    }

    /// Sets the fault on the proxy listening on `listen` (one link of
    /// [`ProxyCluster::start_links`]; several links may share an upstream).
    pub fn set_fault_at(&self, listen: &str, fault: LinkFault) {
        let proxy = self
            .shared()
            .registry()
            .proxies
            .iter()
            .find(|p| p.address.to_string() == listen)
            .cloned();
        match proxy {
            Some(proxy) => proxy.control.send_modify(|c| *c = c.with_fault(fault)),
            None => tracing::warn!(listen, ?fault, "no link proxy listens here"),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// The proxies' addresses, in the order of `upstreams` (the clients' bootstrap list).
    pub fn bootstrap(&self) -> Vec<String> {
        self.proxies()
            .into_iter()
            .take(self.handle.bootstrap_len)
            .map(|(_, proxy)| proxy)
            .collect()
    }

    /// Every `(upstream, proxy address)` pair in start order: the upstream list's, then
    /// those started for brokers discovered in Metadata or FindCoordinator responses.
    pub fn proxies(&self) -> Vec<(String, String)> {
        self.shared()
            .registry()
            .proxies
            .iter()
            .map(|proxy| (proxy.upstream.clone(), proxy.address.to_string()))
            .collect()
    }

    /// The proxy address for an upstream (`localhost` and `127.0.0.1` count as one host).
    pub fn proxy_for(&self, upstream: &str) -> Option<String> {
        self.shared()
            .find(upstream)
            .map(|proxy| proxy.address.to_string())
    }

    /// The upstream behind a proxy address: for evidence, the broker's own address.
    pub fn upstream_for(&self, proxy: &str) -> Option<String> {
        let wanted = split_address(proxy)?;
        self.shared()
            .registry()
            .proxies
            .iter()
            .find(|p| same_broker((PROXY_HOST, i32::from(p.address.port())), wanted))
            .map(|p| p.upstream.clone())
    }

    /// Sets the fault on one upstream's proxy (by upstream address). An upstream with no
    /// proxy is logged and ignored.
    pub fn set_fault(&self, upstream: &str, fault: LinkFault) {
        match self.shared().find(upstream) {
            Some(proxy) => proxy.control.send_modify(|c| *c = c.with_fault(fault)),
            None => tracing::warn!(upstream, ?fault, "no proxy for this upstream"),
        }
    }

    /// Sets the fault on every proxy, and on proxies started later for discovered brokers.
    pub fn set_all(&self, fault: LinkFault) {
        let proxies = {
            let mut registry = self.shared().registry();
            registry.default_fault = fault;
            registry.proxies.clone()
        };
        for proxy in proxies {
            proxy.control.send_modify(|c| *c = c.with_fault(fault));
        }
    }

    /// Closes every open connection through one proxy (a connection reset), once; new
    /// connections are served as before.
    pub fn reset(&self, upstream: &str) {
        match self.shared().find(upstream) {
            Some(proxy) => proxy.control.send_modify(|c| c.epoch += 1),
            None => tracing::warn!(upstream, "no proxy for this upstream to reset"),
        }
    }

    /// Counters for the certificate.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared().counters;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ProxyStats {
            connections: read(&c.connections),
            connections_refused: read(&c.connections_refused),
            connections_cut: read(&c.connections_cut),
            upstream_connect_failures: read(&c.upstream_connect_failures),
            frames_forwarded: read(&c.frames_forwarded),
            frames_swallowed: read(&c.frames_swallowed),
            addresses_rewritten: read(&c.addresses_rewritten),
            responses_undecodable: read(&c.responses_undecodable),
            proxies_discovered: read(&c.proxies_discovered),
        }
    }

    /// Stops listening and closes every connection.
    pub fn shutdown(&self) {
        shut_down(self.shared());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_that_cut_bump_the_epoch() {
        let start = Control::default();
        assert_eq!(start.with_fault(LinkFault::Partition).epoch, 1);
        let latency = LinkFault::Latency(Duration::from_millis(5));
        assert_eq!(start.with_fault(latency).epoch, 0);
        let black_hole = start.with_fault(LinkFault::BlackHole);
        assert_eq!(black_hole.epoch, 0, "a black hole keeps connections open");
        assert_eq!(black_hole.with_fault(LinkFault::BlackHole).epoch, 0);
        assert_eq!(
            black_hole.with_fault(LinkFault::None).epoch,
            1,
            "healing closes"
        );
        assert_eq!(black_hole.with_fault(latency).epoch, 1);
    }
}
