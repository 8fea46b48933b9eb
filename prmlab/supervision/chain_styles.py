r"""Teacher prompt templates and their parsers: how a teacher LLM is asked for a verification
chain of a labelled solution, and how its answer is read back (ThinkPRM, arXiv:2504.16828).

A style is a prompt (chat messages: the problem, the numbered steps and the instruction) and a
parser of the teacher's text into per-step (critique, verdict) pairs. The chain is read in
order `Step 1:`, `Step 2:`, ...; each step's segment (up to the next `Step k+1:`) must hold
exactly one verdict phrase; the critique is the text before it. Reading stops at the first
`incorrect` verdict (a chain runs through the first error) or at the first segment that does
not parse, and says why it stopped (`ParsedChain.problem`); what came before is kept, so the
filter can tell "wrong verdict at step k" from "stopped before step k".

Styles (`STYLES`):

* `plain`: "Step k: <critique> The step is correct." / "... The step is incorrect." with one
  worked example in the prompt (a small instruct model copies the layout from it);
* `thinkprm`: ThinkPRM's own layout, the verdict boxed: "Step k: <critique> The step is
  \boxed{correct}" (its prompt: "Review and critique each step in the proposed solution to
  determine whether each step is correct"), no example.

Nothing here runs a model; `prmlab.supervision.chain_synth` sends the messages through a
completion callable and `prmlab.supervision.chain_filter` compares the verdicts with gold.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Sequence

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}

_STEP = re.compile(r"(?im)^[ \t>*#_-]*step[ \t]*(\d+)[ \t]*[:.)]")


@dataclasses.dataclass(frozen=True)
class ParsedChain:
    """Per-step critiques and verdicts read from a teacher's text, in step order from step 1."""

    critiques: tuple[str, ...]
    verdicts: tuple[bool, ...]
    problem: str | None = None  # why reading stopped early (None: stopped at a verdict or the end)


def _parse(text: str, verdict: re.Pattern) -> ParsedChain:
    critiques: list[str] = []
    verdicts: list[bool] = []
    marks = list(_STEP.finditer(text))
    if not marks:
        return ParsedChain((), (), "no 'Step 1:' in the text")
    for i, m in enumerate(marks):
        k = len(critiques) + 1
        if int(m[1]) != k:
            return ParsedChain(tuple(critiques), tuple(verdicts),
                               f"expected 'Step {k}:', found 'Step {int(m[1])}:'")
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        segment = text[m.end():end]
        found = list(verdict.finditer(segment))
        if len(found) != 1:
            what = "no verdict" if not found else f"{len(found)} verdicts"
            return ParsedChain(tuple(critiques), tuple(verdicts), f"step {k} has {what}")
        critiques.append(" ".join(segment[:found[0].start()].split()))
        ok = found[0]["v"].lower() == "correct"
        verdicts.append(ok)
        if not ok:
            break
    return ParsedChain(tuple(critiques), tuple(verdicts))


_PLAIN_VERDICT = re.compile(r"the step is (?P<v>correct|incorrect)\b", re.I)
_BOXED_VERDICT = re.compile(r"the step is \\boxed\{\s*(?P<v>correct|incorrect)\s*\}", re.I)


def parse_plain(text: str) -> ParsedChain:
    """The `plain` layout.

    >>> parse_plain("Step 1: 2 + 3 = 5. The step is correct.\\nStep 2: 5 * 2 is 10, not 12. "
    ...             "The step is incorrect.\\nStep 3: fine. The step is correct.")
    ParsedChain(critiques=('2 + 3 = 5.', '5 * 2 is 10, not 12.'), verdicts=(True, False), problem=None)
    >>> parse_plain("Step 1: ok. The step is correct. Step 2: hmm")  # one line, no step 2 mark
    ParsedChain(critiques=('ok.',), verdicts=(True,), problem=None)
    >>> parse_plain("Step 1: ok. The step is correct.\\nStep 3: skipped a number.").problem
    "expected 'Step 2:', found 'Step 3:'"
    >>> parse_plain("Step 1: I think so.\\n").problem
    'step 1 has no verdict'
    >>> parse_plain("The step is correct.").problem
    "no 'Step 1:' in the text"
    >>> parse_plain("**Step 1:** x. The step is Correct. The step is incorrect.").problem
    'step 1 has 2 verdicts'
    """
    return _parse(text, _PLAIN_VERDICT)


def parse_thinkprm(text: str) -> ParsedChain:
    r"""ThinkPRM's boxed layout.

    >>> parse_thinkprm("Let's verify step by step:\nStep 1: 3 apples. The step is \\boxed{correct}\n"
    ...                "Step 2: 3 - 1 = 4 is wrong. The step is \\boxed{incorrect}")
    ParsedChain(critiques=('3 apples.', '3 - 1 = 4 is wrong.'), verdicts=(True, False), problem=None)
    >>> parse_thinkprm("Step 1: fine. The step is correct.").problem  # not boxed
    'step 1 has no verdict'
    """
    return _parse(text, _BOXED_VERDICT)


def numbered_steps(steps: Sequence[str]) -> str:
    """The solution's steps as the prompt shows them.

    >>> print(numbered_steps(["a", "b"]))
    Step 1: a
    Step 2: b
    """
    return "\n".join(f"Step {i + 1}: {' '.join(s.split())}" for i, s in enumerate(steps))


_PLAIN_EXAMPLE_PROBLEM = "Tom has 3 bags with 4 apples each. He eats 2 apples. How many are left?"
_PLAIN_EXAMPLE_STEPS = ["3 bags with 4 apples each is 3 * 4 = 12 apples.",
                        "After eating 2 he has 12 - 2 = 11 apples.", "The answer is 11."]
_PLAIN_EXAMPLE_CHAIN = ("Step 1: 3 * 4 = 12, so there are 12 apples. The step is correct.\n"
                        "Step 2: 12 - 2 = 10, not 11. The step is incorrect.")


def _plain_user(problem: str, steps: Sequence[str]) -> str:
    return ("Check each step of the solution in order. For each step write 'Step k:', a short "
            "check of the step, then 'The step is correct.' or 'The step is incorrect.'. Stop "
            "after the first incorrect step.\n\n"
            f"Problem: {' '.join(problem.split())}\n\nSolution:\n{numbered_steps(steps)}")


def plain_messages(problem: str, steps: Sequence[str]) -> list[Message]:
    """The `plain` prompt: one worked example as a previous turn, then the solution to check.

    >>> m = plain_messages("1 + 1?", ["1 + 1 = 2."])
    >>> [x["role"] for x in m]
    ['user', 'assistant', 'user']
    >>> print(m[2]["content"].split("\\n\\n", 1)[1])
    Problem: 1 + 1?
    <BLANKLINE>
    Solution:
    Step 1: 1 + 1 = 2.
    """
    return [{"role": "user", "content": _plain_user(_PLAIN_EXAMPLE_PROBLEM, _PLAIN_EXAMPLE_STEPS)},
            {"role": "assistant", "content": _PLAIN_EXAMPLE_CHAIN},
            {"role": "user", "content": _plain_user(problem, steps)}]


def thinkprm_messages(problem: str, steps: Sequence[str]) -> list[Message]:
    """ThinkPRM's verification prompt, one user message."""
    return [{"role": "user", "content": (
        "You are given a math problem and a proposed step-by-step solution:\n\n"
        f"[Math Problem]\n\n{' '.join(problem.split())}\n\n[Solution]\n\n{numbered_steps(steps)}\n\n"
        "Review and critique each step in the proposed solution to determine whether each step "
        "is correct. For each step write 'Step k:', your critique, then 'The step is "
        "\\boxed{correct}' or 'The step is \\boxed{incorrect}'. Stop at the first incorrect step.")}]


@dataclasses.dataclass(frozen=True)
class ChainStyle:
    name: str
    messages: Callable[[str, Sequence[str]], list[Message]]
    parse: Callable[[str], ParsedChain]
    description: str


STYLES: dict[str, ChainStyle] = {s.name: s for s in (
    ChainStyle("plain", plain_messages, parse_plain,
               "'Step k: ... The step is correct/incorrect.', one worked example in the prompt"),
    ChainStyle("thinkprm", thinkprm_messages, parse_thinkprm,
               "ThinkPRM's prompt, verdicts as 'The step is \\boxed{correct}', no example"),
)}

__all__ = ["ChainStyle", "Message", "ParsedChain", "STYLES", "numbered_steps", "parse_plain",
           "parse_thinkprm", "plain_messages", "thinkprm_messages"]
