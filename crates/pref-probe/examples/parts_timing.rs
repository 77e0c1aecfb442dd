//! The steps of the tridiagonal route, timed one by one with faer on random data:
//! `parts_timing N D THREADS [REPS]` (minimum over REPS runs, default 3).
//!
//! Gram matrix of the smaller side (the layout the crate uses), faer's
//! tridiagonalisation (sequential, and split in two parts as the crate runs it),
//! then the rotation the leave-one-out needs: `Q` formed explicitly
//! (n ≤ d) or applied to the n × d design (n > d); and faer's full symmetric
//! eigendecomposition for comparison (n ≤ d only: at d = 4096 it takes minutes).
use std::time::Instant;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::tridiag::{tridiag_in_place, tridiag_in_place_scratch};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::linalg::householder::{
    apply_block_householder_sequence_on_the_left_in_place_scratch,
    apply_block_householder_sequence_on_the_left_in_place_with_conj,
    apply_block_householder_sequence_on_the_right_in_place_with_conj,
    apply_block_householder_sequence_transpose_on_the_left_in_place_scratch,
};
use faer::linalg::matmul::triangular::{self as tri, BlockStructure};
use faer::{Accum, Conj, Mat, Par};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn time<R>(name: &str, reps: usize, mut f: impl FnMut() -> R) -> R {
    let mut best = f64::MAX;
    let mut out = None;
    for _ in 0..reps {
        let t = Instant::now();
        out = Some(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{name:48} {best:8.3} s");
    out.expect("one run")
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("integer arguments"))
        .collect();
    let (n, d, threads) = (args[0], args[1], args[2]);
    let reps = args.get(3).copied().unwrap_or(3).max(1);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("thread pool");
    let par = if threads == 1 {
        Par::Seq
    } else {
        Par::rayon(0)
    };
    println!("n={n} d={d} threads={threads} reps={reps}");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let k = n.min(d);
    // n ≤ d: Xsᵀ (d × n) and G = XsXsᵀ; n > d: Xs (n × d) and G = XsᵀXs.
    let (rows, cols) = if n <= d { (d, n) } else { (n, d) };
    let a = Mat::<f64>::from_fn(rows, cols, |_, _| StandardNormal.sample(&mut rng));
    let g = time("Gram matrix (lower triangle)", reps, || {
        let mut g = Mat::<f64>::zeros(k, k);
        tri::matmul(
            g.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            a.transpose(),
            BlockStructure::Rectangular,
            a.as_ref(),
            BlockStructure::Rectangular,
            1.0,
            par,
        );
        g
    });
    let bs = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(k, k);
    let tridiag = |p: Par| {
        let mut t = g.clone();
        let mut h = Mat::<f64>::zeros(bs, k - 1);
        let mut buf = MemBuffer::new(tridiag_in_place_scratch::<f64>(k, p, Default::default()));
        tridiag_in_place(
            t.as_mut(),
            h.as_mut(),
            p,
            MemStack::new(&mut buf),
            Default::default(),
        );
        (t, h)
    };
    time("tridiagonalisation, faer sequential", reps, || {
        tridiag(Par::Seq)
    });
    // As the crate runs it: faer's parallel version with a fixed degree of 2, on the
    // THREADS-thread pool.
    let (t, h) = time("tridiagonalisation, split in 2 (the crate's)", reps, || {
        tridiag(Par::rayon(2))
    });
    let basis = t.as_ref().submatrix(1, 0, k - 1, k - 1);
    if n <= d {
        time("Q formed (faer sequence applied to I)", reps, || {
            let mut q = Mat::<f64>::identity(k, k);
            let mut buf = MemBuffer::new(
                apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(k - 1, bs, k),
            );
            apply_block_householder_sequence_on_the_left_in_place_with_conj(
                basis,
                h.as_ref(),
                Conj::No,
                q.as_mut().subrows_mut(1, k - 1),
                par,
                MemStack::new(&mut buf),
            );
            q
        });
        time("faer self_adjoint_evd (for comparison)", reps, || {
            let mut s = faer::diag::Diag::<f64>::zeros(k);
            let mut u = Mat::<f64>::zeros(k, k);
            let mut buf = MemBuffer::new(self_adjoint_evd_scratch::<f64>(
                k,
                ComputeEigenvectors::Yes,
                par,
                Default::default(),
            ));
            self_adjoint_evd(
                g.as_ref(),
                s.as_mut(),
                Some(u.as_mut()),
                par,
                MemStack::new(&mut buf),
                Default::default(),
            )
            .expect("eigendecomposition");
            u
        });
    } else {
        time("Y = Xs Q (Householder application)", reps, || {
            let mut y = a.clone();
            let mut buf = MemBuffer::new(
                apply_block_householder_sequence_transpose_on_the_left_in_place_scratch::<f64>(
                    k - 1,
                    bs,
                    n,
                ),
            );
            apply_block_householder_sequence_on_the_right_in_place_with_conj(
                basis,
                h.as_ref(),
                Conj::No,
                y.as_mut().subcols_mut(1, k - 1),
                par,
                MemStack::new(&mut buf),
            );
            y
        });
    }
}
