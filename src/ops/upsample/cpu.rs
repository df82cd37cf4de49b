//! Bilinear upsampling on the CPU: the separable kernel ([`super::kernels`]) through the tape
//! helper.

use super::kernels::Plane;
use super::UpsampleOps;
use crate::ops::profile::{timed, Work};
use crate::ops::tape::{Backward, Input, OpTape};
use crate::ops::{Float, Image, NchwShape, OpError};
use dfdx::prelude::{Const, Cpu, HasShape, Tape};

impl<E: Float> UpsampleOps<E> for Cpu {
    fn try_upsample_bilinear2x<const C: usize, T: Tape<E, Self> + 'static>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        let shape = NchwShape::of(x.shape());
        let (tape, x) = OpTape::split(x)?;
        let (out, backward) = timed(Work::Upsampling, || upsample_bilinear2x_on_host(shape, x));
        let out_shape = (shape.batch, Const, 2 * shape.height, 2 * shape.width);
        tape.finish(out, out_shape, backward)
    }
}

/// The upsampled planes, and the backward pass that runs the transposed steps.
fn upsample_bilinear2x_on_host<E: Float>(
    shape: NchwShape,
    x: Input<E>,
) -> (Vec<E>, Backward<E, 1>) {
    let plane = Plane::<E>::new(shape.height, shape.width);
    let out = plane.upsample(&x.values);
    let backward = Backward::new([Some(x.gradient)], move |grad_out, [grad_x]| {
        timed(Work::Upsampling, || {
            plane.add_input_gradient(grad_out, grad_x)
        });
    });
    (out, backward)
}
