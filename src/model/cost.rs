//! What a configuration costs for one image, counted by walking its structure: the
//! multiply-accumulates actually executed and the paper's "FLOPs", the convention of the
//! torchstat tool the authors used. (The learnable parameters are counted by
//! [`crate::nn::tensors::trainable_parameters`].)
//!
//! torchstat hooks every leaf module and keeps the values of the module's LAST call, so a
//! module applied several times counts once ([`Counter`] keys every call by the module it
//! belongs to: the address of the block that is the module or owns it, so that the blocks
//! themselves know nothing of torchstat). Per module it counts (input 1 x C_in x H x W):
//! - Conv2d: K^2 * C_in * C_out * H * W, plus C_out * H * W for the bias;
//! - BatchNorm2d: 2 * C * H * W; ReLU: C * H * W; MaxPool2d: elements of its input;
//! - Upsample: H * W of its output (torchstat reads `out[0].shape[1:]`: channels are dropped);
//! - everything else (sigmoid, global pooling, products, sums, concatenation): 0.
//!
//! Applied to the authors' module layout, which has modules our blocks do not:
//! - the RuCB's convolutions are modules shared by every pass (counted once), its BatchNorms,
//!   shortcuts and ReLU modules (one per convolution) belong to one pass each;
//! - a standard residual pair (stem, heads, fusions) holds one ReLU module, called twice; so
//!   do the encoder levels of the authors' ResUNet (`Res_block`s, one pass: [`Cost::RELU_MODULES`]
//!   of its body is 1), where ResUNet_RuCB's decoders are RuCB blocks like its encoder;
//! - channel attention's MLP runs on both pooled vectors (1 x 1 inputs), one module each;
//! - one max-pool module and one upsampling module serve the whole network: the deepest
//!   pooling's input and the final full-resolution upsampling's output count, once.
//!
//! Executed MACs count every conv and attention weight multiply per image, every pass
//! (shared convolutions P times, channel attention's MLP twice), biases excluded; the head
//! once, also with deep supervision, which runs its shared head on every pass (the recorded
//! counts of notes/model.md are made so).

use super::{
    DeepestLevel, FusionDecoder, Gather, Level, ReusableConcatenation, RrcaNet, StackedFusion,
    StemLevel,
};
use crate::nn::{
    ChannelAttention, ConcatenateFusion, Conv, ConvPair, Diaam, FeatureStacking, HiddenUnits,
    NoAttention, OutputConv, PairNorms, PassHead, ResidualPair, ReusableConvLevel,
};
use dfdx::prelude::{ConstDim, Dtype, Storage};
use std::collections::HashMap;

/// The cost of one image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// torchstat-style FLOPs: every module counted once.
    pub paper_flops: u64,
    /// Multiply-accumulates of convolution and attention weights actually executed (biases
    /// excluded), every pass counted.
    pub macs: u64,
}

/// The cost of `model` for one `height` x `width` image: the stem, every pass through the
/// U-Net, the head.
pub fn tally<const IN: usize, const F0: usize, const P: usize, Body, H, E, D>(
    model: &RrcaNet<IN, F0, P, Body, H, E, D>,
    height: usize,
    width: usize,
) -> Tally
where
    E: Dtype,
    D: Storage<E>,
    Body: Cost,
    H: Cost,
{
    let size = (height, width);
    let mut counter = Counter {
        rucb_relu_modules: Body::RELU_MODULES,
        ..Counter::default()
    };
    model.stem.count(0, size, &mut counter);
    for pass in 0..P {
        model.unet.count(pass, size, &mut counter);
    }
    model.head.count(P - 1, size, &mut counter);
    counter.tally()
}

/// A module of the authors' layout, by the address of the block that is it or owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Module {
    Conv(usize),
    BatchNorm(usize),
    /// ReLU module `which` of the block at `owner`.
    Relu {
        owner: usize,
        which: usize,
    },
    MaxPool,
    Upsample,
}

/// The address of `block`, which identifies it for as long as the model is borrowed.
fn address<M>(block: &M) -> usize {
    std::ptr::from_ref(block) as usize
}

/// The executed MACs and each module's torchstat count of its last call so far.
#[derive(Debug, Default)]
pub struct Counter {
    macs: u64,
    last_call: HashMap<Module, u64>,
    /// ReLU modules per residual pair of a RuCB level in the authors' layout (see
    /// [`Cost::RELU_MODULES`]).
    rucb_relu_modules: usize,
}

impl Counter {
    /// A K x K convolution (`bias` or not) from `input` to `output` channels at `height` x
    /// `width`, the module standing at `address`.
    fn conv(
        &mut self,
        address: usize,
        (input, output, kernel): (usize, usize, usize),
        (height, width): (usize, usize),
        bias: bool,
    ) {
        let pixels = (height * width) as u64;
        let macs = (kernel * kernel * input * output) as u64 * pixels;
        self.macs += macs;
        let bias_flops = if bias { output as u64 * pixels } else { 0 };
        self.last_call
            .insert(Module::Conv(address), macs + bias_flops);
    }

    /// A BatchNorm2d over `channels` x `height` x `width`.
    fn batch_norm(&mut self, address: usize, channels: usize, (height, width): (usize, usize)) {
        self.last_call.insert(
            Module::BatchNorm(address),
            2 * (channels * height * width) as u64,
        );
    }

    /// ReLU module `which` of the block at `owner`, over `channels` x `height` x `width`.
    fn relu(
        &mut self,
        (owner, which): (usize, usize),
        channels: usize,
        (height, width): (usize, usize),
    ) {
        self.last_call.insert(
            Module::Relu { owner, which },
            (channels * height * width) as u64,
        );
    }

    /// The network's max-pool module on `channels` x `height` x `width`.
    fn max_pool(&mut self, channels: usize, (height, width): (usize, usize)) {
        self.last_call
            .insert(Module::MaxPool, (channels * height * width) as u64);
    }

    /// The network's upsampling module, to `height` x `width`.
    fn upsample(&mut self, (height, width): (usize, usize)) {
        self.last_call
            .insert(Module::Upsample, (height * width) as u64);
    }

    /// The totals.
    fn tally(self) -> Tally {
        Tally {
            paper_flops: self.last_call.values().sum(),
            macs: self.macs,
        }
    }
}

/// A block whose calls are counted.
pub trait Cost {
    /// For a network's body: how many ReLU modules the authors' code gives each residual pair
    /// of a RuCB level. 2 (one per convolution) in RRCANet's and ResUNet_RuCB's `Block`; 1 in
    /// the authors' ResUNet, whose one-pass encoder levels are `Res_block`s (one ReLU module,
    /// called twice), which its body's top level, a [`StemLevel`], states.
    const RELU_MODULES: usize = 2;

    /// Counts one call of the block in pass `pass` on a `(height, width)` input.
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter);
}

impl<const I: usize, const O: usize, const K: usize, E: Dtype, D: Storage<E>> Cost
    for Conv<I, O, K, E, D>
{
    fn count(&self, _pass: usize, size: (usize, usize), counter: &mut Counter) {
        counter.conv(address(self), (I, O, K), size, true);
    }
}

/// One use of a residual pair's convolutions `convs` with `norms`, whose owner holds
/// `relu_modules` ReLU modules: 1 (called after both BatchNorms) or 2 (one after each).
fn count_pair<const I: usize, const O: usize, E: Dtype, D: Storage<E>>(
    convs: &ConvPair<I, O, E, D>,
    norms: &PairNorms<I, O, E, D>,
    relu_modules: usize,
    size: (usize, usize),
    counter: &mut Counter,
) {
    let owner = address(norms);
    convs.conv1.count(0, size, counter);
    counter.batch_norm(address(&norms.bn1), O, size);
    counter.relu((owner, 0), O, size);
    convs.conv2.count(0, size, counter);
    counter.batch_norm(address(&norms.bn2), O, size);
    if let Some(projection) = &norms.shortcut.projection {
        projection.conv.count(0, size, counter);
        counter.batch_norm(address(&projection.norm), O, size);
    }
    counter.relu((owner, relu_modules - 1), O, size);
}

impl<const I: usize, const O: usize, E: Dtype, D: Storage<E>> Cost for ResidualPair<I, O, E, D> {
    fn count(&self, _pass: usize, size: (usize, usize), counter: &mut Counter) {
        count_pair(&self.convs, &self.norms, 1, size, counter);
    }
}

impl<const IN: usize, const F: usize, const PAIRS: usize, const P: usize, E, D> Cost
    for ReusableConvLevel<IN, F, PAIRS, P, E, D>
where
    E: Dtype,
    D: Storage<E>,
{
    /// The shared convolutions with pass `pass`' BatchNorms, shortcut and ReLU modules (one
    /// per convolution, or one per pair in the authors' ResUNet).
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter) {
        let norms = &self.passes.modules[pass];
        let relu_modules = counter.rucb_relu_modules;
        count_pair(&self.pairs.first, &norms.first, relu_modules, size, counter);
        for (convs, norms) in self.pairs.following.iter().zip(&norms.following) {
            count_pair(convs, norms, relu_modules, size, counter);
        }
    }
}

impl<const C: usize, E: Dtype, D: Storage<E>> Cost for ChannelAttention<C, E, D> {
    /// The MLP on both pooled vectors (1 x 1); pools and sigmoid count 0.
    fn count(&self, _pass: usize, _size: (usize, usize), counter: &mut Counter) {
        let hidden = HiddenUnits::<C>::SIZE;
        for _pooled in ["average", "maximum"] {
            counter.conv(address(&self.squeeze), (C, hidden, 1), (1, 1), false);
            counter.conv(address(&self.excite), (hidden, C, 1), (1, 1), false);
        }
        counter.relu((address(self), 0), hidden, (1, 1));
    }
}

impl Cost for NoAttention {
    fn count(&self, _pass: usize, _size: (usize, usize), _counter: &mut Counter) {}
}

impl<const LO: usize, const HI: usize, A: Cost, E: Dtype, D: Storage<E>> Cost
    for Diaam<LO, HI, A, E, D>
{
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter) {
        self.project_high.count(pass, size, counter);
        self.attention.count(pass, size, counter);
        self.gate.count(pass, size, counter);
    }
}

impl<const LO: usize, const HI: usize, const CAT: usize, E: Dtype, D: Storage<E>> Cost
    for ConcatenateFusion<LO, HI, CAT, E, D>
{
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter) {
        self.fuse.count(pass, size, counter);
    }
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
    > Cost for Level<IN, F, PAIRS, P, Deeper, Decoder, E, D>
where
    E: Dtype,
    D: Storage<E>,
    Deeper: Cost,
    Decoder: Cost,
{
    /// In the order the forward pass calls them: RuCB, max-pool, the levels below (at half
    /// size), the decoder.
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter) {
        self.rucb.count(pass, size, counter);
        count_descent::<F>(&self.deeper, &self.decoder, pass, size, counter);
    }
}

/// Counts what a level of `F` channels does below its encoder: the max-pool, the levels
/// `deeper` (at half size), the `decoder`.
fn count_descent<const F: usize>(
    deeper: &impl Cost,
    decoder: &impl Cost,
    pass: usize,
    (height, width): (usize, usize),
    counter: &mut Counter,
) {
    counter.max_pool(F, (height, width));
    deeper.count(pass, (height / 2, width / 2), counter);
    decoder.count(pass, (height, width), counter);
}

impl<const IN: usize, const F: usize, const PAIRS: usize, const P: usize, E, D> Cost
    for DeepestLevel<IN, F, PAIRS, P, E, D>
where
    E: Dtype,
    D: Storage<E>,
{
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter) {
        self.rucb.count(pass, size, counter);
    }
}

impl<const F: usize, Deeper: Cost, Decoder: Cost> Cost for StemLevel<F, Deeper, Decoder> {
    const RELU_MODULES: usize = 1;

    /// Max-pool, the levels below (at half size), the decoder.
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter) {
        count_descent::<F>(&self.deeper, &self.decoder, pass, size, counter);
    }
}

impl<const LO: usize, const HI: usize, const CAT: usize, const P: usize, E, D> Cost
    for ReusableConcatenation<LO, HI, CAT, P, E, D>
where
    E: Dtype,
    D: Storage<E>,
{
    /// The upsampling, then the shared pair with pass `pass`' BatchNorms and shortcut.
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter) {
        counter.upsample(size);
        self.rucb.count(pass, size, counter);
    }
}

impl<const P: usize, Fusion: Cost> Cost for FusionDecoder<P, Fusion> {
    /// The upsampling, then pass `pass`' fusion.
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter) {
        counter.upsample(size);
        self.passes.modules[pass].count(pass, size, counter);
    }
}

impl Cost for Gather {
    fn count(&self, _pass: usize, _size: (usize, usize), _counter: &mut Counter) {}
}

impl<const STACK: usize, Fuser: Cost> Cost for StackedFusion<STACK, Fuser> {
    /// Every level resized to full resolution (torchstat keeps the last, at `size`), then
    /// the fuser, one module for every pass.
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter) {
        counter.upsample(size);
        self.fuser.count(pass, size, counter);
    }
}

impl<const F0: usize, const STACK: usize, const P: usize, E: Dtype, D: Storage<E>> Cost
    for FeatureStacking<F0, STACK, P, E, D>
{
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter) {
        self.fuse.count(pass, size, counter);
        self.output.count(pass, size, counter);
    }
}

impl<const F0: usize, const EVERY_PASS: bool, E: Dtype, D: Storage<E>> Cost
    for PassHead<F0, EVERY_PASS, E, D>
{
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter) {
        self.refine.count(pass, size, counter);
        self.output.count(pass, size, counter);
    }
}

impl<const F0: usize, E: Dtype, D: Storage<E>> Cost for OutputConv<F0, E, D> {
    fn count(&self, pass: usize, size: (usize, usize), counter: &mut Counter) {
        self.output.count(pass, size, counter);
    }
}
