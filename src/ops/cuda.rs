//! The CUDA device: our ops composed from dfdx ops that exist on CUDA (see `composed.rs`),
//! so autograd comes from dfdx.

use super::{composed, Bias, ConvWeight, Float, Image, OpError, SpatialOps};
use dfdx::prelude::{Cuda, Tape};
use dfdx::tensor_ops::Device;

impl<E: Float> SpatialOps<E> for Cuda
where
    Cuda: Device<E>,
{
    fn try_conv2d<const I: usize, const O: usize, const K: usize, T: Tape<E, Self>>(
        x: Image<I, E, Self, T>,
        weight: &ConvWeight<O, I, K, E, Self>,
        bias: Option<&Bias<O, E, Self>>,
    ) -> Result<Image<O, E, Self, T>, OpError> {
        composed::conv2d(x, weight, bias)
    }

    fn try_max_pool2x2<const C: usize, T: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        composed::max_pool2x2(x)
    }
}
