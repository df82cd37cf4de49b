//! Decoder fusion at one level: merging a skip connection (`LO` channels) with the upsampled
//! deeper decoder output (`HI` channels). RRCA-Net uses [`super::Diaam`]; the ResUNet
//! baselines use U-Net's concatenation followed by a residual pair ([`ConcatenateFusion`]).

use super::{
    concat_channels, tensor_collection, unsized_channels, Backend, Block, Mode, ResidualPair,
    Result,
};
use crate::ops::{Float, Image};
use dfdx::prelude::{Dtype, Storage};

/// Fuses a skip connection with the upsampled deeper decoder output of the same size.
pub trait Fuse<const LO: usize, const HI: usize, E: Float, D: Backend<E>> {
    /// Returns the fused feature (`LO` channels).
    fn fuse<T: Mode<E, D>>(
        &mut self,
        low: Image<LO, E, D, T>,
        high: Image<HI, E, D, T>,
    ) -> Result<Image<LO, E, D, T>>;
}

/// U-Net fusion: concatenate skip and upsampled feature (`CAT = LO + HI` channels), then a
/// residual pair back to `LO` channels.
#[derive(Clone, Debug)]
pub struct ConcatenateFusion<
    const LO: usize,
    const HI: usize,
    const CAT: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// Residual pair `CAT` -> `LO`.
    pub fuse: ResidualPair<CAT, LO, E, D>,
}

impl<const LO: usize, const HI: usize, const CAT: usize, E: Float, D: Backend<E>> Fuse<LO, HI, E, D>
    for ConcatenateFusion<LO, HI, CAT, E, D>
{
    fn fuse<T: Mode<E, D>>(
        &mut self,
        low: Image<LO, E, D, T>,
        high: Image<HI, E, D, T>,
    ) -> Result<Image<LO, E, D, T>> {
        const { assert!(CAT == LO + HI, "concatenation width must be LO + HI") };
        let stacked =
            concat_channels::<CAT, E, D, T>(vec![unsized_channels(low)?, unsized_channels(high)?])?;
        self.fuse.forward(stacked)
    }
}

tensor_collection!(ConcatenateFusion<const LO: usize, const HI: usize, const CAT: usize> { fuse });
