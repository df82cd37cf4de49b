//! Properties of RRCA-Net's structure on tiny f64 models: RuCB weight sharing, per-pass
//! parameters, input sizes and batch independence, and that training lowers a loss.

use dfdx::optim::{Adam, AdamConfig};
use dfdx::prelude::*;
use proptest::prelude::*;
use rrcanet::data::InputChannels;
use rrcanet::model::configs::{Depth3, Diaams, R18, R18N0, R18N1, R18N3};
use rrcanet::model::{load_checkpoint, save_checkpoint, ModelName, ModelRecord};
use rrcanet::model::{RrcaNet, Segmenter, UNet};
use rrcanet::nn::{Block, FeatureStacking, Head, PassHead};
use rrcanet::ops::Image;

/// A depth-3 RRCA-Net with widths 8, 12, 16 (channel attention with one hidden unit at
/// both decoders), one grayscale input channel and `P` passes.
type Tiny<const P: usize, H> = RrcaNet<
    1,
    8,
    P,
    Depth3<
        8,
        12,
        16,
        1,
        2,
        1,
        P,
        Diaams<8, 12, P, f64, Cpu>,
        Diaams<12, 16, P, f64, Cpu>,
        f64,
        Cpu,
    >,
    H,
    f64,
    Cpu,
>;
type TinyLast<const P: usize> = Tiny<P, PassHead<8, false, f64, Cpu>>;
type TinyStacked = Tiny<3, FeatureStacking<8, 24, 3, f64, Cpu>>;

fn image(device: &Cpu, batch: usize, height: usize, width: usize) -> Image<1, f64, Cpu> {
    device.sample_normal_like(&(batch, Const::<1>, height, width))
}

/// A fixed linear functional of the logit maps: sensitive to every output pixel.
fn probe(device: &Cpu, shape: (usize, Const<1>, usize, usize)) -> Image<1, f64, Cpu> {
    device.sample_uniform_like(&shape)
}

/// A copy of `model` whose tensors are new tensors (own gradient slots).
fn deep_copy<M: TensorCollection<f64, Cpu> + BuildModule<Cpu, f64>>(model: &M, seed: u64) -> M {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("copy.safetensors");
    let record = ModelRecord::new::<f64>(ModelName::R18, InputChannels::RAW_GRAY);
    save_checkpoint(model, &record, &path).unwrap();
    let mut copy = M::build(&Cpu::seed_from_u64(seed));
    load_checkpoint(&mut copy, &record, &path).unwrap();
    copy
}

/// The trainable parameters of one pass: every level's BatchNorms and shortcut, every DIAAM.
fn one_pass_params<const P: usize, H: TensorCollection<f64, Cpu>>(model: &Tiny<P, H>) -> usize {
    let unet = &model.unet;
    unet.rucb.passes.modules[0].num_trainable_params()
        + unet.deeper.rucb.passes.modules[0].num_trainable_params()
        + unet.deeper.deeper.rucb.passes.modules[0].num_trainable_params()
        + unet.decoder.passes.modules[0].num_trainable_params()
        + unet.deeper.decoder.passes.modules[0].num_trainable_params()
}

#[test]
fn shared_convolution_gradient_is_the_sum_of_the_passes_contributions() {
    let device = Cpu::seed_from_u64(1);
    let mut model = TinyStacked::build(&device);
    let x = image(&device, 2, 8, 8);
    let weights = probe(&device, (2, Const::<1>, 8, 8));
    let loss_of = |logits: Vec<Image<1, f64, Cpu, OwnedTape<f64, Cpu>>>| {
        logits
            .into_iter()
            .map(|map| (map * weights.clone()).sum::<Rank0, _>())
            .reduce(|a, b| a + b)
            .unwrap()
    };

    // The tied model: one tensor per shared convolution, used by all three passes.
    let grads = model.alloc_grads();
    let tied = loss_of(model.forward_train(x.trace(grads)).unwrap()).backward();
    let shared = |m: &TinyStacked| m.unet.deeper.rucb.pairs.first.conv1.weight.clone();
    let tied_gradient = tied.get(&shared(&model)).as_vec();

    // The same computation with pass t reading its own copy of every U-Net tensor (the
    // shared convolutions and pass t's own): the gradient of copy t is pass t's contribution.
    let mut copies: Vec<TinyStacked> = (0..3).map(|t| deep_copy(&model, 10 + t)).collect();
    let mut features = Block::forward(&mut model.stem, x.leaky_trace()).unwrap();
    let mut passes = Vec::new();
    for (pass, copy) in copies.iter_mut().enumerate() {
        let decoded = copy.unet.forward(pass, features).unwrap();
        passes.push(decoded.with_empty_tape());
        features = decoded;
    }
    *passes.last_mut().unwrap() = features;
    let untied = loss_of(model.head.forward(passes).unwrap()).backward();

    let mut summed = vec![0.0; tied_gradient.len()];
    for copy in &copies {
        let contribution = untied.get(&shared(copy)).as_vec();
        assert!(
            contribution.iter().any(|g| g.abs() > 1e-9),
            "every pass uses the shared convolution"
        );
        for (s, g) in summed.iter_mut().zip(contribution) {
            *s += g;
        }
    }
    for (t, s) in tied_gradient.iter().zip(&summed) {
        assert!((t - s).abs() <= 1e-9 * (1.0 + t.abs()), "{t} vs {s}");
    }

    // Finite differences of the tied model agree with its gradient.
    let value = |m: &TinyStacked| {
        let mut m = m.clone();
        loss_of(m.forward_train(x.leaky_trace()).unwrap()).array()
    };
    for index in [0, 17, 101, tied_gradient.len() - 1] {
        let step = 1e-6;
        let mut plus = deep_copy(&model, 1);
        let mut minus = deep_copy(&model, 2);
        let mut values = shared(&model).as_vec();
        values[index] += step;
        plus.unet
            .deeper
            .rucb
            .pairs
            .first
            .conv1
            .weight
            .copy_from(&values);
        values[index] -= 2.0 * step;
        minus
            .unet
            .deeper
            .rucb
            .pairs
            .first
            .conv1
            .weight
            .copy_from(&values);
        let numeric = (value(&plus) - value(&minus)) / (2.0 * step);
        let analytic = tied_gradient[index];
        assert!(
            (numeric - analytic).abs() <= 1e-5 * (1.0 + analytic.abs()),
            "entry {index}: numeric {numeric}, analytic {analytic}"
        );
    }
}

#[test]
fn perturbing_a_shared_convolution_changes_every_pass() {
    let device = Cpu::seed_from_u64(2);
    let mut model = Tiny::<3, PassHead<8, true, f64, Cpu>>::build(&device);
    let x = image(&device, 1, 8, 8);
    let before = model.forward_eval(x.clone()).unwrap();
    let mut values = model.unet.rucb.pairs.first.conv2.weight.as_vec();
    values[0] += 0.5;
    model.unet.rucb.pairs.first.conv2.weight.copy_from(&values);
    let after = model.forward_eval(x).unwrap();
    // With deep supervision, map t is pass t's prediction; every one moves.
    for (pass, (b, a)) in before.iter().zip(&after).enumerate() {
        let change: f64 = b
            .as_vec()
            .iter()
            .zip(a.as_vec())
            .map(|(b, a)| (b - a).abs())
            .sum();
        assert!(change > 1e-9, "pass {pass} unchanged");
    }
}

#[test]
fn each_extra_pass_adds_exactly_one_pass_of_parameters() {
    let device = Cpu::seed_from_u64(3);
    let p1 = TinyLast::<1>::build(&device);
    let p2 = TinyLast::<2>::build(&device);
    let p3 = TinyLast::<3>::build(&device);
    let p4 = TinyLast::<4>::build(&device);
    let one_pass = one_pass_params(&p1);
    assert!(one_pass > 0);
    assert_eq!(one_pass_params(&p4), one_pass);
    assert_eq!(
        p2.num_trainable_params(),
        p1.num_trainable_params() + one_pass
    );
    assert_eq!(
        p3.num_trainable_params(),
        p2.num_trainable_params() + one_pass
    );
    assert_eq!(
        p4.num_trainable_params(),
        p3.num_trainable_params() + one_pass
    );

    // The paper's ResNet-18 series: one pass of BN, shortcuts and DIAAMs (8,496 parameters)
    // plus the FSM's 8 extra input channels (conv3x3: 8 x 8 x 9, shortcut conv1x1: 8 x 8);
    // from N = 0 to 1 the FSM's pair also gains its projection shortcut (16 -> 8 conv1x1
    // with bias, and its BN: 136 + 16) instead of 8 x 8 shortcut weights.
    let counts = [
        R18N0::<3, f32, Cpu>::build(&Cpu::default()).num_trainable_params(),
        R18N1::<3, f32, Cpu>::build(&Cpu::default()).num_trainable_params(),
        R18::<3, f32, Cpu>::build(&Cpu::default()).num_trainable_params(),
        R18N3::<3, f32, Cpu>::build(&Cpu::default()).num_trainable_params(),
    ];
    assert_eq!(counts[1] - counts[0], 8_496 + 8 * 8 * 9 + 136 + 16);
    for pair in counts[1..].windows(2) {
        assert_eq!(pair[1] - pair[0], 8_496 + 8 * 8 * 9 + 8 * 8);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_multiple_of_four_works_and_eval_is_per_image(
        batch in 1usize..4,
        height in 1usize..5,
        width in 1usize..5,
        seed in 0u64..1000,
    ) {
        let (height, width) = (4 * height, 4 * width);
        let device = Cpu::seed_from_u64(seed);
        let mut model = TinyStacked::build(&device);
        // Give BatchNorm non-trivial running statistics first.
        model.forward_train(image(&device, 2, 8, 8).leaky_trace()).unwrap();
        let x = image(&device, batch, height, width);
        let first = model.forward_eval(x.clone()).unwrap().pop().unwrap();
        prop_assert_eq!(*first.shape(), (batch, Const::<1>, height, width));
        let again = model.forward_eval(x.clone()).unwrap().pop().unwrap();
        prop_assert_eq!(first.as_vec(), again.as_vec());
        let all = first.as_vec();
        let per_image = height * width;
        let data = x.as_vec();
        for i in 0..batch {
            let alone: Image<1, f64, Cpu> = device.tensor_from_vec(
                data[i * per_image..(i + 1) * per_image].to_vec(),
                (1, Const::<1>, height, width),
            );
            let alone = model.forward_eval(alone).unwrap().pop().unwrap().as_vec();
            for (a, b) in alone.iter().zip(&all[i * per_image..(i + 1) * per_image]) {
                prop_assert!((a - b).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn sizes_that_are_not_multiples_of_four_are_errors(
        height in 1usize..13,
        width in 1usize..13,
    ) {
        prop_assume!(height % 4 != 0 || width % 4 != 0);
        let device = Cpu::seed_from_u64(0);
        let model = TinyStacked::build(&device);
        prop_assert!(model.forward_eval(image(&device, 1, height, width)).is_err());
    }
}

#[test]
fn a_few_optimizer_steps_lower_the_training_loss() {
    let device = Cpu::seed_from_u64(4);
    let mut model = TinyStacked::build(&device);
    let x = image(&device, 4, 8, 8);
    // Targets: the brighter pixels of each image.
    let target: Image<1, f64, Cpu> = device.tensor_from_vec(
        x.as_vec()
            .iter()
            .map(|v| if *v > 0.8 { 1.0 } else { 0.0 })
            .collect(),
        (4, Const::<1>, 8, 8),
    );
    let mut optimizer = Adam::new(
        &model,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    );
    let mut grads = model.alloc_grads();
    let mut losses = Vec::new();
    for _ in 0..15 {
        let logits = model.forward_train(x.trace(grads)).unwrap().pop().unwrap();
        let loss = binary_cross_entropy_with_logits_loss(logits, target.clone());
        losses.push(loss.array());
        grads = loss.backward();
        optimizer.update(&mut model, &grads).unwrap();
        model.zero_grads(&mut grads);
    }
    assert!(
        losses.last().unwrap() < &(0.7 * losses[0]),
        "losses {losses:?}"
    );
}
