//! Learning-rate schedules by epoch. The paper names cosine annealing (PyTorch's
//! `CosineAnnealingLR`, eta_min 1e-3, T_max = epochs); the released code builds that
//! scheduler but never steps it, so it trains at a constant learning rate.

use std::num::NonZeroUsize;

/// The paper's cosine-annealing floor.
pub const DEFAULT_ETA_MIN: f64 = 1e-3;

/// The learning rate as a function of the epoch (counted from 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LearningRateSchedule {
    /// The same learning rate every epoch (what the released code does).
    Constant {
        /// The learning rate.
        lr: f64,
    },
    /// PyTorch's `CosineAnnealingLR` in closed form:
    /// `eta_min + (base_lr - eta_min) (1 + cos(pi epoch / t_max)) / 2`. It reaches `eta_min`
    /// at epoch `t_max` and, like PyTorch, rises again after it.
    CosineAnnealing {
        /// The learning rate at epoch 0.
        base_lr: f64,
        /// The learning rate at epoch `t_max`.
        eta_min: f64,
        /// The length of the half cosine, in epochs.
        t_max: NonZeroUsize,
    },
}

impl LearningRateSchedule {
    /// Cosine annealing from `base_lr` to the paper's eta_min over `epochs` epochs.
    pub fn cosine(base_lr: f64, epochs: NonZeroUsize) -> Self {
        LearningRateSchedule::CosineAnnealing {
            base_lr,
            eta_min: DEFAULT_ETA_MIN,
            t_max: epochs,
        }
    }

    /// The learning rate for `epoch` (0 for the first epoch).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        match *self {
            LearningRateSchedule::Constant { lr } => lr,
            LearningRateSchedule::CosineAnnealing {
                base_lr,
                eta_min,
                t_max,
            } => {
                let phase = std::f64::consts::PI * epoch as f64 / t_max.get() as f64;
                eta_min + (base_lr - eta_min) * (1.0 + phase.cos()) / 2.0
            }
        }
    }
}

/// The share of the scheduled rate that batch `batch` (from 0) of epoch `epoch` (from 0)
/// trains at during a linear warm-up over the first `warmup_epochs` epochs of `batches`
/// batches each: it rises by one step per batch, from 1 / (warm-up batches) to 1, and stays
/// at 1 after the warm-up. It tames AdaGrad's first steps, which move every weight by the full
/// rate whatever its gradient's size.
pub fn warmup_share(warmup_epochs: usize, epoch: usize, batch: usize, batches: usize) -> f64 {
    let warmup_batches = warmup_epochs * batches;
    let step = epoch * batches + batch + 1;
    if step >= warmup_batches {
        1.0
    } else {
        step as f64 / warmup_batches as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epochs(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    /// `get_last_lr()` of torch 2.15 `CosineAnnealingLR(SGD(lr=0.05), T_max, eta_min=1e-3)`
    /// before each `step()`, for epochs 0 to T_max + 2.
    const TORCH_T_MAX_10: [f64; 13] = [
        0.05,
        0.04880088464923127,
        0.045320916362186214,
        0.039900738681165594,
        0.03307091636218621,
        0.0255,
        0.01792908363781379,
        0.01109926131883441,
        0.005679083637813789,
        0.0021991153507687385,
        0.001,
        0.0021991153507687385,
        0.005679083637813806,
    ];
    const TORCH_T_MAX_7: [f64; 10] = [
        0.05,
        0.04757373726360927,
        0.040775500145538976,
        0.030951762881929707,
        0.020048237118070304,
        0.010224499854461031,
        0.0034262627363907338,
        0.001,
        0.003426262736390731,
        0.010224499854461024,
    ];

    #[test]
    fn cosine_matches_torch() {
        for (t_max, expected) in [(10, &TORCH_T_MAX_10[..]), (7, &TORCH_T_MAX_7[..])] {
            let schedule = LearningRateSchedule::cosine(0.05, epochs(t_max));
            for (epoch, &lr) in expected.iter().enumerate() {
                let ours = schedule.lr_at(epoch);
                assert!(
                    (ours - lr).abs() <= 1e-15,
                    "T_max {t_max} epoch {epoch}: {ours} vs {lr}"
                );
            }
        }
    }

    #[test]
    fn warmup_rises_per_batch_then_stays_at_one() {
        let shares: Vec<f64> = (0..3)
            .flat_map(|epoch| (0..4).map(move |batch| warmup_share(2, epoch, batch, 4)))
            .collect();
        let expected = [1., 2., 3., 4., 5., 6., 7., 8., 8., 8., 8., 8.].map(|s| s / 8.0);
        assert_eq!(shares, expected);
        assert!((0..5).all(|epoch| warmup_share(0, epoch, 0, 21) == 1.0));
    }

    #[test]
    fn constant_never_changes() {
        let schedule = LearningRateSchedule::Constant { lr: 0.05 };
        assert!([0, 1, 749, 1499, 5000]
            .iter()
            .all(|&e| schedule.lr_at(e) == 0.05));
    }
}
