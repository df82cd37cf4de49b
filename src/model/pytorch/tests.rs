//! Parity with the authors' PyTorch model: their weights, imported, give their outputs.
//!
//! The fixtures (tests/fixtures/parity, made by scripts/make_parity_fixture.py with the
//! authors' code) hold, for r10, r18, r18-nofsm and the ResUNet baseline at widths 4..64, a
//! random state saved with
//! `safetensors.torch.save_model` and, for one 2 x 3 x 32 x 32 input (drawn so that no value sits near a ReLU kink or a
//! max-pooling tie, where float32 and float64 gradients legitimately part): the eval-mode logits, the
//! train-mode logits, the probe loss sum(logits * probe), every parameter's gradient of it and
//! every BatchNorm running statistic after that train-mode pass.

use super::*;
use crate::model::{configs, named_tensors, ModelName, Segmenter};
use crate::nn::tensors::{for_each_tensor, for_each_tensor_mut};
use crate::ops::Image;
use dfdx::prelude::*;
use std::collections::HashMap;

fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity")
        .join(file)
}

const CONFIGURATIONS: [(ModelName, &str); 3] = [
    (ModelName::R10, "r10"),
    (ModelName::R18, "r18"),
    (ModelName::R18NoFsm, "r18-nofsm"),
];

/// Every tensor of a file as f32 values by name (the i64 batch counters left out).
fn read_all(path: &Path) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let file = TensorFile::read(path).unwrap();
    file.names()
        .into_iter()
        .filter(|name| !name.ends_with(BATCH_COUNTER))
        .map(|name| {
            let shape = file.shape(&name).unwrap().to_vec();
            let values = file.tensor::<f32>(&name, &shape).unwrap();
            (name, (shape, values))
        })
        .collect()
}

/// max |actual - expected| / max(max |expected|, `floor`).
fn relative_error(actual: &[f32], expected: &[f32], floor: f32) -> f32 {
    assert_eq!(actual.len(), expected.len());
    let scale = expected.iter().fold(floor, |m, v| m.max(v.abs()));
    let difference = actual
        .iter()
        .zip(expected)
        .fold(0f32, |m, (a, e)| m.max((a - e).abs()));
    difference / scale.max(f32::MIN_POSITIVE)
}

/// The layout of configuration `name` (its tensors' names and dimensions).
fn layout_of(name: ModelName) -> Vec<NamedTensor> {
    crate::model::build(name, crate::model::DeviceKind::Cpu, 0)
        .unwrap()
        .tensors()
}

/// Our tensor `ours` as stored in the authors' file under `key` (transposed back if needed).
fn authors_values(ours: &NamedTensor, structure: Structure) -> (String, bool) {
    let authors = authors_tensor(&ours.name, structure).unwrap();
    (authors.keys[0].clone(), authors.transposed)
}

fn as_ours(values: &[f32], ours_dimensions: &[usize], transposed: bool) -> Vec<f32> {
    match (transposed, ours_dimensions) {
        (true, &[rows, columns]) => transpose(values, columns, rows),
        _ => values.to_vec(),
    }
}

/// The half-width baselines of the fixtures (widths 4..64; the files of the full widths would
/// be 4 MB): the authors' `ResUNet(nb_filter=[4, 8, 16, 32, 64])`.
type ResUnetW4 = configs::ResUnetWidths<3, 4, 8, 16, 32, 64, 12, 24, 48, 96, f32, Cpu>;
/// The authors' `ResUNet_RuCB(multiplier=0.5)` with their BasicIRSTD pipeline's one grey
/// channel: forward only (its fixture holds no gradients, see the script's FORWARD_ONLY).
type ResUnetRucbW4Grey =
    configs::ResUnetRucbWidths<1, 4, 8, 16, 32, 64, 12, 24, 48, 96, 12, f32, Cpu>;

/// The tensors of a freshly built `M` (names and dimensions).
fn layout_of_type<M: TensorCollection<f32, Cpu> + BuildModule<Cpu, f32>>() -> Vec<NamedTensor> {
    named_tensors(&M::build(&Cpu::default()))
}

/// Imports fixture `file` into `M` (configuration `name` with `IN` input channels, as
/// messages call it) and compares its outputs with the authors': the logits, the running
/// statistics after a train-mode pass and, where the fixture has a probe, the loss and every
/// parameter's gradient.
fn check_parity<const IN: usize, M>(name: ModelName, file: &str, layout: &[NamedTensor])
where
    M: Segmenter<IN, f32, Cpu> + TensorCollection<f32, Cpu>,
{
    let imported = import(
        &fixture(&format!("{file}.weights.safetensors")),
        name,
        layout,
    )
    .unwrap_or_else(|error| panic!("{name}: {error}"));
    let outputs = read_all(&fixture(&format!("{file}.outputs.safetensors")));
    let structure = Structure::of(layout.iter().map(|t| t.name.as_str()));
    let by_name: HashMap<&str, &NamedTensor> =
        imported.iter().map(|t| (t.name.as_str(), t)).collect();
    let device = Cpu::default();
    let (input_shape, input_values) = outputs["input"].clone();
    let &[count, _, height, width] = input_shape.as_slice() else {
        panic!("{file}: input of shape {input_shape:?}")
    };
    let input: Image<IN, f32, Cpu> =
        device.tensor_from_vec(input_values, (count, Const::<IN>, height, width));
    let mut model = M::build(&device);
    let loaded: Result<(), std::convert::Infallible> =
        for_each_tensor_mut(&mut model, |info, tensor| {
            tensor.set_values(&by_name[info.name].values);
            Ok(())
        });
    loaded.unwrap();

    // 1e-4, or three times PyTorch's own float32 error where the fixture records it (a
    // badly conditioned model and input: float32 itself cannot do better).
    let tolerance = outputs
        .get("pytorch_float32_error")
        .map_or(1e-4, |(_, error)| (3.0 * error[0]).max(1e-4));
    let eval = model.forward_eval(input.clone()).unwrap().pop().unwrap();
    let error = relative_error(&eval.as_vec(), &outputs["eval_logits"].1, 0.0);
    println!("{name}: eval logits off by {error:e} (tolerance {tolerance:e})");
    assert!(error < tolerance, "{name}: eval logits differ by {error:e}");

    let train = model
        .forward_train(input.clone().traced(model.alloc_grads()))
        .unwrap()
        .pop()
        .unwrap();
    let error = relative_error(&train.as_vec(), &outputs["train_logits"].1, 0.0);
    println!("{name}: train logits off by {error:e}");
    assert!(error < 1e-3, "{name}: train logits differ by {error:e}");
    let gradients = outputs.get("probe").map(|(_, probe)| {
        let probe: Image<1, f32, Cpu> =
            device.tensor_from_vec(probe.clone(), (count, Const::<1>, height, width));
        let loss = (train * probe).sum();
        let error = relative_error(&loss.as_vec(), &outputs["loss"].1, 0.0);
        assert!(error < 1e-3, "{name}: loss differs by {error:e}");
        loss.backward()
    });

    // Relative to the tensor's largest value. Where the exact gradient is zero (conv
    // biases ahead of a BatchNorm: the float64 reference is below 1e-12), float32 leaves
    // cancellation noise, checked against 1e-5 of the model's largest gradient instead.
    let largest_gradient = outputs
        .iter()
        .filter(|(key, _)| key.starts_with("grad."))
        .flat_map(|(_, (_, values))| values.iter())
        .fold(0f32, |m, v| m.max(v.abs()));
    let mut worst = [0f32; 2];
    let mut failures = Vec::new();
    let checked: Result<(), std::convert::Infallible> = for_each_tensor(&model, |info, tensor| {
        let ours = by_name[info.name];
        let (key, transposed) = authors_values(ours, structure);
        let (prefix, values, tolerance) = match &gradients {
            Some(gradients) if info.trainable => {
                ("grad", tensor.gradient(gradients).unwrap().as_vec(), 1e-3)
            }
            None if info.trainable => return Ok(()),
            _ => ("after", tensor.values(), 1e-4),
        };
        let expected = &outputs[&format!("{prefix}.{key}")].1;
        let expected = as_ours(expected, &ours.dimensions, transposed);
        let largest = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
        let floor = if info.trainable && largest < 1e-6 * largest_gradient {
            1e-2 * largest_gradient
        } else {
            0.0
        };
        let error = relative_error(&values, &expected, floor);
        let slot = &mut worst[usize::from(info.trainable)];
        *slot = slot.max(error);
        if error >= tolerance {
            failures.push(format!("{prefix} of {} (`{key}`): {error:e}", info.name));
        }
        Ok(())
    });
    checked.unwrap_or_else(|never| match never {});
    println!(
        "{name}: worst gradient error {:e}, worst running statistic error {:e}",
        worst[1], worst[0]
    );
    assert!(failures.is_empty(), "{name}: {failures:#?}");
}

#[test]
fn imported_weights_give_the_authors_logits_gradients_and_running_statistics() {
    for (name, file) in CONFIGURATIONS {
        with_model!(name, M => check_parity::<3, M<3, f32, Cpu>>(name, file, &layout_of(name)));
    }
    check_parity::<3, ResUnetW4>(
        ModelName::ResUnet,
        "resunet-w4",
        &layout_of_type::<ResUnetW4>(),
    );
    check_parity::<1, ResUnetRucbW4Grey>(
        ModelName::ResUnetRucb,
        "resunet-rucb-w4-grey",
        &layout_of_type::<ResUnetRucbW4Grey>(),
    );
}

#[test]
fn import_then_export_gives_the_authors_file_back_bit_for_bit() {
    let directory = tempfile::tempdir().unwrap();
    let mut round_trips = Vec::new();
    for (name, file) in CONFIGURATIONS {
        let original = fixture(&format!("{file}.weights.safetensors"));
        let imported = import(&original, name, &layout_of(name)).unwrap();
        let exported = directory.path().join(format!("{file}.safetensors"));
        export(name, &imported, &exported).unwrap();
        round_trips.push((original, exported));
    }
    let baselines = [
        (
            ModelName::ResUnet,
            "resunet-w4",
            layout_of_type::<ResUnetW4>(),
        ),
        (
            ModelName::ResUnetRucb,
            "resunet-rucb-w4-grey",
            layout_of_type::<ResUnetRucbW4Grey>(),
        ),
    ];
    for (name, file, layout) in baselines {
        let original = fixture(&format!("{file}.weights.safetensors"));
        let imported = import(&original, name, &layout).unwrap();
        let exported = directory.path().join(format!("{file}.safetensors"));
        export(name, &imported, &exported).unwrap();
        round_trips.push((original, exported));
    }
    for (original, exported) in round_trips {
        let name = original.display().to_string();
        let (original, exported) = (
            TensorFile::read(&original).unwrap(),
            TensorFile::read(&exported).unwrap(),
        );
        assert_eq!(original.names(), exported.names(), "{name}");
        for key in original
            .names()
            .iter()
            .filter(|key| !key.ends_with(BATCH_COUNTER))
        {
            let shape = original.shape(key).unwrap();
            assert_eq!(exported.shape(key), Some(shape), "{key}");
            let bits = |file: &TensorFile| -> Vec<u32> {
                file.tensor::<f32>(key, shape)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect()
            };
            assert_eq!(bits(&original), bits(&exported), "{name}: {key}");
        }
    }
}

/// The r10 fixture rewritten by `change`, which gets every tensor by key.
fn rewritten(
    directory: &Path,
    change: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<f32>)>),
) -> PathBuf {
    let mut tensors: Vec<_> = read_all(&fixture("r10.weights.safetensors"))
        .into_iter()
        .map(|(key, (shape, values))| (key, shape, values))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    change(&mut tensors);
    let mut file = TensorFileWriter::default();
    for (key, shape, values) in tensors {
        file.tensor(key, shape, &values);
    }
    let path = directory.join("changed.safetensors");
    file.write(&path).unwrap();
    path
}

const SHARED: &str = "iteration0_layer1_encoder_convs.operator.0.weight";

#[test]
fn every_alias_of_a_shared_convolution_is_accepted_when_equal_and_refused_when_not() {
    let directory = tempfile::tempdir().unwrap();
    let layout = layout_of(ModelName::R10);
    let expected = import(&fixture("r10.weights.safetensors"), ModelName::R10, &layout).unwrap();
    let aliases = |tensors: &mut Vec<(String, Vec<usize>, Vec<f32>)>, offset: f32| {
        let shared: Vec<_> = tensors
            .iter()
            .filter(|(key, _, _)| {
                key.starts_with("iteration0_") && key.contains("encoder_convs.operator.")
            })
            .filter(|(key, _, _)| {
                let index: usize = key.split('.').nth(2).unwrap().parse().unwrap();
                index.is_multiple_of(3)
            })
            .cloned()
            .collect();
        for (key, shape, mut values) in shared {
            for pass in 1..3 {
                if key == SHARED && pass == 2 {
                    values[0] += offset;
                }
                tensors.push((
                    key.replacen("iteration0_", &format!("iteration{pass}_"), 1),
                    shape.clone(),
                    values.clone(),
                ));
            }
        }
    };
    let every_alias = rewritten(directory.path(), |tensors| aliases(tensors, 0.0));
    assert_eq!(
        import(&every_alias, ModelName::R10, &layout).unwrap(),
        expected
    );

    let differing = rewritten(directory.path(), |tensors| aliases(tensors, 1.0));
    let error = import(&differing, ModelName::R10, &layout).unwrap_err();
    assert!(
        matches!(error, PytorchError::AliasesDiffer { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("iteration2_layer1_encoder_convs.operator.0.weight"),
        "{error}"
    );
}

#[test]
fn a_missing_unexpected_or_misshaped_key_is_an_error_naming_it() {
    let directory = tempfile::tempdir().unwrap();
    let layout = layout_of(ModelName::R10);
    let import_r10 = |path: &Path| {
        import(path, ModelName::R10, &layout)
            .unwrap_err()
            .to_string()
    };

    let missing = rewritten(directory.path(), |tensors| {
        tensors.retain(|(key, _, _)| key != SHARED)
    });
    let message = import_r10(&missing);
    assert!(
        message.contains(SHARED) && message.contains("unet.deeper.rucb.pairs.0.conv1.weight"),
        "{message}"
    );

    let unexpected = rewritten(directory.path(), |tensors| {
        tensors.push((
            "iteration3_layer0_decoders_SBAM.pwconv1.bias".into(),
            vec![32],
            vec![0.0; 32],
        ));
    });
    let message = import_r10(&unexpected);
    assert!(
        message.contains("key `iteration3_layer0_decoders_SBAM.pwconv1.bias` is not a tensor"),
        "{message}"
    );

    let misshaped = rewritten(directory.path(), |tensors| {
        let final_weight = tensors
            .iter_mut()
            .find(|(key, _, _)| key == "final.weight")
            .unwrap();
        final_weight.1 = vec![1, 8];
    });
    let message = import_r10(&misshaped);
    assert!(
        message.contains("final.weight") && message.contains("shape [1, 8]"),
        "{message}"
    );

    let other_model =
        import(&fixture("r18.weights.safetensors"), ModelName::R10, &layout).unwrap_err();
    assert!(
        matches!(
            other_model,
            PytorchError::File(_) | PytorchError::Unexpected { .. }
        ),
        "{other_model}"
    );
}

#[test]
fn configurations_the_authors_code_cannot_build_say_so() {
    let layout = layout_of(ModelName::R18Concat);
    let error = import(
        &fixture("r18.weights.safetensors"),
        ModelName::R18Concat,
        &layout,
    )
    .unwrap_err();
    assert!(
        matches!(error, PytorchError::NotInAuthorsModel { .. }),
        "{error}"
    );
}
