"""Tasks (`prmlab.data.tasks`): the arith task agrees with the rollout labeller's old outcome
check on generated records; the real-math task reads GSM8K/MATH500 and checks answers with
math-verify; the labeller and the sampler take a task."""

from __future__ import annotations

import importlib.util
import json

import pytest

from prmlab.data.arith.generate import iter_records
from prmlab.data.arith.problems import Difficulty
from prmlab.data.record import Record
from prmlab.data.tasks import (ARITH, ArithTask, MathTask, StepJudgement, Task, TaskProblem,
                               is_solved, load_task)
from prmlab.data.tasks.real_math import last_boxed
from prmlab.errors import InputError
from prmlab.data.tasks.arith import first_answer as final_answer, gold_value as gold_answer
from prmlab.supervision.rollouts import Outcome, derive_labels

needs_math_verify = pytest.mark.skipif(
    importlib.util.find_spec("math_verify") is None,
    reason="math-verify is not installed (pip install math-verify; a prmlab dependency)")

PROBLEM = ("ann has 23 coins. bob has 7 more coins than ann. "
           "cal has 3 times as many coins as bob. how many coins does cal have?")


def _old_reached(steps, problem):
    a = final_answer(steps)  # the check rollouts made before tasks existed
    return a is not None and a == gold_answer(problem)


# ---- arith ------------------------------------------------------------------------------------

def test_both_tasks_satisfy_the_protocol():
    assert isinstance(ARITH, Task) and isinstance(ArithTask(seed=3), Task)
    assert isinstance(MathTask([TaskProblem("a", "1+1?", "2")]), Task)
    assert ARITH.step_oracle is not None and MathTask([]).step_oracle is None


def test_arith_task_agrees_with_the_old_check_on_generated_records():
    recs = list(iter_records(300, seed=17, error_rate=0.6))
    wrong_answer = [r for r in recs if r.meta.get("error_type") == "wrong_final_answer"]
    assert len(wrong_answer) >= 5 and sum(not r.answer_correct for r in recs) > 50
    for r in recs:
        assert ARITH.gold_answer(r.problem) == str(gold_answer(r.problem))
        for j in range(len(r.steps) + 1):  # every prefix, the whole solution included
            steps = r.steps[:j]
            old = final_answer(steps)
            assert ARITH.final_answer(steps) == (None if old is None else str(old))
            assert is_solved(ARITH, r.problem, steps) == _old_reached(steps, r.problem)
        # ... and with the oracle's answer_correct on the whole solution
        assert is_solved(ARITH, r.problem, r.steps) == bool(r.answer_correct)
        if r.answer is not None:
            assert ARITH.verify(r.problem, r.answer) == bool(r.answer_correct)
        j = ARITH.step_oracle(r.problem, r.steps)
        assert j == StepJudgement(r.labels, r.first_error, r.meta["oracle_reason"])
    for r in wrong_answer:
        assert not is_solved(ARITH, r.problem, r.steps)
        assert not ARITH.verify(r.problem, r.answer)


def test_arith_verify_and_edge_cases():
    assert ARITH.verify(PROBLEM, "90") and ARITH.verify(PROBLEM, " 90 ")
    assert not ARITH.verify(PROBLEM, "91") and not ARITH.verify(PROBLEM, "90.0")
    assert not ARITH.verify(PROBLEM, "") and not ARITH.verify(PROBLEM, "ninety")
    # the FIRST answer step counts, as the oracle reads it
    assert ARITH.final_answer(["answer = 91", "answer = 90"]) == "91"
    assert not is_solved(ARITH, PROBLEM, ["23 + 7 = 30"])  # no answer yet
    with pytest.raises(InputError, match="not an arith problem"):
        ARITH.gold_answer("what is 2 + 2?")
    with pytest.raises(InputError, match="not an arith problem"):
        ARITH.verify("what is 2 + 2?", "4")
    assert not is_solved(ARITH, "what is 2 + 2?", ["no answer"])  # gold looked up only when needed


def test_arith_problems_are_the_seeded_draws():
    t = ArithTask(seed=21, difficulty=Difficulty())
    ps = t.problems(5)
    want = list(iter_records(5, 21, Difficulty(), error_rate=0.0))
    assert [p.problem for p in ps] == [r.problem for r in want]
    assert [p.gold for p in ps] == [r.answer for r in want]  # gold solutions state the gold
    assert ps[0].id == want[0].meta["problem_id"]
    with pytest.raises(InputError):
        t.problems()


def test_derive_labels_takes_a_task():
    class Reversed:  # a task whose right answer is the gold digits reversed: "09" for 90
        name, step_oracle = "reversed", None

        def problems(self, n=None):
            return []

        def gold_answer(self, problem):
            return ARITH.gold_answer(problem)[::-1]

        def final_answer(self, steps):
            return ARITH.final_answer(steps)

        def verify(self, problem, answer):
            return answer == self.gold_answer(problem)

    class Never:
        def __call__(self, requests):
            return [Outcome([False] * r.k) for r in requests]

    rec = Record(id="a", problem=PROBLEM, steps=["23 + 7 = 30", "30 * 3 = 90", "answer = 90"],
                 labels=[None] * 3, first_error=None)
    # default (arith): the answered prefix succeeds; rollouts from shorter prefixes all fail
    out, s = derive_labels([rec], "mc-soft", Never(), k=2, threshold=0.5)
    assert out[0].meta["rollout_labels"]["soft_scores"] == [0.0, 0.0, 1.0]
    assert s["terminal_prefixes"] == 1
    out, _ = derive_labels([rec], "mc-soft", Never(), k=2, threshold=0.5, task=Reversed())
    assert out[0].meta["rollout_labels"]["soft_scores"] == [0.0, 0.0, 0.0]
    with pytest.raises(InputError, match="not an arith problem"):  # terminal: gold needed
        derive_labels([Record(id="b", problem="2+2?", steps=["answer = 4"], labels=[None],
                              first_error=None)], "mc-hard", Never(), k=1)


# ---- real math -------------------------------------------------------------------------------

def test_last_boxed_and_final_answer():
    assert last_boxed(r"\boxed{1} then \boxed{\frac{a}{b}}") == r"\frac{a}{b}"
    assert last_boxed(r"\fbox{2}") == "2" and last_boxed(r"\boxed{3} \boxed{unclosed") == "3"
    t = MathTask([TaskProblem("p", "q", "7")])
    assert t.final_answer(["So x = 3.", r"The answer is $\boxed{7}$."]) == "7"
    assert t.final_answer(["work", "#### 1,000"]) == "1,000"
    assert t.final_answer(["no answer here"]) is None and t.final_answer([]) is None


@needs_math_verify
@pytest.mark.parametrize("answer, gold, same", [
    ("\\frac{1}{2}", "0.5", True),
    ("0.5", "\\frac{1}{2}", True),
    ("1,000", "1000", True),
    ("1000", "1,000", True),
    ("\\dfrac{3}{4}", "0.75", True),
    ("18", "18", True),
    ("17", "18", False),
    ("\\frac{1}{3}", "0.33", False),
    ("1,5", "15", False),
    ("", "18", False),
])
def test_math_task_verify_hand_written_cases(answer, gold, same):
    t = MathTask([TaskProblem("p", "the problem", gold)])
    assert t.verify("the problem", answer) is same
    assert is_solved(t, "the problem", [f"work \\boxed{{{answer}}}"]) is (same and bool(answer))


@needs_math_verify
def test_math_task_unknown_problem_and_duplicates():
    t = MathTask([TaskProblem("p", "known", "2"), TaskProblem("q", "known", "2")])
    with pytest.raises(InputError, match="no gold answer"):
        t.verify("unknown", "2")
    with pytest.raises(InputError, match="different gold"):
        MathTask([TaskProblem("p", "known", "2"), TaskProblem("q", "known", "3")])


def test_math_task_reads_both_field_layouts(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [
        {"question": "Eggs?", "answer": "16 - 3 = <<16-3=13>>13\n#### 1,300"},
        {"problem": "Half?", "answer": "\\frac12", "unique_id": "test/x/1.json"},
        {"problem": "Int?", "answer": 4},
    ]) + "\n")
    t = load_task(f)
    assert isinstance(t, MathTask) and t.name == tmp_path.name
    ps = t.problems()
    assert [(p.id, p.gold) for p in ps] == [("mixed-0", "1,300"), ("test/x/1.json", "\\frac12"),
                                            ("mixed-2", "4")]
    assert t.problems(1) == ps[:1] and t.gold_answer("Half?") == "\\frac12"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"problem": "no gold"}) + "\n")
    with pytest.raises(InputError, match="no gold answer"):
        load_task(bad)
    with pytest.raises(InputError):
        load_task(tmp_path / "missing.jsonl")
    assert load_task("arith") is ARITH


@needs_math_verify
def test_math_task_on_shared_gsm8k_and_math500(shared_data):
    gsm = MathTask.from_jsonl(shared_data / "gsm8k" / "test.jsonl")
    rows = [json.loads(x) for x in (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()]
    ps = gsm.problems()
    assert len(ps) == len(rows) == 1319 and gsm.name == "gsm8k"
    assert ps[0].gold == "18" and all("####" not in p.gold for p in ps)
    # the worked solution (after stripping its calculator notes) reaches its own gold answer
    for p, row in list(zip(ps, rows))[:20]:
        steps = row["answer"].split("\n")
        assert is_solved(gsm, p.problem, steps)
        assert not gsm.verify(p.problem, str(int(float(p.gold.replace(",", ""))) + 1))
    m5 = MathTask.from_jsonl(shared_data / "math500" / "test.jsonl")
    mp = m5.problems()
    assert len(mp) == 500 and mp[0].id.startswith("test/")
    rows = [json.loads(x) for x in (shared_data / "math500" / "test.jsonl").read_text().splitlines()]
    # the reference solutions end in \boxed{answer}: each reaches its gold
    hits = sum(is_solved(m5, r["problem"], [r["solution"]]) for r in rows[:40])
    assert hits >= 38
