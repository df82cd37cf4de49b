//! 2 x 2 max-pooling with stride 2, the step down between RRCA-Net's encoder levels.

mod composed;
mod cpu;
mod kernels;
pub mod reference;
#[cfg(test)]
mod tests;

pub use composed::composed_max_pool2x2;

use super::{Float, Image, OpError};
use dfdx::prelude::Tape;
use dfdx::tensor::Storage;

/// 2 x 2 pooling with stride 2 covers the image exactly only for even sizes.
fn check_size(height: usize, width: usize) -> Result<(), OpError> {
    if !height.is_multiple_of(2) || !width.is_multiple_of(2) {
        return Err(OpError::OddPoolSize { height, width });
    }
    Ok(())
}

/// Devices that run max-pooling.
pub trait PoolOps<E: Float>: Storage<E> {
    /// 2 x 2 max-pooling with stride 2; odd heights or widths are an error.
    fn try_max_pool2x2<const C: usize, T: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError>;
}

/// 2 x 2, stride 2 max-pooling of `x` (see [`PoolOps::try_max_pool2x2`]).
pub fn max_pool2x2<const C: usize, E: Float, D: PoolOps<E>, T: Tape<E, D>>(
    x: Image<C, E, D, T>,
) -> Result<Image<C, E, D, T>, OpError> {
    D::try_max_pool2x2(x)
}
