//! One pass of RRCA-Net's U-shaped body (Fig. 3), one level at a time: a [`Level`] runs its
//! reusable-convolution level, max-pools the result into the levels below, and decodes on the
//! way back up; the [`DeepestLevel`] only runs its reusable-convolution level. A level decodes
//! with pass t's fusion ([`FusionDecoder`]: DIAAM in RRCA-Net, U-Net's concatenation in the
//! ResUNet baselines), or, for the Table VI stacking ablations, the upper levels hand their
//! features up ([`Gather`]) and the top level fuses the whole pyramid at full resolution
//! ([`StackedFusion`]). The authors' ResUNet baselines add a top level without an encoder of
//! its own ([`StemLevel`]) and, in ResUNet_RuCB, decoders whose convolutions every pass shares
//! ([`ReusableConcatenation`]).

use crate::nn::{
    concat_channels, tensor_collection, unsized_channels, upsample, Backend, Block, Fuse, Mode,
    Result, ReusableConvLevel, StackedImage,
};

use crate::ops::{max_pool2x2, Float, Image};
use dfdx::prelude::{Dtype, Repeated, Storage, WithEmptyTape, ZeroSizedModule};
use dfdx::shapes::HasShape;

/// A U-Net from one level down (itself a U-Net): applies the level and every level below it in
/// one pass, from an input of `IN` channels, with the tape `T` (train or eval mode).
pub trait UNet<const IN: usize, E: Float, D: Backend<E>, T: Mode<E, D>> {
    /// Levels from this one down to the deepest.
    const DEPTH: usize;
    /// What the level hands to the level above: its decoded feature, or the pyramid of
    /// encoder features for a stacked fusion.
    type Output;

    /// Applies the levels in pass `pass` (0-based).
    fn forward(&mut self, pass: usize, x: Image<IN, E, D, T>) -> Result<Self::Output>;
}

/// How a level decodes: joins its skip connection (`F` channels) with what the levels below
/// returned (`Below`), in pass `pass`.
pub trait Decode<const F: usize, Below, E: Float, D: Backend<E>, T: Mode<E, D>> {
    /// What the level hands to the level above.
    type Output;

    /// Decodes the level.
    fn decode(
        &mut self,
        pass: usize,
        skip: Image<F, E, D, T>,
        below: Below,
    ) -> Result<Self::Output>;
}

/// A level above the deepest: its RuCB level (`IN` -> `F` channels, `PAIRS` residual pairs,
/// `P` passes), the `Deeper` levels on its max-pooled output, and its `Decoder`.
#[derive(Clone, Debug)]
pub struct Level<
    const IN: usize,
    const F: usize,
    const PAIRS: usize,
    const P: usize,
    Deeper,
    Decoder,
    E: Dtype,
    D: Storage<E>,
> {
    /// The level's reusable-convolution block.
    pub rucb: ReusableConvLevel<IN, F, PAIRS, P, E, D>,
    /// The levels below.
    pub deeper: Deeper,
    /// The way back up at this level.
    pub decoder: Decoder,
}

/// The deepest level: its RuCB level alone, whose output is its own decoding.
#[derive(Clone, Debug)]
pub struct DeepestLevel<
    const IN: usize,
    const F: usize,
    const PAIRS: usize,
    const P: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// The level's reusable-convolution block.
    pub rucb: ReusableConvLevel<IN, F, PAIRS, P, E, D>,
}

impl<
        const IN: usize,
        const F: usize,
        const PAIRS: usize,
        const P: usize,
        Deeper,
        Decoder,
        E,
        D,
        T,
    > UNet<IN, E, D, T> for Level<IN, F, PAIRS, P, Deeper, Decoder, E, D>
where
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
    Deeper: UNet<F, E, D, T>,
    Decoder: Decode<F, Deeper::Output, E, D, T>,
{
    const DEPTH: usize = 1 + Deeper::DEPTH;
    type Output = Decoder::Output;

    /// RuCB -> skip; max-pool -> the levels below; decode(skip, what they return).
    fn forward(&mut self, pass: usize, x: Image<IN, E, D, T>) -> Result<Self::Output> {
        let skip = self.rucb.forward(pass, x)?;
        descend_and_decode(&mut self.deeper, &mut self.decoder, pass, skip)
    }
}

/// What a level does below its encoder: max-pools the skip connection `skip` into the levels
/// `deeper`, then decodes (skip, what they return) with `decoder`.
fn descend_and_decode<const F: usize, Deeper, Decoder, E, D, T>(
    deeper: &mut Deeper,
    decoder: &mut Decoder,
    pass: usize,
    skip: Image<F, E, D, T>,
) -> Result<Decoder::Output>
where
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
    Deeper: UNet<F, E, D, T>,
    Decoder: Decode<F, Deeper::Output, E, D, T>,
{
    let below = deeper.forward(pass, max_pool2x2(skip.with_empty_tape())?)?;
    decoder.decode(pass, skip, below)
}

/// The top level of the authors' ResUNet (model_ResUNet.py): its skip connection is the stem's
/// output (`x0_0 = conv0_0(input)`), so it has no encoder convolution of its own; it max-pools
/// its input into the `Deeper` levels and decodes with its `Decoder` (`conv0_4`).
#[derive(Clone, Debug)]
pub struct StemLevel<const F: usize, Deeper, Decoder> {
    /// The levels below.
    pub deeper: Deeper,
    /// The way back up at this level.
    pub decoder: Decoder,
}

impl<const F: usize, Deeper, Decoder, E, D, T> UNet<F, E, D, T> for StemLevel<F, Deeper, Decoder>
where
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
    Deeper: UNet<F, E, D, T>,
    Decoder: Decode<F, Deeper::Output, E, D, T>,
{
    const DEPTH: usize = 1 + Deeper::DEPTH;
    type Output = Decoder::Output;

    /// The input is the skip; max-pool -> the levels below; decode(skip, what they return).
    fn forward(&mut self, pass: usize, skip: Image<F, E, D, T>) -> Result<Self::Output> {
        descend_and_decode(&mut self.deeper, &mut self.decoder, pass, skip)
    }
}

impl<const IN: usize, const F: usize, const PAIRS: usize, const P: usize, E, D, T> UNet<IN, E, D, T>
    for DeepestLevel<IN, F, PAIRS, P, E, D>
where
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
{
    const DEPTH: usize = 1;
    type Output = Image<F, E, D, T>;

    fn forward(&mut self, pass: usize, x: Image<IN, E, D, T>) -> Result<Self::Output> {
        self.rucb.forward(pass, x)
    }
}

/// A level's decoder in the U-Net way (Fig. 3, decoder): what comes from below, upsampled to
/// the skip connection's size, fused with it by pass t's own `Fusion` (a [`crate::nn::Diaam`]
/// in RRCA-Net).
#[derive(Clone, Debug)]
pub struct FusionDecoder<const P: usize, Fusion> {
    /// One fusion module per pass.
    pub passes: Repeated<Fusion, P>,
}

impl<const F: usize, const HI: usize, const P: usize, Fusion, E, D, T>
    Decode<F, Image<HI, E, D, T>, E, D, T> for FusionDecoder<P, Fusion>
where
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
    Fusion: Fuse<F, HI, E, D>,
{
    type Output = Image<F, E, D, T>;

    /// upsample x2 -> fusion(skip, upsampled), e.g. DIAAM.
    fn decode(
        &mut self,
        pass: usize,
        skip: Image<F, E, D, T>,
        below: Image<HI, E, D, T>,
    ) -> Result<Self::Output> {
        let (_, _, height, width) = *skip.shape();
        let high = upsample(below, height, width)?;
        self.passes.modules[pass].fuse(skip, high)
    }
}

/// The decoder of ResUNet_RuCB (ResUNet_RuCB.py, `iteration{t}_layer{j}_decoder_convs`): what
/// comes from below, upsampled to the skip connection's size, concatenated after the skip
/// (`CAT` = `LO` + `HI` channels) and decoded by one residual pair whose convolutions every
/// pass shares, with pass t's BatchNorms and projection shortcut (a RuCB level of one pair).
#[derive(Clone, Debug)]
pub struct ReusableConcatenation<
    const LO: usize,
    const HI: usize,
    const CAT: usize,
    const P: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// The shared residual pair `CAT` -> `LO` with every pass' BatchNorms and shortcut.
    pub rucb: ReusableConvLevel<CAT, LO, 1, P, E, D>,
}

impl<const LO: usize, const HI: usize, const CAT: usize, const P: usize, E, D, T>
    Decode<LO, Image<HI, E, D, T>, E, D, T> for ReusableConcatenation<LO, HI, CAT, P, E, D>
where
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
{
    type Output = Image<LO, E, D, T>;

    /// upsample x2 -> concatenate(skip, upsampled) -> pass t's use of the shared pair.
    fn decode(
        &mut self,
        pass: usize,
        skip: Image<LO, E, D, T>,
        below: Image<HI, E, D, T>,
    ) -> Result<Self::Output> {
        const { assert!(CAT == LO + HI, "concatenation width must be LO + HI") };
        let (_, _, height, width) = *skip.shape();
        let high = upsample(below, height, width)?;
        let stacked = concat_channels::<CAT, E, D, T>(vec![
            unsized_channels(skip)?,
            unsized_channels(high)?,
        ])?;
        self.rucb.forward(pass, stacked)
    }
}

/// A pyramid of encoder features, finest first: `(Image<F0>, (Image<F1>, .. Image<Fn>))`.
pub trait Pyramid<E: Float, D: Backend<E>, T: Mode<E, D>> {
    /// Appends every level, bilinearly resized to `height` x `width`, to `stack`.
    fn upsample_into(
        self,
        height: usize,
        width: usize,
        stack: &mut Vec<StackedImage<E, D, T>>,
    ) -> Result<()>;
}

impl<const C: usize, E: Float, D: Backend<E>, T: Mode<E, D>> Pyramid<E, D, T>
    for Image<C, E, D, T>
{
    fn upsample_into(
        self,
        height: usize,
        width: usize,
        stack: &mut Vec<StackedImage<E, D, T>>,
    ) -> Result<()> {
        stack.push(unsized_channels(upsample(self, height, width)?)?);
        Ok(())
    }
}

impl<const C: usize, E: Float, D: Backend<E>, T: Mode<E, D>, R: Pyramid<E, D, T>> Pyramid<E, D, T>
    for (Image<C, E, D, T>, R)
{
    fn upsample_into(
        self,
        height: usize,
        width: usize,
        stack: &mut Vec<StackedImage<E, D, T>>,
    ) -> Result<()> {
        self.0.upsample_into(height, width, stack)?;
        self.1.upsample_into(height, width, stack)
    }
}

/// The decoder of the stacking ablations' upper levels: hands the skip connection and the
/// features from below up, unchanged, as one pyramid.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gather;

impl ZeroSizedModule for Gather {}

impl<const F: usize, Below, E, D, T> Decode<F, Below, E, D, T> for Gather
where
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
    Below: Pyramid<E, D, T>,
{
    type Output = (Image<F, E, D, T>, Below);

    fn decode(
        &mut self,
        _pass: usize,
        skip: Image<F, E, D, T>,
        below: Below,
    ) -> Result<Self::Output> {
        Ok((skip, below))
    }
}

/// The Table VI fusion ablations, the top level's decoder: every encoder level bilinearly
/// resized straight to full resolution, concatenated (`STACK` = sum of the widths) and fused
/// by one `Fuser` shared by all passes: a residual pair ("concatenate") or a conv1x1
/// ("element-wise summation": a conv1x1 on the concatenation is the sum of one conv1x1 per
/// level).
#[derive(Clone, Debug)]
pub struct StackedFusion<const STACK: usize, Fuser> {
    /// The block fusing the stacked pyramid.
    pub fuser: Fuser,
}

impl<const F: usize, const STACK: usize, Fuser, Below, E, D, T> Decode<F, Below, E, D, T>
    for StackedFusion<STACK, Fuser>
where
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
    Below: Pyramid<E, D, T>,
    Fuser: Block<STACK, F, E, D>,
{
    type Output = Image<F, E, D, T>;

    /// resize every level to full resolution -> concatenate -> fuse.
    fn decode(
        &mut self,
        _pass: usize,
        skip: Image<F, E, D, T>,
        below: Below,
    ) -> Result<Self::Output> {
        let (_, _, height, width) = *skip.shape();
        let mut stack = Vec::new();
        (skip, below).upsample_into(height, width, &mut stack)?;
        self.fuser
            .forward(concat_channels::<STACK, E, D, T>(stack)?)
    }
}

tensor_collection!(Level<const IN: usize, const F: usize, const PAIRS: usize, const P: usize;
    Deeper, Decoder> { rucb, deeper, decoder });
tensor_collection!(DeepestLevel<const IN: usize, const F: usize, const PAIRS: usize,
    const P: usize> { rucb });
tensor_collection!(StemLevel<const F: usize; Deeper, Decoder> without device { deeper, decoder });
tensor_collection!(ReusableConcatenation<const LO: usize, const HI: usize, const CAT: usize,
    const P: usize> { rucb });
tensor_collection!(FusionDecoder<const P: usize; Fusion> without device { passes });
tensor_collection!(StackedFusion<const STACK: usize; Fuser> without device { fuser });
