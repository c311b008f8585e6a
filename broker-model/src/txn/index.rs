//! The transactions a partition's log holds, from batch headers: which producers have a
//! transaction open here (and from which offset), and which transactions were aborted.
//!
//! Kafka's `ProducerStateManager` (ongoing transactions, `firstUnstableOffset`) and
//! `TransactionIndex` (aborted transactions, `collectAbortedTxns`), KIP-98:
//! - a transactional data batch opens its producer's transaction at its base offset if
//!   none is open;
//! - a control batch (COMMIT or ABORT marker) closes it; an ABORT records
//!   `(producer_id, first_offset, last_offset = the marker's offset)`;
//! - the last stable offset is the first offset of the oldest open transaction, capped by
//!   the high watermark; read_committed consumers read below it only, and drop records of
//!   the aborted transactions the Fetch response lists.

use std::collections::BTreeMap;

/// Offset of the v2 batch header's `attributes` (Kafka protocol guide, "Record Batch").
const ATTRIBUTES_OFFSET: usize = 21;
/// Attribute bit of transactional batches.
const TRANSACTIONAL_BIT: i16 = 1 << 4;
/// Attribute bit of control batches.
const CONTROL_BIT: i16 = 1 << 5;

/// A whole v2 batch's `attributes`, read from its header bytes.
pub fn attributes(batch_bytes: &[u8]) -> i16 {
    let bytes = &batch_bytes[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2];
    i16::from_be_bytes([bytes[0], bytes[1]])
}

/// Whether attributes mark a transactional batch (data or marker).
pub fn is_transactional(attributes: i16) -> bool {
    attributes & TRANSACTIONAL_BIT != 0
}

/// Whether attributes mark a control batch (a transaction marker).
pub fn is_control(attributes: i16) -> bool {
    attributes & CONTROL_BIT != 0
}

/// The type of a control record, from its key (Kafka protocol guide, "Control Batches":
/// key = version int16 (0), type int16: 0 is ABORT, 1 is COMMIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    /// The transaction's records are discarded by read_committed consumers.
    Abort,
    /// The transaction's records become visible.
    Commit,
}

impl ControlType {
    /// The control record key.
    pub fn key(self) -> [u8; 4] {
        let kind: i16 = match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
        };
        let [a, b] = kind.to_be_bytes();
        [0, 0, a, b]
    }

    /// Reads a control record key; `None` for anything else.
    pub fn from_key(key: &[u8]) -> Option<ControlType> {
        match key {
            [_, _, 0, 0, ..] => Some(ControlType::Abort),
            [_, _, 0, 1, ..] => Some(ControlType::Commit),
            _ => None,
        }
    }
}

/// What the index needs of one appended batch (read by the log from the batch header and
/// its first record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionalBatch {
    /// Its base offset.
    pub base_offset: i64,
    /// Its producer id.
    pub producer_id: i64,
    /// Its producer epoch.
    pub producer_epoch: i16,
    /// `None` for a transactional data batch; the marker's type for a control batch.
    pub marker: Option<ControlType>,
}

/// An aborted transaction as a read_committed Fetch lists it (KIP-98; Fetch response
/// `aborted_transactions`: producer id and first offset; the last offset is the marker's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    /// The producer.
    pub producer_id: i64,
    /// Offset of the transaction's first batch in this partition.
    pub first_offset: i64,
    /// Offset of its ABORT marker.
    pub last_offset: i64,
}

/// One producer's open transaction in this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenTransaction {
    /// The epoch of its batches.
    pub producer_epoch: i16,
    /// Offset of its first batch here.
    pub first_offset: i64,
}

/// Open and aborted transactions of one partition log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionIndex {
    /// Open transactions by producer id.
    open: BTreeMap<i64, OpenTransaction>,
    /// Aborted transactions in marker order (so by `last_offset`).
    aborted: Vec<AbortedTransaction>,
}

impl TransactionIndex {
    /// Takes one appended transactional batch into account.
    pub fn on_batch(&mut self, batch: TransactionalBatch) {
        let Some(marker) = batch.marker else {
            self.open
                .entry(batch.producer_id)
                .or_insert(OpenTransaction {
                    producer_epoch: batch.producer_epoch,
                    first_offset: batch.base_offset,
                });
            return;
        };
        let closed = self.open.remove(&batch.producer_id);
        if let (Some(open), ControlType::Abort) = (closed, marker) {
            self.aborted.push(AbortedTransaction {
                producer_id: batch.producer_id,
                first_offset: open.first_offset,
                last_offset: batch.base_offset,
            });
        }
    }

    /// Rebuilds the index from a log's transactional batches (after a truncation).
    pub fn rebuild(batches: impl Iterator<Item = TransactionalBatch>) -> Self {
        let mut index = TransactionIndex::default();
        for batch in batches {
            index.on_batch(batch);
        }
        index
    }

    /// The first offset of the oldest open transaction, if any (Kafka's
    /// `firstUnstableOffset`).
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.open.values().map(|t| t.first_offset).min()
    }

    /// The last stable offset for a high watermark: read_committed consumers read below it.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        self.first_unstable_offset()
            .map_or(high_watermark, |first| first.min(high_watermark))
    }

    /// The open transaction of a producer, if any.
    pub fn open_transaction(&self, producer_id: i64) -> Option<OpenTransaction> {
        self.open.get(&producer_id).copied()
    }

    /// The aborted transactions overlapping `[from, to)` (Kafka's `collectAbortedTxns`: a
    /// transaction whose marker is at or after the fetch offset and which began before the
    /// upper bound).
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTransaction> {
        let start = self.aborted.partition_point(|t| t.last_offset < from);
        self.aborted[start..]
            .iter()
            .filter(|t| t.first_offset < to)
            .copied()
            .collect()
    }

    /// Whether `offset`, written by `producer_id`, belongs to an aborted transaction.
    pub fn is_aborted(&self, producer_id: i64, offset: i64) -> bool {
        self.aborted.iter().any(|t| {
            t.producer_id == producer_id && t.first_offset <= offset && offset < t.last_offset
        })
    }
}
