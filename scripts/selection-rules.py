#!/usr/bin/env python3
"""Selection rules compared on runs that watched the test split (`rrcanet train --watch-test`).

For every run directory given, reads metrics.csv and prints, for each rule, the epoch it picks
from the validation columns only and the watched test IoU of that epoch, beside the best test
epoch's; then the mean gap per rule over the runs. Usage:

    python3 scripts/selection-rules.py RUN_DIR...
"""
import csv
import statistics
import sys


def read(run):
    with open(f"{run}/metrics.csv") as f:
        rows = list(csv.DictReader(f))
    if not rows or "test_iou" not in rows[0]:
        sys.exit(f"{run}/metrics.csv: no test_iou column (train with --watch-test)")
    return [{k: float(v) for k, v in row.items()} for row in rows]


def first_best(rows, score):
    """The epoch of the highest score, the earliest on ties (as the trainer keeps it)."""
    best = None
    for row in rows:
        if best is None or score(row) > score(best):
            best = row
    return best


def moving_average(rows, width):
    """Picks the last epoch of the window of `width` epochs with the best mean validation IoU."""
    scored = [
        dict(row, window=statistics.mean(r["val_iou"] for r in rows[max(0, i - width + 1) : i + 1]))
        for i, row in enumerate(rows)
    ]
    return first_best(scored, lambda r: r["window"])


RULES = {
    "best validation IoU (ours)": lambda rows: first_best(rows, lambda r: r["val_iou"]),
    "best validation IoU + nIoU": lambda rows: first_best(rows, lambda r: r["val_iou"] + r["val_niou"]),
    "best 3-epoch mean of validation IoU": lambda rows: moving_average(rows, 3),
    "best validation IoU in the last quarter": lambda rows: first_best(
        rows[len(rows) * 3 // 4 :], lambda r: r["val_iou"]
    ),
    "last epoch": lambda rows: rows[-1],
}


def main(runs):
    gaps = {rule: [] for rule in RULES}
    for run in runs:
        rows = read(run)
        best = first_best(rows, lambda r: r["test_iou"])
        print(f"{run}: best test IoU {best['test_iou']:.4f} at epoch {best['epoch']:.0f}")
        for rule, pick in RULES.items():
            chosen = pick(rows)
            gap = best["test_iou"] - chosen["test_iou"]
            gaps[rule].append(gap)
            print(f"  {rule:42} epoch {chosen['epoch']:3.0f}  test IoU {chosen['test_iou']:.4f}  gap {gap:.4f}")
    print(f"mean gap over {len(runs)} runs (± sample std):")
    for rule, values in gaps.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"  {rule:42} {statistics.mean(values):.4f} ± {spread:.4f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
