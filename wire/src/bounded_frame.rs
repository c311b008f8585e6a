//! Reading request frames from untrusted clients with bounded memory: the server side of
//! Kafka's `socket.request.max.bytes` (largest request; 100 MiB by default) and
//! `queued.max.request.bytes` (all requests being read or handled at once; Kafka's
//! `MemoryPool`).
//!
//! A frame's length prefix is only a claim. The body is read as it arrives, and each chunk
//! received is charged to a budget shared by all connections before it is kept, so a
//! connection that sends a prefix of 16 MiB and nothing more costs nothing of the budget
//! and a few KiB of memory, and the memory held by frames being read or handled never
//! exceeds the budget. When the budget is spent, readers wait until requests in flight
//! are answered. A frame over the cap is refused by closing the connection, and a body
//! that does not arrive within the body timeout is dropped with its charge, so frames
//! that stall half-read (a slow sender, or senders that together exhaust the budget)
//! cannot hold it forever.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Kafka's default `socket.request.max.bytes`.
pub const DEFAULT_SOCKET_REQUEST_MAX_BYTES: usize = 100 * 1024 * 1024;
/// Our default `queued.max.request.bytes` (Kafka's is unbounded): room for a couple of
/// maximal requests, far below any machine's memory.
pub const DEFAULT_QUEUED_MAX_REQUEST_BYTES: usize = 256 * 1024 * 1024;
/// How long a frame's body may take to arrive once its length is read (Kafka's default
/// `request.timeout.ms`).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// The most read (and charged) at once.
const CHUNK_BYTES: usize = 8 * 1024;
/// The body buffer's first allocation, made once the first chunk has arrived; it grows
/// by doubling as more arrives, never beyond the declared length.
const FIRST_CAPACITY_BYTES: usize = 64 * 1024;

/// The limits one server applies to every client connection. Cloning shares the budget.
#[derive(Debug, Clone)]
pub struct RequestMemory {
    /// `socket.request.max.bytes`: a longer frame closes the connection.
    max_frame_bytes: usize,
    /// `queued.max.request.bytes`, as permits of one byte.
    budget: Arc<Semaphore>,
    /// The budget's size, for [`RequestMemory::in_use_bytes`].
    budget_bytes: usize,
    /// How long a body may take to arrive.
    body_timeout: Duration,
    /// Bytes ever charged to the budget, so an owner can tell that requests came and went.
    charged_total: Arc<AtomicU64>,
}

impl RequestMemory {
    /// Limits of `max_frame_bytes` per request and `queued_max_bytes` across requests
    /// (raised to `max_frame_bytes` if smaller, so that a maximal request can be read).
    pub fn new(max_frame_bytes: usize, queued_max_bytes: usize, body_timeout: Duration) -> Self {
        let max_frame_bytes = max_frame_bytes.min(i32::MAX as usize);
        let budget_bytes = queued_max_bytes
            .max(max_frame_bytes)
            .min(Semaphore::MAX_PERMITS);
        RequestMemory {
            max_frame_bytes,
            budget: Arc::new(Semaphore::new(budget_bytes)),
            budget_bytes,
            body_timeout,
            charged_total: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Bytes ever charged to the budget (read from clients' frame bodies).
    pub fn charged_total_bytes(&self) -> u64 {
        self.charged_total.load(Ordering::Relaxed)
    }

    /// Bytes reserved by frames being read or handled now.
    pub fn in_use_bytes(&self) -> usize {
        self.budget_bytes - self.budget.available_permits()
    }
}

impl Default for RequestMemory {
    fn default() -> Self {
        RequestMemory::new(
            DEFAULT_SOCKET_REQUEST_MAX_BYTES,
            DEFAULT_QUEUED_MAX_REQUEST_BYTES,
            DEFAULT_BODY_TIMEOUT,
        )
    }
}

/// A frame read within the budget; its reservation is returned when it is dropped, so
/// hold it until the request is answered.
#[derive(Debug)]
pub struct BoundedFrame {
    /// The frame's body.
    pub body: Bytes,
    /// The frame's share of `queued.max.request.bytes`, returned when dropped.
    pub reservation: OwnedSemaphorePermit,
}

/// Reads one frame within `memory`'s limits. `Ok(None)` is a clean end of stream between
/// frames; an error (a bad length, a frame over the cap, a truncated or late body) means
/// the connection must be closed.
pub async fn read_frame_bounded<R: AsyncRead + Unpin>(
    reader: &mut R,
    memory: &RequestMemory,
) -> std::io::Result<Option<BoundedFrame>> {
    let mut length = [0u8; 4];
    match reader.read_exact(&mut length).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let length = i32::from_be_bytes(length);
    if length < 0 || length as usize > memory.max_frame_bytes {
        return Err(invalid(format!(
            "frame length {length} outside 0..={}",
            memory.max_frame_bytes
        )));
    }
    let length = length as usize;
    let read = crate::time::timeout(memory.body_timeout, read_body(reader, length, memory));
    let (body, reservation) = read
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "frame body too slow"))??;
    Ok(Some(BoundedFrame { body, reservation }))
}

/// Reads `length` bytes through a small scratch buffer, charging each chunk to the budget
/// before keeping it.
async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    length: usize,
    memory: &RequestMemory,
) -> std::io::Result<(Bytes, OwnedSemaphorePermit)> {
    let mut reservation = acquire(memory, 0).await?;
    let mut body: Vec<u8> = Vec::new();
    let mut scratch = [0u8; CHUNK_BYTES];
    while body.len() < length {
        let want = (length - body.len()).min(CHUNK_BYTES);
        let read = reader.read(&mut scratch[..want]).await?;
        if read == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "frame truncated",
            ));
        }
        reservation.merge(acquire(memory, read).await?);
        if body.len() + read > body.capacity() {
            let doubled = (body.capacity() * 2).max(FIRST_CAPACITY_BYTES);
            let target = doubled.max(body.len() + read).min(length);
            body.reserve_exact(target - body.len());
        }
        body.extend_from_slice(&scratch[..read]);
    }
    Ok((Bytes::from(body), reservation))
}

async fn acquire(memory: &RequestMemory, bytes: usize) -> std::io::Result<OwnedSemaphorePermit> {
    memory
        .charged_total
        .fetch_add(bytes as u64, Ordering::Relaxed);
    memory
        .budget
        .clone()
        .acquire_many_owned(bytes as u32)
        .await
        .map_err(|_| invalid("request memory budget closed".into()))
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn memory(max_frame: usize, queued: usize) -> RequestMemory {
        RequestMemory::new(max_frame, queued, Duration::from_millis(200))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A whole frame is read, and its reservation returns when it is dropped.
    #[test]
    fn a_frame_is_read_and_its_reservation_returned() {
        runtime().block_on(async {
            let memory = memory(1024, 4096);
            let mut input: &[u8] = &[0, 0, 0, 3, b'a', b'b', b'c'];
            let frame = read_frame_bounded(&mut input, &memory)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&frame.body[..], b"abc");
            assert_eq!(memory.in_use_bytes(), 3);
            drop(frame);
            assert_eq!(memory.in_use_bytes(), 0);
            assert!(read_frame_bounded(&mut input, &memory)
                .await
                .unwrap()
                .is_none());
        });
    }

    /// `socket.request.max.bytes`: a longer frame, or a negative length, is refused
    /// before anything is reserved.
    #[test]
    fn oversized_and_negative_lengths_are_refused() {
        runtime().block_on(async {
            let memory = memory(1024, 4096);
            for prefix in [1025i32, -1, i32::MAX] {
                let bytes = prefix.to_be_bytes();
                let mut input: &[u8] = &bytes;
                let error = read_frame_bounded(&mut input, &memory).await.unwrap_err();
                assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
                assert_eq!(memory.in_use_bytes(), 0);
            }
        });
    }

    /// A truncated body is an error and gives its reservation back.
    #[test]
    fn a_truncated_body_returns_its_reservation() {
        runtime().block_on(async {
            let memory = memory(1024, 4096);
            let mut input: &[u8] = &[0, 0, 3, 0, 1, 2, 3];
            let error = read_frame_bounded(&mut input, &memory).await.unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
            assert_eq!(memory.in_use_bytes(), 0);
        });
    }

    /// A length prefix with no body allocates nothing near the claimed size, and times
    /// out; the reservation comes back.
    #[test]
    fn a_prefix_without_a_body_times_out() {
        runtime().block_on(async {
            let memory = memory(16 << 20, 32 << 20);
            let (mut client, mut server) = tokio::io::duplex(64);
            client
                .write_all(&(16i32 << 20).to_be_bytes())
                .await
                .unwrap();
            let error = read_frame_bounded(&mut server, &memory).await.unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
            assert_eq!(memory.in_use_bytes(), 0);
            drop(client);
        });
    }

    /// A claimed length costs nothing until its bytes arrive: a prefix-only connection
    /// claiming the whole budget does not stop another frame.
    #[test]
    fn a_claimed_length_does_not_hold_the_budget() {
        runtime().block_on(async {
            let memory = memory(100, 100);
            let (mut client, mut server) = tokio::io::duplex(64);
            client.write_all(&100i32.to_be_bytes()).await.unwrap();
            let stalled = read_frame_bounded(&mut server, &memory);
            let other = async {
                let input = [0u8, 0, 0, 1, 5];
                let frame = read_frame_bounded(&mut input.as_slice(), &memory).await;
                frame.unwrap().unwrap().body
            };
            tokio::select! {
                _ = stalled => panic!("the stalled frame cannot complete"),
                body = other => assert_eq!(&body[..], &[5]),
            }
        });
    }

    /// `queued.max.request.bytes`: a frame waits while others hold the budget, and is
    /// read once they are answered.
    #[test]
    fn the_shared_budget_makes_frames_wait() {
        runtime().block_on(async {
            let memory = memory(100, 100);
            let mut first = vec![0u8, 0, 0, 100];
            first.extend([7u8; 100]);
            let held = read_frame_bounded(&mut first.as_slice(), &memory)
                .await
                .unwrap()
                .unwrap();
            let second: Vec<u8> = vec![0, 0, 0, 1, 9];
            let waiting = crate::time::timeout(
                Duration::from_millis(50),
                read_frame_bounded(&mut second.as_slice(), &memory),
            )
            .await;
            assert!(waiting.is_err(), "no budget left while the first is held");
            drop(held);
            let frame = read_frame_bounded(&mut second.as_slice(), &memory)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&frame.body[..], &[9]);
        });
    }
}
