//! Differentiable image ops that dfdx 0.13 lacks on stable Rust: 2-D convolution with same
//! zero padding, 2 x 2 max-pooling, batch normalisation with its residual epilogues, bilinear
//! 2x upsampling and the DIAAM aggregation.
//!
//! Tensors are NCHW with the channel count in the type (`Const<C>`) and batch, height and
//! width as `usize`. Every op is a folder of the same shape: `mod.rs` (the device trait, the
//! public function, the shape checks), `cpu.rs` (the CPU device: our kernels on dfdx's tape,
//! through `tape.rs`), `kernels.rs` (those kernels on plain slices; `direct.rs` for the
//! convolution), `composed.rs` (the op composed from dfdx ops: the CUDA device's version,
//! tested on the CPU), `reference.rs` (the naive f64 definition the tests compare with) and
//! `tests.rs`. The tape travels with the input `x`; weights are read by reference, and their
//! gradients accumulate, so one weight used several times in a graph receives the sum of its
//! uses' gradients.

pub mod attention;
pub mod batch_norm;
pub mod conv;
pub mod conv_batch_norm;
pub mod pool;
pub mod profile;
mod simd;
mod tape;
#[cfg(test)]
mod test_support;
pub mod upsample;

use dfdx::prelude::{Const, Dtype, NoneTape, Tensor};
use dfdx::tensor::Storage;

pub use attention::{attention_aggregation, AttentionOps, ChannelWeights};
pub use batch_norm::{
    batch_norm2d, batch_norm2d_add_relu, batch_norm2d_relu, BatchNormMode, BatchNormOps, Epilogue,
};
pub use conv::{conv2d, conv2d_with, ConvAlgorithm, ConvOps, ConvShape};
pub use conv_batch_norm::{conv2d_batch_norm_eval, ConvBatchNormOps};
pub use pool::{max_pool2x2, PoolOps};
pub use simd::{instruction_set_name, measured_fma_peak_gflops};
pub use upsample::{upsample_bilinear2x, UpsampleOps};

/// A batch of images with `C` channels: (batch, C, height, width).
pub type Image<const C: usize, E, D, T = NoneTape> =
    Tensor<(usize, Const<C>, usize, usize), E, D, T>;
/// Convolution weights: (out channels, in channels, K, K).
pub type ConvWeight<const O: usize, const I: usize, const K: usize, E, D> =
    Tensor<(Const<O>, Const<I>, Const<K>, Const<K>), E, D>;
/// One bias per output channel.
pub type Bias<const O: usize, E, D> = Tensor<(Const<O>,), E, D>;

/// The sizes of a batch of images as plain numbers, channels included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NchwShape {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl NchwShape {
    /// The sizes of an [`Image`] shape.
    pub fn of<const C: usize>(shape: &(usize, Const<C>, usize, usize)) -> Self {
        let (batch, _, height, width) = *shape;
        NchwShape {
            batch,
            channels: C,
            height,
            width,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.batch * self.channels * self.height * self.width
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index of element (b, c, y, x).
    pub fn index(&self, b: usize, c: usize, y: usize, x: usize) -> usize {
        ((b * self.channels + c) * self.height + y) * self.width + x
    }

    /// The channel of the element at `index`.
    pub fn channel_of(&self, index: usize) -> usize {
        (index / (self.height * self.width)) % self.channels
    }
}

crate::named_enum! {
    /// The devices our ops (and so every model) run on.
    pub enum DeviceKind: "device" {
        Cpu => "cpu",
        Cuda => "cuda",
    }
}

/// What can go wrong in an op: shapes the op does not define, or the device failing.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("2x2 max-pool needs an even height and width, got {height}x{width}")]
    OddPoolSize { height: usize, width: usize },
    #[error("same-padding convolution needs an odd kernel size, got {0}")]
    EvenKernel(usize),
    #[error("{op}: {input} of shape {found}, expected {expected}")]
    ShapeMismatch {
        op: &'static str,
        input: &'static str,
        expected: String,
        found: String,
    },
    #[error(
        "batch norm: training needs more than one value per channel (batch x height x width), got {0}"
    )]
    SingleValueBatch(usize),
    #[error("the {algorithm:?} convolution does not run on the {device} device")]
    AlgorithmUnavailable {
        algorithm: ConvAlgorithm,
        device: DeviceKind,
    },
    #[error("device error: {0}")]
    Device(String),
}

impl OpError {
    pub(crate) fn device(error: impl std::fmt::Debug) -> Self {
        OpError::Device(format!("{error:?}"))
    }
}

/// [`OpError::ShapeMismatch`] unless the `input` of `op` has the `expected` shape.
fn check_shape<S: dfdx::shapes::Shape>(
    op: &'static str,
    input: &'static str,
    expected: &S,
    found: &S,
) -> Result<(), OpError> {
    if expected != found {
        return Err(OpError::ShapeMismatch {
            op,
            input,
            expected: format!("{:?}", expected.concrete()),
            found: format!("{:?}", found.concrete()),
        });
    }
    Ok(())
}

/// The element types our kernels support (each has SIMD vector types, see `simd`).
pub trait Float: Dtype + num_traits::Float + Send + Sync + simd::Element {
    /// `x` as this type; for constants and hyperparameters, which are finite.
    fn of(x: f64) -> Self {
        <Self as num_traits::NumCast>::from(x).expect("a finite constant")
    }
}
impl Float for f32 {}
impl Float for f64 {}

/// Devices that run our spatial ops, convolution and max-pooling.
pub trait SpatialOps<E: Float>: ConvOps<E> + ConvBatchNormOps<E> + PoolOps<E> {}
impl<E: Float, D: ConvOps<E> + ConvBatchNormOps<E> + PoolOps<E>> SpatialOps<E> for D {}

/// A tensor's elements in row-major order. Unlike dfdx's `as_vec` (which panics there), also
/// for tensors without elements, such as the 0-unit channel-attention MLP of width-4 models.
pub fn host_values<S: dfdx::shapes::Shape, E: Dtype, D: Storage<E>, T>(
    t: &Tensor<S, E, D, T>,
) -> Vec<E> {
    use dfdx::shapes::HasShape;
    if t.shape().num_elements() == 0 {
        Vec::new()
    } else {
        t.as_vec()
    }
}
