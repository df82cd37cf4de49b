//! The residual pair (the paper's residual block): conv3x3 -> BN -> ReLU -> conv3x3 -> BN ->
//! (+ shortcut) -> ReLU, with a projection shortcut (conv1x1 + BN) when the width changes.
//!
//! The convolutions ([`ConvPair`]) and the per-use parts ([`PairNorms`]: BatchNorms and
//! shortcut) are separate types so that the reusable-convolution block can share the first
//! across passes and give each pass its own second.

use super::{conv_batch_norm, tensor_collection, Backend, Block, Conv1x1, Conv3x3, Mode, Result};
use crate::ops::{Epilogue, Float, Image, OpError};
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::{
    Const, Device, Dtype, ModuleVisitor, RealizeTo, Storage, TensorCollection, WithEmptyTape,
};

/// The two 3x3 convolutions of a residual pair (shared across passes in the RuCB).
#[derive(Clone, Debug)]
pub struct ConvPair<const I: usize, const O: usize, E: Dtype, D: Storage<E>> {
    /// First convolution, `I` -> `O`.
    pub conv1: Conv3x3<I, O, E, D>,
    /// Second convolution, `O` -> `O`.
    pub conv2: Conv3x3<O, O, E, D>,
}

/// Conv1x1 + BN: the shortcut of a residual pair that changes width.
#[derive(Clone, Debug)]
pub struct Projection<const I: usize, const O: usize, E: Dtype, D: Storage<E>> {
    /// Conv1x1 `I` -> `O`.
    pub conv: Conv1x1<I, O, E, D>,
    /// Its BatchNorm.
    pub norm: BatchNorm2D<O, E, D>,
}

/// A residual pair's shortcut: identity when `I == O`, otherwise a [`Projection`].
#[derive(Clone, Debug)]
pub struct Shortcut<const I: usize, const O: usize, E: Dtype, D: Storage<E>> {
    /// Present exactly when `I != O`.
    pub projection: Option<Projection<I, O, E, D>>,
}

/// The per-use parts of a residual pair: the BatchNorm after each convolution and the shortcut.
#[derive(Clone, Debug)]
pub struct PairNorms<const I: usize, const O: usize, E: Dtype, D: Storage<E>> {
    /// BN after the first convolution.
    pub bn1: BatchNorm2D<O, E, D>,
    /// BN after the second convolution.
    pub bn2: BatchNorm2D<O, E, D>,
    /// The shortcut added before the last ReLU.
    pub shortcut: Shortcut<I, O, E, D>,
}

/// A residual pair with its own convolutions (the stem, the heads, the concatenation fusion).
#[derive(Clone, Debug)]
pub struct ResidualPair<const I: usize, const O: usize, E: Dtype, D: Storage<E>> {
    /// The two convolutions.
    pub convs: ConvPair<I, O, E, D>,
    /// BatchNorms and shortcut.
    pub norms: PairNorms<I, O, E, D>,
}

impl<const I: usize, const O: usize, E: Float, D: Backend<E>> Shortcut<I, O, E, D> {
    fn forward<T: Mode<E, D>>(&mut self, x: Image<I, E, D, T>) -> Result<Image<O, E, D, T>> {
        match &mut self.projection {
            Some(projection) => conv_batch_norm(
                &projection.conv,
                &mut projection.norm,
                x,
                Epilogue::Identity,
            ),
            None => x
                .try_realize::<(usize, Const<O>, usize, usize)>()
                .map_err(|_| OpError::Device(format!("identity shortcut from {I} to {O}"))),
        }
    }
}

impl<const I: usize, const O: usize, E: Float, D: Backend<E>> ConvPair<I, O, E, D> {
    /// conv, BN, ReLU, conv, BN, add the shortcut, ReLU; with the per-use parts `norms`.
    /// Each BN runs fused with what follows it (ReLU; shortcut addition and ReLU), and in
    /// evaluation with the convolution before it too.
    pub fn forward<T: Mode<E, D>>(
        &self,
        norms: &mut PairNorms<I, O, E, D>,
        x: Image<I, E, D, T>,
    ) -> Result<Image<O, E, D, T>> {
        let shortcut = norms.shortcut.forward(x.with_empty_tape())?;
        let x = conv_batch_norm(&self.conv1, &mut norms.bn1, x, Epilogue::Relu)?;
        conv_batch_norm(&self.conv2, &mut norms.bn2, x, Epilogue::AddRelu(shortcut))
    }
}

impl<const I: usize, const O: usize, E: Float, D: Backend<E>> Block<I, O, E, D>
    for ResidualPair<I, O, E, D>
{
    fn forward<T: Mode<E, D>>(&mut self, x: Image<I, E, D, T>) -> Result<Image<O, E, D, T>> {
        self.convs.forward(&mut self.norms, x)
    }
}

tensor_collection!(ConvPair<const I: usize, const O: usize> { conv1, conv2 });
tensor_collection!(Projection<const I: usize, const O: usize> { conv, norm });

impl<const I: usize, const O: usize, E: Float, D: Backend<E>> TensorCollection<E, D>
    for Shortcut<I, O, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = Shortcut<I, O, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        let projection = (I != O).then(|| {
            Self::module(
                "projection",
                |s| s.projection.as_ref().expect("a projection when I != O"),
                |s| s.projection.as_mut().expect("a projection when I != O"),
            )
        });
        visitor.visit_fields(Vec::from_iter(projection), |mut fields| Shortcut {
            projection: fields.pop(),
        })
    }
}

tensor_collection!(PairNorms<const I: usize, const O: usize> { bn1, bn2, shortcut });
tensor_collection!(ResidualPair<const I: usize, const O: usize> { convs, norms });
