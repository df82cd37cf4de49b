//! Bilinear upsampling by 2 with aligned corners, the step before every DIAAM of RRCA-Net's
//! decoder (PyTorch's `interpolate(scale_factor=2, mode="bilinear", align_corners=True)`):
//! output pixel (oy, ox) samples the input at (oy (H-1)/(2H-1), ox (W-1)/(2W-1)).
//!
//! The CPU kernel is separable: each input row is interpolated along the width once (a
//! gather through precomputed taps), and each output row is then a blend of two such rows
//! (a vectorised loop). The backward pass runs the transposed steps in reverse order. Other
//! devices use dfdx's `upscale2d` ([`composed_upsample_bilinear2x`]).

mod composed;
mod cpu;
mod kernels;
pub mod reference;
#[cfg(test)]
mod tests;

pub use composed::composed_upsample_bilinear2x;

use super::{Float, Image, OpError};
use dfdx::prelude::{Storage, Tape};

/// Devices that run bilinear upsampling.
pub trait UpsampleOps<E: Float>: Storage<E> {
    /// Bilinear upsampling of `x` to twice its height and width, corners aligned.
    fn try_upsample_bilinear2x<const C: usize, T: Tape<E, Self> + 'static>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError>;
}

/// Bilinear upsampling of `x` by 2 (see [`UpsampleOps::try_upsample_bilinear2x`]).
pub fn upsample_bilinear2x<const C: usize, E: Float, D: UpsampleOps<E>, T: Tape<E, D> + 'static>(
    x: Image<C, E, D, T>,
) -> Result<Image<C, E, D, T>, OpError> {
    D::try_upsample_bilinear2x(x)
}

/// Source row (or column) of output position `o` when `input` positions are stretched to
/// `output` ones with the corner pixels aligned: (lower neighbour, upper neighbour, weight
/// of the upper one).
pub fn align_corners_source(o: usize, input: usize, output: usize) -> (usize, usize, f64) {
    if output <= 1 {
        return (0, 0, 0.0);
    }
    let position = o as f64 * (input - 1) as f64 / (output - 1) as f64;
    let lower = (position.floor() as usize).min(input - 1);
    let upper = (lower + 1).min(input - 1);
    (lower, upper, position - lower as f64)
}
