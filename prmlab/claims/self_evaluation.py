"""A model can learn to evaluate its own answers (Post-Completion Learning, arXiv:2507.20252):
trained with a segment after its answer where it judges that answer, rewarded for the judgement
agreeing with the verifier, the policy becomes an outcome judge of its own answers, with no
extra model.

Effect, per replicate (base seed x RL seed), on the base's policy (the quick size: the quick
flagship's base-0 policy): the AUROC of the PCL arm's greedy self-evaluation over sampled test
answers (positive = correct; `arms.pcl.judges.self-eval.auroc.value` of the run's
metrics.json) − 0.5, the AUROC of any constant judge (both trivial judges, "always correct" and
"always wrong"). Beside it, in the detail: its F1 (ProcessBench's, both trivial judges 0) and
the always-wrong judge's F1 of flagging wrong answers, the same self-evaluation before training
and after plain GRPO (did PCL teach it, or was it there?), the ORM where the run has one, and
whether PCL helped the policy (greedy accuracy pcl − grpo, paired over test problems).

Rule (written before any run, 2026-12-03): a gain of at least +0.05 AUROC over chance. The
anchor gives no AUROC of the self-evaluation, so the threshold is the +0.05 margin the other
claims use where no anchor fixes one. Supported if the 95% CI over replicates lies above 0 and
the mean reaches +0.05; refuted if the whole CI lies below +0.05. A replicate whose AUROC is
undefined (its sampled answers all right or all wrong) is undefined.
"""

from __future__ import annotations

from prmlab.claims.claim import Claim, Experiment, Measured, undefined
from prmlab.claims.rules import AtLeast
from prmlab.claims.schema import Anchor
from prmlab.claims.view import ReplicateView

SIZE = 0.05
CHANCE = 0.5
SELF = "self-eval"

PCL = Experiment(
    "pcl", "seed", (), "prmlab pcl per base seed and RL seed: PCL vs plain GRPO from the base's "
    "policy, the self-evaluation scored as an outcome judge (experiments/policy_runs.py)", kind="pcl")


def _fmt(m) -> str:
    if m is None or m.value is None:
        return "undefined" if m is None or not m.reason else f"undefined ({m.reason})"
    return f"{m.value:.3f}" + (f" [{m.ci[0]:.3f}, {m.ci[1]:.3f}]" if m.ci else "")


def measure(rep: ReplicateView) -> Measured:
    r = rep.pcl_run(PCL.name)
    if r is None:
        return undefined("the pcl folder has no finished PCL run")
    res = r.record
    arm = res.arms.get("pcl")
    if arm is None or SELF not in arm.judges:
        return undefined("the PCL run has no pcl arm with a self-evaluation")
    se = arm.judges[SELF]
    inputs = [r.input(f"arms.pcl.judges.{SELF}.auroc.value", se.auroc.value),
              r.input(f"arms.pcl.judges.{SELF}.f1.value", se.f1.value)]
    if se.auroc.value is None:
        return undefined(f"the self-evaluation's AUROC is undefined ({se.auroc.reason})", inputs)
    parts = [f"pcl self-eval AUROC {_fmt(se.auroc)} (constant judges 0.500), F1 {_fmt(se.f1)} "
             f"(trivial judges 0.000), F1 flagging wrong {_fmt(se.f1_wrong)} (always wrong "
             f"{_fmt(arm.judges['always wrong'].f1_wrong) if 'always wrong' in arm.judges else 'undefined'}), "
             f"{se.no_verdict} of {se.n} without a verdict"]
    for name in ("before", "grpo"):
        other = res.arms.get(name)
        if other is not None and SELF in other.judges:
            parts.append(f"{name} self-eval AUROC {_fmt(other.judges[SELF].auroc)}")
    if "orm" in arm.judges:
        parts.append(f"ORM AUROC {_fmt(arm.judges['orm'].auroc)}, F1 {_fmt(arm.judges['orm'].f1)}")
    gap = res.pcl_minus_grpo_greedy
    if gap is not None:
        inputs.append(r.input("pcl_minus_grpo_greedy.value", gap.value))
        parts.append(f"policy greedy accuracy pcl {_fmt(arm.test_greedy_accuracy)}, "
                     f"pcl − grpo {_fmt(gap)}")
    return Measured(se.auroc.value - CHANCE, "; ".join(parts), inputs)


CLAIM = Claim(
    id="self-evaluation",
    title="A model can learn to evaluate its own answers",
    statement=("A policy trained with Post-Completion Learning judges its own answers better "
               "than chance: its self-evaluation is an outcome judge with no extra model."),
    anchor=Anchor(figure="consistent gains over SFT and GRPO on reasoning sets at 1.5B–8B with "
                         "zero inference cost (the abstract; a secondary summary quotes +5–10 "
                         "points on GSM8K, StrategyQA, MathQA, not checked against the tables); "
                         "no AUROC of the self-evaluation was read here",
                  citation="Fei et al., 2025, 'Post-Completion Learning for Language Models', "
                           "arXiv:2507.20252"),
    effect="AUROC of the PCL policy's self-evaluation of its sampled test answers − 0.5",
    unit="AUROC", level="seed", experiments=(PCL,), rule=AtLeast(SIZE), measure=measure,
    notes=("The effect does not separate what PCL taught from what the policy could judge "
           "before: the same self-evaluation before training and after plain GRPO is in each "
           "replicate's detail.",
           "A segment that writes no verdict is still scored, by its two-way P(ok) at the "
           "segment's last position (experiments/pcl.py); the detail counts the answers "
           "without a verdict."),
)
