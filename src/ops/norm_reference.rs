//! Naive batch normalisation, bilinear upsampling and DIAAM aggregation on plain NCHW
//! slices: the definitions the fast kernels of [`super::batch_norm`], [`super::upsample`] and
//! [`super::attention`] are tested against. Written for clarity, not speed, in f64.

/// Sizes of an NCHW tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NchwShape {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl NchwShape {
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

/// Bilinear upsampling to twice the height and width with aligned corners (PyTorch's
/// `interpolate(scale_factor=2, mode="bilinear", align_corners=True)`).
pub fn upsample_bilinear2x(shape: NchwShape, x: &[f64]) -> Vec<f64> {
    let (oh, ow) = (2 * shape.height, 2 * shape.width);
    let mut out = vec![0.0; x.len() * 4];
    for_each_tap(shape, |o, i, w| out[o] += w * x[i]);
    debug_assert_eq!(out.len(), shape.batch * shape.channels * oh * ow);
    out
}

/// The input gradient of [`upsample_bilinear2x`] for one output gradient.
pub fn upsample_bilinear2x_backward(shape: NchwShape, grad_out: &[f64]) -> Vec<f64> {
    let mut grad = vec![0.0; shape.len()];
    for_each_tap(shape, |o, i, w| grad[i] += w * grad_out[o]);
    grad
}

/// Visits every (output index, input index, weight) of the 2x bilinear upsampling.
fn for_each_tap(shape: NchwShape, mut visit: impl FnMut(usize, usize, f64)) {
    let (oh, ow) = (2 * shape.height, 2 * shape.width);
    let out_shape = NchwShape {
        height: oh,
        width: ow,
        ..shape
    };
    for b in 0..shape.batch {
        for c in 0..shape.channels {
            for oy in 0..oh {
                let (y0, y1, wy) = align_corners_source(oy, shape.height, oh);
                for ox in 0..ow {
                    let (x0, x1, wx) = align_corners_source(ox, shape.width, ow);
                    let o = out_shape.index(b, c, oy, ox);
                    visit(o, shape.index(b, c, y0, x0), (1.0 - wy) * (1.0 - wx));
                    visit(o, shape.index(b, c, y0, x1), (1.0 - wy) * wx);
                    visit(o, shape.index(b, c, y1, x0), wy * (1.0 - wx));
                    visit(o, shape.index(b, c, y1, x1), wy * wx);
                }
            }
        }
    }
}

/// The DIAAM aggregation `low + high * weights[b, c] * sigmoid(gate_logits)`, `weights` being
/// (batch, channels).
pub fn attention_aggregation(
    shape: NchwShape,
    low: &[f64],
    high: &[f64],
    weights: &[f64],
    gate_logits: &[f64],
) -> Vec<f64> {
    (0..shape.len())
        .map(|i| low[i] + high[i] * weights[weight_index(shape, i)] * sigmoid(gate_logits[i]))
        .collect()
}

/// Gradients of [`attention_aggregation`] for one output gradient: (low, high, weights,
/// gate logits).
pub fn attention_aggregation_backward(
    shape: NchwShape,
    high: &[f64],
    weights: &[f64],
    gate_logits: &[f64],
    grad_out: &[f64],
) -> [Vec<f64>; 4] {
    let mut grad_weights = vec![0.0; weights.len()];
    let (mut grad_high, mut grad_gate) = (vec![0.0; shape.len()], vec![0.0; shape.len()]);
    for i in 0..shape.len() {
        let (w, s) = (weights[weight_index(shape, i)], sigmoid(gate_logits[i]));
        grad_high[i] = grad_out[i] * w * s;
        grad_weights[weight_index(shape, i)] += grad_out[i] * high[i] * s;
        grad_gate[i] = grad_out[i] * high[i] * w * s * (1.0 - s);
    }
    [grad_out.to_vec(), grad_high, grad_weights, grad_gate]
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The (batch, channel) index of the element at `index`.
fn weight_index(shape: NchwShape, index: usize) -> usize {
    index / (shape.height * shape.width)
}
