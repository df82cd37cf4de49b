//! RRCA-Net (Fig. 3 of Liu et al., IEEE JSTARS 2025) and its ablations and baselines.
//!
//! A stem lifts the input to `F0` channels; then `P = N + 1` passes each run the encoder
//! (reusable-convolution levels whose convolutions every pass shares) and the decoder (one
//! DIAAM per level and pass), pass t + 1 starting from pass t's decoder output; the head turns
//! the passes' outputs into logits. Every configuration is a type ([`configs`]) built from the
//! blocks in [`crate::nn`]; [`ModelName`] and [`with_model!`] select one at run time.

mod checkpoint;
pub mod configs;
mod unet;

pub use checkpoint::{
    load_checkpoint, read_record, save_checkpoint, CheckpointError, ModelRecord,
};
pub use configs::ModelName;
pub use unet::{
    Below, DecoderLevel, Deepest, EncoderLevel, EncoderStructure, NestComplexity, PassModule,
    Pyramid, StackedFusion,
};

use crate::nn::{Backend, Block, Complexity, Head, Mode, ResidualPair, Result, Tally};
use crate::ops::{Float, Image};
use dfdx::nn::BuildModule;
use dfdx::prelude::{Device, Dtype, ModuleVisitor, NoneTape, OwnedTape, Storage, TensorCollection};
use dfdx::tensor::WithEmptyTape;

/// RRCA-Net with `IN` input channels, `F0` channels at full resolution and `P` passes.
#[derive(Clone, Debug)]
pub struct RrcaNet<
    const IN: usize,
    const F0: usize,
    const P: usize,
    Encoder,
    Decoder,
    H,
    E: Dtype,
    D: Storage<E>,
> {
    /// Residual pair `IN` -> `F0` (projection shortcut), applied once before pass 0.
    pub stem: ResidualPair<IN, F0, E, D>,
    /// The encoder: nested [`EncoderLevel`]s.
    pub encoder: Encoder,
    /// The decoder: nested [`DecoderLevel`]s of DIAAMs, or a [`StackedFusion`].
    pub decoder: Decoder,
    /// Feature stacking, last pass only, or deep supervision.
    pub head: H,
}

impl<const IN: usize, const F0: usize, const P: usize, Encoder, Decoder, H, E, D>
    RrcaNet<IN, F0, P, Encoder, Decoder, H, E, D>
where
    E: Float,
    D: Backend<E>,
    H: Head<F0, E, D>,
{
    /// Runs the network: the logit maps for the loss, the prediction last (one map, or one
    /// per pass with deep supervision). Train mode with an `OwnedTape` input, eval mode
    /// without (see [`Mode`]).
    pub fn forward<T: Mode<E, D>>(
        &mut self,
        image: Image<IN, E, D, T>,
    ) -> Result<Vec<Image<1, E, D, T>>>
    where
        Encoder: PassModule<Image<F0, E, D, T>>,
        Decoder: PassModule<Encoder::Output, Output = Image<F0, E, D, T>>,
    {
        let mut x = self.stem.forward(image)?;
        let mut passes = Vec::with_capacity(P);
        for pass in 0..P {
            let features = self.encoder.forward(pass, x)?;
            let decoded = self.decoder.forward(pass, features)?;
            passes.push(decoded.with_empty_tape());
            x = decoded;
        }
        // The last pass' output carries the whole tape into the head.
        if let Some(last) = passes.last_mut() {
            *last = x;
        }
        self.head.forward(passes)
    }
}

/// A segmentation network of this crate: build it, run it in train or eval mode, count its
/// cost. Implemented by every configuration in [`configs`].
pub trait Segmenter<const IN: usize, E: Float, D: Backend<E>>: BuildModule<D, E> + Clone {
    /// Input height and width must be multiples of this (2^(depth - 1)).
    const SIZE_MULTIPLE: usize;

    /// Train mode: batch-statistics BatchNorm (running statistics updated), gradients on the
    /// tape. The logit maps for the loss, the prediction last.
    fn forward_train(
        &mut self,
        image: Image<IN, E, D, OwnedTape<E, D>>,
    ) -> Result<Vec<Image<1, E, D, OwnedTape<E, D>>>>;

    /// Eval mode: running-statistics BatchNorm, nothing modified. The logit maps, the
    /// prediction last.
    fn forward_eval(&mut self, image: Image<IN, E, D>) -> Result<Vec<Image<1, E, D>>>;

    /// Sets the final conv's bias to logit(`prior`), so that every pixel starts at target
    /// probability `prior` (e.g. 0.01 gives -4.6).
    fn set_output_prior(&mut self, prior: f64);

    /// Executed multiply-accumulates and torchstat FLOPs for one `height` x `width` image.
    fn complexity(&self, height: usize, width: usize) -> Tally;
}

impl<const IN: usize, const F0: usize, const P: usize, Encoder, Decoder, H, E, D>
    Segmenter<IN, E, D> for RrcaNet<IN, F0, P, Encoder, Decoder, H, E, D>
where
    E: Float,
    D: Backend<E>,
    Self: BuildModule<D, E> + Clone,
    H: Head<F0, E, D>,
    Encoder: PassModule<Image<F0, E, D, OwnedTape<E, D>>>
        + PassModule<Image<F0, E, D, NoneTape>>
        + NestComplexity
        + EncoderStructure,
    Decoder: PassModule<
            <Encoder as PassModule<Image<F0, E, D, OwnedTape<E, D>>>>::Output,
            Output = Image<F0, E, D, OwnedTape<E, D>>,
        > + PassModule<
            <Encoder as PassModule<Image<F0, E, D, NoneTape>>>::Output,
            Output = Image<F0, E, D, NoneTape>,
        > + NestComplexity,
{
    const SIZE_MULTIPLE: usize = 1 << (Encoder::DEPTH - 1);

    fn forward_train(
        &mut self,
        image: Image<IN, E, D, OwnedTape<E, D>>,
    ) -> Result<Vec<Image<1, E, D, OwnedTape<E, D>>>> {
        self.forward(image)
    }

    fn forward_eval(&mut self, image: Image<IN, E, D>) -> Result<Vec<Image<1, E, D>>> {
        self.forward(image)
    }

    fn set_output_prior(&mut self, prior: f64) {
        let logit = (prior / (1.0 - prior)).ln();
        let bias = E::from(logit).expect("a finite prior logit");
        self.head.output_conv().bias.copy_from(&[bias]);
    }

    /// The torchstat conventions (see [`crate::nn::Tally`]) on the authors' module layout:
    /// one max-pool module and one upsampling module serve the whole network, so each counts
    /// once, with its last call: the deepest pooling's input and the final full-resolution
    /// upsampling's output (H x W).
    fn complexity(&self, height: usize, width: usize) -> Tally {
        let mut tally = Tally::default();
        self.stem.tally(0, height, width, &mut tally);
        for pass in 0..P {
            self.encoder.tally_nest(pass, height, width, &mut tally);
            self.decoder.tally_nest(pass, height, width, &mut tally);
        }
        self.head.tally(0, height, width, &mut tally);
        let deepest_pooled = Encoder::DEPTH - 2;
        tally.paper_only(
            Encoder::DEEPEST_POOL_CHANNELS * (height >> deepest_pooled) * (width >> deepest_pooled),
        );
        tally.paper_only(height * width);
        tally
    }
}

impl<const IN: usize, const F0: usize, const P: usize, Encoder, Decoder, H, E, D>
    TensorCollection<E, D> for RrcaNet<IN, F0, P, Encoder, Decoder, H, E, D>
where
    E: Float,
    D: Backend<E>,
    Encoder: TensorCollection<E, D>,
    Decoder: TensorCollection<E, D>,
    H: TensorCollection<E, D>,
{
    type To<E2: Dtype, D2: Device<E2>> =
        RrcaNet<IN, F0, P, Encoder::To<E2, D2>, Decoder::To<E2, D2>, H::To<E2, D2>, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("stem", |s| &s.stem, |s| &mut s.stem),
                Self::module("encoder", |s| &s.encoder, |s| &mut s.encoder),
                Self::module("decoder", |s| &s.decoder, |s| &mut s.decoder),
                Self::module("head", |s| &s.head, |s| &mut s.head),
            ),
            |(stem, encoder, decoder, head)| RrcaNet {
                stem,
                encoder,
                decoder,
                head,
            },
        )
    }
}
