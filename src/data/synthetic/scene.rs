//! Infrared backgrounds without targets: sky with 1/f^beta cloud clutter, sea surface with
//! sun glint below a horizon, ground texture with buildings, roads and rows of lamps; then
//! the sensor (vignetting, column stripes, noise). Values are intensities in about [0, 1].

use rand::Rng;
use rand_distr::{Distribution, Normal};
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// The kind of scene an image shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SceneKind {
    /// Sky only: cloud clutter with bright sun-lit cloud edges.
    Sky,
    /// Sky above a horizon, sea below with sun glints.
    Sea,
    /// Ground (optionally under a sky with a tree-line horizon): texture, buildings,
    /// roads and lamps.
    Ground,
}

/// A rendered background.
pub struct Scene {
    /// What it shows.
    pub kind: SceneKind,
    /// `size x size` row-major intensities.
    pub plane: Vec<f32>,
}

fn standardise(values: &mut [f32]) {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let variance = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let scale = if variance > 0.0 {
        1.0 / variance.sqrt()
    } else {
        0.0
    };
    values
        .iter_mut()
        .for_each(|v| *v = ((*v as f64 - mean) * scale) as f32);
}

/// Zero-mean, unit-variance noise with power spectrum 1/f^beta, made by shaping white
/// Gaussian noise in the Fourier domain. `stretch > 1` elongates structures horizontally
/// (waves), by measuring horizontal frequencies `stretch` times larger.
pub fn fractal_noise(size: usize, beta: f64, stretch: f64, rng: &mut impl Rng) -> Vec<f32> {
    let normal = Normal::new(0.0f64, 1.0).expect("unit normal");
    let frequency = |k: usize| k.min(size - k) as f64 / size as f64;
    let mut spectrum: Vec<Complex<f64>> = (0..size * size)
        .map(|i| {
            let (fx, fy) = (frequency(i % size) * stretch, frequency(i / size));
            let f = (fx * fx + fy * fy).sqrt();
            let amplitude = if f > 0.0 { f.powf(-beta / 2.0) } else { 0.0 };
            Complex::new(normal.sample(rng), normal.sample(rng)) * amplitude
        })
        .collect();
    let fft = FftPlanner::new().plan_fft_inverse(size);
    fft.process(&mut spectrum);
    let mut transposed = vec![Complex::default(); size * size];
    for y in 0..size {
        for x in 0..size {
            transposed[x * size + y] = spectrum[y * size + x];
        }
    }
    fft.process(&mut transposed);
    let mut values: Vec<f32> = (0..size * size)
        .map(|i| transposed[(i % size) * size + i / size].re as f32)
        .collect();
    standardise(&mut values);
    values
}

/// Adds an elliptical Gaussian spot of peak `amplitude` centred at (`cx`, `cy`).
pub fn add_gaussian(
    plane: &mut [f32],
    size: usize,
    (cx, cy): (f64, f64),
    (sigma_x, sigma_y): (f64, f64),
    amplitude: f32,
) {
    let reach = (3.0 * sigma_x.max(sigma_y)).ceil() + 1.0;
    let clamp = |v: f64| v.clamp(0.0, size as f64 - 1.0) as usize;
    for y in clamp(cy - reach)..=clamp(cy + reach) {
        for x in clamp(cx - reach)..=clamp(cx + reach) {
            let (dx, dy) = ((x as f64 - cx) / sigma_x, (y as f64 - cy) / sigma_y);
            plane[y * size + x] += amplitude * (-0.5 * (dx * dx + dy * dy)).exp() as f32;
        }
    }
}

/// Adds `amplitude` along the segment from `a` to `b`, `width` pixels wide (soft edges).
fn add_line(
    plane: &mut [f32],
    size: usize,
    a: (f64, f64),
    b: (f64, f64),
    width: f64,
    amplitude: f32,
) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let length2 = (dx * dx + dy * dy).max(1e-9);
    let reach = width / 2.0 + 1.0;
    let clamp = |v: f64| v.clamp(0.0, size as f64 - 1.0) as usize;
    for y in clamp(a.1.min(b.1) - reach)..=clamp(a.1.max(b.1) + reach) {
        for x in clamp(a.0.min(b.0) - reach)..=clamp(a.0.max(b.0) + reach) {
            let (px, py) = (x as f64, y as f64);
            let t = (((px - a.0) * dx + (py - a.1) * dy) / length2).clamp(0.0, 1.0);
            let distance = ((px - a.0 - t * dx).powi(2) + (py - a.1 - t * dy).powi(2)).sqrt();
            let coverage = (width / 2.0 + 0.5 - distance).clamp(0.0, 1.0);
            plane[y * size + x] += amplitude * coverage as f32;
        }
    }
}

/// Cloud clutter: thresholded 1/f^beta noise (clear sky between clouds) whose edges facing
/// the sun are brighter.
fn sky(size: usize, contrast: f32, rng: &mut impl Rng) -> Vec<f32> {
    let noise = fractal_noise(size, rng.gen_range(2.2..3.2), 1.0, rng);
    let cover = rng.gen_range(-1.0f32..0.8);
    let clouds: Vec<f32> = noise.iter().map(|&z| (z - cover).max(0.0)).collect();
    let rim = rng.gen_range(0.0f32..1.5);
    let (sun_x, sun_y) = (rng.gen_range(-1.0f32..1.0), rng.gen_range(-1.0f32..1.0));
    let gradient = rng.gen_range(-0.1f32..0.15);
    (0..size * size)
        .map(|i| {
            let (x, y) = (i % size, i / size);
            let at = |x: usize, y: usize| clouds[y.min(size - 1) * size + x.min(size - 1)];
            let slope_x = at(x + 1, y) - at(x.saturating_sub(1), y);
            let slope_y = at(x, y + 1) - at(x, y.saturating_sub(1));
            let lit = (slope_x * sun_x + slope_y * sun_y).max(0.0);
            let height = y as f32 / size as f32;
            contrast * (clouds[i] + rim * lit) + gradient * height
        })
        .collect()
}

/// Horizon row for each column: a tilted line with an optional tree-line wiggle.
fn horizon(size: usize, roughness: f32, rng: &mut impl Rng) -> Vec<f32> {
    let level = rng.gen_range(0.08..0.55) * size as f32;
    let tilt = rng.gen_range(-0.06f32..0.06);
    let wiggle = fractal_noise(size, 2.6, 1.0, rng);
    (0..size)
        .map(|x| level + tilt * (x as f32 - size as f32 / 2.0) + roughness * wiggle[x])
        .collect()
}

/// Places `lower` under the horizon and `upper` above it with a one-pixel soft edge.
fn compose(upper: &[f32], lower: &[f32], horizon: &[f32], size: usize) -> Vec<f32> {
    (0..size * size)
        .map(|i| {
            let (x, y) = (i % size, i / size);
            let below = (y as f32 - horizon[x] + 0.5).clamp(0.0, 1.0);
            upper[i] * (1.0 - below) + lower[i] * below
        })
        .collect()
}

/// Sea below a horizon: horizontally stretched wave texture, brighter towards the horizon,
/// with glints (short bright horizontal streaks) concentrated along the sun's path.
fn sea(size: usize, rng: &mut impl Rng) -> Vec<f32> {
    let sky_part = sky(size, rng.gen_range(0.01..0.05), rng);
    let line = horizon(size, 0.0, rng);
    let waves = fractal_noise(size, rng.gen_range(1.8..2.6), rng.gen_range(3.0..9.0), rng);
    let contrast = rng.gen_range(0.02f32..0.07);
    let offset = rng.gen_range(-0.15f32..0.1);
    let mut water: Vec<f32> = waves
        .iter()
        .enumerate()
        .map(|(i, &z)| {
            let depth = ((i / size) as f32 - line[i % size]).max(0.0) / size as f32;
            offset + contrast * z - 0.1 * depth
        })
        .collect();
    let path = Normal::new(
        rng.gen_range(0.2..0.8) * size as f64,
        rng.gen_range(0.05..0.25) * size as f64,
    )
    .expect("positive spread");
    for _ in 0..rng.gen_range(0..160) {
        let x = path.sample(rng);
        let top = line.iter().copied().fold(f32::MIN, f32::max) as f64 + 2.0;
        let y = rng.gen_range(top.min(size as f64 - 1.0)..size as f64);
        let half_length = rng.gen_range(0.5..3.0);
        let amplitude = rng.gen_range(0.06f32..0.3);
        add_line(
            &mut water,
            size,
            (x - half_length, y),
            (x + half_length, y),
            1.0,
            amplitude,
        );
    }
    compose(&sky_part, &water, &line, size)
}

/// Ground texture with buildings, roads and rows of lamps, under a sky (70 %) or seen
/// from above.
fn ground(size: usize, rng: &mut impl Rng) -> Vec<f32> {
    let texture = fractal_noise(size, rng.gen_range(1.4..2.2), 1.0, rng);
    let contrast = rng.gen_range(0.03f32..0.1);
    let mut land: Vec<f32> = texture.iter().map(|&z| contrast * z).collect();
    let s = size as f64;
    for _ in 0..rng.gen_range(0..8) {
        let (w, h) = (rng.gen_range(0.03..0.15) * s, rng.gen_range(0.03..0.12) * s);
        let (x0, y0) = (rng.gen_range(0.0..s), rng.gen_range(0.0..s));
        let amplitude = rng.gen_range(-0.12f32..0.15);
        for y in (y0 as usize)..((y0 + h) as usize).min(size) {
            for x in (x0 as usize)..((x0 + w) as usize).min(size) {
                land[y * size + x] += amplitude;
            }
        }
    }
    for _ in 0..rng.gen_range(0..3) {
        let a = (rng.gen_range(0.0..s), rng.gen_range(0.0..s));
        let b = (rng.gen_range(0.0..s), rng.gen_range(0.0..s));
        add_line(
            &mut land,
            size,
            a,
            b,
            rng.gen_range(1.0..3.5),
            rng.gen_range(-0.1f32..0.12),
        );
    }
    for _ in 0..rng.gen_range(0..3) {
        let start = (rng.gen_range(0.0..s), rng.gen_range(0.0..s));
        let angle: f64 = rng.gen_range(0.0..std::f64::consts::PI);
        let spacing = rng.gen_range(5.0..12.0);
        let sigma = rng.gen_range(0.6..1.2);
        let amplitude = rng.gen_range(0.12f32..0.4);
        for k in 0..rng.gen_range(3..10) {
            let centre = (
                start.0 + k as f64 * spacing * angle.cos(),
                start.1 + k as f64 * spacing * angle.sin(),
            );
            add_gaussian(&mut land, size, centre, (sigma, sigma), amplitude);
        }
    }
    if rng.gen_bool(0.7) {
        let sky_part = sky(size, rng.gen_range(0.01..0.06), rng);
        let line = horizon(size, rng.gen_range(0.0..6.0), rng);
        let lift = rng.gen_range(-0.05f32..0.15);
        let upper: Vec<f32> = sky_part.iter().map(|v| v + lift).collect();
        return compose(&upper, &land, &line, size);
    }
    land
}

/// The sensor: vignetting, a mean level, per-column offsets (stripes) and white noise.
fn sensor(plane: &mut [f32], size: usize, rng: &mut impl Rng) {
    let level = rng.gen_range(0.2f32..0.55);
    let vignetting = rng.gen_range(0.0f32..0.15);
    let stripe_sigma = if rng.gen_bool(0.6) {
        rng.gen_range(0.0..0.012)
    } else {
        0.0
    };
    let stripes = Normal::new(0.0f32, stripe_sigma).expect("non-negative sigma");
    let columns: Vec<f32> = (0..size).map(|_| stripes.sample(rng)).collect();
    let noise = Normal::new(0.0f32, rng.gen_range(0.004..0.02)).expect("positive sigma");
    let half = size as f32 / 2.0;
    for (i, value) in plane.iter_mut().enumerate() {
        let (x, y) = ((i % size) as f32 - half, (i / size) as f32 - half);
        let falloff = 1.0 - vignetting * (x * x + y * y) / (2.0 * half * half);
        *value = (level + *value) * falloff + columns[i % size] + noise.sample(rng);
    }
}

/// Renders a random background of `size x size` pixels.
pub fn render(size: usize, rng: &mut impl Rng) -> Scene {
    let kind = match rng.gen_range(0..3) {
        0 => SceneKind::Sky,
        1 => SceneKind::Sea,
        _ => SceneKind::Ground,
    };
    let mut plane = match kind {
        SceneKind::Sky => sky(size, rng.gen_range(0.02..0.12), rng),
        SceneKind::Sea => sea(size, rng),
        SceneKind::Ground => ground(size, rng),
    };
    sensor(&mut plane, size, rng);
    Scene { kind, plane }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fractal_noise_power_falls_with_frequency() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let size = 64;
        let noise = fractal_noise(size, 2.5, 1.0, &mut rng);
        let mean = noise.iter().sum::<f32>() / noise.len() as f32;
        assert!(mean.abs() < 1e-4);
        // Strongly correlated neighbours (a low-pass texture), unlike white noise.
        let neighbour_product: f32 = (0..size * size - 1)
            .filter(|i| i % size != size - 1)
            .map(|i| noise[i] * noise[i + 1])
            .sum::<f32>()
            / (size * (size - 1)) as f32;
        assert!(neighbour_product > 0.8, "{neighbour_product}");
    }
}
