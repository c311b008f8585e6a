//! The partition assignor the group leader member runs (client side, as in Kafka: the
//! coordinator only relays the leader's SyncGroup assignment), and how an assignment
//! travels in SyncGroup.

use std::collections::BTreeMap;

use bytes::Bytes;

/// Kafka's `RangeAssignor` for one topic: members in member-id order each get a
/// contiguous range; the first `partitions % members` get one extra.
pub fn range_assignment(members: &[String], partitions: i32) -> BTreeMap<String, Vec<i32>> {
    let mut sorted = members.to_vec();
    sorted.sort();
    sorted.dedup();
    let count = sorted.len().max(1) as i32;
    let (per_member, extra) = (partitions / count, partitions % count);
    let mut next = 0;
    let mut out = BTreeMap::new();
    for (i, member) in sorted.into_iter().enumerate() {
        let size = per_member + i32::from((i as i32) < extra);
        out.insert(member, (next..next + size).collect());
        next += size;
    }
    out
}

/// Assignments travel as comma-separated partition indexes (the coordinator passes them
/// through unread; the group members are all this workload).
pub fn encode_assignment(partitions: &[i32]) -> Bytes {
    let text: Vec<String> = partitions.iter().map(i32::to_string).collect();
    Bytes::from(text.join(","))
}

/// Reads an assignment back; anything unreadable is no partitions.
pub fn decode_assignment(bytes: &[u8]) -> Vec<i32> {
    std::str::from_utf8(bytes)
        .unwrap_or_default()
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's RangeAssignor: 3 partitions over 2 members gives [0, 1] and [2].
    #[test]
    fn range_assignment_matches_kafka() {
        let members = vec!["b".to_string(), "a".to_string()];
        let assignment = range_assignment(&members, 3);
        assert_eq!(assignment["a"], vec![0, 1]);
        assert_eq!(assignment["b"], vec![2]);
        assert_eq!(decode_assignment(&encode_assignment(&[0, 2])), vec![0, 2]);
    }
}
