"""What the policy-RL claims share: their experiment (one RL suite folder per base seed and RL
seed, `experiments/rl_suite.py` at the size's `rl_size`) and the effects read from its typed
`RLResult`s."""

from __future__ import annotations

from prmlab.claims.claim import Experiment
from prmlab.claims.schema import Input
from prmlab.claims.view import Ref

RL = Experiment(
    "rl", "seed", (), "an RL suite per base seed and RL seed: the worked and the --no-worked "
    "base (base.worked=false) x outcome and random rewards x one and all training problems",
    kind="rl")
WORKED, NO_WORKED = "worked", "no-worked"


def gain(ref: Ref) -> tuple[float | None, list[Input]]:
    """Test greedy accuracy after RL minus before (the policy it started from), and its inputs."""
    a, b = ref.record.after.test_greedy_accuracy.value, ref.record.before.test_greedy_accuracy.value
    inputs = [ref.input("after.test_greedy_accuracy.value", a),
              ref.input("before.test_greedy_accuracy.value", b)]
    return (None if a is None or b is None else a - b), inputs
