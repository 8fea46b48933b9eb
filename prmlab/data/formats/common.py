"""Pieces every format reader and writer shares.

Why this module exists: each public format stores a different subset of the canonical record,
and every bad file must fail with one line naming the file, the record and the field. So the
readers share (1) `Where`, the location an error names; (2) typed field getters that raise
`InputError` there; (3) the *extras* convention that makes every format round-trip:

- a writer stores the canonical fields its format has no place for (`id`, `source`, `answer`,
  `answer_correct`, `soft_labels` and leftover `meta`) as extra top-level keys, only when they
  carry information (not when empty or equal to what a reader would infer anyway);
- a reader reads those keys back when present, and keeps any other key it does not know in
  `meta`, so nothing in an upstream file is dropped silently.

(4) `ReadReport`: a record that cannot be converted is an `InputError` at its file:line and
field; only when the caller asks (`skip_bad`, the CLI's `--skip-bad`) is it skipped instead,
and then counted with its reason. A record the user's own options leave out (PRM800K
`--unfinished drop`) raises `Dropped` and is counted by reason. Neither happens silently.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterable

from prmlab.data.jsonl import read_text
from prmlab.data.record import Record, record_from_dict
from prmlab.errors import InputError
from prmlab.strict import loads

EXTRA_KEYS = ("id", "source", "answer", "answer_correct", "soft_labels", "meta")
SHOWN_REASONS = 3  # how many skip reasons a summary prints in full


class Dropped(Exception):
    """A record the reader's options leave out on purpose (not an error); `reason` is counted."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass
class ReadReport:
    """What a read left out: records skipped as unconvertible (only with `skip_bad`) and
    records dropped by an option, so that a summary can say how many and why.

    >>> r = ReadReport(skip_bad=True)
    >>> r.skip(InputError("no steps", path="a.jsonl", line=3, field="label.steps"))
    >>> r.drop("finish_reason give_up"); r.drop("finish_reason give_up")
    >>> print("\\n".join(r.summary()))
    skipped 1 record that cannot be converted (--skip-bad): a.jsonl:3: field label.steps: no steps
    dropped 2 records by option: finish_reason give_up 2
    """

    skip_bad: bool = False
    skipped: list[InputError] = dataclasses.field(default_factory=list)
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)

    def skip(self, err: InputError) -> None:
        self.skipped.append(err)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def summary(self) -> list[str]:
        out = []
        if self.skipped:
            n = len(self.skipped)
            shown = "; ".join(str(e) for e in self.skipped[:SHOWN_REASONS])
            more = f"; and {n - SHOWN_REASONS} more" if n > SHOWN_REASONS else ""
            out.append(f"skipped {n} record{'s' if n > 1 else ''} that cannot be converted "
                       f"(--skip-bad): {shown}{more}")
        if self.dropped:
            n = self.n_dropped
            why = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()))
            out.append(f"dropped {n} record{'s' if n > 1 else ''} by option: {why}")
        return out


def guarded(report: "ReadReport | None", convert: Callable[[], Record]) -> Record | None:
    """convert(), or None when it raised Dropped (counted) or, under skip_bad, an InputError."""
    try:
        return convert()
    except Dropped as d:
        if report is not None:
            report.drop(d.reason)
        return None
    except InputError as e:
        if report is None or not report.skip_bad:
            raise
        report.skip(e)
        return None


@dataclasses.dataclass(frozen=True)
class Where:
    """A record's location: `path:line:` for JSON lines, `path: record N:` for a JSON array.

    >>> str(Where("pb.json", 3, "record").error("label", "out of range"))
    'pb.json: record 3: field label: out of range'
    >>> str(Where("a.jsonl", 7).error(None, "expected a JSON object"))
    'a.jsonl:7: expected a JSON object'
    """

    path: str
    n: int
    kind: str = "line"

    def error(self, field: str | None, message: str) -> InputError:
        err = InputError(message, path=self.path, line=self.n, field=field)
        if self.kind == "record":  # InputError renders `path:N:`; a JSON array says "record N"
            err.args = (f"{self.path}: record {self.n}: "
                        + (f"field {field}: " if field is not None else "") + message,)
        return err

    def __str__(self) -> str:
        return f"record {self.n}" if self.kind == "record" else f"line {self.n}"


class WriteError(InputError):
    """A record the target format cannot represent; `index` is its 0-based position.

    `prmlab data convert` re-raises it at the record's place in the input file.
    """

    def __init__(self, message: str, *, index: int, field: str | None, record_id: str):
        self.index, self.bare_message, self.record_id = index, message, record_id
        super().__init__(f"record {index + 1} (id {record_id!r}): {message}", field=field)


def type_name(v: Any) -> str:
    return "null" if v is None else {"str": "string", "int": "integer", "float": "number",
                                     "bool": "boolean", "list": "list", "dict": "object"}.get(
        type(v).__name__, type(v).__name__)


def need_object(obj: Any, where: Where, field: str | None = None) -> dict:
    if not isinstance(obj, dict):
        raise where.error(field, f"expected a JSON object, got {type_name(obj)}")
    return obj


def get(obj: dict, key: str, kind: type | tuple, where: Where, *, field: str | None = None,
        optional: bool = False) -> Any:
    """obj[key] checked against `kind` (bool never passes for int); None only when optional."""
    field = field or key
    if key not in obj:
        if optional:
            return None
        raise where.error(field, "missing required field")
    v = obj[key]
    if v is None and optional:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds):
        want = " or ".join(type_name(k()) for k in kinds) + (" or null" if optional else "")
        raise where.error(field, f"expected {want}, got {type_name(v)}")
    return v


def get_steps(obj: dict, key: str, where: Where) -> list[str]:
    """A non-empty list of non-blank strings."""
    steps = get(obj, key, list, where)
    if not steps:
        raise where.error(key, "no steps (expected a non-empty list of strings)")
    for i, s in enumerate(steps):
        if not isinstance(s, str):
            raise where.error(f"{key}[{i}]", f"expected a string, got {type_name(s)}")
        if not s.strip():
            raise where.error(f"{key}[{i}]", "empty step")
    return steps


def prefix_labels(flags: list[bool], where: Where, field: str, after_error: str) -> list[int]:
    """Per-step correct/wrong flags as prefix-semantics labels.

    A correct flag after a wrong one is either rejected (`after_error="reject"`, the default:
    the file does not follow prefix semantics, so say so) or overridden to wrong
    (`after_error="wrong"`: a step after an error is not correct under prefix semantics).

    >>> prefix_labels([True, False, False], Where("f", 1), "labels", "reject")
    [1, 0, 0]
    >>> prefix_labels([True, False, True], Where("f", 1), "labels", "wrong")
    [1, 0, 0]
    >>> prefix_labels([True, False, True], Where("f", 1), "labels", "reject")
    Traceback (most recent call last):
    prmlab.errors.InputError: f:1: field labels[2]: correct after the wrong step 1, ...
    """
    check_choice("after_error", after_error, ("reject", "wrong"))
    out: list[int] = []
    first_wrong = None
    for i, ok in enumerate(flags):
        if first_wrong is not None and ok:
            if after_error == "reject":
                raise where.error(f"{field}[{i}]", f"correct after the wrong step {first_wrong}, "
                                  "which breaks prefix semantics (--after-error wrong labels "
                                  "every step after the first wrong one wrong)")
            ok = False
        if not ok and first_wrong is None:
            first_wrong = i
        out.append(1 if ok else 0)
    return out


def check_choice(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        flag = "--" + option.replace("_", "-")
        raise InputError(f"{flag} must be one of {', '.join(allowed)}; got {value!r}")


def read_extras(obj: dict, own: Iterable[str], where: Where) -> dict[str, Any]:
    """The extras convention, reading side: canonical extras plus unknown keys into meta."""
    own = set(own)
    out: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for k, v in obj.items():
        if k in own:
            continue
        if k == "meta" and "meta" not in own:
            if v is not None and not isinstance(v, dict):
                raise where.error("meta", f"expected an object, got {type_name(v)}")
            meta.update(v or {})
        elif k in EXTRA_KEYS:
            out[k] = v
        else:
            meta[k] = v
    out["meta"] = meta
    return out


def write_extras(rec: Record, covered: Iterable[str], *, default_id: str | None = None,
                 default_source: str | None = None, meta_used: Iterable[str] = ()) -> dict:
    """The extras convention, writing side: what the format has no place for."""
    covered = set(covered)
    out: dict[str, Any] = {}
    if "id" not in covered and rec.id != default_id:
        out["id"] = rec.id
    if "source" not in covered and rec.source != default_source:
        out["source"] = rec.source
    if "answer" not in covered and rec.answer is not None:
        out["answer"] = rec.answer
    if "answer_correct" not in covered and rec.answer_correct is not None:
        out["answer_correct"] = rec.answer_correct
    if "soft_labels" not in covered and rec.soft_labels is not None:
        out["soft_labels"] = rec.soft_labels
    used = set(meta_used)
    rest = {k: v for k, v in rec.meta.items() if k not in used}
    if rest:
        out["meta"] = rest
    return out


def build(fields: dict[str, Any], extras: dict[str, Any], covered: Iterable[str],
          where: Where) -> Record:
    """Validate the mapped fields as a canonical record, errors located at `where`.

    `fields` holds what the format says (with defaults for id/source); extras replace only
    fields the format does not cover itself.
    """
    covered = set(covered)
    obj = dict(fields)
    obj.update({k: v for k, v in extras.items() if k != "meta" and k not in covered})
    obj["meta"] = {**extras.get("meta", {}), **fields.get("meta", {})}
    obj.setdefault("source", "")
    try:
        return record_from_dict(obj, path=where.path, line=where.n)
    except InputError as e:
        raise where.error(e.field, e.message) from None


def default_id(path: str, n: int) -> str:
    """An id for formats that have none: file stem and line, e.g. 'phase2_train-17'."""
    return f"{Path(path).stem}-{n}"


def read_jsonl_located(path, text: str | None, convert: Callable[[Any, Where], Record],
                       report: ReadReport | None = None) -> list[tuple[Where, Record]]:
    """Every line of a JSONL file converted to a record, each with where it came from.

    A line that is not JSON is a record that cannot be converted like any other (skipped and
    counted under `report.skip_bad`, an error otherwise).
    """
    if text is None:
        text = read_text(path)
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = Where(str(path), n)
        rec = guarded(report, lambda: convert(loads(line, path=path, line=n), where))
        if rec is not None:
            out.append((where, rec))
    return out
