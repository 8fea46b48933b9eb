"""`arith` word problems: a gold computation graph rendered as text, and parsed back from text.

A problem is a list of quantities. Given ones carry a number; derived ones are one operation
on earlier quantities and small constants. The text is the source of truth: `parse_problem`
recovers the graph from it, so the oracle can label any record without side information.

>>> p = parse_problem("ann has 23 coins. bob has 7 more coins than ann. "
...                   "cal has 3 times as many coins as bob. how many coins does cal have?")
>>> [(q.name, q.op, q.args, q.value) for q in p.quantities]
[('ann', None, (), 23), ('bob', '+', ('ann', 7), 30), ('cal', '*', ('bob', 3), 90)]
>>> p.target
'cal'
>>> render_problem(p) == p.text
True
"""

from __future__ import annotations

import dataclasses
import functools
import random
import re
from typing import Union

from prmlab.errors import InputError

NAMES = ("ann", "bob", "cal", "dee", "eve", "fay", "gus", "hal", "ivy", "jon", "kim", "lee",
         "max", "ned", "oli", "pam", "ray", "sam", "tom", "una", "vic", "wes", "yan", "zoe")
ITEMS = ("coins", "apples", "pens", "cards", "eggs", "books", "stamps", "shells")

Arg = Union[str, int]  # a quantity name or a constant


@dataclasses.dataclass(frozen=True)
class Quantity:
    name: str
    op: str | None  # None for a given quantity; one of + - * / otherwise
    args: tuple[Arg, ...]  # (left, right): names or constants
    value: int


@dataclasses.dataclass(frozen=True)
class Problem:
    item: str
    quantities: tuple[Quantity, ...]  # in text order, which is topological
    target: str
    text: str

    def by_name(self) -> dict[str, Quantity]:
        return self._by_name

    @functools.cached_property
    def _by_name(self) -> dict[str, Quantity]:
        return {q.name: q for q in self.quantities}

    def needed(self) -> list[Quantity]:
        """Derived quantities the target depends on, in text (topological) order."""
        qs = self.by_name()
        need: set[str] = set()
        stack = [self.target]
        while stack:
            n = stack.pop()
            if n in need:
                continue
            need.add(n)
            stack.extend(a for a in qs[n].args if isinstance(a, str))
        return [q for q in self.quantities if q.name in need and q.op is not None]


def apply_op(op: str, a: int, b: int) -> int | None:
    """Exact integer arithmetic; None when `/` is not exact.

    >>> apply_op("-", 3, 5), apply_op("/", 12, 4), apply_op("/", 7, 2)
    (-2, 3, None)
    """
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a // b if b != 0 and a % b == 0 else None
    raise ValueError(f"unknown op {op!r}")


# One sentence template per (op, kind of right argument). Group names are fixed: a = result,
# b = left argument, k = constant right argument, c = quantity right argument.
_TEMPLATES = {
    ("given", None): "{a} has {k} {item}.",
    ("+", int): "{a} has {k} more {item} than {b}.",
    ("-", int): "{a} has {k} fewer {item} than {b}.",
    ("*", int): "{a} has {k} times as many {item} as {b}.",
    ("/", int): "{a} has {b}'s {item} shared {k} ways.",
    ("+", str): "{a} has as many {item} as {b} and {c} together.",
    ("-", str): "{a} has as many {item} as {b} has more than {c}.",
    ("*", str): "{a} has {b} times {c} {item}.",
}
_QUESTION = "how many {item} does {a} have?"


def _sentence_regex(tpl: str) -> re.Pattern:
    pat = re.escape(tpl)
    for key, sub in (("a", r"(?P<a>[a-z]+)"), ("b", r"(?P<b>[a-z]+)"), ("c", r"(?P<c>[a-z]+)"),
                     ("k", r"(?P<k>\d+)"), ("item", r"(?P<item>[a-z]+)")):
        pat = pat.replace(re.escape("{" + key + "}"), sub)
    return re.compile("^" + pat + "$")


_PARSERS = [(key, _sentence_regex(tpl)) for key, tpl in _TEMPLATES.items()]
_QUESTION_RE = _sentence_regex(_QUESTION)


def render_sentence(q: Quantity, item: str) -> str:
    if q.op is None:
        return _TEMPLATES[("given", None)].format(a=q.name, k=q.value, item=item)
    left, right = q.args
    kind = int if isinstance(right, int) else str
    return _TEMPLATES[(q.op, kind)].format(a=q.name, b=left, c=right, k=right, item=item)


def render_problem(p: Problem) -> str:
    parts = [render_sentence(q, p.item) for q in p.quantities]
    parts.append(_QUESTION.format(item=p.item, a=p.target))
    return " ".join(parts)


def _split_sentences(text: str) -> list[str]:
    return [s.strip() for s in re.findall(r"[^.?]+[.?]", text)]


def parse_problem(text: str) -> Problem:
    """The gold graph of an `arith` problem text; ValueError when it is not one."""
    sentences = _split_sentences(text)
    if not sentences or "".join(sentences).replace(" ", "") != text.replace(" ", ""):
        raise ValueError("not an arith problem: text does not split into sentences")
    *facts, question = sentences
    m = _QUESTION_RE.match(question)
    if not m:
        raise ValueError(f"not an arith problem: no question at the end ({question!r})")
    item, target = m["item"], m["a"]
    quantities: list[Quantity] = []
    values: dict[str, int] = {}
    for s in facts:
        for (op, kind), rx in _PARSERS:
            m = rx.match(s)
            if m:
                break
        else:
            raise ValueError(f"not an arith sentence: {s!r}")
        if m["item"] != item:
            raise ValueError(f"sentence about {m['item']!r} in a problem about {item!r}: {s!r}")
        name = m["a"]
        if name in values:
            raise ValueError(f"{name!r} is defined twice")
        if op == "given":
            q = Quantity(name, None, (), int(m["k"]))
        else:
            left = m["b"]
            right: Arg = int(m["k"]) if kind is int else m["c"]
            for ref in (left, right):
                if isinstance(ref, str) and ref not in values:
                    raise ValueError(f"{name!r} refers to {ref!r} before it is defined")
            rv = right if isinstance(right, int) else values[right]
            v = apply_op(op, values[left], rv)
            if v is None:
                raise ValueError(f"{s!r}: division is not exact")
            q = Quantity(name, op, (left, right), v)
        values[name] = q.value
        quantities.append(q)
    if target not in values:
        raise ValueError(f"the question asks about {target!r}, which is not defined")
    return Problem(item=item, quantities=tuple(quantities), target=target, text=text)


@dataclasses.dataclass(frozen=True)
class Difficulty:
    """Knobs of the domain. The defaults are the ones a ~1M model learns to compute in minutes."""

    min_steps: int = 2
    max_steps: int = 4
    digits: int = 2  # constants and given numbers have at most this many digits
    max_value: int = 999  # every quantity stays in [0, max_value]
    ops: str = "+-*"  # add "/" for exact division
    distractors: int = 1  # extra facts the answer does not need (0..distractors per problem)

    def __post_init__(self):
        if not 1 <= self.min_steps <= self.max_steps <= 8:
            raise InputError(f"steps must satisfy 1 <= min <= max <= 8, got {self.min_steps}-{self.max_steps}")
        if not 1 <= self.digits <= 4:
            raise InputError(f"digits must be 1..4, got {self.digits}")
        if not self.ops or set(self.ops) - set("+-*/"):
            raise InputError(f"ops must be a non-empty subset of '+-*/', got {self.ops!r}")
        if self.max_value < 10 ** self.digits - 1:
            raise InputError(f"max_value {self.max_value} is below the largest {self.digits}-digit number")
        if not 0 <= self.distractors <= 4:
            raise InputError(f"distractors must be 0..4, got {self.distractors}")


def _constant(rng: random.Random, d: Difficulty, lo: int = 1) -> int:
    return rng.randint(lo, 10 ** rng.randint(1, d.digits) - 1)


def _derive(rng: random.Random, d: Difficulty, name: str, left: Quantity,
            pool: list[Quantity]) -> Quantity | None:
    """One derived quantity whose left argument is `left`; None when the draw breaks a bound."""
    op = rng.choice(d.ops)
    use_quantity = op in "+-" and len(pool) > 1 and rng.random() < 0.35
    if use_quantity:
        other = rng.choice([q for q in pool if q.name != left.name])
        right: Arg = other.name
        rv = other.value
    elif op == "*":
        right = rv = rng.randint(2, 9)  # multiply by one digit: the base model computes it
    elif op == "/":
        divisors = [k for k in range(2, 10) if left.value % k == 0 and left.value > 0]
        if not divisors:
            return None
        right = rv = rng.choice(divisors)
    else:
        right = rv = _constant(rng, d)
    v = apply_op(op, left.value, rv)
    if v is None or not 0 <= v <= d.max_value:
        return None
    return Quantity(name, op, (left.name, right), v)


def sample_problem(rng: random.Random, d: Difficulty) -> Problem:
    """A random problem: a chain of derived quantities ending in the target, plus distractors."""
    for _ in range(1000):
        names = rng.sample(NAMES, 14)
        item = rng.choice(ITEMS)
        n_steps = rng.randint(d.min_steps, d.max_steps)
        givens = [Quantity(names.pop(), None, (), _constant(rng, d)) for _ in range(rng.randint(1, 2))]
        chain: list[Quantity] = []
        left = givens[0]
        ok = True
        for _ in range(n_steps):
            q = None
            for _ in range(20):
                q = _derive(rng, d, names[-1], left, givens + chain)
                if q is not None:
                    break
            if q is None:
                ok = False
                break
            names.pop()
            chain.append(q)
            left = q
        if not ok:
            continue
        # A second given that nothing uses would be a distractor we did not ask for.
        used = {a for q in chain for a in q.args if isinstance(a, str)}
        givens = [g for g in givens if g.name in used]
        quantities = givens + chain
        for _ in range(rng.randint(0, d.distractors)):
            if rng.random() < 0.5 or len(quantities) < 2:
                extra = Quantity(names.pop(), None, (), _constant(rng, d))
                quantities.insert(rng.randint(0, len(givens)), extra)
            else:
                pos = rng.randint(1, len(quantities))
                extra = _derive(rng, d, names[-1], rng.choice(quantities[:pos]), quantities[:pos])
                if extra is None:
                    continue
                names.pop()
                quantities.insert(pos, extra)
        p = Problem(item=item, quantities=tuple(quantities), target=chain[-1].name, text="")
        return dataclasses.replace(p, text=render_problem(p))
    raise RuntimeError("could not sample a problem within the bounds; loosen the difficulty")
