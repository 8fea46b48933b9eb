"""The arith domain: the oracle, the injector, the teacher, determinism."""

import hashlib
import random

import pytest
from hypothesis import given, settings, strategies as st

from prmlab.data.arith.generate import iter_records, relabel
from prmlab.data.arith.oracle import assign_steps, equivalents, judge_steps, step_error
from prmlab.data.arith.problems import Difficulty, parse_problem, render_problem, sample_problem
from prmlab.data.arith.solutions import ERROR_TYPES, gold_steps, inject
from prmlab.data.arith.teacher import check, verdict_from_text

P = parse_problem("ann has 23 coins. eve has 5 coins. bob has 7 more coins than ann. "
                  "cal has 3 times as many coins as bob. dee has as many coins as cal and ann together. "
                  "how many coins does dee have?")

difficulties = st.builds(Difficulty, min_steps=st.integers(1, 3), max_steps=st.integers(3, 6),
                         digits=st.integers(1, 3), ops=st.sampled_from(["+-*", "+-", "+-*/", "*"]),
                         distractors=st.integers(0, 2))


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 10**9), d=difficulties)
def test_gold_solutions_are_all_correct(seed, d):
    p = sample_problem(random.Random(seed), d)
    assert parse_problem(p.text) == p  # the text alone carries the graph
    j = judge_steps(p, gold_steps(p))
    assert j.first_error == -1 and all(j.labels) and j.answer_correct


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10**9), d=difficulties, etype=st.sampled_from(ERROR_TYPES))
def test_injected_error_is_found_where_it_was_put_unless_harmless(seed, d, etype):
    rng = random.Random(seed)
    p = sample_problem(rng, d)
    steps, at = inject(p, etype, rng)
    j = judge_steps(p, steps)
    assert all(j.labels[:at]), "steps before the injected one must stay correct"
    if j.first_error != at:
        # harmless: the oracle finds the injected step valid on its own (e.g. it happens to
        # compute another quantity of the problem); a later step may still go wrong
        assert j.first_error == -1 or j.first_error > at, (steps, at, j)
        computed = set()
        for s, q in zip(steps[:at], assign_steps(p, steps[:at])):
            if q is not None:
                computed |= set(equivalents(p, q))  # a step computes every quantity equal to it by definition
        assert step_error(p, steps[at], computed) is None, (steps, at, j)
    else:
        assert j.labels == [1] * at + [0] * (len(steps) - at)


def test_oracle_reasons_by_hand():
    ok = ["23 + 7 = 30", "30 * 3 = 90", "90 + 23 = 113", "answer = 113"]
    assert judge_steps(P, ok).labels == [1, 1, 1, 1]
    cases = {
        ("23 + 7 = 31",): "arithmetic",
        ("23 - 7 = 16",): "wrong operation",
        ("5 + 7 = 12",): "wrong operand",  # right arithmetic on the wrong quantity
        ("30 * 3 = 90",): "operand not computed yet",  # skipped step
        ("bob is thirty",): "unparseable",
        ("answer = 113",): "answer before target",
    }
    for steps, reason in cases.items():
        j = judge_steps(P, list(steps))
        assert (j.first_error, j.reason) == (0, reason)
    # commutative swap is fine; right answer after a wrong step is still a process error
    assert judge_steps(P, ["7 + 23 = 30"] + ok[1:]).labels == [1, 1, 1, 1]
    assert judge_steps(P, ok[:3] + ["1 + 1 = 2", "answer = 113"]).reason == "unknown quantity"
    assert judge_steps(P, ok[:3]).reason == "no answer"
    j = judge_steps(P, ["23 + 7 = 31", "31 * 3 = 93", "93 + 23 = 116", "answer = 113"])
    assert j.first_error == 0 and j.answer_correct
    j = judge_steps(P, ok[:3] + ["answer = 112"])
    assert (j.first_error, j.reason, j.answer_correct) == (3, "wrong final answer", False)
    j = judge_steps(P, ok + ["1 + 1 = 2"])
    assert j.reason == "step after the answer" and j.first_error == 4


def test_render_parse_round_trip():
    assert render_problem(P) == P.text
    with pytest.raises(ValueError):
        parse_problem("ann has 23 coins. how many pens does ann have?")


def test_teacher_agrees_with_oracle_through_the_first_error():
    n = 0
    for r in iter_records(400, 7):
        p = parse_problem(r.problem)
        last = len(r.steps) - 1 if r.first_error == -1 else r.first_error
        for i in range(last + 1):
            c = check(p, r.steps, i)
            assert c.ok == bool(r.labels[i]), (r.steps, i, c)
            assert verdict_from_text(c.text) == c.ok
            n += 1
    assert n > 1000


def test_teacher_errs_at_its_error_rate():
    rng = random.Random(0)
    steps = gold_steps(P)
    wrong = sum(not check(P, steps, i % 4, rng=rng, error_rate=0.3).ok for i in range(2000))
    assert 0.15 < wrong / 2000 < 0.35


def test_generation_is_deterministic_and_relabels_cleanly():
    a = [r.to_dict() for r in iter_records(300, 5)]
    b = [r.to_dict() for r in iter_records(300, 5)]
    assert a == b
    assert a != [r.to_dict() for r in iter_records(300, 6)]
    for r in iter_records(300, 5):
        new = relabel(r)
        assert (new.labels, new.first_error, new.answer_correct) == (r.labels, r.first_error, r.answer_correct)
    types = {r.meta["error_type"] for r in iter_records(300, 5)}
    assert types == set(ERROR_TYPES) | {None}
    rawp = sum(r.answer_correct and r.first_error != -1 for r in iter_records(300, 5))
    assert rawp > 0  # right answer, wrong process


def test_cli_generate_twice_is_byte_identical_and_check_agrees(tmp_path, run_cli):
    f1, f2 = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for f in (f1, f2):
        code, _, err = run_cli("data", "generate", "--n", "200", "--seed", "3", "--out", f)
        assert code in (0, None), err
    assert hashlib.sha256(f1.read_bytes()).digest() == hashlib.sha256(f2.read_bytes()).digest()
    code, _, err = run_cli("data", "check", f1)
    assert code in (0, None) and "0 disagreements" in err
    # flip one label: check must report it and exit 1
    lines = f1.read_text().splitlines()
    import json
    k = next(i for i, line in enumerate(lines) if json.loads(line)["first_error"] > 0)
    rec = json.loads(lines[k])
    rec["labels"] = [1] * len(rec["steps"])
    rec["first_error"] = -1
    lines[k] = json.dumps(rec)
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n")
    code, _, err = run_cli("data", "check", tmp_path / "c.jsonl")
    assert code == 1 and "1 disagreements" in err and f":{k + 1} " in err


def test_cli_generate_rejects_bad_knobs(tmp_path, run_cli):
    out = tmp_path / "x.jsonl"
    code, _, err = run_cli("data", "generate", "--n", "5", "--out", out, "--error-types", "typo")
    assert code == 2 and "unknown error type" in err and not out.exists()
    code, _, err = run_cli("data", "generate", "--n", "5", "--out", out, "--ops", "+^")
    assert code == 2 and not out.exists()
