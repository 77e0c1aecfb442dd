//! Timed runs of the probe sweep on random data: `sweep_timing N D [THREADS [REPS]]`.
//!
//! Prints the seconds of `fit_rows` (decomposition + all α + LOO) and of the
//! held-out evaluation on 200 extra rows (minimum and median over REPS runs,
//! default 1). The criterion bench (`benches/ridge.rs`)
//! is the measurement of record; this is for one-off runs of large shapes.
use std::time::Instant;

use pref_data::Matrix;
use pref_probe::RidgeParams;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("integer arguments"))
        .collect();
    let (n, d) = (args[0], args[1]);
    if let Some(&t) = args.get(2) {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .expect("thread pool");
    }
    let m = n + 200;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let x: Vec<f64> = (0..m * d)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let x = Matrix::new(m, d, x).expect("shape");
    let y: Vec<f64> = (0..m)
        .map(|i| {
            x.row(i)[..50].iter().sum::<f64>()
                + Distribution::<f64>::sample(&StandardNormal, &mut rng)
        })
        .collect();
    let y = Matrix::new(m, 1, y).expect("shape");
    let train: Vec<usize> = (0..n).collect();
    let test: Vec<usize> = (n..m).collect();
    let params = RidgeParams::default().check().expect("valid");
    let reps = args.get(3).copied().unwrap_or(1).max(1);
    let (mut t_fit, mut t_eval) = (vec![], vec![]);
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        let fit = params.fit_rows(&x, &y, &train).expect("fit");
        t_fit.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let metrics = fit.evaluate(&x, &y, &test).expect("evaluate");
        t_eval.push(t.elapsed().as_secs_f64());
        last = Some((fit, metrics));
    }
    let (fit, metrics) = last.expect("one run");
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    };
    let ((fit_min, fit_med), (eval_min, eval_med)) = (stats(&mut t_fit), stats(&mut t_eval));
    println!(
        "n={n} d={d} threads={} reps={reps} fit min {fit_min:.3}s median {fit_med:.3}s \
         evaluate min {eval_min:.4}s median {eval_med:.4}s best α {:?} test R² {:.4}",
        rayon::current_num_threads(),
        fit.best_alpha(),
        metrics[fit.best[0]][0].r2
    );
}
