//! The paper's Conv3x3 and Conv1x1: stride 1, same zero padding, with bias.

use super::init::{fan_in_uniform, xavier_normal};
use super::{Backend, Mode, Result};
use crate::ops::{conv2d, Bias, ConvWeight, Float, Image};
use dfdx::prelude::{Device, Dtype, ModuleVisitor, Storage, TensorCollection, TensorOptions};

/// A K x K convolution with bias from `I` to `O` channels (stride 1, same zero padding).
#[derive(Clone, Debug)]
pub struct Conv<const I: usize, const O: usize, const K: usize, E: Dtype, D: Storage<E>> {
    /// Weights (O, I, K, K), Xavier-normal initialised.
    pub weight: ConvWeight<O, I, K, E, D>,
    /// One bias per output channel, uniform in +-1/sqrt(I K K).
    pub bias: Bias<O, E, D>,
}

/// The paper's Conv3x3.
pub type Conv3x3<const I: usize, const O: usize, E, D> = Conv<I, O, 3, E, D>;
/// The paper's Conv1x1.
pub type Conv1x1<const I: usize, const O: usize, E, D> = Conv<I, O, 1, E, D>;

impl<const I: usize, const O: usize, const K: usize, E: Float, D: Backend<E>> Conv<I, O, K, E, D> {
    /// Convolves `x` (train or eval alike).
    pub fn forward<T: Mode<E, D>>(&self, x: Image<I, E, D, T>) -> Result<Image<O, E, D, T>> {
        conv2d(x, &self.weight, Some(&self.bias))
    }
}

impl<const I: usize, const O: usize, const K: usize, E: Float, D: Backend<E>> TensorCollection<E, D>
    for Conv<I, O, K, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = Conv<I, O, K, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_with(|t| xavier_normal(t, I * K * K, O * K * K)),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_with(|t| fan_in_uniform(t, I * K * K)),
                ),
            ),
            |(weight, bias)| Conv { weight, bias },
        )
    }
}
