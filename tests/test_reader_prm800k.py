"""PRM800K rows written by hand in the layout of the openai/prm800k README, read the way that
README defines them; expected labels worked out by hand in each test's comment."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from prmlab.data.formats import ReadReport, WriteError, read_any, read_any_located, write_any
from prmlab.errors import InputError

PRE = ["Let n be the number.", "Then 2n = 10.", "So n = 5.", "# Answer\n\n5"]


def comp(text, rating, flagged=None):
    return {"text": text, "rating": rating, "flagged": flagged}


def step(*comps, chosen=0, human=None):
    return {"completions": list(comps) if comps else None, "human_completion": human,
            "chosen_completion": chosen}


def row(steps, finish, *, pre=None, generation=None):
    """A line with every field the README lists, phase 2 when `pre` is given."""
    q = {"problem": "Twice a number is 10. What is the number?",
         "ground_truth_solution": "2n = 10, so n = \\boxed{5}.", "ground_truth_answer": "5",
         "pre_generated_steps": pre, "pre_generated_answer": "5" if pre else None,
         "pre_generated_verifier_score": 0.42 if pre else None}
    return {"labeler": "340d89bc", "timestamp": "2023-01-22T04:34:27.052924",
            "generation": generation, "is_quality_control_question": False,
            "is_initial_screening_question": False, "question": q,
            "label": {"steps": steps, "total_time": 278270, "finish_reason": finish}}


# Phase 2, found_error: the third step is the labeler's stop, none chosen, the pre-generated
# step rated -1 beside alternatives: path = pre[0..2], labels 1 (neutral), 1, 0; first error 2.
FOUND_ERROR = row([step(comp(PRE[0], 0)), step(comp(PRE[1], 1)),
                   step(comp("Then n = 4.", 0, False), comp(PRE[2], -1), comp("n=5", 1, False),
                        chosen=None)], "found_error", pre=PRE, generation=9)
# Phase 1: step 2's completions all rated -1, the labeler wrote their own (+1) step and went
# on to the answer: path = a, human, c; labels 1, 1, 1; first error -1 (the old reader took
# completions[0] and read this solved trajectory as wrong at step 1).
HUMAN = row([step(comp("Let n be it.", 1)),
             step(comp("2n = 12.", -1), comp("n = 2 * 10.", -1), chosen=None,
                  human={"text": "2n = 10, so n = 10 / 2.", "rating": None, "source": "human"}),
             step(comp("n = 5. # Answer\n\n5", 1))], "solution")
# Phase 1, give_up, then a step whose completions, human and chosen completion are all null:
# the trajectory ends before it; one rated step, +1; unfinished, so first error unknown.
EMPTY_STEP = row([step(comp("Let n be it.", 1)), step(chosen=None)], "give_up")
# Phase 2, give_up after two +1 steps: first error unknown; the two unreached pre-generated
# steps join with unknown labels: labels 1, 1, None, None.
GAVE_UP = row([step(comp(PRE[0], 1)), step(comp(PRE[1], 1))], "give_up", pre=PRE, generation=3)
# bad_problem with a -1 found: the error the labeler saw stays the first error (step 1).
BAD_PROBLEM = row([step(comp(PRE[0], 1)), step(comp(PRE[1], -1), chosen=None)], "bad_problem",
                  pre=PRE, generation=3)
ROWS = [FOUND_ERROR, HUMAN, EMPTY_STEP, GAVE_UP, BAD_PROBLEM]


def write_rows(tmp_path, rows, name="phase2_train.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_each_row_reads_as_the_readme_defines(tmp_path):
    recs = read_any(write_rows(tmp_path, ROWS), "prm800k")
    got = [(r.steps, r.labels, r.first_error) for r in recs]
    assert got == [
        (PRE[:3], [1, 1, 0], 2),
        (["Let n be it.", "2n = 10, so n = 10 / 2.", "n = 5. # Answer\n\n5"], [1, 1, 1], -1),
        (["Let n be it."], [1], None),
        (PRE, [1, 1, None, None], None),
        (PRE[:2], [1, 0], 1),
    ]
    assert [r.is_correct for r in recs] == [False, True, None, None, False]


def test_every_field_is_kept_in_meta(tmp_path):
    a = read_any(write_rows(tmp_path, [FOUND_ERROR]), "prm800k")[0]
    q = FOUND_ERROR["question"]
    for k in ("ground_truth_solution", "ground_truth_answer", "pre_generated_steps",
              "pre_generated_answer", "pre_generated_verifier_score"):
        assert a.meta[k] == q[k]
    assert (a.meta["labeler"], a.meta["generation"], a.meta["total_time"]) == ("340d89bc", 9,
                                                                               278270)
    assert a.meta["label_steps"] == FOUND_ERROR["label"]["steps"]  # alternatives and flags


@pytest.mark.parametrize("unfinished", ["unknown", "as-rated"])
def test_native_canonical_native_round_trip(tmp_path, unfinished):
    recs = read_any(write_rows(tmp_path, ROWS), "prm800k", unfinished=unfinished)
    out = tmp_path / "again" / "phase2_train.jsonl"
    write_any(out, recs, "prm800k")
    back = [json.loads(line) for line in out.read_text().splitlines()]
    assert back == ROWS
    assert read_any(out, "prm800k", unfinished=unfinished) == recs


def test_unfinished_options(tmp_path):
    p = write_rows(tmp_path, ROWS)
    # as-rated claims what the ratings alone say: the give_ups become "all correct"
    rated = read_any(p, "prm800k", unfinished="as-rated")
    assert [(r.labels, r.first_error) for r in rated[2:]] == [([1], -1), ([1, 1], -1),
                                                             ([1, 0], 1)]
    report = ReadReport()
    _, located = read_any_located(p, "prm800k", report=report, unfinished="drop")
    assert [w.n for w, _ in located] == [1, 2]  # the finished ones
    assert report.dropped == {"unfinished prm800k trajectory (finish_reason give_up)": 2,
                              "unfinished prm800k trajectory (finish_reason bad_problem)": 1}
    with pytest.raises(InputError, match="--unfinished must be one of unknown, drop, as-rated"):
        read_any(p, "prm800k", unfinished="keep")


def test_no_finish_reason_and_found_error_without_error_are_unfinished(tmp_path):
    rows = [row([step(comp("a", 1))], None), row([step(comp("a", 1))], "found_error"),
            row([step(comp("a", 1)), step(chosen=None)], "solution")]
    recs = read_any(write_rows(tmp_path, rows), "prm800k")
    # unknown, unknown, and correct: the answer was reached before the empty step
    assert [(r.labels, r.first_error) for r in recs] == [([1], None), ([1], None), ([1], -1)]
    report = ReadReport()
    read_any_located(tmp_path / "phase2_train.jsonl", "prm800k", report=report, unfinished="drop")
    assert report.dropped == {"unfinished prm800k trajectory (no finish_reason)": 1,
                              "unfinished prm800k trajectory (found_error without a wrong step "
                              "on the path)": 1}


def test_neutral_option_on_the_path(tmp_path):
    [r] = read_any(write_rows(tmp_path, [FOUND_ERROR]), "prm800k", neutral="wrong")
    assert (r.labels, r.first_error) == ([0, 0, 0], 0)  # the first step is rated 0


@pytest.mark.parametrize("steps, field, said", [
    ([step(comp("a", 1)), step(chosen=None), step(comp("c", 1))], "label.steps[2]",
     "follows step 1, where the trajectory ended"),
    ([step(chosen=None)], "label.steps", "no step on the labeler's path"),
    ([step(comp("a", 1), chosen=3)], "label.steps[0].chosen_completion", "out of range"),
    ([step(comp("a", 5))], "label.steps[0].completions[0].rating", "expected -1, 0, 1"),
])
def test_unconvertible_rows_name_line_and_field(tmp_path, steps, field, said):
    p = write_rows(tmp_path, [HUMAN, row(steps, "give_up")])
    with pytest.raises(InputError) as e:
        read_any(p, "prm800k")
    assert e.value.field == field and str(e.value).startswith(f"{p}:2: ") \
        and said in str(e.value)
    report = ReadReport(skip_bad=True)
    _, located = read_any_located(p, "prm800k", report=report)
    assert len(located) == 1 and [err.field for err in report.skipped] == [field]


def test_unknown_finish_reason_is_an_error(tmp_path):
    with pytest.raises(InputError, match="field label.finish_reason: expected one of solution"):
        read_any(write_rows(tmp_path, [row([step(comp("a", 1))], "done")]), "prm800k")


def test_changed_record_does_not_write_stale_label_steps(tmp_path):
    [r] = read_any(write_rows(tmp_path, [FOUND_ERROR]), "prm800k")
    changed = dataclasses.replace(r, labels=[1, 1, 1], first_error=-1)
    with pytest.raises(WriteError) as e:
        write_any(tmp_path / "out.jsonl", [changed], "prm800k")
    assert e.value.field == "meta.label_steps"
    meta = {k: v for k, v in r.meta.items() if k not in ("label_steps", "label_read")}
    write_any(tmp_path / "out.jsonl", [dataclasses.replace(changed, meta=meta)], "prm800k")
    obj = json.loads((tmp_path / "out.jsonl").read_text())
    assert [s["completions"][0]["rating"] for s in obj["label"]["steps"]] == [1, 1, 1]
    assert obj["label"]["finish_reason"] == "solution" and obj["labeler"] == "340d89bc"


def test_rows_are_not_modified_by_reading(tmp_path):
    before = copy.deepcopy(ROWS)
    read_any(write_rows(tmp_path, ROWS), "prm800k")
    assert ROWS == before


def test_cli_convert_skip_bad_counts_and_reports_first_reasons(tmp_path, run_cli):
    src, out = tmp_path / "phase2_train.jsonl", tmp_path / "out.jsonl"
    bad = row([step(comp("a", 7))], "solution")
    src.write_text("".join(json.dumps(r) + "\n" for r in [FOUND_ERROR, bad, HUMAN]) + "{oops\n")
    code, _, err = run_cli("data", "convert", "--to", "prmlab", src, out)
    assert code == 2 and not out.exists()
    assert f"{src}:2: field label.steps[0].completions[0].rating" in err
    code, stdout, err = run_cli("data", "convert", "--to", "prmlab", "--skip-bad", src, out)
    assert (code, err) == (0, "")
    assert "converted 2 records" in stdout
    assert f"skipped 2 records that cannot be converted (--skip-bad): {src}:2: field " \
           "label.steps[0].completions[0].rating" in stdout
    assert f"{src}:4: malformed JSON" in stdout
    assert [r.id for r in read_any(out)] == ["phase2_train-1", "phase2_train-3"]


def test_cli_convert_to_trl_skips_unknown_labels_only_when_asked(tmp_path, run_cli):
    src, out = write_rows(tmp_path, ROWS), tmp_path / "out.jsonl"
    code, _, err = run_cli("data", "convert", "--to", "trl", src, out)
    # row 3: a give_up with one correct step; as booleans it would read back "all correct"
    assert code == 2 and f"{src}:3: field first_error" in err and "cannot convert to trl" in err
    code, stdout, err = run_cli("data", "convert", "--to", "trl", "--skip-bad", src, out)
    assert (code, err) == (0, "")
    # rows 3 and 4 have an unknown first error (row 4 unknown labels too); TRL cannot hold that
    assert "converted 3 records" in stdout and "skipped 2 records" in stdout
    assert [(r.labels, r.first_error) for r in read_any(out)] == [([1, 1, 0], 2), ([1, 1, 1], -1),
                                                                ([1, 0], 1)]


def test_cli_unfinished_drop_is_counted(tmp_path, run_cli):
    src, out = write_rows(tmp_path, [FOUND_ERROR, GAVE_UP, HUMAN]), tmp_path / "out.jsonl"
    code, stdout, err = run_cli("data", "convert", "--to", "trl", "--unfinished", "drop", src, out)
    assert (code, err) == (0, "")
    assert "converted 2 records" in stdout
    assert "dropped 1 record by option: unfinished prm800k trajectory (finish_reason give_up) 1" \
        in stdout
    code, stdout, _ = run_cli("data", "validate", src, "--unfinished", "drop")
    assert code == 0 and "2 records" in stdout and "dropped 1 record" in stdout
    code, _, err = run_cli("data", "convert", "--to", "trl", "--label-semantics", "prefix", src,
                           tmp_path / "o2.jsonl")
    assert code == 2 and "--label-semantics applies to trl, not to prm800k" in err
