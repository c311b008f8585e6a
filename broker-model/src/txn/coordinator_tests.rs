//! Unit tests of the transaction coordinator's state machine (KIP-98): InitProducerId
//! epochs and fencing, AddPartitionsToTxn/EndTxn transitions, CONCURRENT_TRANSACTIONS
//! while a transition or markers are pending, timeouts, markers, and a failover's load.

use faultline_wire::ResponseError;

use super::coordinator::{InitDecision, PendingTransition, TransactionCoordinator};
use super::index::ControlType;
use super::metadata::{TransactionMetadata, TransactionState};
use super::partition_for;
use crate::partition::Appended;

const ID: &str = "payments";
const FENCED: ResponseError = ResponseError::ProducerFenced;

fn coordinator() -> TransactionCoordinator {
    let mut c = TransactionCoordinator::new(3);
    c.load(partition_for(ID, 3), 7, &[], 0);
    c
}

/// Writes and applies a transition, as a replicated append would.
fn commit(c: &mut TransactionCoordinator, target: TransactionMetadata) -> TransactionMetadata {
    c.begin(PendingTransition {
        target,
        appended: Appended {
            base_offset: 0,
            last_offset: 0,
            leader_epoch: 7,
        },
    });
    c.apply(ID).unwrap()
}

fn init(c: &mut TransactionCoordinator, now_ms: u64) -> Result<TransactionMetadata, ResponseError> {
    match c.init(ID, 10_000, None, 4, now_ms, || 42)? {
        InitDecision::Write(target) => Ok(commit(c, target)),
        InitDecision::AbortFirst(target) => {
            commit(c, target);
            Err(ResponseError::ConcurrentTransactions)
        }
    }
}

fn events(partitions: &[i32]) -> Vec<(String, i32)> {
    partitions
        .iter()
        .map(|&p| ("events".to_string(), p))
        .collect()
}

/// KIP-98: the first InitProducerId allocates a producer id at epoch 0; each later one
/// bumps the epoch, so the previous producer instance is fenced everywhere.
#[test]
fn kip_98_init_allocates_then_bumps_the_epoch() {
    let mut c = coordinator();
    let first = init(&mut c, 0).unwrap();
    assert_eq!((first.producer_id, first.producer_epoch), (42, 0));
    let second = init(&mut c, 0).unwrap();
    assert_eq!((second.producer_id, second.producer_epoch), (42, 1));
    assert_eq!(
        c.add_partitions(ID, 42, 0, &events(&[0]), FENCED, 0),
        Err(FENCED),
        "the old epoch is fenced"
    );
}

/// KIP-98: InitProducerId while a transaction is open aborts it first, with a bumped
/// epoch (fencing the zombie), and asks the new instance to retry.
#[test]
fn kip_98_init_with_an_open_transaction_aborts_it_with_a_bumped_epoch() {
    let mut c = coordinator();
    init(&mut c, 0).unwrap();
    let open = c
        .add_partitions(ID, 42, 0, &events(&[0, 1]), FENCED, 0)
        .unwrap()
        .unwrap();
    commit(&mut c, open);
    assert_eq!(init(&mut c, 0), Err(ResponseError::ConcurrentTransactions));
    let aborting = c.get(ID).unwrap().unwrap().clone();
    assert_eq!(aborting.state, TransactionState::PrepareAbort);
    assert_eq!(aborting.producer_epoch, 1);
    let jobs = c.marker_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].marker.control, ControlType::Abort);
    assert_eq!(jobs[0].marker.producer_epoch, 1);
    assert_eq!(jobs[0].marker.coordinator_epoch, 7);
    assert_eq!(jobs[0].partitions, events(&[0, 1]));
    // Markers pending: the retry waits.
    assert_eq!(init(&mut c, 0), Err(ResponseError::ConcurrentTransactions));
    let complete = c.markers_written(ID, &events(&[0, 1])).unwrap();
    assert_eq!(
        commit(&mut c, complete).state,
        TransactionState::CompleteAbort
    );
    assert_eq!(init(&mut c, 0).unwrap().producer_epoch, 2);
}

/// KIP-98: EndTxn(commit) moves Ongoing to PrepareCommit; markers on every partition
/// complete it; a retried EndTxn then succeeds without a write, and an EndTxn with no
/// open transaction is INVALID_TXN_STATE.
#[test]
fn kip_98_end_transaction_prepares_then_completes() {
    let mut c = coordinator();
    init(&mut c, 0).unwrap();
    assert_eq!(
        c.end(ID, 42, 0, true, FENCED),
        Err(ResponseError::InvalidTxnState)
    );
    let open = c
        .add_partitions(ID, 42, 0, &events(&[2]), FENCED, 0)
        .unwrap()
        .unwrap();
    commit(&mut c, open);
    assert_eq!(
        c.add_partitions(ID, 42, 0, &events(&[2]), FENCED, 0),
        Ok(None),
        "a partition already in the transaction writes nothing"
    );
    let prepare = c.end(ID, 42, 0, true, FENCED).unwrap().unwrap();
    commit(&mut c, prepare);
    assert_eq!(
        c.end(ID, 42, 0, true, FENCED),
        Err(ResponseError::ConcurrentTransactions)
    );
    assert_eq!(
        c.add_partitions(ID, 42, 0, &events(&[0]), FENCED, 0),
        Err(ResponseError::ConcurrentTransactions)
    );
    let jobs = c.marker_jobs();
    assert_eq!(jobs[0].marker.control, ControlType::Commit);
    assert!(
        c.marker_jobs().is_empty(),
        "markers in flight are not sent twice"
    );
    assert_eq!(
        c.markers_written(ID, &[]),
        None,
        "a failed send completes nothing"
    );
    assert_eq!(c.marker_jobs().len(), 1, "and is retried");
    let complete = c.markers_written(ID, &events(&[2])).unwrap();
    commit(&mut c, complete);
    assert_eq!(c.end(ID, 42, 0, true, FENCED), Ok(None));
    assert_eq!(
        c.end(ID, 42, 0, false, FENCED),
        Err(ResponseError::InvalidTxnState)
    );
}

/// A transition waiting for replication makes every other request wait
/// (CONCURRENT_TRANSACTIONS, Kafka's `pendingState`).
#[test]
fn a_pending_transition_is_concurrent_transactions() {
    let mut c = coordinator();
    init(&mut c, 0).unwrap();
    let open = c
        .add_partitions(ID, 42, 0, &events(&[0]), FENCED, 0)
        .unwrap()
        .unwrap();
    c.begin(PendingTransition {
        target: open,
        appended: Appended {
            base_offset: 1,
            last_offset: 1,
            leader_epoch: 7,
        },
    });
    assert_eq!(
        c.end(ID, 42, 0, true, FENCED),
        Err(ResponseError::ConcurrentTransactions)
    );
    c.abandon(ID);
    assert_eq!(c.get(ID).unwrap().unwrap().state, TransactionState::Empty);
}

/// KIP-98 `transaction.timeout.ms`: an open transaction past its timeout is aborted
/// with a bumped epoch (the hung producer is fenced); InitProducerId refuses a timeout
/// above `transaction.max.timeout.ms`.
#[test]
fn kip_98_timed_out_transactions_are_aborted_and_fenced() {
    let mut c = coordinator();
    init(&mut c, 0).unwrap();
    let open = c
        .add_partitions(ID, 42, 0, &events(&[0]), FENCED, 1_000)
        .unwrap()
        .unwrap();
    commit(&mut c, open);
    assert!(c.timed_out(10_999).is_empty());
    let aborts = c.timed_out(11_000);
    assert_eq!(aborts.len(), 1);
    assert_eq!(
        (aborts[0].state, aborts[0].producer_epoch),
        (TransactionState::PrepareAbort, 1)
    );
    assert!(matches!(
        c.init(ID, 900_001, None, 4, 0, || 1),
        Err(ResponseError::InvalidTransactionTimeout)
    ));
}

/// KIP-360/KIP-588: a producer naming an id and epoch it no longer holds is fenced:
/// PRODUCER_FENCED from InitProducerId v4, INVALID_PRODUCER_EPOCH before; an unknown
/// producer id is INVALID_PRODUCER_ID_MAPPING.
#[test]
fn kip_588_fencing_errors_by_version() {
    let mut c = coordinator();
    init(&mut c, 0).unwrap();
    init(&mut c, 0).unwrap();
    assert!(matches!(
        c.init(ID, 10_000, Some((42, 0)), 4, 0, || 1),
        Err(ResponseError::ProducerFenced)
    ));
    assert!(matches!(
        c.init(ID, 10_000, Some((42, 0)), 3, 0, || 1),
        Err(ResponseError::InvalidProducerEpoch)
    ));
    assert_eq!(
        c.add_partitions(ID, 41, 1, &events(&[0]), FENCED, 0),
        Err(ResponseError::InvalidProducerIdMapping)
    );
}

/// Coordinator failover: a new coordinator loading the partition's log finds the newest
/// state of each transactional id; a preparing transaction gets its markers written again.
#[test]
fn a_failover_loads_the_newest_state_and_resends_markers() {
    let mut old = coordinator();
    init(&mut old, 0).unwrap();
    let open = old
        .add_partitions(ID, 42, 0, &events(&[0, 1]), FENCED, 0)
        .unwrap()
        .unwrap();
    let prepare = commit(&mut old, open.clone()).preparing(true, 0);
    let log: Vec<_> = [open, prepare]
        .iter()
        .enumerate()
        .map(|(i, m)| crate::log::LogEntry {
            offset: i as i64,
            ..m.to_entry()
        })
        .collect();
    let mut new = TransactionCoordinator::new(3);
    assert_eq!(new.get(ID), Err(ResponseError::NotCoordinator));
    new.load(partition_for(ID, 3), 8, &log, 500);
    let loaded = new.get(ID).unwrap().unwrap();
    assert_eq!(loaded.state, TransactionState::PrepareCommit);
    let jobs = new.marker_jobs();
    assert_eq!(jobs[0].marker.coordinator_epoch, 8);
    assert_eq!(jobs[0].partitions, events(&[0, 1]));
    new.unload(partition_for(ID, 3));
    assert_eq!(new.get(ID), Err(ResponseError::NotCoordinator));
}
