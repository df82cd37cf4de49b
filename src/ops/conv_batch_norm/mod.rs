//! A convolution, batch normalisation in evaluation mode and its epilogue as one op: the form
//! inference gives every conv -> BN (-> ReLU, or -> + shortcut -> ReLU) of RRCA-Net.
//!
//! With the running statistics fixed, BN is a per-channel affine map, so it folds into the
//! convolution's weights and bias: with g = scale / sqrt(running var + epsilon),
//! w' = g w and b' = g (b - running mean) + shift. The CPU device then runs the epilogue (ReLU,
//! or adding the shortcut and ReLU) on each block of output rows right after the kernel wrote
//! it, while it is in cache: one pass over the output instead of a convolution pass and a BN
//! pass, and no copy of the convolution's output. Other devices compose the folded convolution with dfdx's ops
//! ([`composed_conv2d_batch_norm_eval`]).
//!
//! Inference only: the input carries no tape and nothing gets a gradient (training normalises
//! with the batch's statistics, which do not fold; see [`super::batch_norm`]), so this op has
//! no backward pass and no finite-difference check; its reference test compares with the
//! reference convolution followed by the reference batch norm.

mod composed;
mod cpu;
#[cfg(test)]
mod tests;

pub use composed::composed_conv2d_batch_norm_eval;

use super::{Bias, ConvOps, ConvWeight, Epilogue, Float, Image, OpError};
use dfdx::nn::modules::BatchNorm2D;

/// Devices that run a convolution with a batch norm in evaluation mode folded into it.
pub trait ConvBatchNormOps<E: Float>: ConvOps<E> {
    /// `epilogue(bn_eval(conv(x, weight, bias)))` (see the module docs).
    ///
    /// # Errors
    /// [`OpError::EvenKernel`] for an even K, and [`OpError::ShapeMismatch`] if a shortcut's
    /// shape differs from the output's.
    fn try_conv2d_batch_norm_eval<const I: usize, const O: usize, const K: usize>(
        x: Image<I, E, Self>,
        weight: &ConvWeight<O, I, K, E, Self>,
        bias: Option<&Bias<O, E, Self>>,
        norm: &BatchNorm2D<O, E, Self>,
        epilogue: Epilogue<Image<O, E, Self>>,
    ) -> Result<Image<O, E, Self>, OpError>;
}

/// `epilogue(bn_eval(conv(x, weight, bias)))` (see
/// [`ConvBatchNormOps::try_conv2d_batch_norm_eval`]).
pub fn conv2d_batch_norm_eval<
    const I: usize,
    const O: usize,
    const K: usize,
    E: Float,
    D: ConvBatchNormOps<E>,
>(
    x: Image<I, E, D>,
    weight: &ConvWeight<O, I, K, E, D>,
    bias: Option<&Bias<O, E, D>>,
    norm: &BatchNorm2D<O, E, D>,
    epilogue: Epilogue<Image<O, E, D>>,
) -> Result<Image<O, E, D>, OpError> {
    D::try_conv2d_batch_norm_eval(x, weight, bias, norm, epilogue)
}

/// The shortcut of an `AddRelu` epilogue must have the output's shape.
fn check_shortcut<const O: usize, E: Float, D: ConvOps<E>>(
    output: &(usize, dfdx::prelude::Const<O>, usize, usize),
    epilogue: &Epilogue<Image<O, E, D>>,
) -> Result<(), OpError> {
    use dfdx::prelude::HasShape;
    match epilogue {
        Epilogue::AddRelu(shortcut) => {
            super::check_shape("conv + batch norm", "shortcut", output, shortcut.shape())
        }
        Epilogue::Identity | Epilogue::Relu => Ok(()),
    }
}
