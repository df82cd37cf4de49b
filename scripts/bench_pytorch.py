#!/usr/bin/env python3
"""The PyTorch side of `scripts/bench_vs_pytorch.sh`: the authors' RRCA-Net, timed as `rrcanet
bench` times ours, printed as one JSON object with the same keys.

Measures, after one warm-up run each, the median of `--steps` runs of:
- train_step_ms: a training step at batch `--batch` (forward in train mode, their DpT-k loss,
  backward, their optimizer AdaGrad lr 0.05, zero_grad), as their train.py does it;
- infer_b1_ms, infer_b8_ms: eval-mode forward under torch.no_grad() at batch 1 and 8;
- infer_512_ms, infer_1024_ms: one 512 x 512 and one 1024 x 1024 image.
Peak resident memory of each measurement (`peak_rss_mb`, MiB) is the process's VmHWM, reset
before each through /proc/self/clear_refs; measurements run in order of growing memory, as ours.

Usage: bench_pytorch.py --authors RRCA-Net/model [--model r18] [--batch 8] [--size 256]
                        [--steps 5] [--threads 2]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

BLOCKS = {"r10": [2, 1, 1, 1], "r18": [3, 2, 2, 2], "r34": [3, 4, 6, 3]}


def reset_peak_rss():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(run, steps):
    """Median milliseconds of `steps` runs after one warm-up, and the peak RSS meanwhile."""
    reset_peak_rss()
    run()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times), peak_rss_mb()


def masks(batch, size):
    """A 3 x 3 target per image at a varying position, as `rrcanet bench` uses."""
    m = torch.zeros(batch, 1, size, size)
    for image in range(batch):
        row, column = size // 4 + 7 * image, size // 3 + 11 * image
        for y in range(row, row + 3):
            for x in range(column, column + 3):
                m[image, 0, y % size, x % size] = 1.0
    return m


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--authors", required=True, help="their RRCA-Net/model folder")
    parser.add_argument("--model", default="r18", choices=sorted(BLOCKS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    sys.path.insert(0, os.path.abspath(args.authors))
    from loss import DicepolyTopK  # noqa: E402  (the authors' modules)
    from RRCANet import RRCANet, Res_block  # noqa: E402

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = RRCANet(num_classes=1, input_channels=3, block=Res_block, num_blocks=BLOCKS[args.model],
                    iterations=2, num_layers=4, multiplier=1.0, integrate="True",
                    deep_supervision="False")
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.05)
    images = torch.randn(args.batch, 3, args.size, args.size)
    labels = masks(args.batch, args.size)

    def train_step():
        model.train()
        loss = DicepolyTopK(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def infer(batch, size):
        x = torch.randn(batch, 3, size, size)

        def run():
            model.eval()
            with torch.no_grad():
                model(x)
        return run

    results, peaks = {}, {}
    plan = [("infer_b1_ms", infer(1, args.size)), ("infer_512_ms", infer(1, 512)),
            ("infer_b8_ms", infer(args.batch, args.size)), ("infer_1024_ms", infer(1, 1024)),
            ("train_step_ms", train_step)]
    for key, run in plan:
        results[key], peaks[key] = measure(run, args.steps)
    print(json.dumps({
        "implementation": "pytorch", "torch": torch.__version__, "threads": args.threads,
        "model": args.model, "batch": args.batch, "size": args.size, "steps": args.steps,
        **{k: round(v, 2) for k, v in results.items()},
        "peak_rss_mb": {k: round(v, 1) for k, v in peaks.items()},
    }))


if __name__ == "__main__":
    main()
