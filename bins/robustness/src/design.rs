//! The configurations of a run: drawn from the factor grid (seeded random,
//! Latin hypercube, or the full factorial of the varied factors), the other
//! factors at their fixed levels. See docs/robustness.md ("Design").

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::config::{Config, Sampling};
use crate::template::FACTORS;

/// One configuration: its name (`c00`, …) and a level for every factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Configuration {
    /// `c00`, `c01`, … in draw order.
    pub name: String,
    /// Factor → level.
    pub levels: BTreeMap<String, String>,
}

/// The levels of factor `name` in this configuration file.
fn levels_of(cfg: &Config, name: &str) -> Vec<String> {
    if name == "seed" {
        return cfg.design.seeds.iter().map(u64::to_string).collect();
    }
    FACTORS
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.levels.iter().map(|l| l.to_string()).collect())
        .unwrap_or_default()
}

/// The number of configurations of the full factorial over `design.vary`.
pub fn factorial_size(cfg: &Config) -> usize {
    cfg.design
        .vary
        .iter()
        .map(|f| levels_of(cfg, f).len().max(1))
        .try_fold(1usize, |n, k| n.checked_mul(k))
        .unwrap_or(usize::MAX)
}

/// The configurations, and how many drawn ones repeated an earlier one (they
/// are dropped: the same question is asked once).
pub fn configurations(cfg: &Config) -> (Vec<Configuration>, usize) {
    let d = &cfg.design;
    let base: BTreeMap<String, String> = FACTORS
        .iter()
        .map(|f| {
            let level = d
                .fixed
                .get(f.name)
                .cloned()
                .unwrap_or_else(|| levels_of(cfg, f.name)[0].clone());
            (f.name.to_string(), level)
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(d.seed);
    let drawn: Vec<BTreeMap<String, String>> = match d.sampling {
        Sampling::Factorial => {
            let mut all = vec![base.clone()];
            for f in &d.vary {
                all = all
                    .into_iter()
                    .flat_map(|c| {
                        levels_of(cfg, f).into_iter().map(move |l| {
                            let mut c = c.clone();
                            c.insert(f.clone(), l);
                            c
                        })
                    })
                    .collect();
            }
            all
        }
        Sampling::Random => (0..d.n_configs)
            .map(|_| {
                let mut c = base.clone();
                for f in &d.vary {
                    let ls = levels_of(cfg, f);
                    c.insert(f.clone(), ls[rng.random_range(0..ls.len())].clone());
                }
                c
            })
            .collect(),
        Sampling::LatinHypercube => {
            let mut out = vec![base.clone(); d.n_configs];
            for f in &d.vary {
                // Each level equally often (the first n mod L levels once more,
                // in a shuffled choice), then a random assignment to configurations.
                let mut ls = levels_of(cfg, f);
                ls.shuffle(&mut rng);
                let mut column: Vec<String> =
                    (0..d.n_configs).map(|i| ls[i % ls.len()].clone()).collect();
                column.shuffle(&mut rng);
                for (c, l) in out.iter_mut().zip(column) {
                    c.insert(f.clone(), l);
                }
            }
            out
        }
    };
    let mut seen = BTreeSet::new();
    let mut configs = Vec::new();
    let mut repeats = 0;
    for levels in drawn {
        if seen.insert(levels.clone()) {
            configs.push(Configuration {
                name: String::new(),
                levels,
            });
        } else {
            repeats += 1;
        }
    }
    let width = configs.len().saturating_sub(1).to_string().len().max(2);
    for (i, c) in configs.iter_mut().enumerate() {
        c.name = format!("c{i:0width$}");
    }
    (configs, repeats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_hypercube_balances_every_factor() {
        let cfg = Config::default();
        let (cs, repeats) = configurations(&cfg);
        assert_eq!((cs.len(), repeats), (12, 0));
        for f in FACTORS {
            let ls = levels_of(&cfg, f.name);
            for l in &ls {
                let n = cs.iter().filter(|c| &c.levels[f.name] == l).count();
                assert_eq!(n, 12 / ls.len(), "{} = {l}", f.name);
            }
        }
        assert_eq!(configurations(&cfg).0, cs, "seeded");
        assert_eq!(cs[0].name, "c00");
    }

    #[test]
    fn factorial_and_fixed_levels() {
        let mut cfg = Config::default();
        cfg.design.sampling = Sampling::Factorial;
        cfg.design.vary = vec!["order".into(), "response_format".into()];
        cfg.design.fixed.insert("language".into(), "es".into());
        assert_eq!(factorial_size(&cfg), 6);
        let (cs, _) = configurations(&cfg);
        assert_eq!(cs.len(), 6);
        assert!(cs
            .iter()
            .all(|c| c.levels["language"] == "es" && c.levels["phrasing"] == "1"));
        let distinct: BTreeSet<_> = cs
            .iter()
            .map(|c| (&c.levels["order"], &c.levels["response_format"]))
            .collect();
        assert_eq!(distinct.len(), 6);
        // Random draws repeat themselves on a small grid: counted, not asked twice.
        cfg.design.sampling = Sampling::Random;
        cfg.design.n_configs = 20;
        let (cs, repeats) = configurations(&cfg);
        assert_eq!(cs.len() + repeats, 20);
        assert!(cs.len() <= 6 && repeats >= 14);
    }
}
