//! Dense per-partition ids for record values, so every later lookup is an array index.
//!
//! Jepsen's queue workload writes values 1, 2, 3, … per key (jepsen-io/jepsen
//! `tests/kafka.clj`, `:value` from a per-key counter), so values are nearly always small
//! and dense: a direct table indexed by value answers without hashing and with the
//! locality of the history's own order. Values far outside that range (a converted
//! history with random ids) fall back to a hash map; the table never grows beyond about
//! twice the number of distinct values, so a hostile value cannot blow up memory. Ids are
//! handed out in first-seen order, so they depend only on the history.

use crate::fast_hash::FastMap;
use crate::history::Value;

/// No id in a direct slot.
const NONE: u32 = u32::MAX;

/// Slack below which a value is kept in the direct table even when ids are few.
const DIRECT_SLACK: usize = 4_096;

/// Value → dense id for one partition.
#[derive(Debug, Default, Clone)]
pub(crate) struct ValueIds {
    /// Id of value `v` at `direct[v]`, or [`NONE`].
    direct: Vec<u32>,
    /// Ids of values too large for the direct table.
    sparse: FastMap<Value, u32>,
    /// The value of each id.
    values: Vec<Value>,
}

impl ValueIds {
    /// The id of `value`, if it was interned.
    #[inline]
    pub fn get(&self, value: Value) -> Option<u32> {
        if let Some(&id) = usize::try_from(value)
            .ok()
            .and_then(|slot| self.direct.get(slot))
        {
            if id != NONE {
                return Some(id);
            }
        }
        self.sparse.get(&value).copied()
    }

    /// The id of `value`, handing out the next one on first sight.
    #[inline]
    pub fn intern(&mut self, value: Value) -> u32 {
        if let Some(id) = self.get(value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value);
        let limit = 2 * self.values.len() + DIRECT_SLACK;
        match usize::try_from(value) {
            Ok(slot) if slot < limit.max(self.direct.len()) => {
                if slot >= self.direct.len() {
                    self.direct.resize(slot + 1, NONE);
                }
                self.direct[slot] = id;
            }
            _ => {
                self.sparse.insert(value, id);
            }
        }
        id
    }

    /// Number of distinct values.
    pub fn len(&self) -> usize {
        self.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_huge_values_get_first_seen_ids() {
        let mut ids = ValueIds::default();
        assert_eq!(ids.intern(3), 0);
        assert_eq!(ids.intern(u64::MAX), 1);
        assert_eq!(ids.intern(1), 2);
        assert_eq!(ids.intern(3), 0);
        assert_eq!(ids.get(u64::MAX), Some(1));
        assert_eq!(ids.get(2), None);
        assert_eq!(ids.len(), 3);
    }

    #[test]
    fn a_value_kept_sparse_is_still_found_once_the_table_covers_it() {
        let mut ids = ValueIds::default();
        let far = (DIRECT_SLACK * 4) as u64;
        assert_eq!(ids.intern(far), 0);
        for value in 0..far + 10 {
            if value != far {
                ids.intern(value);
            }
        }
        assert_eq!(ids.get(far), Some(0));
        assert_eq!(ids.intern(far), 0);
    }
}
