"""Makes the weight-parity fixtures of tests/fixtures/parity/ with the authors' PyTorch code.

Usage (PyTorch and safetensors from PyPI; the authors' repository github.com/yongxianLiu/RRCANet
checked out anywhere, its code is not part of this repository):

    python scripts/make_parity_fixture.py --authors PATH/TO/RRCANet/RRCA-Net/model \
        --baselines PATH/TO/RRCANet/BasicIRSTD-RRCANet/model/ResUNet --out tests/fixtures/parity

    python scripts/make_parity_fixture.py --baselines ... --costs   # counts only, no files

For each configuration below it writes
- NAME.weights.safetensors: a seeded random state of the authors' `RRCANet` (or of their
  Table II baselines `ResUNet` and `ResUNet_RuCB`, at widths 4..64 so that the files stay
  under 2 MB; the widths 8..128 of Table II are counted by `--costs`), saved with
  `safetensors.torch.save_model` (one name per shared RuCB tensor, as users' files have it);
- NAME.outputs.safetensors: `input` (2 x channels x SIZE x SIZE), `eval_logits` (eval mode), then, in train
  mode on the same input, `train_logits`, the probe loss `loss` = sum(train_logits * `probe`),
  `grad.KEY` for every trainable tensor and `after.KEY` for every BatchNorm running statistic
  after that forward pass (keys of the weights file).
`pytorch_float32_error` is the relative error of PyTorch's own float32 eval logits (the
fixtures made before it was added lack it). Configurations in FORWARD_ONLY keep only `input`, the logits and `after.KEY` (no probe, loss or
gradients). `--only NAME...` writes only those configurations' files.
The logits are the output of the module `final` (the baselines' forward ends in a sigmoid).
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
# The Table II baselines at half width (4..64; their defaults are 8..128): name -> (class,
# constructor arguments, input channels).
BASELINES = {
    "resunet-w4": ("ResUNet", dict(nb_filter=[4, 8, 16, 32, 64]), 3),
    # Forward only (see FORWARD_ONLY), with their BasicIRSTD pipeline's one grey channel.
    "resunet-rucb-w4-grey": ("ResUNet_RuCB", dict(multiplier=0.5), 1),
}
# Configurations whose fixture holds no gradients: no batch was found whose float64 gradients
# stay put when the input moves by 1e-6 (ResUNet_RuCB at half width: they moved by 14 % to
# 95 %), so a float32 gradient comparison would compare which side of a ReLU kink each
# lands on. Forward values are continuous there: the logits and running statistics are kept.
FORWARD_ONLY = {"resunet-rucb-w4-grey"}


def logits(model, input):
    """The output of the model's `final` conv (the baselines apply a sigmoid after it)."""
    captured = []
    handle = model.final.register_forward_hook(lambda module, inputs, output: captured.append(output))
    model(input)
    handle.remove()
    return captured[-1]


def costs(model, channels, size=256):
    """torchstat's FLOPs and the executed MACs of one `size` x `size` image, by forward hooks on
    every leaf module with torchstat's rules (src/model/cost.rs): a module's count is that of its
    LAST call; Conv2d K^2 C_in C_out H W (+ C_out H W for a bias), BatchNorm2d 2 C H W, ReLU and
    MaxPool2d the elements of their input, Upsample H W of its output, anything else 0. MACs:
    every conv call's K^2 C_in C_out H W."""
    last, macs = {}, [0]

    def hook(module, inputs, output):
        x = inputs[0]
        if isinstance(module, torch.nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            count = (kernel * module.in_channels * module.out_channels // module.groups
                     * output.shape[2] * output.shape[3])
            macs[0] += count
            bias = output[0].numel() if module.bias is not None else 0
            last[module] = count + bias
        elif isinstance(module, torch.nn.BatchNorm2d):
            last[module] = 2 * x[0].numel()
        elif isinstance(module, (torch.nn.ReLU, torch.nn.MaxPool2d)):
            last[module] = x[0].numel()
        elif isinstance(module, torch.nn.Upsample):
            last[module] = output.shape[2] * output.shape[3]

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, channels, size, size))
    for handle in handles:
        handle.remove()
    return sum(last.values()), macs[0]


def print_costs(classes):
    """Parameters, torchstat FLOPs and MACs at 256 x 256 of the baselines' defaults (Table II)
    at 1 and 3 input channels, and of r18 (to check the hooks against its known counts)."""
    for channels in (1, 3):
        for name, build in classes.items():
            model = build(channels)
            flops, macs = costs(model, channels)
            print(f"{name} at {channels} input channels: "
                  f"{sum(p.numel() for p in model.parameters())} parameters, "
                  f"{flops} torchstat FLOPs, {macs} MACs")


def randomise(model, generator, channels=3):
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
        logits(model, torch.randn((4, channels, SIZE, SIZE), generator=generator))
        for norm in norms:
            norm.momentum = 0.1
            norm.num_batches_tracked.zero_()


def gradients(model, input, probe):
    """The float64 gradient of every distinct parameter of sum(train logits * probe)."""
    model = copy.deepcopy(model).double()
    model.train()
    (logits(model, input.double()) * probe.double()).sum().backward()
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
    parser.add_argument("--authors", help="the authors' RRCA-Net/model folder")
    parser.add_argument("--baselines", help="the authors' BasicIRSTD-RRCANet/model/ResUNet folder")
    parser.add_argument("--out")
    parser.add_argument("--costs", action="store_true", help="print the counts, write nothing")
    parser.add_argument("--only", nargs="+", help="write only these configurations' files")
    args = parser.parse_args()
    builders = {}
    if args.authors:
        sys.path.insert(0, args.authors)
        from RRCANet import RRCANet, Res_block  # noqa: E402  (the authors' module)
        for name, config in CONFIGS.items():
            builders[name] = ((lambda config: lambda channels=3: RRCANet(
                num_classes=1, input_channels=channels, block=Res_block, num_layers=4,
                multiplier=1.0, **config))(config), 3)
    if args.baselines:
        sys.path.insert(0, args.baselines)
        import model_ResUNet  # noqa: E402  (the authors' modules)
        import ResUNet_RuCB
        classes = {"ResUNet": model_ResUNet.ResUNet, "ResUNet_RuCB": ResUNet_RuCB.ResUNet_RuCB}
        if args.costs:
            tables = {"resunet": lambda channels: classes["ResUNet"](input_channels=channels),
                      "resunet-rucb":
                          lambda channels: classes["ResUNet_RuCB"](input_channels=channels)}
            if "r18" in builders:
                tables["r18"] = builders["r18"][0]
            print_costs(tables)
            return
        for name, (class_name, config, channels) in BASELINES.items():
            builders[name] = ((lambda build, config, channels: lambda: build(
                num_classes=1, input_channels=channels, **config))(
                    classes[class_name], config, channels), channels)
    if not args.out:
        parser.error("--out is required unless --costs")

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for name, (build, channels) in builders.items():
        if args.only and name not in args.only:
            continue
        generator = torch.Generator().manual_seed(0)
        model = build()
        randomise(model, generator, channels)
        weights = os.path.join(args.out, f"{name}.weights.safetensors")
        save_model(model, weights)
        # What a user's file holds is what we test: reload it into a fresh model.
        model = build()
        missing, unexpected = load_model(model, weights, strict=True)
        assert not missing and not unexpected, (missing, unexpected)

        if name in FORWARD_ONLY:
            input = torch.randn((2, channels, SIZE, SIZE), generator=generator)
            probe = None
        else:
            input, probe = stable_batch(model, generator)
        model.eval()
        with torch.no_grad():
            float32_logits = logits(model, input)
        # The reference values are computed in float64 (stored as float32), so that they are the
        # model's values, not one float32 summation order's.
        model = model.double()
        model.eval()
        with torch.no_grad():
            eval_logits = logits(model, input.double())
        model.train()
        train_logits = logits(model, input.double())
        # PyTorch's own float32 distance from the float64 logits: how well float32 can do on
        # this model and input (the test allows ours three times that, at least 1e-4).
        float32_error = relative_error(float32_logits, eval_logits)
        outputs = {"input": input, "eval_logits": eval_logits,
                   "train_logits": train_logits.detach(),
                   "pytorch_float32_error": torch.tensor([float32_error])}
        if probe is not None:
            loss = (train_logits * probe.double()).sum()
            loss.backward()
            outputs.update(probe=probe, loss=loss.detach().reshape(1))
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
              f"{float32_error:.2e} (max |logit| "
              f"{eval_logits.abs().max().item():.2f})")
        save_file({k: v.contiguous() for k, v in outputs.items()},
                  os.path.join(args.out, f"{name}.outputs.safetensors"))
        print(name, sum(p.numel() for p in model.parameters()), "parameters,",
              len(model.state_dict()), "state_dict keys")


if __name__ == "__main__":
    main()
