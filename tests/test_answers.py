"""answers_equivalent on real answers: it agrees with a real best-of-N file's correctness flags."""

from __future__ import annotations

import json

import pytest

from prmlab.data.answers import answers_equivalent


@pytest.mark.parametrize("pred, gold, same", [
    ("\\frac{1}{2}", "0.5", True),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\frac{\\pi}{2})", True),
    ("10{,}000", "10000", True),
    ("\\$18", "18", True),
    ("\\{1, 2\\}", "\\{2,1\\}", True),
    ("x = 5", "5", True),
    ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("Solution ... so the answer is \\boxed{7}.", "7", True),
    ("6", "7", False),
    ("", "7", False),
    ("\\frac{1}{3}", "0.33", False),
])
def test_known_pairs(pred, gold, same):
    assert answers_equivalent(pred, gold) is same


def test_agrees_with_bon_flags(shared_data):
    rows = [json.loads(line) for line in
            (shared_data / "bon" / "math_cot_100.jsonl").read_text("utf-8").splitlines()]
    pairs = [(p, r["gt"], s) for r in rows for p, s in zip(r["pred"], r["score"])]
    agree = sum(answers_equivalent(p, g) == s for p, g, s in pairs)
    assert len(pairs) == 800 and agree / len(pairs) >= 0.99


def test_math500_answers_equal_themselves(shared_data):
    rows = [json.loads(line) for line in
            (shared_data / "math500" / "test.jsonl").read_text("utf-8").splitlines()][:100]
    assert all(answers_equivalent(r["answer"], r["answer"]) for r in rows)
