//! The optimisers against dfdx's, and their saved states: round trips, exact resumption, and
//! files that do not fit.

use super::{Adam, AdamConfig, OptimError, Optimizer, OptimizerKind, Sgd, SgdConfig};
use crate::tensor_file::{TensorFile, TensorFileError, TensorFileWriter, TensorProblem};
use dfdx::nn::builders::{BatchNorm1D, Linear};
use dfdx::nn::{BuildOnDevice, ModuleMut, ZeroGrads};
use dfdx::optim::Optimizer as DfdxOptimizer;
use dfdx::prelude::*;

/// A small model with trainable tensors and BatchNorm running statistics.
type Tiny = (Linear<4, 3>, BatchNorm1D<3>, Linear<3, 2>);
type Built = <Tiny as BuildOnDevice<Cpu, f32>>::Built;

fn tiny() -> Built {
    Cpu::seed_from_u64(0).build_module::<Tiny, f32>()
}

/// Every tensor of the model (running statistics too), as bits.
fn bits(model: &Built) -> Vec<u32> {
    [
        model.0.weight.as_vec(),
        model.0.bias.as_vec(),
        model.1.scale.as_vec(),
        model.1.bias.as_vec(),
        model.1.running_mean.as_vec(),
        model.1.running_var.as_vec(),
        model.2.weight.as_vec(),
        model.2.bias.as_vec(),
    ]
    .concat()
    .into_iter()
    .map(f32::to_bits)
    .collect()
}

/// The learning rate of step `step`, changing as a schedule would.
fn learning_rate(step: u64) -> f64 {
    0.01 / (1.0 + step as f64)
}

/// Training steps `steps` (each with its own batch) of `model`; `update` applies gradients.
fn train(
    model: &mut Built,
    steps: std::ops::Range<u64>,
    mut update: impl FnMut(&mut Built, &Gradients<f32, Cpu>, f64),
) {
    let mut gradients = model.alloc_grads();
    for step in steps {
        let device = Cpu::seed_from_u64(100 + step);
        let x: Tensor<Rank2<8, 4>, f32, Cpu> = device.sample_normal();
        let y: Tensor<Rank2<8, 2>, f32, Cpu> = device.sample_normal();
        let loss = (model.forward_mut(x.traced(gradients)) - y).square().mean();
        gradients = loss.backward();
        update(model, &gradients, learning_rate(step));
        model.zero_grads(&mut gradients);
    }
}

/// `ours` and `theirs` from the same start give bit-identical models at every step.
fn assert_same_updates<A, B>(mut ours: A, mut theirs: B, set_lr: impl Fn(&mut A, &mut B, f64))
where
    A: DfdxOptimizer<Built, Cpu, f32>,
    B: DfdxOptimizer<Built, Cpu, f32>,
{
    let (mut our_model, mut their_model) = (tiny(), tiny());
    for step in 0..8 {
        train(&mut our_model, step..step + 1, |model, gradients, lr| {
            set_lr(&mut ours, &mut theirs, lr);
            ours.update(model, gradients).unwrap();
        });
        train(&mut their_model, step..step + 1, |model, gradients, _| {
            theirs.update(model, gradients).unwrap();
        });
        assert_eq!(bits(&our_model), bits(&their_model), "step {step}");
    }
    assert_ne!(bits(&our_model), bits(&tiny()));
}

#[test]
fn adam_gives_dfdx_adam_updates_bit_for_bit() {
    let model = tiny();
    assert_same_updates(
        Adam::new(&model, AdamConfig::default()).unwrap(),
        dfdx::optim::Adam::new(&model, dfdx::optim::AdamConfig::default()),
        |ours, theirs, lr| {
            ours.cfg.lr = lr;
            theirs.cfg.lr = lr;
        },
    );
}

#[test]
fn sgd_gives_dfdx_classic_momentum_updates_bit_for_bit() {
    let model = tiny();
    let theirs = dfdx::optim::SgdConfig {
        lr: 0.01,
        momentum: Some(dfdx::optim::Momentum::Classic(0.9)),
        weight_decay: None,
    };
    let ours = SgdConfig {
        lr: 0.01,
        momentum: 0.9,
    };
    assert_same_updates(
        Sgd::new(&model, ours).unwrap(),
        dfdx::optim::Sgd::new(&model, theirs),
        |ours, theirs, lr| {
            ours.cfg.lr = lr;
            theirs.cfg.lr = lr;
        },
    );
}

/// `steps` steps of `optimizer` on `model`.
fn train_with(
    optimizer: &mut Optimizer<Built, f32, Cpu>,
    model: &mut Built,
    steps: std::ops::Range<u64>,
) {
    train(model, steps, |model, gradients, lr| {
        optimizer.set_learning_rate(lr);
        optimizer.update(model, gradients).unwrap();
    });
}

#[test]
fn resuming_from_a_saved_state_is_exact_for_every_optimizer() {
    let directory = tempfile::tempdir().unwrap();
    for &kind in OptimizerKind::ALL {
        let path = directory.path().join(format!("{kind}.safetensors"));
        let mut straight = tiny();
        let mut optimizer = Optimizer::new(kind, &straight, 0.01).unwrap();
        train_with(&mut optimizer, &mut straight, 0..7);

        let mut resumed = tiny();
        let mut first = Optimizer::new(kind, &resumed, 0.01).unwrap();
        train_with(&mut first, &mut resumed, 0..3);
        first.save_state(&resumed, &path).unwrap();
        let without_state = (
            resumed.clone(),
            Optimizer::new(kind, &resumed, 0.01).unwrap(),
        );
        drop(first);
        let mut second = Optimizer::new(kind, &resumed, 0.01).unwrap();
        second.load_state(&resumed, &path).unwrap();
        assert_eq!(second.kind(), kind);
        assert_eq!(second.steps(), 3);
        train_with(&mut second, &mut resumed, 3..7);
        assert_eq!(bits(&resumed), bits(&straight), "{kind}");
        assert_eq!(second.steps(), optimizer.steps());

        // Without the state the run would not be the same.
        let (mut restarted, mut fresh) = without_state;
        train_with(&mut fresh, &mut restarted, 3..7);
        assert_ne!(bits(&restarted), bits(&straight), "{kind}");
    }
}

#[test]
fn states_round_trip_by_tensor_name_without_running_statistics() {
    let directory = tempfile::tempdir().unwrap();
    for (kind, buffers) in [
        (OptimizerKind::Adagrad, &["sum"][..]),
        (OptimizerKind::Adam, &["exp_avg", "exp_avg_sq"][..]),
        (OptimizerKind::Sgd, &["momentum_buffer"][..]),
    ] {
        let (first, second) = (
            directory.path().join(format!("{kind}-1.safetensors")),
            directory.path().join(format!("{kind}-2.safetensors")),
        );
        let mut model = tiny();
        let mut optimizer = Optimizer::new(kind, &model, 0.01).unwrap();
        train_with(&mut optimizer, &mut model, 0..2);
        optimizer.save_state(&model, &first).unwrap();
        let mut loaded = Optimizer::new(kind, &model, 0.5).unwrap();
        loaded.load_state(&model, &first).unwrap();
        loaded.save_state(&model, &second).unwrap();
        assert_eq!(
            std::fs::read(&first).unwrap(),
            std::fs::read(&second).unwrap()
        );

        let mut expected: Vec<String> = [
            "0.weight", "0.bias", "1.scale", "1.bias", "2.weight", "2.bias",
        ]
        .iter()
        .flat_map(|tensor| {
            buffers
                .iter()
                .map(move |buffer| format!("{tensor}.{buffer}"))
        })
        .collect();
        expected.sort();
        let file = TensorFile::read(&first).unwrap();
        assert_eq!(file.names(), expected, "{kind}");
        assert_eq!(file.tensor::<f32>(&expected[0], &[3]).unwrap().len(), 3);
    }
}

#[test]
fn a_state_saved_before_the_first_update_round_trips() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("adam.safetensors");
    let mut straight = tiny();
    let mut optimizer = Optimizer::new(OptimizerKind::Adam, &straight, 0.01).unwrap();
    optimizer.save_state(&straight, &path).unwrap();
    assert!(TensorFile::read(&path).unwrap().names().is_empty());
    let mut resumed = tiny();
    let mut loaded = Optimizer::new(OptimizerKind::Adam, &resumed, 0.01).unwrap();
    loaded.load_state(&resumed, &path).unwrap();
    train_with(&mut optimizer, &mut straight, 0..2);
    train_with(&mut loaded, &mut resumed, 0..2);
    assert_eq!(bits(&resumed), bits(&straight));
}

#[test]
fn states_of_another_optimizer_or_model_or_damaged_files_are_errors_naming_the_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("adam.safetensors");
    let mut model = tiny();
    let mut adam = Optimizer::new(OptimizerKind::Adam, &model, 0.01).unwrap();
    train_with(&mut adam, &mut model, 0..1);
    adam.save_state(&model, &path).unwrap();
    let names = |error: &OptimError, file: &str| {
        let message = error.to_string();
        assert!(message.contains(file), "{message}");
        message
    };
    let names_file = |error: &OptimError| names(error, "adam.safetensors");

    let mut sgd = Optimizer::new(OptimizerKind::Sgd, &model, 0.01).unwrap();
    let error = sgd.load_state(&model, &path).unwrap_err();
    assert!(
        matches!(error, OptimError::OtherOptimizer { .. }),
        "{error}"
    );
    let message = names_file(&error);
    assert!(
        message.contains("adam") && message.contains("sgd"),
        "{message}"
    );

    // A model with other shapes, one with fewer tensors, one with more.
    let wider = Cpu::default().build_module::<(Linear<4, 5>, BatchNorm1D<5>, Linear<5, 2>), f32>();
    let error = Optimizer::new(OptimizerKind::Adam, &wider, 0.01)
        .unwrap()
        .load_state(&wider, &path)
        .unwrap_err();
    assert!(
        matches!(
            &error,
            OptimError::OtherModel {
                problem: TensorProblem::Shape { .. },
                ..
            }
        ),
        "{error}"
    );
    assert!(names_file(&error).contains("another model"));
    let smaller = Cpu::default().build_module::<(Linear<4, 3>,), f32>();
    let error = Optimizer::new(OptimizerKind::Adam, &smaller, 0.01)
        .unwrap()
        .load_state(&smaller, &path)
        .unwrap_err();
    assert!(
        matches!(
            &error,
            OptimError::OtherModel {
                problem: TensorProblem::Unexpected,
                ..
            }
        ),
        "{error}"
    );
    names_file(&error);
    let larger = Cpu::default()
        .build_module::<(Linear<4, 3>, BatchNorm1D<3>, Linear<3, 2>, Linear<2, 2>), f32>();
    let error = Optimizer::new(OptimizerKind::Adam, &larger, 0.01)
        .unwrap()
        .load_state(&larger, &path)
        .unwrap_err();
    assert!(
        matches!(&error, OptimError::OtherModel { problem: TensorProblem::Missing, tensor, .. } if tensor == "3.weight.exp_avg"),
        "{error}"
    );

    // Another element type.
    let double = Cpu::seed_from_u64(0).build_module::<Tiny, f64>();
    let error = Optimizer::new(OptimizerKind::Adam, &double, 0.01)
        .unwrap()
        .load_state(&double, &path)
        .unwrap_err();
    assert!(matches!(error, OptimError::File(_)), "{error}");
    assert!(names_file(&error).contains("dtype F32, expected f64"));

    // Truncated, a checkpoint-like file without the record, and no file at all.
    let bytes = std::fs::read(&path).unwrap();
    let damaged = directory.path().join("damaged.safetensors");
    for length in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&damaged, &bytes[..length]).unwrap();
        let error = adam.load_state(&model, &damaged).unwrap_err();
        assert!(
            matches!(error, OptimError::File(TensorFileError::Corrupt { .. })),
            "{length}: {error}"
        );
        names(&error, "damaged.safetensors");
    }
    let mut other = TensorFileWriter::default();
    other.metadata("rrcanet", "{}".to_string());
    other.write(&damaged).unwrap();
    let error = adam.load_state(&model, &damaged).unwrap_err();
    assert!(matches!(error, OptimError::MissingRecord { .. }), "{error}");
    names(&error, "damaged.safetensors");
    let error = adam
        .load_state(&model, &directory.path().join("missing.safetensors"))
        .unwrap_err();
    assert!(matches!(
        error,
        OptimError::File(TensorFileError::Io { .. })
    ));
    names(&error, "missing.safetensors");

    // A failed load keeps the state: the optimiser continues as if nothing happened.
    assert_eq!(adam.steps(), 1);
}

#[test]
fn invalid_learning_rates_are_rejected_for_every_optimizer() {
    let model = tiny();
    for &kind in OptimizerKind::ALL {
        let error = Optimizer::new(kind, &model, -1.0).unwrap_err();
        assert!(
            matches!(&error, OptimError::Hyperparameter(e) if e.optimizer == kind && e.name == "lr"),
            "{error}"
        );
    }
}
