//! Decompressing a batch's records with a ceiling, so that a small hostile batch (a
//! "decompression bomb", or a snappy block declaring a 4 GiB length) cannot make a broker
//! or client allocate without bound.
//!
//! The codecs are Kafka's (Kafka protocol guide, "Record Batch" attributes): gzip, snappy
//! in xerial's framing as the Java client writes it (raw snappy accepted too, as the Java
//! `SnappyInputStream` does), LZ4 frames, and zstd — through the same crates the
//! `kafka-protocol` codecs use, read through `Read::take` so that output stops at the cap.

use std::cell::RefCell;
use std::io::{Read, Write};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Snappy};
use kafka_protocol::records::Compression;

use crate::records::CorruptRecords;

/// The most bytes one batch's records may decompress to (64 MiB). Kafka bounds batches by
/// their compressed size (`message.max.bytes`, 1 MiB by default); this bounds what a
/// batch may expand to, far above any ratio real records reach at that size.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// zstd's level in `kafka-protocol`'s codec (and librdkafka's default), kept so that a batch
/// compressed here has the same bytes as one compressed there.
const ZSTD_LEVEL: i32 = 3;

thread_local! {
    /// One zstd compression and one decompression context per thread, reused for every
    /// batch: creating a context allocates and clears hundreds of KiB, which made up a
    /// third of a compressed-batch scenario's CPU time (`perf`, 2026-12-02). A reused
    /// context is reset per frame, so the output is the same as with a fresh one.
    static ZSTD_CONTEXTS: RefCell<(zstd::zstd_safe::CCtx<'static>, zstd::zstd_safe::DCtx<'static>)> =
        RefCell::new({
            let mut compress = zstd::zstd_safe::CCtx::create();
            compress
                .set_parameter(zstd::zstd_safe::CParameter::CompressionLevel(ZSTD_LEVEL))
                .expect("zstd accepts level 3");
            (compress, zstd::zstd_safe::DCtx::create())
        });
}

/// Compresses a batch's records section (`plain`) onto `out` with Kafka's codec
/// `compression`: the bytes `kafka-protocol`'s own codecs write (for zstd and lz4 the same
/// streams through reused contexts).
pub fn compress(plain: &[u8], out: &mut BytesMut, compression: Compression) -> anyhow::Result<()> {
    let fill = |tmp: &mut BytesMut| {
        tmp.extend_from_slice(plain);
        Ok(())
    };
    match compression {
        Compression::None => out.extend_from_slice(plain),
        Compression::Gzip => Gzip::compress(out, fill)?,
        Compression::Snappy => Snappy::compress(out, fill)?,
        Compression::Lz4 => crate::lz4_frame::compress(plain, out)?,
        Compression::Zstd => ZSTD_CONTEXTS.with_borrow_mut(|(context, _)| {
            let mut encoder = zstd::stream::write::Encoder::with_context(out.writer(), context);
            encoder.write_all(plain)?;
            encoder.finish().map(|_| ())
        })?,
    }
    Ok(())
}

/// xerial snappy's stream header (snappy-java `SnappyOutputStream`).
const XERIAL_MAGIC: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

/// The records section of a batch, decompressed, at most `cap` bytes.
pub fn decompress(
    records: &[u8],
    compression: Compression,
    cap: usize,
) -> Result<Bytes, CorruptRecords> {
    let out = match compression {
        Compression::None => records.to_vec(),
        // The `bufread` decoder reads the slice in place (the `read` one copies it through
        // a zeroed 32 KiB buffer of its own, per batch).
        Compression::Gzip => read_capped(flate2::bufread::MultiGzDecoder::new(records), cap)?,
        Compression::Lz4 => crate::lz4_frame::decompress(records, cap).map_err(corrupt("lz4"))?,
        Compression::Zstd => ZSTD_CONTEXTS.with_borrow_mut(|(_, context)| {
            read_capped(
                zstd::stream::read::Decoder::with_context(records, context),
                cap,
            )
        })?,
        Compression::Snappy => snappy(records, cap)?,
    };
    if out.len() > cap {
        return Err(too_large(cap));
    }
    Ok(Bytes::from(out))
}

/// Reads `reader` to its end, failing once it yields more than `cap` bytes.
fn read_capped(reader: impl Read, cap: usize) -> Result<Vec<u8>, CorruptRecords> {
    let mut out = Vec::new();
    reader
        .take(cap as u64 + 1)
        .read_to_end(&mut out)
        .map_err(corrupt("decompression"))?;
    if out.len() > cap {
        return Err(too_large(cap));
    }
    Ok(out)
}

/// Snappy: xerial blocks (`[u32 length][raw snappy block]`…) after the magic header, or
/// one raw snappy block. Each block's declared length is checked before allocating.
fn snappy(records: &[u8], cap: usize) -> Result<Vec<u8>, CorruptRecords> {
    let Some(mut rest) = records.strip_prefix(&XERIAL_MAGIC[..]) else {
        let mut out = Vec::new();
        snappy_block(records, cap, &mut out)?;
        return Ok(out);
    };
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(CorruptRecords("truncated snappy block length".into()));
        }
        let length = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let block = rest
            .get(4..4 + length)
            .ok_or_else(|| CorruptRecords("truncated snappy block".into()))?;
        snappy_block(block, cap, &mut out)?;
        rest = &rest[4 + length..];
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, refusing to grow `out` past `cap`.
fn snappy_block(block: &[u8], cap: usize, out: &mut Vec<u8>) -> Result<(), CorruptRecords> {
    let length = snap::raw::decompress_len(block).map_err(corrupt("snappy"))?;
    if out.len() + length > cap {
        return Err(too_large(cap));
    }
    let start = out.len();
    out.resize(start + length, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(corrupt("snappy"))?;
    Ok(())
}

fn corrupt<E: std::fmt::Display>(codec: &'static str) -> impl Fn(E) -> CorruptRecords {
    move |e| CorruptRecords(format!("{codec}: {e}"))
}

fn too_large(cap: usize) -> CorruptRecords {
    CorruptRecords(format!("records decompress to more than {cap} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

    fn compressed(compression: Compression, plain: &[u8]) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        let fill = |buf: &mut bytes::BytesMut| {
            buf.extend_from_slice(plain);
            Ok(())
        };
        match compression {
            Compression::None => out.extend_from_slice(plain),
            Compression::Gzip => Gzip::compress(&mut out, fill).unwrap(),
            Compression::Snappy => Snappy::compress(&mut out, fill).unwrap(),
            Compression::Lz4 => Lz4::compress(&mut out, fill).unwrap(),
            Compression::Zstd => Zstd::compress(&mut out, fill).unwrap(),
        }
        out.to_vec()
    }

    /// `compress` writes the bytes `kafka-protocol`'s codecs write, batch after batch on
    /// one thread (the reused zstd and lz4 contexts start every frame afresh, whatever
    /// the frame before them held: small after large, several 64 KiB lz4 blocks,
    /// incompressible, empty), and they decompress back to the records.
    #[test]
    fn compress_matches_kafka_protocol_and_round_trips() {
        let mut plains: Vec<Vec<u8>> = (0..4u8)
            .map(|i| {
                (0..3_000u32)
                    .map(|n| (n % (7 + i as u32)) as u8 ^ i)
                    .collect()
            })
            .collect();
        plains.push((0..200_000u32).map(|n| (n / 97 % 251) as u8).collect());
        let mut x = 0x2545_f491_4f6c_dd1du64;
        plains.push(
            (0..100_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect(),
        );
        plains.push(Vec::new());
        let backwards: Vec<Vec<u8>> = plains.iter().rev().cloned().collect();
        plains.extend(backwards);
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            for plain in &plains {
                let mut ours = bytes::BytesMut::new();
                compress(plain, &mut ours, compression).unwrap();
                assert_eq!(
                    ours.to_vec(),
                    compressed(compression, plain),
                    "{compression:?}"
                );
                let back = decompress(&ours, compression, MAX_DECOMPRESSED_BYTES).unwrap();
                assert_eq!(&back[..], &plain[..], "{compression:?}");
            }
        }
    }

    /// A megabyte of zeros compresses to a few kilobytes; under a 64 KiB cap every codec
    /// refuses it, and under a cap that fits it every codec returns it whole.
    #[test]
    fn every_codec_stops_at_the_cap() {
        let plain = vec![0u8; 1 << 20];
        for compression in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let bytes = compressed(compression, &plain);
            assert!(bytes.len() < plain.len() / 10, "{compression:?}");
            assert!(
                decompress(&bytes, compression, 64 << 10).is_err(),
                "{compression:?}"
            );
            let back = decompress(&bytes, compression, 2 << 20).unwrap();
            assert_eq!(back.len(), plain.len(), "{compression:?}");
        }
    }

    /// A raw snappy block declaring a 4 GiB length is refused before any allocation.
    #[test]
    fn a_snappy_length_beyond_the_cap_is_refused_up_front() {
        let mut block = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
        block.extend_from_slice(&[0; 8]);
        assert!(decompress(&block, Compression::Snappy, MAX_DECOMPRESSED_BYTES).is_err());
    }
}
