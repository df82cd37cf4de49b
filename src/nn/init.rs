//! The reference initialisation (the authors' code): Xavier-normal convolution weights and
//! PyTorch's default uniform biases in +-1/sqrt(fan_in). Values are drawn on the host from a
//! generator seeded by the device's random stream, so a seeded device gives the same model on
//! every device.

use crate::ops::Float;
use dfdx::prelude::{Device, Shape, Tensor};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::StandardNormal;

/// Fills `t` with `sample(rng)` drawn from a generator seeded by `t`'s device.
fn fill_from_host<S: Shape, E: Float, D: Device<E>>(
    t: &mut Tensor<S, E, D>,
    mut sample: impl FnMut(&mut StdRng) -> f64,
) -> Result<(), D::Err> {
    let mut rng = StdRng::seed_from_u64(t.device().random_u64());
    let values: Vec<E> = (0..t.shape().num_elements())
        .map(|_| E::from(sample(&mut rng)).expect("f64 converts to the element type"))
        .collect();
    t.copy_from(&values);
    Ok(())
}

/// Xavier (Glorot) normal: std = sqrt(2 / (fan_in + fan_out)).
pub(crate) fn xavier_normal<S: Shape, E: Float, D: Device<E>>(
    t: &mut Tensor<S, E, D>,
    fan_in: usize,
    fan_out: usize,
) -> Result<(), D::Err> {
    let std = (2.0 / (fan_in + fan_out).max(1) as f64).sqrt();
    fill_from_host(t, |rng| std * rng.sample::<f64, _>(StandardNormal))
}

/// PyTorch's default bias: uniform in +-1/sqrt(fan_in).
pub(crate) fn fan_in_uniform<S: Shape, E: Float, D: Device<E>>(
    t: &mut Tensor<S, E, D>,
    fan_in: usize,
) -> Result<(), D::Err> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    fill_from_host(t, |rng| rng.gen_range(-bound..bound))
}

use dfdx::shapes::HasShape;
