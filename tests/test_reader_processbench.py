"""ProcessBench rows written by hand in its published layout (a JSON array of {id, generator,
problem, steps, final_answer_correct, label}); `label` is the first wrong step, -1 none."""

from __future__ import annotations

import json

import pytest

from prmlab.data.formats import ReadReport, read_any, read_any_located, write_any
from prmlab.errors import InputError

ROWS = [
    {"id": "gsm8k-0", "generator": "Qwen2.5-7B-Instruct", "problem": "3 + 4 - 2?",
     "steps": ["3 + 4 = 7.", "7 - 2 = 5.", "The answer is \\boxed{5}."],
     "final_answer_correct": True, "label": -1},
    {"id": "gsm8k-1", "generator": "Llama-3.1-8B-Instruct", "problem": "3 + 4 - 2?",
     "steps": ["3 + 4 = 8.", "8 - 2 = 6.", "The answer is \\boxed{6}."],
     "final_answer_correct": False, "label": 0},
    # a right answer reached through a wrong step: first error 1, answer still correct
    {"id": "gsm8k-2", "generator": "Qwen2.5-7B-Instruct", "problem": "2 * 3 - 1?",
     "steps": ["2 * 3 = 6.", "6 - 1 = 4, plus 1 left over makes 5.", "\\boxed{5}"],
     "final_answer_correct": True, "label": 1},
]


def test_labels_and_first_errors(tmp_path):
    p = tmp_path / "gsm8k.json"
    p.write_text(json.dumps(ROWS))
    recs = read_any(p)
    assert [(r.first_error, r.labels, r.answer_correct) for r in recs] == [
        (-1, [1, 1, 1], True), (0, [0, 0, 0], False), (1, [1, 0, 0], True)]
    assert {r.source for r in recs} == {"processbench/gsm8k"}
    out = tmp_path / "again" / "gsm8k.json"
    write_any(out, recs, "processbench")
    assert json.loads(out.read_text()) == ROWS


def test_bad_record_is_named_and_skippable(tmp_path):
    p = tmp_path / "math.json"
    p.write_text(json.dumps([ROWS[0], {**ROWS[1], "label": 3}, ROWS[2]]))
    with pytest.raises(InputError, match="math.json: record 2: field label: 3 is out of range"):
        read_any(p)
    report = ReadReport(skip_bad=True)
    _, located = read_any_located(p, report=report)
    assert [w.n for w, _ in located] == [1, 3]
    assert [str(e).split(": ", 1)[1] for e in report.skipped] == [
        "record 2: field label: 3 is out of range for 3 steps (expected -1 or a step index)"]


def test_cli_convert_to_trl_and_back(tmp_path, run_cli):
    src = tmp_path / "gsm8k.json"
    src.write_text(json.dumps(ROWS))
    code, stdout, err = run_cli("data", "convert", "--to", "trl", src, tmp_path / "t.jsonl")
    assert (code, err) == (0, "") and "converted 3 records" in stdout
    code, _, err = run_cli("data", "convert", "--to", "processbench", tmp_path / "t.jsonl",
                           tmp_path / "back" / "gsm8k.json")
    assert (code, err) == (0, "")
    assert json.loads((tmp_path / "back" / "gsm8k.json").read_text()) == ROWS


@pytest.mark.parametrize("split", ["gsm8k", "math"])
def test_shared_processbench_converts_to_trl_and_back(tmp_path, run_cli, shared_data, split):
    src = shared_data / "processbench" / f"{split}.json"
    if not src.exists():
        pytest.skip(f"{src} is absent")
    n = len(json.loads(src.read_text("utf-8")))
    code, stdout, err = run_cli("data", "convert", "--to", "trl", src, tmp_path / "t.jsonl")
    assert (code, err) == (0, "") and f"converted {n} records" in stdout
    code, stdout, err = run_cli("data", "convert", "--to", "processbench", tmp_path / "t.jsonl",
                                tmp_path / f"{split}.json")
    assert (code, err) == (0, "")
    assert json.loads((tmp_path / f"{split}.json").read_text("utf-8")) == \
        json.loads(src.read_text("utf-8"))
