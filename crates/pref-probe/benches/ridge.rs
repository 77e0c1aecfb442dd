//! The probe sweep (decomposition + 6 α + LOO + held-out metrics on 200 rows) on
//! random data, and the decompositions it could be built on. Reference numbers
//! (sklearn RidgeCV, numpy) come from benches/reference_ridgecv.py; results in the
//! crate README.
//!
//! `PREF_PROBE_BENCH_LARGE=1` adds the 10,000 × 4096 sweep (10 samples of about
//! 15 s); `PREF_PROBE_BENCH_NALGEBRA=1` adds nalgebra's SVD of 953 × 4096.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::tridiag::{tridiag_in_place, tridiag_in_place_scratch};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::linalg::householder::{
    apply_block_householder_sequence_on_the_left_in_place_scratch,
    apply_block_householder_sequence_on_the_left_in_place_with_conj,
};
use faer::linalg::matmul::triangular::{self as tri, BlockStructure};
use faer::linalg::svd::{svd, svd_scratch, ComputeSvdVectors};
use faer::{Accum, Conj, Mat, Par};
use pref_data::Matrix;
use pref_probe::{RidgeParams, Solver};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn data(n: usize, d: usize) -> (Matrix<f64>, Matrix<f64>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let x: Vec<f64> = (0..n * d)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let x = Matrix::new(n, d, x).unwrap();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            x.row(i)[..50].iter().sum::<f64>()
                + Distribution::<f64>::sample(&StandardNormal, &mut rng)
        })
        .collect();
    (x, Matrix::new(n, 1, y).unwrap())
}

fn sweep_bench(c: &mut Criterion, n: usize, d: usize, configs: &[(&str, Solver, bool)]) {
    let (x, y) = data(n + 200, d);
    let train: Vec<usize> = (0..n).collect();
    let test: Vec<usize> = (n..n + 200).collect();
    let mut g = c.benchmark_group(format!("sweep_{n}x{d}"));
    g.sample_size(10).warm_up_time(Duration::from_secs(1));
    for (name, solver, parallel) in configs {
        let p = RidgeParams {
            solver: *solver,
            parallel: *parallel,
            ..RidgeParams::default()
        }
        .check()
        .unwrap();
        g.bench_function(*name, |b| {
            b.iter(|| {
                let fit = p.fit_rows(&x, &y, &train).unwrap();
                black_box(fit.evaluate(&x, &y, &test).unwrap())
            })
        });
    }
    g.finish();
}

fn sweep_953(c: &mut Criterion) {
    sweep_bench(
        c,
        953,
        4096,
        &[
            ("tridiag_1thread", Solver::Tridiag, false),
            ("tridiag_rayon", Solver::Tridiag, true),
            ("gram_1thread", Solver::Gram, false),
            ("gram_rayon", Solver::Gram, true),
            ("svd_1thread", Solver::Svd, false),
        ],
    );
}

fn sweep_large(c: &mut Criterion) {
    if std::env::var_os("PREF_PROBE_BENCH_LARGE").is_some() {
        sweep_bench(c, 10_000, 4096, &[("tridiag_rayon", Solver::Tridiag, true)]);
    }
}

fn decompositions(c: &mut Criterion) {
    let (n, d) = (953, 4096);
    let (x, _) = data(n, d);
    let xm = Mat::<f64>::from_fn(n, d, |i, j| x.data[i * d + j]);
    let mut g = c.benchmark_group("decomposition_953x4096_1thread");
    g.sample_size(10).warm_up_time(Duration::from_secs(1));
    let par = Par::Seq;
    // Lower triangle of X Xᵀ, the first step of both Gram routes.
    let gram = || {
        let mut k = Mat::<f64>::zeros(n, n);
        tri::matmul(
            k.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            xm.as_ref(),
            BlockStructure::Rectangular,
            xm.transpose(),
            BlockStructure::Rectangular,
            1.0,
            par,
        );
        k
    };
    g.bench_function("faer_thin_svd", |b| {
        let req = svd_scratch::<f64>(
            n,
            d,
            ComputeSvdVectors::Thin,
            ComputeSvdVectors::Thin,
            par,
            Default::default(),
        );
        let mut buf = MemBuffer::new(req);
        b.iter(|| {
            let mut s = faer::diag::Diag::<f64>::zeros(n);
            let mut u = Mat::<f64>::zeros(n, n);
            let mut v = Mat::<f64>::zeros(d, n);
            svd(
                xm.as_ref(),
                s.as_mut(),
                Some(u.as_mut()),
                Some(v.as_mut()),
                par,
                MemStack::new(&mut buf),
                Default::default(),
            )
            .unwrap();
            black_box((s, u, v))
        })
    });
    g.bench_function("faer_gram_plus_eigh", |b| {
        let req =
            self_adjoint_evd_scratch::<f64>(n, ComputeEigenvectors::Yes, par, Default::default());
        let mut buf = MemBuffer::new(req);
        b.iter(|| {
            let k = gram();
            let mut s = faer::diag::Diag::<f64>::zeros(n);
            let mut u = Mat::<f64>::zeros(n, n);
            self_adjoint_evd(
                k.as_ref(),
                s.as_mut(),
                Some(u.as_mut()),
                par,
                MemStack::new(&mut buf),
                Default::default(),
            )
            .unwrap();
            black_box((s, u))
        })
    });
    g.bench_function("faer_gram_plus_tridiag_plus_q", |b| {
        let bs = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(n, n);
        let req = tridiag_in_place_scratch::<f64>(n, par, Default::default());
        let mut buf = MemBuffer::new(req);
        b.iter(|| {
            let mut k = gram();
            let mut h = Mat::<f64>::zeros(bs, n - 1);
            tridiag_in_place(
                k.as_mut(),
                h.as_mut(),
                par,
                MemStack::new(&mut buf),
                Default::default(),
            );
            // Q (faer's plain sequence application to the identity).
            let mut q = Mat::<f64>::identity(n, n);
            let mut qbuf = MemBuffer::new(
                apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(n - 1, bs, n),
            );
            apply_block_householder_sequence_on_the_left_in_place_with_conj(
                k.as_ref().submatrix(1, 0, n - 1, n - 1),
                h.as_ref(),
                Conj::No,
                q.as_mut().subrows_mut(1, n - 1),
                par,
                MemStack::new(&mut qbuf),
            );
            black_box((k, q))
        })
    });
    if std::env::var_os("PREF_PROBE_BENCH_NALGEBRA").is_some() {
        let xn = nalgebra::DMatrix::<f64>::from_fn(n, d, |i, j| x.data[i * d + j]);
        g.bench_function("nalgebra_thin_svd", |b| {
            b.iter(|| black_box(nalgebra::linalg::SVD::new(xn.clone(), true, true)))
        });
    }
    g.finish();
}

criterion_group!(benches, sweep_953, decompositions, sweep_large);
criterion_main!(benches);
