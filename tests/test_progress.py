"""Off a terminal, `prmlab run` still reports progress with an ETA (logs of background runs)."""

import io
import re

from rich.console import Console

from prmlab.cli.run import RichUI


def _ui(plain_every: float, terminal: bool = False) -> tuple[RichUI, io.StringIO]:
    buf = io.StringIO()
    return RichUI(Console(file=buf, force_terminal=terminal, width=200), plain_every), buf


def test_stage_steps_print_plain_lines_with_eta_off_a_terminal():
    ui, buf = _ui(plain_every=0)
    with ui.progress, ui.steps("base") as update:
        for step in range(1, 5):
            update(step, 4, {"loss": 2.0 / step})
    lines = [x for x in buf.getvalue().splitlines() if x.startswith("base: step")]
    assert [re.search(r"step (\d+)/4", x).group(1) for x in lines] == ["1", "2", "3", "4"]
    assert "loss 0.500" in lines[-1] and "eta 0:00" in lines[-1]
    assert all("elapsed, eta" in x for x in lines)


def test_plain_lines_are_throttled_but_the_last_step_always_prints():
    ui, buf = _ui(plain_every=3600)
    with ui.progress, ui.steps("base") as update:
        for step in range(1, 101):
            update(step, 100, {"loss": 1.0})
    lines = [x for x in buf.getvalue().splitlines() if x.startswith("base: step")]
    assert len(lines) == 1 and "100/100" in lines[0]


def test_finished_cells_count_up_to_the_total():
    ui, buf = _ui(plain_every=3600)
    with ui.progress:
        ui.start_cells(3)
        for _ in range(3):
            ui.advance()
    lines = [x for x in buf.getvalue().splitlines() if x.startswith("sweep: cell")]
    assert [x.split(",")[0] for x in lines] == ["sweep: cell 1/3", "sweep: cell 2/3", "sweep: cell 3/3"]


def test_a_terminal_gets_the_bars_not_the_plain_lines():
    ui, buf = _ui(plain_every=0, terminal=True)
    with ui.progress, ui.steps("base") as update:
        update(1, 2, {"loss": 1.0})
        update(2, 2, {"loss": 1.0})
    assert "base: step 2/2" not in buf.getvalue()
