"""TRL stepwise-supervision rows written by hand in TRL's documented layout (prompt,
completions, labels: booleans or floats); expected labels worked out by hand."""

from __future__ import annotations

import dataclasses
import json

import pytest

from prmlab.data.formats import WriteError, read_any, write_any
from prmlab.data.jsonl import read_records, write_records
from prmlab.errors import InputError

DOC_STYLE = {"prompt": "Which is larger, 7.9 or 7.10?",
             "completions": ["The tenths digit of 7.9 is 9 and of 7.10 is 1.",
                             "Since 1 < 9, 7.10 is larger."],
             "labels": [True, False]}
# trl-lib/prm800k style: each step labelled on its own, neutral steps False, a True after a
# False. First error: step 1 (the first False); canonical labels 1, 0, 0, 0.
PRM800K_STYLE = {"prompt": "What is 3 * 4 + 1?",
                 "completions": ["I compute 3 * 4 first.", "Let me think about the order.",
                                 "3 * 4 = 12.", "12 + 1 = 13. # Answer\n\n13"],
                 "labels": [True, False, True, True]}
# Soft targets (e.g. Monte-Carlo estimates): kept as given; hard labels only at exactly 1 / 0.
SOFT = {"prompt": "What is 2 + 2?", "completions": ["2 + 2 = 4.", "So it is 5.", "5"],
        "labels": [1.0, 0.25, 0.0]}


def write_rows(tmp_path, rows):
    p = tmp_path / "trl.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_default_reads_trl_fixtures_independently(tmp_path):
    a, b, c = read_any(write_rows(tmp_path, [DOC_STYLE, PRM800K_STYLE, SOFT]))
    assert (a.labels, a.first_error, a.soft_labels) == ([1, 0], 1, None)
    assert (b.labels, b.first_error) == ([1, 0, 0, 0], 1)
    assert b.meta == {"trl_labels": [True, False, True, True]}  # the file's own labels, kept
    # 0.25 is no hard label; 0.0 is wrong; the first error is unknown (step 1 might be wrong)
    assert (c.labels, c.first_error, c.soft_labels) == ([1, None, 0], None, [1.0, 0.25, 0.0])


def test_prefix_semantics_option(tmp_path):
    p = write_rows(tmp_path, [DOC_STYLE, PRM800K_STYLE])
    with pytest.raises(InputError, match=r"trl.jsonl:2: field labels\[2\]: correct after the "
                                         r"wrong step 1"):
        read_any(p, label_semantics="prefix")
    recs = read_any(p, label_semantics="prefix", after_error="wrong")
    assert [r.labels for r in recs] == [[1, 0], [1, 0, 0, 0]]
    with pytest.raises(InputError, match="--after-error applies to trl only with "
                                         "--label-semantics prefix"):
        read_any(p, after_error="wrong")
    with pytest.raises(InputError, match="--label-semantics must be one of independent, prefix"):
        read_any(p, label_semantics="both")


def test_native_canonical_native_round_trip(tmp_path):
    mixed = {**SOFT, "labels": [True, 0.5, False]}
    rows = [DOC_STYLE, PRM800K_STYLE, SOFT, mixed]
    recs = read_any(write_rows(tmp_path, rows))
    out = tmp_path / "again" / "trl.jsonl"
    write_any(out, recs, "trl")
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows
    # and through the canonical file: soft labels survive there too
    write_records(tmp_path / "c.jsonl", recs)
    assert read_records(tmp_path / "c.jsonl") == recs
    assert json.loads((tmp_path / "c.jsonl").read_text().splitlines()[2])["soft_labels"] == \
        [1.0, 0.25, 0.0]
    assert "soft_labels" not in json.loads((tmp_path / "c.jsonl").read_text().splitlines()[0])


def test_soft_labels_travel_through_formats_that_have_no_place_for_them(tmp_path):
    [r] = read_any(write_rows(tmp_path, [SOFT]))
    write_any(tmp_path / "p.jsonl", [r], "prm800k")
    [back] = read_any(tmp_path / "p.jsonl", "prm800k")
    assert back.soft_labels == [1.0, 0.25, 0.0] and back.labels == r.labels


def test_changed_labels_do_not_write_stale_kept_labels(tmp_path):
    [r] = read_any(write_rows(tmp_path, [PRM800K_STYLE]))
    changed = dataclasses.replace(r, labels=[1, 1, 0, 0], first_error=2)
    with pytest.raises(WriteError) as e:
        write_any(tmp_path / "out.jsonl", [changed], "trl")
    assert e.value.field == "meta.trl_labels"


def test_cli_convert_to_canonical_and_back(tmp_path, run_cli):
    src = write_rows(tmp_path, [DOC_STYLE, PRM800K_STYLE, SOFT])
    code, stdout, err = run_cli("data", "convert", "--to", "prmlab", src, tmp_path / "c.jsonl")
    assert (code, err) == (0, "") and "converted 3 records" in stdout
    code, stdout, err = run_cli("data", "convert", "--to", "trl", tmp_path / "c.jsonl",
                                tmp_path / "back" / "trl.jsonl")
    assert (code, err) == (0, "")  # ids are the defaults of a file called trl.jsonl, so not written
    assert [json.loads(x) for x in (tmp_path / "back" / "trl.jsonl").read_text().splitlines()] == [
        DOC_STYLE, PRM800K_STYLE, SOFT]
