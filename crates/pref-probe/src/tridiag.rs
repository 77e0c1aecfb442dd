//! The tridiagonal route of the α sweep: `G = Q T Qᵀ` (faer's Householder
//! tridiagonalisation) without the eigenvectors of `T`.
//!
//! For a symmetric positive semi-definite Gram matrix `G` and α > 0,
//! `(G + αI)⁻¹ = Q (T + αI)⁻¹ Qᵀ`, and `T + αI` is a symmetric positive definite
//! tridiagonal matrix: its `LDLᵀ` factorisation costs O(m) per α, a solve O(m), and
//! a quadratic form `pᵀ(T + αI)⁻¹p = Σ_k z_k²/D_k` (`z = L⁻¹p`) O(m). So once `G` is
//! tridiagonalised and the vectors of interest are rotated by `Q`, every α of the
//! grid and every leave-one-out hat value costs O(m) — the eigenvectors of `T`
//! (the tridiagonal eigensolver and the back-transformation, more than half of
//! a symmetric eigendecomposition) are never needed.
//!
//! Hand-written here, because faer has no such routines: the `LDLᵀ` recurrence of a
//! tridiagonal matrix, the quadratic forms for many vectors and many α at once (the
//! leave-one-out kernel), and the rank-one reflection that takes the intercept out.
//! The tridiagonalisation, its eigensolver and every application of `Q` are faer's.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::tridiag::{tridiag_in_place, tridiag_in_place_scratch};
use faer::linalg::evd::{
    self_adjoint_evd_scratch, tridiagonal_self_adjoint_evd, ComputeEigenvectors, EvdError,
};
use faer::linalg::householder::{
    apply_block_householder_on_the_left_in_place_scratch,
    apply_block_householder_on_the_left_in_place_with_conj,
    apply_block_householder_sequence_on_the_left_in_place_scratch,
    apply_block_householder_sequence_on_the_left_in_place_with_conj,
    apply_block_householder_sequence_transpose_on_the_left_in_place_scratch,
    apply_block_householder_sequence_transpose_on_the_left_in_place_with_conj,
};
use faer::reborrow::ReborrowMut;
use faer::{ColRef, Conj, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

/// The fixed parallelism degree of the tridiagonalisation (see [`Tridiag::new`]).
const TRIDIAG_SPLIT: usize = 2;

/// `G = Q T Qᵀ` for a symmetric `m × m` matrix given by its lower triangle.
pub(crate) struct Tridiag {
    /// faer's in-place result: `T` on the diagonal and subdiagonal, the Householder
    /// vectors of `Q` below the subdiagonal.
    packed: Mat<f64>,
    /// Block Householder factors (`block × (m − 1)`).
    factor: Mat<f64>,
    diag: Vec<f64>,
    sub: Vec<f64>,
}

impl Tridiag {
    /// Tridiagonalises `g` (only its lower triangle is read), consuming it.
    ///
    /// faer's parallel tridiagonalisation splits each step's matrix–vector
    /// product into as many partial sums as its parallelism degree, so the
    /// rounding depends on that degree. It is therefore always run with the same
    /// degree, [`TRIDIAG_SPLIT`]: on the rayon pool when `par` allows (the parts run
    /// concurrently on any number of threads), else on a one-thread pool (the same
    /// parts one after the other). Either way the result is the same. The reduction
    /// is memory-bound; on two cores the split version measured 1.4× (m = 953) and
    /// 1.8× (m = 4096) faster than faer's sequential one, and 5 % slower on one
    /// thread (crate README).
    pub(crate) fn new(mut g: Mat<f64>, par: Par) -> Self {
        let m = g.nrows();
        let bs = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(m, m);
        let mut factor = Mat::<f64>::zeros(bs, m.saturating_sub(1));
        if m > 0 {
            let split = Par::rayon(TRIDIAG_SPLIT);
            let mut run = || {
                let mut buf = MemBuffer::new(tridiag_in_place_scratch::<f64>(
                    m,
                    split,
                    Default::default(),
                ));
                tridiag_in_place(
                    g.as_mut(),
                    factor.as_mut(),
                    split,
                    MemStack::new(&mut buf),
                    Default::default(),
                );
            };
            match par {
                Par::Rayon(_) => run(),
                Par::Seq => match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                    Ok(pool) => pool.install(run),
                    // Without a thread of its own, the current pool gives the same result.
                    Err(_) => run(),
                },
            }
        }
        let diag = (0..m).map(|k| g[(k, k)]).collect();
        let sub = (1..m).map(|k| g[(k, k - 1)]).collect();
        Self {
            packed: g,
            factor,
            diag,
            sub,
        }
    }

    pub(crate) fn dim(&self) -> usize {
        self.diag.len()
    }

    /// The Householder vectors of `Q` acting on rows `1..m` (`Q = diag(1, Q₁)`).
    fn basis(&self) -> MatRef<'_, f64> {
        let m = self.dim();
        self.packed.as_ref().submatrix(1, 0, m - 1, m - 1)
    }

    /// `Q · b` in place (`b` has `m` rows).
    pub(crate) fn apply_q(&self, b: MatMut<'_, f64>, par: Par) {
        self.apply_left(b, par, false);
    }

    /// `Qᵀ · b` in place (`b` has `m` rows).
    pub(crate) fn apply_qt(&self, b: MatMut<'_, f64>, par: Par) {
        self.apply_left(b, par, true);
    }

    /// `Q · b` or (`transpose`) `Qᵀ · b` in place, in fixed column chunks.
    fn apply_left(&self, b: MatMut<'_, f64>, par: Par, transpose: bool) {
        let m = self.dim();
        if m < 2 {
            return;
        }
        let bs = self.factor.nrows();
        for_col_chunks(b.subrows_mut(1, m - 1), par, |chunk| {
            let scratch = if transpose {
                apply_block_householder_sequence_transpose_on_the_left_in_place_scratch::<f64>(
                    m - 1,
                    bs,
                    chunk.ncols(),
                )
            } else {
                apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(
                    m - 1,
                    bs,
                    chunk.ncols(),
                )
            };
            let mut buf = MemBuffer::new(scratch);
            let stack = MemStack::new(&mut buf);
            let (basis, factor) = (self.basis(), self.factor.as_ref());
            if transpose {
                apply_block_householder_sequence_transpose_on_the_left_in_place_with_conj(
                    basis,
                    factor,
                    Conj::No,
                    chunk,
                    Par::Seq,
                    stack,
                );
            } else {
                apply_block_householder_sequence_on_the_left_in_place_with_conj(
                    basis,
                    factor,
                    Conj::No,
                    chunk,
                    Par::Seq,
                    stack,
                );
            }
        });
    }

    /// `a · Q` in place (`a` has `m` columns): rows of `a` are independent,
    /// `(a Q)ᵀ = Qᵀ aᵀ`.
    pub(crate) fn apply_q_right(&self, a: MatMut<'_, f64>, par: Par) {
        self.apply_qt(a.transpose_mut(), par);
    }

    /// `Q` as an explicit `m × m` matrix.
    ///
    /// faer's sequence application would transform all `m` columns of the
    /// identity for every block; accumulating backwards, the rows a block acts on
    /// are still zero left of the block, so each block is applied to the
    /// trailing columns only (LAPACK's `dorgtr` does the same): 4m³/3 flops
    /// instead of 2m³.
    pub(crate) fn form_q(&self, par: Par) -> Mat<f64> {
        let m = self.dim();
        let mut q = Mat::<f64>::identity(m, m);
        if m < 2 {
            return q;
        }
        let size = m - 1;
        let bs = self.factor.nrows();
        let basis = self.basis();
        let factor = self.factor.as_ref();
        let mut end = size;
        // Blocks start at multiples of `bs` (as the factor was built); the last may
        // be shorter.
        let mut block = match size % bs {
            0 => bs,
            r => r,
        };
        while end > 0 {
            let start = end - block;
            let target = q
                .as_mut()
                .submatrix_mut(1 + start, 1 + start, size - start, size - start);
            for_col_chunks(target, par, |chunk| {
                let mut buf =
                    MemBuffer::new(apply_block_householder_on_the_left_in_place_scratch::<f64>(
                        size - start,
                        block,
                        chunk.ncols(),
                    ));
                apply_block_householder_on_the_left_in_place_with_conj(
                    basis.submatrix(start, start, size - start, block),
                    factor.submatrix(0, start, block, block),
                    Conj::No,
                    chunk,
                    Par::Seq,
                    MemStack::new(&mut buf),
                );
            });
            end = start;
            block = bs;
        }
        q
    }

    /// Eigenvalues (ascending) and eigenvectors of `G`: faer's divide-and-conquer
    /// eigensolver for `T`, then `Q` applied to its eigenvectors (the steps of
    /// faer's `self_adjoint_evd`, with the thread-count-independent pieces above).
    pub(crate) fn eigen(&self, par: Par) -> Result<(Vec<f64>, Mat<f64>), EvdError> {
        let m = self.dim();
        let mut s = Diag::<f64>::zeros(m);
        let mut u = Mat::<f64>::zeros(m, m);
        if m == 0 {
            return Ok((vec![], u));
        }
        let mut sub = self.sub.clone();
        sub.push(0.0);
        let mut buf = MemBuffer::new(self_adjoint_evd_scratch::<f64>(
            m,
            ComputeEigenvectors::Yes,
            par,
            Default::default(),
        ));
        tridiagonal_self_adjoint_evd(
            ColRef::from_slice(&self.diag).as_diagonal(),
            ColRef::from_slice(&sub).as_diagonal(),
            s.as_mut(),
            Some(u.as_mut()),
            par,
            MemStack::new(&mut buf),
            Default::default(),
        )?;
        self.apply_q(u.as_mut(), par);
        Ok((s.column_vector().iter().copied().collect(), u))
    }

    /// `LDLᵀ` of `T + αI`.
    pub(crate) fn ldl(&self, alpha: f64) -> Ldl {
        let m = self.dim();
        let mut l = Vec::with_capacity(m.saturating_sub(1));
        let mut inv_d = Vec::with_capacity(m);
        let mut d_prev = 0.0;
        for k in 0..m {
            let mut d = self.diag[k] + alpha;
            if k > 0 {
                let e = self.sub[k - 1];
                let lk = e / d_prev;
                d -= lk * e;
                l.push(lk);
            }
            // Every pivot of the SPD matrix T + αI is at least its smallest
            // eigenvalue, hence ≥ α; the clamp only guards against rounding when α is
            // far below ε·λ_max.
            let d = d.max(alpha);
            inv_d.push(1.0 / d);
            d_prev = d;
        }
        Ldl { l, inv_d }
    }
}

/// Applies `f` to consecutive column blocks of `b`, each with a sequential
/// kernel, the blocks in parallel when `par` allows.
///
/// faer's own parallel Householder application splits the columns by the thread
/// count, and the split changes the rounding (its kernels sum differently for one
/// column than for several): fixed blocks keep the result independent of the
/// thread count.
fn for_col_chunks(b: MatMut<'_, f64>, par: Par, f: impl Fn(MatMut<'_, f64>) + Sync + Send) {
    const WIDTH: usize = 128;
    let n = b.ncols();
    match par {
        Par::Rayon(_) if n > WIDTH => b.par_col_chunks_mut(WIDTH).for_each(&f),
        _ => {
            let mut b = b;
            for start in (0..n).step_by(WIDTH) {
                f(b.as_mut().subcols_mut(start, WIDTH.min(n - start)));
            }
        }
    }
}

/// `T + αI = L D Lᵀ`, `L` unit lower bidiagonal with subdiagonal `l`.
pub(crate) struct Ldl {
    l: Vec<f64>,
    inv_d: Vec<f64>,
}

impl Ldl {
    /// Solves `(T + αI) s = b` in place.
    pub(crate) fn solve(&self, b: &mut [f64]) {
        let m = self.inv_d.len();
        for k in 1..m {
            b[k] -= self.l[k - 1] * b[k - 1];
        }
        for (v, d) in b.iter_mut().zip(&self.inv_d) {
            *v *= d;
        }
        for k in (0..m.saturating_sub(1)).rev() {
            b[k] -= self.l[k] * b[k + 1];
        }
    }
}

/// `out[i, a] = p_iᵀ (T + α_a I)⁻¹ p_i` for every row `p_i` of `p` (`n × m`) and
/// every factorisation in `ldl`.
///
/// Rows are independent, so they are processed in fixed blocks of 256 (in
/// parallel when `par` allows): the forward recurrence `z_k = p_k − l_{k−1} z_{k−1}`
/// then runs down the columns of `p` for a whole block at once (contiguous in a
/// column-major `p`, so it vectorises across rows), for all α in one pass over `p`.
/// The result does not depend on the thread count.
pub(crate) fn quad_forms(p: MatRef<'_, f64>, ldl: &[Ldl], par: Par) -> Mat<f64> {
    const BLOCK: usize = 256;
    let (n, m) = p.shape();
    let a_n = ldl.len();
    let block = |start: usize| -> Vec<f64> {
        let len = BLOCK.min(n - start);
        // [alpha][row] running z and sums.
        let mut z = vec![0.0; a_n * len];
        let mut acc = vec![0.0; a_n * len];
        let mut col = vec![0.0; len];
        for k in 0..m {
            let src = p.col(k).subrows(start, len);
            match src.try_as_col_major() {
                Some(s) => col.copy_from_slice(s.as_slice()),
                None => col.iter_mut().zip(src.iter()).for_each(|(o, v)| *o = *v),
            }
            for (a, f) in ldl.iter().enumerate() {
                let inv_d = f.inv_d[k];
                let zs = &mut z[a * len..(a + 1) * len];
                let acc = &mut acc[a * len..(a + 1) * len];
                if k == 0 {
                    for ((z, s), v) in zs.iter_mut().zip(acc.iter_mut()).zip(&col) {
                        *z = *v;
                        *s = v * v * inv_d;
                    }
                } else {
                    let l = f.l[k - 1];
                    for ((z, s), v) in zs.iter_mut().zip(acc.iter_mut()).zip(&col) {
                        *z = v - l * *z;
                        *s += *z * *z * inv_d;
                    }
                }
            }
        }
        acc
    };
    let starts: Vec<usize> = (0..n).step_by(BLOCK).collect();
    let blocks: Vec<Vec<f64>> = match par {
        Par::Seq => starts.iter().map(|&s| block(s)).collect(),
        Par::Rayon(_) => starts.par_iter().map(|&s| block(s)).collect(),
    };
    let mut out = Mat::<f64>::zeros(n, a_n);
    for (&start, acc) in starts.iter().zip(&blocks) {
        let len = BLOCK.min(n - start);
        for a in 0..a_n {
            out.col_as_slice_mut(a)[start..start + len]
                .copy_from_slice(&acc[a * len..(a + 1) * len]);
        }
    }
    out
}

/// The Householder reflection `H = I − w wᵀ/(1 + 1/√n)`, `w = 1/√n + e_{n−1}`,
/// which maps the unit constant vector `1/√n` to `−e_{n−1}`. Its first `n − 1`
/// columns `W` are an orthonormal basis of the vectors that sum to zero, which is
/// where the centred data live: the unpenalised intercept is then exactly the
/// dropped last coordinate.
pub(crate) struct Reflector {
    w: Vec<f64>,
    /// `1/(1 + 1/√n)`.
    coef: f64,
}

impl Reflector {
    pub(crate) fn new(n: usize) -> Self {
        let r = 1.0 / (n as f64).sqrt();
        let mut w = vec![r; n];
        w[n - 1] += 1.0;
        Self {
            w,
            coef: 1.0 / (1.0 + r),
        }
    }

    /// `Wᵀ b` (`n × c` → `(n − 1) × c`).
    pub(crate) fn wt(&self, b: MatRef<'_, f64>) -> Mat<f64> {
        let n = self.w.len();
        let mut out = Mat::<f64>::zeros(n - 1, b.ncols());
        for c in 0..b.ncols() {
            let dot = self.coef * (0..n).map(|i| self.w[i] * b[(i, c)]).sum::<f64>();
            for (i, o) in out.col_as_slice_mut(c).iter_mut().enumerate() {
                *o = b[(i, c)] - self.w[i] * dot;
            }
        }
        out
    }

    /// `W u` (`(n − 1) × c` → `n × c`; `u` column-major).
    pub(crate) fn w(&self, u: &Mat<f64>) -> Mat<f64> {
        let n = self.w.len();
        let mut out = Mat::<f64>::zeros(n, u.ncols());
        for c in 0..u.ncols() {
            let src = u.col_as_slice(c);
            let dot = self.coef * src.iter().zip(&self.w).map(|(v, w)| v * w).sum::<f64>();
            let col = out.col_as_slice_mut(c);
            for ((o, v), w) in col.iter_mut().zip(src).zip(&self.w) {
                *o = v - w * dot;
            }
            col[n - 1] = -self.w[n - 1] * dot;
        }
        out
    }

    /// `xt ← xt H` in place for `xt` `d × n` (each column a row of the design):
    /// `v = coef · xt w` (one sequential pass down the columns), then
    /// `xt[:, i] −= w_i v`, column blocks in parallel when `par` allows.
    pub(crate) fn apply_right(&self, xt: &mut Mat<f64>, par: Par) {
        const WIDTH: usize = 64;
        let (d, n) = xt.shape();
        let mut v = vec![0.0; d];
        for (i, wi) in self.w.iter().enumerate() {
            for (o, x) in v.iter_mut().zip(xt.col_as_slice(i)) {
                *o += wi * x;
            }
        }
        v.iter_mut().for_each(|o| *o *= self.coef);
        let f = |(b, mut block): (usize, MatMut<'_, f64>)| {
            for c in 0..block.ncols() {
                let wi = self.w[b * WIDTH + c];
                let col = block
                    .rb_mut()
                    .col_mut(c)
                    .try_as_col_major_mut()
                    .expect("column");
                for (x, o) in col.as_slice_mut().iter_mut().zip(&v) {
                    *x -= wi * o;
                }
            }
        };
        match par {
            Par::Rayon(_) => xt
                .as_mut()
                .par_col_chunks_mut(WIDTH)
                .enumerate()
                .for_each(f),
            Par::Seq => {
                for (b, start) in (0..n).step_by(WIDTH).enumerate() {
                    f((b, xt.as_mut().subcols_mut(start, WIDTH.min(n - start))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The pieces against faer's own dense routines on random matrices.
    use super::*;
    use faer::linalg::householder::apply_block_householder_sequence_on_the_left_in_place_scratch as seq_scratch;
    use faer::linalg::solvers::Solve;
    use faer::Side;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn random(r: usize, c: usize, seed: u64) -> Mat<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Mat::from_fn(r, c, |_, _| StandardNormal.sample(&mut rng))
    }

    /// A positive semi-definite Gram matrix `xᵀx` of rank ≤ r.
    fn gram(m: usize, r: usize, seed: u64) -> Mat<f64> {
        let x = random(r, m, seed);
        x.transpose() * &x
    }

    fn max_abs(a: MatRef<'_, f64>) -> f64 {
        let mut v: f64 = 0.0;
        for j in 0..a.ncols() {
            for i in 0..a.nrows() {
                v = v.max(a[(i, j)].abs());
            }
        }
        v
    }

    fn tridiagonal(t: &Tridiag) -> Mat<f64> {
        let m = t.dim();
        Mat::from_fn(m, m, |i, j| {
            if i == j {
                t.diag[i]
            } else if i == j + 1 {
                t.sub[j]
            } else if j == i + 1 {
                t.sub[i]
            } else {
                0.0
            }
        })
    }

    #[test]
    fn q_t_qt_reconstructs_and_every_application_agrees() {
        // Sizes around faer's block size and the 128-column chunks of the
        // applications; a rank-deficient Gram matrix too.
        for (m, r, par) in [
            (1, 3, Par::Seq),
            (2, 3, Par::Seq),
            (3, 1, Par::rayon(2)),
            (50, 80, Par::Seq),
            (130, 40, Par::rayon(2)),
            (300, 400, Par::rayon(3)),
        ] {
            let g = gram(m, r, m as u64);
            let scale = max_abs(g.as_ref());
            let t = Tridiag::new(g.clone(), par);
            let q = t.form_q(par);
            // Qᵀ Q = I and Q T Qᵀ = G.
            let qtq = q.transpose() * &q;
            let err = max_abs((qtq - Mat::<f64>::identity(m, m)).as_ref());
            assert!(err < 1e-13 * m as f64, "m={m}: QᵀQ − I = {err:e}");
            let rec = &q * tridiagonal(&t) * q.transpose();
            let err = max_abs((rec - &g).as_ref());
            assert!(err < 1e-13 * scale * m as f64, "m={m}: QTQᵀ − G = {err:e}");
            // The structured Q equals faer's plain sequence application to I.
            let mut plain = Mat::<f64>::identity(m, m);
            if m > 1 {
                let mut buf = MemBuffer::new(seq_scratch::<f64>(m - 1, t.factor.nrows(), m));
                apply_block_householder_sequence_on_the_left_in_place_with_conj(
                    t.basis(),
                    t.factor.as_ref(),
                    Conj::No,
                    plain.as_mut().subrows_mut(1, m - 1),
                    Par::Seq,
                    MemStack::new(&mut buf),
                );
            }
            assert!(max_abs((&plain - &q).as_ref()) < 1e-14 * m as f64, "m={m}");
            // Q b, Qᵀ b and a Q against products with the explicit Q.
            let b = random(m, 7, 1);
            let mut qb = b.clone();
            t.apply_q(qb.as_mut(), par);
            assert!(max_abs((&qb - &q * &b).as_ref()) < 1e-13 * m as f64);
            let mut qtb = b.clone();
            t.apply_qt(qtb.as_mut(), par);
            assert!(max_abs((&qtb - q.transpose() * &b).as_ref()) < 1e-13 * m as f64);
            let a = random(301, m, 2);
            let mut aq = a.clone();
            t.apply_q_right(aq.as_mut(), par);
            assert!(max_abs((&aq - &a * &q).as_ref()) < 1e-13 * m as f64);
        }
    }

    #[test]
    fn tridiagonalisation_is_independent_of_the_thread_count() {
        // 420 > faer's size for a parallel tridiagonalisation step (about 313), so
        // the split path runs for the first hundred steps.
        let g = gram(420, 500, 11);
        let reference = Tridiag::new(g.clone(), Par::Seq);
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let t = pool.install(|| Tridiag::new(g.clone(), Par::rayon(0)));
            assert_eq!(t.packed, reference.packed, "{threads} threads");
            assert_eq!(t.factor, reference.factor, "{threads} threads");
        }
    }

    #[test]
    fn eigen_matches_the_gram_matrix() {
        for (m, r) in [(1, 2), (5, 2), (140, 200), (200, 60)] {
            let g = gram(m, r, 7);
            let scale = max_abs(g.as_ref());
            let (lam, v) = Tridiag::new(g.clone(), Par::rayon(2))
                .eigen(Par::rayon(2))
                .unwrap();
            assert!(lam.windows(2).all(|w| w[0] <= w[1]), "ascending");
            let lam_m = Mat::<f64>::from_fn(m, m, |i, j| if i == j { lam[i] } else { 0.0 });
            let err = max_abs((&g * &v - &v * lam_m).as_ref());
            assert!(err < 1e-12 * scale * m as f64, "m={m}: GV − VΛ = {err:e}");
            // Same eigenvalues as faer's own eigensolver.
            let reference = g.self_adjoint_eigenvalues(Side::Lower).unwrap();
            for (a, b) in lam.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-12 * scale * m as f64, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn ldl_solves_and_quadratic_forms_match_a_dense_cholesky() {
        for (m, r) in [(1, 1), (2, 5), (60, 20), (300, 500)] {
            let t = Tridiag::new(gram(m, r, 3), Par::Seq);
            let dense = tridiagonal(&t);
            let p = random(520, m, 4); // 520 rows: three blocks of the LOO kernel
            let alphas = [1e-3, 1.0, 1e3];
            let ldl: Vec<Ldl> = alphas.iter().map(|&a| t.ldl(a)).collect();
            let q = quad_forms(p.as_ref(), &ldl, Par::rayon(2));
            assert_eq!(
                q,
                quad_forms(p.as_ref(), &ldl, Par::Seq),
                "thread-independent"
            );
            for (a, &alpha) in alphas.iter().enumerate() {
                let shifted = &dense + Mat::<f64>::identity(m, m) * alpha;
                let llt = shifted.llt(Side::Lower).unwrap();
                // Solve.
                let b = random(m, 1, 5);
                let mut s = b.col_as_slice(0).to_vec();
                ldl[a].solve(&mut s);
                let x = llt.solve(&b);
                for (u, v) in s.iter().zip(x.col_as_slice(0)) {
                    assert!((u - v).abs() < 1e-10 * (1.0 + v.abs()), "m={m} α={alpha}");
                }
                // pᵀ (T + αI)⁻¹ p for every row.
                let sol = llt.solve(p.transpose());
                for i in 0..p.nrows() {
                    let want: f64 = (0..m).map(|k| p[(i, k)] * sol[(k, i)]).sum();
                    let got = q[(i, a)];
                    assert!(
                        (got - want).abs() < 1e-10 * want.abs(),
                        "m={m} α={alpha} row {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn reflector_is_an_orthonormal_basis_of_the_centred_vectors() {
        for n in [2, 3, 17] {
            let r = Reflector::new(n);
            let w = r.w(&Mat::<f64>::identity(n - 1, n - 1)); // W itself
            let wtw = w.transpose() * &w;
            assert!(
                max_abs((wtw - Mat::<f64>::identity(n - 1, n - 1)).as_ref()) < 1e-15 * n as f64
            );
            let ones = Mat::<f64>::from_fn(n, 1, |_, _| 1.0);
            assert!(max_abs(r.wt(ones.as_ref()).as_ref()) < 1e-15 * n as f64);
            // W Wᵀ b = b − mean(b) and Wᵀ equals the transpose of W.
            let b = random(n, 3, 9);
            let wwb = r.w(&r.wt(b.as_ref()));
            for c in 0..3 {
                let mean = b.col_as_slice(c).iter().sum::<f64>() / n as f64;
                for i in 0..n {
                    assert!((wwb[(i, c)] - (b[(i, c)] - mean)).abs() < 1e-14);
                }
            }
            assert!(max_abs((r.wt(b.as_ref()) - w.transpose() * &b).as_ref()) < 1e-14);
            // xt H, with H = [W, −1/√n]: the first n − 1 columns are xt W.
            let mut xt = random(5, n, 10);
            let xw = &xt * &w;
            r.apply_right(&mut xt, Par::rayon(2));
            let err = max_abs((xt.as_ref().subcols(0, n - 1) - &xw).as_ref());
            assert!(err < 1e-14 * n as f64);
        }
    }
}
