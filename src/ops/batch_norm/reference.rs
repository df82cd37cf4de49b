//! Naive batch normalisation on plain NCHW slices, in f64: the definition the kernels and the
//! composed version are tested against. Written for clarity, not speed.

use crate::ops::NchwShape;

/// Per-channel mean and biased variance over (batch, height, width).
pub fn channel_mean_var(shape: NchwShape, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = (shape.batch * shape.height * shape.width) as f64;
    let mut sum = vec![0.0; shape.channels];
    for (i, v) in x.iter().enumerate() {
        sum[shape.channel_of(i)] += v;
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let mut squares = vec![0.0; shape.channels];
    for (i, v) in x.iter().enumerate() {
        let c = shape.channel_of(i);
        squares[c] += (v - mean[c]).powi(2);
    }
    (mean, squares.iter().map(|s| s / n).collect())
}

/// Batch normalisation followed by an optional residual add and ReLU:
/// `act(scale * (x - mean) / sqrt(var + eps) + bias + shortcut)`, with the given statistics.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormReference<'a> {
    pub shape: NchwShape,
    pub mean: &'a [f64],
    pub var: &'a [f64],
    pub scale: &'a [f64],
    pub bias: &'a [f64],
    pub epsilon: f64,
    /// Whether `mean` and `var` are the batch's own (training), so their gradients count.
    pub batch_statistics: bool,
    pub relu: bool,
}

/// Gradients of a [`BatchNormReference`] for one output gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormGradients {
    pub x: Vec<f64>,
    pub scale: Vec<f64>,
    pub bias: Vec<f64>,
    pub shortcut: Vec<f64>,
}

impl BatchNormReference<'_> {
    fn normalised(&self, x: &[f64], i: usize) -> f64 {
        let c = self.shape.channel_of(i);
        (x[i] - self.mean[c]) / (self.var[c] + self.epsilon).sqrt()
    }

    /// The output for input `x` and optional `shortcut`.
    pub fn forward(&self, x: &[f64], shortcut: Option<&[f64]>) -> Vec<f64> {
        (0..x.len())
            .map(|i| {
                let c = self.shape.channel_of(i);
                let y = self.scale[c] * self.normalised(x, i)
                    + self.bias[c]
                    + shortcut.map_or(0.0, |s| s[i]);
                if self.relu {
                    y.max(0.0)
                } else {
                    y
                }
            })
            .collect()
    }

    /// The gradients of `sum(forward(x, shortcut) * grad_out)`.
    pub fn backward(
        &self,
        x: &[f64],
        shortcut: Option<&[f64]>,
        grad_out: &[f64],
    ) -> BatchNormGradients {
        let out = self.forward(x, shortcut);
        // Gradient at the normalised-and-shifted value, before the ReLU.
        let grad_pre: Vec<f64> = (0..x.len())
            .map(|i| {
                if self.relu && out[i] <= 0.0 {
                    0.0
                } else {
                    grad_out[i]
                }
            })
            .collect();
        let channels = self.shape.channels;
        let n = (self.shape.batch * self.shape.height * self.shape.width) as f64;
        let (mut scale, mut bias) = (vec![0.0; channels], vec![0.0; channels]);
        for (i, g) in grad_pre.iter().enumerate() {
            let c = self.shape.channel_of(i);
            bias[c] += g;
            scale[c] += g * self.normalised(x, i);
        }
        let x_grad = (0..x.len())
            .map(|i| {
                let c = self.shape.channel_of(i);
                let gain = self.scale[c] / (self.var[c] + self.epsilon).sqrt();
                if self.batch_statistics {
                    // d/dx of the normalisation through x, the mean and the variance.
                    gain * (grad_pre[i] - bias[c] / n - self.normalised(x, i) * scale[c] / n)
                } else {
                    gain * grad_pre[i]
                }
            })
            .collect();
        BatchNormGradients {
            x: x_grad,
            scale,
            bias,
            shortcut: grad_pre,
        }
    }
}
