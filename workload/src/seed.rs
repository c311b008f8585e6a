//! One `u64` seed, many independent named random streams.
//!
//! Each consumer of randomness (turmoil, the nemesis, each client) gets its own ChaCha8
//! stream selected by a hash of its name, so adding a client or removing a fault does not
//! shift anyone else's draws (TigerBeetle's PRNG discipline; madsim's per-node rngs).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// FNV-1a, 64-bit: stable across platforms and Rust releases, unlike `DefaultHasher`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
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
