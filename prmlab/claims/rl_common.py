"""What the policy-RL claims share: their experiment (one RL suite folder per base seed and RL
seed, `experiments/rl_suite.py` at the size's `rl_size`) and the effects read from its typed
`RLResult`s."""

from __future__ import annotations

from prmlab.claims.claim import Experiment, Measured, undefined
from prmlab.claims.schema import Input
from prmlab.claims.view import Ref, ReplicateView

RL = Experiment(
    "rl", "seed", (), "an RL suite per base seed and RL seed: the worked and the --no-worked "
    "base (base.worked=false) x outcome and random rewards x one and all training problems",
    kind="rl")
# the control rewards the random-reward claim's experiment does not hold (its pin is unchanged)
RL_CONTROLS = Experiment(
    "rl-controls", "seed", (), "an RL suite per base seed and RL seed at the size's controls "
    "settings: the worked and the no-worked base x incorrect, format and majority rewards, all "
    "training problems", kind="rl", rl_variant="controls", rewards=("incorrect", "format", "majority"))
WORKED, NO_WORKED = "worked", "no-worked"


def gain(ref: Ref) -> tuple[float | None, list[Input]]:
    """Test greedy accuracy after RL minus before (the policy it started from), and its inputs."""
    a, b = ref.record.after.test_greedy_accuracy.value, ref.record.before.test_greedy_accuracy.value
    inputs = [ref.input("after.test_greedy_accuracy.value", a),
              ref.input("before.test_greedy_accuracy.value", b)]
    return (None if a is None or b is None else a - b), inputs


def base_contrast(rep: ReplicateView, experiment: Experiment, reward: str) -> Measured:
    """gain(worked base) − gain(no-worked base) under `reward`, both RL'd on all training problems."""
    w = rep.rl_run(experiment.name, WORKED, reward, None)
    n = rep.rl_run(experiment.name, NO_WORKED, reward, None)
    if w is None or n is None:
        return undefined(f"the RL suite has no {reward}-reward run on the " +
                         " and ".join(x for x, r in ((WORKED, w), (NO_WORKED, n)) if r is None) + " base")
    (gw, iw), (gn, i_n) = gain(w), gain(n)
    if gw is None or gn is None:
        return undefined("a test accuracy is undefined", iw + i_n)
    return Measured(gw - gn, f"{reward} reward: worked base {gw:+.3f}, no-worked base {gn:+.3f}", iw + i_n)
