"""Verdict rules: an effect's summary over replicates -> supported / refuted / inconclusive.

Two shapes cover the claims so far, each with its threshold explicit:

- `AtLeast(size)`: the claim is a gain of at least `size`. Supported when the 95% CI lies above
  0 and the mean reaches `size`; refuted when the whole CI lies below `size`; inconclusive
  otherwise.
- `NoWorseThan(margin)`: the claim is a match (non-inferiority). Supported when the CI's lower
  bound is at least `-margin`; refuted when its upper bound is below `-margin`.

Both say inconclusive when any planned replicate is undefined or missing (a verdict never rests
on the replicates that happened to finish) and with fewer than two replicates (no interval).

>>> from prmlab.claims.schema import EffectSummary as E
>>> AtLeast(0.05).decide(E(n=3, n_undefined=0, mean=0.08, sd=0.01, ci=[0.055, 0.105]))[0]
'supported'
>>> NoWorseThan(0.05).decide(E(n=3, n_undefined=0, mean=-0.2, sd=0.02, ci=[-0.25, -0.15]))[0]
'refuted'
"""

from __future__ import annotations

from dataclasses import dataclass

from prmlab.claims.schema import EffectSummary, RuleSpec

MIN_REPLICATES = 2


def _precondition(s: EffectSummary) -> str | None:
    """Why no verdict can be read, or None."""
    if s.n_undefined:
        return (f"{s.n_undefined} of {s.n + s.n_undefined} planned replicate(s) undefined or "
                "not run; a verdict needs every one")
    if s.n < MIN_REPLICATES or s.ci is None or s.mean is None:
        return (f"{s.n} replicate(s): a CI over bases and seeds needs at least {MIN_REPLICATES}")
    return None


def _ci(s: EffectSummary) -> str:
    return f"[{s.ci[0]:+.3f}, {s.ci[1]:+.3f}]"


@dataclass(frozen=True)
class AtLeast:
    """A gain of at least `size` (in the effect's unit)."""

    size: float

    def spec(self) -> RuleSpec:
        return RuleSpec(kind="at-least", threshold=self.size, words=(
            f"supported if the 95% CI over replicates lies above 0 and the mean effect is at "
            f"least {self.size:+.3f}; refuted if the whole CI lies below {self.size:+.3f}; "
            f"inconclusive otherwise, with fewer than {MIN_REPLICATES} replicates, or with any "
            "replicate undefined"))

    def decide(self, s: EffectSummary) -> tuple[str, str]:
        why = _precondition(s)
        if why:
            return "inconclusive", why
        lo, hi = s.ci
        if lo > 0 and s.mean >= self.size:
            return "supported", (f"CI {_ci(s)} lies above 0 and the mean {s.mean:+.3f} reaches "
                                 f"{self.size:+.3f}")
        if hi < self.size:
            return "refuted", f"the whole CI {_ci(s)} lies below the claimed {self.size:+.3f}"
        return "inconclusive", (f"CI {_ci(s)} (mean {s.mean:+.3f}) neither lies above 0 with the "
                                f"mean at {self.size:+.3f} or more, nor below {self.size:+.3f}")


@dataclass(frozen=True)
class NoWorseThan:
    """A match: the effect (A − B) is no worse than `-margin`."""

    margin: float

    def spec(self) -> RuleSpec:
        return RuleSpec(kind="no-worse-than", threshold=-self.margin, words=(
            f"supported if the 95% CI over replicates lies at or above {-self.margin:+.3f} (no "
            f"worse than {self.margin:.3f}); refuted if the whole CI lies below "
            f"{-self.margin:+.3f}; inconclusive otherwise, with fewer than {MIN_REPLICATES} "
            "replicates, or with any replicate undefined"))

    def decide(self, s: EffectSummary) -> tuple[str, str]:
        why = _precondition(s)
        if why:
            return "inconclusive", why
        lo, hi = s.ci
        if lo >= -self.margin:
            return "supported", f"CI {_ci(s)} lies at or above {-self.margin:+.3f}"
        if hi < -self.margin:
            return "refuted", f"the whole CI {_ci(s)} lies below {-self.margin:+.3f}"
        return "inconclusive", f"CI {_ci(s)} straddles {-self.margin:+.3f}"


Rule = AtLeast | NoWorseThan
