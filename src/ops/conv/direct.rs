//! Direct same-padding convolution on the CPU: forward, input gradient and weight/bias gradient.
//!
//! RRCA-Net spends most of its time in 3 x 3 convolutions with few channels (8 and 16) on large
//! images, where an im2col matrix is K² times the image and the matrix product is starved by
//! memory. We convolve directly instead, in register tiles: a tile holds a strip of two vectors
//! of neighbouring output pixels of one row for a block of output channels; each input vector
//! loaded into a register serves the whole block. The work is split into bands of rows, one rayon task
//! per (image, band); a task first copies its rows (plus the kernel's halo) into a zero-padded
//! scratch band that fits the core's L2 cache, so the inner loops need no bounds tests.
//!
//! The input gradient of a convolution is the convolution of the output gradient with the
//! flipped, transposed kernel, so the forward machinery serves it too; the weight gradient
//! correlates input with output gradient, accumulated per task and summed.

use super::ConvShape;
use crate::ops::simd::{dispatch, Kernel, Vector};
use crate::ops::Float;
use rayon::prelude::*;

/// Vectors of neighbouring output pixels of one row that a register tile covers.
const STRIP_VECTORS: usize = 2;
/// The widest strip (two 16-lane AVX-512 vectors); padded rows are whole multiples of it, so
/// every narrower strip width divides them too.
const STRIP: usize = 32;
/// Output channels per register tile of the convolution (12 spilled and measured slower).
const CONV_BLOCK: usize = 8;
/// Output channels per register tile of the weight gradient (6 measured faster than 4 and 8).
const WEIGHT_GRAD_BLOCK: usize = 6;
/// Scratch bytes per task we aim to keep within a core's L2 cache.
const BAND_BYTES: usize = 384 * 1024;

/// `out = finish(bias + conv(input, weight))` for a K x K weight of shape (out, in, K, K).
pub(crate) fn conv2d_forward<E: Float, const K: usize>(
    shape: ConvShape,
    input: &[E],
    weight: &[E],
    bias: Option<&[E]>,
    finish: Finish<'_, E>,
) -> Vec<E> {
    let packed = PackedWeights::new::<K>(shape.out_channels, shape.in_channels, |o, c, ky, kx| {
        weight[((o * shape.in_channels + c) * K + ky) * K + kx]
    });
    let mut out = vec![E::zero(); shape.batch * shape.out_channels * shape.height * shape.width];
    convolve::<E, K>(
        Planes::new(shape, shape.in_channels),
        input,
        &packed,
        Init::Bias(bias),
        finish,
        &mut out,
    );
    out
}

/// Adds the gradient with respect to the convolution's input to `grad_input`.
pub(super) fn conv2d_backward_input<E: Float, const K: usize>(
    shape: ConvShape,
    weight: &[E],
    grad_out: &[E],
    grad_input: &mut [E],
) {
    // The flipped, transposed kernel: its "output" channels are the input channels.
    let packed = PackedWeights::new::<K>(shape.in_channels, shape.out_channels, |c, o, ky, kx| {
        weight[((o * shape.in_channels + c) * K + (K - 1 - ky)) * K + (K - 1 - kx)]
    });
    convolve::<E, K>(
        Planes::new(shape, shape.out_channels),
        grad_out,
        &packed,
        Init::Accumulate,
        Finish::Store,
        grad_input,
    );
}

/// Adds the gradients with respect to the weight (out, in, K, K) and bias to `grad_weight` and
/// `grad_bias`.
pub(super) fn conv2d_backward_weight<E: Float, const K: usize>(
    shape: ConvShape,
    input: &[E],
    grad_out: &[E],
    grad_weight: &mut [E],
    grad_bias: Option<&mut [E]>,
) {
    let weights = shape.out_channels * shape.in_channels * K * K;
    let input_planes = Planes::new(shape, shape.in_channels);
    let grad_planes = Planes::new(shape, shape.out_channels);
    // Each task sums a fixed run of bands and the task sums are added in order, so the
    // result does not depend on how rayon schedules the work: same inputs, same gradient.
    let bands = bands::<E, K>(input_planes);
    let per_task = bands
        .len()
        .div_ceil(2 * rayon::current_num_threads())
        .max(1);
    let partials: Vec<Vec<E>> = bands
        .par_chunks(per_task)
        .map(|run| {
            let mut partial = vec![E::zero(); weights + shape.out_channels];
            for &band in run {
                WeightGradBand::<E, K> {
                    input: PaddedSource::new(input_planes, input, K / 2),
                    grad_out: PaddedSource::new(grad_planes, grad_out, 0),
                    band,
                    partial: &mut partial,
                }
                .run();
            }
            partial
        })
        .collect();
    let mut sum = vec![E::zero(); weights + shape.out_channels];
    for partial in &partials {
        sum.iter_mut().zip(partial).for_each(|(s, p)| *s += *p);
    }
    grad_weight
        .iter_mut()
        .zip(&sum[..weights])
        .for_each(|(g, s)| *g += *s);
    if let Some(grad_bias) = grad_bias {
        grad_bias
            .iter_mut()
            .zip(&sum[weights..])
            .for_each(|(g, s)| *g += *s);
    }
}

/// The layout of a batch of NCHW images: batch, channels, height, width.
#[derive(Clone, Copy, Debug)]
struct Planes {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
}

impl Planes {
    fn new(shape: ConvShape, channels: usize) -> Self {
        Planes {
            batch: shape.batch,
            channels,
            height: shape.height,
            width: shape.width,
        }
    }
    fn strips(&self) -> usize {
        self.width.div_ceil(STRIP)
    }
    fn row_start(&self, b: usize, c: usize, y: usize) -> usize {
        ((b * self.channels + c) * self.height + y) * self.width
    }
}

/// Rows `first .. first + rows` of image `b`: the unit of parallel work.
#[derive(Clone, Copy, Debug)]
struct Band {
    b: usize,
    first: usize,
    rows: usize,
}

/// Splits a batch into bands: enough for every thread to get several, each small enough that
/// its padded scratch copy of `planes` stays in L2.
fn bands<E, const K: usize>(planes: Planes) -> Vec<Band> {
    let threads = rayon::current_num_threads();
    let row_bytes = planes.channels * (planes.strips() * STRIP + K) * std::mem::size_of::<E>();
    let most_rows = (BAND_BYTES / row_bytes.max(1)).max(1);
    let per_image = (4 * threads)
        .div_ceil(planes.batch.max(1))
        .max(planes.height.div_ceil(most_rows));
    // Bands of (nearly) equal height, so no thread waits on a long last band.
    let rows = planes.height.div_ceil(per_image).max(1);
    (0..planes.batch)
        .flat_map(|b| {
            (0..planes.height).step_by(rows).map(move |first| Band {
                b,
                first,
                rows: rows.min(planes.height - first),
            })
        })
        .collect()
}

/// A batch of images and the zero border a band copy gets on every side.
#[derive(Clone, Copy)]
struct PaddedSource<'a, E> {
    planes: Planes,
    data: &'a [E],
    halo: usize,
}

impl<'a, E: Float> PaddedSource<'a, E> {
    fn new(planes: Planes, data: &'a [E], halo: usize) -> Self {
        assert_eq!(
            data.len(),
            planes.batch * planes.channels * planes.height * planes.width
        );
        PaddedSource { planes, data, halo }
    }
}

/// One band of all channels of one image, with `halo` zero rows above and below and `halo`
/// zero columns on the left; rows are padded with zeros to whole strips plus `2 * halo`.
/// Usually a copy in the thread's scratch buffer (`Element::with_scratch`); a view of the
/// source where that already has this layout.
struct PaddedBand<'a, E> {
    data: &'a [E],
    /// Distance between the starts of consecutive channels in `data`.
    channel_stride: usize,
    width: usize,
}

impl<'a, E: Float> PaddedBand<'a, E> {
    /// The band itself, uncopied, when it needs no zeros: no halo and whole strips.
    fn view(source: PaddedSource<'a, E>, band: Band) -> Option<Self> {
        let planes = source.planes;
        (source.halo == 0 && planes.width.is_multiple_of(STRIP)).then(|| PaddedBand {
            data: &source.data[planes.row_start(band.b, 0, band.first)..],
            channel_stride: planes.height * planes.width,
            width: planes.width,
        })
    }

    /// Rows and row width of the band copy of `band` from `source`.
    fn size(source: PaddedSource<'_, E>, band: Band) -> (usize, usize) {
        let rows = band.rows + 2 * source.halo;
        (rows, source.planes.strips() * STRIP + 2 * source.halo)
    }

    /// Elements of scratch the band copy needs.
    fn len(source: PaddedSource<'_, E>, band: Band) -> usize {
        let (rows, width) = Self::size(source, band);
        source.planes.channels * rows * width
    }

    /// Copies `band` of `source` into `buffer` (at least `len` long), zeros included.
    fn copy(source: PaddedSource<'_, E>, band: Band, buffer: &'a mut [E]) -> Self {
        let (planes, halo) = (source.planes, source.halo);
        let (rows, width) = Self::size(source, band);
        let data = &mut buffer[..planes.channels * rows * width];
        for (c, channel) in data.chunks_exact_mut(rows * width).enumerate() {
            for (r, row) in channel.chunks_exact_mut(width).enumerate() {
                let y = (band.first + r)
                    .checked_sub(halo)
                    .filter(|&y| y < planes.height);
                match y {
                    Some(y) => {
                        let start = planes.row_start(band.b, c, y);
                        let (left, rest) = row.split_at_mut(halo);
                        let (image, right) = rest.split_at_mut(planes.width);
                        left.fill(E::zero());
                        image.copy_from_slice(&source.data[start..][..planes.width]);
                        right.fill(E::zero());
                    }
                    None => row.fill(E::zero()),
                }
            }
        }
        PaddedBand {
            data,
            channel_stride: rows * width,
            width,
        }
    }

    /// Row `r` (counted from the top of the halo) of channel `c`.
    #[inline(always)]
    fn row(&self, c: usize, r: usize) -> &[E] {
        &self.data[c * self.channel_stride + r * self.width..][..self.width]
    }
}

/// The `STRIP_VECTORS` vectors of `values` from `start`.
///
/// # Safety
/// The CPU must support `V`'s features.
#[inline(always)]
unsafe fn load_strip<E, V: Vector<E>>(values: &[E], start: usize) -> [V; STRIP_VECTORS] {
    let values = &values[start..start + STRIP_VECTORS * V::LANES];
    std::array::from_fn(|j| V::load(&values[j * V::LANES..]))
}

/// Weights rearranged for the register tiles: output channels in blocks, each block stored as
/// [in channel][ky][kx][output channel of the block], so a tile reads them in order.
struct PackedWeights<E> {
    data: Vec<E>,
    /// (first output channel, block size, offset in `data`).
    blocks: Vec<(usize, usize, usize)>,
    in_channels: usize,
}

impl<E: Float> PackedWeights<E> {
    fn new<const K: usize>(
        out_channels: usize,
        in_channels: usize,
        weight: impl Fn(usize, usize, usize, usize) -> E,
    ) -> Self {
        let mut data = Vec::with_capacity(out_channels * in_channels * K * K);
        let mut blocks = Vec::new();
        for (first, size) in channel_blocks(out_channels, CONV_BLOCK) {
            blocks.push((first, size, data.len()));
            for c in 0..in_channels {
                for ky in 0..K {
                    for kx in 0..K {
                        data.extend((first..first + size).map(|o| weight(o, c, ky, kx)));
                    }
                }
            }
        }
        PackedWeights {
            data,
            blocks,
            in_channels,
        }
    }
}

/// Splits `channels` into blocks of `largest`, then the rest into blocks of 4, 2 and 1: the
/// sizes the register tiles are compiled for.
fn channel_blocks(channels: usize, largest: usize) -> Vec<(usize, usize)> {
    let mut blocks = Vec::new();
    let mut first = 0;
    for size in [largest, 4, 2, 1] {
        while channels - first >= size {
            blocks.push((first, size));
            first += size;
        }
    }
    blocks
}

/// How a convolution's output tile starts: from the bias (or zero), or from what the output
/// already holds (gradients accumulate).
#[derive(Clone, Copy)]
enum Init<'a, E> {
    Bias(Option<&'a [E]>),
    Accumulate,
}

/// What happens to a convolution's output tile before it is stored: nothing, a ReLU, or the
/// end of a residual pair, `relu(tile + shortcut)` (the shortcut laid out as the output).
#[derive(Clone, Copy)]
pub(crate) enum Finish<'a, E> {
    Store,
    Relu,
    AddRelu(&'a [E]),
}

impl<E: Float> Finish<'_, E> {
    /// Finishes the stored `tile`, which starts at `start` in the output.
    fn apply(self, tile: &mut [E], start: usize) {
        match self {
            Finish::Store => {}
            Finish::Relu => tile.iter_mut().for_each(|v| *v = v.max(E::zero())),
            Finish::AddRelu(shortcut) => {
                for (v, &s) in tile.iter_mut().zip(&shortcut[start..]) {
                    *v = (*v + s).max(E::zero());
                }
            }
        }
    }
}

/// An output buffer that rayon tasks write to, each only to the rows of its own band.
#[derive(Clone, Copy)]
struct BandWriter<E> {
    ptr: *mut E,
    len: usize,
}

// SAFETY: tasks write disjoint bands (see `slice`), and E is Send.
unsafe impl<E: Send> Send for BandWriter<E> {}
unsafe impl<E: Send> Sync for BandWriter<E> {}

impl<E> BandWriter<E> {
    fn new(out: &mut [E]) -> Self {
        BandWriter {
            ptr: out.as_mut_ptr(),
            len: out.len(),
        }
    }

    /// # Safety
    /// No other task may access `start..start + len` while the slice lives.
    // Handing out `&mut` from `&self` is the point: disjointness is the caller's contract.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    unsafe fn slice(&self, start: usize, len: usize) -> &mut [E] {
        assert!(start + len <= self.len);
        std::slice::from_raw_parts_mut(self.ptr.add(start), len)
    }
}

/// Same-padding convolution of `source` (laid out as `planes`) with `packed` into `out`.
fn convolve<E: Float, const K: usize>(
    planes: Planes,
    source: &[E],
    packed: &PackedWeights<E>,
    init: Init<'_, E>,
    finish: Finish<'_, E>,
    out: &mut [E],
) {
    let out_channels: usize = packed.blocks.iter().map(|&(_, size, _)| size).sum();
    let out_planes = Planes {
        channels: out_channels,
        ..planes
    };
    assert_eq!(
        out.len(),
        out_planes.batch * out_channels * planes.height * planes.width
    );
    if let Finish::AddRelu(shortcut) = finish {
        assert_eq!(shortcut.len(), out.len());
    }
    let source = PaddedSource::new(planes, source, K / 2);
    let writer = BandWriter::new(out);
    bands::<E, K>(planes).into_par_iter().for_each(|band| {
        ConvBand::<E, K> {
            source,
            packed,
            init,
            finish,
            out: writer,
            out_planes,
            band,
        }
        .run()
    });
}

/// The convolution of one band.
struct ConvBand<'a, E, const K: usize> {
    source: PaddedSource<'a, E>,
    packed: &'a PackedWeights<E>,
    init: Init<'a, E>,
    finish: Finish<'a, E>,
    out: BandWriter<E>,
    out_planes: Planes,
    band: Band,
}

impl<E: Float, const K: usize> ConvBand<'_, E, K> {
    fn run(&self) {
        let scratch = PaddedBand::len(self.source, self.band);
        E::with_scratch(scratch, |buffer| {
            let padded = PaddedBand::copy(self.source, self.band, buffer);
            self.rows(&padded);
        });
    }

    fn rows(&self, padded: &PaddedBand<'_, E>) {
        for y in 0..self.band.rows {
            for &(first, size, offset) in &self.packed.blocks {
                let weights = &self.packed.data[offset..][..size * self.packed.in_channels * K * K];
                // One dispatch per row and block: each tile size is its own vectorised function.
                match size {
                    CONV_BLOCK => dispatch(self.row::<CONV_BLOCK>(padded, weights, first, y)),
                    4 => dispatch(self.row::<4>(padded, weights, first, y)),
                    2 => dispatch(self.row::<2>(padded, weights, first, y)),
                    _ => dispatch(self.row::<1>(padded, weights, first, y)),
                }
                self.finish_row(first, size, y);
            }
        }
    }

    /// Applies the epilogue to output row `y` of channels `first .. first + size`, just
    /// written and still in cache. (Inside the register-tile kernel it measured 2x slower.)
    fn finish_row(&self, first: usize, size: usize, y: usize) {
        let planes = self.out_planes;
        for o in first..first + size {
            let start = planes.row_start(self.band.b, o, self.band.first + y);
            // SAFETY: this band's rows belong to this task alone.
            let row = unsafe { self.out.slice(start, planes.width) };
            self.finish.apply(row, start);
        }
    }

    fn row<'b, const B: usize>(
        &'b self,
        padded: &'b PaddedBand<'b, E>,
        weights: &'b [E],
        first: usize,
        y: usize,
    ) -> ConvRow<'b, E, K, B> {
        ConvRow {
            band: self,
            padded,
            weights,
            first,
            y,
        }
    }
}

/// Output row `y` of a band for output channels `first .. first + B`, in register tiles.
struct ConvRow<'a, E, const K: usize, const B: usize> {
    band: &'a ConvBand<'a, E, K>,
    padded: &'a PaddedBand<'a, E>,
    weights: &'a [E],
    first: usize,
    y: usize,
}

impl<E: Float, const K: usize, const B: usize> Kernel for ConvRow<'_, E, K, B> {
    type Element = E;
    type Output = ();

    #[inline(always)]
    unsafe fn run<V: Vector<E>>(self) {
        let ConvRow {
            band,
            padded,
            weights,
            first,
            y,
        } = self;
        let planes = band.out_planes;
        let out_y = band.band.first + y;
        let in_channels = band.packed.in_channels;
        let strip = STRIP_VECTORS * V::LANES;
        // Partial strips at the right edge go through this buffer.
        let mut edge = [E::zero(); STRIP];
        for x0 in (0..planes.width).step_by(strip) {
            let valid = strip.min(planes.width - x0);
            let out_start = |o: usize| planes.row_start(band.band.b, first + o, out_y) + x0;
            let mut acc = [[V::splat(E::zero()); STRIP_VECTORS]; B];
            for (o, acc) in acc.iter_mut().enumerate() {
                match band.init {
                    Init::Bias(Some(bias)) => *acc = [V::splat(bias[first + o]); STRIP_VECTORS],
                    Init::Bias(None) => {}
                    Init::Accumulate => {
                        // SAFETY: this band's rows belong to this task alone.
                        let out = band.out.slice(out_start(o), valid);
                        *acc = if valid == strip {
                            load_strip(out, 0)
                        } else {
                            edge[..valid].copy_from_slice(out);
                            edge[valid..].fill(E::zero());
                            load_strip(&edge, 0)
                        };
                    }
                }
            }
            for c in 0..in_channels {
                for ky in 0..K {
                    let row = padded.row(c, y + ky);
                    for kx in 0..K {
                        let v: [V; STRIP_VECTORS] = load_strip(row, x0 + kx);
                        let w = &weights[((c * K + ky) * K + kx) * B..][..B];
                        for (acc, &w) in acc.iter_mut().zip(w) {
                            let w = V::splat(w);
                            for (acc, v) in acc.iter_mut().zip(v) {
                                *acc = w.mul_add(v, *acc);
                            }
                        }
                    }
                }
            }
            for (o, acc) in acc.iter().enumerate() {
                // SAFETY: this band's rows belong to this task alone.
                let out = band.out.slice(out_start(o), valid);
                let full = valid == strip;
                let target = if full { &mut *out } else { &mut edge[..] };
                for (j, acc) in acc.iter().enumerate() {
                    acc.store(&mut target[j * V::LANES..]);
                }
                if !full {
                    out.copy_from_slice(&edge[..valid]);
                }
            }
        }
    }
}

/// The weight and bias gradient contributions of one band, added to `partial`
/// (weights (out, in, K, K), then one bias per output channel).
struct WeightGradBand<'a, E, const K: usize> {
    input: PaddedSource<'a, E>,
    grad_out: PaddedSource<'a, E>,
    band: Band,
    partial: &'a mut [E],
}

impl<E: Float, const K: usize> WeightGradBand<'_, E, K> {
    fn run(self) {
        let input_len = PaddedBand::len(self.input, self.band);
        let grad_view = PaddedBand::view(self.grad_out, self.band);
        let grad_len = match grad_view {
            Some(_) => 0,
            None => PaddedBand::len(self.grad_out, self.band),
        };
        E::with_scratch(input_len + grad_len, |buffer| {
            let (input, grad) = buffer.split_at_mut(input_len);
            let input = PaddedBand::copy(self.input, self.band, input);
            let grad =
                grad_view.unwrap_or_else(|| PaddedBand::copy(self.grad_out, self.band, grad));
            self.tiles(&input, &grad);
        });
    }

    fn tiles(self, input: &PaddedBand<'_, E>, grad: &PaddedBand<'_, E>) {
        let in_channels = self.input.planes.channels;
        let out_channels = self.grad_out.planes.channels;
        let (weights, bias) = self
            .partial
            .split_at_mut(out_channels * in_channels * K * K);
        for (first, size) in channel_blocks(out_channels, WEIGHT_GRAD_BLOCK) {
            let tiles = WeightGradTiles::<E, K, 1> {
                input,
                grad,
                rows: self.band.rows,
                in_channels,
                first,
                weights: &mut *weights,
            };
            // One dispatch per block: each tile size is its own vectorised function.
            match size {
                WEIGHT_GRAD_BLOCK => dispatch(tiles.with_block::<WEIGHT_GRAD_BLOCK>()),
                4 => dispatch(tiles.with_block::<4>()),
                2 => dispatch(tiles.with_block::<2>()),
                _ => dispatch(tiles.with_block::<1>()),
            }
        }
        dispatch(BiasGrad {
            grad,
            rows: self.band.rows,
            bias,
        });
    }
}

/// The bias gradient of one band: the sum of each output channel's gradient, added to `bias`.
struct BiasGrad<'a, E> {
    grad: &'a PaddedBand<'a, E>,
    rows: usize,
    bias: &'a mut [E],
}

impl<E: Float> Kernel for BiasGrad<'_, E> {
    type Element = E;
    type Output = ();

    #[inline(always)]
    unsafe fn run<V: Vector<E>>(self) {
        for (o, bias) in self.bias.iter_mut().enumerate() {
            let mut sum = V::splat(E::zero());
            let one = V::splat(E::one());
            for y in 0..self.rows {
                for chunk in self.grad.row(o, y).chunks_exact(V::LANES) {
                    sum = V::load(chunk).mul_add(one, sum);
                }
            }
            *bias += sum.sum();
        }
    }
}

/// Weight-gradient register tiles of one band for output channels `first .. first + B`: for
/// one input channel and kernel row, B output channels x K taps, each a strip of per-pixel
/// partial sums, reduced once the band is done.
struct WeightGradTiles<'a, E, const K: usize, const B: usize> {
    input: &'a PaddedBand<'a, E>,
    grad: &'a PaddedBand<'a, E>,
    rows: usize,
    in_channels: usize,
    first: usize,
    weights: &'a mut [E],
}

impl<'a, E, const K: usize> WeightGradTiles<'a, E, K, 1> {
    fn with_block<const B: usize>(self) -> WeightGradTiles<'a, E, K, B> {
        WeightGradTiles {
            input: self.input,
            grad: self.grad,
            rows: self.rows,
            in_channels: self.in_channels,
            first: self.first,
            weights: self.weights,
        }
    }
}

impl<E: Float, const K: usize, const B: usize> Kernel for WeightGradTiles<'_, E, K, B> {
    type Element = E;
    type Output = ();

    #[inline(always)]
    unsafe fn run<V: Vector<E>>(self) {
        // One vector per tap and channel: B x K accumulators, K input vectors, one gradient
        // vector and the B gradient rows' addresses; B = 6 keeps them in registers for K = 3
        // (B = 8 spilled and measured ~15 % slower on the 32- and 64-channel shapes).
        let vectors = self.grad.width / V::LANES;
        for c in 0..self.in_channels {
            for ky in 0..K {
                let mut acc = [[V::splat(E::zero()); K]; B];
                for y in 0..self.rows {
                    let row = self.input.row(c, y + ky);
                    let grads: [&[E]; B] =
                        std::array::from_fn(|o| self.grad.row(self.first + o, y));
                    for x0 in (0..vectors).map(|i| i * V::LANES) {
                        let v: [V; K] =
                            std::array::from_fn(|kx| V::load(&row[x0 + kx..x0 + kx + V::LANES]));
                        for (acc, grad) in acc.iter_mut().zip(grads) {
                            let g = V::load(&grad[x0..x0 + V::LANES]);
                            for (acc, v) in acc.iter_mut().zip(v) {
                                *acc = g.mul_add(v, *acc);
                            }
                        }
                    }
                }
                for (o, acc) in acc.iter().enumerate() {
                    for (kx, acc) in acc.iter().enumerate() {
                        let index = (((self.first + o) * self.in_channels + c) * K + ky) * K + kx;
                        self.weights[index] += acc.sum();
                    }
                }
            }
        }
    }
}
