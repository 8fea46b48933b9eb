"""How solutions, checks and verdicts become token ids: one `Codec` per model.

The codec owns everything model-specific about text: the tokenizer, whether numbers are
written least significant digit first (the `arith` default: a small transformer adds and
multiplies far better that way, FINDINGS.md), and the marker strings (solution start, step end,
check start, verdicts). Records stay human-readable; only the model sees reversed digits.
Pieces are tokenised separately and joined with marker ids, so every step end is known by
construction rather than found by searching offsets.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from pathlib import Path
from typing import Sequence

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from prmlab.errors import InputError

_DIGITS = re.compile(r"\d+")


def reverse_digits(text: str) -> str:
    """Reverse every run of digits (an involution: applying it twice gives the text back).

    >>> reverse_digits("bob = 23 + 7 = 130")
    'bob = 32 + 7 = 031'
    """
    return _DIGITS.sub(lambda m: m[0][::-1], text)


@dataclasses.dataclass(frozen=True)
class TextFormat:
    """Marker strings and the number order; saved beside every checkpoint as `prmlab_text.json`."""

    lsd_digits: bool = True
    sep: str = "<sep>"  # between problem and solution
    step_end: str = "<step>"  # after every step: the discriminative judge reads here
    check: str = "<check>"  # starts a check (rationale) of the last step
    ok: str = "<ok>"
    bad: str = "<bad>"
    space_join: bool = True  # arith: tokens are words; decode joins them with spaces

    def save(self, out_dir: str | Path) -> None:
        Path(out_dir, "prmlab_text.json").write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, ckpt_dir: str | Path) -> "TextFormat":
        p = Path(ckpt_dir, "prmlab_text.json")
        if not p.exists() and not p.is_symlink():
            return cls(lsd_digits=False, space_join=False, sep="\n\n", step_end="\n\n",
                       check="\nVerification:", ok=" correct", bad=" incorrect")
        from prmlab.strict import read_json

        obj = read_json(p)
        if not isinstance(obj, dict):
            raise InputError("expected a JSON object", path=str(p))
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        for k, v in obj.items():
            if k not in fields:
                raise InputError(f"unknown field (known: {', '.join(fields)})", path=str(p), field=k)
            want = bool if fields[k] in (bool, "bool") else str
            if not isinstance(v, want) or (want is str and not v):
                raise InputError(f"expected {'true or false' if want is bool else 'a non-empty string'}",
                                 path=str(p), field=k)
        return cls(**obj)


class Codec:
    def __init__(self, tokenizer: PreTrainedTokenizerBase, fmt: TextFormat):
        self.tok, self.fmt = tokenizer, fmt
        self.bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.sep = self._marker(fmt.sep)
        self.step_end = self._marker(fmt.step_end)
        self.check = self._marker(fmt.check)
        ok, bad = self._marker(fmt.ok), self._marker(fmt.bad)
        if len(ok) != 1 or len(bad) != 1:
            raise InputError(f"verdict markers must be single tokens, got {fmt.ok!r}->{ok} and {fmt.bad!r}->{bad}")
        self.ok_id, self.bad_id = ok[0], bad[0]
        self._id_to_tok = {i: t for t, i in tokenizer.get_vocab().items()}
        # A corpus encodes each problem and step several times (its solution, then every check
        # prompt repeats them), and a call costs ~0.1 ms of tokenizer overhead: memoising the
        # recent pieces halves the packing of base pretraining's corpus (bench/corpus_encode.py).
        self._encode_piece = functools.lru_cache(maxsize=4096)(self._encode_uncached)

    @classmethod
    def load(cls, ckpt_dir: str | Path) -> "Codec":
        """The codec saved in a checkpoint folder (read locally, never from a hub)."""
        fmt = TextFormat.load(ckpt_dir)
        if not Path(ckpt_dir).is_dir():
            raise InputError("no such folder (expected a checkpoint folder)", path=str(ckpt_dir))
        try:
            tok = AutoTokenizer.from_pretrained(str(ckpt_dir), local_files_only=True)
        except InputError:
            raise
        except Exception as e:  # a missing or garbage tokenizer.json, in whatever type
            msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise InputError(f"cannot load the tokenizer: {msg}", path=str(ckpt_dir)) from None
        return cls(tok, fmt)

    def save(self, out_dir: str | Path) -> None:
        self.tok.save_pretrained(str(out_dir))
        self.fmt.save(out_dir)

    def _marker(self, s: str) -> list[int]:
        return self.tok.encode(s, add_special_tokens=False)

    @property
    def vocab_size(self) -> int:
        return len(self.tok)

    def encode(self, text: str) -> list[int]:
        return list(self._encode_piece(text))

    def _encode_uncached(self, text: str) -> tuple[int, ...]:
        if self.fmt.lsd_digits:
            text = reverse_digits(text)
        return tuple(self.tok.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ids (markers dropped by the caller first), numbers back in normal order."""
        if not self.fmt.space_join:
            text = self.tok.decode(list(ids), skip_special_tokens=True)
        else:
            out: list[str] = []
            prev = None
            marking = False  # inside a check's marked claim ("claimed 0=3=|*=|3=|1!9="), up to ";"
            for i in ids:
                t = self._id_to_tok.get(int(i), "")
                if t.startswith("<"):
                    continue
                marking = marking and t != ";"
                # digits of one number are written together, and so is a marked claim
                glue = prev is not None and ((t.isdigit() and prev.isdigit()) or (marking and prev != "claimed"))
                marking = marking or t == "claimed"
                if glue:
                    out[-1] += t
                else:
                    out.append(t)
                prev = t
            text = " ".join(out)
            # A minus after a name or a digit is an operation; anywhere else it is a sign.
            text = re.sub(r"(^|[-+*/=;] |claimed )- (\d)", r"\1-\2", text)
            text = text.replace(" .", ".").replace(" ?", "?").replace(" ' s", "'s")
        return reverse_digits(text) if self.fmt.lsd_digits else text

    # ---- the pieces every format is made of --------------------------------------------
    def solution(self, problem: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
        """Ids of problem + steps, and the index of each step's last (step-end) token."""
        ids = self.bos + self.encode(problem) + self.sep
        ends = []
        for s in steps:
            ids += self.encode(s) + self.step_end
            ends.append(len(ids) - 1)
        return ids, ends

    def policy_prompt(self, problem: str) -> list[int]:
        return self.bos + self.encode(problem) + self.sep

    def check_prompt(self, problem: str, steps: Sequence[str]) -> list[int]:
        """Prompt for checking the last of `steps`."""
        ids, _ = self.solution(problem, steps)
        return ids + self.check

    def split_steps(self, ids: Sequence[int]) -> list[str]:
        """Steps of a generated solution (ids after the prompt), up to end of sequence."""
        steps, cur = [], []
        se = self.step_end
        i = 0
        ids = list(ids)
        while i < len(ids):
            if ids[i] == self.eos_id:
                break
            if ids[i:i + len(se)] == se:
                steps.append(cur)
                cur = []
                i += len(se)
                continue
            cur.append(ids[i])
            i += 1
        if cur:
            steps.append(cur)
        return [self.decode(s).strip() for s in steps]
