//! Counting a model's cost from its structure: the learnable parameters come from dfdx
//! (`num_trainable_params`); this module counts the multiply-accumulates actually executed
//! and the paper's "FLOPs", the convention of the torchstat tool the authors used.
//!
//! torchstat hooks every leaf module and keeps the values of the module's LAST call, so a
//! module applied several times (RuCB's shared convolutions, one max-pool or upsampling
//! module reused everywhere) counts once. Per module it counts (input 1 x C_in x H x W):
//! - Conv2d: K^2 * C_in * C_out * H * W, plus C_out * H * W for the bias;
//! - BatchNorm2d: 2 * C * H * W; ReLU: C * H * W; MaxPool2d: elements of its input;
//! - Upsample: H * W of its output (torchstat reads `out[0].shape[1:]`: channels are dropped);
//! - everything else (sigmoid, global pooling, products, sums, concatenation): 0.

/// Running totals of a complexity walk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// torchstat-style FLOPs: every module counted once.
    pub paper_flops: u64,
    /// Multiply-accumulates of convolution and attention weights actually executed (biases
    /// excluded), every pass counted.
    pub macs: u64,
}

impl Tally {
    /// A K x K convolution (`bias` or not) from `input` to `output` channels at `height` x
    /// `width`. `counted_by_torchstat` is false for the second and later uses of a shared module.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        input: usize,
        output: usize,
        kernel: usize,
        height: usize,
        width: usize,
        bias: bool,
        counted_by_torchstat: bool,
    ) {
        let pixels = (height * width) as u64;
        let macs = (kernel * kernel * input * output) as u64 * pixels;
        self.macs += macs;
        if counted_by_torchstat {
            self.paper_flops += macs + if bias { output as u64 * pixels } else { 0 };
        }
    }

    /// A BatchNorm2d over `channels` x `height` x `width`.
    pub fn batch_norm(&mut self, channels: usize, height: usize, width: usize) {
        self.paper_flops += 2 * (channels * height * width) as u64;
    }

    /// A ReLU module over `channels` x `height` x `width`.
    pub fn relu(&mut self, channels: usize, height: usize, width: usize) {
        self.paper_flops += (channels * height * width) as u64;
    }

    /// Something torchstat counts that executes no weights (pooling, upsampling).
    pub fn paper_only(&mut self, flops: usize) {
        self.paper_flops += flops as u64;
    }
}

/// A block that can add its cost for one pass at a given input size to a [`Tally`].
pub trait Complexity {
    /// Adds the cost of applying the block in pass `pass` to a `height` x `width` input.
    fn tally(&self, pass: usize, height: usize, width: usize, tally: &mut Tally);
}
