//! Tests of the loss family: the authors' reference values, a naive host implementation of
//! every loss, saturated logits, and the error paths.

use dfdx::prelude::*;

use super::*;

/// One case of `testdata/reference_cases.json` (converted from the authors' PyTorch loss by
/// `testdata/convert_reference.py`).
#[derive(serde::Deserialize)]
struct ReferenceCase {
    name: String,
    shape: [usize; 4],
    epsilon: f64,
    k_percent: f64,
    k: usize,
    logits: Vec<f64>,
    target: Vec<f64>,
    loss_f64: f64,
    dice_f64: f64,
    polytopk_f64: f64,
    grad_f64: Vec<f64>,
    loss_f32: f64,
    topk_indices: Vec<usize>,
}

#[derive(serde::Deserialize)]
struct ReferenceCases {
    cases: Vec<ReferenceCase>,
}

fn reference_cases() -> Vec<ReferenceCase> {
    let text = include_str!("testdata/reference_cases.json");
    serde_json::from_str::<ReferenceCases>(text)
        .expect("reference_cases.json parses")
        .cases
}

fn image<E: Float>(dev: &Cpu, values: &[f64], shape: [usize; 4]) -> Mask<E, Cpu>
where
    Cpu: Device<E>,
{
    assert_eq!(shape[1], 1);
    let values = values.iter().map(|&v| E::from(v).unwrap()).collect();
    dev.tensor_from_vec(values, (shape[0], Const::<1>, shape[2], shape[3]))
}

/// The loss and its gradient with respect to the logits, as f64.
fn loss_and_gradient<E: Float>(
    loss: &impl SegmentationLoss,
    logits: &[f64],
    target: &[f64],
    shape: [usize; 4],
) -> (f64, Vec<f64>)
where
    Cpu: Device<E>,
{
    let dev = Cpu::default();
    let logits = image::<E>(&dev, logits, shape);
    let target = image::<E>(&dev, target, shape);
    let value = loss.try_loss(logits.leaky_trace(), &target).unwrap();
    let scalar = value.array().to_f64().unwrap();
    let gradients = value.backward();
    let gradient = gradients
        .get(&logits)
        .as_vec()
        .into_iter()
        .map(|g| g.to_f64().unwrap())
        .collect();
    (scalar, gradient)
}

fn assert_relative(actual: f64, expected: f64, tolerance: f64, what: &str) {
    let error = (actual - expected).abs();
    assert!(
        error <= tolerance * expected.abs() + 1e-300,
        "{what}: got {actual}, expected {expected} (relative error {:e})",
        error / expected.abs()
    );
}

#[test]
fn dptk_matches_the_reference_in_f64() {
    for case in reference_cases() {
        let loss = DptkLoss {
            poly_top_k: PolyTopKLoss {
                epsilon: case.epsilon,
                k_percent: case.k_percent,
            },
        };
        let (value, gradient) =
            loss_and_gradient::<f64>(&loss, &case.logits, &case.target, case.shape);
        assert_relative(value, case.loss_f64, 1e-6, &case.name);
        for (i, (&g, &expected)) in gradient.iter().zip(&case.grad_f64).enumerate() {
            assert_relative(g, expected, 1e-6, &format!("{} gradient {i}", case.name));
        }
        let (dice, _) =
            loss_and_gradient::<f64>(&SoftDiceLoss, &case.logits, &case.target, case.shape);
        assert_relative(dice, case.dice_f64, 1e-6, &case.name);
        let (poly_top_k, _) =
            loss_and_gradient::<f64>(&loss.poly_top_k, &case.logits, &case.target, case.shape);
        assert_relative(poly_top_k, case.polytopk_f64, 1e-6, &case.name);
    }
}

#[test]
fn top_k_selects_the_reference_pixels() {
    for case in reference_cases() {
        let poly = naive::per_pixel_poly1(&case.logits, &case.target, case.epsilon);
        assert_eq!(top_k_count(poly.len(), case.k_percent), case.k);
        let mut expected = case.topk_indices.clone();
        expected.sort_unstable();
        assert_eq!(top_k_indices(&poly, case.k), expected, "{}", case.name);
    }
}

#[test]
fn f32_matches_the_reference_and_stays_exact_when_saturated() {
    for case in reference_cases() {
        let (value, gradient) =
            loss_and_gradient::<f32>(&DptkLoss::default(), &case.logits, &case.target, case.shape);
        let largest = case.grad_f64.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        for (&g, &expected) in gradient.iter().zip(&case.grad_f64) {
            assert!(
                (g - expected).abs() <= 1e-5 * largest,
                "{}: {g} vs {expected}",
                case.name
            );
        }
        assert_relative(value, case.loss_f64, 1e-5, &case.name);
        if case.name.contains("saturated") {
            // The reference's float32 sigmoid saturates and its BCE clamps at 100.
            assert!((value - case.loss_f32).abs() > 1.0, "{}", case.name);
        } else {
            assert_relative(value, case.loss_f32, 1e-5, &case.name);
        }
    }
}

/// Every loss written out on host slices in f64, straight from the definitions.
mod naive {
    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    fn bce(x: f64, y: f64) -> f64 {
        -(y * sigmoid(x).ln() + (1.0 - y) * (1.0 - sigmoid(x)).ln())
    }

    fn poly1(x: f64, y: f64, epsilon: f64) -> f64 {
        bce(x, y) + epsilon * (1.0 - (-bce(x, y)).exp())
    }

    pub fn per_pixel_poly1(logits: &[f64], target: &[f64], epsilon: f64) -> Vec<f64> {
        logits
            .iter()
            .zip(target)
            .map(|(&x, &y)| poly1(x, y, epsilon))
            .collect()
    }

    fn mean(values: &[f64]) -> f64 {
        values.iter().sum::<f64>() / values.len() as f64
    }

    fn top_k_mean(mut values: Vec<f64>, k_percent: f64) -> f64 {
        let k = (values.len() as f64 * k_percent / 100.0) as usize;
        values.sort_by(|a, b| b.total_cmp(a));
        mean(&values[..k])
    }

    /// (sum p, sum y, sum p y).
    fn overlap(logits: &[f64], target: &[f64]) -> (f64, f64, f64) {
        logits
            .iter()
            .zip(target)
            .fold((0.0, 0.0, 0.0), |acc, (&x, &y)| {
                (acc.0 + sigmoid(x), acc.1 + y, acc.2 + sigmoid(x) * y)
            })
    }

    pub fn soft_dice(logits: &[f64], target: &[f64]) -> f64 {
        let (p, y, intersection) = overlap(logits, target);
        1.0 - (2.0 * intersection + 1.0) / (p + y + 1.0)
    }

    pub fn soft_iou(logits: &[f64], target: &[f64]) -> f64 {
        let (p, y, intersection) = overlap(logits, target);
        1.0 - (intersection + 1.0) / (p + y - intersection + 1.0)
    }

    pub fn top_k(logits: &[f64], target: &[f64], k_percent: f64) -> f64 {
        let bce = logits.iter().zip(target).map(|(&x, &y)| bce(x, y));
        top_k_mean(bce.collect(), k_percent)
    }

    pub fn poly(logits: &[f64], target: &[f64], epsilon: f64) -> f64 {
        mean(&per_pixel_poly1(logits, target, epsilon))
    }

    pub fn poly_top_k(logits: &[f64], target: &[f64], epsilon: f64, k_percent: f64) -> f64 {
        top_k_mean(per_pixel_poly1(logits, target, epsilon), k_percent)
    }
}

fn naive_loss(loss: &Loss, logits: &[f64], target: &[f64]) -> f64 {
    let (epsilon, k) = (loss.epsilon, loss.k_percent);
    match loss.kind {
        LossKind::SoftIou => naive::soft_iou(logits, target),
        LossKind::Dice => naive::soft_dice(logits, target),
        LossKind::TopK => naive::top_k(logits, target, k),
        LossKind::Poly => naive::poly(logits, target, epsilon),
        LossKind::PolyTopK => naive::poly_top_k(logits, target, epsilon, k),
        LossKind::DiceTopK => naive::soft_dice(logits, target) + naive::top_k(logits, target, k),
        LossKind::Dptk => {
            naive::soft_dice(logits, target) + naive::poly_top_k(logits, target, epsilon, k)
        }
    }
}

/// Deterministic pseudo-random logits in [-6, 6) and a sparse binary target.
fn synthetic_batch(num_pixels: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..num_pixels)
        .map(|_| (12.0 * next() - 6.0, f64::from(next() < 0.15)))
        .unzip()
}

#[test]
fn every_loss_matches_its_naive_definition() {
    let shape = [2, 1, 6, 9];
    let (logits, target) = synthetic_batch(108, 7);
    for &kind in LossKind::ALL {
        for (epsilon, k_percent) in [(3.1, 10.0), (-1.0, 25.0), (1.0, 100.0)] {
            let loss = Loss {
                kind,
                epsilon,
                k_percent,
            };
            let expected = naive_loss(&loss, &logits, &target);
            let (value, _) = loss_and_gradient::<f64>(&loss, &logits, &target, shape);
            assert_relative(value, expected, 1e-12, &format!("{loss:?}"));
        }
    }
}

#[test]
fn saturated_logits_give_finite_losses_and_gradients() {
    let shape = [1, 1, 2, 3];
    let logits = [1000.0, -1000.0, 90.0, -90.0, 0.0, 30.0];
    let target = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0];
    for &kind in LossKind::ALL {
        let loss = Loss {
            k_percent: 50.0,
            ..Loss::new(kind)
        };
        for (value, gradient) in [
            loss_and_gradient::<f32>(&loss, &logits, &target, shape),
            loss_and_gradient::<f64>(&loss, &logits, &target, shape),
        ] {
            assert!(value.is_finite(), "{kind}: loss {value}");
            assert!(
                gradient.iter().all(|g| g.is_finite()),
                "{kind}: {gradient:?}"
            );
        }
    }
    // The BCE of a logit of 1000 against target 0 is 1000, not a clamped or infinite value.
    let (top, gradient) =
        loss_and_gradient::<f32>(&TopKLoss { k_percent: 20.0 }, &logits, &target, shape);
    assert_relative(top, 1000.0, 1e-6, "top-1 BCE");
    assert_eq!(gradient[0], 1.0);
}

#[test]
fn kinds_round_trip_through_their_names() {
    for &kind in LossKind::ALL {
        assert_eq!(kind.to_string().parse::<LossKind>().unwrap(), kind);
    }
    assert_eq!("dptk".parse::<LossKind>().unwrap(), LossKind::Dptk);
    let error = "focal".parse::<LossKind>().unwrap_err().to_string();
    assert!(
        error.contains("focal") && error.contains("soft-iou"),
        "{error}"
    );
}

#[test]
fn bad_inputs_are_errors() {
    let dev = Cpu::default();
    let logits = image::<f32>(&dev, &[0.0; 20], [1, 1, 4, 5]);
    let target = image::<f32>(&dev, &[0.0; 20], [1, 1, 5, 4]);
    let result = Loss::default().try_loss(logits.clone(), &target);
    assert!(matches!(result, Err(LossError::ShapeMismatch { .. })));

    let target = image::<f32>(&dev, &[0.0; 20], [1, 1, 4, 5]);
    let result = TopKLoss { k_percent: 4.0 }.try_loss(logits.clone(), &target);
    assert!(matches!(
        result,
        Err(LossError::EmptyTopK { num_pixels: 20, .. })
    ));
    for k_percent in [0.0, -5.0, 100.5, f64::NAN] {
        let result = TopKLoss { k_percent }.try_loss(logits.clone(), &target);
        assert!(matches!(result, Err(LossError::InvalidTopKPercent(_))));
    }
    for epsilon in [-1.5, f64::INFINITY, f64::NAN] {
        let result = Poly1Loss { epsilon }.try_loss(logits.clone(), &target);
        assert!(matches!(result, Err(LossError::InvalidPolyEpsilon(_))));
    }
}
