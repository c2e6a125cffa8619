//! Alias unification: which vulnerability ids name the same vulnerability (CVE ↔ GHSA ↔ RUSTSEC ↔
//! PYSEC ↔ GO ↔ vendor ids).
//!
//! Every advisory and every VEX statement contributes edges between its own id and its aliases; a
//! vulnerability's group is everything reachable from its id. Edges are reference-counted per
//! contributor, so an advisory that drops an alias in a later revision takes its edge back (a union
//! -find could only grow). Groups are small (a handful of ids), so a breadth-first walk per query
//! is cheap; everything is ordered, so the result is deterministic.

use std::collections::{BTreeMap, BTreeSet};

/// The key ids are compared by: trimmed and upper-cased (`ghsa-xxxx` and `GHSA-XXXX` are one id).
pub fn id_key(id: &str) -> String {
    id.trim().to_ascii_uppercase()
}

/// The alias graph (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AliasGraph {
    /// Undirected edges with their reference counts, both directions stored.
    edges: BTreeMap<String, BTreeMap<String, u32>>,
}

impl AliasGraph {
    /// Adds the edges `id — alias` for every alias (one reference each).
    pub fn add(&mut self, id: &str, aliases: &[String]) {
        let id = id_key(id);
        for a in aliases {
            let a = id_key(a);
            if a.is_empty() || a == id {
                continue;
            }
            *self.edges.entry(id.clone()).or_default().entry(a.clone()).or_insert(0) += 1;
            *self.edges.entry(a).or_default().entry(id.clone()).or_insert(0) += 1;
        }
    }

    /// Takes back one reference of each edge `id — alias` (what an earlier [`add`](Self::add) put in).
    pub fn remove(&mut self, id: &str, aliases: &[String]) {
        let id = id_key(id);
        for a in aliases {
            let a = id_key(a);
            if a.is_empty() || a == id {
                continue;
            }
            self.unref(&id, &a);
            self.unref(&a, &id);
        }
    }

    fn unref(&mut self, from: &str, to: &str) {
        if let Some(targets) = self.edges.get_mut(from) {
            if let Some(n) = targets.get_mut(to) {
                *n -= 1;
                if *n == 0 {
                    targets.remove(to);
                }
            }
            if targets.is_empty() {
                self.edges.remove(from);
            }
        }
    }

    /// Every id (as [`id_key`]s) naming the same vulnerability as `id`, `id` included.
    pub fn group(&self, id: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::from([id_key(id)]);
        let mut todo = vec![id_key(id)];
        while let Some(n) = todo.pop() {
            for next in self.edges.get(&n).into_iter().flat_map(BTreeMap::keys) {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn groups_are_transitive_and_case_insensitive() {
        let mut g = AliasGraph::default();
        g.add("RUSTSEC-2021-0001", &ids(&["GHSA-abcd-efgh-ijkl"]));
        g.add("ghsa-abcd-efgh-ijkl", &ids(&["CVE-2021-1234"]));
        let group = g.group("cve-2021-1234");
        assert_eq!(
            group.into_iter().collect::<Vec<_>>(),
            ids(&["CVE-2021-1234", "GHSA-ABCD-EFGH-IJKL", "RUSTSEC-2021-0001"])
        );
        assert_eq!(g.group("CVE-2099-0001").len(), 1, "an unknown id is its own group");
    }

    #[test]
    fn edges_are_reference_counted() {
        let mut g = AliasGraph::default();
        g.add("A", &ids(&["CVE-1"]));
        g.add("VEX-STATEMENT-CVE-1", &ids(&[]));
        g.add("B", &ids(&["CVE-1"]));
        g.add("A", &ids(&["CVE-1"])); // A's second contributor (e.g. a VEX statement naming both)
        g.remove("A", &ids(&["CVE-1"]));
        assert!(g.group("A").contains("CVE-1"), "one reference of A—CVE-1 is left");
        g.remove("A", &ids(&["CVE-1"]));
        assert_eq!(g.group("A").len(), 1, "A dropped its alias");
        assert_eq!(g.group("B").len(), 2, "B still aliases CVE-1");
        g.remove("B", &ids(&["CVE-1"]));
        assert_eq!(g, AliasGraph::default(), "nothing left behind");
    }
}
