//! Size-prefixed frames: a big-endian i32 length, then that many bytes
//! (Kafka protocol guide, "Common Request and Response Structure").

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame either side accepts. Kafka's `socket.request.max.bytes` defaults
/// to 100 MiB; our workloads send small batches, so a smaller bound costs nothing.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Reads one frame. `Ok(None)` is a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Bytes>> {
    let mut length = [0u8; 4];
    match reader.read_exact(&mut length).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let length = i32::from_be_bytes(length);
    if length < 0 || length as usize > MAX_FRAME_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame length {length} outside 0..={MAX_FRAME_BYTES}"),
        ));
    }
    let mut body = BytesMut::zeroed(length as usize);
    reader.read_exact(&mut body).await?;
    Ok(Some(body.freeze()))
}

/// Writes one frame and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
    writer.write_all(&out).await?;
    writer.flush().await
}
