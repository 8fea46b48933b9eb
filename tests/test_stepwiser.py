"""StepWiser's step labels (abs-q, rel-ratio, rel-effective): the pure rules and the rollout
methods, worked out by hand on a stub with known success rates."""

from __future__ import annotations

import pytest

from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.supervision.rollouts import METHODS, Outcome, derive_labels
from prmlab.supervision.stepwiser import (StepwiserParams, abs_q, prover_q, rel_effective,
                                          rel_ratio, stepwiser_labels)


class Stub:
    """Exactly round(p[j] * k) successes from prefix j; records the prefixes it is asked for."""

    def __init__(self, p: dict[int, float]):
        self.p = p
        self.prefixes: list[int] = []

    def __call__(self, requests):
        out = []
        for r in requests:
            self.prefixes.append(r.n_prefix)
            s = int(self.p[r.n_prefix] * r.k + 0.5)
            out.append(Outcome([True] * s + [False] * (r.k - s), generated_tokens=r.k))
        return out


# Q_0..Q_4 of a 4-step solution: 2/4, 3/4, 1/4, 1/4, 0/4 at K = 4
P = {0: 0.5, 1: 0.75, 2: 0.25, 3: 0.25, 4: 0.0}


def label(method, *, threshold=None, stepwiser=None, p=P):
    stub = Stub(p)
    r = Record(id="a", problem="p", steps=["s0", "s1", "s2", "s3"], labels=[1] * 4, first_error=-1)
    out, summary = derive_labels([r], method, stub, k=4, threshold=threshold, stepwiser=stepwiser)
    return out[0], summary, stub


def test_prover_q_is_best_of_n():
    # 1 - (1 - 0.25)^4 = 1 - 0.31640625
    assert prover_q(0.25, 4) == pytest.approx(0.68359375)
    assert prover_q(0.75, 1) == 0.75


def test_pure_rules_by_hand():
    assert abs_q([0.75, 0.25, 0.25, 0.0]).good == [True, True, True, False]
    r = rel_ratio(0.5, [0.75, 0.25, 0.25, 0.0], gamma=0.8)
    assert r.good == [True, False, True, False]  # ratios 1.5, 1/3, 1.0, 0
    assert r.scores == pytest.approx([1.5, 1 / 3, 1.0, 0.0])
    # Q^mu (n = 4) = 0.9375, 0.99609375, 0.68359375, 0.68359375, 0
    e = rel_effective(0.5, [0.75, 0.25, 0.25, 0.0], alpha=1.0, n=4)
    assert e.scores == pytest.approx([0.80859375, -0.0625, 0.25, -0.68359375])
    assert e.good == [True, False, True, False]
    with pytest.raises(ValueError, match="Q_0"):
        stepwiser_labels("rel-ratio", None, [0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        abs_q([1.5])
    with pytest.raises(ValueError, match="n must be"):
        StepwiserParams(n=0)


def test_abs_q_rolls_out_steps_only_and_matches_mc_hard():
    r, s, stub = label("abs-q")
    assert (r.first_error, r.labels) == (3, [1, 1, 1, 0])
    assert sorted(stub.prefixes) == [1, 2, 3, 4] and s["rollouts"] == 16  # no Q_0 needed
    mc, _, _ = label("mc-hard")
    assert mc.first_error == r.first_error


def test_rel_ratio_gamma_is_the_threshold():
    r, s, stub = label("rel-ratio")  # gamma 0.8: 1/3 fails at step 1
    assert r.first_error == 1 and s["threshold"] == 0.8
    assert sorted(stub.prefixes) == [0, 1, 2, 3, 4] and s["rollouts"] == 20
    r, _, _ = label("rel-ratio", threshold=0.3)  # 1.5, 1/3, 1.0 pass; 0 fails at step 3
    assert r.first_error == 3
    assert r.meta["rollout_labels"]["stepwiser_scores"] == pytest.approx([1.5, 1 / 3, 1.0, 0.0])


def test_rel_effective_alpha_and_n():
    r, _, _ = label("rel-effective")  # alpha 1, n 4: step 1 scores 0.25 - 0.3125 < 0
    assert r.first_error == 1
    m = r.meta["rollout_labels"]
    assert (m["alpha"], m["prover_n"]) == (1.0, 4)
    # alpha 0.5: step 1 0.25 - 0.15625 > 0, step 2 0.25 + 0, step 3 0 - 0.34 < 0
    r, _, _ = label("rel-effective", stepwiser=StepwiserParams(alpha=0.5))
    assert r.first_error == 3 and r.labels == [1, 1, 1, 0]
    assert r.meta["rollout_labels"]["stepwiser_scores"] == pytest.approx(
        [0.75 + 0.5 * (0.99609375 - 0.9375), 0.09375, 0.25, -0.341796875])


def test_stepwiser_options_are_refused_where_nothing_reads_them():
    assert {"abs-q", "rel-ratio", "rel-effective"} <= set(METHODS)
    with pytest.raises(InputError, match="no threshold"):
        label("rel-effective", threshold=0.5)
    with pytest.raises(InputError, match="no threshold"):
        label("abs-q", threshold=0.5)
    with pytest.raises(InputError, match="alpha"):
        label("mc-hard", stepwiser=StepwiserParams(alpha=2.0))
