"""Each verdict rule on fabricated replicate values, every branch, with the CIs worked out by
hand: t_{0.975} = 4.303 with 2 degrees of freedom, 12.706 with 1."""

import math

import pytest

from prmlab.claims.registry import CLAIMS
from prmlab.claims.rules import AtLeast, NoWorseThan
from prmlab.claims.stats import summarize, t975


def test_t_interval_by_hand():
    s = summarize([0.1, 0.2, 0.3])  # mean 0.2, sd 0.1, half 4.303 * 0.1 / sqrt(3) = 0.248434
    assert (s.n, s.n_undefined) == (3, 0)
    assert s.mean == pytest.approx(0.2) and s.sd == pytest.approx(0.1)
    assert s.ci == pytest.approx([-0.048434, 0.448434], abs=1e-6)
    s = summarize([0.1, 0.2])  # sd 0.0707107, half 12.706 * 0.05 = 0.6353
    assert s.ci == pytest.approx([-0.4853, 0.7853], abs=1e-6)
    s = summarize([0.4, None])
    assert (s.n, s.n_undefined, s.mean, s.sd, s.ci) == (1, 1, 0.4, None, None)
    assert summarize([]).mean is None and summarize([float("nan")]).n_undefined == 1
    assert t975(1) == 12.706 and abs(t975(1000) - 1.962) < 1e-3
    with pytest.raises(ValueError):
        t975(0)


@pytest.mark.parametrize("values, verdict", [
    ([0.10, 0.12, 0.14], "supported"),     # CI [0.0703, 0.1697]: above 0, mean 0.12 >= 0.075
    ([0.05, 0.06, 0.07], "inconclusive"),  # CI [0.0352, 0.0848]: above 0 but mean 0.06 < 0.075
    ([0.00, 0.10, 0.20], "inconclusive"),  # CI [-0.148, 0.348]
    ([0.00, 0.01, 0.02], "refuted"),       # CI [-0.0148, 0.0348]: wholly below 0.075
    ([-0.30, -0.20, -0.10], "refuted"),    # the other direction altogether
    ([0.50], "inconclusive"),              # one replicate: no CI
    ([0.10, 0.12, 0.14, None], "inconclusive"),  # a planned replicate undefined
])
def test_at_least(values, verdict):
    got, why = AtLeast(0.075).decide(summarize(values))
    assert got == verdict, why


def test_at_least_reasons_name_the_numbers():
    assert "[+0.070, +0.170]" in AtLeast(0.075).decide(summarize([0.10, 0.12, 0.14]))[1]
    assert "1 of 4 planned" in AtLeast(0.075).decide(summarize([0.1, 0.12, 0.14, None]))[1]
    assert "at least 2" in AtLeast(0.075).decide(summarize([0.5]))[1]


@pytest.mark.parametrize("values, verdict", [
    ([-0.01, 0.00, 0.01], "supported"),     # CI [-0.0248, 0.0248]: lower bound >= -0.05
    ([-0.03, -0.02, -0.01], "supported"),   # CI [-0.0448, 0.0048]
    ([-0.20, -0.15, -0.10], "inconclusive"),  # CI [-0.2742, -0.0258] straddles -0.05
    ([-0.21, -0.20, -0.19], "refuted"),     # CI [-0.2248, -0.1752]: wholly below -0.05
    ([0.0, None], "inconclusive"),
])
def test_no_worse_than(values, verdict):
    got, why = NoWorseThan(0.05).decide(summarize(values))
    assert got == verdict, why


def test_every_claim_states_its_rule_and_anchor_before_any_run():
    ids = [c.id for c in CLAIMS]
    assert len(ids) == len(set(ids)) >= 6
    for c in CLAIMS:
        spec = c.rule.spec()
        assert spec.words and math.isfinite(spec.threshold)
        assert c.anchor.figure and c.anchor.citation and c.statement and c.effect
        assert c.experiments and c.level in ("seed", "base")


def test_every_full_suite_folder_runs_one_base_the_one_it_is_named_for():
    """The full preset has its own base axis (base_seeds 0, 1, 2); the suite runs one base per
    folder, so no base is pretrained and judged three times over."""
    from prmlab.claims.suite import plan_suite
    from prmlab.experiments.config import RunConfig

    plan = plan_suite("full", CLAIMS)
    bases = {(f.name, tuple(RunConfig.model_validate(f.config).bases)) for f in plan.folders
             if f.kind == "flagship"}
    assert {b for _, b in bases} == {(0,), (1,), (2,)}
    assert all(f"-b{b[0]}" in name for name, b in bases)
