//! Online Elo, exactly as FastChat's `compute_elo` (`fastchat/serve/monitor/elo_analysis.py`):
//! one pass over the battles in input order, every model starting at `init`,
//!
//! ```text
//! E_a = 1 / (1 + base^((R_b − R_a) / scale)),  E_b = 1 / (1 + base^((R_a − R_b) / scale))
//! R_a += K (S_a − E_a),                        R_b += K (1 − S_a − E_b)
//! ```
//!
//! with `S_a` = 1, 0 or ½ for a win of `a`, of `b` or a tie (`tie (bothbad)` included).
//! Like FastChat, `E_b` is computed with its own power rather than as `1 − E_a`, so the
//! ratings match FastChat's to the last bit on the same libm.

use pref_data::{BattleTable, Winner};

use crate::error::Result;
use crate::params::{finite, non_negative, positive, Checked, ParamGuard};
use crate::ratings::Ratings;

/// Hyperparameters of online Elo (FastChat's defaults).
///
/// | field | default | valid |
/// |---|---|---|
/// | `k` | 4 | finite, ≥ 0 |
/// | `scale` | 400 | finite, > 0 |
/// | `base` | 10 | finite, > 1 |
/// | `init` | 1000 | finite |
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EloParams {
    /// Step size K.
    pub k: f64,
    /// Rating scale (a gap of `scale` means odds of `base` : 1).
    pub scale: f64,
    /// Odds base.
    pub base: f64,
    /// Initial rating of every model.
    pub init: f64,
}

impl Default for EloParams {
    fn default() -> Self {
        Self {
            k: 4.0,
            scale: 400.0,
            base: 10.0,
            init: 1000.0,
        }
    }
}

impl EloParams {
    /// Sets K.
    pub fn k(mut self, k: f64) -> Self {
        self.k = k;
        self
    }
    /// Sets the initial rating.
    pub fn init(mut self, init: f64) -> Self {
        self.init = init;
        self
    }
    /// Sets the scale.
    pub fn scale(mut self, scale: f64) -> Self {
        self.scale = scale;
        self
    }
    /// Sets the base.
    pub fn base(mut self, base: f64) -> Self {
        self.base = base;
        self
    }
    /// Validates, then runs online Elo over `battles` (see [`Checked::fit`]).
    pub fn fit(&self, battles: &BattleTable) -> Result<Ratings> {
        Ok(self.check()?.fit(battles))
    }
}

impl ParamGuard for EloParams {
    fn validate(&self) -> Result<()> {
        non_negative("k", self.k)?;
        positive("scale", self.scale)?;
        finite("base", self.base)?;
        if self.base <= 1.0 {
            return Err(crate::Error::param(
                "base",
                format!("must be > 1, got {}", self.base),
            ));
        }
        finite("init", self.init)
    }
}

/// The score of `a` in a battle: 1, 0 or ½ ([`Winner::score_a`]).
#[inline]
pub fn score_a(w: Winner) -> f64 {
    w.score_a()
}

impl Checked<EloParams> {
    /// The Elo changes `(K (S_a − E_a), K (1 − S_a − E_b))` of a battle between
    /// ratings `ra` and `rb`.
    #[inline]
    pub fn deltas(&self, ra: f64, rb: f64, winner: Winner) -> (f64, f64) {
        let ea = 1.0 / (1.0 + self.base.powf((rb - ra) / self.scale));
        let eb = 1.0 / (1.0 + self.base.powf((ra - rb) / self.scale));
        let sa = score_a(winner);
        (self.k * (sa - ea), self.k * (1.0 - sa - eb))
    }

    /// One Elo update of the ratings `ra`, `rb` of a battle; returns the new pair.
    #[inline]
    pub fn step(&self, ra: f64, rb: f64, winner: Winner) -> (f64, f64) {
        let (da, db) = self.deltas(ra, rb, winner);
        (ra + da, rb + db)
    }

    /// Runs online Elo over the battles in table order. Ratings are listed in the
    /// table's model order (first appearance), as FastChat's dict.
    pub fn fit(&self, battles: &BattleTable) -> Ratings {
        let mut r = vec![self.init; battles.models.len()];
        self.update(&mut r, battles);
        Ratings {
            models: battles.models.clone(),
            values: r,
        }
    }

    /// Continues online Elo from the ratings `r` (indexed like `battles.models`).
    ///
    /// # Panics
    /// If `r` is shorter than the table's model list.
    pub fn update(&self, r: &mut [f64], battles: &BattleTable) {
        assert!(r.len() >= battles.models.len(), "one rating per model");
        for ((&a, &b), &w) in battles.a.iter().zip(&battles.b).zip(&battles.winner) {
            let (a, b) = (a as usize, b as usize);
            let (na, nb) = self.step(r[a], r[b], w);
            r[a] = na;
            r[b] = nb;
        }
    }
}
