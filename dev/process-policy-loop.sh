#!/usr/bin/env bash
# Issue 23 item 6 at quick size: a policy trained with a judge's process reward, scored as a
# generator for that judge (natural errors), beside the policy it started from and the same
# policy trained on the outcome reward. The RL settings are the RL suite's quick size.
#
#   dev/process-policy-loop.sh POLICY JUDGE OUT
#
# POLICY: the flagship's policy checkpoint (its folder in the cache, artifacts.json: policy);
# JUDGE: a judge the flagship trained from the same base (RUN/cells/<cell>/judge).
# Every step resumes or is skipped when its output exists; numbers: OUT/table.md.
set -euo pipefail
policy=$1; judge=$2; out=$3
prmlab=${PRMLAB:-prmlab}
mkdir -p "$out"
quick_rl=(--set rl.steps=40 --set rl.prompts_per_step=8 --set rl.num_generations=8 --set rl.lr=0.0001
          --set n_train=256 --set n_test=100 --set n_eval_train=100 --set eval_samples=64
          --set eval_every=10 --set save_every=10 --set bootstrap_resamples=1000)
"$prmlab" rl --policy "$policy" --out "$out/rl-outcome" --reward outcome "${quick_rl[@]}"
"$prmlab" rl --policy "$policy" --out "$out/rl-process" --reward process \
  --set reward.judge="$judge" --set reward.agg=min "${quick_rl[@]}"
for arm in sft outcome process; do
  case $arm in sft) p=$policy ;; *) p=$out/rl-$arm/checkpoint ;; esac
  # the same fresh problems for every arm (one seed), two samples each
  [ -f "$out/samples-$arm.jsonl" ] || "$prmlab" sample --policy "$p" --out "$out/samples-$arm.jsonl" \
    --n-problems 300 --n-per-problem 2 --seed 23
  [ -f "$out/eval-$arm/metrics.json" ] || "$prmlab" eval --data "$out/samples-$arm.jsonl" \
    --judge "$judge" --out "$out/eval-$arm"
done
"${PYTHON:-python}" - "$out" <<'EOF' | tee "$out/table.md"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
def f(m):
    v, ci = m.get("value"), m.get("ci")
    return "—" if v is None else f"{v:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
print("| policy | solutions (erroneous) | F1 [95% CI] | acc_err | acc_cor | step AUROC | F1 random / first |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for arm in ("sft", "outcome", "process"):
    m = json.loads((out / f"eval-{arm}" / "metrics.json").read_text())
    rows = [json.loads(l) for l in (out / f"samples-{arm}.jsonl").read_text().splitlines() if l.strip()]
    wrong = sum(1 for r in rows if r["first_error"] not in (-1, None))
    b = m["baselines"]
    print(f"| {arm} | {len(rows)} ({wrong}) | {f(m['f1'])} | {f(m['acc_err'])} | {f(m['acc_cor'])} | "
          f"{f(m['auroc'])} | {f(b['baseline:random']['f1'])} / {f(b['baseline:first']['f1'])} |")
EOF
