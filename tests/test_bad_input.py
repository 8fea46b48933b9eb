"""Bad input through the CLI: one line on stderr naming file, line and field; exit 2; no output.

Each case writes a bad file, runs `prmlab data convert` (and `validate`) in-process, and checks
that nothing was written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

GOOD = {"id": "r1", "problem": "p", "steps": ["a", "b"], "labels": [1, 0], "first_error": 1}


def canon(**kw):
    obj = {**GOOD, **kw}
    return json.dumps({k: v for k, v in obj.items() if v != "DROP"})


def pb(**kw):
    obj = {"id": "gsm8k-0", "generator": "g", "problem": "p", "steps": ["a", "b"],
           "final_answer_correct": False, "label": 1, **kw}
    return {k: v for k, v in obj.items() if v != "DROP"}


JANET = ("Janet's ducks lay 16 eggs per day. How much? Step 1: 16 - 3 = 13 eggs. ки\n"
         "Step 2: The answer is: 13 ки")

# name, file name, content (str or bytes), --from, substrings the error line must contain
CASES = [
    ("malformed json", "bad.jsonl", canon() + "\n{\"id\": \n", "prmlab",
     ["bad.jsonl:2:", "malformed JSON"]),
    ("malformed json sniffed", "bad.jsonl", "{oops\n", None, ["bad.jsonl:1:", "malformed JSON"]),
    ("missing field", "bad.jsonl", canon(labels="DROP"), "prmlab",
     ["bad.jsonl:1:", "field labels", "missing"]),
    ("mistyped field", "bad.jsonl", canon(steps="a then b"), "prmlab", ["bad.jsonl:1:", "field steps"]),
    ("labels wrong length", "bad.jsonl", canon(labels=[1]), "prmlab",
     ["bad.jsonl:1:", "field labels:", "1 entries for 2 steps"]),
    ("labels wrong value", "bad.jsonl", canon(labels=[1, 2]), "prmlab",
     ["bad.jsonl:1:", "field labels[1]"]),
    ("no steps", "bad.jsonl", canon(steps=[], labels=[]), "prmlab", ["bad.jsonl:1:", "field steps"]),
    ("empty step", "bad.jsonl", canon(steps=["a", " "]), "prmlab",
     ["bad.jsonl:1:", "field steps[1]", "empty step"]),
    ("prefix semantics", "bad.jsonl", canon(labels=[0, 1], first_error=0), "prmlab",
     ["bad.jsonl:1:", "field labels[1]", "prefix semantics"]),
    ("first_error disagrees", "bad.jsonl", canon(first_error=-1), "prmlab",
     ["bad.jsonl:1:", "field labels[1]"]),
    ("not an object", "bad.jsonl", "[1, 2]\n", "prmlab", ["bad.jsonl:1:", "expected a JSON object"]),
    ("empty file", "bad.jsonl", "\n", "prmlab", ["bad.jsonl", "no records"]),
    ("not utf-8", "bad.jsonl", canon().encode() + b"\n" + canon(id="r2").encode()[:-2] + b"\xff\"}\n",
     "prmlab", ["bad.jsonl:2:", "not valid UTF-8"]),
    ("duplicate id", "bad.jsonl", canon() + "\n" + canon() + "\n", "prmlab",
     ["bad.jsonl:2:", "field id", "duplicate"]),
    ("processbench label range", "pb.json", json.dumps([pb(), pb(id="gsm8k-1", label=2)]),
     "processbench", ["pb.json: record 2:", "field label:", "out of range"]),
    ("processbench missing steps", "pb.json", json.dumps([pb(steps="DROP")]), None,
     ["pb.json: record 1:", "field steps", "missing"]),
    ("processbench mistyped", "pb.json", json.dumps([pb(final_answer_correct="yes")]), None,
     ["pb.json: record 1:", "field final_answer_correct"]),
    ("processbench malformed", "pb.json", '[{"id": "x",\n  "label": }]', "processbench",
     ["pb.json:2:", "malformed JSON"]),
    ("prm800k rating", "p.jsonl", json.dumps({"question": {"problem": "p"}, "label": {"steps": [
        {"completions": [{"text": "a", "rating": 2}], "chosen_completion": 0}]}}), "prm800k",
     ["p.jsonl:1:", "field label.steps[0].completions[0].rating"]),
    ("math-shepherd label", "m.jsonl", json.dumps({"input": JANET, "label": JANET.replace("ки", "?")}),
     "math-shepherd", ["m.jsonl:1:", "field label", "expected '+' or '-'"]),
    ("math-shepherd no step 1", "m.jsonl", json.dumps({"input": "p a ки", "label": "p a +"}), None,
     ["m.jsonl:1:", "field input", "Step 1:"]),
    ("trl labels length", "t.jsonl", json.dumps({"prompt": "p", "completions": ["a", "b"],
                                                  "labels": [True]}), "trl",
     ["t.jsonl:1:", "field labels:", "1 entries for 2 completions"]),
    ("prm800k missing problem", "p.jsonl", json.dumps({"question": {}, "label": {"steps": []}}),
     None, ["p.jsonl:1:", "field question.problem", "missing"]),
    ("trl label type", "t.jsonl", json.dumps({"prompt": "p", "completions": ["a"], "labels": ["1"]}),
     "trl", ["t.jsonl:1:", "field labels[0]", "true, false or a number"]),
    ("trl soft label range", "t.jsonl", json.dumps({"prompt": "p", "completions": ["a"],
                                                     "labels": [1.5]}),
     "trl", ["t.jsonl:1:", "field labels[0]", "outside [0, 1]"]),
]


def write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if content.endswith(("\n", "]")) else content + "\n")


def assert_one_line(err, *parts):
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("prmlab: error: ")
    for p in parts:
        assert p in lines[0], (p, lines[0])
    assert "Traceback" not in err


@pytest.mark.parametrize("name, fname, content, fmt, parts", CASES, ids=[c[0] for c in CASES])
def test_bad_file(tmp_path, run_cli, name, fname, content, fmt, parts):
    src, out = tmp_path / fname, tmp_path / "out.jsonl"
    write(src, content)
    frm = ["--from", fmt] if fmt else []
    code, stdout, err = run_cli("data", "convert", *frm, "--to", "prmlab", src, out)
    assert code == 2
    assert_one_line(err, *parts)
    assert not out.exists() and os.listdir(tmp_path) == [fname]  # no temp file either
    fopt = ["--format", fmt] if fmt else []
    code, _, err = run_cli("data", "validate", src, *fopt)
    assert code == 2
    assert_one_line(err, *parts)


def test_directory_missing_and_unreadable(tmp_path, run_cli):
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli("data", "convert", "--to", "trl", tmp_path, out)
    assert code == 2 and not out.exists()
    assert_one_line(err, str(tmp_path), "is a directory")
    code, _, err = run_cli("data", "stats", tmp_path / "nope.jsonl")
    assert code == 2
    assert_one_line(err, "nope.jsonl", "no such file")
    locked = tmp_path / "locked.jsonl"
    locked.write_text(canon() + "\n")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as a user who can read a mode-000 file (root)")
        code, _, err = run_cli("data", "validate", locked)
        assert code == 2
        assert_one_line(err, "locked.jsonl", "cannot read")
    finally:
        locked.chmod(0o600)


def test_unknown_format_and_option_values(tmp_path, run_cli):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(canon() + "\n")
    for args, parts in [
        (["--from", "csv", "--to", "trl"], ["unknown format 'csv'"]),
        (["--to", "parquet"], ["unknown format 'parquet'"]),
        (["--to", "trl", "--neutral", "maybe"], ["--neutral applies to prm800k, not to prmlab"]),
        (["--from", "prm800k", "--to", "trl", "--neutral", "maybe"],
         ["--neutral must be one of correct, wrong"]),
    ]:
        code, _, err = run_cli("data", "convert", *args, src, out)
        assert code == 2, args
        assert_one_line(err, *parts)
        assert not out.exists()


def test_unrepresentable_record_names_the_input_line(tmp_path, run_cli):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(canon() + "\n\n" + canon(id="u", labels=[1, None], first_error=None) + "\n")
    code, _, err = run_cli("data", "convert", "--to", "trl", src, out)
    assert code == 2 and not out.exists()
    assert_one_line(err, "in.jsonl:3:", "field labels[1]", "'u'", "trl")


def test_failed_convert_leaves_existing_output_alone(tmp_path, run_cli):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(canon(labels=[1, 1]) + "\n")
    out.write_text("previous\n")
    code, _, err = run_cli("data", "convert", "--to", "trl", src, out)
    assert code == 2 and out.read_text() == "previous\n"


def test_good_file_validates(tmp_path, run_cli):
    ok = tmp_path / "ok.jsonl"
    ok.write_text(json.dumps({"input": JANET, "label": JANET.replace("ки", "+")}) + "\n"
                  + json.dumps({"input": JANET, "label": JANET.replace("ки", "-")}) + "\n")
    code, out, err = run_cli("data", "validate", ok)
    assert (code, err) == (0, "")
    assert "valid math-shepherd, 2 records (1 with an error, 1 correct, 0 unknown)" in out


def test_subprocess_has_no_traceback(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text(canon(labels=[1]) + "\n")
    proc = subprocess.run([sys.executable, "-m", "prmlab.cli.main", "data", "convert", "--to",
                           "trl", str(src), str(tmp_path / "out.jsonl")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert_one_line(proc.stderr, "bad.jsonl:1:", "field labels")
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("args, said", [(["evaluate"], "No such command 'evaluate'"),
                                        (["run", "--bogus"], "No such option: --bogus")])
def test_usage_errors_are_one_line_with_status_2(run_cli, args, said):
    code, out, err = run_cli(*args)
    assert code == 2
    assert err.startswith("prmlab: error: ") and said in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
