#!/usr/bin/env bash
# Ours against the authors' PyTorch RRCA-Net on this CPU, interleaved, in one sitting:
# `rrcanet bench --json` and scripts/bench_pytorch.py alternately, ROUNDS times each (default 2),
# then the ratio ours / PyTorch of every time and peak memory, per round.
#
# Usage: scripts/bench_vs_pytorch.sh AUTHORS_MODEL_DIR [OUT_DIR]
#   AUTHORS_MODEL_DIR  the authors' RRCA-Net/model folder (RRCANet.py, loss.py), e.g. from
#                      github yongxianLiu/RRCANet
#   OUT_DIR            where the JSON of every run goes (default bench-vs-pytorch/)
# Environment: PYTHON (default python3; needs torch: `python3 -m pip install torch`),
#   ROUNDS (2), STEPS (5), MODEL (r18), BATCH (8), SIZE (256), THREADS (2).
set -euo pipefail

if [ $# -lt 1 ] || [ ! -f "$1/RRCANet.py" ]; then
    echo "usage: $0 AUTHORS_MODEL_DIR [OUT_DIR]  (AUTHORS_MODEL_DIR holds the authors' RRCANet.py)" >&2
    exit 2
fi
authors=$1
out=${2:-bench-vs-pytorch}
python=${PYTHON:-python3}
rounds=${ROUNDS:-2} steps=${STEPS:-5} model=${MODEL:-r18} batch=${BATCH:-8} size=${SIZE:-256}
threads=${THREADS:-2}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"

cargo build --release --quiet
export RAYON_NUM_THREADS=$threads
lscpu | grep -E 'Model name|^CPU\(s\)' | tee "$out/machine.txt"
for round in $(seq 1 "$rounds"); do
    echo "round $round: ours" >&2
    target/release/rrcanet bench --json --model "$model" --batch "$batch" --size "$size" \
        --steps "$steps" > "$out/ours-$round.json"
    echo "round $round: PyTorch" >&2
    "$python" "$here/bench_pytorch.py" --authors "$authors" --model "$model" --batch "$batch" \
        --size "$size" --steps "$steps" --threads "$threads" > "$out/pytorch-$round.json"
done

"$python" - "$out" "$rounds" <<'PY'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
keys = ["train_step_ms", "infer_b1_ms", "infer_b8_ms", "infer_512_ms", "infer_1024_ms"]
memory = {"train_step_ms": "train_step", "infer_b1_ms": "infer_b1", "infer_b8_ms": "infer_b8",
          "infer_512_ms": "infer_512", "infer_1024_ms": "infer_1024"}
runs = [(json.load(open(f"{out}/ours-{r}.json")), json.load(open(f"{out}/pytorch-{r}.json")))
        for r in range(1, rounds + 1)]
machine = runs[0][0]["machine"]
print(f"{machine['cpu']} ({machine['instruction_set']}), {machine['threads']} threads; "
      f"PyTorch {runs[0][1]['torch']}")
print(f"{'measurement':<16}" + "".join(f"{f'round {r} ours/theirs ms':>30}" for r in range(1, rounds + 1))
      + f"{'time ratio':>12}{'memory ratio':>14}")
for key in keys:
    cells, ratios, memories = "", [], []
    for ours, theirs in runs:
        ratios.append(ours[key] / theirs[key])
        mine, their = ours["peak_rss_mb"][memory[key]], theirs["peak_rss_mb"][key]
        if mine is not None:
            memories.append(mine / their)
        cells += f"{f'{ours[key]:.1f} / {theirs[key]:.1f}':>30}"
    ratio = " / ".join(f"{r:.2f}" for r in ratios)
    mem = " / ".join(f"{m:.2f}" for m in memories) or "?"
    print(f"{key:<16}{cells}{ratio:>12}{mem:>14}")
PY
