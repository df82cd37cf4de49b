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
With `--device cuda` every run ends with torch.cuda.synchronize() and `peak_gpu_mb` adds
torch.cuda.max_memory_allocated per measurement.

Usage: bench_pytorch.py --authors RRCA-Net/model [--model r18] [--batch 8] [--size 256]
                        [--steps 5] [--threads 2] [--device cpu|cuda]
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


def measure(run, steps, device):
    """Median milliseconds of `steps` runs after one warm-up, the peak RSS meanwhile and, on
    CUDA, the peak of allocated GPU memory (MiB)."""
    cuda = device.type == "cuda"

    def timed_run():
        run()
        if cuda:
            torch.cuda.synchronize()

    reset_peak_rss()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    timed_run()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        timed_run()
        times.append((time.perf_counter() - started) * 1e3)
    gpu = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    return statistics.median(times), peak_rss_mb(), gpu


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
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    device = torch.device(args.device)

    sys.path.insert(0, os.path.abspath(args.authors))
    from loss import DicepolyTopK  # noqa: E402  (the authors' modules)
    from RRCANet import RRCANet, Res_block  # noqa: E402

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = RRCANet(num_classes=1, input_channels=3, block=Res_block, num_blocks=BLOCKS[args.model],
                    iterations=2, num_layers=4, multiplier=1.0, integrate="True",
                    deep_supervision="False").to(device)
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.05)
    images = torch.randn(args.batch, 3, args.size, args.size, device=device)
    labels = masks(args.batch, args.size).to(device)

    def train_step():
        model.train()
        loss = DicepolyTopK(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def infer(batch, size):
        x = torch.randn(batch, 3, size, size, device=device)

        def run():
            model.eval()
            with torch.no_grad():
                model(x)
        return run

    results, peaks, gpu_peaks = {}, {}, {}
    plan = [("infer_b1_ms", infer(1, args.size)), ("infer_512_ms", infer(1, 512)),
            ("infer_b8_ms", infer(args.batch, args.size)), ("infer_1024_ms", infer(1, 1024)),
            ("train_step_ms", train_step)]
    for key, run in plan:
        results[key], peaks[key], gpu_peaks[key] = measure(run, args.steps, device)
    print(json.dumps({
        "implementation": "pytorch", "torch": torch.__version__, "threads": args.threads,
        "device": args.device,
        "model": args.model, "batch": args.batch, "size": args.size, "steps": args.steps,
        **{k: round(v, 2) for k, v in results.items()},
        "peak_rss_mb": {k: round(v, 1) for k, v in peaks.items()},
        **({"peak_gpu_mb": {k: round(v, 1) for k, v in gpu_peaks.items()}}
           if args.device == "cuda" else {}),
    }))


if __name__ == "__main__":
    main()
