//! A guard against decoders that trust a length field with memory.
//!
//! `kafka-protocol` 0.18 decodes an array length straight into `Vec::with_capacity`, and a
//! record's header count into `IndexMap::with_capacity`: a 5-byte body can ask for
//! ~150 GB. Failing that allocation aborts the process — not a panic anyone can catch —
//! and frame-size limits do not help, since the count is read, not the data. Validating
//! every request and response against Kafka's schemas would mean re-deriving them all.
//!
//! Instead, processes that decode untrusted bytes (`faultline serve`, `faultline certify`,
//! the fuzz tests) install this allocator. It hands any allocation of 1 GiB or more
//! out as lazily-committed, unreserved virtual memory (`mmap` with `MAP_NORESERVE`): a
//! hostile capacity costs address space only, because a decoder can only write as many
//! elements as the frame holds bytes before it runs out of input and fails with an
//! ordinary error, and the vector is then freed (`munmap`). Everything smaller goes to
//! mimalloc: a simulation allocates and frees a small buffer for nearly every frame it
//! encodes or decodes, and glibc's malloc/free were ~13% of a run's profile (issue #17).

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc as Small;

/// Allocations at least this large are mapped lazily.
pub const LAZY_THRESHOLD: usize = 1 << 30;

/// The allocator; install it with `#[global_allocator]`.
pub struct GuardedAllocator;

fn is_lazy(layout: Layout) -> bool {
    layout.size() >= LAZY_THRESHOLD && layout.align() <= 4096
}

/// Alignment every `mi_malloc` block has when its size is at least this (mimalloc's
/// `MI_MAX_ALIGN_SIZE`, the `max_align_t` of x86-64 and aarch64).
const PLAIN_ALIGN: usize = 16;

/// Whether `mi_malloc`'s blocks are aligned enough for `layout` as they are: the rule
/// std's `System` allocator applies to `malloc` (`align <= MIN_ALIGN && align <= size`).
/// Nearly every allocation qualifies, and `mi_malloc` is the allocator's shortest path;
/// `mi_malloc_aligned`, which the `mimalloc` crate calls for all of them, checks the
/// alignment again on every call (~2% of a simulated run's instructions, issue #17).
fn is_plain(layout: Layout) -> bool {
    layout.align() <= PLAIN_ALIGN && layout.align() <= layout.size()
}

unsafe fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping with no address hint has no preconditions.
    let pointer = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if pointer == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        pointer.cast()
    }
}

unsafe impl GlobalAlloc for GuardedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_lazy(layout) {
            // SAFETY: see `map`.
            unsafe { map(layout.size()) }
        } else if is_plain(layout) {
            // SAFETY: `mi_malloc` has no preconditions; see `is_plain` for alignment.
            unsafe { libmimalloc_sys::mi_malloc(layout.size()).cast() }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { Small.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_lazy(layout) {
            // SAFETY: anonymous mappings are zero-filled.
            unsafe { map(layout.size()) }
        } else if is_plain(layout) {
            // SAFETY: as `alloc`'s.
            unsafe { libmimalloc_sys::mi_zalloc(layout.size()).cast() }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { Small.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        if is_lazy(layout) {
            // SAFETY: `pointer` came from `map` with this size.
            unsafe { libc::munmap(pointer.cast(), layout.size()) };
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { Small.dealloc(pointer, layout) }
        }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = match Layout::from_size_align(new_size, layout.align()) {
            Ok(l) => l,
            Err(_) => return std::ptr::null_mut(),
        };
        if !is_lazy(layout) && !is_lazy(new_layout) {
            if is_plain(layout) && is_plain(new_layout) {
                // SAFETY: `pointer` came from mimalloc (its layout is not lazy); the new
                // block is aligned as `is_plain` says.
                return unsafe { libmimalloc_sys::mi_realloc(pointer.cast(), new_size).cast() };
            }
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { Small.realloc(pointer, layout, new_size) };
        }
        // SAFETY: a fresh block of the new layout, then a copy of the smaller size.
        unsafe {
            let fresh = self.alloc(new_layout);
            if !fresh.is_null() {
                std::ptr::copy_nonoverlapping(pointer, fresh, layout.size().min(new_size));
                self.dealloc(pointer, layout);
            }
            fresh
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every block is aligned as its layout asks, through each path (`mi_malloc`,
    /// `mi_zalloc`, `mi_realloc`, the aligned calls), and keeps its
    /// contents when it grows or moves between paths.
    #[test]
    fn blocks_are_aligned_as_asked_on_every_path() {
        let shapes = [
            (1, 1),
            (8, 8),
            (12, 4),
            (16, 16),
            (24, 8),
            (48, 16),
            (8, 16),
            (64, 32),
            (100, 64),
            (4096, 4096),
            (70_000, 16),
        ];
        for (size, align) in shapes {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: nonzero sizes; every block is freed with its layout.
            unsafe {
                let zeroed = GuardedAllocator.alloc_zeroed(layout);
                assert_eq!(zeroed as usize % align, 0, "zeroed {size}/{align}");
                assert!(std::slice::from_raw_parts(zeroed, size)
                    .iter()
                    .all(|b| *b == 0));
                GuardedAllocator.dealloc(zeroed, layout);

                let mut block = GuardedAllocator.alloc(layout);
                assert_eq!(block as usize % align, 0, "{size}/{align}");
                for i in 0..size {
                    *block.add(i) = i as u8;
                }
                for grown in [size * 3, size + 1, 200_000] {
                    let moved = GuardedAllocator.realloc(block, layout, grown);
                    assert_eq!(moved as usize % align, 0, "{size}/{align} -> {grown}");
                    for i in 0..size {
                        assert_eq!(*moved.add(i), i as u8, "kept across realloc");
                    }
                    let grown_layout = Layout::from_size_align(grown, align).unwrap();
                    block = GuardedAllocator.realloc(moved, grown_layout, size);
                    assert_eq!(block as usize % align, 0, "{size}/{align} <- {grown}");
                    for i in 0..size {
                        assert_eq!(*block.add(i), i as u8, "kept across the shrink");
                    }
                }
                GuardedAllocator.dealloc(block, layout);
            }
        }
    }

    /// A lazily mapped block is plain by alignment too, and goes back through `munmap`
    /// and a fresh block when it shrinks or grows, never to mimalloc: a hostile capacity
    /// that a decoder's vector then shrinks to what it holds.
    #[test]
    fn a_lazy_block_moves_out_of_its_mapping_whatever_its_alignment() {
        let layout = Layout::from_size_align(LAZY_THRESHOLD, 8).unwrap();
        assert!(is_lazy(layout) && is_plain(layout));
        // SAFETY: the mapping is freed with its layout; the small block with its own.
        unsafe {
            let block = GuardedAllocator.alloc(layout);
            assert!(!block.is_null());
            for i in 0..64 {
                *block.add(i) = i as u8;
            }
            let small = GuardedAllocator.realloc(block, layout, 64);
            for i in 0..64 {
                assert_eq!(*small.add(i), i as u8, "kept when moved out of the mapping");
            }
            let small_layout = Layout::from_size_align(64, 8).unwrap();
            let large = GuardedAllocator.realloc(small, small_layout, LAZY_THRESHOLD);
            assert_eq!(*large.add(63), 63, "kept when moved into a mapping");
            GuardedAllocator.dealloc(large, layout);
        }
    }

    /// The rule for the plain path is std's for `malloc`.
    #[test]
    fn the_plain_path_takes_small_alignments_of_blocks_at_least_as_large() {
        let plain = |size, align| is_plain(Layout::from_size_align(size, align).unwrap());
        assert!(plain(1, 1));
        assert!(plain(16, 16));
        assert!(plain(1 << 20, 8));
        assert!(!plain(8, 16), "a block smaller than its alignment");
        assert!(!plain(64, 32), "past max_align_t");
    }
}
