"""Makes the weight-parity fixtures of tests/fixtures/parity/ with the authors' PyTorch code.

Usage (PyTorch and safetensors from PyPI; the authors' repository github.com/yongxianLiu/RRCANet
checked out anywhere, its code is not part of this repository):

    python scripts/make_parity_fixture.py --authors PATH/TO/RRCANet/RRCA-Net/model \
        --out tests/fixtures/parity

For each configuration below it writes
- NAME.weights.safetensors: a seeded random state of the authors' `RRCANet`, saved with
  `safetensors.torch.save_model` (one name per shared RuCB tensor, as users' files have it);
- NAME.outputs.safetensors: `input` (2 x 3 x SIZE x SIZE), `eval_logits` (eval mode), then, in train
  mode on the same input, `train_logits`, the probe loss `loss` = sum(train_logits * `probe`),
  `grad.KEY` for every trainable tensor and `after.KEY` for every BatchNorm running statistic
  after that forward pass (keys of the weights file).
The outputs are computed in float64 and stored as float32. Every value is drawn from fixed
seeds, so the files are reproducible with the same PyTorch.
"""

import argparse
import copy
import os
import sys

import torch
from safetensors.torch import load_model, save_file, save_model

# Our model names and the authors' constructor arguments (their train.py passes the integrate
# and deep-supervision switches as the strings 'True' / 'False').
# Input height and width: small enough that a batch without kinks near its values exists.
SIZE = 32

CONFIGS = {
    "r10": dict(num_blocks=[2, 1, 1, 1], iterations=2, integrate="True", deep_supervision="False"),
    "r18": dict(num_blocks=[3, 2, 2, 2], iterations=2, integrate="True", deep_supervision="False"),
    "r18-nofsm": dict(num_blocks=[3, 2, 2, 2], iterations=2, integrate="False", deep_supervision="False"),
}


def randomise(model, generator):
    """Every tensor away from its default, so that a swapped or transposed tensor shows:
    conv weights He-normal, biases N(0, 0.1), BatchNorm weights in [0.5, 1.5); then the running
    statistics of one train-mode pass over a random batch (momentum 1), so that eval mode
    normalises as training would have taught it and the logits stay of order 1 (with arbitrary
    running statistics they reach thousands, where float32 itself is off by 1e-3)."""
    with torch.no_grad():
        for name, tensor in model.state_dict(keep_vars=True).items():
            if name.endswith(("num_batches_tracked", "running_mean", "running_var")):
                continue
            if tensor.dim() == 4:
                fan_in = tensor.shape[1] * tensor.shape[2] * tensor.shape[3]
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
            elif name.endswith("weight"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            else:
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=generator))
        norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for norm in norms:
            norm.momentum = 1.0
        model.train()
        model(torch.randn((4, 3, SIZE, SIZE), generator=generator))
        for norm in norms:
            norm.momentum = 0.1
            norm.num_batches_tracked.zero_()


def gradients(model, input, probe):
    """The float64 gradient of every distinct parameter of sum(train logits * probe)."""
    model = copy.deepcopy(model).double()
    model.train()
    (model(input.double()) * probe.double()).sum().backward()
    return [p.grad for p in model.parameters()]


def stable_batch(model, generator, scale=1e-6, trials=3, tolerance=1e-4):
    """An input and probe whose gradients stay put when the input moves by `scale` (relative):
    ReLU and max pooling make gradients jump where a value sits at a kink or a tie, and a float32
    implementation lands on the other side of a kink that float64 passes within 1e-6. Seen at
    64 x 64: moving the input by 1e-6 moved a float64 weight gradient by 1.1-2.7 %, and no batch
    of 50 was stable. Draws batches until one is `tolerance`-stable."""
    for _ in range(50):
        input = torch.randn((2, 3, SIZE, SIZE), generator=generator)
        probe = torch.randn((2, 1, SIZE, SIZE), generator=generator)
        reference = gradients(model, input, probe)
        scale_of_all = max(g.abs().max() for g in reference)
        worst = 0.0
        for _ in range(trials):
            moved = input * (1 + scale * torch.randn(input.shape, generator=generator))
            for g, r in zip(gradients(model, moved, probe), reference):
                change = (g - r).abs().max() / max(r.abs().max(), 1e-4 * scale_of_all)
                worst = max(worst, change.item())
        if worst < tolerance:
            return input, probe
    raise RuntimeError("no stable batch in 50 draws")


def relative_error(actual, expected):
    return ((actual.double() - expected).abs().max() / expected.abs().max()).item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--authors", required=True, help="the authors' RRCA-Net/model folder")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    sys.path.insert(0, args.authors)
    from RRCANet import RRCANet, Res_block  # noqa: E402  (the authors' module)

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for name, config in CONFIGS.items():
        generator = torch.Generator().manual_seed(0)
        model = RRCANet(num_classes=1, input_channels=3, block=Res_block, num_layers=4,
                        multiplier=1.0, **config)
        randomise(model, generator)
        weights = os.path.join(args.out, f"{name}.weights.safetensors")
        save_model(model, weights)
        # What a user's file holds is what we test: reload it into a fresh model.
        model = RRCANet(num_classes=1, input_channels=3, block=Res_block, num_layers=4,
                        multiplier=1.0, **config)
        missing, unexpected = load_model(model, weights, strict=True)
        assert not missing and not unexpected, (missing, unexpected)

        input, probe = stable_batch(model, generator)
        model.eval()
        with torch.no_grad():
            float32_logits = model(input)
        # The reference values are computed in float64 (stored as float32), so that they are the
        # model's values, not one float32 summation order's.
        model = model.double()
        model.eval()
        with torch.no_grad():
            eval_logits = model(input.double())
        model.train()
        train_logits = model(input.double())
        loss = (train_logits * probe.double()).sum()
        loss.backward()

        outputs = {"input": input, "probe": probe, "eval_logits": eval_logits,
                   "train_logits": train_logits.detach(), "loss": loss.detach().reshape(1)}
        seen = set()
        for key, parameter in model.named_parameters():  # one name per shared tensor
            if id(parameter) not in seen:
                seen.add(id(parameter))
                outputs[f"grad.{key}"] = parameter.grad
        for key, tensor in model.state_dict().items():
            if key.endswith("running_mean") or key.endswith("running_var"):
                outputs[f"after.{key}"] = tensor
        outputs = {k: v.float() for k, v in outputs.items()}
        print(f"{name}: PyTorch float32 eval logits off float64 by "
              f"{relative_error(float32_logits, eval_logits):.2e} (max |logit| "
              f"{eval_logits.abs().max().item():.2f})")
        save_file({k: v.contiguous() for k, v in outputs.items()},
                  os.path.join(args.out, f"{name}.outputs.safetensors"))
        print(name, sum(p.numel() for p in model.parameters()), "parameters,",
              len(model.state_dict()), "state_dict keys, loss", loss.item())


if __name__ == "__main__":
    main()
