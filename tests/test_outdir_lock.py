"""One prmlab process per output folder: a second one, on the folder or inside it, is refused
with the holder's pid; siblings run side by side; a killed holder leaves no stale lock."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from prmlab import outdir
from prmlab.errors import InputError

pytest.importorskip("fcntl")

HOLD = textwrap.dedent("""
    import sys, time
    from prmlab import outdir
    with outdir.command():
        outdir.prepare_out(sys.argv[1])
        print("held", flush=True)
        time.sleep(120)
""")


@pytest.fixture
def holder(tmp_path):
    """Another process holding tmp_path/run, as a running `prmlab run --out run` does."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_second_process_on_the_folder_or_inside_it_is_refused_naming_the_holder(holder, tmp_path):
    outdir.reset()
    with pytest.raises(InputError) as e:
        outdir.prepare_out(tmp_path / "run")
    assert f"process {holder.pid} is writing into this folder" in str(e.value)
    with pytest.raises(InputError) as e:
        outdir.prepare_out(tmp_path / "run" / "runs" / "flagship-b0-s0")
    assert f"process {holder.pid} is writing into the folder it lies in" in str(e.value)
    assert not (tmp_path / "run").exists()  # refused before anything was written
    outdir.prepare_out(tmp_path / "other")  # a sibling: fine
    outdir.reset()
    outdir.prepare_out(tmp_path / "run", worker=True)  # a Ray task of the holder's command: fine
    outdir.reset()


def test_a_killed_holder_leaves_no_stale_lock(holder, tmp_path):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    outdir.reset()
    outdir.prepare_out(tmp_path / "run")
    outdir.reset()


def test_one_process_may_prepare_a_folder_again_and_frees_it_at_reset(tmp_path):
    outdir.reset()
    outdir.prepare_out(tmp_path / "run")
    outdir.prepare_out(tmp_path / "run")  # the same command preparing it twice
    outdir.prepare_out(tmp_path / "run" / "sub")  # and a folder inside its own
    probe = [sys.executable, "-c", "import sys\nfrom prmlab import outdir\noutdir.prepare_out(sys.argv[1])",
             str(tmp_path / "run")]
    busy = subprocess.run(probe, capture_output=True, text=True)
    assert busy.returncode != 0 and f"process {os.getpid()}" in busy.stderr
    outdir.reset()
    assert subprocess.run(probe, capture_output=True, text=True).returncode == 0


def test_the_cli_refuses_a_second_run_on_a_busy_folder_with_a_one_line_error(holder, tmp_path, run_cli):
    code, _, err = run_cli("run", "--preset", "smoke", "--out", tmp_path / "run")
    assert code == 2 and f"process {holder.pid} is writing into this folder" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()
