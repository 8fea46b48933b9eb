"""The generation progress bar: what `progress=True` draws for the judges, the rollout sampler
and policy sampling.

Generators only report progress (`progress(prompts_done, prompts_total, generated_tokens)`,
`prmlab.models.generator`); this module draws it. It sits in the judges layer, the lowest one
whose classes take `progress=True` from the command line (`prmlab.judges.load`, `prmlab label`,
`prmlab sample` pass a bool), so the models layer holds no UI. A caller may pass its own
callback instead of True; False or None draws nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Union

from prmlab.models.generator import ProgressFn

Progress = Union[bool, ProgressFn, None]
"""What the `progress=` arguments take: True (draw a bar), a callback, or False/None."""


@contextlib.contextmanager
def generation_progress(progress: Progress, label: str = "generate", *,
                        console=None) -> Iterator[ProgressFn | None]:
    """The callback to hand a generator for `progress`: None for False/None, the callback
    itself when one is given, and for True a rich bar (prompts done of total, elapsed time,
    tokens per second) that stops when the block ends."""
    if not progress:
        yield None
        return
    if callable(progress):
        yield progress
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("prompts"),
                   TimeElapsedColumn(), TextColumn("{task.fields[rate]} tok/s"), console=console)
    task = bar.add_task(label, total=None, rate="-")
    t0 = time.perf_counter()

    def update(done: int, total: int, tokens: int) -> None:
        rate = tokens / max(time.perf_counter() - t0, 1e-9)
        bar.update(task, completed=done, total=total, rate=f"{rate:,.0f}" if done else "-")

    bar.start()
    try:
        yield update
    finally:
        bar.stop()
