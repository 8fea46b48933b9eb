"""The canonical record: prefix semantics, and validation that names the field."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from prmlab.data.jsonl import read_records, write_records
from prmlab.data.record import (Record, first_error_from_labels, labels_from_first_error,
                                record_from_dict)
from prmlab.errors import InputError


def good(**kw):
    obj = {"id": "r1", "problem": "2+3*4?", "steps": ["3*4=12", "2+12=14"], "labels": [1, 1],
           "first_error": -1, "answer": "14", "answer_correct": True, "source": "t",
           "meta": {"k": 1}}
    obj.update(kw)
    return obj


@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(-1, n - 1))))
def test_prefix_semantics_round_trip(case):
    n, fe = case
    labels = labels_from_first_error(fe, n)
    assert len(labels) == n and labels == sorted(labels, reverse=True)
    assert first_error_from_labels(labels) == fe


def test_valid_record_and_defaults():
    r = record_from_dict(good())
    assert r.to_dict() == good() and r.is_correct is True
    r = record_from_dict({"id": "x", "problem": "p", "steps": ["a"], "labels": [None],
                          "first_error": None})
    assert r.is_correct is None and r.source == "" and r.meta == {}


@pytest.mark.parametrize("change, field", [
    ({"id": 3}, "id"),
    ({"problem": None}, "problem"),
    ({"steps": []}, "steps"),
    ({"steps": ["a", "  "]}, "steps[1]"),
    ({"steps": ["a", 2]}, "steps[1]"),
    ({"labels": [1]}, "labels"),
    ({"labels": [1, 2]}, "labels[1]"),
    ({"labels": [1, True]}, "labels[1]"),
    ({"labels": [1, 1.0]}, "labels[1]"),
    ({"labels": [0, 1], "first_error": 0}, "labels[1]"),  # correct after wrong
    ({"labels": [1, 0], "first_error": -1}, "labels[1]"),  # disagrees with first_error
    ({"labels": [1, 0], "first_error": None}, "first_error"),
    ({"first_error": 2}, "first_error"),
    ({"first_error": "0"}, "first_error"),
    ({"answer_correct": "yes"}, "answer_correct"),
    ({"meta": []}, "meta"),
    ({"extra": 1}, "extra"),
])
def test_bad_fields_are_named(change, field):
    with pytest.raises(InputError) as e:
        record_from_dict(good(**change), path="f.jsonl", line=4)
    assert e.value.field == field and str(e.value).startswith(f"f.jsonl:4: field {field}: ")


def test_missing_field():
    obj = good()
    del obj["labels"]
    with pytest.raises(InputError, match="field labels: missing"):
        record_from_dict(obj)


def test_jsonl_round_trip_and_duplicates(tmp_path):
    recs = [Record(**good()), Record(**good(id="r2", labels=[1, 0], first_error=1))]
    p = tmp_path / "r.jsonl"
    assert write_records(p, recs) == 2
    assert read_records(p) == recs
    p.write_text(p.read_text().splitlines()[0] + "\n\n" + p.read_text().splitlines()[0] + "\n")
    with pytest.raises(InputError, match=r"r.jsonl:3: field id: duplicate id 'r1' \(first on line 1\)"):
        read_records(p)
