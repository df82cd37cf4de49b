//! The named configurations: one type alias per paper configuration, ablation and baseline,
//! and the run-time registry [`ModelName`]; the registry's `with_model!` table, which runs
//! generic code on the type a name selects, is used by [`crate::model::build`] (and tests)
//! only.
//!
//! Widths, depth (the nesting of [`Level`]s), residual pairs per level (the paper's counts,
//! e.g. 3, 2, 2, 2 for ResNet-18), passes `P` = N + 1, decoders and head are all type
//! parameters. The channel attention of a DIAAM at width C has C / 8 hidden units (integer
//! division, as the authors' code), computed by [`ChannelAttention`]: 0 at width 4.

use super::{
    DeepestLevel, FusionDecoder, Gather, Level, ReusableConcatenation, RrcaNet, StackedFusion,
    StemLevel,
};
use crate::nn::{
    ChannelAttention, ConcatenateFusion, Conv1x1, Diaam, FeatureStacking, NoAttention, OutputConv,
    PassHead, ResidualPair,
};

// The aliases below are configuration tables; rustfmt would spread each over dozens of lines.
// A nest reads like the U of Fig. 3: down through the levels' widths, then back up through
// their decoders (`Jl` decodes level l).

/// A depth-3 U-Net: widths F0..F2, `Nl` residual pairs at level l, `P` passes, decoders J1, J0.
#[rustfmt::skip]
pub type Depth3<const F0: usize, const F1: usize, const F2: usize,
                const N0: usize, const N1: usize, const N2: usize, const P: usize, J0, J1, E, D> =
    Level<F0, F0, N0, P,
        Level<F0, F1, N1, P,
            DeepestLevel<F1, F2, N2, P, E, D>,
        J1, E, D>,
    J0, E, D>;

/// A depth-4 U-Net.
#[rustfmt::skip]
pub type Depth4<const F0: usize, const F1: usize, const F2: usize, const F3: usize,
                const N0: usize, const N1: usize, const N2: usize, const N3: usize,
                const P: usize, J0, J1, J2, E, D> =
    Level<F0, F0, N0, P,
        Level<F0, F1, N1, P,
            Level<F1, F2, N2, P,
                DeepestLevel<F2, F3, N3, P, E, D>,
            J2, E, D>,
        J1, E, D>,
    J0, E, D>;

/// A depth-5 U-Net.
#[rustfmt::skip]
pub type Depth5<const F0: usize, const F1: usize, const F2: usize, const F3: usize,
                const F4: usize, const N0: usize, const N1: usize, const N2: usize,
                const N3: usize, const N4: usize, const P: usize, J0, J1, J2, J3, E, D> =
    Level<F0, F0, N0, P,
        Level<F0, F1, N1, P,
            Level<F1, F2, N2, P,
                Level<F2, F3, N3, P,
                    DeepestLevel<F3, F4, N4, P, E, D>,
                J3, E, D>,
            J2, E, D>,
        J1, E, D>,
    J0, E, D>;

/// Decoding a level of `LO` channels, from `HI` below, by pass t's DIAAM with attention `A`.
pub type DiaamsWith<const LO: usize, const HI: usize, const P: usize, A, E, D> =
    FusionDecoder<P, Diaam<LO, HI, A, E, D>>;

/// Decoding by pass t's DIAAM with channel attention: the paper's decoder.
pub type Diaams<const LO: usize, const HI: usize, const P: usize, E, D> =
    DiaamsWith<LO, HI, P, ChannelAttention<LO, E, D>, E, D>;

/// RRCA-Net at widths 8..64 (depth 4) with `Nl` pairs at level l, `P` passes, decoders, head.
#[rustfmt::skip]
type Widths8To64<const IN: usize, const N0: usize, const N1: usize, const N2: usize,
                 const N3: usize, const P: usize, J0, J1, J2, Head, E, D> =
    RrcaNet<IN, 8, P, Depth4<8, 16, 32, 64, N0, N1, N2, N3, P, J0, J1, J2, E, D>, Head, E, D>;

/// RRCA-Net at widths 8..64 with DIAAM decoders.
#[rustfmt::skip]
type Rrca8To64<const IN: usize, const N0: usize, const N1: usize, const N2: usize,
               const N3: usize, const P: usize, Head, E, D> =
    Widths8To64<IN, N0, N1, N2, N3, P,
                Diaams<8, 16, P, E, D>, Diaams<16, 32, P, E, D>, Diaams<32, 64, P, E, D>,
                Head, E, D>;

/// The ResNet-18 backbone (pairs 3, 2, 2, 2) at widths 8..64 with DIAAM decoders.
type Resnet18<const IN: usize, const P: usize, Head, E, D> =
    Rrca8To64<IN, 3, 2, 2, 2, P, Head, E, D>;

/// The feature stacking head at width 8 over 3 passes.
type Fsm8<E, D> = FeatureStacking<8, 24, 3, E, D>;

/// RRCA-Net, ResNet-10 backbone (pairs 2, 1, 1, 1), widths 8..64, N = 2.
pub type R10<const IN: usize, E, D> = Rrca8To64<IN, 2, 1, 1, 1, 3, Fsm8<E, D>, E, D>;
/// RRCA-Net, ResNet-18 backbone (pairs 3, 2, 2, 2), widths 8..64, N = 2: the paper's default.
pub type R18<const IN: usize, E, D> = Resnet18<IN, 3, Fsm8<E, D>, E, D>;
/// RRCA-Net, ResNet-34 backbone (pairs 4, 4, 6, 3), widths 8..64, N = 2.
pub type R34<const IN: usize, E, D> = Rrca8To64<IN, 4, 4, 6, 3, 3, Fsm8<E, D>, E, D>;

/// ResNet-18 at widths 4..32 (the first DIAAM's channel attention has 0 hidden units).
#[rustfmt::skip]
pub type R18W4<const IN: usize, E, D> = RrcaNet<IN, 4, 3,
    Depth4<4, 8, 16, 32, 3, 2, 2, 2, 3,
           Diaams<4, 8, 3, E, D>, Diaams<8, 16, 3, E, D>, Diaams<16, 32, 3, E, D>, E, D>,
    FeatureStacking<4, 12, 3, E, D>, E, D>;

/// ResNet-18 at widths 16..128.
#[rustfmt::skip]
pub type R18W16<const IN: usize, E, D> = RrcaNet<IN, 16, 3,
    Depth4<16, 32, 64, 128, 3, 2, 2, 2, 3,
           Diaams<16, 32, 3, E, D>, Diaams<32, 64, 3, E, D>, Diaams<64, 128, 3, E, D>, E, D>,
    FeatureStacking<16, 48, 3, E, D>, E, D>;

/// Depth 3: widths 8, 16, 32, pairs 3, 3, 3.
#[rustfmt::skip]
pub type D3<const IN: usize, E, D> = RrcaNet<IN, 8, 3,
    Depth3<8, 16, 32, 3, 3, 3, 3, Diaams<8, 16, 3, E, D>, Diaams<16, 32, 3, E, D>, E, D>,
    Fsm8<E, D>, E, D>;

/// Depth 5: widths 8..128, pairs 1, 2, 2, 2, 2.
#[rustfmt::skip]
pub type D5<const IN: usize, E, D> = RrcaNet<IN, 8, 3,
    Depth5<8, 16, 32, 64, 128, 1, 2, 2, 2, 2, 3,
           Diaams<8, 16, 3, E, D>, Diaams<16, 32, 3, E, D>, Diaams<32, 64, 3, E, D>,
           Diaams<64, 128, 3, E, D>, E, D>,
    Fsm8<E, D>, E, D>;

/// Depth 5 at widths 4..64.
#[rustfmt::skip]
pub type D5W4<const IN: usize, E, D> = RrcaNet<IN, 4, 3,
    Depth5<4, 8, 16, 32, 64, 1, 2, 2, 2, 2, 3,
           Diaams<4, 8, 3, E, D>, Diaams<8, 16, 3, E, D>, Diaams<16, 32, 3, E, D>,
           Diaams<32, 64, 3, E, D>, E, D>,
    FeatureStacking<4, 12, 3, E, D>, E, D>;

/// Depth 5 at widths 16..256.
#[rustfmt::skip]
pub type D5W16<const IN: usize, E, D> = RrcaNet<IN, 16, 3,
    Depth5<16, 32, 64, 128, 256, 1, 2, 2, 2, 2, 3,
           Diaams<16, 32, 3, E, D>, Diaams<32, 64, 3, E, D>, Diaams<64, 128, 3, E, D>,
           Diaams<128, 256, 3, E, D>, E, D>,
    FeatureStacking<16, 48, 3, E, D>, E, D>;

/// ResNet-18, N = 0 (one pass).
pub type R18N0<const IN: usize, E, D> = Resnet18<IN, 1, FeatureStacking<8, 8, 1, E, D>, E, D>;
/// ResNet-18, N = 1.
pub type R18N1<const IN: usize, E, D> = Resnet18<IN, 2, FeatureStacking<8, 16, 2, E, D>, E, D>;
/// ResNet-18, N = 3.
pub type R18N3<const IN: usize, E, D> = Resnet18<IN, 4, FeatureStacking<8, 32, 4, E, D>, E, D>;
/// ResNet-18 with deep supervision: one shared head on every pass.
pub type R18Ds<const IN: usize, E, D> = Resnet18<IN, 3, PassHead<8, true, E, D>, E, D>;
/// ResNet-18 without FSM: the head on the last pass only.
pub type R18NoFsm<const IN: usize, E, D> = Resnet18<IN, 3, PassHead<8, false, E, D>, E, D>;

/// DIAAM ablation "concatenate": every encoder level resized to full resolution (120
/// channels), concatenated and fused by one residual pair shared by the passes.
#[rustfmt::skip]
pub type R18Concat<const IN: usize, E, D> = Widths8To64<IN, 3, 2, 2, 2, 3,
    StackedFusion<120, ResidualPair<120, 8, E, D>>, Gather, Gather, Fsm8<E, D>, E, D>;
/// DIAAM ablation "element-wise summation": every encoder level resized to full resolution,
/// projected to 8 channels by a conv1x1 and summed (= one conv1x1 on the stack), shared by
/// the passes.
#[rustfmt::skip]
pub type R18Sum<const IN: usize, E, D> = Widths8To64<IN, 3, 2, 2, 2, 3,
    StackedFusion<120, Conv1x1<120, 8, E, D>>, Gather, Gather, Fsm8<E, D>, E, D>;
/// DIAAM ablation "without CA".
#[rustfmt::skip]
pub type R18NoCa<const IN: usize, E, D> = Widths8To64<IN, 3, 2, 2, 2, 3,
    DiaamsWith<8, 16, 3, NoAttention, E, D>, DiaamsWith<16, 32, 3, NoAttention, E, D>,
    DiaamsWith<32, 64, 3, NoAttention, E, D>, Fsm8<E, D>, E, D>;

/// U-Net decoding (the authors' ResUNet, `conv3_1` .. `conv0_4`): per level and pass,
/// concatenation (`CAT` = `LO` + `HI` channels) and a residual pair.
type Concatenations<const LO: usize, const HI: usize, const CAT: usize, const P: usize, E, D> =
    FusionDecoder<P, ConcatenateFusion<LO, HI, CAT, E, D>>;

/// The authors' ResUNet (BasicIRSTD-RRCANet/model/ResUNet/model_ResUNet.py) at widths F0..F4
/// (their `nb_filter`; `CATl` = Fl + Fl+1): the stem `conv0_0` (one residual pair) is level 0's
/// skip, levels 1..4 two residual pairs each (`num_blocks` 2, 2, 2, 2; one pass), a residual
/// pair on each concatenation on the way up, the output conv `final`; no FSM.
#[rustfmt::skip]
pub type ResUnetWidths<const IN: usize, const F0: usize, const F1: usize, const F2: usize,
                       const F3: usize, const F4: usize, const CAT0: usize, const CAT1: usize,
                       const CAT2: usize, const CAT3: usize, E, D> =
    RrcaNet<IN, F0, 1,
        StemLevel<F0,
            Level<F0, F1, 2, 1,
                Level<F1, F2, 2, 1,
                    Level<F2, F3, 2, 1,
                        DeepestLevel<F3, F4, 2, 1, E, D>,
                    Concatenations<F3, F4, CAT3, 1, E, D>, E, D>,
                Concatenations<F2, F3, CAT2, 1, E, D>, E, D>,
            Concatenations<F1, F2, CAT1, 1, E, D>, E, D>,
        Concatenations<F0, F1, CAT0, 1, E, D>>,
    OutputConv<F0, E, D>, E, D>;

/// The authors' ResUNet_RuCB (BasicIRSTD-RRCANet/model/ResUNet/ResUNet_RuCB.py) at widths
/// F0..F4 (8 x 2^l x their `multiplier`): RRCA-Net's depth-5 RuCB encoder (pairs 1, 2, 2, 2, 2),
/// N = 2 (3 passes), decoders that concatenate and reuse one residual pair's convolutions in
/// every pass, and the FSM (`STACK` = 3 x F0).
#[rustfmt::skip]
pub type ResUnetRucbWidths<const IN: usize, const F0: usize, const F1: usize, const F2: usize,
                           const F3: usize, const F4: usize, const CAT0: usize,
                           const CAT1: usize, const CAT2: usize, const CAT3: usize,
                           const STACK: usize, E, D> =
    RrcaNet<IN, F0, 3,
        Depth5<F0, F1, F2, F3, F4, 1, 2, 2, 2, 2, 3,
               ReusableConcatenation<F0, F1, CAT0, 3, E, D>,
               ReusableConcatenation<F1, F2, CAT1, 3, E, D>,
               ReusableConcatenation<F2, F3, CAT2, 3, E, D>,
               ReusableConcatenation<F3, F4, CAT3, 3, E, D>, E, D>,
        FeatureStacking<F0, STACK, 3, E, D>, E, D>;

/// Baseline ResUNet of Table II, as the authors' code builds it: widths 8..128.
pub type ResUnet<const IN: usize, E, D> =
    ResUnetWidths<IN, 8, 16, 32, 64, 128, 24, 48, 96, 192, E, D>;
/// Baseline ResUNet with the reusable-convolution block (Table II), as the authors' code builds
/// it: widths 8..128.
pub type ResUnetRucb<const IN: usize, E, D> =
    ResUnetRucbWidths<IN, 8, 16, 32, 64, 128, 24, 48, 96, 192, 24, E, D>;

/// Declares [`ModelName`] and the `with_model!` table from one list of (variant, command-line
/// name, type alias). `$d` is a literal `$` for the inner macro.
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
        /// (input channels, element type, device): `body` is compiled once per
        /// configuration.
        ///
        /// ```ignore
        /// let params = with_model!(name, M => {
        ///     let model = M::<3, f32, Cpu>::build(&dev);
        ///     model.num_trainable_params()
        /// });
        /// ```
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeviceKind, ModelCost};

    /// Configuration `name`'s cost at `height` x `width`, through the detector the workflow uses.
    fn cost(name: ModelName, height: usize, width: usize) -> ModelCost {
        crate::model::build(name, DeviceKind::Cpu, 0)
            .unwrap()
            .cost(height, width)
    }

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
            (ModelName::ResUnet, 914_057),
            (ModelName::ResUnetRucb, 979_249),
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

    /// Table II's baselines as the authors' code builds them, at their one grey input channel
    /// (913,897 = 0.9141 M and 979,089 = 0.979 M), with the torchstat FLOPs and MACs at 256 x 256
    /// that forward hooks on their modules give (scripts/make_parity_fixture.py --costs).
    #[test]
    fn baselines_at_one_input_channel_match_the_authors_code() {
        use crate::model::Segmenter;
        use crate::nn::tensors::trainable_parameters;
        use dfdx::prelude::{BuildModule, Cpu};
        let device = Cpu::default();
        let resunet = ResUnet::<1, f32, Cpu>::build(&device);
        let rucb = ResUnetRucb::<1, f32, Cpu>::build(&device);
        let counted = [
            (trainable_parameters(&resunet), resunet.complexity(256, 256)),
            (trainable_parameters(&rucb), rucb.complexity(256, 256)),
        ];
        let counted = counted.map(|(params, tally)| (params, tally.paper_flops, tally.macs));
        assert_eq!(
            counted,
            [
                (913_897, 1_258_323_968, 1_234_698_240),
                (979_089, 1_664_974_848, 4_007_133_184),
            ]
        );
    }

    #[test]
    fn r18_flops_and_macs_match_the_reference() {
        let r18 = cost(ModelName::R18, 256, 256);
        assert_eq!(r18.macs, 2_218_264_544);
        assert_eq!(r18.paper_flops, 1_042_744_325);
    }

    /// Every configuration's torchstat FLOPs and executed MACs at 256 x 256 (notes/model.md).
    #[test]
    fn every_configuration_costs_what_the_notes_record() {
        let recorded = [
            (ModelName::R10, 721_093_637, 1_312_294_880),
            (ModelName::R18, 1_042_744_325, 2_218_264_544),
            (ModelName::R34, 1_679_492_101, 4_030_203_872),
            (ModelName::R18W4, 282_362_105, 558_629_344),
            (ModelName::R18W16, 3_997_962_218, 8_840_552_320),
            (ModelName::D3, 1_021_575_417, 2_230_845_920),
            (ModelName::D5, 1_048_875_037, 2_205_687_776),
            (ModelName::D5W4, 279_135_237, 555_485_152),
            (ModelName::D5W16, 4_060_561_434, 8_790_245_248),
            (ModelName::R18N0, 828_703_063, 796_394_144),
            (ModelName::R18N1, 938_607_278, 1_509_426_496),
            (ModelName::R18N3, 1_146_881_372, 2_927_102_592),
            (ModelName::R18Ds, 953_091_077, 2_130_184_160),
            (ModelName::R18NoFsm, 953_091_077, 2_130_184_160),
            (ModelName::R18Concat, 1_596_129_280, 4_105_699_328),
            (ModelName::R18Sum, 987_430_912, 2_293_760_000),
            (ModelName::R18NoCa, 1_042_743_296, 2_218_262_528),
            (ModelName::ResUnet, 1_268_809_728, 1_245_184_000),
            (ModelName::ResUnetRucb, 1_675_460_608, 4_017_618_944),
        ];
        for (name, paper_flops, macs) in recorded {
            let cost = cost(name, 256, 256);
            assert_eq!((cost.paper_flops, cost.macs), (paper_flops, macs), "{name}");
        }
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
