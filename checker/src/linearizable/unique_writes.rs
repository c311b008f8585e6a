//! A register whose read values each name one write, decided in O(n log n) without search.
//!
//! Gibbons & Korach, "Testing shared memories" (SIAM J. Comput. 1997): linearizability of
//! a read/write register is NP-complete in general, but polynomial when the reads-from
//! mapping is known, as it is when written values are unique. We follow the zone
//! formulation of Golab, Li & Shah, "Analyzing consistency properties for fun and profit"
//! (PODC 2011, §4), which Jepsen's Knossos `linear` checker and Lowe 2017 (§6) discuss too:
//!
//! - A *cluster* is a value's write and the reads that returned it; the initial value
//!   (nil) is a cluster whose write happened before everything. In any linearization a
//!   cluster is a block: its write, then its reads, before the next write.
//! - Within a cluster a block exists iff no read completed before its write was invoked.
//! - Between clusters, A must precede B iff some op of A completed before some op of B
//!   was invoked, i.e. `f(A) < s(B)` where `f` is a cluster's earliest completion and `s`
//!   its latest invocation. A total order of blocks exists iff this relation has no cycle,
//!   and any cycle contains a pair A, B with `f(A) < s(B)` and `f(B) < s(A)` (take the
//!   cycle's cluster with the least `f`: it must precede every other, including the one
//!   that precedes it). Such a pair is Golab et al.'s "conflicting zones": two forward
//!   zones `[f, s]` that overlap, or a backward zone `[s, f]` inside a forward one. Both are
//!   found by one sort.
//!
//! Crashed (`info`) writes may take effect at any point after their invoke, or never
//! (Knossos `history.clj`): one nobody read is dropped (leaving it out never hurts); one
//! that was read took effect, with its completion at +∞. A value written more than once
//! and read leaves the mapping ambiguous, and compare-and-set chains clusters together:
//! both go to the search (`None`).

use std::collections::BTreeMap;

use super::register::{RegisterInput, RegisterOutput};
use super::{Decision, Operation, Refutation};

/// Instants widened so the initial write (−∞) and crashed completions (+∞) fit.
type Instant = i128;
const MINUS_INFINITY: Instant = i128::MIN / 4;
const PLUS_INFINITY: Instant = i128::MAX / 4;

/// A value's write and reads, by position in the piece; `write` is `None` for nil's.
#[derive(Debug)]
struct Cluster {
    /// The value (None: the initial nil).
    value: Option<i64>,
    /// Its write, if a real op.
    write: Option<usize>,
    /// The reads that returned it.
    reads: Vec<usize>,
    /// Earliest completion among its ops, and which op (None: the initial write).
    first_completion: (Instant, Option<usize>),
    /// Latest invocation among its ops, and which op (None: the initial write).
    last_invocation: (Instant, Option<usize>),
}

/// Decides the piece if every read names one write; `None` sends it to the search.
pub fn decide<I>(
    ops: &[&Operation<I, RegisterOutput>],
    register_input: impl Fn(&I) -> RegisterInput,
) -> Option<Decision> {
    let clusters = match clusters(ops, &register_input)? {
        Ok(clusters) => clusters,
        Err(refutation) => return Some(Decision::NotLinearizable(refutation)),
    };
    let times = |op: usize| {
        let op = ops[op];
        (
            Instant::from(op.invoke),
            op.complete.map_or(PLUS_INFINITY, Instant::from),
        )
    };
    for cluster in &clusters {
        if let Some(refutation) = read_before_write(cluster, &times) {
            return Some(Decision::NotLinearizable(refutation));
        }
    }
    Some(match conflicting_zones(&clusters) {
        None => Decision::Linearizable,
        Some((a, b)) => Decision::NotLinearizable(conflict(&clusters[a], &clusters[b], ops)),
    })
}

/// Groups ops into clusters, or refutes a read of a value nobody wrote; `None` when the
/// mapping is ambiguous or a cas is present.
fn clusters<I>(
    ops: &[&Operation<I, RegisterOutput>],
    register_input: &impl Fn(&I) -> RegisterInput,
) -> Option<Result<Vec<Cluster>, Refutation>> {
    let mut writes: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    let mut reads: BTreeMap<Option<i64>, Vec<usize>> = BTreeMap::new();
    for (at, op) in ops.iter().enumerate() {
        match (register_input(&op.input), &op.output) {
            (RegisterInput::Cas { .. }, _) => return None,
            (RegisterInput::Write(value), _) => writes.entry(value).or_default().push(at),
            (RegisterInput::Read, Some(RegisterOutput::Read(value))) => {
                reads.entry(*value).or_default().push(at)
            }
            // A crashed read constrains nothing.
            (RegisterInput::Read, _) => {}
        }
    }
    let mut clusters = Vec::new();
    for (value, readers) in reads {
        let write = match value {
            None => None,
            Some(value) => match writes.remove(&value).as_deref() {
                None => {
                    let reason = format!("it read {value}, which no write wrote");
                    return Some(Err(Refutation {
                        ops: vec![readers[0]],
                        reason,
                    }));
                }
                Some([write]) => Some(*write),
                Some(_) => return None,
            },
        };
        clusters.push(Cluster::new(value, write, readers, ops));
    }
    // Values nobody read: each completed write is a cluster alone; crashed ones dropped.
    for (value, unread) in writes {
        for write in unread.into_iter().filter(|&w| ops[w].complete.is_some()) {
            clusters.push(Cluster::new(Some(value), Some(write), Vec::new(), ops));
        }
    }
    Some(Ok(clusters))
}

impl Cluster {
    fn new<I, O>(
        value: Option<i64>,
        write: Option<usize>,
        reads: Vec<usize>,
        ops: &[&Operation<I, O>],
    ) -> Cluster {
        // The initial value was written before anything: its cluster starts at −∞. Any
        // other cluster holds a completed op (a write, or a read: crashed reads are gone).
        let mut first_completion = match write {
            None => (MINUS_INFINITY, None),
            Some(_) => (PLUS_INFINITY, None),
        };
        let mut last_invocation = (MINUS_INFINITY, None);
        for at in write.into_iter().chain(reads.iter().copied()) {
            let op = ops[at];
            let complete = op.complete.map_or(PLUS_INFINITY, Instant::from);
            if complete < first_completion.0 {
                first_completion = (complete, Some(at));
            }
            if Instant::from(op.invoke) > last_invocation.0 {
                last_invocation = (Instant::from(op.invoke), Some(at));
            }
        }
        Cluster {
            value,
            write,
            reads,
            first_completion,
            last_invocation,
        }
    }

    fn describe(&self) -> String {
        match self.value {
            Some(value) => format!("{value}"),
            None => "nil (the initial value)".to_string(),
        }
    }

    /// Whether some op of the cluster completed before another began: the cluster must
    /// span `[first_completion, last_invocation]` (Golab et al.'s forward zone).
    fn is_forward(&self) -> bool {
        self.first_completion.0 < self.last_invocation.0
    }
}

/// A read that completed before its value's write was invoked.
fn read_before_write(
    cluster: &Cluster,
    times: &impl Fn(usize) -> (Instant, Instant),
) -> Option<Refutation> {
    let write = cluster.write?;
    let (write_invoke, _) = times(write);
    let read = cluster
        .reads
        .iter()
        .copied()
        .find(|&read| times(read).1 < write_invoke)?;
    Some(Refutation {
        ops: vec![read, write],
        reason: format!(
            "the read returned {} before the write of it was invoked",
            cluster.describe()
        ),
    })
}

/// A pair of clusters each of which must precede the other, if any (positions in
/// `clusters`).
fn conflicting_zones(clusters: &[Cluster]) -> Option<(usize, usize)> {
    let mut forward: Vec<usize> = (0..clusters.len())
        .filter(|&c| clusters[c].is_forward())
        .collect();
    forward.sort_by_key(|&c| clusters[c].first_completion.0);
    // Two forward zones overlap: sorted by start, one starts before an earlier one ends.
    let mut reaching: Option<usize> = None;
    for &c in &forward {
        if let Some(r) = reaching {
            if clusters[c].first_completion.0 < clusters[r].last_invocation.0 {
                return Some((r, c));
            }
        }
        if reaching.is_none_or(|r| clusters[c].last_invocation.0 > clusters[r].last_invocation.0) {
            reaching = Some(c);
        }
    }
    // Forward zones are now disjoint, so sorted by start they are sorted by end too: the
    // only one that can hold a backward zone is the last one starting before it.
    for (b, cluster) in clusters.iter().enumerate() {
        if cluster.is_forward() {
            continue;
        }
        let (start, end) = (cluster.last_invocation.0, cluster.first_completion.0);
        let before = forward.partition_point(|&f| clusters[f].first_completion.0 < start);
        if let Some(&f) = before.checked_sub(1).map(|at| &forward[at]) {
            if clusters[f].last_invocation.0 > end {
                return Some((f, b));
            }
        }
    }
    None
}

/// Evidence for two clusters that must each precede the other.
fn conflict<I, O>(a: &Cluster, b: &Cluster, ops: &[&Operation<I, O>]) -> Refutation {
    let mut cited = Vec::new();
    let name = |at: Option<usize>| {
        at.map_or("the initial write".to_string(), |at| {
            format!("op {} (process {})", ops[at].index, ops[at].process)
        })
    };
    let mut clause = |earlier: &Cluster, later: &Cluster| {
        let (before, after) = (earlier.first_completion.1, later.last_invocation.1);
        cited.extend(before.into_iter().chain(after));
        format!(
            "{} (of value {}) completed before {} (of value {}) began",
            name(before),
            earlier.describe(),
            name(after),
            later.describe()
        )
    };
    let first = clause(a, b);
    let second = clause(b, a);
    cited.sort_unstable();
    cited.dedup();
    Refutation {
        ops: cited,
        reason: format!(
            "the write and reads of {} and those of {} cannot be ordered: {first}, and {second}",
            a.describe(),
            b.describe()
        ),
    }
}
