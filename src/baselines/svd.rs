//! Dense matrices and the singular value decompositions IPI needs.
//!
//! - [`jacobi_svd`]: the full SVD by one-sided (Hestenes) Jacobi rotations in `f64`: simple,
//!   accurate to rounding, and fast enough for the small matrices it is given (the core of
//!   the partial SVD, and tests).
//! - [`truncated_svd`]: the leading singular triplets of a large matrix by subspace iteration
//!   (Halko, Martinsson and Tropp, "Finding structure with randomness", SIAM Review 2011,
//!   Alg. 4.4): an orthonormal basis `Q` of `A Omega`, refined by power iterations, then the
//!   Jacobi SVD of the small `A^T Q`. A start basis (the previous right singular vectors in
//!   an iterative solver) makes a few iterations enough.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// A column-major `rows x columns` matrix of `f32`.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    rows: usize,
    columns: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// The zero matrix.
    pub fn zeros(rows: usize, columns: usize) -> Self {
        Self {
            rows,
            columns,
            data: vec![0.0; rows * columns],
        }
    }

    /// The matrix whose entry (row, column) is `f(row, column)`.
    pub fn from_fn(rows: usize, columns: usize, mut f: impl FnMut(usize, usize) -> f32) -> Self {
        let data = (0..columns)
            .flat_map(|column| (0..rows).map(move |row| (row, column)))
            .map(|(row, column)| f(row, column))
            .collect();
        Self {
            rows,
            columns,
            data,
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Entry (row, column).
    pub fn at(&self, row: usize, column: usize) -> f32 {
        self.data[column * self.rows + row]
    }

    /// Column `j`.
    pub fn column(&self, j: usize) -> &[f32] {
        &self.data[j * self.rows..(j + 1) * self.rows]
    }

    /// The column-major entries.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The column-major entries, mutably.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// The Frobenius norm (accumulated in `f64`).
    pub fn frobenius_norm(&self) -> f64 {
        self.data
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt()
    }

    /// `self * x` (`x` has `self.columns` rows), columns computed in parallel.
    pub fn times(&self, x: &Matrix) -> Matrix {
        let mut out = Matrix::zeros(self.rows, x.columns);
        if self.rows == 0 {
            return out;
        }
        out.data
            .par_chunks_mut(self.rows)
            .enumerate()
            .for_each(|(j, target)| {
                for (i, &weight) in x.column(j).iter().enumerate() {
                    if weight != 0.0 {
                        for (t, &a) in target.iter_mut().zip(self.column(i)) {
                            *t += weight * a;
                        }
                    }
                }
            });
        out
    }

    /// `self^T * q` (`q` has `self.rows` rows), rows of the result computed in parallel.
    pub fn transpose_times(&self, q: &Matrix) -> Matrix {
        let products: Vec<Vec<f32>> = (0..self.columns)
            .into_par_iter()
            .map(|i| {
                let column = self.column(i);
                (0..q.columns).map(|j| dot(column, q.column(j))).collect()
            })
            .collect();
        Matrix::from_fn(self.columns, q.columns, |i, j| products[i][j])
    }
}

/// The dot product, with eight partial sums so that it vectorises.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut partial = [0.0f32; 8];
    let (chunks_a, chunks_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for lane in 0..8 {
            partial[lane] += x[lane] * y[lane];
        }
    }
    partial.iter().sum::<f32>() + tail
}

/// A (possibly truncated) singular value decomposition `A ~ U diag(values) V^T`.
#[derive(Clone, Debug)]
pub struct Svd {
    /// Left singular vectors, one per column.
    pub left: Matrix,
    /// Singular values, largest first.
    pub values: Vec<f32>,
    /// Right singular vectors, one per column.
    pub right: Matrix,
}

/// Rotations stop when every pair of columns is orthogonal to this relative precision.
const JACOBI_PRECISION: f64 = 1e-12;
/// At most this many sweeps (convergence is quadratic; a few sweeps are usual).
const JACOBI_SWEEPS: usize = 60;

/// The full SVD of `a` by one-sided Jacobi: `min(rows, columns)` triplets, largest first.
/// Left vectors of zero singular values are zero.
pub fn jacobi_svd(a: &Matrix) -> Svd {
    if a.rows < a.columns {
        let transposed = Matrix::from_fn(a.columns, a.rows, |i, j| a.at(j, i));
        let Svd {
            left,
            values,
            right,
        } = jacobi_svd(&transposed);
        return Svd {
            left: right,
            values,
            right: left,
        };
    }
    let (m, n) = (a.rows, a.columns);
    let mut w: Vec<Vec<f64>> = (0..n)
        .map(|j| a.column(j).iter().map(|&v| f64::from(v)).collect())
        .collect();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|j| (0..n).map(|i| f64::from(u8::from(i == j))).collect())
        .collect();
    for _ in 0..JACOBI_SWEEPS {
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let alpha: f64 = w[p].iter().map(|x| x * x).sum();
                let beta: f64 = w[q].iter().map(|x| x * x).sum();
                let gamma: f64 = w[p].iter().zip(&w[q]).map(|(x, y)| x * y).sum();
                if gamma.abs() <= JACOBI_PRECISION * (alpha * beta).sqrt() || gamma == 0.0 {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                for columns in [&mut w, &mut v] {
                    let (low, high) = columns.split_at_mut(q);
                    for (x, y) in low[p].iter_mut().zip(high[0].iter_mut()) {
                        let (xp, xq) = (*x, *y);
                        *x = c * xp - s * xq;
                        *y = s * xp + c * xq;
                    }
                }
            }
        }
        if !rotated {
            break;
        }
    }
    let norms: Vec<f64> = w
        .iter()
        .map(|column| column.iter().map(|x| x * x).sum::<f64>().sqrt())
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| norms[j].total_cmp(&norms[i]));
    let left = Matrix::from_fn(m, n, |row, k| {
        let j = order[k];
        if norms[j] > 0.0 {
            (w[j][row] / norms[j]) as f32
        } else {
            0.0
        }
    });
    let right = Matrix::from_fn(n, n, |row, k| v[order[k]][row] as f32);
    Svd {
        left,
        values: order.iter().map(|&j| norms[j] as f32).collect(),
        right,
    }
}

/// Orthonormalises the columns of `y` in place by modified Gram-Schmidt, done twice ("twice
/// is enough"); a column that vanishes (dependent on the others) becomes zero.
fn orthonormalise(y: &mut Matrix) {
    let rows = y.rows;
    for j in 0..y.columns {
        let (done, rest) = y.data.split_at_mut(j * rows);
        let column = &mut rest[..rows];
        let original = dot(column, column).sqrt();
        for _ in 0..2 {
            for previous in done.chunks_exact(rows) {
                let projection = dot(previous, column);
                for (c, &p) in column.iter_mut().zip(previous) {
                    *c -= projection * p;
                }
            }
        }
        let norm = dot(column, column).sqrt();
        let scale = if norm > 1e-5 * original && norm > 0.0 {
            1.0 / norm
        } else {
            0.0
        };
        column.iter_mut().for_each(|c| *c *= scale);
    }
}

/// Columns added to the requested rank (Halko et al.'s oversampling).
pub const OVERSAMPLING: usize = 5;

/// The leading `rank + OVERSAMPLING` (at most `min(rows, columns)`) singular triplets of `a`
/// by subspace iteration with `power_iterations` refinements, started from the columns of
/// `start` (right singular vectors, `a.columns()` rows) and Gaussian columns drawn from
/// `seed` for the rest.
pub fn truncated_svd(
    a: &Matrix,
    rank: usize,
    start: Option<&Matrix>,
    power_iterations: usize,
    seed: u64,
) -> Svd {
    let width = (rank + OVERSAMPLING).min(a.rows.min(a.columns));
    let mut random = StdRng::seed_from_u64(seed);
    let from_start = start.map_or(0, |s| s.columns.min(width));
    let mut omega = Matrix::from_fn(a.columns, width, |row, column| match start {
        Some(start) if column < from_start && start.rows == a.columns => start.at(row, column),
        _ => StandardNormal.sample(&mut random),
    });
    let mut basis = a.times(&omega);
    orthonormalise(&mut basis);
    for _ in 0..power_iterations {
        omega = a.transpose_times(&basis);
        orthonormalise(&mut omega);
        basis = a.times(&omega);
        orthonormalise(&mut basis);
    }
    // a ~ Q Q^T a = Q Z^T with Z = a^T Q = U_z S V_z^T, so a ~ (Q V_z) S U_z^T.
    let z = a.transpose_times(&basis);
    let small = jacobi_svd(&z);
    Svd {
        left: basis.times(&small.right),
        values: small.values,
        right: small.left,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_matrix(rows: usize, columns: usize, seed: u64) -> Matrix {
        let mut random = StdRng::seed_from_u64(seed);
        Matrix::from_fn(rows, columns, |_, _| StandardNormal.sample(&mut random))
    }

    fn reconstruct(svd: &Svd, count: usize) -> Matrix {
        Matrix::from_fn(svd.left.rows, svd.right.rows, |i, j| {
            (0..count)
                .map(|k| svd.left.at(i, k) * svd.values[k] * svd.right.at(j, k))
                .sum()
        })
    }

    fn max_difference(a: &Matrix, b: &Matrix) -> f32 {
        a.data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn jacobi_reconstructs_with_orthonormal_factors() {
        for (rows, columns) in [(7, 4), (4, 7), (5, 5)] {
            let a = random_matrix(rows, columns, 1);
            let svd = jacobi_svd(&a);
            let count = rows.min(columns);
            assert!(max_difference(&reconstruct(&svd, count), &a) < 1e-5);
            assert!(svd.values.windows(2).all(|pair| pair[0] >= pair[1]));
            for factor in [&svd.left, &svd.right] {
                for i in 0..count {
                    for j in 0..count {
                        let expected = f32::from(u8::from(i == j));
                        let product = dot(factor.column(i), factor.column(j));
                        assert!((product - expected).abs() < 1e-5, "{rows}x{columns}");
                    }
                }
            }
        }
    }

    #[test]
    fn jacobi_gives_known_singular_values() {
        // diag(3, 2) rotated on the left: singular values 3 and 2.
        let (c, s) = (0.6f32, 0.8f32);
        let a = Matrix::from_fn(2, 2, |i, j| {
            let rotation = [[c, -s], [s, c]];
            rotation[i][j] * [3.0, 2.0][j]
        });
        let svd = jacobi_svd(&a);
        assert!((svd.values[0] - 3.0).abs() < 1e-6 && (svd.values[1] - 2.0).abs() < 1e-6);
    }

    #[test]
    fn truncated_finds_the_leading_triplets_of_a_low_rank_matrix() {
        // Rank 3 (singular values about 10, 5, 1 times sqrt(rows * columns)) plus noise.
        let (rows, columns) = (120, 40);
        let u = random_matrix(rows, 3, 2);
        let v = random_matrix(columns, 3, 3);
        let noise = random_matrix(rows, columns, 4);
        let a = Matrix::from_fn(rows, columns, |i, j| {
            u.at(i, 0) * v.at(j, 0) * 10.0
                + u.at(i, 1) * v.at(j, 1) * 5.0
                + u.at(i, 2) * v.at(j, 2)
                + 1e-3 * noise.at(i, j)
        });
        let full = jacobi_svd(&a);
        let partial = truncated_svd(&a, 3, None, 1, 7);
        assert_eq!(partial.values.len(), 3 + OVERSAMPLING);
        for k in 0..3 {
            let relative = (partial.values[k] - full.values[k]).abs() / full.values[k];
            assert!(relative < 1e-4, "value {k}: {relative}");
        }
        assert!(max_difference(&reconstruct(&partial, 3), &reconstruct(&full, 3)) < 1e-3);
        // Started from the answer, no power iteration is needed.
        let warm = truncated_svd(&a, 3, Some(&full.right), 0, 8);
        assert!((warm.values[2] - full.values[2]).abs() / full.values[2] < 1e-4);
    }
}
