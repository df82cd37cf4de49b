#!/usr/bin/env python3
"""The output end of trained RRCA-Nets: can the background still be pushed down?

For every run directory (or checkpoint file) given, prints the last conv's bias (the floor of
a background pixel whose head features are all zero), the signs of its eight weights, the
biases of the FSM residual pair's last BatchNorm (the pair ends in a ReLU, so channels whose
sum is negative on the background give zero there), and, where the run kept its AdaGrad
state, the accumulated squared gradient of the bias. A run whose weights are all positive
and whose biases are all negative has no path left that lowers the background below the bias:
its background probability stays at sigmoid(bias) (notes/results.md, "Seed 2's training
loss"). Needs numpy and safetensors (`pip install numpy safetensors`). Usage:

    python3 scripts/head-signs.py RUN_DIR_OR_CHECKPOINT...
"""
import math
import os
import sys

from safetensors.numpy import load_file


def weights_of(path):
    if os.path.isdir(path):
        return os.path.join(path, "best.safetensors"), os.path.join(path, "optimizer.safetensors")
    return path, None


def main(paths):
    if not paths:
        sys.exit(__doc__)
    for path in paths:
        checkpoint, optimizer = weights_of(path)
        try:
            tensors = load_file(checkpoint)
        except Exception as error:  # the path is the user's: name it
            sys.exit(f"{checkpoint}: {error}")
        bias = float(tensors["head.output.bias"][0])
        weights = tensors["head.output.weight"].ravel()
        pair = tensors["head.fuse.norms.bn2.bias"] + tensors["head.fuse.norms.shortcut.projection.norm.bias"]
        line = (
            f"{path}: bias {bias:.3f} (floor p = {1 / (1 + math.exp(-bias)):.2e}), "
            f"weights {int((weights > 0).sum())}/{weights.size} positive, "
            f"pair biases {int((pair < 0).sum())}/{pair.size} negative"
        )
        if optimizer and os.path.exists(optimizer):
            state = load_file(optimizer)
            key = "head.output.bias.sum"
            if key in state:
                line += f", AdaGrad sum of the bias {float(state[key][0]):.2f}"
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
