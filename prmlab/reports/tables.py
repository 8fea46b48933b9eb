"""Tables for the report (rendered to Markdown and to HTML) and the "labels needed" arithmetic.

`labels_needed` finds the smallest label budget at which a judge reaches an F1 target, by
log-linear interpolation between the two adjacent budgets that bracket its first crossing:

>>> labels_needed([(16, 0.6), (64, 0.8), (256, 0.85)], 0.7)["text"]
'32'
>>> labels_needed([(16, 0.6), (64, 0.8)], 0.5)["text"], labels_needed([(16, 0.6), (64, 0.8)], 0.9)["text"]
('≤16', '>64')
>>> needed_ratio(labels_needed([(16, 0.3), (256, 0.7)], 0.7), labels_needed([(16, 0.6), (64, 0.8)], 0.7))["text"]
'8.0×'
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

ARROWS = {"higher": "↑", "lower": "↓"}


@dataclass(frozen=True)
class Link:
    text: str
    href: str


Cellv = Any  # str | Link | list of Link


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cellv]]
    notes: list[str] = field(default_factory=list)
    right: Sequence[int] = ()  # right-aligned column indexes


# ---- number formatting -------------------------------------------------------------------------

def fmt_num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}"


def fmt_int(v: Any) -> str:
    """An integer count; a mean over seeds that is not whole gets a '~'."""
    if v is None:
        return "—"
    v = float(v)
    return str(int(round(v))) if abs(v - round(v)) < 1e-9 else f"~{v:.0f}"


def fmt_ci(ci: Any, digits: int = 3) -> str:
    if not ci:
        return ""
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def fmt_metric(m: Mapping[str, Any] | None, digits: int = 3) -> str:
    """'0.712 [0.650, 0.770]', with ' sd 0.020' over several seeds; '—' when undefined."""
    if not m or m.get("value") is None:
        return "—"
    s = fmt_num(m["value"], digits)
    if m.get("ci"):
        s += " " + fmt_ci(m["ci"], digits)
    if m.get("sd") is not None:
        s += f" sd {m['sd']:.{digits}f}"
    if m.get("n_seeds") and m.get("n_defined") is not None and m["n_defined"] < m["n_seeds"]:
        s += f" ({m['n_defined']}/{m['n_seeds']} seeds)"
    return s


def arrow(direction: str | None) -> str:
    return ARROWS.get(direction or "", "")


def fmt_budget(v: float) -> str:
    """A budget in labelled solutions: whole numbers as such, interpolated ones as '≈45'."""
    if abs(v - round(v)) <= 1e-6 * max(1.0, abs(v)):
        return str(int(round(v)))
    return f"≈{v:.0f}" if v >= 10 else f"≈{v:.1f}"


def fmt_lr(v: Any) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


# ---- labels needed -----------------------------------------------------------------------------

def labels_needed(points: Sequence[tuple[float, float | None]], target: float) -> dict[str, Any]:
    """Smallest budget reaching `target`: {"kind", "value", "text", "min", "max"}.

    kind "exact": first crossing, log-linearly interpolated between the adjacent budgets
    (log N = log b0 + (target - f0) / (f1 - f0) * (log b1 - log b0)); "le_min": the smallest
    budget already reaches it ("≤min"); "gt_max": never reached (">max"); "none": no points.
    Points with an undefined F1 or a non-positive budget are skipped. F1 within 1e-9 of the
    target counts as reaching it.
    """
    pts = sorted((float(b), float(f)) for b, f in points if f is not None and b is not None
                 and b > 0 and math.isfinite(f))
    if not pts:
        return {"kind": "none", "value": None, "text": "—", "min": None, "max": None}
    lo, hi = pts[0][0], pts[-1][0]
    base = {"min": lo, "max": hi}
    target -= 1e-9  # an F1 equal to the target up to float rounding (0.7 + 0.1) reaches it
    if pts[0][1] >= target:
        return {**base, "kind": "le_min", "value": lo, "text": f"≤{fmt_budget(lo)}"}
    for (b0, f0), (b1, f1) in zip(pts, pts[1:]):
        if f1 >= target:  # first crossing: f0 < target <= f1
            frac = (target - f0) / (f1 - f0)
            v = math.exp(math.log(b0) + frac * (math.log(b1) - math.log(b0)))
            return {**base, "kind": "exact", "value": v, "text": fmt_budget(v)}
    return {**base, "kind": "gt_max", "value": hi, "text": f">{fmt_budget(hi)}"}


def needed_ratio(num: Mapping[str, Any], den: Mapping[str, Any]) -> dict[str, Any]:
    """num/den of two `labels_needed` results, as a bound where one of them is a bound."""
    kn, kd = num.get("kind"), den.get("kind")
    if kn == "none" or kd == "none" or (kn == kd and kn in ("le_min", "gt_max")):
        return {"kind": "none", "value": None, "text": "—"}
    r = num["value"] / den["value"]
    rel = {("exact", "exact"): "", ("exact", "le_min"): "≥", ("le_min", "exact"): "≤",
           ("gt_max", "exact"): ">", ("gt_max", "le_min"): ">", ("exact", "gt_max"): "<",
           ("le_min", "gt_max"): "<"}[(kn, kd)]
    return {"kind": {"": "exact", "≥": "ge", "≤": "le", ">": "gt", "<": "lt"}[rel], "value": r,
            "text": f"{rel}{r:.1f}×"}


# ---- rendering ---------------------------------------------------------------------------------

def _md_cell(c: Cellv) -> str:
    if isinstance(c, (list, tuple)):
        return ", ".join(_md_cell(x) for x in c)
    if isinstance(c, Link):
        return f"[{c.text}]({c.href})".replace("|", "\\|")
    return str(c).replace("|", "\\|").replace("\n", " ")


def table_md(t: Table) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in t.headers) + " |",
             "|" + "|".join("---:" if i in t.right else "---" for i in range(len(t.headers))) + "|"]
    for row in t.rows:
        lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    out = "\n".join(lines) + "\n"
    if t.notes:
        out += "\n" + "\n".join(f"> {n}" for n in t.notes) + "\n"
    return out


def _html_cell(c: Cellv) -> str:
    if isinstance(c, (list, tuple)):
        return ", ".join(_html_cell(x) for x in c)
    if isinstance(c, Link):
        return f'<a href="{html.escape(c.href)}">{html.escape(c.text)}</a>'
    return html.escape(str(c))


def table_html(t: Table) -> str:
    def td(tag: str, i: int, c: Cellv) -> str:
        cls = ' class="r"' if i in t.right else ""
        return f"<{tag}{cls}>{_html_cell(c)}</{tag}>"

    head = "<tr>" + "".join(td("th", i, h) for i, h in enumerate(t.headers)) + "</tr>"
    body = "\n".join("<tr>" + "".join(td("td", i, c) for i, c in enumerate(r)) + "</tr>"
                     for r in t.rows)
    out = f"<table>\n<thead>{head}</thead>\n<tbody>\n{body}\n</tbody>\n</table>\n"
    if t.notes:
        out += "".join(f'<p class="note">{html.escape(n)}</p>\n' for n in t.notes)
    return out


__all__ = ["Link", "Table", "fmt_num", "fmt_int", "fmt_ci", "fmt_metric", "arrow", "fmt_budget",
           "fmt_lr", "labels_needed", "needed_ratio", "table_md", "table_html"]
