"""An effect over replicates (bases × judge seeds): mean, sample standard deviation and the
Student-t 95% confidence interval of the mean.

The t interval, not a bootstrap over replicates: with the two to nine replicates a suite has, a
percentile bootstrap over them is far too narrow, while t states the small-sample width. Fewer
than two defined values give no interval (a single replicate says nothing about a change of
seed or base).

>>> s = summarize([0.1, 0.2, 0.3])
>>> round(s.mean, 6), round(s.sd, 6), [round(x, 4) for x in s.ci]
(0.2, 0.1, [-0.0484, 0.4484])
>>> summarize([0.4]).ci is None
True
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence

from prmlab.claims.schema import EffectSummary

CONFIDENCE = 0.95
# Two-sided 95% quantiles t_{0.975, df} for df = 1..30 (standard tables).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
_Z975 = 1.959964


def t975(df: int) -> float:
    """t_{0.975, df}: the table up to 30, beyond it the Cornish-Fisher expansion around the
    normal quantile (error below 1e-4 there).

    >>> t975(2), t975(30), round(t975(120), 3)
    (4.303, 2.042, 1.98)
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def summarize(values: Sequence[float | None]) -> EffectSummary:
    """The summary of one effect's replicate values (None: undefined in that replicate)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    n_undef = len(values) - len(vals)
    if not vals:
        return EffectSummary(n=0, n_undefined=n_undef, mean=None, sd=None, ci=None)
    mean = math.fsum(vals) / len(vals)
    if len(vals) < 2:
        return EffectSummary(n=1, n_undefined=n_undef, mean=mean, sd=None, ci=None)
    sd = statistics.stdev(vals)
    half = t975(len(vals) - 1) * sd / math.sqrt(len(vals))
    return EffectSummary(n=len(vals), n_undefined=n_undef, mean=mean, sd=sd,
                         ci=[mean - half, mean + half])
