//! What the invariant checker reads of a replica, and how it prints the cluster's state
//! when an invariant breaks.

use faultline_broker::partition::{Partition, Role};
use faultline_broker::storage::TopicPartition;

/// One live replica, borrowed from its broker's state for the length of a check.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaRef<'a> {
    /// The host (`broker-N`).
    pub host: &'a str,
    /// The host's process incarnation (a restart is a new one).
    pub incarnation: u64,
    /// The partition.
    pub topic_partition: &'a TopicPartition,
    /// The replica itself.
    pub partition: &'a Partition,
}

/// Every replica's leader epoch, role, ISR, high watermark and log end, for a report.
pub fn describe_states(replicas: &[ReplicaRef<'_>]) -> String {
    replicas
        .iter()
        .map(|r| {
            let p = r.partition;
            let role = match &p.role {
                Role::Leader(_) => "leader".to_string(),
                Role::Follower { leader, .. } => format!("follower of {leader}"),
                Role::Offline => "offline".to_string(),
            };
            format!(
                "{} {}-{} {role} epoch {} isr {:?} hw {} log end {} log start 0",
                r.host,
                r.topic_partition.0,
                r.topic_partition.1,
                p.leader_epoch(),
                p.isr(),
                p.high_watermark,
                p.log.end_offset()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
