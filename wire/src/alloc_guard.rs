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
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { Small.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_lazy(layout) {
            // SAFETY: anonymous mappings are zero-filled.
            unsafe { map(layout.size()) }
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
