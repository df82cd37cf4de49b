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
//!
//! The Table II baselines (BasicIRSTD-RRCANet/model/ResUNet) share the stem (`conv0_0.0`) and
//! `final`:
//! - `ResUNet` (model_ResUNet.py; our top level has no encoder, [`Network::ResUnet`]):
//!   `conv{l}_0.{k}` is residual pair k of level l's encoder (ours: `rucb.pairs.{k}` with the
//!   one pass' `rucb.passes.0.{k}`), `conv{l}_{L-1-l}.0` the residual pair of level l's
//!   decoder (`decoder.passes.0.fuse`).
//! - `ResUNet_RuCB` (ResUNet_RuCB.py, [`Network::ResUnetRucb`]): the encoder as RRCANet's,
//!   `iteration{t}_layer{j}_decoder_convs` the decoder of level L - 2 - j in pass t, a RuCB
//!   block of one pair (ours: `decoder.rucb`, its convolutions under every pass' name), and the
//!   FSM as RRCANet's.

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

/// Which of the authors' networks a model of ours is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// `RRCANet` (RRCA-Net/model/RRCANet.py) and its ablations.
    RrcaNet,
    /// The `ResUNet` baseline: its top level has no encoder of its own.
    ResUnet,
    /// The `ResUNet_RuCB` baseline: its decoders are RuCB blocks.
    ResUnetRucb,
}

/// The shape of a model that the key table needs: network, levels and passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Structure {
    /// The authors' network it is.
    pub network: Network,
    /// U-Net levels (the authors' `num_layers`).
    pub depth: usize,
    /// Passes through encoder and decoder (the authors' `iterations + 1`).
    pub passes: usize,
}

impl Structure {
    /// The structure of the model whose tensors are named `names`.
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let (mut depth, mut passes) = (0, 0);
        let (mut top_encoder, mut reusable_decoder) = (false, false);
        for name in names {
            if let Some(rest) = name.strip_prefix("unet.") {
                let (level, rest) = level_of(rest);
                depth = depth.max(level + 1);
                top_encoder |= level == 0 && rest.starts_with("rucb.");
                reusable_decoder |= rest.starts_with("decoder.rucb.");
                if let Some(pass) = rest
                    .strip_prefix("rucb.passes.")
                    .and_then(|rest| rest.split('.').next())
                    .and_then(|pass| pass.parse::<usize>().ok())
                {
                    passes = passes.max(pass + 1);
                }
            }
        }
        let network = match (top_encoder, reusable_decoder) {
            (false, _) => Network::ResUnet,
            (true, true) => Network::ResUnetRucb,
            (true, false) => Network::RrcaNet,
        };
        Structure {
            network,
            depth,
            passes,
        }
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
    let fusion = structure.depth.checked_sub(2 + level);
    if structure.network == Network::ResUnet {
        return resunet_level(level, structure.depth, rest).map(AuthorsTensor::one);
    }
    if let Some(rest) = rest.strip_prefix("rucb.") {
        return reusable_block(encoder, structure.passes, rest);
    }
    if structure.network == Network::ResUnetRucb {
        let fusion = fusion?;
        let decoder = |pass: usize| format!("iteration{pass}_layer{fusion}_decoder_convs");
        return reusable_block(
            decoder,
            structure.passes,
            rest.strip_prefix("decoder.rucb.")?,
        );
    }
    let rest = rest.strip_prefix("decoder.passes.")?;
    let (pass, rest) = index(rest)?;
    let module = format!("iteration{pass}_layer{}_decoders_SBAM", fusion?);
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

/// A tensor of a RuCB block (below `rucb.`: `pairs.{k}.conv1.weight`, `passes.{t}.{k}.bn1.scale`,
/// ...) whose pass-t module the authors name `module(t)`: `operator.{6k}` and `operator.{6k+3}`
/// the shared convolutions (one key per pass), `operator.{6k+1}` and `operator.{6k+4}` pass t's
/// BatchNorms, `shortcut` pass t's projection shortcut of the first pair.
fn reusable_block(
    module: impl Fn(usize) -> String,
    passes: usize,
    rest: &str,
) -> Option<AuthorsTensor> {
    if let Some(rest) = rest.strip_prefix("pairs.") {
        let (pair, rest) = index(rest)?;
        let (offset, parameter) = match rest.split_once('.')? {
            ("conv1", parameter) => (0, parameter),
            ("conv2", parameter) => (3, parameter),
            _ => return None,
        };
        let parameter = conv_parameter(parameter)?;
        let keys = (0..passes)
            .map(|pass| {
                format!(
                    "{}.operator.{}.{parameter}",
                    module(pass),
                    6 * pair + offset
                )
            })
            .collect();
        return Some(AuthorsTensor {
            keys,
            transposed: false,
        });
    }
    let rest = rest.strip_prefix("passes.")?;
    let (pass, rest) = index(rest)?;
    let (pair, rest) = index(rest)?;
    let key = match rest.split_once('.')? {
        ("bn1", parameter) => format!("operator.{}.{}", 6 * pair + 1, norm(parameter)?),
        ("bn2", parameter) => format!("operator.{}.{}", 6 * pair + 4, norm(parameter)?),
        ("shortcut", rest) if pair == 0 => shortcut(rest)?,
        _ => return None,
    };
    Some(AuthorsTensor::one(format!("{}.{key}", module(pass))))
}

/// The authors' ResUNet key of our tensor `rest` of level `level` (of `depth`): the encoder's
/// residual pairs `conv{l}_0.{k}` (one pass), the decoder's `conv{l}_{depth-1-l}.0`.
fn resunet_level(level: usize, depth: usize, rest: &str) -> Option<String> {
    if let Some(rest) = rest.strip_prefix("rucb.pairs.") {
        let (pair, rest) = index(rest)?;
        let (conv, parameter) = rest.split_once('.')?;
        return matches!(conv, "conv1" | "conv2")
            .then(|| conv_parameter(parameter).map(|p| format!("conv{level}_0.{pair}.{conv}.{p}")))
            .flatten();
    }
    if let Some(rest) = rest.strip_prefix("rucb.passes.0.") {
        let (pair, rest) = index(rest)?;
        let key = match rest.split_once('.')? {
            (bn @ ("bn1" | "bn2"), parameter) => format!("{bn}.{}", norm(parameter)?),
            ("shortcut", rest) if pair == 0 => shortcut(rest)?,
            _ => return None,
        };
        return Some(format!("conv{level}_0.{pair}.{key}"));
    }
    let pair = residual_pair(rest.strip_prefix("decoder.passes.0.fuse.")?)?;
    Some(format!(
        "conv{level}_{}.0.{pair}",
        depth.checked_sub(1 + level)?
    ))
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
        network: Network::RrcaNet,
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
    fn resunet_names_map_to_the_authors_modules() {
        let resunet = Structure {
            network: Network::ResUnet,
            depth: 5,
            passes: 1,
        };
        let keys = |name: &str| authors_tensor(name, resunet).expect(name).keys;
        assert_eq!(keys("stem.convs.conv1.weight"), ["conv0_0.0.conv1.weight"]);
        assert_eq!(
            keys("unet.deeper.rucb.pairs.1.conv2.bias"),
            ["conv1_0.1.conv2.bias"]
        );
        assert_eq!(
            keys("unet.deeper.deeper.deeper.deeper.rucb.passes.0.0.shortcut.projection.norm.scale"),
            ["conv4_0.0.shortcut.1.weight"]
        );
        assert_eq!(
            keys("unet.deeper.deeper.rucb.passes.0.1.bn1.running_var"),
            ["conv2_0.1.bn1.running_var"]
        );
        assert_eq!(
            keys("unet.deeper.deeper.deeper.decoder.passes.0.fuse.norms.shortcut.projection.conv.weight"),
            ["conv3_1.0.shortcut.0.weight"]
        );
        assert_eq!(
            keys("unet.decoder.passes.0.fuse.convs.conv1.weight"),
            ["conv0_4.0.conv1.weight"]
        );
        assert_eq!(keys("head.output.bias"), ["final.bias"]);
        assert_eq!(
            authors_tensor(
                "unet.deeper.rucb.passes.0.1.shortcut.projection.conv.weight",
                resunet
            ),
            None
        );

        let rucb = Structure {
            network: Network::ResUnetRucb,
            depth: 5,
            passes: 3,
        };
        let keys = |name: &str| authors_tensor(name, rucb).expect(name).keys;
        assert_eq!(
            keys("unet.deeper.deeper.deeper.decoder.rucb.pairs.0.conv2.weight"),
            [0, 1, 2].map(|t| format!("iteration{t}_layer0_decoder_convs.operator.3.weight"))
        );
        assert_eq!(
            keys("unet.decoder.rucb.passes.2.0.bn2.bias"),
            ["iteration2_layer3_decoder_convs.operator.4.bias"]
        );
        assert_eq!(
            keys("unet.deeper.decoder.rucb.passes.1.0.shortcut.projection.norm.running_mean"),
            ["iteration1_layer2_decoder_convs.shortcut.1.running_mean"]
        );
        assert_eq!(
            keys("unet.deeper.deeper.deeper.deeper.rucb.pairs.1.conv1.bias"),
            [0, 1, 2].map(|t| format!("iteration{t}_layer4_encoder_convs.operator.6.bias"))
        );
        assert_eq!(
            keys("head.fuse.convs.conv1.weight"),
            ["post_transform_conv_block.0.conv1.weight"]
        );
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
        let resunet = [
            "stem.convs.conv1.weight",
            "unet.decoder.passes.0.fuse.convs.conv1.weight",
            "unet.deeper.rucb.passes.0.0.bn1.scale",
        ];
        assert_eq!(Structure::of(resunet).network, Network::ResUnet);
        let rucb = [
            "unet.rucb.passes.2.0.bn1.scale",
            "unet.decoder.rucb.pairs.0.conv1.weight",
        ];
        assert_eq!(Structure::of(rucb).network, Network::ResUnetRucb);
    }
}
