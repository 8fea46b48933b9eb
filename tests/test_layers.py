"""Layers import one way: data → metrics → supervision → models → judges → serving → training →
evaluation → experiments → claims → reports → cli. A module may import its own layer or layers
to its left (serving sits above judges: it loads models and judges, and nothing that trains needs
it; claims sit between experiments and reports: they plan flagship experiments and read their
records, and the report layer renders their results); the top-level helpers (`prmlab.atomic`,
`prmlab.errors`, `prmlab.outdir`,
`prmlab.provenance`, `prmlab.strict`) sit below
them all. `bench/` scripts sit beside `cli`: they may import any layer, and nothing imports
them. The metric, evaluation, claims and report layers never import torch (a report is rebuilt from run
folders on a machine without it)."""

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

LAYERS = ["data", "metrics", "supervision", "models", "judges", "serving", "training",
          "evaluation", "experiments", "claims", "reports", "cli"]
HELPERS = ["atomic", "errors", "keys", "outdir", "provenance", "seeds", "strict"]
ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "prmlab"
NO_TORCH = ["metrics", "evaluation", "claims", "reports"]


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name


def _rank(mod: str) -> int | None:
    parts = mod.split(".")
    if parts[0] != "prmlab" or len(parts) < 2:
        return None
    if parts[1] in HELPERS:
        return -1
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def test_every_module_belongs_to_a_layer():
    stray = [p.name for p in PKG.iterdir()
             if p.name not in ("__init__.py", "__pycache__") and p.stem not in LAYERS + HELPERS]
    assert not stray, f"not in any layer (add it to LAYERS or HELPERS): {stray}"


def test_layers_import_one_way():
    bad = []
    n_files = 0
    for layer in LAYERS:
        for f in (PKG / layer).rglob("*.py"):
            n_files += 1
            for mod in _imports(f):
                r = _rank(mod)
                if r is not None and r > LAYERS.index(layer):
                    bad.append(f"{f.relative_to(ROOT)} imports {mod}")
    for helper in HELPERS:
        for mod in _imports(PKG / f"{helper}.py"):
            r = _rank(mod)
            if r is not None and r >= 0:
                bad.append(f"prmlab/{helper}.py imports {mod}")
    assert n_files > 20
    assert not bad, "\n".join(bad)


def test_nothing_imports_bench_and_bench_imports_exist():
    bad = [f"{f.relative_to(ROOT)} imports {m}" for f in PKG.rglob("*.py") for m in _imports(f)
           if m.split(".")[0] == "bench"]
    scripts = list((ROOT / "bench").glob("*.py"))
    assert scripts
    for f in scripts:
        for mod in _imports(f):
            if mod.startswith("prmlab.") and importlib.util.find_spec(mod) is None:
                bad.append(f"{f.relative_to(ROOT)} imports {mod}, which does not exist")
    assert not bad, "\n".join(bad)


def test_metric_evaluation_and_report_layers_do_not_import_torch():
    direct = [f"{f.relative_to(ROOT)} imports {m}" for layer in NO_TORCH
              for f in (PKG / layer).rglob("*.py") for m in _imports(f)
              if m.split(".")[0] == "torch"]
    assert not direct, "\n".join(direct)
    code = ("import sys\n" + "".join(f"import prmlab.{layer}\n" for layer in NO_TORCH) +
            "import pkgutil, importlib\n"
            f"for layer in {NO_TORCH!r}:\n"
            "    pkg = importlib.import_module('prmlab.' + layer)\n"
            "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
            "        importlib.import_module(m.name)\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", "importing these layers loads torch transitively"


def test_checker_catches_a_backward_import(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("from prmlab.cli.main import app\nimport prmlab.reports\n")
    assert list(_imports(f)) == ["prmlab.cli.main", "prmlab.reports"]
    assert _rank("prmlab.cli.main") > _rank("prmlab.metrics.bon") > _rank("prmlab.atomic")
    assert _rank("numpy") is None
