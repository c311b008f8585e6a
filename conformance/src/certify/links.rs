//! Inter-broker links through faultline's proxies (`[[link]]` in a target file), so a
//! live partition can cut one broker off from its peers and its controller while
//! faultline's clients still reach it — the situation in which a leader that keeps
//! accepting writes must not acknowledge what its followers never got (Kafka replication
//! design: ISR and `min.insync.replicas`; Jepsen's partitions isolate nodes, not clients).

use std::collections::BTreeMap;

use super::proxy::{LinkFault, ProxyCluster};
use super::target::Target;

/// The link proxies, and which node's isolation cuts which of them.
#[derive(Debug, Clone, Default)]
pub struct PeerLinks {
    /// The proxies, one per `[[link]]`; `None` when the target declares none.
    proxies: Option<ProxyCluster>,
    /// Node index (0-based, as in [`super::process::Nodes`]) → the listen addresses of
    /// the links its isolation cuts.
    by_node: BTreeMap<usize, Vec<String>>,
    /// Node index → the listen addresses of its links to other brokers only (`between`
    /// names two nodes): what a `replica-partition` cuts.
    to_brokers: BTreeMap<usize, Vec<String>>,
}

impl PeerLinks {
    /// Starts a proxy on every link's `listen` address. A target without links gets
    /// none (and no `peer-partition` faults).
    pub async fn start(target: &Target) -> std::io::Result<PeerLinks> {
        if target.links.is_empty() {
            return Ok(PeerLinks::default());
        }
        let pairs: Vec<(String, String)> = target
            .links
            .iter()
            .map(|l| (l.listen.clone(), l.upstream.clone()))
            .collect();
        let proxies = ProxyCluster::start_links(&pairs).await?;
        let mut by_node: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        let mut to_brokers: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for link in &target.links {
            for &node in &link.between {
                by_node
                    .entry(node - 1)
                    .or_default()
                    .push(link.listen.clone());
                if link.between.len() > 1 {
                    to_brokers
                        .entry(node - 1)
                        .or_default()
                        .push(link.listen.clone());
                }
            }
        }
        Ok(PeerLinks {
            proxies: Some(proxies),
            by_node,
            to_brokers,
        })
    }

    /// Whether a `peer-partition` of this node cuts anything.
    pub fn has_links(&self, node: usize) -> bool {
        self.by_node.get(&node).is_some_and(|l| !l.is_empty())
    }

    /// Whether any node can be cut off from its peers.
    pub fn any(&self) -> bool {
        !self.by_node.is_empty()
    }

    /// Whether a `replica-partition` of this node cuts anything.
    pub fn has_broker_links(&self, node: usize) -> bool {
        self.to_brokers.get(&node).is_some_and(|l| !l.is_empty())
    }

    /// Whether any link joins two brokers.
    pub fn any_between_brokers(&self) -> bool {
        !self.to_brokers.is_empty()
    }

    /// The listen addresses a node's isolation cuts: every link of it, or with
    /// `brokers_only` its links to other brokers.
    pub fn links_of(&self, node: usize, brokers_only: bool) -> &[String] {
        let map = if brokers_only {
            &self.to_brokers
        } else {
            &self.by_node
        };
        map.get(&node).map_or(&[], Vec::as_slice)
    }

    /// Cuts (`LinkFault::Partition`) or heals (`LinkFault::None`) one link.
    pub fn set_at(&self, listen: &str, fault: LinkFault) {
        if let Some(proxies) = &self.proxies {
            proxies.set_fault_at(listen, fault);
        }
    }

    /// Cuts (`LinkFault::Partition`) or heals (`LinkFault::None`) every link of a node.
    pub fn set(&self, node: usize, fault: LinkFault) {
        let (Some(proxies), Some(links)) = (&self.proxies, self.by_node.get(&node)) else {
            return;
        };
        for listen in links {
            proxies.set_fault_at(listen, fault);
        }
    }

    /// Heals every link.
    pub fn heal_all(&self) {
        if let Some(proxies) = &self.proxies {
            proxies.set_all(LinkFault::None);
        }
    }

    /// Stops the proxies.
    pub fn shutdown(&self) {
        if let Some(proxies) = &self.proxies {
            proxies.shutdown();
        }
    }
}
