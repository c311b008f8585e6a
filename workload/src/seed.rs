//! One `u64` seed, many independent named random streams.
//!
//! Each consumer of randomness (turmoil, the nemesis, each client) gets its own ChaCha8
//! stream selected by a hash of its name, so adding a client or removing a fault does not
//! shift anyone else's draws (TigerBeetle's PRNG discipline; madsim's per-node rngs).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// FNV-1a, 64-bit: stable across platforms and Rust releases, unlike `DefaultHasher`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = Fnv1a::default();
    std::io::Write::write_all(&mut hash, bytes).expect("hashing cannot fail");
    hash.finish()
}

/// FNV-1a over everything written to it: `fnv1a` of the concatenation, without holding it.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    /// The hash of the bytes written so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl std::io::Write for Fnv1a {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The random stream called `name` of run `seed`.
pub fn stream(seed: u64, name: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(fnv1a(name.as_bytes()));
    rng
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streamed_hash_is_the_hash_of_the_concatenation() {
        use std::io::Write;
        let mut hash = Fnv1a::default();
        hash.write_all(b"abc").unwrap();
        hash.write_all(b"").unwrap();
        hash.write_all(b"def\n").unwrap();
        assert_eq!(hash.finish(), fnv1a(b"abcdef\n"));
        // The published FNV-1a 64 test vector for "a".
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a: u64 = stream(7, "nemesis").random();
        let b: u64 = stream(7, "nemesis").random();
        let c: u64 = stream(7, "producer-0").random();
        let d: u64 = stream(8, "nemesis").random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
