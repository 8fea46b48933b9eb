"""All 3,400 ProcessBench cases in ../shared/data load, and stats agree with the raw files.

The expected numbers are computed here from the files with plain `json`, independently of the
readers; the tests skip (with the reason) when ../shared/data is absent.
"""

from __future__ import annotations

import json

import pytest

from prmlab.data.formats import read_any, write_any
from prmlab.data.stats import describe

SPLITS = {"gsm8k": 400, "math": 1000, "olympiadbench": 1000, "omnimath": 1000}


@pytest.fixture(scope="module")
def raw(shared_data):
    folder = shared_data / "processbench"
    return {s: (folder / f"{s}.json", json.loads((folder / f"{s}.json").read_text("utf-8")))
            for s in SPLITS}


@pytest.mark.parametrize("split", list(SPLITS))
def test_split_loads_and_stats_match(raw, split):
    path, rows = raw[split]
    assert len(rows) == SPLITS[split]
    recs = read_any(path)  # sniffed
    assert len(recs) == len(rows)
    d = describe(recs)
    n_err = sum(1 for r in rows if r["label"] != -1)
    assert (d["n"], d["n_erroneous"], d["n_correct"], d["n_unknown"]) == \
        (len(rows), n_err, len(rows) - n_err, 0)
    assert d["n_steps"] == sum(len(r["steps"]) for r in rows)
    hist: dict[str, int] = {}
    for r in rows:
        if r["label"] != -1:
            hist[str(r["label"])] = hist.get(str(r["label"]), 0) + 1
    assert d["first_error_hist"] == dict(sorted(hist.items(), key=lambda kv: int(kv[0])))
    assert list(d["by_source"]) == [f"processbench/{split}"]
    for rec, row in zip(recs, rows):
        assert (rec.id, rec.steps, rec.first_error, rec.answer_correct, rec.meta["generator"]) \
            == (row["id"], row["steps"], row["label"], row["final_answer_correct"], row["generator"])


def test_all_3400_through_the_cli(raw, run_cli, tmp_path):
    """Convert every split to canonical JSONL and back: the ProcessBench objects are unchanged."""
    total = 0
    for split, (path, rows) in raw.items():
        canon = tmp_path / f"{split}.jsonl"
        code, out, err = run_cli("data", "convert", "--to", "prmlab", path, canon)
        assert (code, err) == (0, ""), err
        back = tmp_path / "back" / f"{split}.json"
        code, out, err = run_cli("data", "convert", "--to", "processbench", canon, back)
        assert (code, err) == (0, ""), err
        assert json.loads(back.read_text("utf-8")) == rows
        total += len(rows)
    assert total == 3400
    code, out, err = run_cli("data", "stats", "--json", tmp_path / "gsm8k.jsonl")
    assert code == 0
    d = json.loads(out)
    n_err = sum(1 for r in raw["gsm8k"][1] if r["label"] != -1)
    assert (d["format"], d["n"], d["n_erroneous"], d["n_correct"], d["n_unknown"]) == \
        ("prmlab", 400, n_err, 400 - n_err, 0)
    assert d["by_source"]["processbench/gsm8k"]["n"] == 400
    assert d["mean_steps"] == pytest.approx(sum(len(r["steps"]) for r in raw["gsm8k"][1]) / 400,
                                            abs=1e-4)


def test_table_output(raw, run_cli):
    code, out, err = run_cli("data", "stats", raw["gsm8k"][0])
    assert code == 0 and "processbench/gsm8k" in out and "first error at step" in out


@pytest.mark.parametrize("fmt", ["trl", "prm800k"])
def test_real_records_round_trip_other_formats(raw, tmp_path, fmt):
    recs = read_any(raw["math"][0])[:200]
    write_any(tmp_path / "x.jsonl", recs, fmt)
    assert read_any(tmp_path / "x.jsonl", fmt) == recs
