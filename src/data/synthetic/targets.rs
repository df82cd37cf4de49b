//! Small targets: an intensity template (a point-spread spot or a small irregular shape)
//! with its footprint (the mask pixels), and the local-ring signal-to-clutter ratio.

use crate::data::resample::gaussian_blur;
use rand::Rng;

/// Side of the window a target's footprint must fit in (9 x 9 = 81 px, 0.12 % of 256 x 256).
pub const FOOTPRINT_SIDE: usize = 9;
/// Side of the template window: the footprint window plus room for the blur's tails.
pub const TEMPLATE_SIDE: usize = FOOTPRINT_SIDE + 4;
/// Template values at or above this fraction of the peak form a spot's footprint.
const FOOTPRINT_LEVEL: f32 = 0.3;
/// Gap, in pixels, between the target box and its background ring.
const RING_GAP: usize = 3;
/// Width of the background ring in pixels.
const RING_WIDTH: usize = 8;

/// How a target looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A distant object: the optics' (possibly elongated) Gaussian point-spread function.
    PointSpread,
    /// A small extended object: an irregular connected shape, slightly blurred.
    Irregular,
}

/// A target's appearance in a `TEMPLATE_SIDE x TEMPLATE_SIDE` window.
pub struct TargetShape {
    /// What kind it is.
    pub kind: TargetKind,
    /// Intensity profile, peak 1.
    pub template: Vec<f32>,
    /// The pixels that belong to the target (inside the central footprint window).
    pub footprint: Vec<bool>,
}

impl TargetShape {
    /// Number of footprint pixels.
    pub fn area(&self) -> usize {
        self.footprint.iter().filter(|&&f| f).count()
    }

    /// Mean template value over the footprint.
    pub fn footprint_template_mean(&self) -> f32 {
        let values = self
            .template
            .iter()
            .zip(&self.footprint)
            .filter(|(_, &f)| f);
        let (sum, n) = values.fold((0.0, 0), |(s, n), (&t, _)| (s + t, n + 1));
        sum / n as f32
    }
}

fn in_footprint_window(x: usize, y: usize) -> bool {
    let margin = (TEMPLATE_SIDE - FOOTPRINT_SIDE) / 2;
    (margin..margin + FOOTPRINT_SIDE).contains(&x) && (margin..margin + FOOTPRINT_SIDE).contains(&y)
}

fn normalise_peak(template: &mut [f32]) {
    let peak = template.iter().copied().fold(0.0f32, f32::max);
    template.iter_mut().for_each(|v| *v /= peak);
}

/// A rotated elliptical Gaussian spot at a random sub-pixel position; footprint where it
/// reaches 30 % of its peak.
fn point_spread(rng: &mut impl Rng) -> TargetShape {
    let centre = TEMPLATE_SIDE as f64 / 2.0 - 0.5;
    let (cx, cy) = (
        centre + rng.gen_range(-0.5..0.5),
        centre + rng.gen_range(-0.5..0.5),
    );
    let major: f64 = rng.gen_range(0.45..2.2);
    let minor = major * rng.gen_range(0.5..1.0);
    let (sin, cos) = rng.gen_range(0.0..std::f64::consts::PI).sin_cos();
    let mut template: Vec<f32> = (0..TEMPLATE_SIDE * TEMPLATE_SIDE)
        .map(|i| {
            let (dx, dy) = (
                (i % TEMPLATE_SIDE) as f64 - cx,
                (i / TEMPLATE_SIDE) as f64 - cy,
            );
            let (u, v) = (dx * cos + dy * sin, -dx * sin + dy * cos);
            (-0.5 * ((u / major).powi(2) + (v / minor).powi(2))).exp() as f32
        })
        .collect();
    normalise_peak(&mut template);
    let footprint = template
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            v >= FOOTPRINT_LEVEL && in_footprint_window(i % TEMPLATE_SIDE, i / TEMPLATE_SIDE)
        })
        .collect();
    TargetShape {
        kind: TargetKind::PointSpread,
        template,
        footprint,
    }
}

/// A 4-connected shape grown cell by cell from the centre (3 to 75 cells), with uneven
/// brightness, blurred by the optics; the footprint is the shape itself.
fn irregular(rng: &mut impl Rng) -> TargetShape {
    let centre = TEMPLATE_SIDE / 2;
    let cells = (3.0f64 * 25.0f64.powf(rng.gen::<f64>())).round() as usize;
    let mut footprint = vec![false; TEMPLATE_SIDE * TEMPLATE_SIDE];
    let mut members = vec![(centre, centre)];
    footprint[centre * TEMPLATE_SIDE + centre] = true;
    while members.len() < cells {
        let (x, y) = members[rng.gen_range(0..members.len())];
        let (nx, ny) = match rng.gen_range(0..4) {
            0 => (x + 1, y),
            1 => (x - 1, y),
            2 => (x, y + 1),
            _ => (x, y - 1),
        };
        if in_footprint_window(nx, ny) && !footprint[ny * TEMPLATE_SIDE + nx] {
            footprint[ny * TEMPLATE_SIDE + nx] = true;
            members.push((nx, ny));
        }
    }
    let mut template: Vec<f32> = footprint
        .iter()
        .map(|&f| if f { rng.gen_range(0.6..1.0) } else { 0.0 })
        .collect();
    gaussian_blur(
        &mut template,
        TEMPLATE_SIDE,
        TEMPLATE_SIDE,
        rng.gen_range(0.4..0.8),
    );
    normalise_peak(&mut template);
    TargetShape {
        kind: TargetKind::Irregular,
        template,
        footprint,
    }
}

/// A random target shape: 60 % point-spread spots, 40 % irregular shapes.
pub fn random_shape(rng: &mut impl Rng) -> TargetShape {
    if rng.gen_bool(0.6) {
        point_spread(rng)
    } else {
        irregular(rng)
    }
}

/// Mean and standard deviation of the background ring around a box: pixels at most
/// `RING_GAP + RING_WIDTH` from the box but more than `RING_GAP`, skipping `excluded` ones
/// (other targets). `None` if the ring is empty.
pub fn ring_statistics(
    plane: &[f32],
    size: usize,
    (left, top, right, bottom): (usize, usize, usize, usize),
    excluded: &[bool],
) -> Option<(f32, f32)> {
    let outer = RING_GAP + RING_WIDTH;
    let (mut sum, mut sum2, mut n) = (0.0f64, 0.0f64, 0usize);
    for y in top.saturating_sub(outer)..(bottom + outer).min(size) {
        for x in left.saturating_sub(outer)..(right + outer).min(size) {
            let inside_gap = x + RING_GAP >= left
                && x < right + RING_GAP
                && y + RING_GAP >= top
                && y < bottom + RING_GAP;
            let i = y * size + x;
            if !inside_gap && !excluded[i] {
                let v = plane[i] as f64;
                (sum, sum2, n) = (sum + v, sum2 + v * v, n + 1);
            }
        }
    }
    (n > 0).then(|| {
        let mean = sum / n as f64;
        let variance = (sum2 / n as f64 - mean * mean).max(0.0);
        (mean as f32, variance.sqrt() as f32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn shapes_fit_the_footprint_window_and_peak_at_one() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let shape = random_shape(&mut rng);
            let area = shape.area();
            assert!((1..=FOOTPRINT_SIDE * FOOTPRINT_SIDE).contains(&area));
            let peak = shape.template.iter().copied().fold(0.0f32, f32::max);
            assert!((peak - 1.0).abs() < 1e-6);
            for (i, &f) in shape.footprint.iter().enumerate() {
                assert!(!f || in_footprint_window(i % TEMPLATE_SIDE, i / TEMPLATE_SIDE));
            }
        }
    }

    #[test]
    fn ring_statistics_skip_the_target_box_and_excluded_pixels() {
        let size = 40;
        let mut plane = vec![1.0f32; size * size];
        for y in 17..23 {
            for x in 17..23 {
                plane[y * size + x] = 100.0;
            }
        }
        let mut excluded = vec![false; size * size];
        plane[10 * size + 20] = -50.0;
        excluded[10 * size + 20] = true;
        let (mean, std) = ring_statistics(&plane, size, (19, 19, 21, 21), &excluded).unwrap();
        assert_eq!((mean, std), (1.0, 0.0));
    }
}
