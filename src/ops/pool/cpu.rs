//! Max-pooling on the CPU: our kernels ([`super::kernels`]) through the tape helper.

use super::{check_size, kernels, PoolOps};
use crate::ops::profile::{timed, Work};
use crate::ops::tape::{Backward, Input, OpTape};
use crate::ops::{Float, Image, NchwShape, OpError};
use dfdx::prelude::{Const, Cpu, HasShape, Tape};

impl<E: Float> PoolOps<E> for Cpu {
    fn try_max_pool2x2<const C: usize, T: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        let shape = NchwShape::of(x.shape());
        check_size(shape.height, shape.width)?;
        let (tape, x) = OpTape::split(x)?;
        let (out, backward) = max_pool2x2(shape, x);
        let out_shape = (shape.batch, Const, shape.height / 2, shape.width / 2);
        tape.finish(out, out_shape, backward)
    }
}

/// The forward kernel, which remembers each window's winner, and the backward pass that
/// routes each gradient to it.
fn max_pool2x2<E: Float>(shape: NchwShape, x: Input<E>) -> (Vec<E>, Backward<E, 1>) {
    let NchwShape { height, width, .. } = shape;
    let planes = shape.batch * shape.channels;
    let (values, winners) = timed(Work::Pooling, || {
        kernels::max_pool2x2_forward(planes, height, width, &x.values)
    });
    let backward = Backward::new([Some(x.gradient)], move |grad_out, [grad_input]| {
        timed(Work::Pooling, || {
            kernels::max_pool2x2_backward(height, width, &winners, grad_out, grad_input)
        });
    });
    (values, backward)
}
