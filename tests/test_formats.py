"""Readers and writers: canonical -> format -> canonical is the identity; mappings are explicit."""

from __future__ import annotations

import json

import pytest

from prmlab.data.formats import FORMATS, WriteError, read_any, sniff_path, write_any
from prmlab.data.record import Record
from prmlab.errors import InputError

PROBLEM = "Tom has 3 apples and buys 4 more, then eats 2. How many are left?"


def hand_made() -> list[Record]:
    """An erroneous, a correct and a late-error record, with meta and answers."""
    return [
        Record("e1", PROBLEM, ["Step 1: 3 + 4 = 8", "Step 2: 8 - 2 = 6", "Step 3: The answer is: 6"],
               [0, 0, 0], 0, answer="6", answer_correct=False, source="hand",
               meta={"generator": "me", "error_type": "arithmetic"}),
        Record("c1", PROBLEM, ["Step 1: 3 + 4 = 7", "Step 2: 7 - 2 = 5", "Step 3: The answer is: 5"],
               [1, 1, 1], -1, answer="5", answer_correct=True, source="hand"),
        Record("e2", PROBLEM, ["Step 1: 3 + 4 = 7", "Step 2: 7 - 3 = 4"], [1, 0], 1,
               answer_correct=None, source="other", meta={"difficulty": 2}),
    ]


UNKNOWN = Record("u1", PROBLEM, ["Step 1: 3 + 4 = 7", "Step 2: 7 - 2 = 5"], [1, None], None)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip(tmp_path, fmt):
    recs = hand_made()
    path = tmp_path / ("out.json" if fmt == "processbench" else "out.jsonl")
    assert write_any(path, recs, fmt) == len(recs)
    assert read_any(path, fmt) == recs
    assert sniff_path(path) == fmt and read_any(path) == recs


@pytest.mark.parametrize("fmt", ["prmlab", "prm800k"])
def test_unknown_labels_round_trip_where_representable(tmp_path, fmt):
    write_any(tmp_path / "u.jsonl", [UNKNOWN], fmt)
    assert read_any(tmp_path / "u.jsonl", fmt) == [UNKNOWN]


@pytest.mark.parametrize("fmt, field", [("processbench", "first_error"), ("trl", "labels[1]"),
                                        ("math-shepherd", "labels[1]")])
def test_unknown_labels_are_refused_not_coerced(tmp_path, fmt, field):
    with pytest.raises(WriteError) as e:
        write_any(tmp_path / "u.out", [hand_made()[0], UNKNOWN], fmt)
    assert e.value.index == 1 and e.value.field == field and "'u1'" in str(e.value)
    assert not (tmp_path / "u.out").exists()


def test_processbench_upstream_object_round_trips(tmp_path):
    obj = {"id": "math-7", "generator": "Qwen2-7B-Instruct", "problem": "p", "steps": ["a", "b"],
           "final_answer_correct": True, "label": 1, "note": "kept"}
    (tmp_path / "math.json").write_text(json.dumps([obj]))
    [rec] = read_any(tmp_path / "math.json")
    assert (rec.first_error, rec.labels, rec.answer_correct, rec.source) == (1, [1, 0], True,
                                                                           "processbench/math")
    assert rec.meta == {"generator": "Qwen2-7B-Instruct", "note": "kept"}
    write_any(tmp_path / "again" / "math.json", [rec], "processbench")
    [back] = json.loads((tmp_path / "again" / "math.json").read_text())
    assert back == {**{k: v for k, v in obj.items() if k != "note"}, "meta": {"note": "kept"}}


def prm800k_line(*steps, finish="found_error"):
    return json.dumps({"labeler": "L1", "question": {"problem": "p", "ground_truth_answer": "4"},
                       "label": {"steps": list(steps), "finish_reason": finish}})


def comp(text, rating):
    return {"text": text, "rating": rating, "flagged": False}


def test_prm800k_mapping(tmp_path):
    p = tmp_path / "phase2_train.jsonl"
    p.write_text("\n".join([
        prm800k_line({"completions": [comp("a", 1)], "chosen_completion": 0},
                     {"completions": [comp("b0", -1), comp("b1", 0)], "chosen_completion": 1},
                     {"completions": [comp("c", -1), comp("c'", 1)], "chosen_completion": None},
                     {"completions": [comp("d", 1)], "chosen_completion": 0}),
        prm800k_line({"completions": [], "human_completion": {"text": "h", "rating": None},
                      "chosen_completion": None}, finish="solution"),
    ]) + "\n")
    a, b = read_any(p, "prm800k")
    assert a.steps == ["a", "b1", "c", "d"]  # chosen, else the first completion rated -1
    assert (a.labels, a.first_error) == ([1, 1, 0, 0], 2)  # neutral -> correct; +1 after -1 -> 0
    assert a.id == "phase2_train-1" and a.source == "prm800k"
    # finish_reason found_error is what the writer writes for first_error 2, so not kept;
    # the alternatives and flags are, with the options they were read with
    assert {k: v for k, v in a.meta.items() if k not in ("label_steps", "label_read")} == {
        "labeler": "L1", "ground_truth_answer": "4"}
    assert a.meta["label_read"] == {"neutral": "correct", "unfinished": "unknown"}
    assert len(a.meta["label_steps"]) == 4
    # the human step is the README's "+1 step" (its null rating reads +1); solution: correct
    assert (b.steps, b.labels, b.first_error) == (["h"], [1], -1)
    [a2, _] = read_any(p, "prm800k", neutral="wrong")
    assert (a2.labels, a2.first_error) == ([1, 0, 0, 0], 1)


def test_prm800k_writes_one_rated_completion_per_step(tmp_path):
    write_any(tmp_path / "p.jsonl", [hand_made()[2]], "prm800k")
    obj = json.loads((tmp_path / "p.jsonl").read_text())
    assert [[(c["text"], c["rating"]) for c in s["completions"]] for s in obj["label"]["steps"]] \
        == [[("Step 1: 3 + 4 = 7", 1)], [("Step 2: 7 - 3 = 4", -1)]]


JANET = ("Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast. How much? "
         "Step 1: Janet's ducks lay 16 eggs per day. ки\nStep 2: She eats three, so 16 - 3 = 13 "
         "eggs left. ки\nStep 3: She sells 13 - 4 = 9 eggs. ки\nStep 4: The answer is: 18 ки")


def ms_label(text, tags):
    for t in tags:
        text = text.replace("ки", t, 1)
    return text


def test_math_shepherd_splitting_rule(tmp_path):
    p = tmp_path / "ms.jsonl"
    p.write_text(json.dumps({"input": JANET, "label": ms_label(JANET, "++--"), "task": "GSM8K"})
                 + "\n")
    [r] = read_any(p)
    assert r.problem == "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast. How much?"
    assert r.steps[0] == "Step 1: Janet's ducks lay 16 eggs per day."
    assert r.steps[3] == "Step 4: The answer is: 18"
    assert (r.labels, r.first_error, r.meta) == ([1, 1, 0, 0], 2, {"task": "GSM8K"})
    write_any(tmp_path / "back.jsonl", [r], "math-shepherd")
    back = json.loads((tmp_path / "back.jsonl").read_text())
    assert back["input"] == JANET and back["label"] == ms_label(JANET, "++--")


def test_math_shepherd_non_prefix_tags(tmp_path):
    p = tmp_path / "ms.jsonl"
    p.write_text(json.dumps({"input": JANET, "label": ms_label(JANET, "+-+-")}) + "\n")
    with pytest.raises(InputError, match=r"ms.jsonl:1: field label\[2\]: correct after the wrong"):
        read_any(p)
    [r] = read_any(p, after_error="wrong")
    assert (r.labels, r.first_error) == ([1, 0, 0, 0], 1)


def test_math_shepherd_adds_step_prefixes(tmp_path):
    rec = Record("x", "p?", ["a = 1", "Step 2: b = 2"], [1, 1], -1)
    write_any(tmp_path / "m.jsonl", [rec], "math-shepherd")
    obj = json.loads((tmp_path / "m.jsonl").read_text())
    assert obj["input"] == "p? Step 1: a = 1 ки\nStep 2: b = 2 ки"
    assert read_any(tmp_path / "m.jsonl")[0].steps == ["Step 1: a = 1", "Step 2: b = 2"]


def test_trl_labels(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps({"prompt": "p", "completions": ["a", "b", "c"],
                             "labels": [True, False, True]}) + "\n")
    assert read_any(p)[0].labels == [1, 0, 0]  # independent (the default): first false = error
    with pytest.raises(InputError, match=r"field labels\[2\]"):
        read_any(p, label_semantics="prefix")
    assert read_any(p, label_semantics="prefix", after_error="wrong")[0].labels == [1, 0, 0]


def test_options_must_apply_and_be_known(tmp_path):
    write_any(tmp_path / "t.jsonl", hand_made(), "trl")
    with pytest.raises(InputError, match="--neutral applies to prm800k, not to trl"):
        read_any(tmp_path / "t.jsonl", neutral="wrong")
    with pytest.raises(InputError, match="--after-error must be one of reject, wrong"):
        read_any(tmp_path / "t.jsonl", after_error="maybe")
    with pytest.raises(InputError, match="unknown format 'csv'"):
        read_any(tmp_path / "t.jsonl", "csv")


def test_sniff_refuses_unknown_content(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"question_text": "q", "answer": 1}\n')
    with pytest.raises(InputError, match=r"x.jsonl:1: cannot tell the format .*answer, question_text"):
        read_any(p)
