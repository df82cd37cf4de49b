//! What the ops' tests share: finite differences and closeness checks.

/// Central finite differences, with `step`, of `loss` with respect to every element of
/// `values`.
pub(crate) fn numeric_gradient(
    values: &[f64],
    step: f64,
    loss: impl Fn(&[f64]) -> f64,
) -> Vec<f64> {
    (0..values.len())
        .map(|i| {
            let mut moved = values.to_vec();
            moved[i] = values[i] + step;
            let up = loss(&moved);
            moved[i] = values[i] - step;
            (up - loss(&moved)) / (2.0 * step)
        })
        .collect()
}

/// Every `actual[i]` is within `tolerance * (1 + |expected[i]|)` of `expected[i]`.
pub(crate) fn assert_close(actual: &[f64], expected: &[f64], tolerance: f64, what: &str) {
    assert_within(actual, expected, |e| tolerance * (1.0 + e.abs()), what);
}

/// Every `actual[i]` is within `tolerance` of `expected[i]`.
pub(crate) fn assert_close_absolute(actual: &[f64], expected: &[f64], tolerance: f64, what: &str) {
    assert_within(actual, expected, |_| tolerance, what);
}

fn assert_within(actual: &[f64], expected: &[f64], bound: impl Fn(f64) -> f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= bound(*e),
            "{what}[{i}]: got {a}, expected {e}"
        );
    }
}
