//! Reward head (feature `candle`): loss and gradients against a numpy implementation,
//! three AdamW steps against numpy's PyTorch-formula AdamW, learning a known reward,
//! seeding and learning curves.
//!
//! Reference (python3, numpy 2.4, float64 on float32-rounded inputs):
//! ```python
//! import numpy as np
//! f32 = lambda a: np.asarray(a, dtype=np.float32).astype(np.float64)
//! d = h = 3
//! W1 = f32([[0.1 * np.sin(i * 3 + j + 1) for j in range(d)] for i in range(h)])
//! b1 = f32([0.05, -0.02, 0.01]); W2 = f32([[0.3, -0.2, 0.5]]); b2 = f32([0.1])
//! E = f32([[np.cos(r * 3 + c) for c in range(d)] for r in range(4)])
//! pairs = [(0, 1, True), (2, 3, False), (1, 3, True)]   # (winner, loser, against_global)
//! lam = 0.1
//! sp = lambda z: np.logaddexp(0, z); sig = lambda z: 1 / (1 + np.exp(-z))
//! def loss_grad(W1, b1, W2, b2):
//!     gW1 = np.zeros_like(W1); gb1 = np.zeros_like(b1); gW2 = np.zeros_like(W2); gb2 = np.zeros_like(b2)
//!     L = 0.0
//!     for w, l, flag in pairs:
//!         hw = np.maximum(E[w] @ W1.T + b1, 0); hl = np.maximum(E[l] @ W1.T + b1, 0)
//!         dd = (hw @ W2.T + b2)[0] - (hl @ W2.T + b2)[0]
//!         c = lam if flag else 0.0
//!         L += sp(-dd) + c * sp(dd)
//!         dl = -sig(-dd) + c * sig(dd)          # dL/dd
//!         for x, hh, sgn in [(E[w], hw, 1), (E[l], hl, -1)]:
//!             gW2 += sgn * dl * hh[None, :]; gb2 += sgn * dl
//!             gpre = sgn * dl * W2[0] * (hh > 0)
//!             gW1 += np.outer(gpre, x); gb1 += gpre
//!     n = len(pairs)
//!     return L / n, gW1 / n, gb1 / n, gW2 / n, gb2 / n
//! # AdamW (PyTorch / candle formula), lr 1e-2, weight decay 0.01, 3 full-batch steps
//! P = [W1.copy(), b1.copy(), W2.copy(), b2.copy()]; m = [np.zeros_like(p) for p in P]; v = [np.zeros_like(p) for p in P]
//! lr, wd, b1_, b2_, eps = 1e-2, 0.01, 0.9, 0.999, 1e-8
//! for t in range(1, 4):
//!     _, *G = loss_grad(*P)
//!     for k in range(4):
//!         m[k] = b1_ * m[k] + (1 - b1_) * G[k]; v[k] = b2_ * v[k] + (1 - b2_) * G[k] ** 2
//!         mh = m[k] / (1 - b1_ ** t); vh = v[k] / (1 - b2_ ** t)
//!         P[k] = P[k] * (1 - lr * wd) - lr * mh / (np.sqrt(vh) + eps)
//! ```
#![cfg(feature = "candle")]

use pref_data::Matrix;
use pref_rank::reward::HeadWeights;
use pref_rank::{Error, ParamGuard, PreferencePair, RewardHead, RewardHeadParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn setup() -> (RewardHead, Matrix<f32>, Vec<PreferencePair>) {
    let w = HeadWeights {
        w1: (0..3)
            .flat_map(|i| (0..3).map(move |j| (0.1 * ((i * 3 + j + 1) as f64).sin()) as f32))
            .collect(),
        b1: vec![0.05, -0.02, 0.01],
        w2: vec![0.3, -0.2, 0.5],
        b2: vec![0.1],
    };
    let head = RewardHead::from_weights(3, 3, &w).unwrap();
    let emb = Matrix::new(
        4,
        3,
        (0..4)
            .flat_map(|r| (0..3).map(move |c| ((r * 3 + c) as f64).cos() as f32))
            .collect(),
    )
    .unwrap();
    let pairs = vec![
        PreferencePair {
            winner: 0,
            loser: 1,
            against_global: true,
        },
        PreferencePair::new(2, 3),
        PreferencePair::with_global(1, 3, 1000.0, 1100.0),
    ];
    (head, emb, pairs)
}

fn close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((*g as f64 - w).abs() < tol, "{what}[{k}]: {g} vs numpy {w}");
    }
}

#[test]
fn loss_and_gradient_match_numpy() {
    let (head, emb, pairs) = setup();
    let (loss, g) = head.loss_and_grad(&emb, &pairs, 0.1).unwrap();
    assert!((loss - 0.6949142752849496).abs() < 1e-6, "{loss}");
    close(
        &g.w1,
        &[
            -0.08567251836232496,
            -0.05713062901741701,
            0.02393689713368515,
            0.05297110351331639,
            0.04938282651819454,
            0.0003922069133639448,
            -0.14278752493000846,
            -0.09521771124541645,
            0.03989482697086392,
        ],
        1e-6,
        "grad w1",
    );
    close(
        &g.b1,
        &[
            -0.08750909871292349,
            -0.05833939769307441,
            -0.1458484920593741,
        ],
        1e-6,
        "grad b1",
    );
    close(
        &g.w2,
        &[
            -0.054805412140282284,
            0.03794238152493518,
            -0.03723147524441784,
        ],
        1e-6,
        "grad w2",
    );
    // s_w − s_l does not depend on the output bias.
    close(&g.b2, &[0.0], 1e-6, "grad b2");
}

#[test]
fn three_adamw_steps_match_numpy() {
    let (head, emb, pairs) = setup();
    let params = RewardHeadParams {
        dropout: 0.0,
        lr: 1e-2,
        epochs: 3,
        batch_size: 4, // all three pairs in one batch: one step per epoch
        ..RewardHeadParams::default()
    }
    .check()
    .unwrap();
    let w = params
        .fit_head(head, &emb, &pairs)
        .unwrap()
        .weights()
        .unwrap();
    close(
        &w.w1,
        &[
            0.11412930762222138,
            0.12091021701846529,
            -0.01589889164240799,
            -0.10567639106414929,
            -0.1258849510498668,
            -0.057684399647005453,
            0.09567484090493206,
            0.12890238026934578,
            0.011204495925731242,
        ],
        2e-6,
        "w1",
    );
    close(
        &w.b1,
        &[
            0.07999248935564313,
            0.010025551218531638,
            0.03999292584007946,
        ],
        2e-6,
        "b1",
    );
    close(
        &w.w2,
        &[
            0.32995591554661935,
            -0.22997182781665151,
            0.5298765670043445,
        ],
        2e-6,
        "w2",
    );
    // The output bias has an exactly-zero gradient in exact arithmetic, so Adam's
    // normalised step is driven by f32 rounding noise there: only bound it by 3·lr.
    assert!((w.b2[0] as f64 - 0.09997000448956912).abs() < 0.031);
}

/// A head trained on pairs ordered by a known linear reward ranks held-out pairs.
#[test]
fn learns_a_known_reward() {
    let dim = 8;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let n = 80;
    let emb: Vec<f32> = (0..n * dim)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let emb = Matrix::new(n, dim, emb).unwrap();
    let u: Vec<f32> = (0..dim)
        .map(|k| if k % 2 == 0 { 1.0 } else { -0.5 })
        .collect();
    let reward: Vec<f32> = (0..n)
        .map(|r| emb.row(r).iter().zip(&u).map(|(a, b)| a * b).sum())
        .collect();
    let mut pair = |lo: usize, hi: usize| {
        let a = rng.random_range(lo..hi);
        let mut b = rng.random_range(lo..hi);
        while b == a {
            b = rng.random_range(lo..hi);
        }
        if reward[a] > reward[b] {
            PreferencePair::new(a, b)
        } else {
            PreferencePair::new(b, a)
        }
    };
    // Train on responses 0..60, test on responses 60..80.
    let train: Vec<PreferencePair> = (0..400).map(|_| pair(0, 60)).collect();
    let test: Vec<PreferencePair> = (0..200).map(|_| pair(60, 80)).collect();
    let params = RewardHeadParams {
        lr: 1e-3,
        epochs: 20,
        seed: 3,
        ..RewardHeadParams::default()
    }
    .check()
    .unwrap();
    let acc = |head: &RewardHead| -> pref_rank::Result<f64> {
        let s = head.score(&emb)?;
        let ok = test.iter().filter(|p| s[p.winner] > s[p.loser]).count();
        Ok(ok as f64 / test.len() as f64)
    };
    let head = params.fit(&emb, &train).unwrap();
    let a = acc(&head).unwrap();
    assert!(a > 0.85, "held-out pairwise accuracy {a}");

    // Same seed → same head; another seed → another head.
    let again = params.fit(&emb, &train).unwrap();
    assert_eq!(head.weights().unwrap(), again.weights().unwrap());
    let other = RewardHeadParams {
        seed: 4,
        ..params.params().clone()
    }
    .check()
    .unwrap()
    .fit(&emb, &train)
    .unwrap();
    assert_ne!(head.weights().unwrap(), other.weights().unwrap());

    // Learning curves: from-scratch points equal independent fits on the prefix;
    // incremental points continue training and end at least as accurate.
    let sizes = [25, 100, 400];
    let scratch = params
        .learning_curve(&emb, &train, &sizes, false, |_, h| h.weights())
        .unwrap();
    let direct = params.fit(&emb, &train[..100]).unwrap().weights().unwrap();
    assert_eq!(scratch[1], direct);
    let inc = params
        .learning_curve(&emb, &train, &sizes, true, |s, h| Ok((s, acc(h)?)))
        .unwrap();
    assert_eq!(inc.iter().map(|x| x.0).collect::<Vec<_>>(), sizes);
    assert!(inc[2].1 > 0.85 && inc[2].1 >= inc[0].1, "{inc:?}");
}

#[test]
fn bad_input_and_params() {
    let (head, emb, pairs) = setup();
    let p = RewardHeadParams::default().check().unwrap();
    let bad = [PreferencePair::new(0, 9)];
    assert!(matches!(p.fit(&emb, &bad), Err(Error::InvalidInput(_))));
    assert!(matches!(p.fit(&emb, &[]), Err(Error::InvalidInput(_))));
    assert!(p
        .learning_curve(&emb, &pairs, &[2, 2], true, |_, _| Ok(()))
        .is_err());
    let wrong_dim = Matrix::new(2, 2, vec![0.0; 4]).unwrap();
    assert!(head.score(&wrong_dim).is_err());
    for (params, name) in [
        (
            RewardHeadParams {
                dropout: 1.0,
                ..Default::default()
            },
            "dropout",
        ),
        (
            RewardHeadParams {
                lr: 0.0,
                ..Default::default()
            },
            "lr",
        ),
        (
            RewardHeadParams {
                batch_size: 0,
                ..Default::default()
            },
            "batch_size",
        ),
        (
            RewardHeadParams {
                epochs: 0,
                ..Default::default()
            },
            "epochs",
        ),
        (
            RewardHeadParams {
                hidden: Some(0),
                ..Default::default()
            },
            "hidden",
        ),
    ] {
        match params.check() {
            Err(Error::InvalidParam { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}
