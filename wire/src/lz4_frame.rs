//! Kafka's LZ4 codec (Kafka protocol guide, "Record Batch" attributes: an LZ4 frame), with
//! one compression and one decompression context per thread, reused for every batch.

use std::cell::RefCell;

use bytes::BytesMut;

/// Kafka's LZ4 codec as `kafka-protocol` configures it (`compression/lz4.rs`): an LZ4 frame
/// at level 4 (LZ4 HC), independent 64 KiB blocks, block and content checksums.
const LZ4_LEVEL: u32 = 4;

/// An LZ4 frame compression context, created once per thread and reused for every batch:
/// `kafka-protocol`'s codec creates one per batch, and at level 4 (HC) each new context
/// clears its hash chains in `LZ4F_compressBegin` (5.7% of an
/// `idempotence-compressed-batches` run, `perf`, 2026-12-02). A reused context is reset
/// with `LZ4_resetStreamHC_fast`, which lz4 documents as equivalent to a fresh one: the
/// frames are byte for byte those of `kafka-protocol`'s codec (tested in `decompress`).
struct Lz4Context(lz4::liblz4::LZ4FCompressionContext);

impl Lz4Context {
    fn new() -> std::io::Result<Self> {
        use lz4::liblz4::*;
        let mut context = LZ4FCompressionContext(std::ptr::null_mut());
        // SAFETY: creates a context into `context`; freed once, by `Drop`.
        check_error(unsafe { LZ4F_createCompressionContext(&mut context, LZ4F_VERSION) })?;
        Ok(Lz4Context(context))
    }

    /// Appends `plain` to `out` as one LZ4 frame.
    fn compress(&mut self, plain: &[u8], out: &mut BytesMut) -> std::io::Result<()> {
        use lz4::liblz4::*;
        let preferences = LZ4FPreferences {
            frame_info: LZ4FFrameInfo {
                block_size_id: BlockSize::Default,
                block_mode: BlockMode::Independent,
                content_checksum_flag: ContentChecksum::ChecksumEnabled,
                content_size: 0,
                frame_type: FrameType::Frame,
                dict_id: 0,
                block_checksum_flag: BlockChecksum::BlockChecksumEnabled,
            },
            compression_level: LZ4_LEVEL,
            auto_flush: 0,
            favor_dec_speed: 0,
            reserved: [0; 3],
        };
        // The frame header (at most 19 bytes), then what an update of all of `plain` and
        // the end may write, each bounded by `LZ4F_compressBound`.
        // SAFETY: a pure function of its arguments.
        let bound = |len: usize| unsafe { LZ4F_compressBound(len as size_t, &preferences) };
        let capacity = 19 + check_error(bound(plain.len()))? + check_error(bound(0))?;
        let start = out.len();
        out.reserve(capacity);
        let spare = out.spare_capacity_mut();
        let dst = spare.as_mut_ptr().cast::<u8>();
        let mut written = 0;
        // SAFETY: every call writes at most the capacity it is given into `dst`, which
        // has `capacity` bytes reserved; `written` counts what they wrote, in order.
        unsafe {
            written += check_error(LZ4F_compressBegin(self.0, dst, capacity, &preferences))?;
            written += check_error(LZ4F_compressUpdate(
                self.0,
                dst.add(written),
                capacity - written,
                plain.as_ptr(),
                plain.len() as size_t,
                std::ptr::null(),
            ))?;
            written += check_error(LZ4F_compressEnd(
                self.0,
                dst.add(written),
                capacity - written,
                std::ptr::null(),
            ))?;
            out.set_len(start + written);
        }
        Ok(())
    }
}

impl Drop for Lz4Context {
    fn drop(&mut self) {
        // SAFETY: created by `new`, freed only here.
        unsafe { lz4::liblz4::LZ4F_freeCompressionContext(self.0) };
    }
}

thread_local! {
    static LZ4_CONTEXT: RefCell<Option<Lz4Context>> = const { RefCell::new(None) };
    static LZ4_DECOMPRESSION: RefCell<Option<Lz4Decompression>> = const { RefCell::new(None) };
}

/// Appends `plain` to `out` as one LZ4 frame, Kafka's codec (see [`Lz4Context`]).
pub fn compress(plain: &[u8], out: &mut BytesMut) -> std::io::Result<()> {
    LZ4_CONTEXT.with_borrow_mut(|context| {
        if context.is_none() {
            *context = Some(Lz4Context::new()?);
        }
        context
            .as_mut()
            .expect("created above")
            .compress(plain, out)
    })
}

/// An LZ4 frame decompression context, created once per thread and reset before every
/// frame. `lz4::Decoder` creates a context and a zeroed 32 KiB input buffer per batch
/// (23% of an `idempotence-compressed-batches` run's instructions went to zeroing them,
/// callgrind, 2026-12-03, though only ~4% of its time); this one decompresses the batch's bytes in place, straight
/// into the output.
struct Lz4Decompression(lz4::liblz4::LZ4FDecompressionContext);

impl Lz4Decompression {
    fn new() -> std::io::Result<Self> {
        use lz4::liblz4::*;
        let mut context = LZ4FDecompressionContext(std::ptr::null_mut());
        // SAFETY: creates a context into `context`; freed once, by `Drop`.
        check_error(unsafe { LZ4F_createDecompressionContext(&mut context, LZ4F_VERSION) })?;
        Ok(Lz4Decompression(context))
    }

    /// The first LZ4 frame of `frame` decompressed, as `lz4::Decoder` read to its end
    /// yields it: bytes after the frame are ignored, and input that ends inside the frame
    /// yields what it decompressed to so far. Stops after `cap + 1` bytes of output.
    fn decompress(&mut self, mut frame: &[u8], cap: usize) -> std::io::Result<Vec<u8>> {
        use lz4::liblz4::*;
        // SAFETY: the context is ours; a reset makes it as new (lz4 1.8+), also after an
        // error left it mid-frame.
        unsafe { LZ4F_resetDecompressionContext(self.0) };
        let mut out: Vec<u8> = Vec::new();
        loop {
            if out.len() > cap {
                // As `Read::take(cap + 1)` would stop: the caller tells it is too large.
                return Ok(out);
            }
            if out.len() == out.capacity() {
                let grow = out.len().max(frame.len() * 4).max(256);
                out.reserve(grow.min(cap + 1 - out.len()));
            }
            let mut written = (out.capacity() - out.len()).min(cap + 1 - out.len());
            let mut read = frame.len();
            // SAFETY: `LZ4F_decompress` reads at most `read` bytes of `frame` and writes at
            // most `written` bytes into the spare capacity after `out.len()`, then sets
            // both to what it did; the written bytes are initialized before `set_len`.
            let hint = check_error(unsafe {
                LZ4F_decompress(
                    self.0,
                    out.as_mut_ptr().add(out.len()),
                    &mut written,
                    frame.as_ptr(),
                    &mut read,
                    std::ptr::null(),
                )
            })?;
            // SAFETY: see above.
            unsafe { out.set_len(out.len() + written) };
            frame = &frame[read..];
            if hint == 0 || (read == 0 && written == 0) {
                // The frame ended, or the input did and nothing more comes out.
                return Ok(out);
            }
        }
    }
}

impl Drop for Lz4Decompression {
    fn drop(&mut self) {
        // SAFETY: created by `new`, freed only here.
        unsafe { lz4::liblz4::LZ4F_freeDecompressionContext(self.0) };
    }
}

/// The first LZ4 frame of `frame`, decompressed; at most `cap + 1` bytes of it (more than
/// `cap` means too large).
pub fn decompress(frame: &[u8], cap: usize) -> std::io::Result<Vec<u8>> {
    LZ4_DECOMPRESSION.with_borrow_mut(|context| {
        if context.is_none() {
            *context = Some(Lz4Decompression::new()?);
        }
        context
            .as_mut()
            .expect("created above")
            .decompress(frame, cap)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::compression::{Compressor, Lz4};
    use std::io::Read;

    /// What `lz4::Decoder` read through `take(cap + 1)` gives, the reader this replaced.
    fn through_decoder(frame: &[u8], cap: usize) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        lz4::Decoder::new(frame)?
            .take(cap as u64 + 1)
            .read_to_end(&mut out)?;
        Ok(out)
    }

    /// Same bytes, or the same error, as `lz4::Decoder` on whole frames, every prefix of
    /// one (a torn batch), frames with bytes after them, corrupted frames and caps below
    /// the size, one context reused throughout.
    #[test]
    fn decompresses_as_the_lz4_decoder_does() {
        let plains: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"one record".to_vec(),
            (0..200_000u32).map(|n| (n % 251) as u8).collect(),
            (0..3_000u32)
                .map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ];
        for plain in &plains {
            let mut frame = BytesMut::new();
            Lz4::compress(&mut frame, |b: &mut BytesMut| {
                b.extend_from_slice(plain);
                Ok(())
            })
            .unwrap();
            let frame = frame.to_vec();
            assert_eq!(decompress(&frame, usize::MAX >> 1).unwrap(), *plain);
            let step = (frame.len() / 60).max(1);
            for cut in (0..frame.len()).step_by(step) {
                let ours = decompress(&frame[..cut], 1 << 20);
                let theirs = through_decoder(&frame[..cut], 1 << 20);
                assert_eq!(
                    ours.as_ref().map_err(|e| e.to_string()),
                    theirs.as_ref().map_err(|e| e.to_string()),
                    "cut at {cut} of {}",
                    frame.len()
                );
            }
            let mut trailing = frame.clone();
            trailing.extend_from_slice(b"after the frame");
            assert_eq!(
                decompress(&trailing, 1 << 20).unwrap(),
                through_decoder(&trailing, 1 << 20).unwrap()
            );
            for at in [4, 7, frame.len() / 2, frame.len().saturating_sub(2)] {
                let mut corrupted = frame.clone();
                if let Some(byte) = corrupted.get_mut(at) {
                    *byte ^= 0x5a;
                }
                assert_eq!(
                    decompress(&corrupted, 1 << 20).map_err(|e| e.to_string()),
                    through_decoder(&corrupted, 1 << 20).map_err(|e| e.to_string()),
                    "corrupted at {at}"
                );
            }
            for cap in [0, 1, plain.len() / 2, plain.len()] {
                assert_eq!(
                    decompress(&frame, cap).unwrap(),
                    through_decoder(&frame, cap).unwrap(),
                    "cap {cap}"
                );
            }
        }
    }
}
