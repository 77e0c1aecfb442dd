//! Connected components of a comparison graph.
//!
//! A pairwise model (Bradley–Terry, Thurstonian) compares items only within a
//! connected component of the graph whose edges are the compared pairs: across
//! components the likelihood is flat in the offset between them, so a fit places
//! them by its prior (or not at all) and the standard errors of cross-component
//! differences say nothing about the data. pref-rank refuses such data for
//! Bradley–Terry; pref-utility's Thurstonian fit reports it. Union-find by hand:
//! twenty lines, and no graph crate is otherwise needed.

/// The connected components of the undirected graph on `n` vertices with the
/// given edges, each sorted, largest first (ties: by smallest vertex). An edge
/// naming a vertex ≥ `n` is ignored. A graph with no vertex has no component.
pub fn components(n: usize, edges: impl IntoIterator<Item = (usize, usize)>) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for (a, b) in edges {
        if a < n && b < n {
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            if ra != rb {
                parent[ra.max(rb)] = ra.min(rb);
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for v in 0..n {
        let r = root(&mut parent, v);
        groups.entry(r).or_default().push(v);
    }
    let mut out: Vec<Vec<usize>> = groups.into_values().collect();
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a[0].cmp(&b[0])));
    out
}

/// [`components`] with vertex `i` named `names[i]`: each component's names
/// sorted, largest component first (ties: by their sorted names). The form in
/// which pref-rank and pref-utility report a disconnected comparison graph.
pub fn named_components<S: AsRef<str>>(
    names: &[S],
    edges: impl IntoIterator<Item = (usize, usize)>,
) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = components(names.len(), edges)
        .into_iter()
        .map(|c| {
            let mut named: Vec<String> = c
                .into_iter()
                .map(|i| names[i].as_ref().to_string())
                .collect();
            named.sort();
            named
        })
        .collect();
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_largest_first() {
        // networkx: sorted(map(sorted, nx.connected_components(G)), key=lambda c: (-len(c), c[0]))
        // with G = nx.Graph([(0, 1), (3, 4), (4, 5)]); G.add_nodes_from(range(7))
        // -> [[3, 4, 5], [0, 1], [2], [6]]
        let c = components(7, [(0, 1), (3, 4), (5, 4), (9, 0)]);
        assert_eq!(c, vec![vec![3, 4, 5], vec![0, 1], vec![2], vec![6]]);
        assert_eq!(components(3, [(0, 1), (1, 2)]), vec![vec![0, 1, 2]]);
        assert!(components(0, []).is_empty());
        // Named: {x, y} and {b, c} tie on size and are ordered by their names.
        let names = ["y", "c", "x", "b", "a"];
        assert_eq!(
            named_components(&names, [(0, 2), (1, 3)]),
            vec![vec!["b", "c"], vec!["x", "y"], vec!["a"]]
        );
    }
}
