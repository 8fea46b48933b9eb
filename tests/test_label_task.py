"""`prmlab label --task`: what a right answer is comes from a task; a task without a step oracle
cannot run the quality study, and says so before any model is loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from prmlab.data.arith.generate import iter_records
from prmlab.data.arith.problems import Difficulty
from prmlab.data.tasks import ARITH, MathTask
from prmlab.errors import InputError
from prmlab.experiments.label_study import check_gold


def _label(tmp_path, *extra):
    data = tmp_path / "a.jsonl"
    data.write_text("".join(json.dumps(r.to_dict()) + "\n"
                            for r in iter_records(2, 0, Difficulty())))
    return subprocess.run([sys.executable, "-m", "prmlab.cli.main", "label", "--method", "mc-hard",
                           "--policy", str(tmp_path / "no-policy"), "--data", str(data),
                           "--out", str(tmp_path / "l.jsonl"), *extra],
                          capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1",
                                                               "PATH": "/usr/bin:/bin"})


def test_quality_needs_a_step_oracle(tmp_path):
    tasks = tmp_path / "gsm.jsonl"
    tasks.write_text(json.dumps({"question": "one plus one?", "answer": "so #### 2"}) + "\n")
    proc = _label(tmp_path, "--task", str(tasks), "--quality")
    assert proc.returncode == 2, proc.stderr
    assert "step oracle" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "l.jsonl").exists()


def test_an_unknown_task_is_one_line(tmp_path):
    proc = _label(tmp_path, "--task", "nope")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "task" in proc.stderr


def test_gold_answers_come_from_the_task(tmp_path):
    recs = list(iter_records(3, 0, Difficulty()))
    check_gold(recs, ARITH, "a.jsonl")  # arith knows every generated problem
    tasks = tmp_path / "gsm.jsonl"
    tasks.write_text(json.dumps({"question": "one plus one?", "answer": "so #### 2"}) + "\n")
    with pytest.raises(InputError, match="a.jsonl"):
        check_gold(recs, MathTask.from_jsonl(tasks), "a.jsonl")  # not its problems


def test_label_refuses_to_replace_a_file_it_did_not_write(tmp_path):
    (tmp_path / "l.jsonl").write_text("mine\n")
    proc = _label(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert (tmp_path / "l.jsonl").read_text() == "mine\n"


def test_critic_refuses_a_foreign_out_folder_and_bad_options(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    data = tmp_path / "a.jsonl"
    data.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in iter_records(2, 0, Difficulty())))
    base = [sys.executable, "-m", "prmlab.cli.main", "critic", "--model", str(tmp_path / "none"),
            "--data", str(data)]
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    for extra in (["--out", str(out)], ["--out", str(tmp_path / "o2"), "--temperature", "nan"],
                  ["--out", str(tmp_path / "o3"), "--k", "0"]):
        proc = subprocess.run(base + extra, capture_output=True, text=True, env=env)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert (out / "notes.txt").read_text() == "keep" and not (tmp_path / "o2").exists()
