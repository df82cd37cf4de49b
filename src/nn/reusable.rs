//! The reusable-convolution block (RuCB, paper Fig. 3): one encoder level's residual pairs,
//! whose convolutions are created once and shared by every pass, while each pass owns its
//! BatchNorms and the shortcut of the level's first pair.

use super::{Backend, ConvPair, Mode, PairNorms, Result};
use crate::ops::{Float, Image};
use dfdx::prelude::{Device, Dtype, ModuleVisitor, Repeated, Storage, TensorCollection};

/// The `PAIRS` residual pairs of a level, as the paper counts them (e.g. 3, 2, 2, 2 for
/// ResNet-18): the first (`First`, changing the width) and the `PAIRS - 1` following ones.
#[derive(Clone, Debug)]
pub struct Pairs<First, Following, const PAIRS: usize> {
    /// Pair 0.
    pub first: First,
    /// Pairs 1 to `PAIRS - 1`.
    pub following: Vec<Following>,
}

/// What one pass owns at one encoder level: BatchNorms of every pair and the first pair's
/// shortcut (`IN` -> `F`; the following pairs' shortcuts are identities).
pub type LevelNorms<const IN: usize, const F: usize, const PAIRS: usize, E, D> =
    Pairs<PairNorms<IN, F, E, D>, PairNorms<F, F, E, D>, PAIRS>;

/// One encoder level of the RuCB: `PAIRS` residual pairs from `IN` to `F` channels whose
/// convolutions serve all `P` passes (the paper's RuCB).
#[derive(Clone, Debug)]
pub struct ReusableConvLevel<
    const IN: usize,
    const F: usize,
    const PAIRS: usize,
    const P: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// The pairs' convolutions, shared by every pass.
    pub pairs: Pairs<ConvPair<IN, F, E, D>, ConvPair<F, F, E, D>, PAIRS>,
    /// Pass t's BatchNorms and shortcut.
    pub passes: Repeated<LevelNorms<IN, F, PAIRS, E, D>, P>,
}

impl<const IN: usize, const F: usize, const PAIRS: usize, const P: usize, E, D>
    ReusableConvLevel<IN, F, PAIRS, P, E, D>
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
        let mut x = self.pairs.first.forward(&mut norms.first, x)?;
        for (convs, norms) in self.pairs.following.iter().zip(&mut norms.following) {
            x = convs.forward(norms, x)?;
        }
        Ok(x)
    }
}

impl<First, Following, const PAIRS: usize, E, D> TensorCollection<E, D>
    for Pairs<First, Following, PAIRS>
where
    E: Float,
    D: Backend<E>,
    First: TensorCollection<E, D>,
    Following: TensorCollection<E, D>,
{
    type To<E2: Dtype, D2: Device<E2>> = Pairs<First::To<E2, D2>, Following::To<E2, D2>, PAIRS>;

    /// The pairs are named by their index: "0" (the first) to "PAIRS - 1".
    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        const { assert!(PAIRS >= 1, "a level has at least one residual pair") };
        let names: Vec<String> = (1..PAIRS).map(|pair| pair.to_string()).collect();
        let following = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                Self::module(name, move |s| &s.following[i], move |s| &mut s.following[i])
            })
            .collect::<Vec<_>>();
        visitor.visit_fields(
            (Self::module("0", |s| &s.first, |s| &mut s.first), following),
            |(first, following)| Pairs { first, following },
        )
    }
}

super::tensor_collection!(ReusableConvLevel<
    const IN: usize,
    const F: usize,
    const PAIRS: usize,
    const P: usize,
> { pairs, passes });
