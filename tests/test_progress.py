"""Off a terminal, `prmlab run` still reports progress with an ETA (logs of background runs);
the generation bar behind `progress=True` of the judges, rollouts and policy sampling."""

import io
import re

import pytest
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
    # the first step gives no rate yet: no ETA on its line, one on every later line
    assert "eta" not in lines[0] and all("elapsed, eta" in x for x in lines[1:])


def test_the_eta_leaves_out_the_set_up_before_the_first_step(monkeypatch):
    import prmlab.cli.run as run_mod

    now = [0.0]
    monkeypatch.setattr(run_mod.time, "time", lambda: now[0])
    ui, buf = _ui(plain_every=0)
    with ui.progress, ui.steps("base") as update:
        now[0] = 90.0  # step 1 after 90 s of set-up (a base's corpus)
        update(1, 102, {"loss": 1.0})
        now[0] = 91.0  # step 2, one second later
        update(2, 102, {"loss": 1.0})
    lines = [x for x in buf.getvalue().splitlines() if x.startswith("base: step")]
    # 100 steps left at 1 s a step, not at the 45.5 s a step that counting the set-up gives
    assert lines[1].endswith("1:31 elapsed, eta 1:40"), lines[1]


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


# ---- the generation bar (judges, rollouts, policy sampling take progress=True) ----------------

def test_generation_progress_passes_callbacks_through_and_draws_nothing_for_false():
    from prmlab.judges.progress import generation_progress

    def mine(done, total, tokens):
        pass

    with generation_progress(mine) as cb:
        assert cb is mine
    for off in (False, None):
        with generation_progress(off) as cb:
            assert cb is None


def test_generation_progress_true_draws_a_bar_of_prompts_and_stops_it():
    from prmlab.judges.progress import generation_progress

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    with generation_progress(True, "rollouts", console=console) as cb:
        assert callable(cb)
        cb(0, 10, 0)
        cb(10, 10, 400)
    out = buf.getvalue()
    assert "rollouts" in out and "10/10" in out and "prompts" in out and "tok/s" in out


def test_a_judge_with_progress_true_reports_through_the_bar(monkeypatch):
    """GenerativeJudge(progress=True), as `prmlab evaluate` builds it: the generator gets a
    callback, and the bar is opened and closed around each call."""
    from prmlab.judges import generative
    from prmlab.data.record import Record
    from prmlab.models.generator import Sample
    from prmlab.training.base import arith_codec

    codec = arith_codec()
    seen = []

    class Stub:
        def generate(self, prompts, *, progress=None, **kw):
            seen.append(progress)
            progress(len(prompts), len(prompts), len(prompts))
            return [Sample([codec.ok_id], watch_probs=[[0.9, 0.1]]) for _ in prompts]

    opened = []
    real = generative.generation_progress

    def spy(progress, label="generate", **kw):
        opened.append((progress, label))
        return real(progress, label, console=Console(file=io.StringIO()), **kw)

    monkeypatch.setattr(generative, "generation_progress", spy)
    judge = generative.GenerativeJudge(None, codec, generator=Stub(), progress=True)
    rec = Record(id="a", problem="p", steps=["1 + 1 = 2"], labels=[1], first_error=-1)
    assert judge.score([rec])[0].step_scores == [pytest.approx(0.9)]
    assert opened == [(True, "generative")] and callable(seen[0])
