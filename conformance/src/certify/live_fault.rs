//! The faults the live nemesis can cause on a real broker, by name (as in scenario files,
//! `--fault` and certificates).

use serde::{Deserialize, Serialize};

/// A fault certification can cause on a live broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LiveFault {
    /// The links between faultline's clients and one broker are cut (the proxy closes
    /// them and refuses new ones).
    Partition,
    /// One broker's links swallow every byte: clients time out rather than fail.
    BlackHole,
    /// One broker's links add latency to every frame.
    Latency,
    /// Every connection to one broker is reset at once.
    Reset,
    /// One broker process is frozen (SIGSTOP) and thawed (SIGCONT).
    Pause,
    /// One broker process is killed (-9) and restarted.
    Crash,
    /// One broker's links to the other brokers and the controller are cut (the target's
    /// `[[link]]` proxies), while faultline's clients still reach it.
    PeerPartition,
    /// One broker's links to the other brokers are cut (replica fetches both ways), its
    /// controller link kept: the controller still sees it alive, so as a leader it shrinks
    /// the ISR to itself (KIP-497 AlterPartition) instead of being fenced, and as a
    /// follower it is dropped from the ISR after `replica.lag.time.max.ms`.
    ReplicaPartition,
    /// Several brokers — a majority or all, drawn from the seed — killed -9 at the same
    /// instant and restarted together: machines losing power together (a rack, a data
    /// centre). On storage that keeps unsynced writes in the process (`faultline cluster
    /// --storage power-loss`) it is a correlated power loss; on a real broker's storage, a
    /// correlated process crash (the page cache survives).
    CorrelatedCrash,
}

impl LiveFault {
    /// Every live fault.
    pub const ALL: [LiveFault; 9] = [
        LiveFault::Partition,
        LiveFault::BlackHole,
        LiveFault::Latency,
        LiveFault::Reset,
        LiveFault::Pause,
        LiveFault::Crash,
        LiveFault::PeerPartition,
        LiveFault::ReplicaPartition,
        LiveFault::CorrelatedCrash,
    ];

    /// What `certify` draws from when neither a scenario nor `--fault` says: the faults
    /// one broker at a time (so older seeds keep their schedules).
    pub const DEFAULT: [LiveFault; 7] = [
        LiveFault::Partition,
        LiveFault::BlackHole,
        LiveFault::Latency,
        LiveFault::Reset,
        LiveFault::Pause,
        LiveFault::Crash,
        LiveFault::PeerPartition,
    ];

    /// Its name, as in scenario files and certificates.
    pub fn name(self) -> &'static str {
        match self {
            LiveFault::Partition => "partition",
            LiveFault::BlackHole => "black-hole",
            LiveFault::Latency => "latency",
            LiveFault::Reset => "reset",
            LiveFault::Pause => "pause",
            LiveFault::Crash => "crash",
            LiveFault::PeerPartition => "peer-partition",
            LiveFault::ReplicaPartition => "replica-partition",
            LiveFault::CorrelatedCrash => "correlated-crash",
        }
    }
}
