//! The CPU device's kernels, registered on dfdx's tape.

use super::reference::{self, ConvShape};
use super::{Bias, ConvWeight, Float, Image, OpError, SpatialOps};
use dfdx::prelude::{
    Const, Cpu, HasShape, PutTape, ReshapeTo, Shape, SplitTape, Tape, Tensor, TensorFromVec,
};

/// The elements of `t` in row-major order. dfdx exposes a tensor's storage only by copy;
/// `contiguous` (free when already contiguous) makes that physical copy the logical order.
pub(super) fn host_data<S: Shape, E: Float>(t: &Tensor<S, E, Cpu>) -> Vec<E> {
    let t = t.clone().contiguous();
    let mut out = vec![E::zero(); t.shape().num_elements()];
    t.copy_into(&mut out);
    out
}

/// Moves a gradient buffer out of dfdx's `Gradients` for the time of a kernel, so that
/// several buffers can be used at once; the caller puts it back. An op output's gradient is
/// read by that op's backward pass alone (every later use has already added into it), so it
/// need not be put back.
macro_rules! take_grad {
    ($grads:expr, $tensor:expr) => {
        std::mem::take::<Vec<_>>($grads.get_or_alloc_mut($tensor)?)
    };
}
pub(super) use take_grad;

impl<E: Float> SpatialOps<E> for Cpu {
    fn try_conv2d<const I: usize, const O: usize, const K: usize, T: Tape<E, Self>>(
        x: Image<I, E, Self, T>,
        weight: &ConvWeight<O, I, K, E, Self>,
        bias: Option<&Bias<O, E, Self>>,
    ) -> Result<Image<O, E, Self, T>, OpError> {
        if K % 2 == 0 {
            return Err(OpError::EvenKernel(K));
        }
        let (batch, _, height, width) = *x.shape();
        let shape = ConvShape {
            batch,
            in_channels: I,
            out_channels: O,
            height,
            width,
            kernel: K,
        };
        let (x, mut tape) = x.split_tape();
        let bias_data = bias.map(host_data);
        let out = reference::conv2d_forward(
            shape,
            &host_data(&x),
            &host_data(weight),
            bias_data.as_deref(),
        );
        let out = x
            .device()
            .try_tensor_from_vec(out, (batch, Const::<O>, height, width))
            .map_err(OpError::device)?;
        let (out_ghost, weight, bias) = (out.ghost(), weight.clone(), bias.cloned());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x)?;
            grads.try_alloc_for(&weight)?;
            let grad_out = take_grad!(grads, &out_ghost);
            let mut grad_input = take_grad!(grads, &x);
            let mut grad_weight = take_grad!(grads, &weight);
            let mut grad_bias = match &bias {
                Some(bias) => Some(take_grad!(grads, bias)),
                None => None,
            };
            reference::conv2d_backward(
                shape,
                &host_data(&x),
                &host_data(&weight),
                &grad_out,
                &mut grad_input,
                &mut grad_weight,
                grad_bias.as_deref_mut(),
            );
            **grads.get_or_alloc_mut(&x)? = grad_input;
            **grads.get_or_alloc_mut(&weight)? = grad_weight;
            if let (Some(bias), Some(grad_bias)) = (&bias, grad_bias) {
                **grads.get_or_alloc_mut(bias)? = grad_bias;
            }
            Ok(())
        });
        Ok(out.put_tape(tape))
    }

    fn try_max_pool2x2<const C: usize, T: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        let (batch, _, height, width) = *x.shape();
        if height % 2 != 0 || width % 2 != 0 {
            return Err(OpError::OddPoolSize { height, width });
        }
        let (x, mut tape) = x.split_tape();
        let (values, argmax) =
            reference::max_pool2x2_forward(batch * C, height, width, &host_data(&x));
        let out = x
            .device()
            .try_tensor_from_vec(values, (batch, Const::<C>, height / 2, width / 2))
            .map_err(OpError::device)?;
        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_ghost)?;
            let grad_out = take_grad!(grads, &out_ghost);
            reference::max_pool2x2_backward(&argmax, &grad_out, grads.get_or_alloc_mut(&x_ghost)?);
            Ok(())
        });
        Ok(out.put_tape(tape))
    }
}
