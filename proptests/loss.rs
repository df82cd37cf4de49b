//! Properties of the loss family (`rrcanet::loss`): gradients agree with finite
//! differences, top-k at 100 % is the plain mean, SoftDice and SoftIoU stay in [0, 1],
//! losses ignore pixel order, Poly-1 top-k bounds the Poly-1 mean from above, and a small
//! gradient step lowers DpT-k.

use dfdx::prelude::*;
use proptest::prelude::*;
use rrcanet::loss::{
    top_k_count, Logits, Loss, LossKind, Mask, Poly1Loss, PolyTopKLoss, SegmentationLoss,
    SoftDiceLoss, SoftIouLoss, TopKLoss,
};

/// A batch of logits and a binary target, with its (batch, 1, H, W) shape.
#[derive(Clone, Debug)]
struct Batch {
    shape: [usize; 3],
    logits: Vec<f64>,
    target: Vec<f64>,
}

impl Batch {
    fn tensors<E: Dtype + num_traits::Float>(&self) -> (Logits<E, Cpu>, Mask<E, Cpu>)
    where
        Cpu: Device<E>,
    {
        let dev = Cpu::default();
        let [batch, height, width] = self.shape;
        let shape = (batch, Const::<1>, height, width);
        let convert = |v: &[f64]| v.iter().map(|&x| E::from(x).unwrap()).collect::<Vec<E>>();
        (
            dev.tensor_from_vec(convert(&self.logits), shape),
            dev.tensor_from_vec(convert(&self.target), shape),
        )
    }

    fn with_logits(&self, logits: Vec<f64>) -> Batch {
        Batch {
            logits,
            ..self.clone()
        }
    }
}

/// Batches of 12 to 72 pixels, logits uniform in +-`range`, about a fifth of pixels target.
fn batches(range: f64) -> impl Strategy<Value = Batch> {
    (1usize..=2, 4usize..=6, 3usize..=6).prop_flat_map(move |(batch, height, width)| {
        let n = batch * height * width;
        (
            prop::collection::vec(-range..range, n),
            prop::collection::vec(prop::bool::weighted(0.2), n),
        )
            .prop_map(move |(logits, target)| Batch {
                shape: [batch, height, width],
                logits,
                target: target.into_iter().map(f64::from).collect(),
            })
    })
}

fn losses() -> impl Strategy<Value = Loss> {
    (
        prop::sample::select(LossKind::ALL.to_vec()),
        -1.0f64..4.0,
        prop::sample::select(vec![10.0, 25.0, 50.0, 100.0]),
    )
        .prop_map(|(kind, epsilon, k_percent)| Loss {
            kind,
            epsilon,
            k_percent,
        })
}

fn value_of(loss: &impl SegmentationLoss, batch: &Batch) -> f64 {
    let (logits, target) = batch.tensors::<f64>();
    loss.try_loss(logits, &target).unwrap().array()
}

fn value_and_gradient(loss: &impl SegmentationLoss, batch: &Batch) -> (f64, Vec<f64>) {
    let (logits, target) = batch.tensors::<f64>();
    let value = loss.try_loss(logits.leaky_trace(), &target).unwrap();
    let scalar = value.array();
    (scalar, value.backward().get(&logits).as_vec())
}

/// The per-pixel values a top-k loss ranks (BCE, or Poly-1 for the Poly kinds), if any.
fn ranked_values(loss: &Loss, batch: &Batch) -> Option<Vec<f64>> {
    let bce = |(&x, &y): (&f64, &f64)| x.max(0.0) - x * y + (-x.abs()).exp().ln_1p();
    let bce = batch.logits.iter().zip(&batch.target).map(bce);
    match loss.kind {
        LossKind::TopK | LossKind::DiceTopK => Some(bce.collect()),
        LossKind::PolyTopK | LossKind::Dptk => {
            Some(bce.map(|b| b + loss.epsilon * (1.0 - (-b).exp())).collect())
        }
        _ => None,
    }
}

/// Distance between the k-th and (k+1)-th largest ranked value: how far the logits can move
/// before the top-k selection changes (infinite for losses without top-k).
fn top_k_margin(loss: &Loss, batch: &Batch) -> f64 {
    let Some(mut values) = ranked_values(loss, batch) else {
        return f64::INFINITY;
    };
    let k = top_k_count(values.len(), loss.k_percent);
    values.sort_by(|a, b| b.total_cmp(a));
    if k < values.len() {
        values[k - 1] - values[k]
    } else {
        f64::INFINITY
    }
}

fn close(a: f64, b: f64, relative: f64, absolute: f64) -> bool {
    (a - b).abs() <= relative * a.abs().max(b.abs()) + absolute
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn gradients_match_finite_differences(loss in losses(), batch in batches(5.0)) {
        prop_assume!(top_k_margin(&loss, &batch) > 1e-3);
        let (_, gradient) = value_and_gradient(&loss, &batch);
        let h = 1e-5;
        for i in 0..batch.logits.len() {
            let mut plus = batch.logits.clone();
            plus[i] += h;
            let mut minus = batch.logits.clone();
            minus[i] -= h;
            let numeric = (value_of(&loss, &batch.with_logits(plus))
                - value_of(&loss, &batch.with_logits(minus)))
                / (2.0 * h);
            prop_assert!(
                close(gradient[i], numeric, 1e-5, 1e-8),
                "{loss:?} pixel {i}: analytic {} numeric {numeric}", gradient[i]
            );
        }
    }

    #[test]
    fn top_k_of_everything_is_the_mean(batch in batches(8.0), epsilon in -1.0f64..4.0) {
        let (logits, target) = batch.tensors::<f64>();
        let mean_bce = logits.clone().bce_with_logits(target.clone()).mean::<(), _>().array();
        let top_k = value_of(&TopKLoss { k_percent: 100.0 }, &batch);
        prop_assert!(close(top_k, mean_bce, 1e-12, 0.0), "{top_k} vs {mean_bce}");
        let poly_top_k = value_of(&PolyTopKLoss { epsilon, k_percent: 100.0 }, &batch);
        let poly = value_of(&Poly1Loss { epsilon }, &batch);
        prop_assert!(close(poly_top_k, poly, 1e-12, 0.0), "{poly_top_k} vs {poly}");
    }

    #[test]
    fn soft_dice_and_soft_iou_lie_in_the_unit_interval(batch in batches(60.0)) {
        let (logits, target) = batch.tensors::<f32>();
        for value in [
            SoftDiceLoss.try_loss(logits.clone(), &target).unwrap().array(),
            SoftIouLoss.try_loss(logits, &target).unwrap().array(),
        ] {
            prop_assert!((0.0..=1.0).contains(&value), "{value}");
        }
    }

    #[test]
    fn losses_ignore_pixel_order(
        (batch, order) in batches(6.0).prop_flat_map(|batch| {
            let order = Just((0..batch.logits.len()).collect::<Vec<_>>()).prop_shuffle();
            (Just(batch), order)
        }),
        loss in losses(),
    ) {
        let shuffled = Batch {
            shape: batch.shape,
            logits: order.iter().map(|&i| batch.logits[i]).collect(),
            target: order.iter().map(|&i| batch.target[i]).collect(),
        };
        let (a, b) = (value_of(&loss, &batch), value_of(&loss, &shuffled));
        prop_assert!(close(a, b, 1e-12, 0.0), "{loss:?}: {a} vs {b}");
    }

    #[test]
    fn poly_top_k_is_at_least_the_poly_mean(
        batch in batches(8.0),
        epsilon in -1.0f64..4.0,
        k_percent in 10.0f64..=100.0,
    ) {
        let top = value_of(&PolyTopKLoss { epsilon, k_percent }, &batch);
        let mean = value_of(&Poly1Loss { epsilon }, &batch);
        prop_assert!(top >= mean * (1.0 - 1e-12), "top {top} < mean {mean}");
    }

    #[test]
    fn a_gradient_step_lowers_dptk(batch in batches(5.0)) {
        let loss = Loss::default();
        prop_assume!(top_k_margin(&loss, &batch) > 1e-3);
        let (before, gradient) = value_and_gradient(&loss, &batch);
        let norm = gradient.iter().map(|g| g * g).sum::<f64>().sqrt();
        let step = 1e-4 / norm;
        let logits = batch.logits.iter().zip(&gradient).map(|(x, g)| x - step * g).collect();
        let after = value_of(&loss, &batch.with_logits(logits));
        prop_assert!(after < before, "{before} -> {after}");
    }
}
