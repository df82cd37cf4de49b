//! Wall time spent in each kind of op work on the CPU, for `rrcanet bench`'s breakdown.
//!
//! Every CPU op times its kernels with [`timed`] into one process-wide counter per [`Work`];
//! the ops are called from one thread at a time (the kernels themselves fan out over rayon),
//! so the counters are wall time and add up. The cost is two clock reads per kernel call
//! (tens of nanoseconds against kernels of tens of microseconds and more), so the counters
//! are always on, in `train` and `infer` exactly as in `bench`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

crate::named_enum! {
    /// A kind of work our CPU ops do.
    pub enum Work: "op work" {
        /// Convolution, forward.
        ConvForward => "conv-forward",
        /// Convolution, gradient of its input.
        ConvInputGradient => "conv-input-gradient",
        /// Convolution, gradients of its weight and bias.
        ConvWeightGradient => "conv-weight-gradient",
        /// Batch normalisation with its fused epilogues, forward.
        BatchNormForward => "batch-norm-forward",
        /// Batch normalisation, backward.
        BatchNormBackward => "batch-norm-backward",
        /// 2 x 2 max-pooling, forward and backward.
        Pooling => "pooling",
        /// Bilinear upsampling, forward and backward.
        Upsampling => "upsampling",
        /// The DIAAM aggregation, forward and backward.
        Attention => "attention",
        /// Copying op inputs out of dfdx's tensors (its storage is crate-private).
        HostCopies => "host-copies",
    }
}

const KINDS: usize = 9;

static NANOSECONDS: [AtomicU64; KINDS] = [const { AtomicU64::new(0) }; KINDS];

fn slot(work: Work) -> usize {
    Work::ALL
        .iter()
        .position(|&w| w == work)
        .expect("every kind of work is in ALL")
}

/// Runs `f`, adding its wall time to `work`'s counter.
pub fn timed<R>(work: Work, f: impl FnOnce() -> R) -> R {
    let started = Instant::now();
    let result = f();
    let nanoseconds = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    NANOSECONDS[slot(work)].fetch_add(nanoseconds, Ordering::Relaxed);
    result
}

/// The time spent in each kind of work so far, in [`Work::ALL`]'s order.
pub fn snapshot() -> Vec<(Work, Duration)> {
    Work::ALL
        .iter()
        .map(|&work| {
            let nanoseconds = NANOSECONDS[slot(work)].load(Ordering::Relaxed);
            (work, Duration::from_nanos(nanoseconds))
        })
        .collect()
}

/// The time spent in each kind of work between two snapshots.
pub fn since(before: &[(Work, Duration)]) -> Vec<(Work, Duration)> {
    snapshot()
        .into_iter()
        .zip(before)
        .map(|((work, now), (_, then))| (work, now.saturating_sub(*then)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_work_has_a_counter() {
        assert_eq!(Work::ALL.len(), KINDS);
    }

    #[test]
    fn timed_work_is_counted_under_its_kind() {
        let before = snapshot();
        timed(Work::Attention, || {
            std::thread::sleep(Duration::from_millis(5))
        });
        let spent = since(&before);
        let attention = spent
            .iter()
            .find(|(work, _)| *work == Work::Attention)
            .map(|(_, time)| *time);
        assert!(attention >= Some(Duration::from_millis(5)), "{spent:?}");
    }
}
