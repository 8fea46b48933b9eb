"""What a claim is: a statement with its anchor, the experiments it needs, how its effect is
read from one replicate's cells, and its verdict rule. Each claim lives in its own module and is
registered in `registry.py`; nothing else dispatches on a claim's id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

from prmlab.claims.rules import Rule
from prmlab.claims.schema import Anchor, Input
from prmlab.claims.view import ReplicateView

Level = Literal["seed", "base"]


@dataclass(frozen=True)
class Experiment:
    """Run folders a claim reads: flagship folders (`kind="flagship"`: the size's preset with
    `sets` on top) or RL suite folders (`kind="rl"`: `experiments/rl_suite.py` at the size's
    `rl_size`, `sets` unused) or Tree-GRPO / PCL folders (`kind="tree"` / `"pcl"`:
    `experiments/policy_runs.py` at the size's `rl_size` on the base's policy, `sets` unused),
    one folder per (base, seed) (`level="seed"`; for RL the seed is
    the RL seed) or per base with the size's first seed (`level="base"`). Claims naming the same
    experiment share its folders.

    An RL experiment can take another suite size of the same settings, `<rl_size>-<rl_variant>`
    (`controls`: the control rewards on the full training set), restricted to `rewards` (empty:
    the size's own)."""

    name: str
    level: Level
    sets: tuple[str, ...]
    why: str
    kind: Literal["flagship", "rl", "tree", "pcl"] = "flagship"
    rl_variant: str = ""
    rewards: tuple[str, ...] = ()

    def folder(self, base: int, seed: int) -> str:
        return f"{self.name}-b{base}-s{seed}" if self.level == "seed" else f"{self.name}-b{base}"


FLAGSHIP = Experiment("flagship", "seed", (), "the flagship sweep exactly as the size's preset "
                      "defines it, one folder per base and judge seed")


@dataclass
class Measured:
    """The effect in one replicate, with the numbers it came from (None and a reason when it
    cannot be read)."""

    value: float | None
    detail: str = ""
    inputs: list[Input] = field(default_factory=list)
    reason: str | None = None


def undefined(reason: str, inputs: list[Input] | None = None) -> Measured:
    return Measured(None, inputs=list(inputs or []), reason=reason)


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    statement: str
    anchor: Anchor
    effect: str  # what the measured number is, in words
    unit: str
    level: Level  # "seed": one replicate per (base, judge seed); "base": one per base
    experiments: tuple[Experiment, ...]
    rule: Rule
    measure: Callable[[ReplicateView], Measured]
    notes: tuple[str, ...] = ()
