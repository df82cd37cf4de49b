//! Properties of the PIL-compatible resampling and of the training augmentation.

use proptest::prelude::*;
use rand::SeedableRng;
use rrcanet::data::image_io::{InfraredImage, TargetMask};
use rrcanet::data::preprocess::{prepare, InputChannels, Transform};
use rrcanet::data::resample::{gaussian_blur, resize_bilinear, resize_nearest, window};
use rrcanet::data::Sample;

/// A plane of `width x height` values in [0, 1].
fn plane() -> impl Strategy<Value = (usize, usize, Vec<f32>)> {
    (1usize..24, 1usize..24).prop_flat_map(|(w, h)| {
        proptest::collection::vec(0.0f32..=1.0, w * h).prop_map(move |v| (w, h, v))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn bilinear_keeps_constants_and_stays_in_range(
        (w, h, values) in plane(), out_w in 1usize..40, out_h in 1usize..40, level in 0.0f32..1.0,
    ) {
        let resized = resize_bilinear(&values, h, w, out_h, out_w);
        prop_assert_eq!(resized.len(), out_w * out_h);
        prop_assert!(resized.iter().all(|v| (-1e-5..=1.0 + 1e-5).contains(v)));
        let flat = resize_bilinear(&vec![level; w * h], h, w, out_h, out_w);
        prop_assert!(flat.iter().all(|v| (v - level).abs() < 1e-5));
    }

    #[test]
    fn nearest_only_copies_source_values(
        (w, h, values) in plane(), out_w in 1usize..40, out_h in 1usize..40,
    ) {
        let resized = resize_nearest(&values, h, w, out_h, out_w);
        prop_assert_eq!(resized.len(), out_w * out_h);
        prop_assert!(resized.iter().all(|v| values.contains(v)));
        prop_assert_eq!(resize_nearest(&values, h, w, h, w), values);
    }

    #[test]
    fn window_copies_inside_and_zero_fills_outside(
        (w, h, values) in plane(), left in 0usize..30, top in 0usize..30,
        out_w in 1usize..30, out_h in 1usize..30,
    ) {
        let cropped = window(&values, h, w, top, left, out_h, out_w);
        for y in 0..out_h {
            for x in 0..out_w {
                let (sx, sy) = (left + x, top + y);
                let expected = if sx < w && sy < h { values[sy * w + sx] } else { 0.0 };
                prop_assert_eq!(cropped[y * out_w + x], expected);
            }
        }
    }

    #[test]
    fn blur_stays_within_the_input_range(
        (w, h, values) in plane(), sigma in 0.0f64..3.0,
    ) {
        let mut blurred = values.clone();
        gaussian_blur(&mut blurred, h, w, sigma);
        let (min, max) = values.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        prop_assert!(blurred.iter().all(|&v| v >= min - 1e-5 && v <= max + 1e-5));
    }

    #[test]
    fn augmentation_keeps_mask_binary_and_size_fixed(
        w in 4usize..80, h in 4usize..80, seed in any::<u64>(), base in 8usize..40,
    ) {
        let pixels: Vec<u8> = (0..w * h).map(|i| u8::from(i % 5 == 0)).collect();
        let sample = Sample {
            id: "p".into(),
            image: InfraredImage::gray(h, w, pixels.iter().map(|&p| f32::from(p)).collect()).unwrap(),
            mask: TargetMask { width: w, height: h, pixels },
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let out = prepare(&sample, Transform::Augment { base_size: base }, InputChannels::RAW_GRAY, &mut rng);
        prop_assert_eq!((out.width, out.height), (base, base));
        prop_assert_eq!(out.mask.len(), base * base);
        prop_assert!(out.mask.iter().all(|&m| m <= 1));
        prop_assert!(out.planes[0].iter().all(|v| (-1e-5..=1.0 + 1e-5).contains(v)));
    }
}
