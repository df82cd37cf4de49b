//! Bilinear upsampling composed from dfdx's own ops (its `upscale2d`), for any device that
//! has them: the CUDA device's version (tested on the CPU).

use crate::ops::{Float, Image, OpError};
use dfdx::prelude::{Bilinear, Device, HasShape, Tape, TryUpscale2D};
use dfdx::tensor_ops::GenericUpscale2D;

/// The same op as dfdx's bilinear `upscale2d` (corners aligned too), for devices without
/// our kernel (CUDA).
pub fn composed_upsample_bilinear2x<const C: usize, E: Float, D: Device<E>, T: Tape<E, D>>(
    x: Image<C, E, D, T>,
) -> Result<Image<C, E, D, T>, OpError>
where
    Image<C, E, D, T>: GenericUpscale2D<Bilinear, Output<usize, usize> = Image<C, E, D, T>>,
{
    let (_, _, height, width) = *x.shape();
    x.try_upscale2d_like(Bilinear, 2 * height, 2 * width)
        .map_err(OpError::device)
}

/// dfdx's bilinear kernel exists on CUDA for each float type separately.
#[cfg(feature = "cuda")]
macro_rules! cuda_upsample {
    ($($float:ty),*) => {$(
        impl super::UpsampleOps<$float> for dfdx::prelude::Cuda {
            fn try_upsample_bilinear2x<const C: usize, T: Tape<$float, Self> + 'static>(
                x: Image<C, $float, Self, T>,
            ) -> Result<Image<C, $float, Self, T>, OpError> {
                composed_upsample_bilinear2x(x)
            }
        }
    )*};
}
#[cfg(feature = "cuda")]
cuda_upsample!(f32, f64);
