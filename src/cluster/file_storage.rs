//! The reference broker's storage seam (`faultline_broker::storage::Storage`) on the real
//! filesystem, for the multi-process cluster: the same writes the simulated disk sees,
//! with real `write(2)` and `fsync(2)`. The broker stays sans-IO; only this edge touches
//! files.
//!
//! Layout under a node's data folder, after Kafka's (`kafka.log.LogSegment`):
//!
//! - `<topic>-<partition>/00000000000000000000.log`: the partition's record batches,
//!   byte for byte as the broker stored them (v2 batches, each with its own length and
//!   CRC-32C: protocol guide, "Record Batch"). One segment per partition.
//! - `blobs/<name>`: small state the broker checkpoints (log start offsets, the producer
//!   id block, ...), each replaced atomically by write-then-rename.
//!
//! Leader epochs live in each batch's `partition_leader_epoch`, so the leader-epoch cache
//! is rebuilt from the log on recovery, as Kafka rebuilds a missing
//! `leader-epoch-checkpoint` (KIP-101). The controller's metadata log is a partition like
//! any other (`__cluster_metadata-0`, KIP-500/KIP-631), fsynced on every append by the
//! controller itself.
//!
//! On open, each segment is read batch by batch; the first batch whose length runs past
//! the file or whose CRC does not match ends the log, and the file is truncated there —
//! Kafka's `LogSegment.recover` after an unclean shutdown.
//!
//! Two modes ([`SyncMode`]):
//! - [`SyncMode::Os`]: every write goes to the kernel at once; `sync` is `fsync`. A
//!   `kill -9` loses nothing the broker wrote (the kernel's page cache outlives the
//!   process), exactly as for a real Kafka broker killed with SIGKILL.
//! - [`SyncMode::PowerLoss`]: writes stay in this process until `sync`, which applies
//!   them to the files in order and fsyncs. A `kill -9` then loses every unsynced write,
//!   which models a power loss of that one machine at the instant of the kill, with the
//!   kernel never having written back a dirty page on its own. What it does not model:
//!   a torn write inside a sync (a kill during `sync` can leave one, which recovery cuts),
//!   reordering of unsynced writes by the disk, or losing synced data (disks that lie
//!   about fsync are the `fsync-lies` planted bug's business).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use faultline_broker::log::StoredBatch;
use faultline_broker::storage::{Recovered, Storage, StorageError, TopicPartition};
use faultline_wire::batch::split_batches;

/// Name of every partition's only segment: its base offset, 20 digits, as Kafka names them.
const SEGMENT: &str = "00000000000000000000.log";
/// Bytes before a batch's length field plus the field itself (Kafka's `LOG_OVERHEAD`).
const LOG_OVERHEAD: usize = 12;

/// When writes reach the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// At once: a process crash loses nothing written (the real-Kafka case).
    Os,
    /// At the next fsync: a process crash loses what was not synced (a power loss).
    PowerLoss,
}

/// A write not yet applied to the files ([`SyncMode::PowerLoss`] only).
#[derive(Debug)]
enum Pending {
    Append(TopicPartition, Vec<StoredBatch>),
    Truncate(TopicPartition, i64),
    Blob(String, Vec<u8>),
}

/// One partition's open segment and where each of its batches starts.
#[derive(Debug)]
struct Segment {
    file: File,
    /// `(base_offset, byte position)` of each batch, in order.
    batches: Vec<(i64, u64)>,
    /// The file's length.
    end: u64,
    /// Written since the last fsync.
    dirty: bool,
}

/// A node's data folder.
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    mode: SyncMode,
    segments: BTreeMap<TopicPartition, Segment>,
    /// Blobs written since the last fsync (their files need one).
    dirty_blobs: Vec<String>,
    /// Writes held in the process ([`SyncMode::PowerLoss`]).
    pending: Vec<Pending>,
    /// What recovery found at open: each log's torn tail, in bytes cut.
    torn_bytes: BTreeMap<TopicPartition, u64>,
}

impl FileStorage {
    /// Opens (creating if needed) the data folder `dir` and recovers every segment in it,
    /// cutting torn tails.
    pub fn open(dir: &Path, mode: SyncMode) -> io::Result<FileStorage> {
        fs::create_dir_all(dir.join("blobs"))?;
        let mut storage = FileStorage {
            dir: dir.to_path_buf(),
            mode,
            segments: BTreeMap::new(),
            dirty_blobs: Vec::new(),
            pending: Vec::new(),
            torn_bytes: BTreeMap::new(),
        };
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(partition) = partition_of_folder(&name) else {
                continue;
            };
            let (segment, torn) = recover_segment(&entry.path().join(SEGMENT))?;
            if torn > 0 {
                storage.torn_bytes.insert(partition.clone(), torn);
            }
            storage.segments.insert(partition, segment);
        }
        sync_dir(dir)?;
        Ok(storage)
    }

    /// Bytes cut from each log's torn tail when this folder was opened.
    pub fn torn_bytes(&self) -> &BTreeMap<TopicPartition, u64> {
        &self.torn_bytes
    }

    fn segment(&mut self, partition: &TopicPartition) -> io::Result<&mut Segment> {
        if !self.segments.contains_key(partition) {
            let folder = self.dir.join(folder_of_partition(partition));
            fs::create_dir_all(&folder)?;
            let (segment, _) = recover_segment(&folder.join(SEGMENT))?;
            sync_dir(&self.dir)?;
            self.segments.insert(partition.clone(), segment);
        }
        Ok(self.segments.get_mut(partition).expect("inserted above"))
    }

    fn write_batches(
        &mut self,
        partition: &TopicPartition,
        batches: &[StoredBatch],
    ) -> io::Result<()> {
        let segment = self.segment(partition)?;
        let mut bytes = Vec::new();
        let mut positions = Vec::new();
        for batch in batches {
            positions.push((batch.base_offset, segment.end + bytes.len() as u64));
            bytes.extend_from_slice(&batch.bytes);
        }
        segment.file.seek(SeekFrom::Start(segment.end))?;
        if let Err(e) = segment.file.write_all(&bytes) {
            // Nothing of `batches` may count as written: cut what reached the file.
            segment.file.set_len(segment.end)?;
            return Err(e);
        }
        segment.end += bytes.len() as u64;
        segment.batches.extend(positions);
        segment.dirty = true;
        Ok(())
    }

    fn truncate_log(&mut self, partition: &TopicPartition, end_offset: i64) -> io::Result<()> {
        let Some(segment) = self.segments.get_mut(partition) else {
            return Ok(());
        };
        let kept = segment
            .batches
            .partition_point(|&(base, _)| base < end_offset);
        if kept == segment.batches.len() {
            return Ok(());
        }
        let end = segment.batches[kept].1;
        segment.file.set_len(end)?;
        segment.batches.truncate(kept);
        segment.end = end;
        segment.dirty = true;
        Ok(())
    }

    fn write_blob(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.dir.join("blobs").join(blob_file(name));
        let temporary = path.with_extension("tmp");
        fs::write(&temporary, bytes)?;
        fs::rename(&temporary, &path)?;
        self.dirty_blobs.push(name.to_string());
        Ok(())
    }

    fn apply(&mut self, write: Pending) -> io::Result<()> {
        match write {
            Pending::Append(partition, batches) => self.write_batches(&partition, &batches),
            Pending::Truncate(partition, end) => self.truncate_log(&partition, end),
            Pending::Blob(name, bytes) => self.write_blob(&name, &bytes),
        }
    }

    /// Applies held writes, then fsyncs every dirty segment and blob and their folders.
    fn flush(&mut self) -> io::Result<()> {
        for write in std::mem::take(&mut self.pending) {
            self.apply(write)?;
        }
        for segment in self.segments.values_mut().filter(|s| s.dirty) {
            segment.file.sync_data()?;
            segment.dirty = false;
        }
        if !self.dirty_blobs.is_empty() {
            for name in std::mem::take(&mut self.dirty_blobs) {
                File::open(self.dir.join("blobs").join(blob_file(&name)))?.sync_all()?;
            }
            sync_dir(&self.dir.join("blobs"))?;
        }
        Ok(())
    }

    /// Everything on disk now.
    fn read_back(&self) -> io::Result<Recovered> {
        let mut recovered = Recovered::default();
        for (partition, segment) in &self.segments {
            let path = self.dir.join(folder_of_partition(partition)).join(SEGMENT);
            let mut bytes = Vec::new();
            File::open(path)?.read_to_end(&mut bytes)?;
            let bytes = Bytes::from(bytes);
            let end = usize::try_from(segment.end).unwrap_or(usize::MAX);
            let (batches, _) = valid_batches(&bytes.slice(..end.min(bytes.len())));
            recovered.logs.insert(partition.clone(), batches);
        }
        for entry in fs::read_dir(self.dir.join("blobs"))? {
            let entry = entry?;
            let file = entry.file_name().to_string_lossy().to_string();
            if file.ends_with(".tmp") {
                continue;
            }
            recovered
                .blobs
                .insert(blob_name(&file), fs::read(entry.path())?);
        }
        Ok(recovered)
    }
}

impl Storage for FileStorage {
    fn append(
        &mut self,
        partition: &TopicPartition,
        batches: &[StoredBatch],
    ) -> Result<(), StorageError> {
        match self.mode {
            SyncMode::PowerLoss => {
                self.pending
                    .push(Pending::Append(partition.clone(), batches.to_vec()));
                Ok(())
            }
            SyncMode::Os => self
                .write_batches(partition, batches)
                .map_err(|_| StorageError {
                    partition: partition.clone(),
                }),
        }
    }

    fn truncate(&mut self, partition: &TopicPartition, end_offset: i64) {
        match self.mode {
            SyncMode::PowerLoss => self
                .pending
                .push(Pending::Truncate(partition.clone(), end_offset)),
            SyncMode::Os => {
                // The trait cannot report it; a truncation that did not happen leaves
                // batches recovery replays and the follower truncates again (KIP-101).
                if let Err(e) = self.truncate_log(partition, end_offset) {
                    eprintln!("truncating {partition:?} to {end_offset}: {e}");
                }
            }
        }
    }

    fn put_blob(&mut self, name: &str, bytes: Vec<u8>) {
        match self.mode {
            SyncMode::PowerLoss => self.pending.push(Pending::Blob(name.to_string(), bytes)),
            SyncMode::Os => {
                if let Err(e) = self.write_blob(name, &bytes) {
                    eprintln!("writing {name}: {e}");
                }
            }
        }
    }

    fn sync(&mut self) {
        // An fsync that fails leaves the data's fate unknown (PostgreSQL's "fsyncgate",
        // 2018): the only safe answer is to stop, as Kafka halts on a log-dir failure.
        if let Err(e) = self.flush() {
            eprintln!("FATAL fsync of {} failed: {e}", self.dir.display());
            std::process::exit(70);
        }
    }

    fn recover(&self) -> Recovered {
        self.read_back().unwrap_or_else(|e| {
            eprintln!("FATAL reading {} back: {e}", self.dir.display());
            std::process::exit(70);
        })
    }
}

/// Opens (creating) a segment and cuts its torn tail; returns it with the bytes cut.
fn recover_segment(path: &Path) -> io::Result<(Segment, u64)> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let bytes = Bytes::from(bytes);
    let (batches, valid_end) = valid_batches(&bytes);
    let torn = bytes.len() as u64 - valid_end as u64;
    if torn > 0 {
        file.set_len(valid_end as u64)?;
        file.sync_data()?;
    }
    let mut position = 0u64;
    let mut index = Vec::with_capacity(batches.len());
    for batch in &batches {
        index.push((batch.base_offset, position));
        position += batch.bytes.len() as u64;
    }
    Ok((
        Segment {
            file,
            batches: index,
            end: valid_end as u64,
            dirty: false,
        },
        torn,
    ))
}

/// The whole batches at the start of `bytes`, up to the first one that is cut short or
/// fails its CRC, and the byte length they cover.
fn valid_batches(bytes: &Bytes) -> (Vec<StoredBatch>, usize) {
    let mut batches = Vec::new();
    let mut position = 0;
    while bytes.len() - position >= LOG_OVERHEAD {
        let length = i32::from_be_bytes(
            bytes[position + 8..position + 12]
                .try_into()
                .expect("four bytes"),
        );
        let Some(total) = usize::try_from(length)
            .ok()
            .and_then(|l| l.checked_add(LOG_OVERHEAD))
            .filter(|&t| position + t <= bytes.len())
        else {
            break;
        };
        let Ok(mut one) = split_batches(&bytes.slice(position..position + total)) else {
            break;
        };
        let Some(batch) = one.pop() else {
            break;
        };
        batches.push(StoredBatch::from_wire(&batch));
        position += total;
    }
    (batches, position)
}

/// fsync of a folder, so that created, renamed and removed entries in it are durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// `<topic>-<partition>`, as Kafka names a partition's folder.
fn folder_of_partition(partition: &TopicPartition) -> String {
    format!("{}-{}", partition.0, partition.1)
}

/// The partition a folder holds, if it is a partition folder.
fn partition_of_folder(name: &str) -> Option<TopicPartition> {
    let (topic, index) = name.rsplit_once('-')?;
    Some((topic.to_string(), index.parse().ok()?))
}

/// A blob's file name: `/` and `%` escaped, so every name is one file.
fn blob_file(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F")
}

/// The blob name a file holds.
fn blob_name(file: &str) -> String {
    file.replace("%2F", "/").replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_broker::log::{LogEntry, PartitionLog};

    /// `n` one-record batches from offset `from`, in leader epoch `epoch`.
    fn batches(from: i64, n: i64, epoch: i32) -> Vec<StoredBatch> {
        (from..from + n)
            .map(|offset| {
                StoredBatch::from_entries(&[LogEntry {
                    offset,
                    leader_epoch: epoch,
                    timestamp: offset,
                    key: None,
                    value: Some(Bytes::from(format!("value-{offset}"))),
                    producer_id: -1,
                    producer_epoch: -1,
                    sequence: -1,
                }])
            })
            .collect()
    }

    /// The log end a broker restarted on `dir` recovers for `partition`.
    fn end_after_restart(dir: &Path, mode: SyncMode, partition: &TopicPartition) -> i64 {
        let storage = FileStorage::open(dir, mode).unwrap();
        let log = storage.recover().logs.remove(partition).unwrap_or_default();
        PartitionLog::from_batches(log, 0).end_offset()
    }

    #[test]
    fn a_restart_reads_back_logs_blobs_and_epochs_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let p: TopicPartition = ("events".into(), 2);
        let mut storage = FileStorage::open(dir.path(), SyncMode::Os).unwrap();
        storage.append(&p, &batches(0, 3, 1)).unwrap();
        storage.append(&p, &batches(3, 2, 4)).unwrap();
        storage.put_blob("log-start-offset/events/2", 1i64.to_be_bytes().to_vec());
        storage.sync();
        drop(storage);
        let recovered = FileStorage::open(dir.path(), SyncMode::Os)
            .unwrap()
            .recover();
        let log = &recovered.logs[&p];
        assert_eq!(log.len(), 5);
        assert_eq!(log[3].base_offset, 3);
        assert_eq!(
            log[3].leader_epoch, 4,
            "the epoch cache is rebuilt from batches"
        );
        assert_eq!(log[4].bytes, batches(4, 1, 4)[0].bytes, "byte for byte");
        assert_eq!(
            recovered.blobs["log-start-offset/events/2"],
            1i64.to_be_bytes().to_vec()
        );
    }

    #[test]
    fn truncation_cuts_at_the_first_batch_at_or_past_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let p: TopicPartition = ("t".into(), 0);
        let mut storage = FileStorage::open(dir.path(), SyncMode::Os).unwrap();
        storage.append(&p, &batches(0, 6, 0)).unwrap();
        storage.truncate(&p, 4);
        storage.append(&p, &batches(4, 1, 1)).unwrap();
        drop(storage);
        assert_eq!(end_after_restart(dir.path(), SyncMode::Os, &p), 5);
        let log = FileStorage::open(dir.path(), SyncMode::Os)
            .unwrap()
            .recover()
            .logs
            .remove(&p)
            .unwrap();
        assert_eq!(log[4].leader_epoch, 1, "the truncated batch was replaced");
    }

    #[test]
    fn a_torn_tail_is_cut_by_length_and_crc_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let p: TopicPartition = ("t".into(), 0);
        let mut storage = FileStorage::open(dir.path(), SyncMode::Os).unwrap();
        storage.append(&p, &batches(0, 4, 0)).unwrap();
        drop(storage);
        let segment = dir.path().join("t-0").join(SEGMENT);
        let mut bytes = fs::read(&segment).unwrap();
        let whole = bytes.len();
        // A half-written fifth batch, then a flipped byte inside the fourth.
        bytes.extend_from_slice(&batches(4, 1, 0)[0].bytes[..20]);
        fs::write(&segment, &bytes).unwrap();
        assert_eq!(end_after_restart(dir.path(), SyncMode::Os, &p), 4);
        assert_eq!(fs::metadata(&segment).unwrap().len() as usize, whole);
        let mut bytes = fs::read(&segment).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0xff;
        fs::write(&segment, &bytes).unwrap();
        let storage = FileStorage::open(dir.path(), SyncMode::Os).unwrap();
        assert!(storage.torn_bytes()[&p] > 0);
        assert_eq!(end_after_restart(dir.path(), SyncMode::Os, &p), 3);
    }

    #[test]
    fn power_loss_mode_keeps_exactly_what_was_synced() {
        let dir = tempfile::tempdir().unwrap();
        let p: TopicPartition = ("t".into(), 0);
        let mut storage = FileStorage::open(dir.path(), SyncMode::PowerLoss).unwrap();
        storage.append(&p, &batches(0, 3, 0)).unwrap();
        storage.put_blob("producer-id", b"7".to_vec());
        storage.sync();
        storage.append(&p, &batches(3, 3, 0)).unwrap();
        storage.put_blob("producer-id", b"9".to_vec());
        // kill -9: the process and what it held are gone.
        drop(storage);
        assert_eq!(end_after_restart(dir.path(), SyncMode::PowerLoss, &p), 3);
        let recovered = FileStorage::open(dir.path(), SyncMode::PowerLoss)
            .unwrap()
            .recover();
        assert_eq!(recovered.blobs["producer-id"], b"7".to_vec());
    }

    #[test]
    fn os_mode_keeps_unsynced_writes_across_a_process_crash() {
        let dir = tempfile::tempdir().unwrap();
        let p: TopicPartition = ("t".into(), 0);
        let mut storage = FileStorage::open(dir.path(), SyncMode::Os).unwrap();
        storage.append(&p, &batches(0, 3, 0)).unwrap();
        drop(storage);
        assert_eq!(end_after_restart(dir.path(), SyncMode::Os, &p), 3);
    }

    #[test]
    fn names_round_trip() {
        for name in ["log-start-offset/a-b.c/3", "100%/x", "producer-id"] {
            assert_eq!(blob_name(&blob_file(name)), name);
        }
        assert_eq!(
            partition_of_folder("my-topic-12"),
            Some(("my-topic".into(), 12))
        );
        assert_eq!(partition_of_folder("blobs"), None);
    }
}
