//! Elo offsets (personalised ranking, System A): R_{u,m} = R_global,m + δ_{u,m}, with
//! the global ratings fixed (e.g. an Arena leaderboard) and δ_{u,·} updated by the
//! online Elo rule ([`crate::elo`]) from user u's battles only, starting at 0.
//!
//! For one user this is online Elo started from the global ratings; users never
//! influence each other.

use std::collections::{BTreeMap, HashMap};

use pref_data::Winner;

use crate::elo::EloParams;
use crate::error::{Error, Result};
use crate::params::{Checked, ParamGuard};
use crate::ratings::Ratings;

/// Per-user Elo offsets on top of fixed global ratings.
#[derive(Debug, Clone)]
pub struct EloOffsets {
    params: Checked<EloParams>,
    global: Ratings,
    index: HashMap<String, usize>,
    /// δ per user, indexed like `global.models`.
    users: BTreeMap<String, Vec<f64>>,
}

impl EloOffsets {
    /// Starts with every offset at 0. `params.init` is unused (the global ratings are
    /// the starting point); `k`, `scale` and `base` are the Elo rule's.
    pub fn new(global: Ratings, params: EloParams) -> Result<Self> {
        let params = params.check()?;
        if let Some((m, r)) = global.iter().find(|(_, r)| !r.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "global rating of `{m}` is not finite: {r}"
            )));
        }
        let index = global
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.clone(), i))
            .collect();
        Ok(Self {
            params,
            global,
            index,
            users: BTreeMap::new(),
        })
    }

    fn idx(&self, model: &str) -> Result<usize> {
        self.index
            .get(model)
            .copied()
            .ok_or_else(|| Error::UnknownModel {
                model: model.to_string(),
                context: "not in the global ratings".into(),
            })
    }

    /// Applies one battle of `user` between `a` and `b`.
    pub fn update(&mut self, user: &str, a: &str, b: &str, winner: Winner) -> Result<()> {
        let (ia, ib) = (self.idx(a)?, self.idx(b)?);
        if ia == ib {
            return Err(Error::InvalidInput(format!(
                "self-battle: `{a}` against itself (user `{user}`)"
            )));
        }
        let k = self.global.len();
        let d = self
            .users
            .entry(user.to_string())
            .or_insert_with(|| vec![0.0; k]);
        let (ga, gb) = (self.global.values[ia], self.global.values[ib]);
        let (ra, rb) = (ga + d[ia], gb + d[ib]);
        let (da, db) = self.params.deltas(ra, rb, winner);
        d[ia] += da;
        d[ib] += db;
        Ok(())
    }

    /// Applies battles `(user, a, b, winner)` in order.
    pub fn update_all<'a>(
        &mut self,
        battles: impl IntoIterator<Item = (&'a str, &'a str, &'a str, Winner)>,
    ) -> Result<()> {
        for (u, a, b, w) in battles {
            self.update(u, a, b, w)?;
        }
        Ok(())
    }

    /// The fixed global ratings.
    pub fn global(&self) -> &Ratings {
        &self.global
    }

    /// Users seen so far (sorted).
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// δ_{u,m} (0 for a user or model without battles).
    pub fn offset(&self, user: &str, model: &str) -> Result<f64> {
        let i = self.idx(model)?;
        Ok(self.users.get(user).map_or(0.0, |d| d[i]))
    }

    /// R_{u,m} = R_global,m + δ_{u,m}.
    pub fn rating(&self, user: &str, model: &str) -> Result<f64> {
        let i = self.idx(model)?;
        Ok(self.global.values[i] + self.users.get(user).map_or(0.0, |d| d[i]))
    }

    /// All personalised ratings of a user (the global ones for an unseen user).
    pub fn user_ratings(&self, user: &str) -> Ratings {
        let values = match self.users.get(user) {
            Some(d) => self
                .global
                .values
                .iter()
                .zip(d)
                .map(|(g, x)| g + x)
                .collect(),
            None => self.global.values.clone(),
        };
        Ratings {
            models: self.global.models.clone(),
            values,
        }
    }
}
