"""The `arith` tokenizer: word-level, numbers split into single digits, explicit special tokens.

Built with the `tokenizers` library from the domain's closed vocabulary, saved as
`tokenizer.json` and loaded as a `PreTrainedTokenizerFast`. Real models bring their own
Hugging Face tokenizer instead; nothing downstream depends on this one.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from prmlab.data.arith.problems import ITEMS, NAMES

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SEP, STEP, CHECK, OK, BAD = "<sep>", "<step>", "<check>", "<ok>", "<bad>"
SPECIALS = (PAD, BOS, EOS, UNK, SEP, STEP, CHECK, OK, BAD)

WORDS = ("has", "more", "fewer", "than", "times", "as", "many", "and", "together", "shared",
         "ways", "s", "how", "does", "have", "answer", "is", "claimed", "none", "unknown",
         "unreadable", "after", "nothing", "left", "to", "compute")
SYMBOLS = tuple("0123456789") + ("+", "-", "*", "/", "=", "!", "|", ";", ".", "?", "'")
# Digits one per token; a run of letters is a word; any other non-space character stands alone.
SPLIT = r"\d|[a-z]+|[^\sa-z\d]"


def build_arith_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(SPECIALS + tuple(NAMES) + tuple(ITEMS) + WORDS + SYMBOLS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(SPLIT), behavior="isolated")])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, bos_token=BOS,
                                   eos_token=EOS, unk_token=UNK,
                                   additional_special_tokens=[SEP, STEP, CHECK, OK, BAD])
    fast.padding_side = "left"
    return fast


def save_tokenizer(tok: PreTrainedTokenizerFast, out_dir: str | Path) -> None:
    tok.save_pretrained(str(out_dir))
