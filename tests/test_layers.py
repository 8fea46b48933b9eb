"""Layers import one way: data → supervision → models → judges → training → evaluation →
experiments → reports → cli. A module may import its own layer or layers to its left."""

import ast
from pathlib import Path

LAYERS = ["data", "supervision", "models", "judges", "training", "evaluation", "experiments",
          "reports", "cli"]
PKG = Path(__file__).resolve().parents[1] / "prmlab"


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name


def test_layers_import_one_way():
    bad = []
    n_files = 0
    for layer in LAYERS:
        for f in (PKG / layer).rglob("*.py"):
            n_files += 1
            for mod in _imports(f):
                parts = mod.split(".")
                if parts[0] != "prmlab" or len(parts) < 2 or parts[1] not in LAYERS:
                    continue
                if LAYERS.index(parts[1]) > LAYERS.index(layer):
                    bad.append(f"{f.relative_to(PKG.parent)} imports {mod}")
    assert n_files > 20
    assert not bad, "\n".join(bad)


def test_checker_catches_a_backward_import(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("from prmlab.cli.main import app\nimport prmlab.reports\n")
    assert list(_imports(f)) == ["prmlab.cli.main", "prmlab.reports"]
