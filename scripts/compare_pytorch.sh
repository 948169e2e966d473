#!/usr/bin/env bash
# Runs our benchmark and the PyTorch peer one after the other on this machine and prints ratios.
#
# Usage: scripts/compare_pytorch.sh [seed|paper|gated|gated-large] [--conditional]   (default: seed)
#        The gated presets run ../shared/peers/pixelcnn_gated_torch.py --bench with the same
#        layers, maps and kernels (read from `inspect --json`).
# Env:   THREADS (default 2) for both sides; BENCH_CMD to run another build of our bench
#        (it gets `--preset P --json` appended and must print the report as a JSON object);
#        PYTHON (default python3).
# Needs: cargo, python3 with pip (installs torch and numpy if missing; PyPI's wheel is large).
set -euo pipefail

preset="${1:-seed}"
conditional="${2:-}"
[ -z "$conditional" ] || [ "$conditional" = "--conditional" ] || { echo "second argument: --conditional or nothing" >&2; exit 2; }
threads="${THREADS:-2}"
python="${PYTHON:-python3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
peer="${PEER_SCRIPT:-$root/../shared/peers/pixelcnn_bench_torch.py}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

case "$preset" in
  seed) torch_args=(--train-iters 10 --runs 5 --eval-batches 100 --sample-passes 784) ;;
  paper) torch_args=(--train-iters 2 --runs 3 --warm 1 --eval-iters 3 --eval-batches 100 --sample-passes 56) ;;
  gated|gated-large)
    peer="${PEER_SCRIPT:-$root/../shared/peers/pixelcnn_gated_torch.py}"
    torch_args=(--bench --runs 5 --train-iters 3 --eval-iters 3 --eval-batches 100 $conditional) ;;
  *) echo "unknown preset '$preset': use seed, paper, gated or gated-large" >&2; exit 2 ;;
esac
[ -f "$peer" ] || { echo "PyTorch peer script not found at $peer (set PEER_SCRIPT)" >&2; exit 2; }

if ! "$python" -c 'import torch, numpy' 2>/dev/null; then
  echo "== installing torch and numpy with pip"
  "$python" -m pip install --quiet torch numpy
fi

if [ -z "${BENCH_CMD:-}" ]; then
  echo "== building the release binary"
  (cd "$root" && cargo build --release --quiet)
  BENCH_CMD="$root/target/release/pixelcnn-studio bench"
fi

if [ "${preset#gated}" != "$preset" ]; then
  # The peer gets our preset's exact architecture.
  arch=$(${BENCH_CMD% bench} inspect --preset "$preset" --json | "$python" -c '
import json, sys
c = json.load(sys.stdin)["config"]
print(c["masked_layers"], c["feature_maps"], c["first_kernel"], c["masked_kernel"])')
  read -r layers maps first kernel <<<"$arch"
  torch_args+=(--layers "$layers" --channels "$maps" --first-kernel "$first" --kernel "$kernel" --threads "$threads")
  peer_model=()
  bench_args=(--skip-naive $conditional)
else
  peer_model=(--model "$preset")
  bench_args=()
fi

echo "== load before our bench: $(cut -d' ' -f1-3 /proc/loadavg)"
RAYON_NUM_THREADS="$threads" $BENCH_CMD --preset "$preset" "${bench_args[@]}" --json > "$out/ours.json"
echo "== load before PyTorch: $(cut -d' ' -f1-3 /proc/loadavg)"
OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" \
  "$python" "$peer" "${peer_model[@]}" "${torch_args[@]}" > "$out/torch.jsonl"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$python" - "$out/ours.json" "$out/torch.jsonl" "$preset" "$threads" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
ours = json.loads(text[text.index("{"):])
torch = {}
for line in open(sys.argv[2]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    row = json.loads(line)
    what = {"train_speed": "train", "eval_speed": "eval"}.get(row["what"], row["what"])
    key = what if what != "eval" else f"eval{row['batch']}"
    torch[key] = row
t_train = torch["train"]["img_per_s"]
t_eval = torch["eval100"]["img_per_s"]
t_naive = torch.get("sample_naive", {}).get("sec_784_est")
print(f"\npreset {sys.argv[3]}{' (conditional)' if ours.get('conditional') else ''}, {sys.argv[4]} threads each, batch 100")
print(f"{'':28}{'ours':>12}{'PyTorch':>12}{'ratio':>9}")
print(f"{'train images/s':28}{ours['train_images_per_sec']:>12.1f}{t_train:>12.1f}{ours['train_images_per_sec'] / t_train:>8.2f}x")
print(f"{'eval images/s':28}{ours['eval_images_per_sec']:>12.1f}{t_eval:>12.1f}{ours['eval_images_per_sec'] / t_eval:>8.2f}x")
fast = ours["sample_grid_secs_fast"]
if t_naive:
    print(f"{'10x10 grid s (ours fast)':28}{fast:>12.3f}{t_naive:>12.2f}{t_naive / fast:>8.0f}x  (PyTorch: 784 full passes)")
naive = ours.get("sample_grid_secs_naive")
if naive:
    rows = ours.get("naive_rows_timed", 28)
    note = "measured" if rows == 28 else f"{rows} of 28 rows timed"
    print(f"{'10x10 grid s (ours naive)':28}{naive:>12.2f}{'':>12}{naive / fast:>8.0f}x  (fast vs our straightforward, {note})")
print(f"{'peak memory MiB':28}{ours['peak_rss_mib']:>12.0f}")
PY
