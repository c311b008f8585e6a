//! One partition replica on one broker: leader or follower, ISR, high watermark.
//!
//! A sans-IO state machine: the broker feeds it metadata (registrations from the
//! controller), appends, follower fetches and ticks; it answers with offsets, records,
//! error codes and ISR proposals. Rules follow Kafka's `Partition` and `ReplicaManager`:
//! the high watermark is the smallest log end offset over the ISR (KIP-497's "maximal ISR"
//! while a change is in flight), followers truncate by leader epoch (KIP-101, KIP-279), and
//! stale epochs are fenced (KIP-320).

use std::collections::BTreeMap;

use faultline_wire::ResponseError;

use crate::append::ProducedBatch;
use crate::config::MessageTimestampType;
use crate::log::{LogEntry, PartitionLog, ReadBatches, StoredBatch};
use crate::metadata::PartitionRegistration;
use crate::producer_state::ProducerStateTable;

/// How far a follower replica has come, as its leader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaProgress {
    /// Its log end offset, from its last fetch; -1 until it fetches.
    pub log_end_offset: i64,
    /// When it was last caught up with the leader (Kafka's `lastCaughtUpTimeMs`).
    pub last_caught_up_ms: u64,
    /// The leader's log end offset when it answered the previous fetch.
    pub leader_end_offset_at_last_fetch: i64,
    /// When the previous fetch was answered.
    pub last_fetch_ms: u64,
    /// Its log start offset, as its last fetch said (Fetch v5+ `log_start_offset`,
    /// KIP-107); -1 until it fetches (Kafka's `UnifiedLog.UnknownOffset`).
    pub log_start_offset: i64,
    /// The leader's connection its newest fetch came on (0 before any); a fetch from an
    /// older one is stale (`handlers/fetch.rs::read_on`).
    pub connection: u64,
}

/// The leader's own bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderState {
    /// Every other assigned replica's progress.
    pub followers: BTreeMap<i32, ReplicaProgress>,
    /// An ISR change sent to the controller whose outcome is not yet known.
    pub pending_isr: Option<PendingIsr>,
}

/// An ISR change in flight. Until the controller's answer (or newer metadata) arrives, the
/// high watermark counts its members too (KIP-497's maximal ISR), so that a replica the
/// controller may already have added is never left behind committed records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingIsr {
    /// The proposed ISR.
    pub isr: Vec<i32>,
    /// The partition epoch it was proposed against; metadata past it settles the matter.
    pub base_partition_epoch: i32,
    /// The controller said our epoch was stale: wait for metadata rather than resend.
    pub awaiting_metadata: bool,
}

/// What this replica is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Not assigned, or the partition has no leader.
    Offline,
    /// Leading in the registration's epoch.
    Leader(LeaderState),
    /// Following `leader`; fetching only once `truncated` (KIP-101).
    Follower {
        /// The leader's node id.
        leader: i32,
        /// Whether OffsetForLeaderEpoch truncation is done for this epoch.
        truncated: bool,
    },
}

/// One replica of one partition.
#[derive(Debug, Clone)]
pub struct Partition {
    /// This broker's node id.
    pub node_id: i32,
    /// The log.
    pub log: PartitionLog,
    /// Offsets below it are committed: replicated to the whole ISR.
    pub high_watermark: i64,
    /// The latest registration applied (leader, epochs, ISR).
    pub registration: PartitionRegistration,
    /// Leader, follower or neither.
    pub role: Role,
    /// Idempotent producers' recent batches; kept by the leader, rebuilt from the log
    /// whenever this replica becomes leader (KIP-98, KIP-360).
    pub producers: ProducerStateTable,
    /// How many times its broker lent it out to be changed ([`crate::replicas::Replicas`]
    /// is the only lender): the same count means the same state.
    pub(crate) lent: u64,
}

/// The outcome of a leader append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The leader epoch they were written in.
    pub leader_epoch: i32,
}

impl Partition {
    /// A replica recovered from disk, before any metadata arrives. Its high watermark
    /// starts at its log start offset: records below that were committed before they could
    /// be deleted (Kafka's `UnifiedLog.updateHighWatermark` never goes below the log start).
    pub fn new(node_id: i32, registration: PartitionRegistration, log: PartitionLog) -> Self {
        Partition {
            node_id,
            high_watermark: log.log_start_offset(),
            log,
            registration,
            role: Role::Offline,
            producers: ProducerStateTable::default(),
            lent: 0,
        }
    }

    /// How many times its broker lent it out to be changed: while this stays the same, so
    /// does every field (the simulation's invariant checker skips what it already read).
    pub fn times_lent(&self) -> u64 {
        self.lent
    }

    /// The current leader epoch as this replica knows it.
    pub fn leader_epoch(&self) -> i32 {
        self.registration.leader_epoch
    }

    /// Whether this replica is the leader.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// The ISR in force: the registered one (changes apply once the controller accepts them).
    pub fn isr(&self) -> &[i32] {
        &self.registration.isr
    }

    /// Applies a registration from the controller, changing role on a new leader epoch.
    /// Older registrations are ignored: metadata only moves forward.
    pub fn apply_registration(&mut self, registration: PartitionRegistration, now_ms: u64) {
        let current = &self.registration;
        let newer_epoch = registration.leader_epoch > current.leader_epoch;
        let same_epoch_update = registration.leader_epoch == current.leader_epoch
            && registration.partition_epoch >= current.partition_epoch;
        let first = matches!(self.role, Role::Offline);
        if !(newer_epoch || same_epoch_update || first) {
            return;
        }
        let role_changes = newer_epoch || first;
        self.registration = registration;
        if !self.registration.replicas.contains(&self.node_id) {
            self.role = Role::Offline;
            return;
        }
        if self.registration.leader == self.node_id {
            if role_changes || !self.is_leader() {
                self.become_leader(now_ms);
            } else if let Role::Leader(state) = &mut self.role {
                let settled = state
                    .pending_isr
                    .as_ref()
                    .is_some_and(|p| self.registration.partition_epoch > p.base_partition_epoch);
                if settled {
                    state.pending_isr = None;
                }
            }
        } else if self.registration.leader < 0 {
            self.role = Role::Offline;
        } else if role_changes
            || !matches!(self.role, Role::Follower { leader, .. } if leader == self.registration.leader)
        {
            self.role = Role::Follower {
                leader: self.registration.leader,
                truncated: false,
            };
        }
        self.advance_high_watermark();
    }

    fn become_leader(&mut self, now_ms: u64) {
        let end = self.log.end_offset();
        self.log.note_epoch(self.registration.leader_epoch, end);
        // Followers replicate producer ids, epochs and sequences with the records, so the
        // new leader's own log tells it every producer's recent batches.
        self.producers = ProducerStateTable::rebuild_from_log(&self.log);
        let followers = self
            .registration
            .replicas
            .iter()
            .filter(|&&id| id != self.node_id)
            .map(|&id| {
                (
                    id,
                    ReplicaProgress {
                        log_end_offset: -1,
                        last_caught_up_ms: now_ms,
                        leader_end_offset_at_last_fetch: end,
                        last_fetch_ms: now_ms,
                        log_start_offset: -1,
                        connection: 0,
                    },
                )
            })
            .collect();
        self.role = Role::Leader(LeaderState {
            followers,
            pending_isr: None,
        });
    }

    /// Appends the broker's own records (committed offsets) as one batch, as leader.
    pub fn append_as_leader(
        &mut self,
        entries: Vec<LogEntry>,
        required_acks: i16,
        min_insync_replicas: i32,
    ) -> Result<(StoredBatch, Appended), ResponseError> {
        if entries.is_empty() {
            return Err(ResponseError::InvalidRecord);
        }
        let batch = ProducedBatch::from_entries(&entries);
        self.append_batch_as_leader(
            &batch,
            required_acks,
            min_insync_replicas,
            MessageTimestampType::CreateTime,
            0,
        )
    }

    /// Appends a validated batch as leader, at the log end and in the current leader
    /// epoch. `required_acks` of -1 needs `min_insync_replicas` in the ISR before anything
    /// is written (NOT_ENOUGH_REPLICAS, Kafka's `Partition.appendRecordsToLeader`).
    pub fn append_batch_as_leader(
        &mut self,
        batch: &ProducedBatch,
        required_acks: i16,
        min_insync_replicas: i32,
        timestamp_type: MessageTimestampType,
        now_ms: i64,
    ) -> Result<(StoredBatch, Appended), ResponseError> {
        if !self.is_leader() {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if required_acks == -1 && (self.isr().len() as i32) < min_insync_replicas {
            return Err(ResponseError::NotEnoughReplicas);
        }
        let base_offset = self.log.end_offset();
        let leader_epoch = self.leader_epoch();
        let (stored, entries) = batch.assign(base_offset, leader_epoch, timestamp_type, now_ms);
        self.log.push_batch(stored.clone(), entries);
        let appended = Appended {
            base_offset,
            last_offset: self.log.end_offset() - 1,
            leader_epoch,
        };
        assert_eq!(
            appended.last_offset - appended.base_offset + 1,
            batch.record_count(),
            "a batch's offsets are its records'"
        );
        self.advance_high_watermark();
        Ok((stored, appended))
    }

    /// Undoes a leader append whose write to disk failed, before anyone could read it
    /// (same critical section): the log ends at `base_offset` again, the high watermark
    /// returns to `previous_high_watermark`, and the epoch cache keeps this epoch's start.
    pub fn undo_leader_append(&mut self, appended: &Appended, previous_high_watermark: i64) {
        // Nobody saw a high watermark past the undone batch: the cut drops nothing committed.
        assert!(
            previous_high_watermark <= appended.base_offset,
            "an undone append never cuts below the high watermark"
        );
        self.log.truncate_to(appended.base_offset);
        assert_eq!(self.log.end_offset(), appended.base_offset);
        self.log
            .note_epoch(appended.leader_epoch, appended.base_offset);
        self.high_watermark = previous_high_watermark.min(self.log.end_offset());
        self.check_offsets();
    }

    /// The offsets' own invariants: log start ≤ high watermark ≤ log end.
    pub fn check_offsets(&self) {
        assert!(
            self.high_watermark <= self.log.end_offset(),
            "high watermark {} past the log end {}",
            self.high_watermark,
            self.log.end_offset()
        );
        assert!(
            self.log.log_start_offset() <= self.high_watermark,
            "log start {} past the high watermark {}",
            self.log.log_start_offset(),
            self.high_watermark
        );
    }

    /// DeleteRecords as leader (KIP-107): the log start moves to `offset` (-1 for the high
    /// watermark). Past the high watermark is OFFSET_OUT_OF_RANGE. Returns the new log
    /// start offset (the "low watermark").
    pub fn delete_records(&mut self, offset: i64) -> Result<i64, ResponseError> {
        if !self.is_leader() {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        let offset = if offset == -1 {
            self.high_watermark
        } else {
            offset
        };
        if offset < 0 || offset > self.high_watermark {
            return Err(ResponseError::OffsetOutOfRange);
        }
        self.log.advance_log_start(offset);
        self.check_offsets();
        Ok(self.log.log_start_offset())
    }

    /// Undoes a follower append whose write to disk failed: the next fetch asks again.
    pub fn undo_follower_append(&mut self, end_offset: i64) {
        self.log.truncate_to(end_offset);
        self.high_watermark = self.high_watermark.min(self.log.end_offset());
        self.check_offsets();
    }

    /// Checks a request's `current_leader_epoch` against ours (KIP-320): an older one is
    /// FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH; -1 skips the check.
    pub fn check_epoch(&self, current_leader_epoch: i32) -> Result<(), ResponseError> {
        if current_leader_epoch < 0 || current_leader_epoch == self.leader_epoch() {
            Ok(())
        } else if current_leader_epoch < self.leader_epoch() {
            Err(ResponseError::FencedLeaderEpoch)
        } else {
            Err(ResponseError::UnknownLeaderEpoch)
        }
    }

    /// A follower fetched at `fetch_offset` with its log starting at `log_start_offset`:
    /// record its progress (which may move the high watermark). Returns the whole batches to send from there, within `max_bytes` but at
    /// least one (KIP-74), so replicas hold the leader's batches byte for byte.
    pub fn fetch_by_follower(
        &mut self,
        replica_id: i32,
        fetch_offset: i64,
        log_start_offset: i64,
        now_ms: u64,
        max_bytes: usize,
        max_records: i64,
    ) -> Result<ReadBatches, ResponseError> {
        let end = self.log.end_offset();
        let Role::Leader(state) = &mut self.role else {
            return Err(ResponseError::NotLeaderOrFollower);
        };
        if fetch_offset > end || fetch_offset < 0 {
            return Err(ResponseError::OffsetOutOfRange);
        }
        let Some(progress) = state.followers.get_mut(&replica_id) else {
            return Err(ResponseError::NotLeaderOrFollower);
        };
        // Kafka's `Replica.updateFetchState`: caught up if it reached where the leader's
        // log ended at the previous fetch, or where it ends now.
        if fetch_offset >= end {
            progress.last_caught_up_ms = now_ms;
        } else if fetch_offset >= progress.leader_end_offset_at_last_fetch {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(progress.last_fetch_ms);
        }
        progress.log_end_offset = fetch_offset;
        progress.log_start_offset = log_start_offset;
        progress.leader_end_offset_at_last_fetch = end;
        progress.last_fetch_ms = now_ms;
        self.advance_high_watermark();
        let end = self.log.end_offset();
        Ok(self
            .log
            .read_batches(fetch_offset, end, max_bytes, true, max_records))
    }

    /// The leader's connection a follower's newest fetch came on (0 before any, or when
    /// this replica does not lead).
    pub fn follower_connection(&self, replica_id: i32) -> u64 {
        match &self.role {
            Role::Leader(state) => state.followers.get(&replica_id).map_or(0, |p| p.connection),
            _ => 0,
        }
    }

    /// Remembers the connection a follower's fetch came on (never going back).
    pub fn note_follower_connection(&mut self, replica_id: i32, connection: u64) {
        if let Role::Leader(state) = &mut self.role {
            if let Some(progress) = state.followers.get_mut(&replica_id) {
                progress.connection = progress.connection.max(connection);
            }
        }
    }

    /// The high watermark moves to the smallest log end offset over the ISR, counting a
    /// pending expansion too (KIP-497's maximal ISR), and never backwards.
    pub fn advance_high_watermark(&mut self) {
        let Role::Leader(state) = &self.role else {
            return;
        };
        // The ISR and any proposed one (KIP-497: a pending expansion counts at once).
        let pending = state.pending_isr.iter().flat_map(|p| &p.isr);
        let minimum = self
            .registration
            .isr
            .iter()
            .chain(pending)
            .filter(|&&member| member != self.node_id)
            .map(|member| state.followers.get(member).map_or(-1, |p| p.log_end_offset))
            .fold(self.log.end_offset(), i64::min);
        if minimum > self.high_watermark {
            self.high_watermark = minimum;
        }
        self.check_offsets();
    }

    /// The ISR change this leader wants now, if none is in flight: drop followers not caught
    /// up within `replica_lag_time_max_ms`; add those at the high watermark and the epoch's
    /// start, where the epochs before it end (Kafka's `isFollowerInSync`, KAFKA-7128).
    pub fn isr_proposal(&mut self, now_ms: u64, replica_lag_time_max_ms: u64) -> Option<Vec<i32>> {
        let epoch_start = self
            .log
            .end_offset_for_epoch(self.leader_epoch() - 1)
            .1
            .min(self.log.end_offset());
        let high_watermark = self.high_watermark;
        let node_id = self.node_id;
        let isr = self.registration.isr.clone();
        let Role::Leader(state) = &mut self.role else {
            return None;
        };
        if let Some(pending) = &state.pending_isr {
            // An unanswered proposal is sent again (the controller rejects a duplicate of
            // one it applied with INVALID_UPDATE_VERSION); one refused as stale waits for
            // the metadata that settles it.
            return (!pending.awaiting_metadata).then(|| pending.isr.clone());
        }
        let mut proposal: Vec<i32> = Vec::new();
        for &replica in &self.registration.replicas {
            if replica == node_id {
                proposal.push(replica);
                continue;
            }
            let Some(progress) = state.followers.get(&replica) else {
                continue;
            };
            let in_isr = isr.contains(&replica);
            let lagging =
                now_ms.saturating_sub(progress.last_caught_up_ms) > replica_lag_time_max_ms;
            let caught_up = progress.log_end_offset >= high_watermark
                && progress.log_end_offset >= epoch_start
                && !lagging;
            if (in_isr && !lagging) || (!in_isr && caught_up) {
                proposal.push(replica);
            }
        }
        let mut current = isr.clone();
        current.sort_unstable();
        let mut proposed_sorted = proposal.clone();
        proposed_sorted.sort_unstable();
        if proposed_sorted == current {
            return None;
        }
        state.pending_isr = Some(PendingIsr {
            isr: proposal.clone(),
            base_partition_epoch: self.registration.partition_epoch,
            awaiting_metadata: false,
        });
        Some(proposal)
    }

    /// Whether `isr`, proposed against `registration`, is still this leader's pending ISR
    /// change. One the controller refused (say INELIGIBLE_REPLICA, KIP-841), or that
    /// metadata settled, is not sent again: Kafka sends AlterPartition only from its
    /// pending-expand or pending-shrink state. A stale expansion accepted later would put a
    /// replica back in the ISR below a high watermark advanced without it (KIP-497).
    pub fn still_proposes(&self, registration: &PartitionRegistration, isr: &[i32]) -> bool {
        let Role::Leader(state) = &self.role else {
            return false;
        };
        self.registration.leader_epoch == registration.leader_epoch
            && state.pending_isr.as_ref().is_some_and(|p| {
                p.isr == isr
                    && !p.awaiting_metadata
                    && p.base_partition_epoch == registration.partition_epoch
            })
    }

    /// The controller answered our ISR proposal: accepted with the new registration, or
    /// refused with an error code.
    pub fn isr_change_answered(
        &mut self,
        answer: Result<PartitionRegistration, ResponseError>,
        now_ms: u64,
    ) {
        match answer {
            Ok(registration) => self.apply_registration(registration, now_ms),
            Err(ResponseError::InvalidUpdateVersion) => {
                if let Role::Leader(state) = &mut self.role {
                    if let Some(pending) = &mut state.pending_isr {
                        pending.awaiting_metadata = true;
                    }
                }
            }
            Err(_) => {
                if let Role::Leader(state) = &mut self.role {
                    state.pending_isr = None;
                }
            }
        }
        self.advance_high_watermark();
    }

    /// Appends batches fetched from the leader, byte for byte, and takes its high watermark
    /// and log start offset (Kafka's `ReplicaFetcherThread.processPartitionData`: the
    /// follower's high watermark is the leader's capped by its own log end; its log start
    /// follows the leader's, KIP-107).
    pub fn append_as_follower(
        &mut self,
        batches: Vec<(StoredBatch, Vec<LogEntry>)>,
        leader_high_watermark: i64,
        leader_log_start_offset: i64,
    ) {
        for (batch, entries) in batches {
            if batch.base_offset != self.log.end_offset() {
                // A response to a fetch made before a truncation: ignore the rest.
                break;
            }
            self.log.push_batch(batch, entries);
        }
        let high_watermark = leader_high_watermark.min(self.log.end_offset());
        if high_watermark > self.high_watermark {
            self.high_watermark = high_watermark;
        }
        let log_start = leader_log_start_offset.min(self.high_watermark);
        if log_start > self.log.log_start_offset() {
            self.log.advance_log_start(log_start);
        }
        self.check_offsets();
    }

    /// Truncates as a follower after OffsetForLeaderEpoch.
    pub fn truncate_as_follower(&mut self, offset: i64) {
        self.log.truncate_to(offset);
        self.high_watermark = self.high_watermark.min(self.log.end_offset());
        self.check_offsets();
        if let Role::Follower { truncated, .. } = &mut self.role {
            *truncated = true;
        }
    }
}
