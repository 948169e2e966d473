#!/usr/bin/env bash
# The GPU check of issue 10, prepared to run in one go on a machine with an NVIDIA GPU (an H200
# was measured before): our bench on the GPU for the seed, paper and gated presets in fp32 and
# tf32 (batch 100, and batch 1000 for seed and paper), a short training run on the GPU whose
# checkpoint is then evaluated on the GPU and on the CPU kernels (they must agree to 1e-6
# relative), a grid drawn by the GPU sampler, and the PyTorch GPU peers on the same GPU. Every
# step runs under `timeout`; a step that fails is recorded and the others still run.
#
# Usage:  scripts/gpu_check.sh [--device cuda|candle-cpu|cpu]      (default: cuda)
#         The other devices are the dry run: the same steps through the same code paths, on
#         this machine's CPU (tf32 and the PyTorch GPU peers are skipped there).
# Env:    BIN      the pixelcnn-studio binary built with `--features cuda` [default: unpack
#                  target/gpu/pixelcnn-studio.xz if it exists, else target/release/pixelcnn-studio]
#         OUT      where the results go [default: ./gpu_check_out]: summary.md (the table),
#                  results.jsonl (every JSON report, tagged with its step), steps.tsv (each
#                  step's exit status and seconds), log.txt (everything printed), grid.png
#         DATA     the four MNIST files [default: assets/mnist]
#         PEERS    folder with pixelcnn_bench_torch_gpu.py and pixelcnn_gated_torch.py
#                  [default: ../shared/peers, else peers/ beside this script's repo]
#         PYTHON   [default: python3]; QUICK=1 shrinks every step and skips the paper preset
#                  (for a dry run on a CPU)
# Budget: about 6 minutes on an H200 (the PyTorch peers take about 2 of them).
set -uo pipefail

device=cuda
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="${2:-}"; shift 2 ;;
    --device=*) device="${1#--device=}"; shift ;;
    *) echo "unknown argument '$1': use --device cuda|candle-cpu|cpu" >&2; exit 2 ;;
  esac
done
case "$device" in cuda|candle-cpu|cpu) ;; *) echo "unknown device '$device'" >&2; exit 2 ;; esac

root="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT:-$root/gpu_check_out}"
data="${DATA:-$root/assets/mnist}"
python="${PYTHON:-python3}"
quick="${QUICK:-0}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
: >"$out/results.jsonl"
printf 'step\texit\tsecs\n' >"$out/steps.tsv"
exec > >(tee -a "$out/log.txt") 2>&1

peers="${PEERS:-}"
if [ -z "$peers" ]; then
  for candidate in "$root/../shared/peers" "$root/peers"; do
    [ -f "$candidate/pixelcnn_bench_torch_gpu.py" ] && { peers="$candidate"; break; }
  done
fi

bin="${BIN:-}"
if [ -z "$bin" ] && [ -f "$root/target/gpu/pixelcnn-studio.xz" ]; then
  bin="$work/pixelcnn-studio"
  "$python" -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.open(sys.argv[1]).read())' \
    "$root/target/gpu/pixelcnn-studio.xz" "$bin" && chmod +x "$bin"
fi
bin="${bin:-$root/target/release/pixelcnn-studio}"
[ -x "$bin" ] || { echo "no binary at $bin: build it (cargo build --release --features cuda) or set BIN" >&2; exit 2; }

# run NAME SECONDS COMMAND...: runs COMMAND under timeout; its JSON lines go to results.jsonl
# tagged {"step": NAME}, everything it prints to the log.
run() {
  local name="$1" limit="$2"; shift 2
  echo "== $name: $*"
  local started=$SECONDS
  timeout "$limit" "$@" >"$work/$name.out" 2>"$work/$name.err"
  local rc=$?
  cat "$work/$name.out" "$work/$name.err"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - started))" >>"$out/steps.tsv"
  "$python" - "$name" "$work/$name.out" >>"$out/results.jsonl" <<'PY'
import json, sys
name, text = sys.argv[1], open(sys.argv[2]).read()
# A pretty-printed JSON object (our binary) or JSON lines (the PyTorch peers).
try:
    start = text.index("{")
    print(json.dumps({"step": name, **json.loads(text[start:])}))
except ValueError:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                print(json.dumps({"step": name, **json.loads(line)}))
            except ValueError:
                pass
PY
  [ $rc -eq 124 ] && echo "!! $name timed out after $limit s"
  return 0
}

echo "== $(date -u +%FT%TZ) device $device, binary $bin, $(nproc) cores, quick=$quick"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi

# 1. Our bench: every preset in fp32 and (on a GPU) tf32, batch 100; seed and paper at 1000 too.
precisions="fp32"
[ "$device" = cuda ] && precisions="fp32 tf32"
runs=3; big=1000; small=100; presets="seed paper gated"; big_presets="seed paper"
[ "$quick" = 1 ] && { runs=1; big=4; small=2; presets="seed gated"; big_presets="seed"; }
for precision in $precisions; do
  for preset in $presets; do
    run "bench_${preset}_${precision}_b${small}" 240 "$bin" bench --device "$device" \
      --precision "$precision" --preset "$preset" --batch-size "$small" --runs "$runs" \
      --skip-naive --json
  done
  for preset in $big_presets; do
    run "bench_${preset}_${precision}_b${big}" 240 "$bin" bench --device "$device" \
      --precision "$precision" --preset "$preset" --batch-size "$big" --runs "$runs" \
      --skip-naive --json
  done
done
run "bench_gated_conditional_fp32_b${small}" 240 "$bin" bench --device "$device" \
  --preset gated --conditional --batch-size "$small" --runs "$runs" --skip-naive --json

# 2. A short training run on the device, its checkpoint evaluated there and on the CPU kernels.
train_limit=10000; test_limit=2000
[ "$quick" = 1 ] && { train_limit=200; test_limit=100; }
ck="$work/ck.safetensors"
run train_seed 240 "$bin" train --device "$device" --preset seed --epochs 1 \
  --train-limit "$train_limit" --test-limit "$test_limit" --data "$data" --out "$ck" --json
run resume_seed 240 "$bin" train --device "$device" --resume "$ck" --epochs 2 \
  --train-limit "$train_limit" --test-limit "$test_limit" --data "$data" --out "$ck.2" --json
run eval_device 120 "$bin" eval --device "$device" --checkpoint "$ck" \
  --test-limit "$test_limit" --data "$data" --json
run eval_cpu 120 "$bin" eval --device cpu --checkpoint "$ck" \
  --test-limit "$test_limit" --data "$data" --json
run sample_device 120 "$bin" sample --device "$device" --checkpoint "$ck.2" \
  --out "$out/grid.png" --count 100 --seed 7 --json
ck_gated="$work/ck_gated.safetensors"
run train_gated_conditional 240 "$bin" train --device "$device" --preset gated --conditional \
  --epochs 1 --train-limit "$train_limit" --test-limit "$test_limit" --data "$data" \
  --out "$ck_gated" --json
run eval_gated_device 120 "$bin" eval --device "$device" --checkpoint "$ck_gated" \
  --test-limit "$test_limit" --data "$data" --json
run eval_gated_cpu 120 "$bin" eval --device cpu --checkpoint "$ck_gated" \
  --test-limit "$test_limit" --data "$data" --json

# 3. The PyTorch peers on the same GPU.
if [ "$device" = cuda ] && [ -n "$peers" ] \
    && "$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  run torch_gpu 300 env PYTHONUNBUFFERED=1 "$python" "$peers/pixelcnn_bench_torch_gpu.py" \
    --models seed,paper --variants fp32,default --runs 3 --sample-reps 1
  run torch_gated_gpu 120 env PYTHONUNBUFFERED=1 "$python" "$peers/pixelcnn_gated_torch.py" \
    --bench --device cuda --layers 5 --channels 32 --first-kernel 7 --kernel 3 --runs 3 \
    --eval-batches 100
else
  echo "== PyTorch GPU peers skipped (device $device, peers '${peers:-not found}', or no CUDA in torch)"
fi

# 4. The summary.
"$python" - "$out/results.jsonl" "$out/steps.tsv" "$device" >"$out/summary.md" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
steps = [line.rstrip("\n").split("\t") for line in open(sys.argv[2])][1:]
device = sys.argv[3]
by_step = {}
for r in rows:
    by_step.setdefault(r["step"], []).append(r)
out = [f"# GPU check ({device})", ""]
failed = [s for s in steps if s[1] != "0"]
out.append(f"{len(steps)} steps, {len(failed)} failed" + (": " + ", ".join(f"{s[0]} (exit {s[1]})" for s in failed) if failed else ""))
out += ["", "## Ours", "",
        "| bench | precision | batch | train img/s | eval img/s | grid s, device sampler | grid s, CPU fast sampler | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|"]
for step, reports in by_step.items():
    if not step.startswith("bench_"):
        continue
    b = reports[0]
    dev = b.get("sample_grid_secs_device")
    name = b["preset"] + (" conditional" if b.get("conditional") else "")
    out.append(f"| {name} | {b['precision']} | {b['batch']} | {b['train_images_per_sec']:,.0f} | "
               f"{b['eval_images_per_sec']:,.0f} | {'-' if dev is None else f'{dev:.3f}'} | "
               f"{b['sample_grid_secs_fast']:.3f} | {b['peak_rss_mib']:.0f} |")
def cost(step):
    r = by_step.get(step, [{}])[0]
    return r.get("test_cost_nats_per_pixel")
out += ["", "## Agreement of the same checkpoint on the device and on the CPU kernels", ""]
for label, a, b in [("seed (trained on the device)", "eval_device", "eval_cpu"),
                    ("gated conditional", "eval_gated_device", "eval_gated_cpu")]:
    x, y = cost(a), cost(b)
    if x is None or y is None:
        out.append(f"- {label}: missing ({a}: {x}, {b}: {y})")
    else:
        rel = abs(x - y) / abs(y)
        out.append(f"- {label}: device {x:.8f}, cpu {y:.8f} nats/pixel, relative {rel:.2e} "
                   f"({'OK' if rel <= 1e-6 else 'OVER 1e-6'})")
for step in ("train_seed", "resume_seed", "train_gated_conditional"):
    r = by_step.get(step, [None])[0]
    if r:
        out.append(f"- {step}: {r.get('steps')} steps, test {r.get('test_cost_nats_per_pixel')} nats/pixel, "
                   f"{r.get('images_per_sec', 0):,.0f} img/s")
s = by_step.get("sample_device", [None])[0]
if s:
    out.append(f"- sample on the device: {s.get('count')} images in {s.get('seconds', 0):.3f} s (mean pixel {s.get('mean_pixel', 0):.3f})")
torch_rows = by_step.get("torch_gpu", [])
if torch_rows:
    out += ["", "## PyTorch on the same GPU (pixelcnn_bench_torch_gpu.py)", "",
            "| model | variant | what | batch | img/s or s |", "|---|---|---|---|---|"]
    for r in torch_rows:
        if "what" not in r or r["what"] == "env":
            continue
        value = r.get("img_per_s")
        shown = f"{value:,.0f} img/s" if value else f"{r.get('sec_grid', 0):.2f} s (784 passes)"
        out.append(f"| {r.get('model')} | {r.get('variant')} | {r['what']} | {r.get('batch')} | {shown} |")
gated_rows = [r for r in by_step.get("torch_gated_gpu", []) if "img_per_s" in r]
if gated_rows:
    out += ["", "## The gated PyTorch peer on the same GPU (pixelcnn_gated_torch.py --bench)", "",
            "| what | batch | img/s |", "|---|---|---|"]
    for r in gated_rows:
        out.append(f"| {r.get('what')} | {r.get('batch')} | {r['img_per_s']:,.0f} |")
print("\n".join(out))
PY
cat "$out/summary.md"
