//! Speed of the IRSTD metrics on 1000 synthetic 256 x 256 prediction / ground-truth pairs:
//! labelling alone, and the full accumulator (binarise, label, match, accumulate), with and
//! without a 10-bin ROC sweep. Target: the full accumulator under 1 s for the 1000 pairs.

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rrcanet::metrics::{Connectivity, MetricsAccumulator, MetricsConfig, RegionLabeller, RocSweep};
use std::hint::black_box;

const SIZE: usize = 256;
const IMAGES: usize = 1000;

/// Pixel indices of a `side` x `side` square at (row, column), clipped to the image.
fn square(row: usize, column: usize, side: usize) -> impl Iterator<Item = usize> {
    (row..(row + side).min(SIZE))
        .flat_map(move |r| (column..(column + side).min(SIZE)).map(move |c| r * SIZE + c))
}

/// Probability map and ground truth of one image: 1 to 3 small square targets, predicted
/// with a jitter of up to 1 px, 0 to 2 false-alarm blobs, and a low noisy background.
fn synthetic_pair(rng: &mut StdRng) -> (Vec<f32>, Vec<bool>) {
    let mut target = vec![false; SIZE * SIZE];
    let mut scores: Vec<f32> = (0..SIZE * SIZE).map(|_| rng.gen_range(0.0..0.3)).collect();
    for _ in 0..rng.gen_range(1..=3) {
        let (row, column) = (rng.gen_range(2..SIZE - 10), rng.gen_range(2..SIZE - 10));
        let side = rng.gen_range(2..7);
        square(row, column, side).for_each(|index| target[index] = true);
        let (row, column) = (
            row + rng.gen_range(0..3) - 1,
            column + rng.gen_range(0..3) - 1,
        );
        square(row, column, side).for_each(|index| scores[index] = 0.9);
    }
    for _ in 0..rng.gen_range(0..=2) {
        let (row, column) = (rng.gen_range(0..SIZE), rng.gen_range(0..SIZE));
        square(row, column, rng.gen_range(1..4)).for_each(|index| scores[index] = 0.7);
    }
    (scores, target)
}

fn bench_metrics(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let pairs: Vec<(Vec<f32>, Vec<bool>)> = (0..IMAGES).map(|_| synthetic_pair(&mut rng)).collect();
    let mut group = c.benchmark_group("metrics_1000_masks_256x256");
    group.sample_size(10);
    group.bench_function("label_ground_truth", |b| {
        let mut labeller = RegionLabeller::new();
        let mut regions = Vec::new();
        b.iter(|| {
            for (_, target) in &pairs {
                labeller.label_into(target, SIZE, SIZE, Connectivity::Eight, &mut regions);
                black_box(regions.len());
            }
        })
    });
    for (name, roc) in [
        ("accumulate", None),
        ("accumulate_with_roc_10_bins", Some(RocSweep::Bins(10))),
        ("accumulate_with_roc_logit_sweep", Some(RocSweep::Logit)),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let config = MetricsConfig {
                    roc,
                    ..MetricsConfig::default()
                };
                let mut metrics = MetricsAccumulator::new(config).unwrap();
                for (scores, target) in &pairs {
                    metrics.update(scores, target, SIZE, SIZE).unwrap();
                }
                black_box(metrics.summary())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_metrics);
criterion_main!(benches);
