//! The residual pair (the paper's residual block): conv3x3 -> BN -> ReLU -> conv3x3 -> BN ->
//! (+ shortcut) -> ReLU, with a projection shortcut (conv1x1 + BN) when the width changes.
//!
//! The convolutions ([`ConvPair`]) and the per-use parts ([`PairNorms`]: BatchNorms and
//! shortcut) are separate types so that the reusable-convolution block can share the first
//! across passes and give each pass its own second.

use super::{
    batch_norm, batch_norm_add_relu, batch_norm_relu, Backend, Block, Complexity, Conv1x1, Conv3x3,
    Mode, Result, Tally,
};
use crate::ops::{Float, Image, OpError};
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
            Some(projection) => batch_norm(&mut projection.norm, projection.conv.forward(x)?),
            None => x
                .try_realize::<(usize, Const<O>, usize, usize)>()
                .map_err(|_| OpError::Device(format!("identity shortcut from {I} to {O}"))),
        }
    }
}

impl<const I: usize, const O: usize, E: Float, D: Backend<E>> ConvPair<I, O, E, D> {
    /// conv, BN, ReLU, conv, BN, add the shortcut, ReLU; with the per-use parts `norms`.
    /// Each BN runs fused with what follows it (ReLU; shortcut addition and ReLU).
    pub fn forward<T: Mode<E, D>>(
        &self,
        norms: &mut PairNorms<I, O, E, D>,
        x: Image<I, E, D, T>,
    ) -> Result<Image<O, E, D, T>> {
        let shortcut = norms.shortcut.forward(x.with_empty_tape())?;
        let x = self.conv1.forward(x)?;
        let x = batch_norm_relu(&mut norms.bn1, x)?;
        let x = self.conv2.forward(x)?;
        batch_norm_add_relu(&mut norms.bn2, x, shortcut)
    }

    /// The cost of one use; `shared_use` is true for the second and later passes through
    /// shared convolutions, `relu_modules` the ReLU modules the authors' code has here.
    pub(crate) fn tally_use(
        &self,
        norms: &PairNorms<I, O, E, D>,
        shared_use: bool,
        relu_modules: usize,
        (height, width): (usize, usize),
        tally: &mut Tally,
    ) {
        tally.conv(I, O, 3, height, width, true, !shared_use);
        tally.batch_norm(O, height, width);
        tally.conv(O, O, 3, height, width, true, !shared_use);
        tally.batch_norm(O, height, width);
        if norms.shortcut.projection.is_some() {
            tally.conv(I, O, 1, height, width, true, true);
            tally.batch_norm(O, height, width);
        }
        for _ in 0..relu_modules {
            tally.relu(O, height, width);
        }
    }
}

impl<const I: usize, const O: usize, E: Float, D: Backend<E>> Block<I, O, E, D>
    for ResidualPair<I, O, E, D>
{
    fn forward<T: Mode<E, D>>(&mut self, x: Image<I, E, D, T>) -> Result<Image<O, E, D, T>> {
        self.convs.forward(&mut self.norms, x)
    }
}

impl<const I: usize, const O: usize, E: Float, D: Backend<E>> Complexity
    for ResidualPair<I, O, E, D>
{
    /// A standard residual block of the authors' code holds one ReLU module, called twice.
    fn tally(&self, _pass: usize, height: usize, width: usize, tally: &mut Tally) {
        self.convs
            .tally_use(&self.norms, false, 1, (height, width), tally);
    }
}

impl<const I: usize, const O: usize, E: Float, D: Backend<E>> TensorCollection<E, D>
    for ConvPair<I, O, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = ConvPair<I, O, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
            ),
            |(conv1, conv2)| ConvPair { conv1, conv2 },
        )
    }
}

impl<const I: usize, const O: usize, E: Float, D: Backend<E>> TensorCollection<E, D>
    for Projection<I, O, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = Projection<I, O, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv", |s| &s.conv, |s| &mut s.conv),
                Self::module("norm", |s| &s.norm, |s| &mut s.norm),
            ),
            |(conv, norm)| Projection { conv, norm },
        )
    }
}

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

impl<const I: usize, const O: usize, E: Float, D: Backend<E>> TensorCollection<E, D>
    for PairNorms<I, O, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = PairNorms<I, O, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("bn1", |s| &s.bn1, |s| &mut s.bn1),
                Self::module("bn2", |s| &s.bn2, |s| &mut s.bn2),
                Self::module("shortcut", |s| &s.shortcut, |s| &mut s.shortcut),
            ),
            |(bn1, bn2, shortcut)| PairNorms { bn1, bn2, shortcut },
        )
    }
}

impl<const I: usize, const O: usize, E: Float, D: Backend<E>> TensorCollection<E, D>
    for ResidualPair<I, O, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = ResidualPair<I, O, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("convs", |s| &s.convs, |s| &mut s.convs),
                Self::module("norms", |s| &s.norms, |s| &mut s.norms),
            ),
            |(convs, norms)| ResidualPair { convs, norms },
        )
    }
}
