"""A generic document renderer: a list of blocks to Markdown, or to one self-contained HTML
file (figures embedded as base64 data URIs). Knows nothing about any experiment."""

from __future__ import annotations

import base64
import html
from typing import Mapping, Sequence

from prmlab.reports.tables import table_html, table_md

# ("h1"|"h2"|"h3"|"headline", text) | ("ul", [text]) | ("table", Table) | ("fig", file, caption)
Block = tuple
HEADINGS = {"h1": 1, "h2": 2, "h3": 3}


def render_md(blocks: Sequence[Block]) -> str:
    parts = []
    for blk in blocks:
        kind = blk[0]
        if kind in HEADINGS:
            parts.append(f"{'#' * HEADINGS[kind]} {blk[1]}\n")
        elif kind == "headline":
            parts.append(f"**Headline.** {blk[1]}\n")
        elif kind == "ul":
            parts.append("".join(f"- {x}\n" for x in blk[1]))
        elif kind == "table":
            parts.append(table_md(blk[1]))
        elif kind == "fig":
            parts.append(f"![{blk[1]}](figures/{blk[1]})\n\n*{blk[2]}*\n")
    return "\n".join(parts)


CSS = """body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .55em;vertical-align:top}
th{background:#f3f3f3}td.r,th.r{text-align:right}tbody tr:nth-child(even){background:#fafafa}
.headline{background:#eef5ff;border-left:4px solid #1f77b4;padding:.6em .9em}
.note{font-size:.8em;color:#555;margin:.2em 0}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#444}"""


def render_html(blocks: Sequence[Block], figs: Mapping[str, bytes]) -> str:
    title = next((blk[1] for blk in blocks if blk[0] == "h1"), "prmlab report")
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>\n{CSS}\n</style>", "</head>",
             "<body>"]
    for blk in blocks:
        kind = blk[0]
        if kind in HEADINGS:
            parts.append(f"<{kind}>{html.escape(blk[1])}</{kind}>")
        elif kind == "headline":
            parts.append(f'<p class="headline"><strong>Headline.</strong> {html.escape(blk[1])}</p>')
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in blk[1]) + "</ul>")
        elif kind == "table":
            parts.append(table_html(blk[1]).rstrip("\n"))
        elif kind == "fig":
            data = base64.b64encode(figs[blk[1]]).decode("ascii")
            parts.append(f'<figure><img alt="{html.escape(blk[1])}" src="data:image/png;base64,'
                         f'{data}"><figcaption>{html.escape(blk[2])}</figcaption></figure>')
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
