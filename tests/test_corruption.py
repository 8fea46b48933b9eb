"""Random corruptions of valid files, fed to every reader: it parses, or it raises InputError.

Every reader of a user's file (canonical JSONL; the ProcessBench, PRM800K, Math-Shepherd and
TRL readers, and sniffing; the step-scores reader of `eval --scores`; both best-of-N formats;
a checkpoint's prmlab.json, prmlab_text.json and safetensors header; a prmlab manifest; a
config YAML) gets a valid file damaged by one to three of: truncation, flipped bytes, inserted
garbage, deleted bytes, a number replaced by NaN/Infinity/1e999/a 5000-digit integer, a value
replaced by nesting 100 to 100k levels deep, a duplicated key, a lone surrogate. Anything other
than a clean parse or an `InputError` (which the CLI prints as one line) fails the test.
What parses must also be writable again (canonical records, best-of-N metrics), so a value
that slips through a reader cannot crash the command later.
"""

from __future__ import annotations

import atexit
import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from prmlab.data.formats import read_any, write_any
from prmlab.data.jsonl import read_records
from prmlab.data.record import Record
from prmlab.errors import InputError

EXAMPLES = 30
PROBLEM = "Tom has 3 apples and buys 4 more, then eats 2. How many are left?"
RECORDS = [
    Record("e1", PROBLEM, ["Step 1: 3 + 4 = 8", "Step 2: 8 - 2 = 6", "Step 3: The answer is: 6"],
           [0, 0, 0], 0, answer="6", answer_correct=False, source="hand",
           meta={"generator": "me", "problem_id": 1, "score": 0.25}),
    Record("c1", PROBLEM, ["Step 1: 3 + 4 = 7", "Step 2: 7 - 2 = 5", "Step 3: The answer is: 5"],
           [1, 1, 1], -1, answer="5", answer_correct=True, source="hand",
           meta={"problem_id": 1, "score": 0.75}),
    Record("e2", PROBLEM, ["Step 1: 3 + 4 = 7", "Step 2: 7 - 3 = 4"], [1, 0], 1,
           answer="4", answer_correct=False, meta={"problem_id": 2, "score": 0.5}),
]
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
REPLACEMENTS = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400", b"9" * 5000,
                b"9" * 301, b'"\\ud800"', b".nan", b".inf", b"true", b"null", b'"x"']


def _tmp() -> Path:
    d = Path(tempfile.mkdtemp(prefix="prmlab-corrupt-"))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


def _valid_files() -> dict[str, bytes]:
    d = _tmp()
    out: dict[str, bytes] = {}
    for fmt in ("prmlab", "processbench", "prm800k", "math-shepherd", "trl"):
        p = d / f"{fmt}.jsonl"
        write_any(p, RECORDS, fmt)
        out[fmt] = p.read_bytes()
    out["scores"] = b"".join(json.dumps({"id": r.id, "step_scores": [0.5] * len(r.steps),
                                         "rationales": ["ok"] * len(r.steps),
                                         "meta": {"k": 1}}).encode() + b"\n" for r in RECORDS)
    out["bon lists"] = (json.dumps({"idx": 0, "pred": ["1", "2", None], "score": [True, False, False],
                                    "pred_score": [[0.5], [1.5, -2.0], 3.0], "gt": "1"}) + "\n" +
                        json.dumps({"idx": 1, "pred": ["3", "3", "4"], "score": [False, False, True],
                                    "pred_score": [0.1, 0.2, 0.3]}) + "\n").encode()
    rows = []
    for r in RECORDS:
        d2 = r.to_dict()
        d2["meta"] = {"problem_id": r.meta["problem_id"], "step_scores": [0.5] * len(r.steps)}
        rows.append(json.dumps(d2))
    out["bon canonical"] = ("\n".join(rows) + "\n").encode()
    out["prmlab.json"] = json.dumps({"kind": "judge", "format": "orm", "config": {"budget": 8},
                                     "threshold": {"value": 0.4, "tuned": True},
                                     "provenance": {"command": ["prmlab"]}}, indent=2).encode()
    out["prmlab_text.json"] = json.dumps({"lsd_digits": True, "sep": "<sep>", "step_end": "<step>",
                                          "check": "<check>", "ok": "<ok>", "bad": "<bad>",
                                          "space_join": True}, indent=2).encode()
    out["config yaml"] = (b"preset: smoke\nbudgets: [4, 8]\nseeds: [0, 1]\nbootstrap_resamples: 50\n"
                          b"judge:\n  lrs: [0.001, 0.0003]\n  fit:\n    max_steps: 20\n"
                          b"formats: [discriminative, generative]\n")
    out["manifest"] = json.dumps({"about": "x", "files": ["metrics.json", "cells/a/cell.json"]},
                                 indent=1).encode()
    out["safetensors"] = _safetensors_bytes(d)
    return out


def _safetensors_bytes(d: Path) -> bytes:
    import torch
    from safetensors.torch import save_file

    save_file({"a": torch.arange(6, dtype=torch.float32).reshape(2, 3),
               "b": torch.ones(4, dtype=torch.int64)}, str(d / "m.safetensors"),
              metadata={"format": "pt"})
    return (d / "m.safetensors").read_bytes()


VALID = _valid_files()


@st.composite
def corrupted(draw, content: bytes) -> bytes:
    data = bytearray(content)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "number", "nest",
                                     "dupkey", "surrogate"]))
        pos = draw(st.integers(0, len(data)))
        if kind == "truncate":
            data = data[:pos]
        elif kind == "flip" and data:
            for _ in range(draw(st.integers(1, 8))):
                j = draw(st.integers(0, len(data) - 1))
                data[j] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 16))]
        elif kind in ("number", "nest"):
            spans = [m.span() for m in NUMBER.finditer(bytes(data))]
            if not spans:
                continue
            a, b = spans[draw(st.integers(0, len(spans) - 1))]
            if kind == "number":
                new = draw(st.sampled_from(REPLACEMENTS))
            else:
                depth = draw(st.sampled_from([99, 101, 900, 5_000, 100_000]))
                opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"k": ', b"}")]))
                new = opener * depth + bytes(data[a:b]) + closer * depth
            data[a:b] = new
        elif kind == "dupkey":
            i = bytes(data).find(b"{", pos)
            if i >= 0:
                data[i + 1:i + 1] = b'"id": "dup", "id": "dup2", '
        elif kind == "surrogate":
            i = bytes(data).find(b'"', pos)
            if i >= 0:
                data[i + 1:i + 1] = b"\\udc80"
    return bytes(data)


def _records(path: Path):
    recs = read_records(path)
    write_any(path.with_name("rewritten.jsonl"), recs, "prmlab")  # what parses is writable
    return recs


def _fmt(fmt: str):
    def read(path: Path):
        recs = read_any(path, fmt)
        write_any(path.with_name("rewritten.jsonl"), recs, "prmlab")
        return recs
    return read


def _sniffed(path: Path):
    return read_any(path)


def _scores(path: Path):
    from prmlab.evaluation.run import read_step_scores

    return read_step_scores(path)


def _bon(path: Path):
    from prmlab.atomic import write_json
    from prmlab.metrics.bon import bon_metrics, load_bon_samples, rm_by_aggregation

    problems, _ = load_bon_samples(path, "min")
    m = bon_metrics(problems, agg="min" if problems[0].scores is not None else None,
                    n_resamples=3)
    if problems[0].step_scores is not None:
        m["by_agg"] = rm_by_aggregation(problems, m["ks"], n_resamples=3)
    write_json(path.with_name("metrics.json"), m)  # strict JSON out, whatever came in
    return m


def _in_folder(name: str, fn):
    def read(path: Path):
        folder = path.parent / "folder"
        folder.mkdir(exist_ok=True)
        for p in folder.iterdir():
            p.unlink()
        (folder / name).write_bytes(path.read_bytes())
        return fn(folder)
    return read


def _prmlab_json(folder: Path):
    from prmlab.models.checkpoint import read_info

    return read_info(folder)


def _text_format(folder: Path):
    from prmlab.models.text import TextFormat

    return TextFormat.load(folder)


def _manifest(folder: Path):
    from prmlab.outdir import read_manifest

    return read_manifest(folder)


def _safetensors(folder: Path):
    from prmlab.models.checkpoint import check_checkpoint

    (folder / "config.json").write_text('{"model_type": "llama"}')
    return check_checkpoint(folder)


def _yaml(path: Path):
    from prmlab.strict import read_yaml

    return read_yaml(path)


READERS = {
    "prmlab": ("prmlab", _records),
    "processbench": ("processbench", _fmt("processbench")),
    "prm800k": ("prm800k", _fmt("prm800k")),
    "math-shepherd": ("math-shepherd", _fmt("math-shepherd")),
    "trl": ("trl", _fmt("trl")),
    "sniffed processbench": ("processbench", _sniffed),
    "sniffed trl": ("trl", _sniffed),
    "eval --scores": ("scores", _scores),
    "bon lists": ("bon lists", _bon),
    "bon canonical": ("bon canonical", _bon),
    "prmlab.json": ("prmlab.json", _in_folder("prmlab.json", _prmlab_json)),
    "prmlab_text.json": ("prmlab_text.json", _in_folder("prmlab_text.json", _text_format)),
    "manifest": ("manifest", _in_folder(".prmlab-manifest.json", _manifest)),
    "safetensors": ("safetensors", _in_folder("model.safetensors", _safetensors)),
    "config yaml": ("config yaml", _yaml),
}
_DIR = _tmp()


@pytest.mark.parametrize("name", list(READERS))
def test_the_valid_file_reads(name):
    key, reader = READERS[name]
    path = _DIR / name.replace(" ", "_") / "in.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(VALID[key])
    assert reader(path) is not None


def _check(name: str, content: bytes) -> None:
    _, reader = READERS[name]
    path = _DIR / name.replace(" ", "_") / "in.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    try:
        reader(path)
    except InputError as e:
        assert str(e) and "\n" not in str(e).strip(), repr(str(e))


@pytest.mark.parametrize("name", list(READERS))
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_corrupted_file_parses_or_raises_input_error(name, data):
    content = data.draw(corrupted(VALID[READERS[name][0]]), label="content")
    _check(name, content)


@pytest.mark.parametrize("name, content", [
    ("prmlab", b'{"id": "a", "problem": "p", "steps": ["s"], "labels": [1], "first_error": -1, '
               b'"meta": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}\n"),
    ("processbench", b"[" * 200_000),
    ("eval --scores", b'{"id": "a", "step_scores": [' + b"9" * 5000 + b"]}\n"),
    ("bon lists", b'{"pred": ["1"], "score": [true], "pred_score": [NaN]}\n'),
    ("bon canonical", VALID["bon canonical"].replace(b"0.5, 0.5, 0.5]", b"0.5, 0.5]", 1)),
    ("prmlab.json", b'{"threshold": {"value": Infinity}}'),
    ("config yaml", b"budgets: [" * 3000 + b"]" * 3000),
    ("config yaml", b"budgets: [" + b"1" * 5000 + b"]\n"),
    ("config yaml", b"bootstrap_resamples: .nan\n"),
    ("safetensors", VALID["safetensors"][:-5]),
    ("manifest", b'{"files": ["/etc/passwd"]}'),
])
def test_named_corruptions_are_input_errors(name, content):
    _, reader = READERS[name]
    path = _DIR / name.replace(" ", "_") / "in.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    with pytest.raises(InputError):
        reader(path)
