"""What each preset promises (issue 5) holds in its resolved config, before anything runs."""

import math

import pytest

from prmlab.experiments.config import PRESETS, resolve_config


def pool_capacity(cfg) -> int:
    d = cfg.data
    return d.pool_policy_problems * d.pool_samples_per_problem + d.pool_injected


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves_and_its_pool_holds_every_budget(name):
    cfg = resolve_config(preset=name)
    assert cfg.preset == name
    assert max(cfg.budgets) <= pool_capacity(cfg)
    n_lf = cfg.label_free.n_solutions or max(cfg.budgets)
    assert n_lf <= pool_capacity(cfg)
    assert cfg.budgets == sorted(set(cfg.budgets)), "budgets ascend, no repeats"


def test_quick_has_three_budgets_for_every_format():
    cfg = resolve_config(preset="quick")
    assert len(cfg.budgets) >= 3
    assert set(cfg.formats) == {"discriminative", "generative", "direct", "orm"}
    assert cfg.tts.enabled and cfg.tts.ks == [1, 2, 4, 8]
    assert cfg.bon.enabled and cfg.bon.n >= 16


def test_full_spans_three_orders_of_magnitude_with_three_seeds():
    cfg = resolve_config(preset="full")
    assert math.log10(max(cfg.budgets) / min(cfg.budgets)) >= 3
    assert len(cfg.seeds) >= 3
    assert cfg.bon.n >= 16


def test_a_set_overrides_a_preset_without_losing_its_other_keys():
    cfg = resolve_config(preset="full", sets=["judge.fit.max_steps=50"])
    assert cfg.judge.fit.max_steps == 50
    assert cfg.judge.fit.max_epochs == PRESETS["full"]["judge"]["fit"]["max_epochs"]
    assert cfg.judge.fit.batch_size == 16  # JudgeConfig's own default, untouched by the preset
