"""Shared test fixtures: offline Hugging Face, the shared real-data folder, in-process CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never download anything

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"  # ../shared/data beside the checkout


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (relative to the repo root); the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data is absent: no real data at {SHARED_DATA} "
                    "(see DESIGN.md, 'Real data at hand')")
    return SHARED_DATA


@pytest.fixture
def run_cli(capsys):
    """Run `prmlab ARGS...` in-process; return (exit code, stdout, stderr)."""
    from prmlab.cli import main as main_mod

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = 0
        try:
            main_mod.main([str(a) for a in args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run
