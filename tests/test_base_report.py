"""A cached base whose health report predates the probe streams' move is probed again on load:
the weights (and the content address) stay, the report's probe fields are recomputed, and every
prmlab.json is replaced atomically."""

from __future__ import annotations

import json

import pytest

from prmlab.training import base as base_mod
from prmlab.training.base import PROBE_VERSION, BaseConfig, base_report, snapshot_path, train_base


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setattr(base_mod, "PROBE_N", 24)
    mp.setattr(base_mod, "SNAPSHOT_PROBE_N", 12)
    cfg = BaseConfig(preset="tiny", n_problems=40, fit={"max_steps": 4, "batch_size": 4}, snapshot_step=2)
    path = tmp_path_factory.mktemp("bases") / cfg.key()
    train_base(cfg, path, log=lambda m: None)
    yield cfg, path
    mp.undo()


def _info(p):
    return json.loads((p / "prmlab.json").read_text())


def _age(p, **stale):
    """Make the report at `p` look like one written before probe version 2."""
    info = _info(p)
    rep = {k: v for k, v in info["report"].items() if k != "probe_version"}
    rep.update(stale)
    if "snapshot" in rep:
        rep["snapshot"] = {k: v for k, v in rep["snapshot"].items() if k != "probe_version"}
    (p / "prmlab.json").write_text(json.dumps({**info, "report": rep}))


def test_a_new_base_records_its_probe_version(tiny_base):
    cfg, path = tiny_base
    assert _info(path)["report"]["probe_version"] == PROBE_VERSION
    assert _info(snapshot_path(path, cfg))["report"]["probe_version"] == PROBE_VERSION
    calls = []
    rep = base_report(path, log=calls.append)
    assert rep == _info(path)["report"] and not calls  # current: nothing recomputed


def test_an_older_report_is_probed_again_and_replaced_atomically(tiny_base, monkeypatch):
    cfg, path = tiny_base
    monkeypatch.setattr(base_mod, "PROBE_N", 24)
    monkeypatch.setattr(base_mod, "SNAPSHOT_PROBE_N", 12)
    fresh, fresh_snap = _info(path)["report"], _info(snapshot_path(path, cfg))["report"]
    weights = sorted((f.name, f.stat().st_mtime_ns) for f in path.glob("*.safetensors"))
    _age(path, hard_check_exact=-1.0, slip_flagged=-1.0)
    _age(snapshot_path(path, cfg), slip_flagged=-1.0)
    # Interrupted after the snapshot: the base's prmlab.json is still the old one, whole.
    real = base_mod._probe

    def boom(model, codec, d, seed, n):
        if n == base_mod.PROBE_N:
            raise KeyboardInterrupt
        return real(model, codec, d, seed, n)

    monkeypatch.setattr(base_mod, "_probe", boom)
    with pytest.raises(KeyboardInterrupt):
        base_report(path, log=lambda m: None)
    assert _info(path)["report"]["slip_flagged"] == -1.0
    assert _info(snapshot_path(path, cfg))["report"] == fresh_snap
    assert not list(path.glob(".prmlab.json.*"))  # no temporary file left behind
    monkeypatch.setattr(base_mod, "_probe", real)
    logs = []
    rep = base_report(path, log=logs.append)
    assert logs and "probing it again" in logs[0]
    # The same probes as a base trained today gets; the rest of the report (training) kept.
    assert rep == fresh and _info(path)["report"] == fresh
    assert rep["snapshot"] == fresh_snap
    assert sorted((f.name, f.stat().st_mtime_ns) for f in path.glob("*.safetensors")) == weights
    assert _info(path)["config"] == cfg.model_dump() and path.name == cfg.key()


def test_a_report_that_cannot_be_reprobed_is_a_clear_error(tiny_base, tmp_path):
    from prmlab.errors import InputError

    _, path = tiny_base
    info = _info(path)
    bad = tmp_path / "bad"
    bad.mkdir()
    rep = {k: v for k, v in info["report"].items() if k != "probe_version"}
    (bad / "prmlab.json").write_text(json.dumps({**info, "report": rep, "config": {"preset": "huge"}}))
    with pytest.raises(InputError, match="cannot probe this base again.*preset"):
        base_report(bad, log=lambda m: None)
    assert base_report(tmp_path / "nowhere") == {}  # not a base: nothing to do


def test_a_command_may_refresh_the_report_of_a_base_it_reads(tiny_base, monkeypatch):
    """Inside a CLI command every file read is an input prmlab refuses to write onto; a cached
    base's prmlab.json is prmlab's own record, so its refresh is not refused."""
    from prmlab import outdir

    cfg, path = tiny_base
    monkeypatch.setattr(base_mod, "PROBE_N", 24)
    monkeypatch.setattr(base_mod, "SNAPSHOT_PROBE_N", 12)
    _age(path, slip_flagged=-1.0)
    _age(snapshot_path(path, cfg), slip_flagged=-1.0)
    with outdir.command():
        rep = base_report(path, log=lambda m: None)
    assert rep["probe_version"] == PROBE_VERSION and rep["slip_flagged"] != -1.0
