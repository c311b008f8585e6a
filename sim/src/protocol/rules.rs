//! The protocol rules, as pure functions of what a request asked, what the broker answered
//! and the broker's state when it answered. Each returns the broken rule's evidence.
//! Only what is decidable from one broker's state is judged; anything else passes.

use faultline_wire::ResponseError;

/// Error code of no error.
const NONE: i16 = 0;

fn name(code: i16) -> String {
    ResponseError::try_from_code(code)
        .map(|e| format!("{e:?}"))
        .unwrap_or_else(|| format!("error {code}"))
}

/// KIP-320 (and the protocol guide's FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH): a
/// request's `current_leader_epoch` older than the replica's is FENCED_LEADER_EPOCH, a
/// newer one UNKNOWN_LEADER_EPOCH, an equal one neither; -1 skips the check.
pub fn leader_epoch(
    current_leader_epoch: i32,
    replica_epoch: i32,
    error: i16,
) -> Result<(), String> {
    if current_leader_epoch < 0 {
        return Ok(());
    }
    let fenced = ResponseError::FencedLeaderEpoch.code();
    let unknown = ResponseError::UnknownLeaderEpoch.code();
    let wrong = match current_leader_epoch.cmp(&replica_epoch) {
        std::cmp::Ordering::Less => error == unknown || error == NONE,
        std::cmp::Ordering::Greater => error == fenced || error == NONE,
        std::cmp::Ordering::Equal => error == fenced || error == unknown,
    };
    if wrong {
        return Err(format!(
            "current_leader_epoch {current_leader_epoch} against the replica's leader epoch {replica_epoch} answered {} (KIP-320: older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH)",
            name(error)
        ));
    }
    Ok(())
}

/// What a leader's partition looked like when a consumer's Fetch was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchBounds {
    /// The log start offset.
    pub log_start: i64,
    /// The log end offset.
    pub log_end: i64,
    /// What a consumer at this isolation may read up to: the high watermark, or the last
    /// stable offset under read_committed (KIP-98).
    pub readable_end: i64,
}

/// Kafka protocol guide, Fetch: OFFSET_OUT_OF_RANGE only for an offset below the log start
/// or past the log end (KIP-107 for the log start); a consumer's fetch at exactly the high
/// watermark (the last stable offset under read_committed) is answered with no records and
/// no error, the long-poll "nothing new yet" (KIP-392 keeps these semantics for followers).
pub fn consumer_fetch(
    fetch_offset: i64,
    bounds: FetchBounds,
    error: i16,
    record_bytes: usize,
) -> Result<(), String> {
    let in_range = bounds.log_start <= fetch_offset && fetch_offset <= bounds.log_end;
    if in_range && error == ResponseError::OffsetOutOfRange.code() {
        return Err(format!(
            "a consumer Fetch at offset {fetch_offset} answered OFFSET_OUT_OF_RANGE though the log spans [{}, {}]",
            bounds.log_start, bounds.log_end
        ));
    }
    if fetch_offset == bounds.readable_end && error == NONE && record_bytes > 0 {
        return Err(format!(
            "a consumer Fetch at offset {fetch_offset}, exactly the readable end (high watermark or last stable offset), answered {record_bytes} bytes of records"
        ));
    }
    Ok(())
}

/// Kafka protocol guide, ListOffsets: latest (-1) is the high watermark for
/// read_uncommitted and the last stable offset for read_committed (KIP-98), so it is never
/// above what a consumer may read.
pub fn list_offsets_latest(offset: i64, readable_end: i64, error: i16) -> Result<(), String> {
    if error == NONE && offset > readable_end {
        return Err(format!(
            "ListOffsets latest answered {offset}, above the readable end {readable_end} (high watermark or last stable offset)"
        ));
    }
    Ok(())
}

/// What a leader's partition looked like when a Produce reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceState {
    /// The request's `acks` (-1 for all).
    pub acks: i16,
    /// The in-sync replicas the leader counted.
    pub isr: usize,
    /// The broker's `min.insync.replicas`.
    pub min_insync_replicas: i32,
}

/// Kafka docs, `min.insync.replicas`, and the protocol guide, Produce `acks`: the minimum
/// applies to acks=all only. A leader whose ISR is below it refuses an acks=all batch before
/// appending it (NOT_ENOUGH_REPLICAS; Kafka's `Partition.appendRecordsToLeader`), so such a
/// Produce is never acknowledged; acks=0 and acks=1 are never refused for the ISR's size
/// (neither NOT_ENOUGH_REPLICAS nor NOT_ENOUGH_REPLICAS_AFTER_APPEND).
pub fn produce_min_insync(state: ProduceState, error: i16) -> Result<(), String> {
    let below = (state.isr as i32) < state.min_insync_replicas;
    if state.acks == -1 && below && error == NONE {
        return Err(format!(
            "an acks=all Produce was acknowledged though the leader's ISR had {} member(s) when it arrived, below min.insync.replicas = {} (must be NOT_ENOUGH_REPLICAS, before the append)",
            state.isr, state.min_insync_replicas
        ));
    }
    let isr_errors = [
        ResponseError::NotEnoughReplicas.code(),
        ResponseError::NotEnoughReplicasAfterAppend.code(),
    ];
    if state.acks != -1 && isr_errors.contains(&error) {
        return Err(format!(
            "an acks={} Produce was answered {} (ISR {} member(s), min.insync.replicas = {}): the minimum applies to acks=all only",
            state.acks,
            name(error),
            state.isr,
            state.min_insync_replicas
        ));
    }
    Ok(())
}

/// KIP-32 and the protocol guide (Produce, `log_append_time_ms`): on a topic with
/// `message.timestamp.type=LogAppendTime` the broker stamps a batch with its local time when
/// it appends it, so a fresh append's stored timestamp lies between the broker's clock when
/// the request arrived and when it was answered (`clock`, epoch ms).
pub fn log_append_time(stamped: i64, clock: (i64, i64)) -> Result<(), String> {
    let (asked, answered) = clock;
    if stamped < asked || stamped > answered {
        return Err(format!(
            "a LogAppendTime batch was stamped {stamped}, outside the broker's clock while it handled the Produce ([{asked}, {answered}] ms)"
        ));
    }
    Ok(())
}
