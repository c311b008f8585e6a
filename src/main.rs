//! The faultline command line: the only part of faultline that prints.
//!
//! Exit codes: 0 every check held, 1 an anomaly was found, 2 bad usage or input,
//! 3 inconclusive (a checker ran out of budget, or a simulation could not finish).

mod cli;
mod cluster;

/// `serve` and `certify` decode bytes from the network; `kafka-protocol` trusts their
/// length fields with memory, so huge allocations are mapped lazily instead of aborting.
#[global_allocator]
static ALLOCATOR: faultline_wire::alloc_guard::GuardedAllocator =
    faultline_wire::alloc_guard::GuardedAllocator;

fn main() {
    let code = cli::main();
    std::process::exit(code);
}
