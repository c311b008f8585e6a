//! The version order of each partition: every (offset, value) pair any op vouched for,
//! sorted by offset, with dense indices that skip the holes.
//!
//! Jepsen `tests/kafka.clj` `version-orders`: offsets come from sends that must have
//! committed and from *all* polls (a Kafka consumer must return safe data whatever the fate
//! of its op). Offsets may have gaps (transaction markers), so order is judged on the
//! *index* — the rank of an offset among the offsets ever seen — never on raw offsets.

use crate::history::{Offset, Value};

use super::facts::{LogFacts, SendFact};

/// One (offset, value) pair as first vouched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Where in the partition.
    pub offset: Offset,
    /// What was there.
    pub value: Value,
    /// The value's dense id within its key.
    pub local: u32,
    /// The first op (dense id) that reported this pair, for evidence.
    pub op: u32,
}

/// The first and last dense index a value was seen at; they differ only for duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Lowest index (Jepsen `log->value->first-index`).
    pub first: u32,
    /// Highest index (Jepsen `log->last-index->values`).
    pub last: u32,
}

/// One partition's version order.
#[derive(Debug, Default)]
pub(crate) struct VersionOrder {
    /// Distinct pairs sorted by (offset, value).
    pub entries: Vec<Entry>,
    /// Distinct offsets, ascending; a position here is a dense index.
    pub offsets: Vec<Offset>,
    /// Where each index's entries start in `entries` (one extra at the end).
    starts: Vec<u32>,
    /// Each value's span of indices, by the value's dense id; `first == u32::MAX` for a
    /// value no op placed in this order (sent but never acknowledged nor read).
    spans: Vec<Span>,
}

/// A span slot no entry filled.
const NO_SPAN: Span = Span {
    first: u32::MAX,
    last: u32::MAX,
};

impl VersionOrder {
    /// The version-order position of a send: its acknowledged offset when it certainly
    /// took effect, else wherever a poll saw its value (Jepsen looks values up in
    /// `:by-value`; an acknowledged offset is the same fact, known without a reader).
    pub fn send_index(&self, facts: &LogFacts, send: &SendFact) -> Option<u32> {
        let acknowledged = send
            .offset
            .filter(|_| facts.committed(send.op))
            .and_then(|offset| self.index_of_offset(offset));
        acknowledged.or_else(|| self.span(send.local).map(|span| span.first))
    }

    /// Builds one version order per dense key id.
    pub fn build_all(facts: &LogFacts) -> Vec<VersionOrder> {
        // Count first so each key's entries are allocated once, at their final size.
        let mut sizes = vec![0usize; facts.keys.len()];
        for send in &facts.sends {
            sizes[send.key as usize] += usize::from(send.offset.is_some());
        }
        for read in &facts.reads {
            sizes[read.key as usize] += 1;
        }
        let mut raw: Vec<Vec<Entry>> = sizes.iter().map(|&n| Vec::with_capacity(n)).collect();
        for send in &facts.sends {
            if let Some(offset) = send.offset {
                if facts.committed(send.op) {
                    raw[send.key as usize].push(Entry {
                        offset,
                        value: send.value,
                        local: send.local,
                        op: send.op,
                    });
                }
            }
        }
        for read in &facts.reads {
            raw[read.key as usize].push(Entry {
                offset: read.offset,
                value: read.value,
                local: read.local,
                op: read.op,
            });
        }
        raw.into_iter()
            .zip(&facts.values)
            .map(|(entries, values)| VersionOrder::from_entries(entries, values.ids.len()))
            .collect()
    }

    /// Builds one order from its entries; `values` is the number of dense value ids.
    fn from_entries(mut entries: Vec<Entry>, values: usize) -> VersionOrder {
        // Sorting by op too keeps, for each pair, the earliest op that reported it.
        sort_entries(&mut entries);
        entries.dedup_by_key(|e| (e.offset, e.value));
        let mut offsets = Vec::new();
        let mut starts = Vec::new();
        let mut spans = vec![NO_SPAN; values];
        for (at, entry) in entries.iter().enumerate() {
            if offsets.last() != Some(&entry.offset) {
                offsets.push(entry.offset);
                starts.push(at as u32);
            }
            let index = (offsets.len() - 1) as u32;
            let span = &mut spans[entry.local as usize];
            if span.first == u32::MAX {
                *span = Span {
                    first: index,
                    last: index,
                };
            } else {
                span.last = index;
            }
        }
        starts.push(entries.len() as u32);
        VersionOrder {
            entries,
            offsets,
            starts,
            spans,
        }
    }

    /// The dense index of an offset, if any op vouched for it.
    #[inline]
    pub fn index_of_offset(&self, offset: Offset) -> Option<u32> {
        // Offsets are nearly always gapless from the first one seen, so the index is
        // usually `offset - first`: one probe instead of a binary search over a table too
        // large for the cache. Gaps (transaction markers, holes) fall back to the search.
        let first = *self.offsets.first()?;
        if let Ok(guess) = usize::try_from(offset - first) {
            if self.offsets.get(guess) == Some(&offset) {
                return Some(guess as u32);
            }
        }
        self.offsets.binary_search(&offset).ok().map(|i| i as u32)
    }

    /// Where the value with dense id `local` sits, if it is in the order.
    #[inline]
    pub fn span(&self, local: u32) -> Option<Span> {
        self.spans
            .get(local as usize)
            .copied()
            .filter(|span| span.first != u32::MAX)
    }

    /// The entries at one dense index (more than one means inconsistent offsets).
    pub fn at_index(&self, index: u32) -> &[Entry] {
        let index = index as usize;
        &self.entries[self.starts[index] as usize..self.starts[index + 1] as usize]
    }

    /// Number of dense indices.
    pub fn len(&self) -> u32 {
        self.offsets.len() as u32
    }

    /// Values at indices strictly between two indices, for "skipped over" evidence;
    /// at most `limit` of them.
    pub fn values_between(&self, low: u32, high: u32, limit: usize) -> Vec<Value> {
        ((low + 1)..high)
            .flat_map(|index| self.at_index(index).iter().map(|e| e.value))
            .take(limit)
            .collect()
    }
}

/// Sorts by (offset, value, op). Offsets of a partition are nearly always a dense range
/// seen several times over (the acknowledged send, then every consumer's read), so a
/// counting sort on the offset — one pass to count, one to place — replaces a comparison
/// sort of millions of entries; each offset's handful of entries is then ordered by
/// (value, op). Sparse offsets fall back to the comparison sort.
fn sort_entries(entries: &mut Vec<Entry>) {
    let (Some(low), Some(high)) = (
        entries.iter().map(|e| e.offset).min(),
        entries.iter().map(|e| e.offset).max(),
    ) else {
        return;
    };
    let span = usize::try_from(high.abs_diff(low)).unwrap_or(usize::MAX);
    if span >= 2 * entries.len() + 1_024 {
        entries.sort_unstable_by_key(|e| (e.offset, e.value, e.op));
        return;
    }
    let slot = |e: &Entry| (e.offset - low) as usize;
    let mut starts = vec![0u32; span + 2];
    for entry in entries.iter() {
        starts[slot(entry) + 1] += 1;
    }
    for at in 1..starts.len() {
        starts[at] += starts[at - 1];
    }
    let mut sorted = vec![entries[0]; entries.len()];
    let mut next = starts.clone();
    for entry in entries.iter() {
        let at = &mut next[slot(entry)];
        sorted[*at as usize] = *entry;
        *at += 1;
    }
    for window in starts.windows(2) {
        let bucket = &mut sorted[window[0] as usize..window[1] as usize];
        if bucket.len() > 1 {
            bucket.sort_unstable_by_key(|e| (e.value, e.op));
        }
    }
    *entries = sorted;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values are small in these tests, so a value is its own dense id.
    fn entry(offset: Offset, value: Value, op: u32) -> Entry {
        Entry {
            offset,
            value,
            local: value as u32,
            op,
        }
    }

    #[test]
    fn holes_do_not_take_an_index() {
        let order = VersionOrder::from_entries(
            vec![
                entry(10, 3, 2),
                entry(0, 1, 0),
                entry(4, 2, 1),
                entry(4, 2, 5),
            ],
            4,
        );
        assert_eq!(order.offsets, vec![0, 4, 10]);
        assert_eq!(order.index_of_offset(10), Some(2));
        assert_eq!(order.index_of_offset(5), None);
        assert_eq!(order.at_index(1), &[entry(4, 2, 1)]);
    }

    #[test]
    fn a_duplicate_spans_two_indices() {
        let order =
            VersionOrder::from_entries(vec![entry(0, 7, 0), entry(1, 8, 0), entry(2, 7, 1)], 9);
        assert_eq!(order.span(7), Some(Span { first: 0, last: 2 }));
        assert_eq!(order.values_between(0, 2, 8), vec![8]);
    }

    #[test]
    fn the_counting_sort_agrees_with_a_comparison_sort() {
        let mut entries: Vec<Entry> = (0..500u32)
            .map(|i| entry(i64::from((i * 7919) % 97), u64::from(i % 5), i % 13))
            .collect();
        let mut expected = entries.clone();
        expected.sort_unstable_by_key(|e| (e.offset, e.value, e.op));
        sort_entries(&mut entries);
        let keys =
            |v: &[Entry]| -> Vec<_> { v.iter().map(|e| (e.offset, e.value, e.op)).collect() };
        assert_eq!(keys(&entries), keys(&expected));
        let mut sparse = vec![entry(1 << 40, 1, 0), entry(-5, 2, 1), entry(3, 3, 2)];
        sort_entries(&mut sparse);
        assert_eq!(sparse[0].offset, -5);
        assert_eq!(sparse[2].offset, 1 << 40);
    }

    #[test]
    fn two_values_at_one_offset_share_an_index() {
        let order = VersionOrder::from_entries(vec![entry(3, 1, 0), entry(3, 2, 1)], 3);
        assert_eq!(order.len(), 1);
        assert_eq!(order.at_index(0).len(), 2);
    }
}
