//! Batch normalisation against PyTorch, finite differences and the reference, and its
//! errors.

use super::kernels::channel_statistics;
use super::reference::channel_mean_var;
use super::*;
use crate::ops::test_support::{assert_close, numeric_gradient};
use crate::ops::NchwShape;
use dfdx::nn::builders::BatchNorm2D as BatchNorm2DBuilder;
use dfdx::prelude::{
    Backward, Cpu, DeviceBuildExt, OwnedTape, PutTape, Rank0, SampleTensor, SumTo, Tensor,
    TensorFromVec, Trace, ZerosTensor,
};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// Output and gradients of `sum(op(x, shortcut) * weights)`.
#[derive(Debug)]
struct Outcome {
    out: Vec<f64>,
    x: Vec<f64>,
    scale: Vec<f64>,
    bias: Vec<f64>,
    shortcut: Option<Vec<f64>>,
}

/// The inputs of one batch-norm call: `relu` alone selects [`Epilogue::Relu`], a
/// shortcut [`Epilogue::AddRelu`].
struct Case<'a> {
    dims: (usize, usize, usize),
    x: &'a [f64],
    shortcut: Option<&'a [f64]>,
    relu: bool,
    weights: &'a [f64],
    train: bool,
}

impl Case<'_> {
    fn run<const C: usize>(&self, norm: &mut BatchNorm2D<C, f64, Cpu>) -> Outcome {
        let dev = Cpu::default();
        let (b, h, w) = self.dims;
        let tensor = |v: &[f64]| dev.tensor_from_vec(v.to_vec(), (b, Const::<C>, h, w));
        let (x, weights) = (tensor(self.x), tensor(self.weights));
        let shortcut = self.shortcut.map(tensor);
        let mode = if self.train {
            BatchNormMode::Train(&mut *norm)
        } else {
            BatchNormMode::Eval(&*norm)
        };
        let out = match (&shortcut, self.relu) {
            (Some(s), _) => batch_norm2d_add_relu(x.leaky_trace(), s.leaky_trace(), mode),
            (None, true) => batch_norm2d_relu(x.leaky_trace(), mode),
            (None, false) => batch_norm2d(x.leaky_trace(), mode),
        }
        .unwrap();
        let values = out.as_vec();
        let loss: Tensor<Rank0, f64, Cpu, _> = (out * weights).sum();
        let grads = loss.backward();
        Outcome {
            out: values,
            x: grads.get(&x).as_vec(),
            scale: grads.get(&norm.scale).as_vec(),
            bias: grads.get(&norm.bias).as_vec(),
            shortcut: shortcut.map(|s| grads.get(&s).as_vec()),
        }
    }

    fn loss<const C: usize>(&self, norm: &BatchNorm2D<C, f64, Cpu>) -> f64 {
        let out = self.run(&mut norm.clone()).out;
        out.iter().zip(self.weights).map(|(o, w)| o * w).sum()
    }
}

fn batch_norm<const C: usize>(scale: &[f64], bias: &[f64]) -> BatchNorm2D<C, f64, Cpu> {
    let mut norm = Cpu::default().build_module::<BatchNorm2DBuilder<C>, f64>();
    norm.scale.copy_from(scale);
    norm.bias.copy_from(bias);
    norm
}

/// Expected values computed once with PyTorch 2.15 (`torch.nn.BatchNorm2d`, float64; the
/// script is in notes/norm-ops.md): `relu(bn(x) + shortcut)` in training, then `bn(x)` in
/// evaluation, the gradients those of `sum(out * weights)`.
#[test]
fn matches_pytorch_in_training_and_evaluation() {
    let n = 24;
    let x: Vec<f64> = (0..n)
        .map(|i| ((i * 37) % 17) as f64 / 4.0 - 2.0 + 0.3 * (i % 3) as f64)
        .collect();
    let shortcut: Vec<f64> = (0..n).map(|i| ((i * 11) % 13) as f64 / 6.0 - 1.0).collect();
    let weights: Vec<f64> = (0..n).map(|i| ((i * 7) % 5) as f64 / 2.0 - 1.0).collect();
    let mut norm = batch_norm::<2>(&[1.5, -0.5], &[0.25, -0.125]);
    norm.running_mean.copy_from(&[0.5, -1.0]);
    norm.running_var.copy_from(&[2.0, 0.5]);
    let mut case = Case {
        dims: (2, 2, 3),
        x: &x,
        shortcut: Some(&shortcut),
        relu: true,
        weights: &weights,
        train: true,
    };
    let trained = case.run(&mut norm);
    let tolerance = 1e-12;
    assert_close(
        &trained.out,
        &[
            0.0,
            0.0,
            0.7833087404371919,
            0.6212775007808453,
            1.4870588231864188,
            2.3528401455919923,
            0.0,
            1.2636019717672382,
            0.5305637531876028,
            0.14012972196194043,
            0.0,
            0.0,
            0.0,
            0.0,
            1.6876490526938142,
            1.5256178130374676,
            2.3913991354430415,
            0.0,
            0.0,
            0.0,
            0.6735614268798398,
            0.28312739565417755,
            0.0,
            0.434904065444225,
        ],
        tolerance,
        "training output",
    );
    assert_close(
        &trained.x,
        &[
            -0.19682937953709567,
            -0.07290151192997862,
            1.1930403135237166,
            -0.5022766421594196,
            0.7636651832942756,
            -0.8254278858684744,
            0.012300564399858736,
            -0.38265001259104103,
            0.17407770862354088,
            -0.2086335046170385,
            -0.032577102684649265,
            -0.04685636039335636,
            -0.1378161092479923,
            -0.013888241640875262,
            0.6810466048895307,
            -1.014270350793605,
            0.2516714746600899,
            -0.12601345519017162,
            0.005500917871902979,
            -0.008778339836804112,
            0.3576137217366815,
            -0.02509749150389793,
            -0.039376749212605026,
            0.19447664820740815,
        ],
        tolerance,
        "training input gradient",
    );
    assert_close(
        &trained.scale,
        &[-1.6289560204283828, -0.5630763264382432],
        tolerance,
        "scale gradient",
    );
    assert_close(&trained.bias, &[-0.5, -0.5], tolerance, "bias gradient");
    assert_close(
        &trained.shortcut.unwrap(),
        &[
            0.0, 0.0, 1.0, -0.5, 0.5, -1.0, 0.0, 1.0, -0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5, -1.0,
            0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, -0.5,
        ],
        tolerance,
        "shortcut gradient",
    );
    assert_close(
        &norm.running_mean.as_vec(),
        &[0.45708333333333334, -0.8679166666666667],
        tolerance,
        "running mean",
    );
    assert_close(
        &norm.running_var.as_vec(),
        &[1.9882026515151516, 0.6382026515151515],
        tolerance,
        "running variance",
    );

    case.shortcut = None;
    case.relu = false;
    case.train = false;
    let running = (norm.running_mean.as_vec(), norm.running_var.as_vec());
    let evaluated = case.run(&mut norm);
    assert_eq!(
        (norm.running_mean.as_vec(), norm.running_var.as_vec()),
        running,
        "evaluation must leave the running statistics alone"
    );
    assert_close(
        &evaluated.out,
        &[
            -2.363844386761353,
            -1.246854755654246,
            -0.12986512454713917,
            0.02970482275387612,
            1.1466944538609831,
            2.26368408496809,
            0.42707351900670976,
            -0.23009477003292592,
            -0.8872630590725615,
            -0.9811442432210808,
            -1.6383125322607166,
            -2.295480821300352,
            -1.8319445624246353,
            -0.7149549313175285,
            0.4020346997895784,
            0.5616046470905937,
            1.6785942781977006,
            -1.7255645975572917,
            0.11413623851164514,
            -0.5430320505279905,
            -1.2002003395676262,
            -1.2940815237161454,
            -1.951249812755781,
            0.05154878241263217,
        ],
        tolerance,
        "evaluation output",
    );
    assert_close(
        &evaluated.x,
        &[
            -1.0637996486734351,
            0.0,
            1.0637996486734351,
            -0.5318998243367176,
            0.5318998243367176,
            -1.0637996486734351,
            0.0,
            -0.6258745609901292,
            0.3129372804950646,
            -0.3129372804950646,
            0.6258745609901292,
            0.0,
            1.0637996486734351,
            -0.5318998243367176,
            0.5318998243367176,
            -1.0637996486734351,
            0.0,
            1.0637996486734351,
            0.3129372804950646,
            -0.3129372804950646,
            0.6258745609901292,
            0.0,
            -0.6258745609901292,
            0.3129372804950646,
        ],
        tolerance,
        "evaluation input gradient",
    );
    assert_close(
        &evaluated.scale,
        &[-2.021219332479527, -0.38673832247848355],
        tolerance,
        "evaluation scale gradient",
    );
}

#[test]
fn gradients_match_finite_differences() {
    const C: usize = 3;
    let dims = (2, 3, 4);
    let n = dims.0 * C * dims.1 * dims.2;
    let mut rng = StdRng::seed_from_u64(7);
    let mut random =
        |len: usize| -> Vec<f64> { (0..len).map(|_| rng.gen_range(-2.0..2.0)).collect() };
    let (x, shortcut, weights) = (random(n), random(n), random(n));
    let (scale, bias) = (random(C), random(C));
    let mut norm = batch_norm::<C>(&scale, &bias);
    norm.running_mean.copy_from(&random(C));
    norm.running_var.copy_from(&[0.5, 1.0, 2.0]);
    for train in [true, false] {
        for (shortcut, relu) in [(None, false), (None, true), (Some(&shortcut[..]), true)] {
            let case = Case {
                dims,
                x: &x,
                shortcut,
                relu,
                weights: &weights,
                train,
            };
            let what = format!(
                "train {train}, relu {relu}, shortcut {}",
                shortcut.is_some()
            );
            let analytic = case.run(&mut norm.clone());
            let numeric_x = numeric_gradient(&x, 1e-6, |x| Case { x, ..case }.loss(&norm));
            assert_close(&analytic.x, &numeric_x, 1e-6, &format!("x, {what}"));
            let with = |scale: &[f64], bias: &[f64]| {
                let mut norm = norm.clone();
                norm.scale.copy_from(scale);
                norm.bias.copy_from(bias);
                case.loss(&norm)
            };
            let numeric_scale = numeric_gradient(&scale, 1e-6, |s| with(s, &bias));
            assert_close(
                &analytic.scale,
                &numeric_scale,
                1e-6,
                &format!("scale, {what}"),
            );
            let numeric_bias = numeric_gradient(&bias, 1e-6, |b| with(&scale, b));
            assert_close(
                &analytic.bias,
                &numeric_bias,
                1e-6,
                &format!("bias, {what}"),
            );
            if let Some(shortcut) = shortcut {
                let numeric = numeric_gradient(shortcut, 1e-6, |s| {
                    Case {
                        shortcut: Some(s),
                        ..case
                    }
                    .loss(&norm)
                });
                let analytic = analytic.shortcut.unwrap();
                assert_close(&analytic, &numeric, 1e-6, &format!("shortcut, {what}"));
            }
        }
    }
}

/// f32 statistics of data far from zero: the per-plane two-pass sums keep the variance
/// accurate where sum-of-squares formulas cancel.
#[test]
fn f32_statistics_stay_accurate_off_centre() {
    let (channels, plane) = (2, 4099);
    let mut rng = StdRng::seed_from_u64(3);
    let x: Vec<f32> = (0..3 * channels * plane)
        .map(|_| 1000.0 + rng.gen_range(-0.05..0.05))
        .collect();
    let (mean, var) = channel_statistics(&x, channels, plane);
    let shape = NchwShape {
        batch: 3,
        channels,
        height: 1,
        width: plane,
    };
    let exact: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let (expected_mean, expected_var) = channel_mean_var(shape, &exact);
    assert_close(&mean, &expected_mean, 1e-12, "mean");
    for (v, e) in var.iter().zip(&expected_var) {
        assert!((v - e).abs() <= 1e-3 * e, "variance {v}, expected {e}");
    }
}

/// A shortcut of another shape and a batch with one value per channel are errors on
/// both the fused kernels and the composed op, never panics.
#[test]
fn bad_shortcuts_and_single_value_batches_are_errors() {
    let dev = Cpu::default();
    let image = |b: usize, h: usize, w: usize| dev.try_zeros_like(&(b, Const::<2>, h, w)).unwrap();
    let mut norm = batch_norm::<2>(&[1.0, 1.0], &[0.0, 0.0]);
    let fused = Cpu::try_batch_norm2d::<2, NoneTape, NoneTape>;
    let outcomes = [
        fused(
            image(2, 4, 4),
            BatchNormMode::Train(&mut norm),
            Epilogue::AddRelu(image(2, 4, 2)),
        ),
        composed_batch_norm2d::<2, f64, Cpu, NoneTape, NoneTape>(
            image(2, 4, 4),
            BatchNormMode::Eval(&norm.clone()),
            Epilogue::AddRelu(image(1, 4, 4)),
        ),
    ];
    for outcome in outcomes {
        assert!(matches!(
            outcome,
            Err(OpError::ShapeMismatch {
                op: "batch norm",
                input: "shortcut",
                ..
            })
        ));
    }
    let single = [
        fused(
            image(1, 1, 1),
            BatchNormMode::Train(&mut norm),
            Epilogue::Identity,
        ),
        composed_batch_norm2d::<2, f64, Cpu, NoneTape, NoneTape>(
            image(1, 1, 1),
            BatchNormMode::Train(&mut norm),
            Epilogue::Identity,
        ),
    ];
    for outcome in single {
        assert!(matches!(outcome, Err(OpError::SingleValueBatch(1))));
    }
    assert!(fused(
        image(1, 1, 1),
        BatchNormMode::Eval(&norm),
        Epilogue::Identity
    )
    .is_ok());
}

/// The input as its own shortcut, `relu(bn(x) + x)`: our kernels' gradient buffers for the
/// two places are one, and must receive the sum of both, as the composition's do.
#[test]
fn an_input_that_is_its_own_shortcut_gets_both_gradients() {
    let dev = Cpu::seed_from_u64(4);
    let x: Image<3, f64, Cpu> = dev.sample_normal_like(&(2, Const, 3, 5));
    let mix: Image<3, f64, Cpu> = dev.sample_normal_like(&(2, Const, 3, 5));
    let norm = batch_norm::<3>(&[1.5, -0.5, 0.75], &[0.25, -0.125, 0.5]);
    let gradients = |composed: bool| {
        let mut norm = norm.clone();
        let (traced, shortcut) = (
            x.leaky_trace(),
            x.clone().put_tape(OwnedTape::<f64, Cpu>::default()),
        );
        let mode = BatchNormMode::Train(&mut norm);
        let out = if composed {
            composed_batch_norm2d(traced, mode, Epilogue::AddRelu(shortcut))
        } else {
            batch_norm2d_add_relu(traced, shortcut, mode)
        }
        .unwrap();
        let grads = (out * mix.clone()).sum().backward();
        [
            grads.get(&x).as_vec(),
            grads.get(&norm.scale).as_vec(),
            grads.get(&norm.bias).as_vec(),
        ]
    };
    let (ours, composed) = (gradients(false), gradients(true));
    for ((ours, composed), name) in ours.iter().zip(&composed).zip(["x", "scale", "bias"]) {
        assert_close(ours, composed, 1e-12, name);
    }
}
