//! A simulator with known truth, for the coverage study and the benchmarks.
//!
//! - Judge score of a logged response: `S ~ Beta(2, 2)` under the logging policy.
//! - Reward: the oracle label `Y | S ~ Beta(κ m(S), κ (1 − m(S)))` with
//!   `m(s) = s²`, so `E[Y | S] = m(S)`: the judge is a monotone (non-linear)
//!   transform of the response's true expected reward and oracle labels are noisy.
//!   The judge is sufficient for the reward, which is the assumption every
//!   calibrated estimator makes (with `judge_noise > 0` it is not, and the
//!   calibrated estimators become biased: a test of the assumption, not of the intervals).
//! - Target policy: `log w = β (S − ½) + σ ε − c`, `ε ~ N(0, 1)`, with `c` making
//!   `E₀[w] = 1`: β tilts the target towards better responses, σ makes the weights
//!   log-normal-heavy (ESS ≈ e^{−σ²}). Fresh draws of the target come from the
//!   tilted density `∝ p(s) e^{β s}` by rejection.
//! - Truth: `ψ = ∫ m(s) p(s) e^{β s} ds / ∫ p(s) e^{β s} ds`, by Simpson's rule.
//! - A share `oracle_fraction` of rows (chosen at random) carries its oracle label.

use std::collections::BTreeMap;

use pref_data::LoggedSample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Normal};

use crate::data::{CjeData, FreshDraw};
use crate::error::Result;

/// One simulated target policy.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPolicy {
    /// Name.
    pub name: String,
    /// Tilt towards higher judge scores.
    pub beta: f64,
    /// Log-normal noise of the log weights (heavy tails).
    pub sigma: f64,
}

impl SimPolicy {
    /// A policy.
    pub fn new(name: &str, beta: f64, sigma: f64) -> Self {
        Self {
            name: name.into(),
            beta,
            sigma,
        }
    }
}

/// Parameters of the simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct SimParams {
    /// Prompts (clusters).
    pub n_prompts: usize,
    /// Logged responses per prompt.
    pub rows_per_prompt: usize,
    /// Fresh draws per prompt and policy.
    pub fresh_per_prompt: usize,
    /// Share of logged rows with an oracle label.
    pub oracle_fraction: f64,
    /// Concentration κ of the oracle label around `m(S)`.
    pub kappa: f64,
    /// Standard deviation of noise added to the observed judge score (0 = sufficient judge).
    pub judge_noise: f64,
    /// Target policies.
    pub policies: Vec<SimPolicy>,
    /// Seed.
    pub seed: u64,
}

impl Default for SimParams {
    fn default() -> Self {
        Self {
            n_prompts: 1000,
            rows_per_prompt: 1,
            fresh_per_prompt: 1,
            oracle_fraction: 0.10,
            kappa: 10.0,
            judge_noise: 0.0,
            policies: vec![
                SimPolicy::new("clone", 0.0, 0.0),
                SimPolicy::new("better", 1.5, 0.5),
                SimPolicy::new("heavy", 1.0, 1.3),
            ],
            seed: 0,
        }
    }
}

/// Simulated data with the true value of each policy.
#[derive(Debug, Clone)]
pub struct SimData {
    /// Logged samples.
    pub samples: Vec<LoggedSample>,
    /// Fresh draws by policy.
    pub fresh: BTreeMap<String, Vec<FreshDraw>>,
    /// True mean reward of each policy.
    pub truth: BTreeMap<String, f64>,
}

impl SimData {
    /// The estimator input (samples plus fresh draws).
    pub fn to_data(&self) -> Result<CjeData> {
        let mut d = CjeData::from_samples(&self.samples)?;
        for (p, f) in &self.fresh {
            d.set_fresh_draws(p, f)?;
        }
        Ok(d)
    }
}

fn m(s: f64) -> f64 {
    s * s
}

/// `∫₀¹ f(s) · 6s(1−s) ds` by Simpson's rule on 20 000 intervals.
fn integrate(f: impl Fn(f64) -> f64) -> f64 {
    let k = 20_000;
    let h = 1.0 / k as f64;
    let g = |s: f64| f(s) * 6.0 * s * (1.0 - s);
    let mut acc = g(0.0) + g(1.0);
    for i in 1..k {
        acc += g(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    acc * h / 3.0
}

/// The true value `E_π[Y]` of a simulated policy.
pub fn true_value(beta: f64) -> f64 {
    integrate(|s| m(s) * (beta * s).exp()) / integrate(|s| (beta * s).exp())
}

/// Simulates one data set.
pub fn simulate(p: &SimParams) -> SimData {
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let beta22 = Beta::new(2.0, 2.0).expect("valid");
    let normal = Normal::new(0.0, 1.0).expect("valid");
    let shifts: Vec<f64> = p
        .policies
        .iter()
        .map(|q| (integrate(|s| (q.beta * (s - 0.5)).exp())).ln() + q.sigma * q.sigma / 2.0)
        .collect();
    let n = p.n_prompts * p.rows_per_prompt;
    let mut samples = Vec::with_capacity(n);
    for c in 0..p.n_prompts {
        for _ in 0..p.rows_per_prompt {
            let s: f64 = beta22.sample(&mut rng);
            let mu = m(s).clamp(1e-6, 1.0 - 1e-6);
            let y: f64 = Beta::new(p.kappa * mu, p.kappa * (1.0 - mu))
                .expect("valid")
                .sample(&mut rng);
            let base = -rng.random_range(50.0..150.0);
            let mut targets = BTreeMap::new();
            for (q, shift) in p.policies.iter().zip(&shifts) {
                let e: f64 = normal.sample(&mut rng);
                let l = if q.beta == 0.0 && q.sigma == 0.0 {
                    0.0
                } else {
                    q.beta * (s - 0.5) + q.sigma * e - shift
                };
                targets.insert(q.name.clone(), (base + l).min(0.0));
            }
            let judge = if p.judge_noise > 0.0 {
                (s + p.judge_noise * normal.sample(&mut rng)).clamp(0.0, 1.0)
            } else {
                s
            };
            let labelled = rng.random::<f64>() < p.oracle_fraction;
            samples.push(LoggedSample {
                prompt_id: format!("q{c}"),
                prompt: String::new(),
                response: String::new(),
                base_policy_logprob: base,
                target_policy_logprobs: targets,
                judge_score: judge,
                oracle_label: labelled.then_some(y),
                metadata: None,
            });
        }
    }
    let mut fresh = BTreeMap::new();
    let mut truth = BTreeMap::new();
    for q in &p.policies {
        let top = q.beta.max(0.0);
        let mut draws = Vec::with_capacity(p.n_prompts * p.fresh_per_prompt);
        for c in 0..p.n_prompts {
            for _ in 0..p.fresh_per_prompt {
                let s = loop {
                    let s: f64 = beta22.sample(&mut rng);
                    if rng.random::<f64>() < (q.beta * s - top).exp() {
                        break s;
                    }
                };
                let judge = if p.judge_noise > 0.0 {
                    (s + p.judge_noise * normal.sample(&mut rng)).clamp(0.0, 1.0)
                } else {
                    s
                };
                draws.push(FreshDraw {
                    prompt_id: format!("q{c}"),
                    judge_score: judge,
                });
            }
        }
        fresh.insert(q.name.clone(), draws);
        truth.insert(q.name.clone(), true_value(q.beta));
    }
    SimData {
        samples,
        fresh,
        truth,
    }
}
