//! Personalised reward head (System B; see the crate README), on candle (CPU, f32).
//!
//! Input: frozen backbone embeddings, one row per response (how they are computed is
//! the caller's business: e.g. mean-pooled MiniLM states from pref-llm). Head:
//! `Linear(h, h) → ReLU → Dropout(p) → Linear(h, 1)`, Xavier-uniform weights and zero
//! biases. Loss per preference pair (winner w, loser l):
//!
//! ```text
//! −log σ(s_w − s_l) + λ · 1[global rating of w < global rating of l] · (−log σ(s_l − s_w))
//! ```
//!
//! the second term (L_rank) pulling towards the global order on pairs where the user
//! disagrees with it. AdamW (lr 1e-4, weight decay 0.01), mini-batches of 4 pairs,
//! 10 epochs. Everything random (initial weights, dropout masks, shuffling) comes from
//! one ChaCha8 generator seeded by `seed` — candle's CPU generator cannot be seeded —
//! so a fit is reproducible bit for bit.

use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use pref_data::Matrix;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::params::{non_negative, positive, Checked, ParamGuard};

/// Hyperparameters of the reward head.
///
/// | field | default | valid |
/// |---|---|---|
/// | `hidden` | embedding width | ≥ 1 |
/// | `dropout` | 0.1 | [0, 1) |
/// | `lambda` | 0.1 | finite, ≥ 0 |
/// | `lr` | 1e-4 | finite, > 0 |
/// | `weight_decay` | 0.01 | finite, ≥ 0 |
/// | `batch_size` | 4 | ≥ 1 |
/// | `epochs` | 10 | ≥ 1 |
/// | `seed` | 0 | any |
#[derive(Debug, Clone, PartialEq)]
pub struct RewardHeadParams {
    /// Hidden width; `None` = the embedding width h (Linear(h, h)).
    pub hidden: Option<usize>,
    /// Dropout probability after the ReLU.
    pub dropout: f64,
    /// Weight λ of the rank regulariser.
    pub lambda: f64,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW (decoupled) weight decay.
    pub weight_decay: f64,
    /// Pairs per mini-batch.
    pub batch_size: usize,
    /// Passes over the training pairs.
    pub epochs: usize,
    /// Seed of initial weights, dropout masks and shuffling.
    pub seed: u64,
}

impl Default for RewardHeadParams {
    fn default() -> Self {
        Self {
            hidden: None,
            dropout: 0.1,
            lambda: 0.1,
            lr: 1e-4,
            weight_decay: 0.01,
            batch_size: 4,
            epochs: 10,
            seed: 0,
        }
    }
}

impl ParamGuard for RewardHeadParams {
    fn validate(&self) -> Result<()> {
        if self.hidden == Some(0) {
            return Err(Error::param("hidden", "must be ≥ 1"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::param(
                "dropout",
                format!("must lie in [0, 1), got {}", self.dropout),
            ));
        }
        non_negative("lambda", self.lambda)?;
        positive("lr", self.lr)?;
        non_negative("weight_decay", self.weight_decay)?;
        if self.batch_size == 0 {
            return Err(Error::param("batch_size", "must be ≥ 1"));
        }
        if self.epochs == 0 {
            return Err(Error::param("epochs", "must be ≥ 1"));
        }
        Ok(())
    }
}

/// One training preference: response `winner` beat response `loser` (row indices of
/// the embedding matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreferencePair {
    /// Row of the preferred response.
    pub winner: usize,
    /// Row of the other response.
    pub loser: usize,
    /// True when the global ratings order the two the other way (the winner's model
    /// has the lower global rating): L_rank applies to this pair.
    pub against_global: bool,
}

impl PreferencePair {
    /// A pair without a global-order term.
    pub fn new(winner: usize, loser: usize) -> Self {
        Self {
            winner,
            loser,
            against_global: false,
        }
    }
    /// A pair whose L_rank flag comes from the global ratings of the two models.
    pub fn with_global(winner: usize, loser: usize, global_winner: f64, global_loser: f64) -> Self {
        Self {
            winner,
            loser,
            against_global: global_winner < global_loser,
        }
    }
}

/// Plain weights of a head (row-major, candle's `Linear` layout: `out × in`).
#[derive(Debug, Clone, PartialEq)]
pub struct HeadWeights {
    /// First layer weight, `hidden × dim`.
    pub w1: Vec<f32>,
    /// First layer bias, `hidden`.
    pub b1: Vec<f32>,
    /// Second layer weight, `1 × hidden`.
    pub w2: Vec<f32>,
    /// Second layer bias, `1`.
    pub b2: Vec<f32>,
}

/// A (trained) reward head.
#[derive(Debug)]
pub struct RewardHead {
    dim: usize,
    hidden: usize,
    w1: Var,
    b1: Var,
    w2: Var,
    b2: Var,
}

impl Clone for RewardHead {
    fn clone(&self) -> Self {
        // Vars share storage when cloned: copy the values instead.
        let copy = |v: &Var| {
            Var::from_tensor(&v.as_tensor().copy().expect("copy")).expect("var from tensor")
        };
        Self {
            dim: self.dim,
            hidden: self.hidden,
            w1: copy(&self.w1),
            b1: copy(&self.b1),
            w2: copy(&self.w2),
            b2: copy(&self.b2),
        }
    }
}

fn embeddings_tensor(emb: &Matrix<f32>) -> Result<Tensor> {
    if emb.rows == 0 || emb.cols == 0 {
        return Err(Error::InvalidInput("empty embedding matrix".into()));
    }
    if emb.data.iter().any(|x| !x.is_finite()) {
        return Err(Error::InvalidInput(
            "embedding matrix has non-finite values".into(),
        ));
    }
    Ok(Tensor::from_vec(
        emb.data.clone(),
        (emb.rows, emb.cols),
        &Device::Cpu,
    )?)
}

fn softplus(z: &Tensor) -> candle_core::Result<Tensor> {
    // max(z, 0) + log(1 + exp(−|z|)), stable for any z.
    z.relu()? + z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?
}

impl RewardHead {
    /// A head with the given weights (candle layout, see [`HeadWeights`]).
    pub fn from_weights(dim: usize, hidden: usize, w: &HeadWeights) -> Result<Self> {
        let shape_ok = w.w1.len() == hidden * dim
            && w.b1.len() == hidden
            && w.w2.len() == hidden
            && w.b2.len() == 1;
        if !shape_ok || dim == 0 || hidden == 0 {
            return Err(Error::InvalidInput(format!(
                "weights do not fit a head with dim {dim} and hidden {hidden}"
            )));
        }
        let d = &Device::Cpu;
        Ok(Self {
            dim,
            hidden,
            w1: Var::from_vec(w.w1.clone(), (hidden, dim), d)?,
            b1: Var::from_vec(w.b1.clone(), hidden, d)?,
            w2: Var::from_vec(w.w2.clone(), (1, hidden), d)?,
            b2: Var::from_vec(w.b2.clone(), 1, d)?,
        })
    }

    /// Xavier-uniform weights U(−a, a), a = √(6 / (fan_in + fan_out)), zero biases.
    fn xavier(dim: usize, hidden: usize, rng: &mut ChaCha8Rng) -> Result<Self> {
        let mut uniform = |n: usize, fan_in: usize, fan_out: usize| -> Vec<f32> {
            let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
            (0..n)
                .map(|_| ((2.0 * rng.random::<f64>() - 1.0) * a) as f32)
                .collect()
        };
        let w = HeadWeights {
            w1: uniform(hidden * dim, dim, hidden),
            b1: vec![0.0; hidden],
            w2: uniform(hidden, hidden, 1),
            b2: vec![0.0],
        };
        Self::from_weights(dim, hidden, &w)
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Hidden width.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// The current weights.
    pub fn weights(&self) -> Result<HeadWeights> {
        let flat = |v: &Var| -> Result<Vec<f32>> { Ok(v.as_tensor().flatten_all()?.to_vec1()?) };
        Ok(HeadWeights {
            w1: flat(&self.w1)?,
            b1: flat(&self.b1)?,
            w2: flat(&self.w2)?,
            b2: flat(&self.b2)?,
        })
    }

    fn vars(&self) -> Vec<Var> {
        vec![
            self.w1.clone(),
            self.b1.clone(),
            self.w2.clone(),
            self.b2.clone(),
        ]
    }

    /// Scores of rows `x` (`n × dim`), with an optional dropout mask (`n × hidden`,
    /// already scaled by 1/(1−p)).
    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let h = x
            .matmul(&self.w1.as_tensor().t()?)?
            .broadcast_add(self.b1.as_tensor())?
            .relu()?;
        let h = match mask {
            Some(m) => (h * m)?,
            None => h,
        };
        h.matmul(&self.w2.as_tensor().t()?)?
            .broadcast_add(self.b2.as_tensor())?
            .squeeze(1)
    }

    /// Reward of every row of `emb` (evaluation mode: no dropout).
    pub fn score(&self, emb: &Matrix<f32>) -> Result<Vec<f32>> {
        if emb.cols != self.dim {
            return Err(Error::InvalidInput(format!(
                "embeddings have {} columns, the head expects {}",
                emb.cols, self.dim
            )));
        }
        let x = embeddings_tensor(emb)?;
        Ok(self.forward(&x, None)?.to_vec1()?)
    }

    fn batch_loss(
        &self,
        x: &Tensor,
        pairs: &[PreferencePair],
        lambda: f64,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let b = pairs.len();
        let idx: Vec<u32> = pairs
            .iter()
            .map(|p| p.winner as u32)
            .chain(pairs.iter().map(|p| p.loser as u32))
            .collect();
        let idx = Tensor::from_vec(idx, 2 * b, &Device::Cpu)?;
        let s = self.forward(&x.index_select(&idx, 0)?, mask)?;
        let d = (s.narrow(0, 0, b)? - s.narrow(0, b, b)?)?;
        let flags: Vec<f32> = pairs
            .iter()
            .map(|p| if p.against_global { lambda as f32 } else { 0.0 })
            .collect();
        let flags = Tensor::from_vec(flags, b, &Device::Cpu)?;
        let loss = (softplus(&d.neg()?)? + (softplus(&d)? * flags)?)?;
        Ok(loss.mean_all()?)
    }

    /// Mean training loss over `pairs` (no dropout) and its gradients with respect to
    /// the weights, in [`HeadWeights`] layout.
    pub fn loss_and_grad(
        &self,
        emb: &Matrix<f32>,
        pairs: &[PreferencePair],
        lambda: f64,
    ) -> Result<(f64, HeadWeights)> {
        check_pairs(emb, pairs)?;
        let x = embeddings_tensor(emb)?;
        let loss = self.batch_loss(&x, pairs, lambda, None)?;
        let grads = loss.backward()?;
        let get = |v: &Var| -> Result<Vec<f32>> {
            match grads.get(v.as_tensor()) {
                Some(g) => Ok(g.flatten_all()?.to_vec1()?),
                None => Ok(vec![0.0; v.as_tensor().elem_count()]),
            }
        };
        Ok((
            loss.to_scalar::<f32>()? as f64,
            HeadWeights {
                w1: get(&self.w1)?,
                b1: get(&self.b1)?,
                w2: get(&self.w2)?,
                b2: get(&self.b2)?,
            },
        ))
    }
}

fn check_pairs(emb: &Matrix<f32>, pairs: &[PreferencePair]) -> Result<()> {
    if pairs.is_empty() {
        return Err(Error::InvalidInput("no training pairs".into()));
    }
    for (k, p) in pairs.iter().enumerate() {
        if p.winner >= emb.rows || p.loser >= emb.rows {
            return Err(Error::InvalidInput(format!(
                "pair {k}: row index out of range (winner {}, loser {}, {} embeddings)",
                p.winner, p.loser, emb.rows
            )));
        }
        if p.winner == p.loser {
            return Err(Error::InvalidInput(format!(
                "pair {k}: response {} compared with itself",
                p.winner
            )));
        }
    }
    Ok(())
}

/// Training state: the head, its optimiser and the random stream.
struct Trainer {
    head: RewardHead,
    opt: AdamW,
    rng: ChaCha8Rng,
}

impl Trainer {
    fn new(params: &RewardHeadParams, head: RewardHead, rng: ChaCha8Rng) -> Result<Self> {
        let opt = AdamW::new(
            head.vars(),
            ParamsAdamW {
                lr: params.lr,
                weight_decay: params.weight_decay,
                ..ParamsAdamW::default()
            },
        )?;
        Ok(Self { head, opt, rng })
    }

    fn epochs(&mut self, p: &RewardHeadParams, x: &Tensor, pairs: &[PreferencePair]) -> Result<()> {
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        let hidden = self.head.hidden;
        for _ in 0..p.epochs {
            order.shuffle(&mut self.rng);
            for chunk in order.chunks(p.batch_size) {
                let batch: Vec<PreferencePair> = chunk.iter().map(|&i| pairs[i]).collect();
                let mask = if p.dropout > 0.0 {
                    let keep = 1.0 / (1.0 - p.dropout);
                    let m: Vec<f32> = (0..2 * batch.len() * hidden)
                        .map(|_| {
                            if self.rng.random::<f64>() < p.dropout {
                                0.0
                            } else {
                                keep as f32
                            }
                        })
                        .collect();
                    Some(Tensor::from_vec(
                        m,
                        (2 * batch.len(), hidden),
                        &Device::Cpu,
                    )?)
                } else {
                    None
                };
                let loss = self.head.batch_loss(x, &batch, p.lambda, mask.as_ref())?;
                self.opt.backward_step(&loss)?;
            }
        }
        Ok(())
    }
}

impl Checked<RewardHeadParams> {
    fn start(&self, emb: &Matrix<f32>) -> Result<(RewardHead, ChaCha8Rng)> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let hidden = self.hidden.unwrap_or(emb.cols);
        let head = RewardHead::xavier(emb.cols, hidden, &mut rng)?;
        Ok((head, rng))
    }

    /// Trains a fresh head (seeded Xavier initialisation) on `pairs`.
    pub fn fit(&self, emb: &Matrix<f32>, pairs: &[PreferencePair]) -> Result<RewardHead> {
        check_pairs(emb, pairs)?;
        let (head, rng) = self.start(emb)?;
        self.fit_from(head, rng, emb, pairs)
    }

    /// Continues training `head` on `pairs` (fresh optimiser state; `seed` drives
    /// dropout and shuffling).
    pub fn fit_head(
        &self,
        head: RewardHead,
        emb: &Matrix<f32>,
        pairs: &[PreferencePair],
    ) -> Result<RewardHead> {
        check_pairs(emb, pairs)?;
        if emb.cols != head.dim {
            return Err(Error::InvalidInput(format!(
                "embeddings have {} columns, the head expects {}",
                emb.cols, head.dim
            )));
        }
        let rng = ChaCha8Rng::seed_from_u64(self.seed);
        self.fit_from(head, rng, emb, pairs)
    }

    fn fit_from(
        &self,
        head: RewardHead,
        rng: ChaCha8Rng,
        emb: &Matrix<f32>,
        pairs: &[PreferencePair],
    ) -> Result<RewardHead> {
        let x = embeddings_tensor(emb)?;
        let mut t = Trainer::new(self, head, rng)?;
        t.epochs(self, &x, pairs)?;
        Ok(t.head)
    }

    /// Learning curve over growing prefixes of `pairs`: for each size in `sizes`
    /// (ascending, each ≤ `pairs.len()`), trains `epochs` epochs on `pairs[..size]` and
    /// calls `eval(size, &head)`.
    ///
    /// `incremental = true` continues from the previous size's head and optimiser
    /// state (retraining on the grown prefix, as data arrive); `false` trains a fresh
    /// head for every size (same seed).
    pub fn learning_curve<T>(
        &self,
        emb: &Matrix<f32>,
        pairs: &[PreferencePair],
        sizes: &[usize],
        incremental: bool,
        mut eval: impl FnMut(usize, &RewardHead) -> Result<T>,
    ) -> Result<Vec<T>> {
        check_pairs(emb, pairs)?;
        if sizes.is_empty() {
            return Err(Error::InvalidInput("no learning-curve sizes".into()));
        }
        for w in sizes.windows(2) {
            if w[0] >= w[1] {
                return Err(Error::InvalidInput(format!(
                    "learning-curve sizes must be strictly ascending, got {} then {}",
                    w[0], w[1]
                )));
            }
        }
        if sizes[0] == 0 || *sizes.last().expect("non-empty") > pairs.len() {
            return Err(Error::InvalidInput(format!(
                "learning-curve sizes must lie in 1..={}",
                pairs.len()
            )));
        }
        let x = embeddings_tensor(emb)?;
        let mut out = Vec::with_capacity(sizes.len());
        let mut trainer: Option<Trainer> = None;
        for &size in sizes {
            let mut t = match trainer.take() {
                Some(t) if incremental => t,
                _ => {
                    let (head, rng) = self.start(emb)?;
                    Trainer::new(self, head, rng)?
                }
            };
            t.epochs(self, &x, &pairs[..size])?;
            out.push(eval(size, &t.head)?);
            trainer = Some(t);
        }
        Ok(out)
    }
}
