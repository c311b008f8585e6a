//! A dependency graph between operations and the search for its cycles: strongly
//! connected components by Tarjan's algorithm (iterative, so a million-op history cannot
//! overflow the stack), then one shortest cycle per component by breadth-first search, as
//! Elle reports cycles (jepsen-io/elle `elle.graph`: `strongly-connected-components`, then
//! `find-cycle` within each).
//!
//! Every allocation is counted against a byte budget and reserved with `try_reserve`
//! before it happens, so a huge history yields [`OutOfBudget`] — the checker's `unknown` —
//! instead of aborting the process, as the linearizability checker does.

use std::collections::VecDeque;

/// The graph would not fit in the memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfBudget {
    /// Bytes the search needed when it stopped.
    pub needed: u64,
}

/// Counts bytes against a budget.
#[derive(Debug)]
pub(crate) struct Budget {
    /// The most the graph and its searches may hold at once.
    limit: u64,
    /// Held now.
    used: u64,
    /// The most held at any time.
    pub peak: u64,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget {
            limit,
            used: 0,
            peak: 0,
        }
    }

    /// Reserves room for `additional` more items in `v`, counted against the budget.
    pub fn reserve<T>(&mut self, v: &mut Vec<T>, additional: usize) -> Result<(), OutOfBudget> {
        let bytes = (additional as u64).saturating_mul(std::mem::size_of::<T>() as u64);
        let needed = self.used.saturating_add(bytes);
        if needed > self.limit || v.try_reserve_exact(additional).is_err() {
            return Err(OutOfBudget { needed });
        }
        self.used = needed;
        self.peak = self.peak.max(self.used);
        Ok(())
    }

    /// Returns the bytes of a vector that is dropped.
    pub fn release<T>(&mut self, v: Vec<T>) {
        let bytes = (v.capacity() as u64).saturating_mul(std::mem::size_of::<T>() as u64);
        self.used = self.used.saturating_sub(bytes);
    }
}

/// A directed graph in compressed sparse rows: the successors of `n` are
/// `targets[starts[n]..starts[n + 1]]`.
#[derive(Debug)]
pub(crate) struct Graph {
    starts: Vec<u32>,
    targets: Vec<u32>,
}

impl Graph {
    /// Builds the graph from an edge list over nodes `0..nodes`; duplicate edges and
    /// self-loops are dropped (an op does not depend on itself).
    pub fn from_edges(
        nodes: usize,
        mut edges: Vec<(u32, u32)>,
        budget: &mut Budget,
    ) -> Result<Graph, OutOfBudget> {
        edges.retain(|(from, to)| from != to);
        edges.sort_unstable();
        edges.dedup();
        let mut starts = Vec::new();
        budget.reserve(&mut starts, nodes + 1)?;
        let mut targets = Vec::new();
        budget.reserve(&mut targets, edges.len())?;
        let mut next = 0;
        for node in 0..nodes as u32 {
            starts.push(targets.len() as u32);
            while next < edges.len() && edges[next].0 == node {
                targets.push(edges[next].1);
                next += 1;
            }
        }
        starts.push(targets.len() as u32);
        budget.release(edges);
        Ok(Graph { starts, targets })
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.starts.len() - 1
    }

    /// Number of edges.
    pub fn edges(&self) -> usize {
        self.targets.len()
    }

    fn successors(&self, node: u32) -> &[u32] {
        &self.targets[self.starts[node as usize] as usize..self.starts[node as usize + 1] as usize]
    }

    /// The strongly connected components with more than one node, each sorted, listed by
    /// their smallest node (Tarjan 1972, iteratively).
    pub fn cyclic_components(&self, budget: &mut Budget) -> Result<Vec<Vec<u32>>, OutOfBudget> {
        const UNVISITED: u32 = u32::MAX;
        let n = self.nodes();
        let mut index = Vec::new();
        budget.reserve(&mut index, n)?;
        index.resize(n, UNVISITED);
        let mut low = Vec::new();
        budget.reserve(&mut low, n)?;
        low.resize(n, 0u32);
        let mut on_stack = Vec::new();
        budget.reserve(&mut on_stack, n)?;
        on_stack.resize(n, false);
        let mut stack: Vec<u32> = Vec::new();
        budget.reserve(&mut stack, n)?;
        // (node, next successor position) frames of the depth-first search.
        let mut frames: Vec<(u32, u32)> = Vec::new();
        budget.reserve(&mut frames, n)?;
        let mut next_index = 0u32;
        let mut components = Vec::new();
        for root in 0..n as u32 {
            if index[root as usize] != UNVISITED {
                continue;
            }
            frames.push((root, self.starts[root as usize]));
            index[root as usize] = next_index;
            low[root as usize] = next_index;
            next_index += 1;
            stack.push(root);
            on_stack[root as usize] = true;
            while let Some(&mut (node, ref mut position)) = frames.last_mut() {
                let end = self.starts[node as usize + 1];
                if *position < end {
                    let next = self.targets[*position as usize];
                    *position += 1;
                    if index[next as usize] == UNVISITED {
                        index[next as usize] = next_index;
                        low[next as usize] = next_index;
                        next_index += 1;
                        stack.push(next);
                        on_stack[next as usize] = true;
                        frames.push((next, self.starts[next as usize]));
                    } else if on_stack[next as usize] {
                        low[node as usize] = low[node as usize].min(index[next as usize]);
                    }
                    continue;
                }
                frames.pop();
                if let Some(&(parent, _)) = frames.last() {
                    low[parent as usize] = low[parent as usize].min(low[node as usize]);
                }
                if low[node as usize] == index[node as usize] {
                    let mut component = Vec::new();
                    loop {
                        let member = stack.pop().expect("Tarjan: the root is on the stack");
                        on_stack[member as usize] = false;
                        component.push(member);
                        if member == node {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        budget.reserve(&mut components, 1)?;
                        let mut owned = Vec::new();
                        budget.reserve(&mut owned, component.len())?;
                        owned.extend_from_slice(&component);
                        owned.sort_unstable();
                        components.push(owned);
                    }
                }
            }
        }
        for v in [index, low, stack] {
            budget.release(v);
        }
        budget.release(on_stack);
        budget.release(frames);
        components.sort_unstable_by_key(|c: &Vec<u32>| c[0]);
        Ok(components)
    }

    /// A shortest cycle through the component's smallest node, staying inside the
    /// component: breadth-first from it until an edge leads back. Nodes in cycle order,
    /// starting with that node.
    pub fn shortest_cycle(
        &self,
        component: &[u32],
        budget: &mut Budget,
    ) -> Result<Vec<u32>, OutOfBudget> {
        let start = component[0];
        let inside = |node: u32| component.binary_search(&node).is_ok();
        let mut parent: Vec<(u32, u32)> = Vec::new();
        budget.reserve(&mut parent, component.len())?;
        let mut queue = VecDeque::new();
        queue.push_back(start);
        let parent_of = |parent: &Vec<(u32, u32)>, node: u32| {
            parent
                .binary_search_by_key(&node, |&(n, _)| n)
                .ok()
                .map(|i| parent[i].1)
        };
        // `parent` stays sorted by node for lookups: components are small next to the
        // graph, and insertion keeps the memory to one pair per visited node.
        while let Some(node) = queue.pop_front() {
            for &next in self.successors(node) {
                if next == start {
                    let mut cycle = vec![node];
                    let mut at = node;
                    while at != start {
                        at = parent_of(&parent, at).expect("visited nodes have parents");
                        cycle.push(at);
                    }
                    cycle.reverse();
                    budget.release(parent);
                    return Ok(cycle);
                }
                if !inside(next) || next == start || parent_of(&parent, next).is_some() {
                    continue;
                }
                let at = parent.partition_point(|&(n, _)| n < next);
                parent.insert(at, (next, node));
                queue.push_back(next);
            }
        }
        unreachable!("a strongly connected component of two or more nodes has a cycle")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(nodes: usize, edges: &[(u32, u32)]) -> Graph {
        Graph::from_edges(nodes, edges.to_vec(), &mut Budget::new(u64::MAX)).unwrap()
    }

    #[test]
    fn components_are_found_and_acyclic_parts_left_out() {
        // 0 → 1 → 2 → 0 is a cycle; 3 → 4 is not; 5 ⇄ 6 is.
        let g = graph(7, &[(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (5, 6), (6, 5)]);
        let mut budget = Budget::new(u64::MAX);
        let components = g.cyclic_components(&mut budget).unwrap();
        assert_eq!(components, vec![vec![0, 1, 2], vec![5, 6]]);
        assert_eq!(
            g.shortest_cycle(&components[0], &mut budget).unwrap(),
            vec![0, 1, 2]
        );
        assert_eq!(
            g.shortest_cycle(&components[1], &mut budget).unwrap(),
            vec![5, 6]
        );
    }

    #[test]
    fn the_shortest_cycle_through_the_first_node_is_chosen() {
        // 0 → 1 → 2 → 3 → 0 and the chord 1 → 3.
        let g = graph(4, &[(0, 1), (1, 2), (2, 3), (3, 0), (1, 3)]);
        let mut budget = Budget::new(u64::MAX);
        let components = g.cyclic_components(&mut budget).unwrap();
        assert_eq!(
            g.shortest_cycle(&components[0], &mut budget).unwrap(),
            vec![0, 1, 3]
        );
    }

    #[test]
    fn self_loops_and_a_long_chain_are_no_cycle() {
        let chain: Vec<(u32, u32)> = (0..100_000).map(|i| (i, i + 1)).chain([(7, 7)]).collect();
        let g = graph(100_001, &chain);
        assert!(g
            .cyclic_components(&mut Budget::new(u64::MAX))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_small_budget_is_out_of_budget_not_a_crash() {
        let edges: Vec<(u32, u32)> = (0..1_000).map(|i| (i, (i + 1) % 1_000)).collect();
        let built = Graph::from_edges(1_000, edges, &mut Budget::new(1_000));
        assert!(built.is_err());
    }
}
