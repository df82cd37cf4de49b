//! K x K convolution, stride 1, zero padding K / 2 (the output has the input's size), with an
//! optional per-channel bias: every convolution of RRCA-Net.
//!
//! Several algorithms compute it ([`ConvAlgorithm`]); [`ConvAlgorithm::select`] is the one
//! place that chooses, per shape and device. The tests run every algorithm.

pub mod composed;
mod cpu;
pub(super) mod direct;
pub mod reference;
#[cfg(test)]
mod tests;

pub use composed::composed_conv2d;

use super::{Bias, ConvWeight, DeviceKind, Float, Image, OpError};
use dfdx::prelude::{Const, HasShape, Tape};
use dfdx::tensor::Storage;

/// Sizes of a same-padding convolution: batch, in/out channels, height, width, kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
}

impl ConvShape {
    /// The sizes of an I -> O channel, K x K convolution of images of shape `input`.
    pub fn of<const I: usize, const O: usize, const K: usize>(
        input: &(usize, Const<I>, usize, usize),
    ) -> Self {
        let (batch, _, height, width) = *input;
        ConvShape {
            batch,
            in_channels: I,
            out_channels: O,
            height,
            width,
            kernel: K,
        }
    }

    /// The output's shape.
    pub(crate) fn output<const O: usize>(&self) -> (usize, Const<O>, usize, usize) {
        (self.batch, Const, self.height, self.width)
    }
}

/// Same padding (K / 2 on each side) keeps the image size only for odd kernels.
pub(crate) fn check_kernel(kernel: usize) -> Result<(), OpError> {
    if kernel.is_multiple_of(2) {
        return Err(OpError::EvenKernel(kernel));
    }
    Ok(())
}

/// How a convolution is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// Our direct kernels in SIMD register tiles (CPU only).
    Direct,
    /// im2col and one matrix product, composed from dfdx ops (any device).
    Im2col,
}

impl ConvAlgorithm {
    /// Every algorithm: what the tests run.
    pub const ALL: [ConvAlgorithm; 2] = [ConvAlgorithm::Direct, ConvAlgorithm::Im2col];

    /// The algorithm `device` runs for a convolution of `shape`: our direct kernels on the
    /// CPU, im2col + matmul on CUDA, whatever the shape.
    pub fn select(_shape: &ConvShape, device: DeviceKind) -> Self {
        match device {
            DeviceKind::Cpu => ConvAlgorithm::Direct,
            DeviceKind::Cuda => ConvAlgorithm::Im2col,
        }
    }
}

/// Devices that run the convolution.
pub trait ConvOps<E: Float>: Storage<E> {
    /// This device, for [`ConvAlgorithm::select`].
    const DEVICE: DeviceKind;

    /// The convolution of `x` (see the module docs) computed by `algorithm`.
    ///
    /// # Errors
    /// [`OpError::EvenKernel`] for an even K, and [`OpError::AlgorithmUnavailable`] if this
    /// device does not run `algorithm`.
    fn try_conv2d_with<const I: usize, const O: usize, const K: usize, T: Tape<E, Self>>(
        algorithm: ConvAlgorithm,
        x: Image<I, E, Self, T>,
        weight: &ConvWeight<O, I, K, E, Self>,
        bias: Option<&Bias<O, E, Self>>,
    ) -> Result<Image<O, E, Self, T>, OpError>;

    /// The convolution of `x` with the algorithm [`ConvAlgorithm::select`] chooses.
    fn try_conv2d<const I: usize, const O: usize, const K: usize, T: Tape<E, Self>>(
        x: Image<I, E, Self, T>,
        weight: &ConvWeight<O, I, K, E, Self>,
        bias: Option<&Bias<O, E, Self>>,
    ) -> Result<Image<O, E, Self, T>, OpError> {
        let algorithm = ConvAlgorithm::select(&ConvShape::of::<I, O, K>(x.shape()), Self::DEVICE);
        Self::try_conv2d_with(algorithm, x, weight, bias)
    }
}

/// K x K same-padding convolution of `x` (see [`ConvOps::try_conv2d`]).
pub fn conv2d<
    const I: usize,
    const O: usize,
    const K: usize,
    E: Float,
    D: ConvOps<E>,
    T: Tape<E, D>,
>(
    x: Image<I, E, D, T>,
    weight: &ConvWeight<O, I, K, E, D>,
    bias: Option<&Bias<O, E, D>>,
) -> Result<Image<O, E, D, T>, OpError> {
    D::try_conv2d(x, weight, bias)
}

/// K x K same-padding convolution of `x` computed by `algorithm` (see
/// [`ConvOps::try_conv2d_with`]).
pub fn conv2d_with<
    const I: usize,
    const O: usize,
    const K: usize,
    E: Float,
    D: ConvOps<E>,
    T: Tape<E, D>,
>(
    algorithm: ConvAlgorithm,
    x: Image<I, E, D, T>,
    weight: &ConvWeight<O, I, K, E, D>,
    bias: Option<&Bias<O, E, D>>,
) -> Result<Image<O, E, D, T>, OpError> {
    D::try_conv2d_with(algorithm, x, weight, bias)
}
