//! One pass of RRCA-Net's U-shaped body (Fig. 3): the encoder, a nest of reusable-convolution
//! levels (depth = nesting depth), and the decoder that fuses the encoder's pyramid of
//! features back to full resolution: nested DIAAMs (the paper's design), or, for the Table VI
//! ablations, the whole pyramid stacked at full resolution and fused by one block.

use crate::nn::{
    concat_channels, unsized_channels, upsample, Backend, Block, Complexity, Fuse, Mode, Result,
    ReusableConvLevel, StackedImage, Tally,
};
use crate::ops::{max_pool2x2, Float, Image};
use dfdx::prelude::{Device, Dtype, ModuleVisitor, Repeated, Storage, TensorCollection};
use dfdx::shapes::HasShape;
use dfdx::tensor::WithEmptyTape;

/// Marks the end of a nest: no deeper encoder level, no deeper decoder level.
#[derive(Clone, Copy, Debug, Default)]
pub struct Deepest;

impl dfdx::nn::ZeroSizedModule for Deepest {}

/// A module applied once per pass, knowing which pass it is in.
pub trait PassModule<Input> {
    /// What the module produces.
    type Output;
    /// Applies the module in pass `pass` (0-based).
    fn forward(&mut self, pass: usize, x: Input) -> Result<Self::Output>;
}

/// The cost of a nest of levels for one pass, given the input size at the nest's top.
pub trait NestComplexity {
    /// Adds this level (and the levels below it) for pass `pass` at `height` x `width`.
    fn tally_nest(&self, pass: usize, height: usize, width: usize, tally: &mut Tally);
}

/// An encoder level: the RuCB level (`IN` -> `F` channels), then the `Deeper` levels on its
/// max-pooled output. Produces the pyramid `(this level's features, deeper pyramid)`.
#[derive(Clone, Debug)]
pub struct EncoderLevel<
    const IN: usize,
    const F: usize,
    const REST: usize,
    const P: usize,
    Deeper,
    E: Dtype,
    D: Storage<E>,
> {
    /// The level's reusable-convolution block.
    pub level: ReusableConvLevel<IN, F, REST, P, E, D>,
    /// The levels below (or [`Deepest`]).
    pub deeper: Deeper,
}

/// What lies below an encoder level: given the level's output (before pooling), the pyramid
/// of deeper features.
pub trait Below<const F: usize, E: Float, D: Backend<E>, T: Mode<E, D>> {
    /// The deeper part of the pyramid.
    type Pyramid;
    /// Pools `skip` and encodes it (nothing for [`Deepest`]).
    fn descend(&mut self, pass: usize, skip: Image<F, E, D, T>) -> Result<Self::Pyramid>;
}

impl<const F: usize, E: Float, D: Backend<E>, T: Mode<E, D>> Below<F, E, D, T> for Deepest {
    type Pyramid = ();
    fn descend(&mut self, _pass: usize, _skip: Image<F, E, D, T>) -> Result<()> {
        Ok(())
    }
}

impl<const IN: usize, const F: usize, const REST: usize, const P: usize, Deeper, E, D, T>
    PassModule<Image<IN, E, D, T>> for EncoderLevel<IN, F, REST, P, Deeper, E, D>
where
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
    Deeper: Below<F, E, D, T>,
{
    type Output = (Image<F, E, D, T>, Deeper::Pyramid);

    /// level convs -> skip; max-pool -> deeper levels.
    fn forward(&mut self, pass: usize, x: Image<IN, E, D, T>) -> Result<Self::Output> {
        let skip = self.level.forward(pass, x)?;
        let deeper = self.deeper.descend(pass, skip.with_empty_tape())?;
        Ok((skip, deeper))
    }
}

impl<const IN: usize, const F: usize, const REST: usize, const P: usize, Deeper, E, D, T>
    Below<IN, E, D, T> for EncoderLevel<IN, F, REST, P, Deeper, E, D>
where
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
    Deeper: Below<F, E, D, T>,
{
    type Pyramid = (Image<F, E, D, T>, Deeper::Pyramid);
    fn descend(&mut self, pass: usize, skip: Image<IN, E, D, T>) -> Result<Self::Pyramid> {
        self.forward(pass, max_pool2x2(skip)?)
    }
}

/// Static facts about an encoder nest.
pub trait EncoderStructure {
    /// Number of levels.
    const DEPTH: usize;
    /// Channels entering the deepest max-pooling (the output width of level DEPTH - 2).
    const DEEPEST_POOL_CHANNELS: usize;
}

impl EncoderStructure for Deepest {
    const DEPTH: usize = 0;
    const DEEPEST_POOL_CHANNELS: usize = 0;
}

impl<const IN: usize, const F: usize, const REST: usize, const P: usize, Deeper, E, D>
    EncoderStructure for EncoderLevel<IN, F, REST, P, Deeper, E, D>
where
    E: Dtype,
    D: Storage<E>,
    Deeper: EncoderStructure,
{
    const DEPTH: usize = 1 + Deeper::DEPTH;
    const DEEPEST_POOL_CHANNELS: usize = if Deeper::DEPTH == 1 {
        F
    } else {
        Deeper::DEEPEST_POOL_CHANNELS
    };
}

impl NestComplexity for Deepest {
    fn tally_nest(&self, _pass: usize, _height: usize, _width: usize, _tally: &mut Tally) {}
}

impl<const IN: usize, const F: usize, const REST: usize, const P: usize, Deeper, E, D>
    NestComplexity for EncoderLevel<IN, F, REST, P, Deeper, E, D>
where
    E: Float,
    D: Backend<E>,
    Deeper: NestComplexity,
{
    fn tally_nest(&self, pass: usize, height: usize, width: usize, tally: &mut Tally) {
        self.level.tally(pass, height, width, tally);
        self.deeper.tally_nest(pass, height / 2, width / 2, tally);
    }
}

/// A decoder level (Sec. III-C): decodes the deeper pyramid to `HI` channels, upsamples it x2
/// and fuses it with this level's skip connection (`LO` channels) by pass t's own fusion
/// module (a [`crate::nn::Diaam`] in RRCA-Net).
#[derive(Clone, Debug)]
pub struct DecoderLevel<const LO: usize, const HI: usize, const P: usize, Fusion, Deeper> {
    /// One fusion module per pass.
    pub passes: Repeated<Fusion, P>,
    /// The decoder levels below (or [`Deepest`]).
    pub deeper: Deeper,
}

impl<const F: usize, E: Float, D: Backend<E>, T: Mode<E, D>> PassModule<(Image<F, E, D, T>, ())>
    for Deepest
{
    type Output = Image<F, E, D, T>;
    /// The deepest features are their own decoding.
    fn forward(
        &mut self,
        _pass: usize,
        (deepest, ()): (Image<F, E, D, T>, ()),
    ) -> Result<Self::Output> {
        Ok(deepest)
    }
}

impl<const LO: usize, const HI: usize, const P: usize, Fusion, Deeper, E, D, T, R>
    PassModule<(Image<LO, E, D, T>, R)> for DecoderLevel<LO, HI, P, Fusion, Deeper>
where
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
    Fusion: Fuse<LO, HI, E, D>,
    Deeper: PassModule<R, Output = Image<HI, E, D, T>>,
{
    type Output = Image<LO, E, D, T>;

    /// deeper levels -> upsample x2 -> fusion(skip, upsampled), e.g. DIAAM.
    fn forward(
        &mut self,
        pass: usize,
        (skip, deeper): (Image<LO, E, D, T>, R),
    ) -> Result<Self::Output> {
        let (_, _, height, width) = *skip.shape();
        let high = upsample(self.deeper.forward(pass, deeper)?, height, width)?;
        self.passes.modules[pass].fuse(skip, high)
    }
}

impl<const LO: usize, const HI: usize, const P: usize, Fusion, Deeper> NestComplexity
    for DecoderLevel<LO, HI, P, Fusion, Deeper>
where
    Fusion: Complexity,
    Deeper: NestComplexity,
{
    fn tally_nest(&self, pass: usize, height: usize, width: usize, tally: &mut Tally) {
        self.passes.modules[pass].tally(pass, height, width, tally);
        self.deeper.tally_nest(pass, height / 2, width / 2, tally);
    }
}

/// A pyramid of encoder features `(Image<F0>, (Image<F1>, (..., ())))`, finest first.
pub trait Pyramid<E: Float, D: Backend<E>, T: Mode<E, D>> {
    /// Appends every level, bilinearly resized to `height` x `width`, to `stack`.
    fn upsample_into(
        self,
        height: usize,
        width: usize,
        stack: &mut Vec<StackedImage<E, D, T>>,
    ) -> Result<()>;
}

impl<E: Float, D: Backend<E>, T: Mode<E, D>> Pyramid<E, D, T> for () {
    fn upsample_into(self, _: usize, _: usize, _: &mut Vec<StackedImage<E, D, T>>) -> Result<()> {
        Ok(())
    }
}

impl<const F: usize, E: Float, D: Backend<E>, T: Mode<E, D>, R: Pyramid<E, D, T>> Pyramid<E, D, T>
    for (Image<F, E, D, T>, R)
{
    fn upsample_into(
        self,
        height: usize,
        width: usize,
        stack: &mut Vec<StackedImage<E, D, T>>,
    ) -> Result<()> {
        stack.push(unsized_channels(upsample(self.0, height, width)?)?);
        self.1.upsample_into(height, width, stack)
    }
}

/// The Table VI fusion ablations: every encoder level bilinearly upsampled to full
/// resolution, concatenated (`STACK` = sum of the widths) and fused to `F0` channels by one
/// `Fuser` shared by all passes: a residual pair ("concatenate") or a conv1x1 ("element-wise
/// summation": a conv1x1 on the concatenation is the sum of one conv1x1 per level).
#[derive(Clone, Debug)]
pub struct StackedFusion<const STACK: usize, const F0: usize, Fuser> {
    /// The block fusing the stacked pyramid.
    pub fuser: Fuser,
}

impl<const STACK: usize, const F0: usize, Fuser, E, D, T, R> PassModule<(Image<F0, E, D, T>, R)>
    for StackedFusion<STACK, F0, Fuser>
where
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
    R: Pyramid<E, D, T>,
    Fuser: Block<STACK, F0, E, D>,
{
    type Output = Image<F0, E, D, T>;

    /// upsample every level to full resolution -> concatenate -> fuse.
    fn forward(&mut self, _pass: usize, pyramid: (Image<F0, E, D, T>, R)) -> Result<Self::Output> {
        let (_, _, height, width) = *pyramid.0.shape();
        let mut stack = Vec::new();
        pyramid.upsample_into(height, width, &mut stack)?;
        self.fuser
            .forward(concat_channels::<STACK, E, D, T>(stack)?)
    }
}

impl<const STACK: usize, const F0: usize, Fuser: Complexity> NestComplexity
    for StackedFusion<STACK, F0, Fuser>
{
    /// The fuser is one module used by every pass: torchstat counts it in pass 0 only.
    fn tally_nest(&self, pass: usize, height: usize, width: usize, tally: &mut Tally) {
        let mut this_pass = Tally::default();
        self.fuser.tally(pass, height, width, &mut this_pass);
        tally.macs += this_pass.macs;
        if pass == 0 {
            tally.paper_flops += this_pass.paper_flops;
        }
    }
}

impl<const IN: usize, const F: usize, const REST: usize, const P: usize, Deeper, E, D>
    TensorCollection<E, D> for EncoderLevel<IN, F, REST, P, Deeper, E, D>
where
    E: Float,
    D: Backend<E>,
    Deeper: TensorCollection<E, D>,
{
    type To<E2: Dtype, D2: Device<E2>> = EncoderLevel<IN, F, REST, P, Deeper::To<E2, D2>, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("level", |s| &s.level, |s| &mut s.level),
                Self::module("deeper", |s| &s.deeper, |s| &mut s.deeper),
            ),
            |(level, deeper)| EncoderLevel { level, deeper },
        )
    }
}

impl<const LO: usize, const HI: usize, const P: usize, Fusion, Deeper, E, D> TensorCollection<E, D>
    for DecoderLevel<LO, HI, P, Fusion, Deeper>
where
    E: Float,
    D: Backend<E>,
    Fusion: TensorCollection<E, D>,
    Deeper: TensorCollection<E, D>,
{
    type To<E2: Dtype, D2: Device<E2>> =
        DecoderLevel<LO, HI, P, Fusion::To<E2, D2>, Deeper::To<E2, D2>>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("passes", |s| &s.passes, |s| &mut s.passes),
                Self::module("deeper", |s| &s.deeper, |s| &mut s.deeper),
            ),
            |(passes, deeper)| DecoderLevel { passes, deeper },
        )
    }
}

impl<const STACK: usize, const F0: usize, Fuser, E, D> TensorCollection<E, D>
    for StackedFusion<STACK, F0, Fuser>
where
    E: Float,
    D: Backend<E>,
    Fuser: TensorCollection<E, D>,
{
    type To<E2: Dtype, D2: Device<E2>> = StackedFusion<STACK, F0, Fuser::To<E2, D2>>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            Self::module("fuser", |s| &s.fuser, |s| &mut s.fuser),
            |fuser| StackedFusion { fuser },
        )
    }
}
