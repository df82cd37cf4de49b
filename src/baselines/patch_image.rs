//! The infrared patch-image model, IPI (Gao, Meng, Yang, Wang, Zhou and Hauptmann,
//! "Infrared patch-image model for small target detection in a single image", IEEE TIP 22(12),
//! 2013).
//!
//! 1. Patch image: `patch x patch` windows slid by `step` (plus one window flush with the
//!    bottom / right border where the steps do not reach it, and steps no longer than the
//!    window, so that every pixel is covered),
//!    each window a column of `D` (`patch^2` rows).
//! 2. Robust PCA, `min ||A||_* + lambda ||E||_1` subject to `A + E = D`, with
//!    `lambda = lambda_scale / sqrt(max(rows, columns))`, by the inexact augmented Lagrange
//!    multiplier method of Lin, Chen and Ma (arXiv:1009.5055, Alg. 5) with their parameters:
//!    `mu_0 = 1.25 / ||D||_2`, `rho = 1.5`, `mu` capped at `1e7 mu_0`, `Y_0 = D / max(||D||_2,
//!    ||D||_inf / lambda)`. Singular value thresholding uses a partial SVD of a predicted
//!    rank (Lin et al.'s rule: start at 10; one more than the values kept if fewer were kept
//!    than computed, else 5 % of the columns more), computed by subspace iteration started
//!    from the previous right singular vectors.
//! 3. Stopping rule: `||D - A - E||_F / ||D||_F < tolerance` (default 1e-2), or
//!    `max_iterations` (100). On real images the rank of `A` climbs with every decade of
//!    residual as the threshold `1 / mu` reaches the clutter's singular values (on a SIRST
//!    image: rank 20 at 1e-2, 130 at 1e-3, 240 at 1e-4, 316 at 1e-6 after 36 iterations, each
//!    decade costlier than the last); the target is separated by 1e-2 (notes/baselines.md).
//! 4. The sparse (target) part `E` is reassembled into an image: each pixel is the median of
//!    its values in the windows covering it (Gao et al.'s one-dimensional median filter).

use super::svd::{truncated_svd, Matrix};
use super::Plane;
use serde::Serialize;

/// The IPI model and its solver's parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PatchImage {
    /// Window side (default 50, Gao et al.'s; clamped to the image's smaller side).
    pub patch: usize,
    /// Sliding step (default 10).
    pub step: usize,
    /// `lambda` in units of `1 / sqrt(max(rows, columns))` (default 1, Gao et al.'s).
    pub lambda_scale: f32,
    /// Relative residual at which the solver stops (default 1e-2).
    pub tolerance: f64,
    /// Iteration cap (default 100).
    pub max_iterations: usize,
}

impl Default for PatchImage {
    fn default() -> Self {
        Self {
            patch: 50,
            step: 10,
            lambda_scale: 1.0,
            tolerance: 1e-2,
            max_iterations: 100,
        }
    }
}

/// Window origins along one axis of `length` pixels: `0, step, 2 step, ...` up to
/// `length - patch`, which is added when the steps miss it; a step longer than the window
/// is shortened to the window so that no pixel falls between two windows.
fn origins(length: usize, patch: usize, step: usize) -> Vec<usize> {
    let last = length - patch;
    let mut origins: Vec<usize> = (0..=last).step_by(step.clamp(1, patch.max(1))).collect();
    if origins.last() != Some(&last) {
        origins.push(last);
    }
    origins
}

/// The low-rank and sparse parts of a robust PCA, and how the solver ended.
#[derive(Clone, Debug)]
pub struct Decomposition {
    /// The low-rank part (background).
    pub low_rank: Matrix,
    /// The sparse part (targets).
    pub sparse: Matrix,
    /// Iterations run.
    pub iterations: usize,
    /// The final relative residual `||D - A - E||_F / ||D||_F`.
    pub residual: f64,
    /// Rank of the final low-rank part.
    pub rank: usize,
}

/// Rank the partial SVD starts at (Lin et al.'s).
const INITIAL_RANK: usize = 10;
/// Seed of the partial SVD's Gaussian start columns (the result is deterministic).
const SVD_SEED: u64 = 0x1b1;

/// Robust PCA of `d` by inexact ALM (see the module docs).
pub fn robust_pca(d: &Matrix, lambda: f32, tolerance: f64, max_iterations: usize) -> Decomposition {
    let (rows, columns) = (d.rows(), d.columns());
    let d_norm = d.frobenius_norm();
    let mut low_rank = Matrix::zeros(rows, columns);
    let mut sparse = Matrix::zeros(rows, columns);
    if d_norm == 0.0 {
        return Decomposition {
            low_rank,
            sparse,
            iterations: 0,
            residual: 0.0,
            rank: 0,
        };
    }
    let spectral = f64::from(truncated_svd(d, 1, None, 8, SVD_SEED).values[0]);
    let largest = d.data().iter().fold(0.0f32, |m, &v| m.max(v.abs()));
    let dual = spectral.max(f64::from(largest) / f64::from(lambda));
    let mut multiplier = d.clone();
    multiplier
        .data_mut()
        .iter_mut()
        .for_each(|y| *y = (f64::from(*y) / dual) as f32);
    let mut mu = 1.25 / spectral;
    let mu_cap = mu * 1e7;
    let rho = 1.5;
    let full_rank = rows.min(columns);
    let mut predicted = INITIAL_RANK.min(full_rank);
    let mut start: Option<Matrix> = None;
    let (mut iterations, mut residual, mut rank) = (0, f64::INFINITY, 0);
    let mut work = Matrix::zeros(rows, columns);
    while iterations < max_iterations && residual >= tolerance {
        iterations += 1;
        let inverse_mu = (1.0 / mu) as f32;
        let shrink = lambda * inverse_mu;
        // E = shrink(D - A + Y / mu, lambda / mu)
        for (((e, &d), &a), &y) in sparse
            .data_mut()
            .iter_mut()
            .zip(d.data())
            .zip(low_rank.data())
            .zip(multiplier.data())
        {
            let t = d - a + y * inverse_mu;
            *e = (t - shrink).max(0.0) + (t + shrink).min(0.0);
        }
        // A = SVT(D - E + Y / mu, 1 / mu)
        for (((w, &d), &e), &y) in work
            .data_mut()
            .iter_mut()
            .zip(d.data())
            .zip(sparse.data())
            .zip(multiplier.data())
        {
            *w = d - e + y * inverse_mu;
        }
        let svd = truncated_svd(
            &work,
            predicted,
            start.as_ref(),
            1,
            SVD_SEED + iterations as u64,
        );
        rank = svd.values.iter().take_while(|&&s| s > inverse_mu).count();
        predicted = if rank < predicted {
            (rank + 1).min(full_rank)
        } else {
            (rank + (0.05 * full_rank as f64).round() as usize).min(full_rank)
        };
        let shrunk = Matrix::from_fn(svd.right.rows(), rank, |i, k| {
            svd.right.at(i, k) * (svd.values[k] - inverse_mu)
        });
        let kept_left = Matrix::from_fn(rows, rank, |i, k| svd.left.at(i, k));
        low_rank = transpose_product(&kept_left, &shrunk, columns);
        start = Some(svd.right);
        // Z = D - A - E; Y += mu Z
        let mut residual_sum = 0.0f64;
        for (((y, &d), &a), &e) in multiplier
            .data_mut()
            .iter_mut()
            .zip(d.data())
            .zip(low_rank.data())
            .zip(sparse.data())
        {
            let z = d - a - e;
            residual_sum += f64::from(z) * f64::from(z);
            *y += (mu as f32) * z;
        }
        residual = residual_sum.sqrt() / d_norm;
        mu = (mu * rho).min(mu_cap);
    }
    Decomposition {
        low_rank,
        sparse,
        iterations,
        residual,
        rank,
    }
}

/// `left * right^T` (`left` is `rows x k`, `right` is `columns x k`).
fn transpose_product(left: &Matrix, right: &Matrix, columns: usize) -> Matrix {
    let right_transposed = Matrix::from_fn(right.columns(), columns, |k, j| right.at(j, k));
    left.times(&right_transposed)
}

impl PatchImage {
    /// The patch image of `image` and the window origins (rows, columns) it was cut at.
    pub fn patches(&self, image: &Plane) -> (Matrix, Vec<usize>, Vec<usize>) {
        let patch = self.side(image);
        let tops = origins(image.height(), patch, self.step);
        let lefts = origins(image.width(), patch, self.step);
        let matrix = Matrix::from_fn(patch * patch, tops.len() * lefts.len(), |i, j| {
            let (top, left) = (tops[j % tops.len()], lefts[j / tops.len()]);
            image.at(top + i / patch, left + i % patch)
        });
        (matrix, tops, lefts)
    }

    /// The window side used on `image`.
    fn side(&self, image: &Plane) -> usize {
        self.patch.min(image.height()).min(image.width())
    }

    /// The image whose pixels are the medians of their values in the covering windows of
    /// the patch image `matrix` cut at `tops` x `lefts`.
    pub fn reassemble(
        &self,
        matrix: &Matrix,
        image: &Plane,
        tops: &[usize],
        lefts: &[usize],
    ) -> Plane {
        let patch = self.side(image);
        let covering = |origins: &[usize], at: usize| -> Vec<(usize, usize)> {
            origins
                .iter()
                .enumerate()
                .filter(|&(_, &origin)| origin <= at && at < origin + patch)
                .map(|(index, &origin)| (index, at - origin))
                .collect()
        };
        let rows: Vec<Vec<(usize, usize)>> =
            (0..image.height()).map(|r| covering(tops, r)).collect();
        let columns: Vec<Vec<(usize, usize)>> =
            (0..image.width()).map(|c| covering(lefts, c)).collect();
        let mut values = Vec::new();
        Plane::from_fn(image.height(), image.width(), |(row, column)| {
            values.clear();
            for &(top_index, dy) in &rows[row] {
                for &(left_index, dx) in &columns[column] {
                    values.push(matrix.at(dy * patch + dx, left_index * tops.len() + top_index));
                }
            }
            median(&mut values)
        })
    }

    /// The solver's decomposition of `image`'s patch image.
    pub fn decompose(&self, image: &Plane) -> (Decomposition, Vec<usize>, Vec<usize>) {
        let (d, tops, lefts) = self.patches(image);
        let lambda = self.lambda_scale / (d.rows().max(d.columns()) as f32).sqrt();
        (
            robust_pca(&d, lambda, self.tolerance, self.max_iterations),
            tops,
            lefts,
        )
    }

    /// The target image of `image`: the sparse part, reassembled.
    pub fn apply(&self, image: &Plane) -> Plane {
        if image.height() == 0 || image.width() == 0 {
            return image.clone();
        }
        let (decomposition, tops, lefts) = self.decompose(image);
        self.reassemble(&decomposition.sparse, image, &tops, &lefts)
    }
}

/// The median of `values` (the mean of the two middle ones for an even count; 0 if empty).
fn median(values: &mut [f32]) -> f32 {
    let count = values.len();
    if count == 0 {
        return 0.0;
    }
    let (_, &mut upper, _) = values.select_nth_unstable_by(count / 2, f32::total_cmp);
    if count % 2 == 1 {
        return upper;
    }
    let lower = values[..count / 2]
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    (lower + upper) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn windows_cover_the_image_and_reassemble_it() {
        assert_eq!(origins(10, 4, 3), [0, 3, 6]);
        assert_eq!(origins(11, 4, 3), [0, 3, 6, 7]);
        assert_eq!(origins(4, 4, 3), [0]);
        assert_eq!(origins(10, 3, 5), [0, 3, 6, 7]);
        let image = Plane::from_fn(13, 17, |(row, column)| (row * 17 + column) as f32);
        let method = PatchImage {
            patch: 6,
            step: 4,
            ..PatchImage::default()
        };
        let (matrix, tops, lefts) = method.patches(&image);
        assert_eq!(matrix.rows(), 36);
        assert_eq!(matrix.columns(), tops.len() * lefts.len());
        assert_eq!(method.reassemble(&matrix, &image, &tops, &lefts), image);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn robust_pca_separates_low_rank_and_sparse() {
        // Rank 2 plus 2 % sparse spikes of +-5.
        let (rows, columns) = (80, 60);
        let mut random = StdRng::seed_from_u64(5);
        let u: Vec<[f32; 2]> = (0..rows).map(|_| [random.gen(), random.gen()]).collect();
        let v: Vec<[f32; 2]> = (0..columns).map(|_| [random.gen(), random.gen()]).collect();
        let spikes = Matrix::from_fn(rows, columns, |_, _| {
            if random.gen::<f32>() < 0.02 {
                if random.gen() {
                    5.0
                } else {
                    -5.0
                }
            } else {
                0.0
            }
        });
        let low = Matrix::from_fn(rows, columns, |i, j| u[i][0] * v[j][0] + u[i][1] * v[j][1]);
        let d = Matrix::from_fn(rows, columns, |i, j| low.at(i, j) + spikes.at(i, j));
        let lambda = 1.0 / (rows as f32).sqrt();
        let result = robust_pca(&d, lambda, 1e-6, 200);
        assert!(result.residual < 1e-6, "residual {}", result.residual);
        assert_eq!(result.rank, 2);
        let error = |a: &Matrix, b: &Matrix| {
            a.data()
                .iter()
                .zip(b.data())
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max)
        };
        assert!(
            error(&result.low_rank, &low) < 1e-3,
            "{}",
            error(&result.low_rank, &low)
        );
        assert!(error(&result.sparse, &spikes) < 1e-3);
    }

    #[test]
    fn a_point_target_on_a_smooth_background_is_the_sparse_part() {
        // A smooth ramp (low rank in patch space) with a 3 x 3 target at (30, 40).
        let image = Plane::from_fn(64, 80, |(row, column)| {
            let background = 0.2 + 0.3 * row as f32 / 64.0 + 0.2 * column as f32 / 80.0;
            if row.abs_diff(30) <= 1 && column.abs_diff(40) <= 1 {
                background + 0.5
            } else {
                background
            }
        });
        let method = PatchImage {
            patch: 20,
            step: 5,
            ..PatchImage::default()
        };
        let target = method.apply(&image);
        let mask = super::super::Threshold::Adaptive.segment(&target);
        let detected: Vec<(usize, usize)> = (0..mask.len())
            .filter(|&i| mask[i])
            .map(|i| (i / 80, i % 80))
            .collect();
        assert!(!detected.is_empty());
        assert!(
            detected
                .iter()
                .all(|&(r, c)| r.abs_diff(30) <= 1 && c.abs_diff(40) <= 1),
            "{detected:?}"
        );
        assert!(target.at(30, 40) > 0.3, "{}", target.at(30, 40));
    }
}
