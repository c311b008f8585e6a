//! Which links are cut, cut one way, held or healthy, when fault windows overlap.
//!
//! turmoil keeps one state per link and `release`/`repair` reset it whole, so healing one
//! window could silently heal another. Each window here adds or removes a reason, and the
//! link is set to what the remaining reasons say: a cut beats a one-way cut, which beats a
//! hold (a paused peer), which beats healthy.

use std::collections::BTreeMap;

/// Reasons per link.
#[derive(Debug, Default)]
pub struct LinkBook {
    /// Two-way cuts per unordered pair.
    cut: BTreeMap<(String, String), u32>,
    /// One-way cuts per (from, to).
    oneway: BTreeMap<(String, String), u32>,
    /// Holds per unordered pair.
    held: BTreeMap<(String, String), u32>,
}

/// What to change on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Both directions dropped.
    Cut,
    /// Messages from the first node to the second dropped.
    OneWay,
    /// Messages queued until release.
    Hold,
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

impl LinkBook {
    fn count(&mut self, reason: Reason, a: &str, b: &str) -> &mut u32 {
        let key = match reason {
            Reason::OneWay => (a.to_string(), b.to_string()),
            Reason::Cut | Reason::Hold => pair(a, b),
        };
        let map = match reason {
            Reason::Cut => &mut self.cut,
            Reason::OneWay => &mut self.oneway,
            Reason::Hold => &mut self.held,
        };
        map.entry(key).or_insert(0)
    }

    /// Adds a reason and sets the link accordingly.
    pub fn add(&mut self, sim: &mut turmoil::Sim<'_>, reason: Reason, a: &str, b: &str) {
        *self.count(reason, a, b) += 1;
        self.settle(sim, a, b);
    }

    /// Removes a reason and sets the link accordingly.
    pub fn remove(&mut self, sim: &mut turmoil::Sim<'_>, reason: Reason, a: &str, b: &str) {
        let count = self.count(reason, a, b);
        *count = count.saturating_sub(1);
        self.settle(sim, a, b);
    }

    /// Whether no window touches the link (message loss only strikes such links).
    pub fn is_clear(&self, a: &str, b: &str) -> bool {
        let key = pair(a, b);
        let zero = |m: &BTreeMap<(String, String), u32>, k: &(String, String)| {
            m.get(k).copied().unwrap_or(0) == 0
        };
        zero(&self.cut, &key)
            && zero(&self.held, &key)
            && zero(&self.oneway, &(a.to_string(), b.to_string()))
            && zero(&self.oneway, &(b.to_string(), a.to_string()))
    }

    fn settle(&mut self, sim: &mut turmoil::Sim<'_>, a: &str, b: &str) {
        let key = pair(a, b);
        let get = |m: &BTreeMap<(String, String), u32>, k: (String, String)| {
            m.get(&k).copied().unwrap_or(0)
        };
        let (x, y) = (key.0.as_str(), key.1.as_str());
        let x_to_y = get(&self.oneway, (x.to_string(), y.to_string()));
        let y_to_x = get(&self.oneway, (y.to_string(), x.to_string()));
        if get(&self.cut, key.clone()) > 0 || (x_to_y > 0 && y_to_x > 0) {
            sim.partition(x, y);
        } else if x_to_y > 0 || y_to_x > 0 {
            sim.release(x, y);
            if x_to_y > 0 {
                sim.partition_oneway(x, y);
            } else {
                sim.partition_oneway(y, x);
            }
        } else if get(&self.held, key.clone()) > 0 {
            sim.hold(x, y);
        } else {
            // `release` heals a cut link too, and delivers what a hold queued.
            sim.release(x, y);
        }
    }
}
