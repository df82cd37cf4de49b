//! The named configurations: one type alias per paper configuration, ablation and baseline,
//! and the run-time registry [`ModelName`] with [`with_model!`](crate::with_model) to run
//! generic code on the selected type.
//!
//! Widths, depth (the nesting of [`EncoderLevel`]s), residual pairs per level (given as
//! `REST` = pairs - 1, the first pair changing the width), passes `P` = N + 1, fusion and head
//! are all type parameters. The channel attention of a DIAAM at width C has C / 8 hidden
//! units (integer division, as the authors' code): 0 at width 4 (see [`ChannelAttention`]).

use super::{DecoderLevel, Deepest, EncoderLevel, RrcaNet, StackedFusion};
use crate::nn::{
    ChannelAttention, ConcatenateFusion, Conv1x1, Diaam, FeatureStacking, NoAttention, PassHead,
    ResidualPair,
};

// The aliases below are configuration tables; rustfmt would spread each over dozens of lines.

/// A depth-3 encoder (widths F0..F2, `Rl` = residual pairs - 1 at level l, `P` passes).
#[rustfmt::skip]
pub type Encoder3<const F0: usize, const F1: usize, const F2: usize,
                  const R0: usize, const R1: usize, const R2: usize, const P: usize, E, D> =
    EncoderLevel<F0, F0, R0, P,
        EncoderLevel<F0, F1, R1, P,
            EncoderLevel<F1, F2, R2, P, Deepest, E, D>, E, D>, E, D>;

/// A depth-4 encoder.
#[rustfmt::skip]
pub type Encoder4<const F0: usize, const F1: usize, const F2: usize, const F3: usize,
                  const R0: usize, const R1: usize, const R2: usize, const R3: usize,
                  const P: usize, E, D> =
    EncoderLevel<F0, F0, R0, P,
        EncoderLevel<F0, F1, R1, P,
            EncoderLevel<F1, F2, R2, P,
                EncoderLevel<F2, F3, R3, P, Deepest, E, D>, E, D>, E, D>, E, D>;

/// A depth-5 encoder.
#[rustfmt::skip]
pub type Encoder5<const F0: usize, const F1: usize, const F2: usize, const F3: usize,
                  const F4: usize, const R0: usize, const R1: usize, const R2: usize,
                  const R3: usize, const R4: usize, const P: usize, E, D> =
    EncoderLevel<F0, F0, R0, P,
        EncoderLevel<F0, F1, R1, P,
            EncoderLevel<F1, F2, R2, P,
                EncoderLevel<F2, F3, R3, P,
                    EncoderLevel<F3, F4, R4, P, Deepest, E, D>, E, D>, E, D>, E, D>, E, D>;

/// A depth-3 DIAAM decoder with attention `Al` at level l.
#[rustfmt::skip]
pub type Diaams3<const F0: usize, const F1: usize, const F2: usize, const P: usize,
                 A0, A1, E, D> =
    DecoderLevel<F0, F1, P, Diaam<F0, F1, A0, E, D>,
        DecoderLevel<F1, F2, P, Diaam<F1, F2, A1, E, D>, Deepest>>;

/// A depth-4 DIAAM decoder.
#[rustfmt::skip]
pub type Diaams4<const F0: usize, const F1: usize, const F2: usize, const F3: usize,
                 const P: usize, A0, A1, A2, E, D> =
    DecoderLevel<F0, F1, P, Diaam<F0, F1, A0, E, D>,
        DecoderLevel<F1, F2, P, Diaam<F1, F2, A1, E, D>,
            DecoderLevel<F2, F3, P, Diaam<F2, F3, A2, E, D>, Deepest>>>;

/// A depth-5 DIAAM decoder.
#[rustfmt::skip]
pub type Diaams5<const F0: usize, const F1: usize, const F2: usize, const F3: usize,
                 const F4: usize, const P: usize, A0, A1, A2, A3, E, D> =
    DecoderLevel<F0, F1, P, Diaam<F0, F1, A0, E, D>,
        DecoderLevel<F1, F2, P, Diaam<F1, F2, A1, E, D>,
            DecoderLevel<F2, F3, P, Diaam<F2, F3, A2, E, D>,
                DecoderLevel<F3, F4, P, Diaam<F3, F4, A3, E, D>, Deepest>>>>;

/// Channel attention with C / 8 hidden units (the authors' reduction), per width.
type Ca<const C: usize, const HIDDEN: usize, E, D> = ChannelAttention<C, HIDDEN, E, D>;

/// The default DIAAM decoder at widths 8..64 with `P` passes.
#[rustfmt::skip]
type Diaams8To64<const P: usize, E, D> =
    Diaams4<8, 16, 32, 64, P, Ca<8, 1, E, D>, Ca<16, 2, E, D>, Ca<32, 4, E, D>, E, D>;

/// RRCA-Net at widths 8..64, depth 4, with `Rl` = pairs - 1, `P` passes, decoder and head.
#[rustfmt::skip]
type Widths8To64<const IN: usize, const R0: usize, const R1: usize, const R2: usize,
                 const R3: usize, const P: usize, Decoder, Head, E, D> =
    RrcaNet<IN, 8, P, Encoder4<8, 16, 32, 64, R0, R1, R2, R3, P, E, D>, Decoder, Head, E, D>;

/// The ResNet-18 backbone (pairs 3, 2, 2, 2) at widths 8..64 with `P` passes.
type Resnet18<const IN: usize, const P: usize, Decoder, Head, E, D> =
    Widths8To64<IN, 2, 1, 1, 1, P, Decoder, Head, E, D>;

/// The feature stacking head at width 8 over 3 passes.
type Fsm8<E, D> = FeatureStacking<8, 24, 3, E, D>;

/// RRCA-Net, ResNet-10 backbone (pairs 2, 1, 1, 1), widths 8..64, N = 2.
pub type R10<const IN: usize, E, D> =
    Widths8To64<IN, 1, 0, 0, 0, 3, Diaams8To64<3, E, D>, Fsm8<E, D>, E, D>;
/// RRCA-Net, ResNet-18 backbone (pairs 3, 2, 2, 2), widths 8..64, N = 2: the paper's default.
pub type R18<const IN: usize, E, D> = Resnet18<IN, 3, Diaams8To64<3, E, D>, Fsm8<E, D>, E, D>;
/// RRCA-Net, ResNet-34 backbone (pairs 4, 4, 6, 3), widths 8..64, N = 2.
pub type R34<const IN: usize, E, D> =
    Widths8To64<IN, 3, 3, 5, 2, 3, Diaams8To64<3, E, D>, Fsm8<E, D>, E, D>;

/// ResNet-18 at widths 4..32 (the first DIAAM's channel attention has 0 hidden units).
#[rustfmt::skip]
pub type R18W4<const IN: usize, E, D> = RrcaNet<IN, 4, 3,
    Encoder4<4, 8, 16, 32, 2, 1, 1, 1, 3, E, D>,
    Diaams4<4, 8, 16, 32, 3, Ca<4, 0, E, D>, Ca<8, 1, E, D>, Ca<16, 2, E, D>, E, D>,
    FeatureStacking<4, 12, 3, E, D>, E, D>;

/// ResNet-18 at widths 16..128.
#[rustfmt::skip]
pub type R18W16<const IN: usize, E, D> = RrcaNet<IN, 16, 3,
    Encoder4<16, 32, 64, 128, 2, 1, 1, 1, 3, E, D>,
    Diaams4<16, 32, 64, 128, 3, Ca<16, 2, E, D>, Ca<32, 4, E, D>, Ca<64, 8, E, D>, E, D>,
    FeatureStacking<16, 48, 3, E, D>, E, D>;

/// Depth 3: widths 8, 16, 32, pairs 3, 3, 3.
#[rustfmt::skip]
pub type D3<const IN: usize, E, D> = RrcaNet<IN, 8, 3,
    Encoder3<8, 16, 32, 2, 2, 2, 3, E, D>,
    Diaams3<8, 16, 32, 3, Ca<8, 1, E, D>, Ca<16, 2, E, D>, E, D>,
    Fsm8<E, D>, E, D>;

/// Depth 5: widths 8..128, pairs 1, 2, 2, 2, 2.
#[rustfmt::skip]
pub type D5<const IN: usize, E, D> = RrcaNet<IN, 8, 3,
    Encoder5<8, 16, 32, 64, 128, 0, 1, 1, 1, 1, 3, E, D>,
    Diaams5<8, 16, 32, 64, 128, 3,
            Ca<8, 1, E, D>, Ca<16, 2, E, D>, Ca<32, 4, E, D>, Ca<64, 8, E, D>, E, D>,
    Fsm8<E, D>, E, D>;

/// Depth 5 at widths 4..64.
#[rustfmt::skip]
pub type D5W4<const IN: usize, E, D> = RrcaNet<IN, 4, 3,
    Encoder5<4, 8, 16, 32, 64, 0, 1, 1, 1, 1, 3, E, D>,
    Diaams5<4, 8, 16, 32, 64, 3,
            Ca<4, 0, E, D>, Ca<8, 1, E, D>, Ca<16, 2, E, D>, Ca<32, 4, E, D>, E, D>,
    FeatureStacking<4, 12, 3, E, D>, E, D>;

/// Depth 5 at widths 16..256.
#[rustfmt::skip]
pub type D5W16<const IN: usize, E, D> = RrcaNet<IN, 16, 3,
    Encoder5<16, 32, 64, 128, 256, 0, 1, 1, 1, 1, 3, E, D>,
    Diaams5<16, 32, 64, 128, 256, 3,
            Ca<16, 2, E, D>, Ca<32, 4, E, D>, Ca<64, 8, E, D>, Ca<128, 16, E, D>, E, D>,
    FeatureStacking<16, 48, 3, E, D>, E, D>;

/// ResNet-18, N = 0 (one pass).
pub type R18N0<const IN: usize, E, D> =
    Resnet18<IN, 1, Diaams8To64<1, E, D>, FeatureStacking<8, 8, 1, E, D>, E, D>;
/// ResNet-18, N = 1.
pub type R18N1<const IN: usize, E, D> =
    Resnet18<IN, 2, Diaams8To64<2, E, D>, FeatureStacking<8, 16, 2, E, D>, E, D>;
/// ResNet-18, N = 3.
pub type R18N3<const IN: usize, E, D> =
    Resnet18<IN, 4, Diaams8To64<4, E, D>, FeatureStacking<8, 32, 4, E, D>, E, D>;
/// ResNet-18 with deep supervision: one shared head on every pass.
pub type R18Ds<const IN: usize, E, D> =
    Resnet18<IN, 3, Diaams8To64<3, E, D>, PassHead<8, true, E, D>, E, D>;
/// ResNet-18 without FSM: the head on the last pass only.
pub type R18NoFsm<const IN: usize, E, D> =
    Resnet18<IN, 3, Diaams8To64<3, E, D>, PassHead<8, false, E, D>, E, D>;

/// DIAAM ablation "concatenate": every encoder level upsampled to full resolution (120
/// channels), concatenated and fused by one residual pair shared by the passes.
pub type R18Concat<const IN: usize, E, D> =
    Resnet18<IN, 3, StackedFusion<120, 8, ResidualPair<120, 8, E, D>>, Fsm8<E, D>, E, D>;
/// DIAAM ablation "element-wise summation": every encoder level upsampled to full
/// resolution, projected to 8 channels by a conv1x1 and summed (= one conv1x1 on the
/// stack), shared by the passes.
pub type R18Sum<const IN: usize, E, D> =
    Resnet18<IN, 3, StackedFusion<120, 8, Conv1x1<120, 8, E, D>>, Fsm8<E, D>, E, D>;
/// DIAAM ablation "without CA".
#[rustfmt::skip]
pub type R18NoCa<const IN: usize, E, D> = Resnet18<IN, 3,
    Diaams4<8, 16, 32, 64, 3, NoAttention, NoAttention, NoAttention, E, D>,
    Fsm8<E, D>, E, D>;

/// The U-Net decoder of the ResUNet baselines at widths 8..64: per level and pass,
/// concatenation and a residual pair.
#[rustfmt::skip]
type UnetDecoder8To64<const P: usize, E, D> =
    DecoderLevel<8, 16, P, ConcatenateFusion<8, 16, 24, E, D>,
        DecoderLevel<16, 32, P, ConcatenateFusion<16, 32, 48, E, D>,
            DecoderLevel<32, 64, P, ConcatenateFusion<32, 64, 96, E, D>, Deepest>>>;

/// Baseline ResUNet (ResNet-18 encoder, U-Net decoder, one pass, no FSM).
pub type ResUnet<const IN: usize, E, D> =
    Resnet18<IN, 1, UnetDecoder8To64<1, E, D>, PassHead<8, false, E, D>, E, D>;
/// Baseline ResUNet with the reusable-convolution block plugged in: three passes through
/// the shared encoder convolutions, prediction from the last pass (no FSM).
pub type ResUnetRucb<const IN: usize, E, D> =
    Resnet18<IN, 3, UnetDecoder8To64<3, E, D>, PassHead<8, false, E, D>, E, D>;

/// Declares [`ModelName`] and [`with_model!`](crate::with_model) from one list of
/// (variant, command-line name, type alias). `$d` is a literal `$` for the inner macro.
macro_rules! registry {
    ($d:tt $($variant:ident $name:literal $alias:ident,)*) => {
        crate::named_enum! {
            /// Every named configuration, for the command line and checkpoints, in the
            /// paper's order.
            pub enum ModelName: "model" {
                $(
                    #[doc = concat!("[`", stringify!($alias), "`].")]
                    $variant => $name,
                )*
            }
        }

        /// Runs `body` with `M` standing for the model type named by `name` (a
        /// [`ModelName`](crate::model::ModelName)), a generic alias `M<const IN: usize, E, D>`
        /// (input channels, element type, device). No trait objects: `body` is compiled once
        /// per configuration.
        ///
        /// ```ignore
        /// let params = with_model!(name, M => {
        ///     let model = M::<3, f32, Cpu>::build(&dev);
        ///     model.num_trainable_params()
        /// });
        /// ```
        #[macro_export]
        macro_rules! with_model {
            ($d name:expr, $d model:ident => $d body:expr) => {
                match $d name {
                    $(
                        $d crate::model::ModelName::$variant => {
                            #[allow(dead_code)]
                            type $d model<const IN: usize, E, D> =
                                $d crate::model::configs::$alias<IN, E, D>;
                            $d body
                        }
                    )*
                }
            };
        }
    };
}

registry! {
    $
    R10 "r10" R10,
    R18 "r18" R18,
    R34 "r34" R34,
    R18W4 "r18-w4" R18W4,
    R18W16 "r18-w16" R18W16,
    D3 "d3" D3,
    D5 "d5" D5,
    D5W4 "d5-w4" D5W4,
    D5W16 "d5-w16" D5W16,
    R18N0 "r18-n0" R18N0,
    R18N1 "r18-n1" R18N1,
    R18N3 "r18-n3" R18N3,
    R18Ds "r18-ds" R18Ds,
    R18NoFsm "r18-nofsm" R18NoFsm,
    R18Concat "r18-concat" R18Concat,
    R18Sum "r18-sum" R18Sum,
    R18NoCa "r18-noca" R18NoCa,
    ResUnet "resunet" ResUnet,
    ResUnetRucb "resunet-rucb" ResUnetRucb,
}

/// The cost of a configuration for one `height` x `width` image with 3 input channels.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ModelCost {
    /// The configuration's name.
    pub model: String,
    /// Learnable parameters (BatchNorm running statistics excluded).
    pub params: usize,
    /// The paper's "FLOPs" (torchstat: every module counted once, see [`crate::nn::Tally`]).
    pub paper_flops: u64,
    /// Multiply-accumulates of the weights actually executed (every pass, biases excluded).
    pub macs: u64,
}

/// Builds configuration `name` (3 input channels, f32, CPU) and counts its cost.
pub fn cost(name: ModelName, height: usize, width: usize) -> ModelCost {
    use super::Segmenter;
    use dfdx::nn::{BuildModule, NumParams};
    let device = dfdx::prelude::Cpu::default();
    with_model!(name, M => {
        let model = M::<3, f32, dfdx::prelude::Cpu>::build(&device);
        let tally = model.complexity(height, width);
        ModelCost {
            model: name.to_string(),
            params: model.num_trainable_params(),
            paper_flops: tally.paper_flops,
            macs: tally.macs,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The authors' code's parameter counts, and Table VI (M, rounded) for the ablations
    /// missing from their code.
    #[test]
    fn parameter_counts_match_the_reference() {
        let exact = [
            (ModelName::R10, 102_649),
            (ModelName::R18, 202_249),
            (ModelName::R34, 363_321),
            (ModelName::R18W4, 51_853),
            (ModelName::R18W16, 798_577),
            (ModelName::D3, 78_249),
            (ModelName::D5, 785_449),
            (ModelName::D5W4, 198_877),
            (ModelName::D5W16, 3_121_585),
            (ModelName::R18N0, 183_889),
            (ModelName::R18N1, 193_113),
            (ModelName::R18N3, 211_385),
            (ModelName::R18Ds, 200_881),
            (ModelName::R18NoFsm, 200_881),
        ];
        for (name, params) in exact {
            assert_eq!(cost(name, 32, 32).params, params, "{name}");
        }
        let table_vi = [
            (ModelName::R18Concat, 199),
            (ModelName::R18Sum, 190),
            (ModelName::R18NoCa, 201),
        ];
        for (name, thousands) in table_vi {
            let params = cost(name, 32, 32).params;
            assert_eq!((params + 500) / 1000, thousands, "{name}: {params}");
        }
    }

    #[test]
    fn r18_flops_and_macs_match_the_reference() {
        let r18 = cost(ModelName::R18, 256, 256);
        assert_eq!(r18.macs, 2_218_264_544);
        assert_eq!(r18.paper_flops, 1_042_744_325);
    }

    #[test]
    fn names_round_trip() {
        for &name in ModelName::ALL {
            assert_eq!(name.name().parse::<ModelName>().unwrap(), name);
        }
        let error = "r19".parse::<ModelName>().unwrap_err().to_string();
        assert!(error.contains("r19") && error.contains("r18-w4"), "{error}");
    }
}
