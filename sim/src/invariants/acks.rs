//! acks=all is acknowledged only while the leader's ISR has at least
//! `min.insync.replicas` members (Kafka protocol guide, Produce `acks`; Kafka
//! `Partition.appendRecordsToLeader` refuses with NOT_ENOUGH_REPLICAS). Checked after the
//! run from the history's acknowledged sends and the leaders' ISR as sampled every step.

use std::collections::BTreeMap;

use faultline_broker::storage::TopicPartition;
use faultline_checker::history::{Function, History, MicroOp, OpType, OpValue};

/// Per partition, (time ns, largest ISR any leader replica held) whenever it changed.
pub type IsrTimeline = BTreeMap<TopicPartition, Vec<(u64, usize)>>;

/// Records this step's largest leader ISR of `partition` if it changed.
pub fn sample(timeline: &mut IsrTimeline, partition: &TopicPartition, time_ns: u64, size: usize) {
    match timeline.get_mut(partition) {
        Some(series) => {
            if series.last().is_none_or(|&(_, last)| last != size) {
                series.push((time_ns, size));
            }
        }
        None => {
            timeline.insert(partition.clone(), vec![(time_ns, size)]);
        }
    }
}

/// The largest ISR in force at any time in `[from, to]`: the sample in force at `from`
/// and every sample after it up to `to`.
fn largest_between(series: &[(u64, usize)], from: u64, to: u64) -> usize {
    let start = series
        .partition_point(|&(t, _)| t <= from)
        .saturating_sub(1);
    series[start..]
        .iter()
        .take_while(|&&(t, _)| t <= to)
        .map(|&(_, size)| size)
        .max()
        .unwrap_or(0)
}

/// The first acks=all send acknowledged although no leader of its partition held
/// `min_insync_replicas` in-sync replicas while it was in flight. `topic` is the
/// workload's topic (history keys are its partitions).
pub fn check(
    history: &History,
    timeline: &IsrTimeline,
    topic: &str,
    min_insync_replicas: i32,
) -> Option<(u64, String)> {
    for (invoke, completion) in history.pairs() {
        let Some(done) = completion.filter(|c| c.kind == OpType::Ok && c.f == Function::Send)
        else {
            continue;
        };
        let OpValue::MicroOps(micro) = &done.value else {
            continue;
        };
        for op in micro {
            let MicroOp::Send {
                key,
                value,
                offset: Some(offset),
            } = op
            else {
                continue;
            };
            let partition = (topic.to_string(), *key as i32);
            let series = timeline.get(&partition).map(Vec::as_slice).unwrap_or(&[]);
            let largest = largest_between(series, invoke.time, done.time);
            if (largest as i32) < min_insync_replicas {
                return Some((
                    done.time,
                    format!(
                        "value {value} acknowledged with acks=all at offset {offset} of {topic}-{key}, yet no leader's ISR had more than {largest} member(s) while the send was in flight (min.insync.replicas = {min_insync_replicas})"
                    ),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_isr_in_force_over_an_interval_is_its_largest_sample() {
        let series = [(0, 3), (100, 1), (200, 2)];
        assert_eq!(largest_between(&series, 50, 90), 3);
        assert_eq!(largest_between(&series, 120, 150), 1);
        assert_eq!(largest_between(&series, 120, 250), 2);
        assert_eq!(largest_between(&[], 0, 10), 0);
    }
}
