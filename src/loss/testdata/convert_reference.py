#!/usr/bin/env python3
"""Converts the authors' DpT-k reference cases into `reference_cases.json` (test data).

Usage: python3 src/loss/testdata/convert_reference.py /work/shared/data/reference-loss

Reads `loss_golden.json` and each case's `.npy` files (logits, target, float64 gradient) with
a small pure-Python .npy reader (version 1/2 headers, little-endian f4/f8, C order), and
writes the inputs, the float64 loss, its parts and gradient, the float32 loss, and the
reference's top-k pixel indices. Floats are written with Python's round-trip repr, so the
float32 inputs and float64 values survive exactly.
"""
import ast
import json
import os
import struct
import sys


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"{path}: not a .npy file")
    major = data[6]
    if major == 1:
        (header_len,) = struct.unpack("<H", data[8:10])
        start = 10
    else:
        (header_len,) = struct.unpack("<I", data[8:12])
        start = 12
    header = ast.literal_eval(data[start:start + header_len].decode("latin1"))
    if header["fortran_order"]:
        raise ValueError(f"{path}: Fortran order is not supported")
    codes = {"<f4": "f", "<f8": "d"}
    if header["descr"] not in codes:
        raise ValueError(f"{path}: unsupported dtype {header['descr']}")
    count = 1
    for n in header["shape"]:
        count *= n
    values = struct.unpack_from(f"<{count}{codes[header['descr']]}", data, start + header_len)
    return list(header["shape"]), list(values)


def main(source_dir):
    with open(os.path.join(source_dir, "loss_golden.json")) as f:
        golden = json.load(f)
    cases = []
    for case in golden["cases"]:
        shape, logits = read_npy(os.path.join(source_dir, case["logits_file"]))
        target_shape, target = read_npy(os.path.join(source_dir, case["target_file"]))
        grad_shape, grad = read_npy(os.path.join(source_dir, case["grad_f64_file"]))
        if not (shape == target_shape == grad_shape == case["shape"]):
            raise ValueError(f"{case['case']}: shapes disagree")
        cases.append({
            "name": case["case"],
            "shape": shape,
            "epsilon": case["epsilon"],
            "k_percent": case["k_percent"],
            "k": case["k"],
            "logits": logits,
            "target": target,
            "loss_f64": case["loss_f64"],
            "dice_f64": case["dice_f64"],
            "polytopk_f64": case["polytopk_f64"],
            "grad_f64": grad,
            "loss_f32": case["loss_f32"],
            "topk_indices": case["topk_flat_indices_sorted_desc_f32"],
        })
    out = {"source": golden["source"], "definition": golden["definition"], "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_cases.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/reference-loss")
