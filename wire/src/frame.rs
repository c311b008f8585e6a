//! Size-prefixed frames: a big-endian i32 length, then that many bytes
//! (Kafka protocol guide, "Common Request and Response Structure").

use bytes::{BufMut, Bytes, BytesMut};
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
    // Read into uninitialised capacity, never past the frame: zeroing the buffer first
    // was a measurable part of a simulated run (issue #17), and a hostile length costs
    // untouched address space only.
    let length = length as usize;
    let mut body = BytesMut::with_capacity(length);
    while body.len() < length {
        let wanted = length - body.len();
        if reader.read_buf(&mut (&mut body).limit(wanted)).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(Some(body.freeze()))
}

/// Writes a frame that already carries its length prefix (`codec::*_frame`) and flushes
/// it: one write, as `write_frame` makes.
pub async fn write_framed<W: AsyncWrite + Unpin>(
    writer: &mut W,
    framed: &[u8],
) -> std::io::Result<()> {
    debug_assert_eq!(
        framed.len().checked_sub(4).map(|body| body as i32),
        framed
            .get(..4)
            .map(|p| i32::from_be_bytes(p.try_into().expect("4 bytes")))
    );
    writer.write_all(framed).await?;
    writer.flush().await
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

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

    use super::*;

    /// Hands out at most three bytes per read, as a stream cut into small segments does.
    struct Trickle(Vec<u8>);

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let n = self.0.len().min(3).min(buf.remaining());
            buf.put_slice(&self.0[..n]);
            self.0.drain(..n);
            Poll::Ready(Ok(()))
        }
    }

    /// Frames back to back, read in pieces, come out whole and never run into the next;
    /// a stream that ends inside a frame is an error, between frames a clean end.
    #[tokio::test]
    async fn frames_read_in_pieces_stop_at_their_length() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"first frame").await.unwrap();
        write_frame(&mut wire, b"").await.unwrap();
        write_frame(&mut wire, b"second").await.unwrap();
        let mut reader = Trickle(wire.clone());
        assert_eq!(
            read_frame(&mut reader).await.unwrap().unwrap(),
            &b"first frame"[..]
        );
        assert_eq!(read_frame(&mut reader).await.unwrap().unwrap(), &b""[..]);
        assert_eq!(
            read_frame(&mut reader).await.unwrap().unwrap(),
            &b"second"[..]
        );
        assert!(read_frame(&mut reader).await.unwrap().is_none());

        let mut cut = Trickle(wire[..wire.len() - 2].to_vec());
        read_frame(&mut cut).await.unwrap();
        read_frame(&mut cut).await.unwrap();
        let error = read_frame(&mut cut).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
