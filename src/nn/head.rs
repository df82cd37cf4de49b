//! Output heads (paper Fig. 3, FSM): the feature stacking module (FSM) that concatenates every
//! pass' decoder output, the ablations that use the last pass only or supervise every
//! pass (deep supervision), and the ResUNet baseline's bare output conv ([`OutputConv`]).

use super::{
    concat_channels, tensor_collection, unsized_channels, Backend, Block, Conv1x1, Mode,
    ResidualPair, Result,
};
use crate::ops::{Float, Image, OpError};
use dfdx::prelude::{Dtype, Storage};

/// Turns the decoder outputs of all passes (`F0` channels each, pass 0 first) into logit maps,
/// the prediction last.
pub trait Head<const F0: usize, E: Float, D: Backend<E>> {
    /// The logit maps for the loss, the prediction last.
    fn forward<T: Mode<E, D>>(
        &mut self,
        passes: Vec<Image<F0, E, D, T>>,
    ) -> Result<Vec<Image<1, E, D, T>>>;

    /// The final conv1x1 producing the logits.
    fn output_conv(&mut self) -> &mut Conv1x1<F0, 1, E, D>;
}

/// FSM: concatenate the `P` decoder outputs (`STACK = P * F0` channels), a residual pair back
/// to `F0` channels, and a conv1x1 to one logit map.
#[derive(Clone, Debug)]
pub struct FeatureStacking<
    const F0: usize,
    const STACK: usize,
    const P: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// Residual pair `STACK` -> `F0` (with a projection shortcut).
    pub fuse: ResidualPair<STACK, F0, E, D>,
    /// Conv1x1 to the logits.
    pub output: Conv1x1<F0, 1, E, D>,
}

/// A residual pair and a conv1x1 applied to the last pass only (`EVERY_PASS = false`, the
/// "without FSM" ablation) or to every pass with one shared head (`EVERY_PASS = true`, deep
/// supervision: the loss averages over passes, the prediction is the last).
#[derive(Clone, Debug)]
pub struct PassHead<const F0: usize, const EVERY_PASS: bool, E: Dtype, D: Storage<E>> {
    /// Residual pair `F0` -> `F0`.
    pub refine: ResidualPair<F0, F0, E, D>,
    /// Conv1x1 to the logits.
    pub output: Conv1x1<F0, 1, E, D>,
}

/// The authors' ResUNet head (`final`): a conv1x1 from the last pass' decoder output to the
/// logits, nothing before it.
#[derive(Clone, Debug)]
pub struct OutputConv<const F0: usize, E: Dtype, D: Storage<E>> {
    /// Conv1x1 to the logits.
    pub output: Conv1x1<F0, 1, E, D>,
}

impl<const F0: usize, E: Float, D: Backend<E>> Head<F0, E, D> for OutputConv<F0, E, D> {
    fn forward<T: Mode<E, D>>(
        &mut self,
        mut passes: Vec<Image<F0, E, D, T>>,
    ) -> Result<Vec<Image<1, E, D, T>>> {
        let last = passes
            .pop()
            .ok_or_else(|| OpError::Device("no pass to predict from".into()))?;
        Ok(vec![self.output.forward(last)?])
    }

    fn output_conv(&mut self) -> &mut Conv1x1<F0, 1, E, D> {
        &mut self.output
    }
}

impl<const F0: usize, const STACK: usize, const P: usize, E: Float, D: Backend<E>> Head<F0, E, D>
    for FeatureStacking<F0, STACK, P, E, D>
{
    fn forward<T: Mode<E, D>>(
        &mut self,
        passes: Vec<Image<F0, E, D, T>>,
    ) -> Result<Vec<Image<1, E, D, T>>> {
        const { assert!(STACK == P * F0, "FSM width must be passes x F0") };
        if passes.len() != P {
            return Err(OpError::Device(format!(
                "FSM expects {P} passes, got {}",
                passes.len()
            )));
        }
        let stacked = concat_channels::<STACK, E, D, T>(
            passes
                .into_iter()
                .map(unsized_channels)
                .collect::<Result<_>>()?,
        )?;
        let fused = self.fuse.forward(stacked)?;
        Ok(vec![self.output.forward(fused)?])
    }

    fn output_conv(&mut self) -> &mut Conv1x1<F0, 1, E, D> {
        &mut self.output
    }
}

impl<const F0: usize, const EVERY_PASS: bool, E: Float, D: Backend<E>> Head<F0, E, D>
    for PassHead<F0, EVERY_PASS, E, D>
{
    fn forward<T: Mode<E, D>>(
        &mut self,
        mut passes: Vec<Image<F0, E, D, T>>,
    ) -> Result<Vec<Image<1, E, D, T>>> {
        if !EVERY_PASS {
            passes.drain(..passes.len().saturating_sub(1));
        }
        passes
            .into_iter()
            .map(|out| self.output.forward(self.refine.forward(out)?))
            .collect()
    }

    fn output_conv(&mut self) -> &mut Conv1x1<F0, 1, E, D> {
        &mut self.output
    }
}

tensor_collection!(FeatureStacking<const F0: usize, const STACK: usize, const P: usize> {
    fuse,
    output,
});
tensor_collection!(PassHead<const F0: usize, const EVERY_PASS: bool> { refine, output });
tensor_collection!(OutputConv<const F0: usize> { output });
