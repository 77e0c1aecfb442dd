//! Weighted isotonic regression by the pool-adjacent-violators algorithm (PAVA).
//!
//! Hand-written: none of the project's numeric dependencies (nalgebra, statrs,
//! argmin) has isotonic regression, and the estimators need a variant that fits on
//! a pre-sorted subset of rows (cross-fitting) without re-sorting. The fitted
//! function is the one of scikit-learn's `IsotonicRegression(out_of_bounds="clip")`:
//! duplicate `x` are first pooled (weighted mean of `y`), PAVA fits one value per
//! distinct `x`, and predictions interpolate linearly between the distinct `x`
//! and are clipped to the end values outside them (tests compare with sklearn).

/// Monotone direction of a fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Non-decreasing in `x`.
    Increasing,
    /// Non-increasing in `x`.
    Decreasing,
}

/// A fitted isotonic function: values at the distinct training `x`, in increasing `x`.
#[derive(Debug, Clone, PartialEq)]
pub struct IsotonicFit {
    /// Distinct training inputs, strictly increasing.
    pub x: Vec<f64>,
    /// Fitted value at each of `x`.
    pub y: Vec<f64>,
}

impl IsotonicFit {
    /// Fits `y ~ x` with optional weights (all 1 when `None`).
    ///
    /// Rows with non-finite `x` or `y`, or non-positive weight, are ignored.
    /// Returns `None` when no usable row remains.
    pub fn fit(x: &[f64], y: &[f64], w: Option<&[f64]>, direction: Direction) -> Option<Self> {
        let mut order: Vec<usize> = (0..x.len())
            .filter(|&i| x[i].is_finite() && y[i].is_finite() && w.is_none_or(|w| w[i] > 0.0))
            .collect();
        order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
        Self::fit_sorted(&order, x, y, w, direction)
    }

    /// Fits on the rows `order`, which must already be sorted by `x` (ascending).
    pub fn fit_sorted(
        order: &[usize],
        x: &[f64],
        y: &[f64],
        w: Option<&[f64]>,
        direction: Direction,
    ) -> Option<Self> {
        if order.is_empty() {
            return None;
        }
        let sign = match direction {
            Direction::Increasing => 1.0,
            Direction::Decreasing => -1.0,
        };
        // Pool duplicate x, then PAVA over blocks (sum of weights, weighted sum of y,
        // number of distinct x in the block).
        let mut ux: Vec<f64> = Vec::new();
        let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let xv = x[order[i]];
            let (mut sw, mut swy) = (0.0, 0.0);
            while i < order.len() && x[order[i]] == xv {
                let r = order[i];
                let wi = w.map_or(1.0, |w| w[r]);
                sw += wi;
                swy += wi * sign * y[r];
                i += 1;
            }
            ux.push(xv);
            blocks.push((sw, swy, 1));
            // Merge while the last two blocks violate monotonicity.
            while blocks.len() >= 2 {
                let n = blocks.len();
                let (w1, s1, c1) = blocks[n - 2];
                let (w2, s2, c2) = blocks[n - 1];
                if s1 / w1 >= s2 / w2 {
                    blocks.truncate(n - 2);
                    blocks.push((w1 + w2, s1 + s2, c1 + c2));
                } else {
                    break;
                }
            }
        }
        let mut fy = Vec::with_capacity(ux.len());
        for (sw, swy, c) in blocks {
            let v = sign * swy / sw;
            fy.extend(std::iter::repeat_n(v, c));
        }
        Some(Self { x: ux, y: fy })
    }

    /// Predictions at `x[i]` for the rows `order`, which must be sorted by `x`
    /// (ascending), written to `out[i]`: one merge pass instead of a binary search
    /// per row (the same values as [`IsotonicFit::predict`]).
    pub fn predict_sorted_into(&self, order: &[usize], x: &[f64], out: &mut [f64]) {
        let n = self.x.len();
        let mut j = 0; // first index with self.x[j] > t
        for &i in order {
            let t = x[i];
            while j < n && self.x[j] <= t {
                j += 1;
            }
            out[i] = if j == 0 {
                self.y[0]
            } else if j == n {
                self.y[n - 1]
            } else {
                let (x0, x1, y0, y1) = (self.x[j - 1], self.x[j], self.y[j - 1], self.y[j]);
                if x0 == t || y0 == y1 {
                    y0
                } else {
                    y0 + (y1 - y0) * (t - x0) / (x1 - x0)
                }
            };
        }
    }

    /// The fitted function at `t`: linear interpolation between the distinct
    /// training inputs, clipped to the end values outside them.
    pub fn predict(&self, t: f64) -> f64 {
        let n = self.x.len();
        if t <= self.x[0] {
            return self.y[0];
        }
        if t >= self.x[n - 1] {
            return self.y[n - 1];
        }
        // First index with x > t; 1 ≤ j ≤ n − 1 here.
        let j = self.x.partition_point(|&v| v <= t);
        let (x0, x1, y0, y1) = (self.x[j - 1], self.x[j], self.y[j - 1], self.y[j]);
        if x0 == t || y0 == y1 {
            return y0;
        }
        y0 + (y1 - y0) * (t - x0) / (x1 - x0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_violators_and_duplicates() {
        let x = [1.0, 2.0, 2.0, 3.0, 4.0];
        let y = [1.0, 3.0, 2.0, 1.0, 5.0];
        let f = IsotonicFit::fit(&x, &y, None, Direction::Increasing).unwrap();
        assert_eq!(f.x, vec![1.0, 2.0, 3.0, 4.0]);
        // x = 2 pools to 2.5 (weight 2), then 3 violates: (2·2.5 + 1)/3 = 2.
        assert_eq!(f.y, vec![1.0, 2.0, 2.0, 5.0]);
        assert_eq!(f.predict(0.0), 1.0);
        assert_eq!(f.predict(1.5), 1.5);
        assert_eq!(f.predict(3.5), 3.5);
        assert_eq!(f.predict(9.0), 5.0);
        let q: [f64; 6] = [9.0, 0.0, 1.5, 2.0, 3.5, 4.0];
        let mut order: Vec<usize> = (0..q.len()).collect();
        order.sort_by(|&a, &b| q[a].total_cmp(&q[b]));
        let mut out = vec![0.0; q.len()];
        f.predict_sorted_into(&order, &q, &mut out);
        for (t, o) in q.iter().zip(&out) {
            assert_eq!(*o, f.predict(*t));
        }
        let d = IsotonicFit::fit(&x, &y, None, Direction::Decreasing).unwrap();
        assert!(d.y.windows(2).all(|p| p[0] >= p[1]));
    }
}
