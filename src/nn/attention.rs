//! Channel attention (CA, inside the paper's DIAAM): CA(z) = sigmoid(mlp(avgpool(z)) +
//! mlp(maxpool(z))) with global pools and one MLP (C -> C / 8 -> C, no biases, ReLU between)
//! shared by both pooled vectors. The module returns the weights CA(z), one per image and
//! channel; DIAAM applies them to z inside its fused aggregation
//! ([`crate::ops::attention_aggregation`]).
//!
//! The hidden width C / 8 (integer division, the authors' reduction) is computed from C by the
//! dimension type [`HiddenUnits`]. At C < 8 (the width-4 configurations) that is 0 hidden
//! units, which crashes the authors' code; here an MLP with no hidden unit outputs 0, so the
//! gate is sigmoid(0) = 0.5 on every channel.

use super::init::xavier_normal;
use super::{Backend, Mode, Result};
use crate::ops::{ChannelWeights, Float, Image, OpError};
use dfdx::prelude::{
    Axes2, Const, ConstDim, Device, Dim, Dtype, MaxTo, MeanTo, ModuleVisitor, Storage, Tensor,
    TensorCollection, TensorOptions, TryMatMul, WithEmptyTape, ZeroSizedModule,
};
use dfdx::shapes::HasShape;

/// How DIAAM re-weights the projected high-level feature (channel attention or nothing).
pub trait Attention<const C: usize, E: Float, D: Backend<E>> {
    /// The weight of each image's channels in `x` (all 1 for no attention); gradients reach
    /// `x` through the weights on their own tape.
    fn channel_weights<T: Mode<E, D>>(
        &self,
        x: &Image<C, E, D, T>,
    ) -> Result<ChannelWeights<C, E, D, T>>;
}

/// The hidden units of channel attention over `C` channels: C / 8, as a tensor dimension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HiddenUnits<const C: usize>;

impl<const C: usize> Dim for HiddenUnits<C> {
    fn size(&self) -> usize {
        Self::SIZE
    }

    fn from_size(size: usize) -> Option<Self> {
        (size == Self::SIZE).then_some(HiddenUnits)
    }
}

impl<const C: usize> ConstDim for HiddenUnits<C> {
    const SIZE: usize = C / 8;
}

/// Channel attention over `C` channels.
#[derive(Clone, Debug)]
pub struct ChannelAttention<const C: usize, E: Dtype, D: Storage<E>> {
    /// The MLP's first layer (a bias-free conv1x1 C -> C / 8), stored as a matrix.
    pub squeeze: Tensor<(Const<C>, HiddenUnits<C>), E, D>,
    /// The MLP's second layer (a bias-free conv1x1 C / 8 -> C), stored as a matrix.
    pub excite: Tensor<(HiddenUnits<C>, Const<C>), E, D>,
}

/// No attention: the "DIAAM without CA" ablation (Table VI).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAttention;

impl ZeroSizedModule for NoAttention {}

impl<const C: usize, E: Float, D: Backend<E>> ChannelAttention<C, E, D> {
    /// The shared MLP on pooled vectors (batch, C).
    fn mlp<T: Mode<E, D>>(
        &self,
        pooled: Tensor<(usize, Const<C>), E, D, T>,
    ) -> Result<Tensor<(usize, Const<C>), E, D, T>> {
        if HiddenUnits::<C>::SIZE == 0 {
            // No hidden unit: the MLP is the zero map (see the module docs).
            return Ok(pooled * E::zero());
        }
        let hidden = pooled
            .try_matmul(self.squeeze.retaped::<T>())
            .map_err(OpError::device)?
            .relu();
        hidden
            .try_matmul(self.excite.retaped::<T>())
            .map_err(OpError::device)
    }
}

impl<const C: usize, E: Float, D: Backend<E>> Attention<C, E, D> for ChannelAttention<C, E, D> {
    fn channel_weights<T: Mode<E, D>>(
        &self,
        x: &Image<C, E, D, T>,
    ) -> Result<ChannelWeights<C, E, D, T>> {
        let average = self.mlp(x.with_empty_tape().mean::<(usize, Const<C>), Axes2<2, 3>>())?;
        let maximum = self.mlp(x.with_empty_tape().max::<(usize, Const<C>), Axes2<2, 3>>())?;
        Ok((average + maximum).sigmoid())
    }
}

impl<const C: usize, E: Float, D: Backend<E>> Attention<C, E, D> for NoAttention {
    fn channel_weights<T: Mode<E, D>>(
        &self,
        x: &Image<C, E, D, T>,
    ) -> Result<ChannelWeights<C, E, D, T>> {
        let ones = x
            .device()
            .try_ones_like(&(x.shape().0, Const::<C>))
            .map_err(OpError::device)?;
        Ok(ones.retaped())
    }
}

impl<const C: usize, E: Float, D: Backend<E>> TensorCollection<E, D> for ChannelAttention<C, E, D> {
    type To<E2: Dtype, D2: Device<E2>> = ChannelAttention<C, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "squeeze",
                    |s| &s.squeeze,
                    |s| &mut s.squeeze,
                    TensorOptions::reset_with(|t| xavier_normal(t, C, HiddenUnits::<C>::SIZE)),
                ),
                Self::tensor(
                    "excite",
                    |s| &s.excite,
                    |s| &mut s.excite,
                    TensorOptions::reset_with(|t| xavier_normal(t, HiddenUnits::<C>::SIZE, C)),
                ),
            ),
            |(squeeze, excite)| ChannelAttention { squeeze, excite },
        )
    }
}
