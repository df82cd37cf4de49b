//! Geometric and filtering operations on single image planes, computed the way PIL computes
//! them (the reference code prepares its data with PIL):
//! - [`resize_bilinear`]: PIL's `Image.resize(..., BILINEAR)`, a separable triangle filter
//!   whose support widens with the scale when downscaling (antialiased);
//! - [`resize_nearest`]: PIL's `NEAREST`, source pixel `floor((x + 0.5) * in / out)`;
//! - [`gaussian_blur`]: PIL's `ImageFilter.GaussianBlur(radius)`, where the radius is the
//!   Gaussian's standard deviation, approximated by three extended box blurs per axis;
//! - [`window`]: a crop that may reach past the right / bottom edge (zero filled), which is
//!   PIL's `ImageOps.expand` (pad right/bottom) followed by `crop`.
//!
//! PIL rounds to 8 bits after each step; these work in `f32` and skip that rounding.

/// PIL's bilinear weights for one axis: for each output index, the first source index and
/// the normalised weights of the source pixels from there on.
fn bilinear_weights(in_size: usize, out_size: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale;
    (0..out_size)
        .map(|out| {
            let center = (out as f64 + 0.5) * scale;
            let first = ((center - support + 0.5).trunc().max(0.0)) as usize;
            let end = ((center + support + 0.5).trunc() as usize).min(in_size);
            let mut weights: Vec<f64> = (first..end)
                .map(|x| (1.0 - ((x as f64 - center + 0.5) / filter_scale).abs()).max(0.0))
                .collect();
            let total: f64 = weights.iter().sum();
            if total != 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            }
            (first, weights.into_iter().map(|w| w as f32).collect())
        })
        .collect()
}

/// Resizes a row-major `width x height` plane to `out_width x out_height` like PIL's
/// bilinear filter (horizontal pass, then vertical).
pub fn resize_bilinear(
    plane: &[f32],
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
) -> Vec<f32> {
    assert_eq!(plane.len(), width * height, "plane size");
    let columns = bilinear_weights(width, out_width);
    let mut horizontal = vec![0.0f32; out_width * height];
    for (row_in, row_out) in plane
        .chunks_exact(width)
        .zip(horizontal.chunks_exact_mut(out_width))
    {
        for (value, (first, weights)) in row_out.iter_mut().zip(&columns) {
            *value = weights
                .iter()
                .zip(&row_in[*first..])
                .map(|(w, v)| w * v)
                .sum();
        }
    }
    let rows = bilinear_weights(height, out_height);
    let mut out = vec![0.0f32; out_width * out_height];
    for (row_out, (first, weights)) in out.chunks_exact_mut(out_width).zip(&rows) {
        for (k, weight) in weights.iter().enumerate() {
            let row_in = &horizontal[(first + k) * out_width..][..out_width];
            for (o, v) in row_out.iter_mut().zip(row_in) {
                *o += weight * v;
            }
        }
    }
    out
}

/// Resizes a row-major plane like PIL's nearest-neighbour filter.
pub fn resize_nearest<T: Copy>(
    plane: &[T],
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
) -> Vec<T> {
    assert_eq!(plane.len(), width * height, "plane size");
    let source = |out: usize, in_size: usize, out_size: usize| {
        (((out as f64 + 0.5) * in_size as f64 / out_size as f64) as usize).min(in_size - 1)
    };
    let columns: Vec<usize> = (0..out_width)
        .map(|x| source(x, width, out_width))
        .collect();
    (0..out_height)
        .flat_map(|y| {
            let row = &plane[source(y, height, out_height) * width..][..width];
            columns.iter().map(move |&x| row[x])
        })
        .collect()
}

/// Mirrors a row-major plane left to right, in place.
pub fn flip_horizontal<T>(plane: &mut [T], width: usize) {
    plane.chunks_exact_mut(width).for_each(<[T]>::reverse);
}

/// The `out_width x out_height` window of a plane whose top-left corner is at
/// (`left`, `top`); pixels beyond the plane are `T::default()` (zero).
pub fn window<T: Copy + Default>(
    plane: &[T],
    height: usize,
    width: usize,
    top: usize,
    left: usize,
    out_height: usize,
    out_width: usize,
) -> Vec<T> {
    assert_eq!(plane.len(), width * height, "plane size");
    let mut out = vec![T::default(); out_width * out_height];
    let copy_width = width.saturating_sub(left).min(out_width);
    if copy_width == 0 {
        return out;
    }
    for (y, row_out) in out.chunks_exact_mut(out_width).enumerate() {
        let y_in = top + y;
        if y_in >= height {
            break;
        }
        let row_in = &plane[y_in * width + left..][..copy_width];
        row_out[..copy_width].copy_from_slice(row_in);
    }
    out
}

/// Radius of the extended box whose `passes`-fold repetition has variance `sigma^2`
/// (Gwosdek et al. 2011, as in PIL's `_gaussian_blur_radius`).
fn extended_box_radius(sigma: f64, passes: usize) -> f64 {
    let sigma2 = sigma * sigma / passes as f64;
    let length = (12.0 * sigma2 + 1.0).sqrt();
    let l = ((length - 1.0) / 2.0).floor();
    let a =
        (2.0 * l + 1.0) * (l * (l + 1.0) - 3.0 * sigma2) / (6.0 * (sigma2 - (l + 1.0) * (l + 1.0)));
    l + a
}

/// One extended box blur along a line with edge pixels repeated: the `2l + 1` pixels
/// around each position weigh `1 / (2r + 1)`, the next one on each side the remainder.
fn extended_box_blur_line(line: &[f32], out: &mut [f32], radius: f64) {
    let whole = radius.floor() as isize;
    let inner = (1.0 / (2.0 * radius + 1.0)) as f32;
    let outer = (1.0 - (2 * whole + 1) as f32 * inner) / 2.0;
    let last = line.len() as isize - 1;
    let at = |i: isize| line[i.clamp(0, last) as usize];
    for (x, value) in out.iter_mut().enumerate() {
        let x = x as isize;
        let core: f32 = (x - whole..=x + whole).map(at).sum();
        *value = inner * core + outer * (at(x - whole - 1) + at(x + whole + 1));
    }
}

/// Number of box passes PIL's `GaussianBlur` uses per axis.
const GAUSSIAN_BOX_PASSES: usize = 3;

/// Blurs a row-major plane in place like PIL's `ImageFilter.GaussianBlur(sigma)`.
pub fn gaussian_blur(plane: &mut [f32], height: usize, width: usize, sigma: f64) {
    assert_eq!(plane.len(), width * height, "plane size");
    if sigma <= 0.0 {
        return;
    }
    let radius = extended_box_radius(sigma, GAUSSIAN_BOX_PASSES);
    let mut line = vec![0.0f32; width.max(height)];
    let mut blurred = vec![0.0f32; width.max(height)];
    for _ in 0..GAUSSIAN_BOX_PASSES {
        for row in plane.chunks_exact_mut(width) {
            extended_box_blur_line(row, &mut blurred[..width], radius);
            row.copy_from_slice(&blurred[..width]);
        }
    }
    for x in 0..width {
        for (y, v) in line[..height].iter_mut().enumerate() {
            *v = plane[y * width + x];
        }
        for _ in 0..GAUSSIAN_BOX_PASSES {
            extended_box_blur_line(&line[..height], &mut blurred[..height], radius);
            line[..height].copy_from_slice(&blurred[..height]);
        }
        for (y, v) in line[..height].iter().enumerate() {
            plane[y * width + x] = *v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn bilinear_matches_pil_weights() {
        // Upscaling 2 -> 4 is half-pixel bilinear with clamped edges.
        let up = resize_bilinear(&[0.0, 1.0], 1, 2, 1, 4);
        assert!(close(&up, &[0.0, 0.25, 0.75, 1.0]), "{up:?}");
        // Downscaling 4 -> 2 widens the triangle to support 2 (PIL's antialiasing):
        // weights 0.75, 0.75, 0.25 normalised, i.e. (3a + 3b + c) / 7.
        let down = resize_bilinear(&[7.0, 0.0, 0.0, 0.0], 1, 4, 1, 2);
        assert!(close(&down, &[3.0, 0.0]), "{down:?}");
        let same: Vec<f32> = (0..12).map(|v| v as f32).collect();
        assert!(close(&resize_bilinear(&same, 3, 4, 3, 4), &same));
    }

    #[test]
    fn nearest_picks_pixel_centres() {
        assert_eq!(
            resize_nearest(&[1, 2, 3], 1, 3, 1, 6),
            vec![1, 1, 2, 2, 3, 3]
        );
        assert_eq!(
            resize_nearest(&[1, 2, 3, 4, 5, 6], 1, 6, 1, 3),
            vec![2, 4, 6]
        );
        assert_eq!(resize_nearest(&[1, 2, 3, 4], 4, 1, 2, 1), vec![2, 4]);
    }

    #[test]
    fn window_crops_and_zero_pads() {
        let plane = [1, 2, 3, 4, 5, 6];
        assert_eq!(window(&plane, 2, 3, 0, 1, 2, 2), vec![2, 3, 5, 6]);
        assert_eq!(window(&plane, 2, 3, 1, 2, 2, 2), vec![6, 0, 0, 0]);
        let mut flipped = plane;
        flip_horizontal(&mut flipped, 3);
        assert_eq!(flipped, [3, 2, 1, 6, 5, 4]);
    }

    #[test]
    fn gaussian_blur_has_pil_variance_and_keeps_mass() {
        // An impulse in the middle of a long line: after the blur its spread is sigma^2.
        for sigma in [0.3, 0.7, 2.5] {
            let (width, centre) = (41, 20);
            let mut plane = vec![0.0f32; width];
            plane[centre] = 1.0;
            gaussian_blur(&mut plane, 1, width, sigma);
            let mass: f32 = plane.iter().sum();
            let variance: f64 = plane
                .iter()
                .enumerate()
                .map(|(x, &v)| v as f64 * (x as f64 - centre as f64).powi(2))
                .sum();
            assert!((mass - 1.0).abs() < 1e-5);
            assert!(
                (variance - sigma * sigma).abs() < 1e-4,
                "{sigma}: {variance}"
            );
        }
        let mut flat = vec![0.5f32; 12];
        gaussian_blur(&mut flat, 3, 4, 0.8);
        assert!(flat.iter().all(|v| (v - 0.5).abs() < 1e-6));
    }
}
