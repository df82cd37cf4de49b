//! The folded op, on the CPU and composed, against the reference convolution followed by the
//! reference batch norm in evaluation mode; and its errors.

use super::*;
use crate::ops::batch_norm::reference::BatchNormReference;
use crate::ops::conv::{reference, ConvShape};
use crate::ops::test_support::assert_close;
use crate::ops::NchwShape;
use dfdx::nn::builders::BatchNorm2D as BatchNorm2DBuilder;
use dfdx::prelude::{Const, Cpu, DeviceBuildExt, HasShape, Tensor, TensorFromVec, ZerosTensor};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// Which epilogue a case asks for.
#[derive(Clone, Copy, Debug)]
enum Finishing {
    Identity,
    Relu,
    AddRelu,
}

const FINISHINGS: [Finishing; 3] = [Finishing::Identity, Finishing::Relu, Finishing::AddRelu];

/// A batch norm with random running statistics, scale and shift, as training leaves them.
fn trained_norm<const O: usize, E: Float>(dev: &Cpu, seed: u64) -> BatchNorm2D<O, E, Cpu>
where
    Cpu: dfdx::prelude::Device<E>,
{
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draw = |low: f64, high: f64| -> Vec<E> {
        (0..O).map(|_| E::of(rng.gen_range(low..high))).collect()
    };
    let mut norm = dev.build_module::<BatchNorm2DBuilder<O>, E>();
    norm.scale.copy_from(&draw(0.5, 1.5));
    norm.bias.copy_from(&draw(-0.5, 0.5));
    norm.running_mean.copy_from(&draw(-1.0, 1.0));
    norm.running_var.copy_from(&draw(0.1, 2.0));
    norm
}

/// A tensor of values drawn uniformly from [-1, 1).
fn random<S: dfdx::prelude::Shape, E: Float>(dev: &Cpu, shape: S, seed: u64) -> Tensor<S, E, Cpu>
where
    Cpu: dfdx::prelude::Device<E>,
{
    let mut rng = StdRng::seed_from_u64(seed);
    let values = (0..shape.num_elements())
        .map(|_| E::of(rng.gen_range(-1.0..1.0)))
        .collect();
    dev.tensor_from_vec(values, shape)
}

fn to_f64<S: dfdx::prelude::Shape, E: Float>(t: &Tensor<S, E, Cpu>) -> Vec<f64> {
    t.as_vec().iter().map(|v| v.to_f64().unwrap()).collect()
}

/// The reference: convolution, then BN with the running statistics, then the epilogue.
fn expected<const I: usize, const O: usize, const K: usize, E: Float>(
    x: &Image<I, E, Cpu>,
    weight: &ConvWeight<O, I, K, E, Cpu>,
    bias: Option<&Bias<O, E, Cpu>>,
    norm: &BatchNorm2D<O, E, Cpu>,
    finishing: Finishing,
    shortcut: &Image<O, E, Cpu>,
) -> Vec<f64> {
    let conv_shape = ConvShape::of::<I, O, K>(x.shape());
    let bias = bias.map(to_f64);
    let conv = reference::conv2d_forward(conv_shape, &to_f64(x), &to_f64(weight), bias.as_deref());
    let [mean, var, scale, shift] = [
        &norm.running_mean,
        &norm.running_var,
        &norm.scale,
        &norm.bias,
    ]
    .map(to_f64);
    let reference = BatchNormReference {
        shape: NchwShape::of(shortcut.shape()),
        mean: &mean,
        var: &var,
        scale: &scale,
        bias: &shift,
        epsilon: norm.epsilon,
        batch_statistics: false,
        relu: !matches!(finishing, Finishing::Identity),
    };
    let shortcut = to_f64(shortcut);
    let shortcut = matches!(finishing, Finishing::AddRelu).then_some(shortcut.as_slice());
    reference.forward(&conv, shortcut)
}

/// Every epilogue, with and without a convolution bias, on the CPU and composed, against the
/// reference within `tolerance`.
fn check<const I: usize, const O: usize, const K: usize, E: Float>(
    dims: (usize, usize, usize),
    tolerance: f64,
) where
    Cpu: dfdx::prelude::Device<E>,
{
    let (batch, height, width) = dims;
    let dev = Cpu::default();
    let x: Image<I, E, Cpu> = random(&dev, (batch, Const, height, width), 1);
    let weight: ConvWeight<O, I, K, E, Cpu> = random(&dev, Default::default(), 2);
    let conv_bias: Bias<O, E, Cpu> = random(&dev, Default::default(), 3);
    let shortcut: Image<O, E, Cpu> = random(&dev, (batch, Const, height, width), 4);
    let norm = trained_norm::<O, E>(&dev, 3);
    for finishing in FINISHINGS {
        for bias in [None, Some(&conv_bias)] {
            let want = expected(&x, &weight, bias, &norm, finishing, &shortcut);
            let epilogue = || match finishing {
                Finishing::Identity => Epilogue::Identity,
                Finishing::Relu => Epilogue::Relu,
                Finishing::AddRelu => Epilogue::AddRelu(shortcut.clone()),
            };
            let what =
                |device: &str| format!("{device} {finishing:?}, bias {}, {dims:?}", bias.is_some());
            let cpu = conv2d_batch_norm_eval(x.clone(), &weight, bias, &norm, epilogue()).unwrap();
            assert_close(&to_f64(&cpu), &want, tolerance, &what("cpu"));
            let composed =
                composed_conv2d_batch_norm_eval(x.clone(), &weight, bias, &norm, epilogue())
                    .unwrap();
            assert_close(&to_f64(&composed), &want, tolerance, &what("composed"));
        }
    }
}

#[test]
fn folded_conv3x3_matches_conv_then_batch_norm() {
    check::<3, 4, 3, f64>((2, 5, 7), 1e-10);
}

#[test]
fn folded_conv1x1_matches_conv_then_batch_norm() {
    check::<2, 3, 1, f64>((2, 4, 3), 1e-10);
}

/// f32 with widths that leave partial register strips and more channels than one output
/// block, as RRCA-Net's layers have.
#[test]
fn folded_conv_in_f32_matches_with_partial_strips() {
    check::<8, 16, 3, f32>((1, 9, 37), 1e-4);
    check::<16, 8, 1, f32>((2, 3, 21), 1e-4);
}

#[test]
fn a_shortcut_of_another_shape_is_an_error() {
    let dev = Cpu::default();
    let x: Image<2, f64, Cpu> = dev.zeros_like(&(1, Const, 4, 5));
    let weight: ConvWeight<3, 2, 3, f64, Cpu> = dev.zeros();
    let norm = trained_norm::<3, f64>(&dev, 1);
    let wrong: Image<3, f64, Cpu> = dev.zeros_like(&(1, Const, 4, 6));
    let cpu = conv2d_batch_norm_eval(
        x.clone(),
        &weight,
        None,
        &norm,
        Epilogue::AddRelu(wrong.clone()),
    );
    assert!(matches!(cpu, Err(OpError::ShapeMismatch { .. })), "{cpu:?}");
    let composed =
        composed_conv2d_batch_norm_eval(x, &weight, None, &norm, Epilogue::AddRelu(wrong));
    assert!(
        matches!(composed, Err(OpError::ShapeMismatch { .. })),
        "{composed:?}"
    );
}

#[test]
fn an_even_kernel_is_an_error() {
    let dev = Cpu::default();
    let x: Image<1, f64, Cpu> = dev.tensor_from_vec(vec![0.0; 12], (1, Const, 3, 4));
    let weight: ConvWeight<1, 1, 2, f64, Cpu> = dev.zeros();
    let norm = trained_norm::<1, f64>(&dev, 1);
    let result = conv2d_batch_norm_eval(x, &weight, None, &norm, Epilogue::Identity);
    assert!(matches!(result, Err(OpError::EvenKernel(2))), "{result:?}");
}
