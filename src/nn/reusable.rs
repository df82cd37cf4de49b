//! The reusable-convolution block (RuCB, Sec. III-B): one encoder level's residual pairs,
//! whose convolutions are created once and shared by every pass, while each pass owns its
//! BatchNorms and the shortcut of the level's first pair.

use super::{Backend, Complexity, ConvPair, Mode, PairNorms, Result, Tally};
use crate::ops::{Float, Image};
use dfdx::prelude::{Device, Dtype, ModuleVisitor, Repeated, Storage, TensorCollection};

/// What one pass owns at one encoder level: BatchNorms of every pair and the first pair's
/// shortcut.
#[derive(Clone, Debug)]
pub struct LevelNorms<const IN: usize, const F: usize, const REST: usize, E: Dtype, D: Storage<E>> {
    /// The first pair (`IN` -> `F`).
    pub first: PairNorms<IN, F, E, D>,
    /// The following `REST` pairs (`F` -> `F`, identity shortcuts).
    pub rest: Repeated<PairNorms<F, F, E, D>, REST>,
}

/// One encoder level of the RuCB: `1 + REST` residual pairs from `IN` to `F` channels whose
/// convolutions serve all `P` passes (Sec. III-B).
#[derive(Clone, Debug)]
pub struct ReusableConvLevel<
    const IN: usize,
    const F: usize,
    const REST: usize,
    const P: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// Shared convolutions of the first pair (`IN` -> `F`).
    pub first: ConvPair<IN, F, E, D>,
    /// Shared convolutions of the following pairs.
    pub rest: Repeated<ConvPair<F, F, E, D>, REST>,
    /// Pass t's BatchNorms and shortcut.
    pub passes: Repeated<LevelNorms<IN, F, REST, E, D>, P>,
}

impl<const IN: usize, const F: usize, const REST: usize, const P: usize, E, D>
    ReusableConvLevel<IN, F, REST, P, E, D>
where
    E: Float,
    D: Backend<E>,
{
    /// Applies the level in pass `pass`: every pair with the shared convolutions and this
    /// pass' BatchNorms and shortcut.
    pub fn forward<T: Mode<E, D>>(
        &mut self,
        pass: usize,
        x: Image<IN, E, D, T>,
    ) -> Result<Image<F, E, D, T>> {
        let norms = &mut self.passes.modules[pass];
        let mut x = self.first.forward(&mut norms.first, x)?;
        for (convs, norms) in self.rest.modules.iter().zip(&mut norms.rest.modules) {
            x = convs.forward(norms, x)?;
        }
        Ok(x)
    }
}

impl<const IN: usize, const F: usize, const REST: usize, const P: usize, E, D> Complexity
    for ReusableConvLevel<IN, F, REST, P, E, D>
where
    E: Float,
    D: Backend<E>,
{
    /// The authors' RuCB gives each pass one ReLU module per convolution; torchstat counts
    /// the shared convolutions in their first pass only.
    fn tally(&self, pass: usize, height: usize, width: usize, tally: &mut Tally) {
        let norms = &self.passes.modules[pass];
        let shared_use = pass > 0;
        self.first
            .tally_use(&norms.first, shared_use, 2, (height, width), tally);
        for (convs, norms) in self.rest.modules.iter().zip(&norms.rest.modules) {
            convs.tally_use(norms, shared_use, 2, (height, width), tally);
        }
    }
}

impl<const IN: usize, const F: usize, const REST: usize, E: Float, D: Backend<E>>
    TensorCollection<E, D> for LevelNorms<IN, F, REST, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = LevelNorms<IN, F, REST, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("first", |s| &s.first, |s| &mut s.first),
                Self::module("rest", |s| &s.rest, |s| &mut s.rest),
            ),
            |(first, rest)| LevelNorms { first, rest },
        )
    }
}

impl<const IN: usize, const F: usize, const REST: usize, const P: usize, E, D>
    TensorCollection<E, D> for ReusableConvLevel<IN, F, REST, P, E, D>
where
    E: Float,
    D: Backend<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = ReusableConvLevel<IN, F, REST, P, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("first", |s| &s.first, |s| &mut s.first),
                Self::module("rest", |s| &s.rest, |s| &mut s.rest),
                Self::module("passes", |s| &s.passes, |s| &mut s.passes),
            ),
            |(first, rest, passes)| ReusableConvLevel {
                first,
                rest,
                passes,
            },
        )
    }
}
