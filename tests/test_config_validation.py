"""A run config is checked completely when it is resolved, before any work starts: ranges,
non-empty lists, known names, budgets within the labelled pool, one preset. Every refusal is one
line naming the field."""

from __future__ import annotations

import pytest

from prmlab.errors import InputError
from prmlab.experiments.config import resolve_config


def refused(*sets: str, preset: str = "smoke") -> str:
    with pytest.raises(InputError) as e:
        resolve_config(sets=list(sets), preset=preset)
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


@pytest.mark.parametrize("sets, field", [
    # budgets: positive integers, not bools, not empty, not repeated
    (["budgets=[true]"], "field budgets.0"),
    (["budgets=[4, -8]"], "field budgets.1"),
    (["budgets=[0]"], "field budgets.0"),
    (["budgets=[]"], "field budgets"),
    (["budgets=[4, 4]"], "field budgets"),
    (["budgets=4"], "field budgets"),
    # seeds and formats: not empty, known, in the seed streams' range
    (["seeds=[]"], "field seeds"),
    (["seeds=[-1]"], "field seeds"),
    (["seeds=[true]"], "field seeds.0"),
    (["formats=[]"], "field formats"),
    (["formats=[generative, nope]"], "field formats"),
    (["baselines=[sometimes]"], "field baselines"),
    (["label_free.methods=[guess]"], "field label_free.methods"),
    (["label_free.formats=[]"], "field label_free.formats"),
    # counts and steps
    (["bootstrap_resamples=-5"], "field bootstrap_resamples"),
    (["bootstrap_resamples=true"], "field bootstrap_resamples"),
    (["judge.fit.max_steps=-1"], "field judge.fit.max_steps"),
    (["base.fit.max_steps=-1"], "field base.fit.max_steps"),
    (["policy.fit.batch_size=0"], "field policy.fit.batch_size"),
    (["judge.fit.batch_size=0"], "field judge.fit.batch_size"),
    (["base.fit.grad_accum=0"], "field base.fit.grad_accum"),
    (["judge.fit.eval_every=0"], "field judge.fit.eval_every"),
    (["judge.fit.lr=0"], "field judge.fit.lr"),
    (["judge.fit.lr=.inf"], "field judge.fit.lr"),
    (["tts.ks=[0]"], "field tts.ks.0"),
    (["tts.ks=[1, -2]"], "field tts.ks.1"),
    (["tts.ks=[]"], "field tts.ks"),
    (["tts.max_solutions=0"], "field tts.max_solutions"),
    (["tts.budget=0"], "field tts.budget"),
    (["bon.n=0"], "field bon.n"),
    (["bon.n_problems=0"], "field bon.n_problems"),
    (["label_free.k=0"], "field label_free.k"),
    (["data.pool_samples_per_problem=0"], "field data.pool_samples_per_problem"),
    (["data.eval_policy_problems=0"], "field data.eval_policy_problems"),
    (["data.pool_injected=-1"], "field data.pool_injected"),
    (["policy.n_problems=0"], "field policy.n_problems"),
    (["base.n_problems=0"], "field base.n_problems"),
    (["base.n_problems=true"], "field base.n_problems"),
    (["base.difficulty.max_steps=2.5"], "field base.difficulty.max_steps"),
    # thresholds in [0, 1]; temperatures finite and >= 0
    (["f1_targets=[1.5]"], "field f1_targets"),
    (["f1_targets=[-0.1]"], "field f1_targets"),
    (["base.fit.min_lr_ratio=2"], "field base.fit.min_lr_ratio"),
    (["data.temperature=-1"], "field data.temperature"),
    (["data.temperature=.nan"], "field data.temperature"),
    (["tts.temperature=.inf"], "field tts.temperature"),
    (["bon.temperature=-0.5"], "field bon.temperature"),
    # names and the domain
    (["base.preset=huge"], "field base.preset"),
    (["base.difficulty.digits=9"], "field base.difficulty"),
    (["base.difficulty.ops=+%"], "field base.difficulty"),
    (["base.hard_types=[]"], "field base"),
    (["base.snapshot_step=99"], "field base"),
    (["base.verdicts=true"], "field base"),
    (["base.drills=3"], "field base"),
    (["base.fit.decay_steps=400"], "field base.fit"),
    (["judge.fit.decay_steps=50"], "field judge.fit"),
    (["policy.init=weights"], "field policy.init"),
    (["data.seed=-3"], "field data.seed"),
    (["base.seed=1000000"], "field base.seed"),
    (["policy.seed=false"], "field policy.seed"),
])
def test_a_bad_value_is_refused_naming_its_field(sets, field):
    msg = refused(*sets)
    assert msg.startswith(field + ".") or msg.startswith(field + ":"), msg


@pytest.mark.parametrize("sets", [["base.verdicts=true"], ["base.drills=3"], ["base.fit.decay_steps=400"],
                                  ["judge.fit.decay_steps=50"]])
def test_a_removed_option_is_refused_by_name_not_as_an_unknown_key(sets):
    msg = refused(*sets)
    assert "was removed" in msg and sets[0].split("=")[0].split(".")[-1] in msg, msg


def test_bools_are_not_numbers():
    assert "got True" in refused("budgets=[true]")
    assert "valid integer" in refused("bon.n=true")
    assert "valid number" in refused("tts.temperature=true")


def test_what_zero_means_is_kept_where_it_means_something():
    cfg = resolve_config(preset="smoke", sets=["bootstrap_resamples=0", "judge.fit.max_steps=0",
                                               "data.temperature=0", "label_free.methods=[]",
                                               "label_free.formats=[]", "baselines=[]",
                                               "data.pool_injected=0", "base.fit.grad_clip=0"])
    assert cfg.bootstrap_resamples == 0  # no bootstrap CIs (metrics.bootstrap: ci None)
    assert cfg.judge.fit.max_steps == 0 and cfg.data.temperature == 0.0


def test_budgets_larger_than_the_labelled_pool_are_refused_with_the_pool_spelled_out():
    # smoke: 8 problems x 2 samples + 8 injected = 24 labelled solutions
    assert resolve_config(preset="smoke", sets=["budgets=[24]"]).budgets == [24]
    msg = refused("budgets=[4, 25]")
    assert msg.startswith("field budgets:") and "25 is larger than the labelled pool of 24" in msg
    assert "8 x 2 + 8" in msg
    assert "100000" in refused("budgets=[100000]", preset="quick")
    # The full preset's largest budget fits its pool (2500 x 2 + 3200 = 8200).
    assert max(resolve_config(preset="full").budgets) == 8192
    assert "field label_free.n_solutions" in refused("label_free.n_solutions=25")
    assert refused("data.pool_policy_problems=0", "data.pool_injected=0").startswith("field data")


def test_the_tts_budget_must_be_one_of_the_budgets():
    assert "field tts.budget: 5 is not one of budgets [4, 8]" in refused("tts.budget=5")
    assert resolve_config(preset="smoke", sets=["tts.budget=8"]).tts.budget == 8
    # Without the generative format there is no TTS cell to read it.
    resolve_config(preset="smoke", sets=["tts.budget=5", "formats=[discriminative]"])


def test_one_preset_only(tmp_path):
    msg = refused("preset=full", preset="smoke")
    assert msg.startswith("conflicting presets") and "--preset (smoke)" in msg and "preset=full (full)" in msg
    # Named once, wherever, the preset is its defaults, not just its title.
    cfg = resolve_config(sets=["preset=full"])
    assert cfg.preset == "full" and cfg.seeds == [0, 1, 2]
    assert resolve_config(sets=["preset=smoke"], preset="smoke").base.preset == "tiny"
    y = tmp_path / "c.yaml"
    y.write_text("preset: full\n")
    with pytest.raises(InputError, match="conflicting presets"):
        resolve_config(y, preset="smoke")
    assert resolve_config(y).preset == "full"
    with pytest.raises(InputError, match="unknown preset 'huge'"):
        resolve_config(sets=["preset=huge"])


def test_a_config_file_error_names_the_file_and_the_field(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("preset: smoke\nbudgets: [4, -8]\n")
    with pytest.raises(InputError, match=r"c.yaml: field budgets.1: Input should be greater"):
        resolve_config(y)
    with pytest.raises(InputError, match="is a folder"):
        resolve_config(tmp_path)


def test_run_refuses_a_bad_config_before_any_work(run_cli, tmp_path):
    out = tmp_path / "run"
    code, _, err = run_cli("run", "--preset", "smoke", "--set", "budgets=[0]", "--out", out,
                           "--cache", tmp_path / "cache")
    assert code == 2 and "field budgets.0" in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "cache").exists()
