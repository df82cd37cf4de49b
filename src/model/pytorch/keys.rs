//! The key table: where each of our tensors lives in the `state_dict` of the authors'
//! `RRCANet` (`RRCA-Net/model/RRCANet.py`). Their module names, ours in brackets:
//!
//! - `conv0_0.0` (stem) and `post_transform_conv_block.0` (the FSM's residual pair
//!   `head.fuse`, or `head.refine` without FSM and with deep supervision) are `Res_block`s:
//!   `conv1`, `bn1`, `conv2`, `bn2`, `shortcut.0` (projection conv), `shortcut.1` (its BN);
//!   `final` is the output conv (`head.output`).
//! - `iteration{t}_layer{l}_encoder_convs` is level l's RuCB in pass t: `operator.{6k}` and
//!   `operator.{6k+3}` are the two convs of residual pair k, the same modules in every pass
//!   (ours: `rucb.pairs.{k}.conv1|conv2`, stored once), `operator.{6k+1}` and
//!   `operator.{6k+4}` their BatchNorms in pass t (`rucb.passes.{t}.{k}.bn1|bn2`), `shortcut`
//!   the pass' projection shortcut of the first pair (`rucb.passes.{t}.0.shortcut`).
//! - `iteration{t}_layer{j}_decoders_SBAM` is the DIAAM fusing level L - 2 - j with the level
//!   below it in pass t (the deepest fusion first): `pwconv2` (`project_high`), `pwconv1`
//!   (`gate`), `ca.fc1` and `ca.fc2` (`attention.squeeze` and `attention.excite`, which we
//!   store as matrices transposed to theirs).
//! - BatchNorm: their `weight` is our `scale`; their `num_batches_tracked` has no counterpart
//!   (PyTorch uses it only when momentum is None, which the authors' code never sets).
//!
//! Level l of ours is `unet` followed by l times `deeper`.

/// How the authors store one of our tensors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorsTensor {
    /// Its keys: one, or one per pass for a shared RuCB convolution (all the same tensor).
    pub keys: Vec<String>,
    /// Whether their tensor is the transpose of ours (channel attention's MLP).
    pub transposed: bool,
}

impl AuthorsTensor {
    fn one(key: String) -> Self {
        AuthorsTensor {
            keys: vec![key],
            transposed: false,
        }
    }
}

/// The shape of a model that the key table needs: levels and passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Structure {
    /// U-Net levels (the authors' `num_layers`).
    pub depth: usize,
    /// Passes through encoder and decoder (the authors' `iterations + 1`).
    pub passes: usize,
}

impl Structure {
    /// The structure of the model whose tensors are named `names`.
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let (mut depth, mut passes) = (0, 0);
        for name in names {
            if let Some(rest) = name.strip_prefix("unet.") {
                let (level, rest) = level_of(rest);
                depth = depth.max(level + 1);
                if let Some(pass) = rest
                    .strip_prefix("rucb.passes.")
                    .and_then(|rest| rest.split('.').next())
                    .and_then(|pass| pass.parse::<usize>().ok())
                {
                    passes = passes.max(pass + 1);
                }
            }
        }
        Structure { depth, passes }
    }
}

/// The level of a name below `unet.` (the number of leading `deeper.`) and the rest.
fn level_of(mut rest: &str) -> (usize, &str) {
    let mut level = 0;
    while let Some(deeper) = rest.strip_prefix("deeper.") {
        rest = deeper;
        level += 1;
    }
    (level, rest)
}

/// The authors' tensor for our tensor `name` in a model of `structure`, or `None` where their
/// `RRCANet` has no such tensor (the ablations their code cannot build).
pub fn authors_tensor(name: &str, structure: Structure) -> Option<AuthorsTensor> {
    if let Some(rest) = name.strip_prefix("stem.") {
        return residual_pair(rest).map(|key| AuthorsTensor::one(format!("conv0_0.0.{key}")));
    }
    if let Some(rest) = name
        .strip_prefix("head.fuse.")
        .or_else(|| name.strip_prefix("head.refine."))
    {
        return residual_pair(rest)
            .map(|key| AuthorsTensor::one(format!("post_transform_conv_block.0.{key}")));
    }
    if let Some(rest) = name.strip_prefix("head.output.") {
        return conv_parameter(rest).map(|key| AuthorsTensor::one(format!("final.{key}")));
    }
    let (level, rest) = level_of(name.strip_prefix("unet.")?);
    let encoder = |pass: usize| format!("iteration{pass}_layer{level}_encoder_convs");
    if let Some(rest) = rest.strip_prefix("rucb.pairs.") {
        let (pair, rest) = index(rest)?;
        let (offset, parameter) = match rest.split_once('.')? {
            ("conv1", parameter) => (0, parameter),
            ("conv2", parameter) => (3, parameter),
            _ => return None,
        };
        let parameter = conv_parameter(parameter)?;
        let keys = (0..structure.passes)
            .map(|pass| {
                format!(
                    "{}.operator.{}.{parameter}",
                    encoder(pass),
                    6 * pair + offset
                )
            })
            .collect();
        return Some(AuthorsTensor {
            keys,
            transposed: false,
        });
    }
    if let Some(rest) = rest.strip_prefix("rucb.passes.") {
        let (pass, rest) = index(rest)?;
        let (pair, rest) = index(rest)?;
        let key = match rest.split_once('.')? {
            ("bn1", parameter) => format!("operator.{}.{}", 6 * pair + 1, norm(parameter)?),
            ("bn2", parameter) => format!("operator.{}.{}", 6 * pair + 4, norm(parameter)?),
            ("shortcut", rest) if pair == 0 => shortcut(rest)?,
            _ => return None,
        };
        return Some(AuthorsTensor::one(format!("{}.{key}", encoder(pass))));
    }
    let rest = rest.strip_prefix("decoder.passes.")?;
    let (pass, rest) = index(rest)?;
    let fusion = structure.depth.checked_sub(2 + level)?;
    let module = format!("iteration{pass}_layer{fusion}_decoders_SBAM");
    let (key, transposed) = match rest {
        "attention.squeeze" => ("ca.fc1.weight".to_string(), true),
        "attention.excite" => ("ca.fc2.weight".to_string(), true),
        _ => match rest.split_once('.')? {
            ("project_high", parameter) => {
                (format!("pwconv2.{}", conv_parameter(parameter)?), false)
            }
            ("gate", parameter) => (format!("pwconv1.{}", conv_parameter(parameter)?), false),
            _ => return None,
        },
    };
    Some(AuthorsTensor {
        keys: vec![format!("{module}.{key}")],
        transposed,
    })
}

/// A leading `N.` of a name: N and the rest.
fn index(name: &str) -> Option<(usize, &str)> {
    let (index, rest) = name.split_once('.')?;
    Some((index.parse().ok()?, rest))
}

/// A residual pair's tensor (`convs.conv1.weight`, `norms.bn1.scale`, ...) as a `Res_block`
/// key.
fn residual_pair(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix("convs.") {
        let (conv, parameter) = rest.split_once('.')?;
        return matches!(conv, "conv1" | "conv2")
            .then(|| conv_parameter(parameter).map(|p| format!("{conv}.{p}")))
            .flatten();
    }
    let rest = name.strip_prefix("norms.")?;
    match rest.split_once('.')? {
        (bn @ ("bn1" | "bn2"), parameter) => Some(format!("{bn}.{}", norm(parameter)?)),
        ("shortcut", rest) => shortcut(rest),
        _ => None,
    }
}

/// A projection shortcut's tensor (`projection.conv.weight`, `projection.norm.scale`, ...).
fn shortcut(name: &str) -> Option<String> {
    let rest = name.strip_prefix("projection.")?;
    match rest.split_once('.')? {
        ("conv", parameter) => Some(format!("shortcut.0.{}", conv_parameter(parameter)?)),
        ("norm", parameter) => Some(format!("shortcut.1.{}", norm(parameter)?)),
        _ => None,
    }
}

fn conv_parameter(name: &str) -> Option<&'static str> {
    match name {
        "weight" => Some("weight"),
        "bias" => Some("bias"),
        _ => None,
    }
}

fn norm(name: &str) -> Option<&'static str> {
    match name {
        "scale" => Some("weight"),
        "bias" => Some("bias"),
        "running_mean" => Some("running_mean"),
        "running_var" => Some("running_var"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R10: Structure = Structure {
        depth: 4,
        passes: 3,
    };

    fn keys(name: &str) -> Vec<String> {
        authors_tensor(name, R10).expect(name).keys
    }

    #[test]
    fn names_map_to_the_authors_modules() {
        assert_eq!(keys("stem.norms.bn1.scale"), ["conv0_0.0.bn1.weight"]);
        assert_eq!(
            keys("stem.norms.shortcut.projection.norm.running_var"),
            ["conv0_0.0.shortcut.1.running_var"]
        );
        assert_eq!(
            keys("head.fuse.convs.conv2.bias"),
            ["post_transform_conv_block.0.conv2.bias"]
        );
        assert_eq!(keys("head.output.weight"), ["final.weight"]);
        assert_eq!(
            keys("unet.deeper.rucb.pairs.1.conv2.weight"),
            [0, 1, 2].map(|t| format!("iteration{t}_layer1_encoder_convs.operator.9.weight"))
        );
        assert_eq!(
            keys("unet.deeper.deeper.rucb.passes.2.0.shortcut.projection.conv.bias"),
            ["iteration2_layer2_encoder_convs.shortcut.0.bias"]
        );
        assert_eq!(
            keys("unet.rucb.passes.1.1.bn2.running_mean"),
            ["iteration1_layer0_encoder_convs.operator.10.running_mean"]
        );
        assert_eq!(
            keys("unet.deeper.deeper.decoder.passes.0.project_high.weight"),
            ["iteration0_layer0_decoders_SBAM.pwconv2.weight"]
        );
        assert_eq!(
            keys("unet.decoder.passes.2.gate.bias"),
            ["iteration2_layer2_decoders_SBAM.pwconv1.bias"]
        );
        let squeeze = authors_tensor("unet.decoder.passes.0.attention.squeeze", R10).unwrap();
        assert_eq!(
            squeeze.keys,
            ["iteration0_layer2_decoders_SBAM.ca.fc1.weight"]
        );
        assert!(squeeze.transposed);
    }

    #[test]
    fn tensors_the_authors_code_lacks_have_no_key() {
        for name in [
            "unet.decoder.fuser.convs.conv1.weight",
            "unet.rucb.passes.0.1.shortcut.projection.conv.weight",
            "head.output.scale",
            "stem.convs.conv3.weight",
        ] {
            assert_eq!(authors_tensor(name, R10), None, "{name}");
        }
    }

    #[test]
    fn structure_counts_levels_and_passes() {
        let names = [
            "stem.convs.conv1.weight",
            "unet.rucb.passes.2.0.bn1.scale",
            "unet.deeper.deeper.deeper.rucb.pairs.0.conv1.weight",
        ];
        assert_eq!(Structure::of(names), R10);
    }
}
