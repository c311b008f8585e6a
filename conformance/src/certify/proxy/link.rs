//! One client connection through a proxy and its connection to the broker: two
//! independent directions under the proxy's current fault, closed together.
//!
//! The directions never wait on each other: a Produce with acks=0 has no response
//! (Kafka protocol guide, "The Messages"), and clients pipeline requests. Each direction
//! is a reader that stamps frames with the time they may leave and a writer that holds
//! them until then, so latency delays every frame without reordering any.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use faultline_wire::codec::peek_header;
use faultline_wire::frame::{read_frame, write_frame};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::rewrite::{rewrite_response, Rewrite};
use super::{bump, Control, LinkFault, Proxy, Shared};

/// How long a broker may take to accept the proxy's connection before the client's is
/// closed (the client sees a closed connection, as if the broker refused it).
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Frames read but not yet written, per direction: a writer stuck on a slow peer stops
/// its reader instead of buffering without bound.
const QUEUE_FRAMES: usize = 256;

/// Requests whose responses advertise broker addresses, by correlation id: the response
/// alone does not say which API or version it answers.
type Pending = Arc<Mutex<HashMap<i32, (i16, i16)>>>;

/// Serves one accepted client connection until it closes, fails, or a fault cuts it.
pub(super) async fn serve(client: TcpStream, proxy: Arc<Proxy>, shared: Arc<Shared>) {
    let mut control = proxy.control.subscribe();
    let start = *control.borrow_and_update();
    let counters = &shared.counters;
    if start.fault == LinkFault::BlackHole {
        // A black hole answers no connection; there is no broker to reach yet.
        swallow(client, &control, start.epoch, &shared).await;
        return;
    }
    let connect = tokio::time::timeout(
        UPSTREAM_CONNECT_TIMEOUT,
        TcpStream::connect(proxy.upstream.as_str()),
    );
    let upstream = tokio::select! {
        connected = connect => connected,
        _ = cut(&control, start.epoch) => {
            bump(&counters.connections_cut, 1);
            return;
        }
    };
    let upstream = match upstream {
        Ok(Ok(upstream)) => upstream,
        Ok(Err(e)) => return unreachable(&proxy, &shared, e.to_string()),
        Err(_) => return unreachable(&proxy, &shared, "connect timed out".into()),
    };
    // Frames are small and latency-sensitive; Nagle would add its own delay.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let pending = Pending::default();
    let requests = forward(client_read, upstream_write, &control, &shared, |frame| {
        remember(&pending, &frame);
        frame
    });
    let responses = forward(upstream_read, client_write, &control, &shared, |frame| {
        rewrite(&pending, &shared, frame)
    });
    tokio::select! {
        _ = requests => {}
        _ = responses => {}
        _ = cut(&control, start.epoch) => bump(&counters.connections_cut, 1),
    }
}

/// Notes a broker that could not be reached; the caller then drops the client
/// connection, which the client sees as closed, as if the broker had refused it.
fn unreachable(proxy: &Proxy, shared: &Shared, reason: String) {
    bump(&shared.counters.upstream_connect_failures, 1);
    tracing::debug!(upstream = %proxy.upstream, %reason, "upstream connect failed");
}

/// Resolves when the proxy's epoch moves past `epoch`: the connection must close.
async fn cut(control: &watch::Receiver<Control>, epoch: u64) {
    let mut control = control.clone();
    // An error means the cluster is gone; close as well.
    let _ = control.wait_for(|c| c.epoch != epoch).await;
}

/// Reads and discards whatever the client sends until the black hole ends.
async fn swallow(
    mut client: TcpStream,
    control: &watch::Receiver<Control>,
    epoch: u64,
    shared: &Shared,
) {
    let discard = async {
        let mut buf = vec![0u8; 64 * 1024];
        while matches!(client.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    tokio::select! {
        _ = discard => {}
        _ = cut(control, epoch) => bump(&shared.counters.connections_cut, 1),
    }
}

/// One direction: frames from `reader`, passed through `inspect`, to `writer`. Returns
/// when either side closes or fails, after writing what was already read.
async fn forward<R, W>(
    reader: R,
    mut writer: W,
    control: &watch::Receiver<Control>,
    shared: &Shared,
    inspect: impl FnMut(Bytes) -> Bytes,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (queue, mut queued) = mpsc::channel::<(Instant, Bytes)>(QUEUE_FRAMES);
    let reading = async {
        read_side(reader, queue, control, shared, inspect).await;
        // The queue is closed now; the writer drains it and ends the direction.
        std::future::pending::<()>().await
    };
    let writing = async {
        while let Some((due, frame)) = queued.recv().await {
            tokio::time::sleep_until(due).await;
            if control.borrow().fault == LinkFault::BlackHole {
                bump(&shared.counters.frames_swallowed, 1);
                continue;
            }
            if write_frame(&mut writer, &frame).await.is_err() {
                return;
            }
            bump(&shared.counters.frames_forwarded, 1);
        }
    };
    tokio::select! {
        _ = reading => {}
        _ = writing => {}
    }
}

/// Reads frames until the stream ends or fails, queueing each with the time it may
/// leave; under a black hole frames are read and dropped.
async fn read_side<R: AsyncRead + Unpin>(
    mut reader: R,
    queue: mpsc::Sender<(Instant, Bytes)>,
    control: &watch::Receiver<Control>,
    shared: &Shared,
    mut inspect: impl FnMut(Bytes) -> Bytes,
) {
    while let Ok(Some(frame)) = read_frame(&mut reader).await {
        let delay = match control.borrow().fault {
            LinkFault::BlackHole => {
                bump(&shared.counters.frames_swallowed, 1);
                continue;
            }
            // The pair is being cut; nothing read now may cross the partition.
            LinkFault::Partition => return,
            LinkFault::Latency(delay) => delay,
            LinkFault::None => Duration::ZERO,
        };
        let frame = inspect(frame);
        if queue.send((Instant::now() + delay, frame)).await.is_err() {
            return;
        }
    }
}

/// Notes a Metadata or FindCoordinator request, whose response will need rewriting.
fn remember(pending: &Pending, frame: &[u8]) {
    let Some((api_key, version, correlation_id)) = peek_header(frame) else {
        return;
    };
    if api_key == ApiKey::Metadata as i16 || api_key == ApiKey::FindCoordinator as i16 {
        lock(pending).insert(correlation_id, (api_key, version));
    }
}

/// Rewrites a response if it answers a remembered request; any other frame, and any
/// that does not decode, goes on unchanged.
fn rewrite(pending: &Pending, shared: &Arc<Shared>, frame: Bytes) -> Bytes {
    // Every response starts with its correlation id (Kafka protocol guide, "Headers").
    let Some(correlation_id) = frame
        .get(..4)
        .and_then(|id| <[u8; 4]>::try_from(id).ok())
        .map(i32::from_be_bytes)
    else {
        return frame;
    };
    let Some((api_key, version)) = lock(pending).remove(&correlation_id) else {
        return frame;
    };
    match rewrite_response(api_key, version, &frame, |host, port| {
        shared.resolve(host, port)
    }) {
        Rewrite::Rewritten {
            frame: rewritten,
            addresses,
        } => {
            bump(&shared.counters.addresses_rewritten, addresses);
            rewritten
        }
        Rewrite::Undecodable(reason) => {
            bump(&shared.counters.responses_undecodable, 1);
            tracing::warn!(api_key, version, %reason, "response forwarded unrewritten");
            frame
        }
        Rewrite::Unchanged | Rewrite::NotApplicable => frame,
    }
}

fn lock(pending: &Pending) -> std::sync::MutexGuard<'_, HashMap<i32, (i16, i16)>> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}
