r"""Real math word problems (GSM8K, MATH500, ...): gold answers from a file, checked by
math-verify (`prmlab.data.answers`); no step oracle.

Reading problems (`MathTask.from_jsonl`, one JSON object per line; `.json` holding a list works
too): the problem text is the `problem` field, else `question`; the gold answer is the
`answer` field, and when that field is a worked solution ending in `#### value` (GSM8K) the
gold is the text after the last `####`; the id is `unique_id`, else `id`, else
`"{file stem}-{line index}"`. Records are kept as they are; nothing is normalised by hand.

Final answer of a solution (`final_answer`): the content of the LAST `\boxed{...}` (braces
balanced) in its steps, else the text after a last `####`; None when there is neither (then
the solution states no answer yet). `verify(problem, answer)` is
`answers_equivalent(answer, gold)`: math-verify parses both sides and compares them
symbolically, so "\frac{1}{2}" equals "0.5" and "1,000" equals "1000".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from prmlab.data.answers import answers_equivalent
from prmlab.data.tasks.protocol import StepOracle, TaskProblem
from prmlab.errors import InputError

_BOX = ("\\boxed{", "\\fbox{")


def last_boxed(text: str) -> str | None:
    r"""The content of the last `\boxed{...}` (or `\fbox{...}`), braces balanced; None if none.

    >>> last_boxed(r"so \boxed{\frac{1}{2}} or rather \boxed{3}"), last_boxed("no box")
    ('3', None)
    >>> last_boxed(r"\boxed{\frac{1}{2}}"), last_boxed(r"\boxed{open")
    ('\\frac{1}{2}', None)
    """
    start = max(text.rfind(b) for b in _BOX)
    while start != -1:
        i = text.index("{", start) + 1
        depth, j = 1, i
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        if depth == 0:
            return text[i: j - 1]
        start = max(text.rfind(b, 0, start) for b in _BOX)  # unclosed: try an earlier box
    return None


def gold_from_answer_field(answer: str) -> str:
    """GSM8K's worked `answer` ends in `#### value`: the value; any other answer as it is.

    >>> gold_from_answer_field("3 + 4 = <<3+4=7>>7 eggs.\\n#### 7"), gold_from_answer_field("\\\\frac12")
    ('7', '\\\\frac12')
    """
    return answer.rsplit("####", 1)[1].strip() if "####" in answer else answer.strip()


class MathTask:
    """Problems with gold answers, checked by math-verify. Build it with `from_jsonl` or from
    `TaskProblem`s; a problem text must appear once (or always with the same gold)."""

    step_oracle: StepOracle | None = None

    def __init__(self, problems: Iterable[TaskProblem], *, name: str = "math"):
        self.name = name
        self._problems = list(problems)
        self._gold: dict[str, str] = {}
        for p in self._problems:
            if self._gold.setdefault(p.problem, p.gold) != p.gold:
                raise InputError(f"problem {p.id!r} appears twice with different gold answers")

    def __repr__(self) -> str:
        return f"MathTask(name={self.name!r}, {len(self._problems)} problems)"

    @classmethod
    def from_jsonl(cls, path: str | Path, *, name: str | None = None) -> MathTask:
        path = Path(path)
        try:
            text = path.read_text("utf-8")
        except OSError as e:
            raise InputError(f"cannot read the problems: {e.strerror}", path=str(path)) from None
        if path.suffix == ".json":
            rows = json.loads(text)
            if not isinstance(rows, list):
                raise InputError("a .json problem file must hold a list of objects", path=str(path))
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        return cls((_problem(row, i, path) for i, row in enumerate(rows)),
                   name=name or path.parent.name or "math")

    def problems(self, n: int | None = None) -> list[TaskProblem]:
        return list(self._problems if n is None else self._problems[:n])

    def gold_answer(self, problem: str) -> str:
        try:
            return self._gold[problem]
        except KeyError:
            raise InputError(f"task {self.name!r} has no gold answer for this problem: "
                             f"{problem[:60]!r}") from None

    def final_answer(self, steps: Sequence[str]) -> str | None:
        text = "\n".join(steps)
        boxed = last_boxed(text)
        if boxed is not None:
            return boxed.strip()
        if "####" in text:
            return text.rsplit("####", 1)[1].strip() or None
        return None

    def verify(self, problem: str, answer: str) -> bool:
        return answers_equivalent(answer, self.gold_answer(problem))


def _problem(row: Any, i: int, path: Path) -> TaskProblem:
    where = {"path": str(path), "line": i + 1}
    if not isinstance(row, dict):
        raise InputError("a problem must be a JSON object", **where)
    text = row.get("problem", row.get("question"))
    if not isinstance(text, str) or not text.strip():
        raise InputError("no problem text (field problem or question)", **where)
    answer = row.get("answer")
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise InputError("no gold answer (field answer)", **where)
    rid = row.get("unique_id", row.get("id"))
    return TaskProblem(str(rid) if rid is not None else f"{path.stem}-{i}", text,
                       gold_from_answer_field(answer))
