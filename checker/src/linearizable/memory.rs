//! The search's memory budget: every table, arena and stack the searches grow asks here
//! first, so a hard history ends in `unknown` ("memory budget exceeded") instead of a
//! failed allocation that aborts the process (issue 17: exit 134 on 100,000-op histories).
//!
//! One meter is shared by all pieces searched at once, so the budget bounds the sum over
//! threads. It counts the bytes of the growable structures (their capacity, not their
//! length) and, through [`super::SequentialModel::state_heap_bytes`], what states own on
//! the heap; the history itself, read before the check starts, is not counted.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a growth was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfMemory;

/// Bytes in use against a budget, shared by the pieces' searches.
#[derive(Debug)]
pub(crate) struct MemoryMeter {
    /// The most bytes the searches may hold at once.
    budget_bytes: u64,
    /// Bytes held now.
    used_bytes: AtomicU64,
    /// The most bytes held at any time, for the report.
    peak_bytes: AtomicU64,
}

impl MemoryMeter {
    /// A meter with nothing in use.
    pub fn new(budget_bytes: u64) -> MemoryMeter {
        MemoryMeter {
            budget_bytes,
            used_bytes: AtomicU64::new(0),
            peak_bytes: AtomicU64::new(0),
        }
    }

    /// Takes `bytes` from the budget, or refuses without taking anything.
    pub fn acquire(&self, bytes: u64) -> Result<(), OutOfMemory> {
        let mut used = self.used_bytes.load(Ordering::Relaxed);
        loop {
            let wanted = used.checked_add(bytes).ok_or(OutOfMemory)?;
            if wanted > self.budget_bytes {
                return Err(OutOfMemory);
            }
            match self.used_bytes.compare_exchange_weak(
                used,
                wanted,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.peak_bytes.fetch_max(wanted, Ordering::Relaxed);
                    return Ok(());
                }
                Err(now) => used = now,
            }
        }
    }

    /// Gives `bytes` back (a finished search's structures, dropped).
    pub fn release(&self, bytes: u64) {
        self.used_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// The most bytes held at once so far.
    pub fn peak_bytes(&self) -> u64 {
        self.peak_bytes.load(Ordering::Relaxed)
    }
}

/// What one search holds against the meter, given back when it ends.
pub(crate) struct Holding<'a> {
    /// The shared meter.
    meter: &'a MemoryMeter,
    /// Bytes this search acquired and has not released.
    held_bytes: u64,
}

impl<'a> Holding<'a> {
    /// Nothing held yet.
    pub fn new(meter: &'a MemoryMeter) -> Holding<'a> {
        Holding {
            meter,
            held_bytes: 0,
        }
    }

    /// Takes `bytes` more.
    pub fn acquire(&mut self, bytes: u64) -> Result<(), OutOfMemory> {
        self.meter.acquire(bytes)?;
        self.held_bytes += bytes;
        Ok(())
    }

    /// Makes room in `vec` for `additional` more items: accounted first (the capacity at
    /// least doubles, as `Vec` itself would grow), then reserved with `try_reserve_exact`,
    /// so neither the budget nor the allocator can abort the process.
    pub fn reserve<T>(&mut self, vec: &mut Vec<T>, additional: usize) -> Result<(), OutOfMemory> {
        let needed = vec.len().checked_add(additional).ok_or(OutOfMemory)?;
        if needed <= vec.capacity() {
            return Ok(());
        }
        let capacity = needed.max(vec.capacity().saturating_mul(2)).max(16);
        let grown = (capacity - vec.capacity()) as u64 * std::mem::size_of::<T>() as u64;
        self.acquire(grown)?;
        if vec.try_reserve_exact(capacity - vec.len()).is_err() {
            self.release(grown);
            return Err(OutOfMemory);
        }
        // The allocator may round up; what it gave beyond the request is counted too.
        let extra = (vec.capacity() - capacity) as u64 * std::mem::size_of::<T>() as u64;
        if extra > 0 {
            self.acquire(extra)?;
        }
        Ok(())
    }

    /// Gives `bytes` back early (a table replaced by a larger one).
    pub fn release(&mut self, bytes: u64) {
        let bytes = bytes.min(self.held_bytes);
        self.meter.release(bytes);
        self.held_bytes -= bytes;
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.meter.release(self.held_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_never_exceeded_and_is_given_back() {
        let meter = MemoryMeter::new(1_000);
        {
            let mut holding = Holding::new(&meter);
            holding.acquire(600).unwrap();
            assert_eq!(holding.acquire(500), Err(OutOfMemory));
            let mut vec: Vec<u64> = Vec::new();
            holding.reserve(&mut vec, 10).unwrap(); // 16 × 8 = 128 bytes
            assert!(vec.capacity() >= 10);
            assert_eq!(holding.reserve(&mut vec, 100), Err(OutOfMemory));
        }
        assert_eq!(meter.used_bytes.load(Ordering::Relaxed), 0);
        assert!(meter.peak_bytes() >= 728 && meter.peak_bytes() <= 1_000);
    }
}
