"""`prmlab run --executor ray`: the smoke sweep as Ray tasks gives the serial executor's cells,
samples and report; resume works across executors; Ray missing is one line and status 2; cells
writing at once lose no manifest entry; a worker that cannot see the run folder says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prmlab.outdir import MANIFEST

SWEEP = ["--preset", "smoke", "--set", "formats=[discriminative,generative]", "--set",
         "budgets=[4,8]", "--set", "zero_label=true"]
TIMING = {"seconds", "train_seconds", "score_seconds"}  # wall clock: differs run to run


def test_ray_missing_is_one_line_and_status_2(run_cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code, out, err = run_cli("run", *SWEEP, "--executor", "ray", "--out", tmp_path / "run",
                             "--cache", tmp_path / "cache")
    assert code == 2
    assert err == "prmlab: error: --executor ray needs Ray, which is not installed: pip install 'prmlab[ray]'\n"
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_executor_options_are_checked_before_any_work(run_cli, tmp_path):
    code, _, err = run_cli("run", *SWEEP, "--address", "auto", "--out", tmp_path / "a")
    assert code == 2 and "--address is an option of --executor ray" in err
    code, _, err = run_cli("run", *SWEEP, "--executor", "dask", "--out", tmp_path / "b")
    assert code == 2 and "unknown executor 'dask' (known: serial, ray)" in err
    code, _, err = run_cli("run", *SWEEP, "--executor", "ray", "--cpus-per-cell", "0",
                           "--out", tmp_path / "c")
    assert code == 2 and "--cpus-per-cell" in err
    assert not any((tmp_path / n).exists() for n in "abc")


WRITER = """
import sys
from prmlab import outdir
from prmlab.atomic import write_text
folder, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with outdir.command():
    outdir.prepare_out(folder, worker=True)  # as a Ray task does: the driver holds the folder
    for i in range(n):
        write_text(f"{folder}/cells/{tag}/f{i}.txt", tag)
"""


def test_processes_writing_into_one_folder_at_once_lose_no_manifest_entry(tmp_path):
    """Cells run as Ray tasks are separate processes listing files in the run folder's one
    manifest; each read-modify-write holds the folder's lock."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / MANIFEST).write_text('{"files": []}\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(folder), tag, "60"], env=env)
             for tag in ("a", "b", "c")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    listed = set(json.loads((folder / MANIFEST).read_text())["files"])
    assert listed == {f"cells/{t}/f{i}.txt" for t in "abc" for i in range(60)}
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST, "cells"]  # no lock file left


def test_a_file_of_the_lock_name_that_prmlab_did_not_create_is_refused_and_kept(tmp_path):
    from prmlab import outdir
    from prmlab.atomic import write_text
    from prmlab.errors import InputError

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / MANIFEST).write_text('{"files": []}\n')
    (folder / outdir.LOCK).write_text("my notes")
    with outdir.command(), pytest.raises(InputError, match="manifest lock name"):
        outdir.prepare_out(folder)
        write_text(folder / "a.txt", "x")
    assert (folder / outdir.LOCK).read_text() == "my notes"
    assert json.loads((folder / MANIFEST).read_text())["files"] == []
    assert not (folder / "a.txt").exists()  # refused before anything was written


def test_a_worker_that_cannot_see_the_run_folder_says_so(tmp_path):
    from prmlab.experiments.plan import BaselineSpec
    from prmlab.experiments.ray_executor import CellTask, _run_cell_task

    task = CellTask(out=str(tmp_path / "elsewhere"), base=str(tmp_path / "b"),
                    policy=str(tmp_path / "p"), policy_init=str(tmp_path / "p"),
                    data_folder=str(tmp_path / "d"), bootstrap_resamples=10, cwd=str(tmp_path),
                    argv=("prmlab", "run"), threads=1, prepared_out=False)
    got = _run_cell_task(BaselineSpec(baseline="never"), task)
    assert got["error"] == "input"
    assert f"cannot see the run folder ({tmp_path / 'elsewhere' / 'config.json'})" in got["message"]
    assert "must be on storage every node mounts at the same path" in got["message"]
    assert not (tmp_path / "elsewhere").exists()


def test_only_baselines_run_without_a_model():
    from prmlab.experiments.config import resolve_config
    from prmlab.experiments.plan import plan

    specs = plan(resolve_config(preset="smoke"))
    assert {s.kind for s in specs if not s.runs_model} == {"baseline"}
    assert {"judge", "label-free", "tts", "bon"} <= {s.kind for s in specs if s.runs_model}


# ---- under a real local Ray -----------------------------------------------------------------

def _comparable(cell: dict) -> dict:
    """A cell record without its wall-clock times and provenance."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in TIMING | {"provenance"}}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    return strip(cell)


def _report(out: Path) -> list[str]:
    text = (out / "report.md").read_text().replace(str(out), "OUT")
    return [line for line in text.splitlines()
            if not line.startswith(("| git revision", "| command"))]


def _files(out: Path) -> dict[str, bytes]:
    """Every per-step output of every cell: scores, metrics without their provenance."""
    got = {}
    for f in sorted((out / "cells").rglob("*.jsonl")):
        got[str(f.relative_to(out))] = f.read_bytes()
    for f in sorted((out / "cells").rglob("metrics.json")):
        m = json.loads(f.read_text())
        got[str(f.relative_to(out))] = json.dumps(
            {k: v for k, v in m.items() if k not in ("command", "git_revision", "versions")},
            sort_keys=True).encode()
    return got


@pytest.fixture(scope="module")
def serial_and_ray(tmp_path_factory):
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'prmlab[ray]'")
    from prmlab.cli import main as main_mod

    root = tmp_path_factory.mktemp("ray")
    cache = root / "cache"

    def run(*args) -> None:
        try:
            main_mod.main([str(a) for a in args])
        except SystemExit as e:
            assert e.code in (0, None), e

    import torch

    # A Ray cell gives torch its one CPU's thread; the serial run here does the same, so the
    # float32 reductions add in the same order (with 2 threads, sampled scores differ in the
    # 8th digit: dev/LOG.md).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run("run", *SWEEP, "--out", root / "serial", "--cache", cache)
    finally:
        torch.set_num_threads(threads)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        run("run", *SWEEP, "--executor", "ray", "--out", root / "ray", "--cache", cache)
        yield root, run, cache
    finally:
        ray.shutdown()


def test_ray_cells_are_the_serial_cells(serial_and_ray):
    root, _, _ = serial_and_ray
    ser, ray_ = root / "serial", root / "ray"
    cells = sorted(p.parent.name for p in (ser / "cells").glob("*/cell.json"))
    assert len(cells) >= 12
    assert sorted(p.parent.name for p in (ray_ / "cells").glob("*/cell.json")) == cells
    for c in cells:
        a = json.loads((ser / "cells" / c / "cell.json").read_text())
        b = json.loads((ray_ / "cells" / c / "cell.json").read_text())
        assert _comparable(b) == _comparable(a), c
        # the driver's command (here pytest's), not the Ray worker's
        assert b["provenance"]["command"] == a["provenance"]["command"] == sys.argv
    assert _files(ray_) == _files(ser)  # every per-step score, byte for byte
    assert _report(ray_) == _report(ser)


def test_ray_run_folder_lists_what_the_serial_one_lists(serial_and_ray):
    root, _, _ = serial_and_ray

    def listed(out: Path) -> set[str]:
        return set(json.loads((out / MANIFEST).read_text())["files"])
    assert listed(root / "ray") == listed(root / "serial")
    on_disk = {str(p.relative_to(root / "ray")) for p in (root / "ray").rglob("*")
               if p.is_file() and p.name != MANIFEST}
    assert on_disk <= listed(root / "ray")


def test_ray_resumes_an_interrupted_sweep(serial_and_ray):
    root, run, cache = serial_and_ray
    out = root / "ray"
    # An interruption leaves cells without their cell.json, one with half its files.
    for victim in ("discriminative-N8-s0-b0", "tts-generative-N8-s0-b0"):
        (out / "cells" / victim / "cell.json").unlink()
    (out / "cells" / "discriminative-N8-s0-b0" / "policy" / "metrics.json").unlink()
    kept = out / "cells" / "generative-N8-s0-b0" / "cell.json"
    stamp = kept.stat().st_mtime_ns
    run("run", *SWEEP, "--executor", "ray", "--out", out, "--cache", cache)
    assert kept.stat().st_mtime_ns == stamp  # finished cells are not rerun
    for victim in ("discriminative-N8-s0-b0", "tts-generative-N8-s0-b0"):
        a = json.loads((root / "serial" / "cells" / victim / "cell.json").read_text())
        b = json.loads((out / "cells" / victim / "cell.json").read_text())
        assert _comparable(b) == _comparable(a)
    assert _report(out) == _report(root / "serial")


def test_a_failing_cell_is_one_line_and_the_others_finish(serial_and_ray, tmp_path, capsys):
    import shutil

    from prmlab.cli import main as main_mod

    root, _, cache = serial_and_ray
    out = tmp_path / "run"
    shutil.copytree(root / "ray", out)
    for c in ("baseline-never-b0", "baseline-last-b0"):
        (out / "cells" / c / "cell.json").unlink()
    target = out / "cells" / "baseline-never-b0" / "policy" / "metrics.json"
    target.unlink()
    target.symlink_to(tmp_path / "elsewhere.json")  # a write the cell must refuse
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main_mod.main([str(a) for a in ("run", *SWEEP, "--executor", "ray", "--out", out,
                                        "--cache", cache)])
    err = capsys.readouterr().err
    assert e.value.code == 2
    line = [x for x in err.splitlines() if x.startswith("prmlab: error:")]
    assert line == [f"prmlab: error: {target}: is a symbolic link; prmlab writes only regular "
                    "files, never through a link"], err
    assert not (out / "cells" / "baseline-never-b0" / "cell.json").exists()
    assert (out / "cells" / "baseline-last-b0" / "cell.json").exists()  # ran beside it, kept
    assert not (tmp_path / "elsewhere.json").exists()
