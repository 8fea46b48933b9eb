"""Tasks: problems, gold answers, the answer check, and (for step domains) the step oracle.

The protocol is in `protocol.py`; two implementations: `ArithTask` (the synthetic domain; exact
step oracle) and `MathTask` (real math problems from a file; math-verify; no step oracle).
`load_task("arith")` or `load_task(path_to_jsonl)` builds one from a spec.
"""

from __future__ import annotations

from pathlib import Path

from prmlab.data.tasks.arith import ARITH, ArithTask
from prmlab.data.tasks.protocol import StepJudgement, StepOracle, Task, TaskProblem, is_solved
from prmlab.data.tasks.real_math import MathTask
from prmlab.errors import InputError

__all__ = ["ARITH", "ArithTask", "MathTask", "StepJudgement", "StepOracle", "Task", "TaskProblem",
           "is_solved", "load_task"]


def load_task(spec: str | Path) -> Task:
    """"arith" (the default arith task), or a .jsonl/.json file of problems with gold answers."""
    if str(spec) == "arith":
        return ARITH
    path = Path(spec)
    if path.suffix in (".jsonl", ".json") and path.is_file():
        return MathTask.from_jsonl(path)
    raise InputError("a task is 'arith' or a .jsonl/.json file of problems with gold answers",
                     path=str(spec))
