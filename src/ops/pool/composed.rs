//! Max-pooling composed from dfdx's own ops, for any device that has them: the CUDA device's
//! version (tested on the CPU). Autograd comes from dfdx.

use super::check_size;
#[cfg(feature = "cuda")]
use super::PoolOps;
use crate::ops::{Float, Image, OpError};
use dfdx::prelude::*;
use dfdx::tensor_ops::Device;

/// 2 x 2, stride 2 max-pooling (see [`super::PoolOps::try_max_pool2x2`]): a max over the two
/// size-2 axes of a reshape. Where a window holds its maximum more than once, dfdx's max sends
/// the gradient to every copy.
pub fn composed_max_pool2x2<const C: usize, E: Float, D: Device<E>, T: Tape<E, D>>(
    x: Image<C, E, D, T>,
) -> Result<Image<C, E, D, T>, OpError> {
    let (batch, _, height, width) = *x.shape();
    check_size(height, width)?;
    let (half_height, half_width) = (height / 2, width / 2);
    let windows = (|| {
        x.try_reshape_like(&(batch * C * half_height, Const::<2>, half_width, Const::<2>))?
            .try_max::<(usize, usize), Axes2<1, 3>>()?
            .try_reshape_like(&(batch, Const::<C>, half_height, half_width))
    })();
    windows.map_err(OpError::device)
}

#[cfg(feature = "cuda")]
impl<E: Float> PoolOps<E> for Cuda
where
    Cuda: Device<E>,
{
    fn try_max_pool2x2<const C: usize, T: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        composed_max_pool2x2(x)
    }
}
