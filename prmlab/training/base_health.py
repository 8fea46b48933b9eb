"""Warnings a base's probes raise: what will cap every judge built on it.

Kept apart from `base.py` so that a report can read them without importing torch.
"""

from __future__ import annotations

from typing import Any

# Below this share of arithmetic slips flagged, a base's checks almost never say "bad" for a
# slip: bases measured so far sat at 0.86-0.98 or at 0.03-0.09, with two at ~0.5 (dev/LOG.md).
SLIP_BAR = 0.8


def base_warnings(rep: dict[str, Any]) -> list[str]:
    """What a base's probes say will cap every judge built on it; empty when nothing does.

    >>> base_warnings({"slip_flagged": 0.96})
    []
    >>> base_warnings({"slip_flagged": 0.033})[0][:58]
    'the base flags 3% of its checks of arithmetic slips as bad'
    """
    v = rep.get("slip_flagged")
    if v is None or v >= SLIP_BAR:
        return []
    return [f"the base flags {v:.0%} of its checks of arithmetic slips as bad (bar {SLIP_BAR:.0%}): "
            "it marks different numbers as equal, and every judge fine-tuned from it starts there. "
            "Whether a base learns this comparison is a lottery of its seed at this size "
            "(dev/LOG.md, 2026-11-27); another base.seed is another draw."]
