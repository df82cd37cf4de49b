//! RRCA-Net (Fig. 3 of Liu et al., IEEE JSTARS 2025) and its ablations and baselines.
//!
//! A stem lifts the input to `F0` channels; then `P = N + 1` passes each run the U-Net body
//! (nested [`Level`]s whose reusable convolutions every pass shares, each decoded by one DIAAM
//! per pass), pass t + 1 starting from pass t's decoder output; the head turns the passes'
//! outputs into logits. Every configuration is a type ([`configs`]) built from the blocks in
//! [`crate::nn`]; [`build`] and [`load`] turn a [`ModelName`] into a [`Detector`], the one
//! interface the workflow uses; [`cost`] counts what a configuration costs.

mod checkpoint;
#[macro_use]
pub mod configs;
pub mod cost;
mod detector;
pub mod pytorch;
mod unet;

pub use checkpoint::{
    load_checkpoint, named_tensors, read_record, save_checkpoint, write_checkpoint,
    CheckpointError, ModelRecord, NamedTensor,
};
pub use configs::ModelName;
pub use cost::Tally;
pub use detector::{
    build, build_for_input, checkpoint_file, default_device, load, Detector, DetectorError,
    DeviceKind, Images, Loaded, ModelCost, NonFinite, StepTimes,
};
pub use unet::{
    Decode, DeepestLevel, FusionDecoder, Gather, Level, Pyramid, ReusableConcatenation,
    StackedFusion, StemLevel, UNet,
};

use crate::nn::{tensor_collection, Backend, Block, Head, Mode, ResidualPair, Result};
use crate::ops::{Float, Image};
use dfdx::nn::BuildModule;
use dfdx::prelude::{Dtype, NoneTape, OwnedTape, Storage};
use dfdx::tensor::WithEmptyTape;

/// The logit maps a model returns: one per supervised pass, the prediction last.
pub type LogitMaps<E, D, T> = Vec<Image<1, E, D, T>>;

/// RRCA-Net with `IN` input channels, `F0` channels at full resolution and `P` passes.
#[derive(Clone, Debug)]
pub struct RrcaNet<
    const IN: usize,
    const F0: usize,
    const P: usize,
    Body,
    H,
    E: Dtype,
    D: Storage<E>,
> {
    /// Residual pair `IN` -> `F0` (projection shortcut), applied once before pass 0.
    pub stem: ResidualPair<IN, F0, E, D>,
    /// The U-Net body: nested [`Level`]s down to a [`DeepestLevel`].
    pub unet: Body,
    /// Feature stacking, last pass only, or deep supervision.
    pub head: H,
}

impl<const IN: usize, const F0: usize, const P: usize, Body, H, E, D>
    RrcaNet<IN, F0, P, Body, H, E, D>
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
    ) -> Result<LogitMaps<E, D, T>>
    where
        Body: UNet<F0, E, D, T, Output = Image<F0, E, D, T>>,
    {
        let mut x = self.stem.forward(image)?;
        let mut passes = Vec::with_capacity(P);
        for pass in 0..P {
            let decoded = self.unet.forward(pass, x)?;
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
    ) -> Result<LogitMaps<E, D, OwnedTape<E, D>>>;

    /// Eval mode: running-statistics BatchNorm, nothing modified. The logit maps, the
    /// prediction last.
    fn forward_eval(&self, image: Image<IN, E, D>) -> Result<LogitMaps<E, D, NoneTape>>;

    /// Sets the final conv's bias to logit(`prior`), so that every pixel starts at target
    /// probability `prior` (e.g. 0.01 gives -4.6).
    fn set_output_prior(&mut self, prior: f64);

    /// Executed multiply-accumulates and torchstat FLOPs for one `height` x `width` image
    /// (see [`cost`]).
    fn complexity(&self, height: usize, width: usize) -> Tally;
}

impl<const IN: usize, const F0: usize, const P: usize, Body, H, E, D> Segmenter<IN, E, D>
    for RrcaNet<IN, F0, P, Body, H, E, D>
where
    E: Float,
    D: Backend<E>,
    Self: BuildModule<D, E> + Clone,
    H: Head<F0, E, D> + cost::Cost,
    Body: UNet<F0, E, D, OwnedTape<E, D>, Output = Image<F0, E, D, OwnedTape<E, D>>>
        + UNet<F0, E, D, NoneTape, Output = Image<F0, E, D, NoneTape>>
        + cost::Cost,
{
    const SIZE_MULTIPLE: usize = 1 << (<Body as UNet<F0, E, D, NoneTape>>::DEPTH - 1);

    fn forward_train(
        &mut self,
        image: Image<IN, E, D, OwnedTape<E, D>>,
    ) -> Result<LogitMaps<E, D, OwnedTape<E, D>>> {
        self.forward(image)
    }

    /// Runs on a clone of the model: the blocks' forward takes `&mut` for train mode, which
    /// moves BatchNorm's running statistics; eval mode only reads them. dfdx tensors share
    /// their storage between clones, so the clone copies no weights, and `&self` lets several
    /// threads serve one loaded model.
    fn forward_eval(&self, image: Image<IN, E, D>) -> Result<LogitMaps<E, D, NoneTape>> {
        self.clone().forward(image)
    }

    fn set_output_prior(&mut self, prior: f64) {
        let logit = (prior / (1.0 - prior)).ln();
        let bias = E::of(logit);
        self.head.output_conv().bias.copy_from(&[bias]);
    }

    fn complexity(&self, height: usize, width: usize) -> Tally {
        cost::tally(self, height, width)
    }
}

tensor_collection!(RrcaNet<const IN: usize, const F0: usize, const P: usize; Body, H> {
    stem,
    unet,
    head,
});

#[cfg(test)]
mod tests {
    use super::configs::{R18, R18W4};
    use super::*;
    use crate::data::InputChannels;
    use crate::nn::{Attention, ChannelAttention};
    use dfdx::prelude::*;

    type Model = R18<3, f32, Cpu>;

    fn image(device: &Cpu, batch: usize, size: usize) -> Image<3, f32, Cpu> {
        device.sample_normal_like(&(batch, Const::<3>, size, size))
    }

    #[test]
    fn every_configuration_runs_in_train_and_eval_mode() {
        let device = Cpu::seed_from_u64(0);
        for &name in ModelName::ALL {
            with_model!(name, M => {
                let mut model = M::<3, f32, Cpu>::build(&device);
                let multiple = match name {
                    ModelName::D3 => 4,
                    ModelName::D5 | ModelName::D5W4 | ModelName::D5W16 => 16,
                    ModelName::ResUnet | ModelName::ResUnetRucb => 16,
                    _ => 8,
                };
                assert_eq!(M::<3, f32, Cpu>::SIZE_MULTIPLE, multiple, "{name}");
                let x = image(&device, 2, 16);
                let train = model.forward_train(x.leaky_trace()).unwrap();
                let eval = model.forward_eval(x).unwrap();
                let maps = if name == ModelName::R18Ds { 3 } else { 1 };
                assert_eq!((train.len(), eval.len()), (maps, maps), "{name}");
                assert_eq!(*eval[0].shape(), (2, Const::<1>, 16, 16), "{name}");
                assert!(eval.iter().all(|map| map.as_vec().iter().all(|v| v.is_finite())));
            });
        }
    }

    #[test]
    fn build_is_deterministic_for_a_seed_and_follows_the_reference_init() {
        let a = Model::build(&Cpu::seed_from_u64(7));
        let b = Model::build(&Cpu::seed_from_u64(7));
        let c = Model::build(&Cpu::seed_from_u64(8));
        let weight = |m: &Model| m.unet.rucb.pairs.first.conv1.weight.as_vec();
        assert_eq!(weight(&a), weight(&b));
        assert_ne!(weight(&a), weight(&c));
        // Level 3's shared conv 64 -> 64: Xavier std sqrt(2 / (2 * 64 * 9)) = 0.0417.
        let deep = a.unet.deeper.deeper.deeper.rucb.pairs.following[0]
            .conv2
            .weight
            .as_vec();
        let std = (deep.iter().map(|w| w * w).sum::<f32>() / deep.len() as f32).sqrt();
        assert!((std - 0.0417).abs() < 0.002, "std {std}");
        let bias = a.stem.convs.conv1.bias.as_vec();
        let bound = 1.0 / (27.0f32).sqrt();
        assert!(bias.iter().all(|b| b.abs() <= bound));
        let norm = &a.stem.norms.bn1;
        assert_eq!(norm.scale.as_vec(), vec![1.0; 8]);
        assert_eq!(norm.bias.as_vec(), vec![0.0; 8]);
        assert_eq!((norm.momentum, norm.epsilon), (0.1, 1e-5));
    }

    #[test]
    fn output_prior_sets_the_last_bias() {
        let mut model = Model::build(&Cpu::seed_from_u64(0));
        model.set_output_prior(0.01);
        let bias = model.head.output.bias.as_vec()[0];
        assert!((bias - (-4.59512)).abs() < 1e-4, "{bias}");
    }

    #[test]
    fn attention_without_hidden_units_weighs_every_channel_half() {
        let device = Cpu::seed_from_u64(0);
        let attention = ChannelAttention::<4, f32, Cpu>::build(&device);
        let x: Image<4, f32, Cpu> = device.sample_normal_like(&(2, Const::<4>, 4, 4));
        let weights = attention.channel_weights(&x).unwrap().as_vec();
        assert_eq!(weights.len(), 2 * 4);
        assert!(
            weights.iter().all(|w| (w - 0.5).abs() < 1e-6),
            "{weights:?}"
        );
        let model = R18W4::<3, f32, Cpu>::build(&device);
        assert!(model.forward_eval(image(&device, 1, 8)).is_ok());
    }

    #[test]
    fn checkpoints_round_trip_and_reject_other_variants_and_damage() {
        let device = Cpu::seed_from_u64(0);
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("r18.safetensors");
        let record = ModelRecord::new::<f32>(ModelName::R18, InputChannels::ImageNetRgb);
        let mut trained = Model::build(&device);
        // Move the running statistics away from their defaults, then save.
        trained
            .forward_train(image(&device, 2, 16).leaky_traced())
            .unwrap();
        save_checkpoint(&trained, &record, &path).unwrap();
        assert_eq!(read_record(&path).unwrap(), record);

        let mut loaded = Model::build(&Cpu::seed_from_u64(1));
        load_checkpoint(&mut loaded, &record, &path).unwrap();
        let x = image(&device, 1, 16);
        assert_eq!(
            trained.forward_eval(x.clone()).unwrap()[0].as_vec(),
            loaded.forward_eval(x).unwrap()[0].as_vec()
        );

        // A record written before the input was recorded is the authors' RGB input.
        let older = r#"{"model":"r18","in_channels":3,"dtype":"f32"}"#;
        assert_eq!(serde_json::from_str::<ModelRecord>(older).unwrap(), record);
        let grey = ModelRecord::new::<f32>(ModelName::R18, InputChannels::RAW_GRAY);
        let error = load_checkpoint(&mut Model::build(&device), &grey, &path)
            .unwrap_err()
            .to_string();
        assert!(error.contains("1 grey channel"), "{error}");

        let r10 = ModelRecord::new::<f32>(ModelName::R10, InputChannels::ImageNetRgb);
        let mut other = configs::R10::<3, f32, Cpu>::build(&device);
        let error = load_checkpoint(&mut other, &r10, &path)
            .unwrap_err()
            .to_string();
        assert!(error.contains("r18") && error.contains("r10"), "{error}");

        let bytes = std::fs::read(&path).unwrap();
        let truncated = directory.path().join("truncated.safetensors");
        for length in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&truncated, &bytes[..length]).unwrap();
            let error = load_checkpoint(&mut loaded, &record, &truncated).unwrap_err();
            assert!(
                matches!(error, CheckpointError::Corrupt { .. }),
                "{length}: {error}"
            );
            assert!(error.to_string().contains("truncated.safetensors"));
        }
        let missing = directory.path().join("missing.safetensors");
        let error = load_checkpoint(&mut loaded, &record, &missing).unwrap_err();
        assert!(matches!(error, CheckpointError::Io { .. }));
        let leftovers = std::fs::read_dir(directory.path()).unwrap().count();
        assert_eq!(leftovers, 2, "no temporary file left behind");
    }
}
