//! Channel attention (CA, inside the paper's DIAAM): CA(z) = sigmoid(mlp(avgpool(z)) +
//! mlp(maxpool(z))) with global pools and one MLP (C -> HID -> C, no biases, ReLU between)
//! shared by both pooled vectors. The module returns the weights CA(z), one per image and
//! channel; DIAAM applies them to z inside its fused aggregation
//! ([`crate::ops::attention_aggregation`]).
//!
//! The authors use HID = C / 8 (integer division). At C < 8 (the width-4 configurations) that
//! is 0 hidden units, which crashes their code; here an MLP with no hidden unit outputs 0, so
//! the gate is sigmoid(0) = 0.5 on every channel.

use super::init::xavier_normal;
use super::{Backend, Complexity, Mode, Result, Tally};
use crate::ops::{ChannelWeights, Float, Image, OpError};
use dfdx::prelude::{
    Axes2, Const, Device, Dtype, MaxTo, MeanTo, ModuleVisitor, Rank2, Storage, Tensor,
    TensorCollection, TensorOptions, TryMatMul, WithEmptyTape, ZeroSizedModule,
};
use dfdx::shapes::HasShape;

/// How DIAAM re-weights the projected high-level feature (channel attention or nothing).
pub trait Attention<const C: usize, E: Float, D: Backend<E>>: Complexity {
    /// The weight of each image's channels in `x` (all 1 for no attention); gradients reach
    /// `x` through the weights on their own tape.
    fn channel_weights<T: Mode<E, D>>(
        &self,
        x: &Image<C, E, D, T>,
    ) -> Result<ChannelWeights<C, E, D, T>>;
}

/// Channel attention over `C` channels with `HID` hidden units.
#[derive(Clone, Debug)]
pub struct ChannelAttention<const C: usize, const HID: usize, E: Dtype, D: Storage<E>> {
    /// The MLP's first layer (a bias-free conv1x1 C -> HID), stored as a (C, HID) matrix.
    pub squeeze: Tensor<Rank2<C, HID>, E, D>,
    /// The MLP's second layer (a bias-free conv1x1 HID -> C), stored as a (HID, C) matrix.
    pub excite: Tensor<Rank2<HID, C>, E, D>,
}

/// No attention: the "DIAAM without CA" ablation (Table VI).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAttention;

impl ZeroSizedModule for NoAttention {}

impl<const C: usize, const HID: usize, E: Float, D: Backend<E>> ChannelAttention<C, HID, E, D> {
    /// The shared MLP on pooled vectors (batch, C).
    fn mlp<T: Mode<E, D>>(
        &self,
        pooled: Tensor<(usize, Const<C>), E, D, T>,
    ) -> Result<Tensor<(usize, Const<C>), E, D, T>> {
        if HID == 0 {
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

impl<const C: usize, const HID: usize, E: Float, D: Backend<E>> Attention<C, E, D>
    for ChannelAttention<C, HID, E, D>
{
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

impl<const C: usize, const HID: usize, E: Float, D: Backend<E>> Complexity
    for ChannelAttention<C, HID, E, D>
{
    /// The MLP runs on both pooled vectors (two executions, one torchstat count each for its
    /// two conv1x1 and its ReLU, on 1 x 1 inputs); pools and sigmoid count 0.
    fn tally(&self, _pass: usize, _height: usize, _width: usize, tally: &mut Tally) {
        for execution in 0..2 {
            tally.conv(C, HID, 1, 1, 1, false, execution == 0);
            tally.conv(HID, C, 1, 1, 1, false, execution == 0);
        }
        tally.relu(HID, 1, 1);
    }
}

impl Complexity for NoAttention {
    fn tally(&self, _pass: usize, _height: usize, _width: usize, _tally: &mut Tally) {}
}

impl<const C: usize, const HID: usize, E: Float, D: Backend<E>> TensorCollection<E, D>
    for ChannelAttention<C, HID, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = ChannelAttention<C, HID, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "squeeze",
                    |s| &s.squeeze,
                    |s| &mut s.squeeze,
                    TensorOptions::reset_with(|t| xavier_normal(t, C, HID)),
                ),
                Self::tensor(
                    "excite",
                    |s| &s.excite,
                    |s| &mut s.excite,
                    TensorOptions::reset_with(|t| xavier_normal(t, HID, C)),
                ),
            ),
            |(squeeze, excite)| ChannelAttention { squeeze, excite },
        )
    }
}
