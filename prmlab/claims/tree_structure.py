"""Tree structure replaces process labels (Tree-GRPO, arXiv:2509.21240): trained from outcome
rewards alone, sibling branches of a sampled tree give step-level preferences, and training on
them beats chain GRPO at the same token budget.

Effect, per replicate (base seed x RL seed), on the base's policy (the quick size: the quick
flagship's base-0 policy, the RL suite's `worked` one): final greedy test accuracy of the tree
arm − the chain arm (`final_difference.value` of the run's metrics.json: paired over the same
test problems, its bootstrap CI in the detail), both arms from the same policy, on the same
problems in the same order, the chain arm's group matched to the tree arm's generated tokens.
Beside it, in the detail: the sibling preferences' agreement with the step oracle (does the
higher-reward child hold fewer wrong steps?) against its coin-flip 0.5 and the shorter-branch
baseline, over the same pairs.

Rule (written before any run, 2026-12-03): a gain of at least +0.05 accuracy. The anchor states
tree > chain at a quarter of chain's budget and no per-task figure that transfers to `arith`
was read, so the threshold is the +0.05 margin the other claims use where no anchor fixes one.
Supported if the 95% CI over replicates lies above 0 and the mean reaches +0.05; refuted if the
whole CI lies below +0.05. A replicate whose budgets are not matched (chain/tree generated
tokens outside [0.8, 1.25]: the group size is an integer) is undefined: its difference would
price tokens, not structure.
"""

from __future__ import annotations

from prmlab.claims.claim import Claim, Experiment, Measured, undefined
from prmlab.claims.rules import AtLeast
from prmlab.claims.schema import Anchor
from prmlab.claims.view import ReplicateView

SIZE = 0.05
MATCHED = (0.8, 1.25)  # chain/tree generated tokens within which the budgets count as matched

TREE = Experiment(
    "tree", "seed", (), "prmlab tree-grpo per base seed and RL seed: Tree-GRPO vs chain GRPO "
    "from the base's policy at matched generated tokens (experiments/policy_runs.py)", kind="tree")


def _fmt(m) -> str:
    if m.value is None:
        return "undefined" + (f" ({m.reason})" if m.reason else "")
    return f"{m.value:.3f}" + (f" [{m.ci[0]:.3f}, {m.ci[1]:.3f}]" if m.ci else "")


def measure(rep: ReplicateView) -> Measured:
    r = rep.tree_run(TREE.name)
    if r is None:
        return undefined("the tree folder has no finished Tree-GRPO run")
    t = r.record
    d, ratio = t.final_difference.value, t.tokens.chain_over_tree
    pa = t.preference_agreement
    inputs = [r.input("final_accuracy.tree.value", t.final_accuracy["tree"].value),
              r.input("final_accuracy.chain.value", t.final_accuracy["chain"].value),
              r.input("final_difference.value", d),
              r.input("tokens.chain_over_tree", ratio),
              r.input("preference_agreement.agreement.value", pa.agreement.value)]
    if not MATCHED[0] <= ratio <= MATCHED[1]:
        return undefined(f"budgets not matched: chain/tree generated tokens {ratio:.3f} outside "
                         f"[{MATCHED[0]}, {MATCHED[1]}]", inputs)
    if d is None:
        return undefined(f"the tree − chain difference is undefined ({t.final_difference.reason})", inputs)
    tok = t.tokens.generated
    return Measured(d, (
        f"tree {_fmt(t.final_accuracy['tree'])} vs chain {_fmt(t.final_accuracy['chain'])} "
        f"(start {_fmt(t.initial_accuracy)}); paired tree − chain {_fmt(t.final_difference)}; "
        f"tokens {tok.get('tree')} / {tok.get('chain')} (chain/tree {ratio:.3f}, G = "
        f"{t.tokens.chain_generations}); sibling preferences agreeing with the oracle "
        f"{_fmt(pa.agreement)} over {pa.agree + pa.disagree} decisive pairs ({pa.tie} ties) vs "
        f"coin {pa.baselines.random:.1f} and shorter branch {_fmt(pa.baselines.shorter)}"), inputs)


CLAIM = Claim(
    id="tree-structure",
    title="Tree structure replaces process labels",
    statement=("Tree-GRPO, from outcome rewards alone, turns sibling branches into step "
               "preferences and beats chain GRPO at the same generated-token budget."),
    anchor=Anchor(figure="Qwen2.5-3B: Tree-GRPO beats chain-based RL on multi-hop QA using a "
                         "quarter of its rollout budget (the authors' README, "
                         "github.com/AMAP-ML/Tree-GRPO); the tree's advantages are shown "
                         "equivalent to step-level preference learning (the abstract). No "
                         "per-benchmark number was read here",
                  citation="Ji et al., 2025, 'Tree Search for LLM Agent Reinforcement "
                           "Learning', arXiv:2509.21240"),
    effect="final greedy test accuracy, Tree-GRPO − chain GRPO at matched generated tokens",
    unit="accuracy", level="seed", experiments=(TREE,), rule=AtLeast(SIZE), measure=measure,
    notes=("The sibling preferences' agreement with the step oracle is in each replicate's "
           "detail beside its 0.5 and shorter-branch baselines; it is not part of the verdict.",
           "Steps here are arithmetic steps, the anchor's are agent turns (thought, action, "
           "observation)."),
)
