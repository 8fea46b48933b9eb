#!/usr/bin/env bash
# prmlab's GPU path, checked in one short run on a machine with a CUDA GPU (nothing downloaded).
#
#   1. accelerate: a small base, then a discriminative and a generative judge fitted twice on
#      CUDA: plainly (`python -m prmlab.cli.main train judge`) and under
#      `accelerate launch --num_processes 1`; the two must choose the same step with the same
#      dev F1 and weights within float noise. With 2+ GPUs, also `--multi_gpu` over them all.
#   2. vLLM, if it imports (here, or in $VLLM_PYTHON): it serves the generative judge on
#      127.0.0.1; its greedy tokens are compared with prmlab's local engine on the same token-id
#      prompts, and `prmlab eval --backend openai` (where this checkout has the option) against
#      `prmlab eval` with the local engine.
#
# Usage, from the repository root:   dev/gpu-check.sh
#   PYTHON=python3          the interpreter with torch (CUDA), transformers, accelerate and the
#                           rest of prmlab's dependencies (this checkout is put on PYTHONPATH)
#   VLLM_PYTHON=$PYTHON     the interpreter with vLLM (its own virtualenv, usually)
#   GPU_CHECK_TIMEOUT=480   seconds for the whole check (each part has its own share)
#   GPU_CHECK_DEVICE=cuda   `cpu` rehearses part 1 on a CPU (accelerate --cpu, 1 and 2 processes)
#   GPU_CHECK_OUT=$OUT or a temporary folder: where the models, logs and summary.txt go
#   GPU_CHECK_BASE=DIR      a prmlab base to use instead of training one (60 steps of `small`)
# Exit status 0 when every check that ran passed; the summary says which were skipped and why.
set -u
cd "$(dirname "$0")/.."
LIMIT=${GPU_CHECK_TIMEOUT:-480}
if [ -z "${GPU_CHECK_INNER:-}" ]; then  # the whole check under one timeout
  GPU_CHECK_INNER=1 exec timeout --kill-after=10 "$LIMIT" "$0" "$@"
fi
PY=${PYTHON:-python3}
VPY=${VLLM_PYTHON:-$PY}
DEV=${GPU_CHECK_DEVICE:-cuda}
WORK=${GPU_CHECK_OUT:-${OUT:-$(mktemp -d)}}/gpu-check
mkdir -p "$WORK"
SUMMARY=$WORK/summary.txt
: > "$SUMMARY"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
FAILED=0
T0=$(date +%s)
note() { echo "$*" | tee -a "$SUMMARY"; }
pass() { note "PASS  $*"; }
fail() { note "FAIL  $*"; FAILED=1; }
skip() { note "SKIP  $*"; }
finish() {
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  note "---- gpu-check: $(( $(date +%s) - T0 ))s, work folder $WORK"
  echo; echo "SUMMARY"; cat "$SUMMARY"
  exit "$FAILED"
}
trap finish EXIT
trap 'fail "timed out after ${LIMIT}s (GPU_CHECK_TIMEOUT)"; exit' TERM
prmlab() { "$PY" -m prmlab.cli.main "$@"; }

# ---- 0. what is here -----------------------------------------------------------------------
if command -v nvidia-smi > /dev/null; then
  note "device $DEV; $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -4 | tr '\n' ';')"
else
  note "device $DEV; no nvidia-smi"
fi
if ! "$PY" - > "$WORK/env.txt" 2>&1 <<'EOF'
import importlib, torch
missing = [m for m in ("transformers", "tokenizers", "accelerate", "safetensors", "pydantic",
                       "typer", "rich", "numpy", "matplotlib", "yaml", "math_verify")
           if importlib.util.find_spec(m) is None]
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "gpus", torch.cuda.device_count())
import accelerate; print("accelerate", accelerate.__version__)
if missing:
    raise SystemExit("missing: " + " ".join(missing))
EOF
then
  fail "environment: $(tail -1 "$WORK/env.txt") (offline: install prmlab's dependencies first)"
  exit
fi
note "$(cat "$WORK/env.txt" | tr '\n' ' ')"
GPUS=$([ "$DEV" = cpu ] && echo 0 || "$PY" -c "import torch; print(torch.cuda.device_count())")
if [ "$DEV" = cuda ] && [ "$GPUS" -lt 1 ]; then
  fail "no CUDA device visible to torch (GPU_CHECK_DEVICE=cpu rehearses on a CPU)"; exit
fi
ACC=("$PY" -m accelerate.commands.launch --num_machines 1 --mixed_precision no --dynamo_backend no)
# N processes: `--multi_gpu` (on a machine without a visible GPU accelerate makes it MULTI_CPU
# over gloo; `--cpu --num_processes 2` would start one process only)
ACCN=("${ACC[@]}" --multi_gpu)
if [ "$DEV" = cpu ]; then ACC+=(--cpu); export CUDA_VISIBLE_DEVICES=""; fi

# ---- 1. judge fits, plain and under accelerate ---------------------------------------------
B=${GPU_CHECK_BASE:-$WORK/base}
# small (head_dim 32, which vLLM's kernels take) on a GPU; tiny for a CPU rehearsal (no vLLM)
PRESET=small BASE_S=150 FIT_S=120 FORMATS="discriminative generative"
# a CPU rehearsal: slower, so longer limits and the discriminative judge only
[ "$DEV" = cpu ] && PRESET=tiny BASE_S=600 FIT_S=400 FORMATS=discriminative
if [ -n "${GPU_CHECK_BASE:-}" ]; then
  note "base: $B (GPU_CHECK_BASE), not trained here"
elif ! timeout "$BASE_S" "$PY" -m prmlab.cli.main train base --preset "$PRESET" --out "$B" --overwrite \
      --set n_problems=400 --set fit.max_steps=60 --set fit.batch_size=16 --set snapshot_step=null \
      > "$WORK/base.log" 2>&1; then
  fail "base: prmlab train base failed or timed out after ${BASE_S}s (see $WORK/base.log)"; exit
fi
prmlab data generate --n 96 --seed 11 --out "$WORK/pool.jsonl" --overwrite > /dev/null &&
prmlab data generate --n 32 --seed 12 --out "$WORK/dev.jsonl" --overwrite > /dev/null || {
  fail "data: prmlab data generate failed"; exit; }
pass "base and data ($(( $(date +%s) - T0 ))s)"

fit() {  # fit FORMAT NAME LAUNCHER...: one judge fit into $WORK/NAME
  local fmt=$1 name=$2; shift 2
  timeout "$FIT_S" "$@" train judge --init "$B" --data "$WORK/pool.jsonl" --dev "$WORK/dev.jsonl" \
    --judge-format "$fmt" --budget 48 --out "$WORK/$name" --overwrite --set 'lrs=[1e-3]' \
    --set fit.max_steps=16 --set fit.eval_every=8 --set fit.min_steps=0 --set fit.batch_size=8 \
    --set dev_max=24 > "$WORK/$name.log" 2>&1
}
compare() {  # compare A B: same selection, weights close; prints one line
  "$PY" - "$1" "$2" <<'EOF'
import json, sys
from safetensors.torch import load_file
a, b = sys.argv[1:3]
ia, ib = (json.load(open(f"{d}/prmlab.json")) for d in (a, b))
ta, tb = (i["selection"]["trials"][0] for i in (ia, ib))
wa, wb = load_file(f"{a}/model.safetensors"), load_file(f"{b}/model.safetensors")
diff = max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)
same = (ta["best_step"], ta["curve"]) == (tb["best_step"], tb["curve"]) and diff < 1e-3
print(("same" if same else "DIFFERENT") + f": dev F1 curve {ta['curve']} vs {tb['curve']}, "
      f"best step {ta['best_step']} vs {tb['best_step']}, max |weight diff| {diff:.2e}, "
      f"precision {ta['precision']} / {tb['precision']}")
sys.exit(0 if same else 1)
EOF
}
for fmt in $FORMATS; do
  t=$(date +%s)
  if ! fit "$fmt" "$fmt-plain" "$PY" -m prmlab.cli.main; then
    fail "$fmt fit, plain: failed or took over ${FIT_S}s (see $WORK/$fmt-plain.log)"; continue
  fi
  if ! fit "$fmt" "$fmt-acc1" "${ACC[@]}" --num_processes 1 -m prmlab.cli.main; then
    fail "$fmt fit under accelerate launch --num_processes 1: failed or took over ${FIT_S}s (see $WORK/$fmt-acc1.log)"; continue
  fi
  if line=$(compare "$WORK/$fmt-plain" "$WORK/$fmt-acc1"); then
    pass "$fmt fit on $DEV, plain vs accelerate launch (1 process): $line ($(( $(date +%s) - t ))s)"
  else
    fail "$fmt fit on $DEV, plain vs accelerate launch (1 process): $line"
  fi
done
N=0
if [ "$DEV" = cpu ]; then N=2; elif [ "$GPUS" -ge 2 ]; then N=$GPUS; fi
if [ "$N" -ge 2 ]; then
  if fit discriminative "discriminative-acc$N" "${ACCN[@]}" --num_processes "$N" -m prmlab.cli.main; then
    line=$(compare "$WORK/discriminative-plain" "$WORK/discriminative-acc$N")
    # N processes sum their shards' gradients in another order: close, not identical
    pass "discriminative fit under accelerate launch, $N processes: ran; vs plain (not bit-identical by design): ${line#DIFFERENT: }"
  else
    fail "discriminative fit under accelerate launch, $N processes (see $WORK/discriminative-acc$N.log)"
  fi
else
  skip "accelerate with 2+ processes: one GPU here"
fi

# ---- 2. vLLM serving the generative judge ----------------------------------------------------
if [ "$DEV" = cpu ]; then skip "vLLM: part 2 runs on a GPU machine only"; exit; fi
if ! "$VPY" -c "import vllm" > "$WORK/vllm-import.log" 2>&1; then
  skip "vLLM: not importable by $VPY ($(tail -1 "$WORK/vllm-import.log")); offline, it cannot be installed here"
  exit
fi
J=$WORK/generative-plain
[ -f "$J/model.safetensors" ] || { skip "vLLM: no generative judge to serve"; exit; }
PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
t=$(date +%s)
"$VPY" -m vllm.entrypoints.openai.api_server --model "$J" --served-model-name judge \
  --host 127.0.0.1 --port "$PORT" --max-model-len 512 --dtype float32 --max-logprobs 20 \
  --gpu-memory-utilization 0.3 > "$WORK/vllm.log" 2>&1 &
SERVER_PID=$!
URL=http://127.0.0.1:$PORT/v1
for _ in $(seq 1 180); do
  curl -sf "$URL/models" > /dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 1
done
if ! curl -sf "$URL/models" > /dev/null 2>&1; then
  fail "vLLM: the server did not come up in 180 s (see $WORK/vllm.log: $(tail -1 "$WORK/vllm.log"))"; exit
fi
pass "vLLM $("$VPY" -c 'import vllm; print(vllm.__version__)') serves the generative judge: ready in $(( $(date +%s) - t ))s"
if line=$("$PY" - "$J" "$URL" "$WORK/dev.jsonl" <<'EOF'
import json, sys, urllib.request
from prmlab.data.jsonl import read_records
from prmlab.judges.formats import judge_format  # noqa: F401  (loads the registry)
from prmlab.models.checkpoint import load_codec, load_model
from prmlab.models.generator import KVCacheGenerator
folder, url, data = sys.argv[1:4]
codec, model = load_codec(folder), load_model(folder, "causal").eval()
recs = read_records(data)[:16]
prompts = [codec.encode(r.problem)[:200] for r in recs]  # the solver's view: problem text only
local = KVCacheGenerator(model, pad_id=codec.pad_id).generate(prompts, max_new_tokens=24, temperature=0.0)
body = {"model": "judge", "prompt": prompts, "max_tokens": 24, "temperature": 0, "logprobs": 1,
        "return_tokens_as_token_ids": True, "skip_special_tokens": False, "ignore_eos": True}
req = urllib.request.Request(f"{url}/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
choices = sorted(json.load(urllib.request.urlopen(req, timeout=120))["choices"], key=lambda c: c["index"])
match = total = 0
for s, c in zip(local, choices):
    served = [int(t.split(":")[1]) for t in c["logprobs"]["tokens"]]
    n = min(len(s.ids), len(served))
    for a, b in zip(s.ids[:n], served[:n]):
        total += 1
        match += a == b
        if a != b:
            break  # after the first divergence the continuations differ by construction
print(f"{match}/{total} greedy tokens match up to each prompt's first divergence ({match / max(1, total):.1%})")
sys.exit(0 if match >= 0.99 * total else 1)
EOF
); then pass "vLLM vs prmlab's engine: $line"; else fail "vLLM vs prmlab's engine: $line"; fi
if prmlab eval --help 2>/dev/null | grep -q -- "--backend"; then
  t=$(date +%s)
  prmlab eval --judge "$J" --data "$WORK/dev.jsonl" --out "$WORK/eval-local" --overwrite --resamples 20 > "$WORK/eval-local.log" 2>&1
  if timeout 120 "$PY" -m prmlab.cli.main eval --judge "$J" --data "$WORK/dev.jsonl" --out "$WORK/eval-vllm" \
      --overwrite --resamples 20 --backend openai --base-url "$URL" --served-model judge > "$WORK/eval-vllm.log" 2>&1; then
    line=$("$PY" -c "import json,sys; f=lambda d: json.load(open(d+'/metrics.json'))['f1']['value']; print(f'F1 local {f(sys.argv[1])} vs vLLM {f(sys.argv[2])}')" "$WORK/eval-local" "$WORK/eval-vllm")
    pass "prmlab eval --backend openai against vLLM: $line ($(( $(date +%s) - t ))s)"
  else
    fail "prmlab eval --backend openai against vLLM: failed (see $WORK/eval-vllm.log: $(tail -1 "$WORK/eval-vllm.log"))"
  fi
else
  skip "prmlab eval --backend openai: this checkout has no --backend option yet"
fi
