"""Is a final answer right? Decided by `math-verify`, not by hand-written normalisation.

Real math answers ("\\frac{1}{2}", "0.5", "(3, \\frac{\\pi}{2})", "10{,}000") defeat string
comparison, and home-made normalisers are a classic source of silently wrong accuracy
numbers; math-verify parses both sides with sympy and compares them symbolically and
numerically. The one thing done here is to tell it where the math is: a bare answer with no
math delimiters ($...$, \\(...\\), \\[...\\], \\boxed{...}) is wrapped in $...$, so that LaTeX
such as "\\frac12" is parsed as LaTeX rather than as plain text. Text that already has
delimiters (a whole solution ending in \\boxed{...}) is passed as it is.

>>> answers_equivalent("\\\\frac12", "0.5")
True
>>> answers_equivalent("The answer is \\\\boxed{\\\\dfrac{3}{4}}.", "0.75")
True
>>> answers_equivalent("6", "7")
False
"""

from __future__ import annotations

import re
import threading

_DELIMITED = re.compile(r"(?<!\\)\$|\\\(|\\\[|\\boxed")


def _as_math(s: str) -> str:
    return s if _DELIMITED.search(s) else f"${s}$"


def answers_equivalent(pred: str, gold: str) -> bool:
    """True when math-verify judges `pred` to equal `gold` (gold is the reference side).

    An answer it cannot parse is not equivalent to anything (False, never an exception).
    """
    from math_verify import parse, verify  # heavy import (sympy); only when needed

    if not pred.strip() or not gold.strip():
        return False
    # math-verify times out with SIGALRM, which only the main thread may use.
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    gold_p = parse(_as_math(gold), parsing_timeout=timeout)
    pred_p = parse(_as_math(pred), parsing_timeout=timeout)
    if not gold_p or not pred_p:
        return False
    return bool(verify(gold_p, pred_p, timeout_seconds=timeout))
