//! Batch normalisation composed from dfdx's own ops, for any device that has them: the CUDA
//! device's version (tested on the CPU). Autograd comes from dfdx.

use super::{check_batch_statistics, check_shortcut, BatchNormMode, Epilogue};
use crate::ops::{Float, Image, OpError};
use dfdx::prelude::{Device, HasShape, Merge, Rank1, Tape};
use dfdx::tensor_ops::{BroadcastTo, MeanTo, TryAdd, TryDiv, TryMul, TrySub};

/// The same op composed from dfdx's elementwise, broadcast and reduction ops, for devices
/// without our kernels (CUDA). Follows dfdx's `BatchNorm2D` forward step by step.
///
/// # Errors
/// As [`super::BatchNormOps::try_batch_norm2d`].
pub fn composed_batch_norm2d<
    const C: usize,
    E: Float,
    D: Device<E>,
    T: Tape<E, D> + Merge<R>,
    R: Tape<E, D>,
>(
    x: Image<C, E, D, T>,
    mode: BatchNormMode<'_, C, E, D>,
    epilogue: Epilogue<Image<C, E, D, R>>,
) -> Result<Image<C, E, D, T>, OpError> {
    let shape = *x.shape();
    if let Epilogue::AddRelu(shortcut) = &epilogue {
        check_shortcut(&shape, shortcut.shape())?;
    }
    let count = match &mode {
        BatchNormMode::Train(_) => check_batch_statistics(&shape)?,
        BatchNormMode::Eval(_) => 0,
    };
    let result = (|| {
        let (normalised, norm) = match mode {
            BatchNormMode::Train(norm) => {
                let (momentum, count) = (norm.momentum, count as f64);
                let mean = x.retaped::<T>().try_mean::<Rank1<C>, _>()?;
                norm.running_mean
                    .try_axpy(1.0 - momentum, &mean, momentum)?;
                let centered = x.try_sub(mean.try_broadcast_like(&shape)?)?;
                let var = centered
                    .retaped::<T>()
                    .try_square()?
                    .try_mean::<Rank1<C>, _>()?;
                norm.running_var.try_axpy(
                    1.0 - momentum,
                    &var,
                    momentum * count / (count - 1.0),
                )?;
                let std = var.try_add(E::of(norm.epsilon))?.try_sqrt()?;
                let gain = norm.scale.retaped::<T>().try_div(std)?;
                (centered.try_mul(gain.try_broadcast_like(&shape)?)?, &*norm)
            }
            BatchNormMode::Eval(norm) => {
                let centered = x.try_sub(norm.running_mean.clone().try_broadcast_like(&shape)?)?;
                let std = norm
                    .running_var
                    .clone()
                    .try_add(E::of(norm.epsilon))?
                    .try_sqrt()?;
                let gain = norm.scale.retaped::<T>().try_div(std)?;
                (centered.try_mul(gain.try_broadcast_like(&shape)?)?, norm)
            }
        };
        let y = normalised.try_add(norm.bias.retaped::<T>().try_broadcast_like(&shape)?)?;
        match epilogue {
            Epilogue::Identity => Ok(y),
            Epilogue::Relu => y.try_relu(),
            Epilogue::AddRelu(shortcut) => Ok(y.try_add(shortcut)?.try_relu()?),
        }
    })();
    result.map_err(OpError::device)
}

#[cfg(feature = "cuda")]
impl<E: Float> super::BatchNormOps<E> for dfdx::prelude::Cuda
where
    dfdx::prelude::Cuda: Device<E>,
{
    fn try_batch_norm2d<const C: usize, T: Tape<E, Self> + Merge<R>, R: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
        mode: BatchNormMode<'_, C, E, Self>,
        epilogue: Epilogue<Image<C, E, Self, R>>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        composed_batch_norm2d(x, mode, epilogue)
    }
}
