"""Math-Shepherd rows written by hand in the published layout ("problem Step 1: ... ки\\nStep 2:
... ки", `label` the same with each ки replaced by + or -); expected values worked out by
hand."""

from __future__ import annotations

import json

import pytest

from prmlab.data.formats import WriteError, read_any, write_any
from prmlab.data.record import Record
from prmlab.errors import InputError

# The problem itself says "Step 1:" (a recipe); the solution's Step 1 is the last one before
# the first tag, so the problem keeps its own "Step 1:" and step 0 is "Step 1: 2 * 3 = 6".
RECIPE = ("A recipe says: Step 1: use 2 eggs per cake. Step 2: bake. How many eggs for 3 cakes? "
          "Step 1: 2 * 3 = 6 eggs. ки\nStep 2: The answer is: 6 ки")
RECIPE_PROBLEM = ("A recipe says: Step 1: use 2 eggs per cake. Step 2: bake. How many eggs for 3 "
                  "cakes?")
PLAIN = ("Tom has 3 apples and buys 4. How many? Step 1: 3 + 4 = 8. ки\nStep 2: The answer "
         "is: 8 ки")


def tagged(text, tags):
    for t in tags:
        text = text.replace("ки", t, 1)
    return text


def write_rows(tmp_path, rows):
    p = tmp_path / "math-shepherd.jsonl"
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return p


def test_problem_containing_step_1_is_not_split_there(tmp_path):
    p = write_rows(tmp_path, [{"input": RECIPE, "label": tagged(RECIPE, "++"), "task": "GSM8K"},
                              {"input": PLAIN, "label": tagged(PLAIN, "--"), "task": "GSM8K"}])
    a, b = read_any(p)
    assert a.problem == RECIPE_PROBLEM
    assert a.steps == ["Step 1: 2 * 3 = 6 eggs.", "Step 2: The answer is: 6"]
    assert (a.labels, a.first_error) == ([1, 1], -1)
    assert (b.problem, b.labels, b.first_error) == ("Tom has 3 apples and buys 4. How many?",
                                                    [0, 0], 0)
    assert a.meta == {"task": "GSM8K"} and a.id == "math-shepherd-1"


def test_native_canonical_native_round_trip(tmp_path):
    rows = [{"input": RECIPE, "label": tagged(RECIPE, "+-"), "task": "MATH"},
            {"input": PLAIN, "label": tagged(PLAIN, "-+"), "task": "GSM8K"}]
    recs = read_any(write_rows(tmp_path, rows), after_error="wrong")
    # the second row's "+" after "-" becomes wrong; the tags as given are kept
    assert [(r.labels, r.meta.get("step_tags")) for r in recs] == [([1, 0], None), ([0, 0], "-+")]
    out = tmp_path / "again" / "math-shepherd.jsonl"
    write_any(out, recs, "math-shepherd")
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows


def test_lowercase_step_1_as_trl_reads_it(tmp_path):
    text = "What is 1+1? step 1: 1+1=2 ки\nstep 2: The answer is: 2 ки"
    [r] = read_any(write_rows(tmp_path, [{"input": text, "label": tagged(text, "++")}]))
    assert (r.problem, r.steps) == ("What is 1+1?", ["step 1: 1+1=2", "step 2: The answer is: 2"])


def test_writer_refuses_what_it_could_not_split_back(tmp_path):
    rec = Record("x", "p?", ["Step 1: a, then Step 1: again", "b"], [1, 1], -1)
    with pytest.raises(WriteError) as e:
        write_any(tmp_path / "m.jsonl", [rec], "math-shepherd")
    assert e.value.field == "steps[0]" and not (tmp_path / "m.jsonl").exists()
    ok = Record("y", RECIPE_PROBLEM, ["Step 1: 6 eggs.", "Step 2: The answer is: 6"], [1, 1], -1)
    write_any(tmp_path / "m.jsonl", [ok], "math-shepherd")
    assert read_any(tmp_path / "m.jsonl")[0].problem == RECIPE_PROBLEM


def test_non_prefix_tags_rejected_by_default_with_the_place(tmp_path):
    p = write_rows(tmp_path, [{"input": PLAIN, "label": tagged(PLAIN, "-+")}])
    with pytest.raises(InputError, match=r"math-shepherd.jsonl:1: field label\[1\]: correct after"):
        read_any(p)


def test_cli_convert_to_trl_and_back(tmp_path, run_cli):
    rows = [{"input": RECIPE, "label": tagged(RECIPE, "+-"), "task": "GSM8K"}]
    src = write_rows(tmp_path, rows)
    code, stdout, err = run_cli("data", "convert", "--to", "trl", src, tmp_path / "t.jsonl")
    assert (code, err) == (0, "") and "converted 1 records" in stdout
    t = json.loads((tmp_path / "t.jsonl").read_text())
    assert (t["prompt"], t["labels"]) == (RECIPE_PROBLEM, [True, False])
    code, _, err = run_cli("data", "convert", "--to", "math-shepherd", tmp_path / "t.jsonl",
                           tmp_path / "back" / "math-shepherd.jsonl")
    assert (code, err) == (0, "")
    assert json.loads((tmp_path / "back" / "math-shepherd.jsonl").read_text()) == rows[0]
