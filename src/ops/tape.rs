//! The tape protocol of our CPU ops, in one place.
//!
//! An op splits the tape off each traced input ([`OpTape::split`], [`OpTape::merge`] for
//! further inputs, whose tapes are merged), reads its weights by reference ([`Input::of`]),
//! runs its forward kernel on the host copies, and hands the output `Vec` and its
//! [`Backward`] pass to [`OpTape::finish`], which wraps the `Vec` as the output tensor without
//! a copy, records the backward pass on the tape and puts the tape on the output.
//!
//! dfdx gives no borrowed view of a tensor's storage outside the crate, so each input is copied
//! out once (one memcpy), and the backward pass keeps that copy instead of the tensor. It reads
//! and writes gradient buffers in place: the output's gradient is moved out of dfdx's
//! `Gradients` (read by this backward pass alone: every later use has already added into it),
//! and so are the buffers of the inputs, for the time of the pass, so that it can hold several
//! at once; they are put back afterwards. Backward passes only ever add into those buffers, so
//! a weight used several times receives the sum of its uses' gradients.
//!
//! Everything here is generic over the element type and, where unavoidable, over the shape or
//! tape, but never over an op's channel counts: the per-instantiation code of an op is a few
//! lines.

use super::profile::{timed, Work};
use super::{Float, OpError};
use dfdx::prelude::{
    Cpu, Gradients, HasShape, Merge, PutTape, ReshapeTo, Shape, SplitTape, Tape, Tensor,
    TensorFromVec,
};
use dfdx::tensor::CpuError;

/// Finds a tensor's gradient buffer in the tape's gradients, allocating it (zeros) on first use.
type Locate<E> = Box<dyn Fn(&mut Gradients<E, Cpu>) -> Result<&mut Vec<E>, CpuError>>;

/// Where a tensor's gradient goes, whatever the tensor's shape.
pub(super) struct GradientSlot<E: Float> {
    locate: Locate<E>,
    len: usize,
}

impl<E: Float> GradientSlot<E> {
    fn of<S: Shape>(t: &Tensor<S, E, Cpu>) -> Self {
        let ghost = t.ghost();
        GradientSlot {
            locate: Box::new(move |grads| Ok(&mut **grads.get_or_alloc_mut(&ghost)?)),
            len: t.shape().num_elements(),
        }
    }
}

/// An input of an op, its tape split off: its values, copied to the host, and where its
/// gradient goes.
pub(super) struct Input<E: Float> {
    pub(super) values: Vec<E>,
    pub(super) gradient: GradientSlot<E>,
}

impl<E: Float> Input<E> {
    /// A tensor without a tape, such as a weight read by reference: its gradient goes to its
    /// own id, recorded on the tape of the op's traced inputs.
    pub(super) fn of<S: Shape>(t: &Tensor<S, E, Cpu>) -> Self {
        Input {
            values: host_copy(t),
            gradient: GradientSlot::of(t),
        }
    }
}

/// The elements of `t` in row-major order, in one memcpy: `contiguous` (free when already
/// contiguous) makes the physical order the logical one.
pub(super) fn host_copy<S: Shape, E: Float>(t: &Tensor<S, E, Cpu>) -> Vec<E> {
    timed(Work::HostCopies, || {
        let contiguous = t.clone().contiguous();
        let mut values = vec![E::zero(); t.shape().num_elements()];
        contiguous.copy_into(&mut values);
        values
    })
}

/// An op's backward pass: the gradient buffers it adds into, in order (`None` for an absent
/// optional input, which gets an empty buffer), and the step that does so given the output
/// gradient.
pub(super) struct Backward<E: Float, const N: usize> {
    gradients: [Option<GradientSlot<E>>; N],
    step: Step<E, N>,
}

/// What a backward pass does with the output gradient and the gradient buffers it asked for.
type Step<E, const N: usize> = Box<dyn FnOnce(&mut [E], [&mut [E]; N])>;

impl<E: Float, const N: usize> Backward<E, N> {
    pub(super) fn new(
        gradients: [Option<GradientSlot<E>>; N],
        step: impl FnOnce(&mut [E], [&mut [E]; N]) + 'static,
    ) -> Self {
        Backward {
            gradients,
            step: Box::new(step),
        }
    }

    /// Runs the step with the gradient of `output` and the buffers asked for. An input passed
    /// twice (the same tensor, so the same buffer) gets a second, zeroed buffer for its second
    /// place, added into the first afterwards.
    fn run(self, output: &GradientSlot<E>, grads: &mut Gradients<E, Cpu>) -> Result<(), CpuError> {
        let mut grad_out = std::mem::take((output.locate)(grads)?);
        let mut buffers: [Vec<E>; N] = std::array::from_fn(|_| Vec::new());
        let mut repeated = [false; N];
        for ((slot, buffer), repeated) in self.gradients.iter().zip(&mut buffers).zip(&mut repeated)
        {
            if let Some(slot) = slot {
                *buffer = std::mem::take((slot.locate)(grads)?);
                // A buffer already moved out, of an earlier place of the same tensor.
                if buffer.is_empty() && slot.len > 0 {
                    *buffer = vec![E::zero(); slot.len];
                    *repeated = true;
                }
            }
        }
        (self.step)(&mut grad_out, buffers.each_mut().map(|b| b.as_mut_slice()));
        let mut second_places = Vec::new();
        for ((slot, buffer), repeated) in self.gradients.iter().zip(buffers).zip(repeated) {
            match slot {
                Some(slot) if repeated => second_places.push((slot, buffer)),
                Some(slot) => *(slot.locate)(grads)? = buffer,
                None => {}
            }
        }
        for (slot, buffer) in second_places {
            let sum = (slot.locate)(grads)?;
            sum.iter_mut().zip(buffer).for_each(|(s, v)| *s += v);
        }
        Ok(())
    }
}

/// The tape of an op's traced inputs, merged, and their device: what the output carries on.
pub(super) struct OpTape<T> {
    tape: T,
    device: Cpu,
}

impl<T> OpTape<T> {
    /// Splits the tape off the op's first traced input `x`.
    pub(super) fn split<S: Shape, E: Float>(
        x: Tensor<S, E, Cpu, T>,
    ) -> Result<(Self, Input<E>), OpError>
    where
        T: Tape<E, Cpu>,
    {
        // A non-contiguous input becomes contiguous on its own tape, so that its gradient has
        // the layout the kernels write; a contiguous one is moved unchanged.
        let (x, tape) = x.try_contiguous().map_err(OpError::device)?.split_tape();
        let device = x.device().clone();
        Ok((OpTape { tape, device }, Input::of(&x)))
    }

    /// Splits the tape off a further traced input `y` and merges it into this one.
    pub(super) fn merge<S: Shape, E: Float, R: Tape<E, Cpu>>(
        self,
        y: Tensor<S, E, Cpu, R>,
    ) -> Result<(Self, Input<E>), OpError>
    where
        T: Merge<R>,
    {
        let (other, y) = OpTape::split(y)?;
        let tape = self.tape.merge(other.tape);
        Ok((
            OpTape {
                tape,
                device: self.device,
            },
            y,
        ))
    }

    /// The op's output: `values` as a tensor of `shape` (moved, not copied), with `backward`
    /// recorded on the tape it carries.
    pub(super) fn finish<S: Shape, E: Float, const N: usize>(
        self,
        values: Vec<E>,
        shape: S,
        backward: Backward<E, N>,
    ) -> Result<Tensor<S, E, Cpu, T>, OpError>
    where
        T: Tape<E, Cpu>,
    {
        let out = self
            .device
            .try_tensor_from_vec(values, shape)
            .map_err(OpError::device)?;
        let output = GradientSlot::of(&out);
        let mut tape = self.tape;
        tape.add_backward_op(move |grads| backward.run(&output, grads));
        Ok(out.put_tape(tape))
    }
}
