"""Label alignment on the step-end token, checked against arrays worked out by hand.

Every expected id and label list below is written out literally (as huggingface/trl's
`tokenize_row` tests do), not recomputed with the code under test. The labels must be plain
ints in {-100, 0, 1}: a bool cast once turned every -100 into True.
"""

from __future__ import annotations

import pytest
import torch
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.models.text import Codec, TextFormat
from prmlab.supervision.chains import Chain, teacher_chains
from prmlab.training.base import arith_codec
from prmlab.training.judges import head_examples, verdict_examples
from prmlab.training.loop import pad_batch

X = -100  # shorthand in the hand-written arrays

# ---------------------------------------------------------------------------------------------
# (a) the arith codec
#
# arith vocabulary ids used here: <bos> 1, <eos> 2, <sep> 4, <step> 5, <check> 6, <ok> 7,
# <bad> 8, ann 9, bob 10, coins 33, has 41, more 42, than 44, how 53, many 47, does 54,
# have 55, answer 56, is 57, claimed 58, digits 0..9 -> 67..76, + 77, = 81, ! 82, | 83, ; 84,
# . 85, ? 86. Numbers are written least significant digit first: 23 -> "3 2" -> 70 69.

PROBLEM = "ann has 23 coins. bob has 7 more coins than ann. how many coins does bob have?"
STEPS = ["23 + 7 = 30", "answer = 31"]  # step 1 right, step 2 wrong (30 != 31)

# <bos> | ann has 3 2 coins . bob has 7 more coins than ann . how many coins does bob have ? | <sep>
PROMPT_IDS = [1,
              9, 41, 70, 69, 33, 85, 10, 41, 74, 42, 33, 44, 9, 85, 53, 47, 33, 54, 10, 55, 86,
              4]                                                    # indices 0..22
STEP1_IDS = [70, 69, 77, 74, 81, 67, 70, 5]                         # 3 2 + 7 = 0 3 <step>: 23..30
STEP2_IDS = [56, 81, 68, 70, 5]                                     # answer = 1 3 <step>: 31..35
SOLUTION_IDS = PROMPT_IDS + STEP1_IDS + STEP2_IDS                   # 36 tokens, step ends 30 and 35

PRM_LABELS = [X] * 30 + [1] + [X] * 4 + [0]
ORM_LABELS = [X] * 35 + [0]  # answer 31 is wrong: outcome 0, on the last step end only

# The teacher's checks (numbers reversed for the model); the check names the quantity the
# step computes (bob), which the step itself does not:
# "bob is ann + 7 ; ann has 23 ; 23 + 7 = 30 ; claimed 3=2=|+=|7=|0=3=" (a given quantity is
# looked up in the problem's words; the marked claim is already least significant digit first:
# each digit is followed by its mark)
CHECK1_IDS = [10, 57, 9, 77, 74, 84, 9, 41, 70, 69, 84, 70, 69, 77, 74, 81, 67, 70, 84,
              58, 70, 81, 69, 81, 83, 77, 81, 83, 74, 81, 83, 67, 81, 70, 81]
# "answer is bob ; bob = 30 ; claimed 1!3=" (31 against 30: the units digit differs)
CHECK2_IDS = [56, 57, 10, 84, 10, 81, 67, 70, 84, 58, 68, 82, 70, 81]


def arith_record(**kw) -> Record:
    base = dict(id="hand-1", problem=PROBLEM, steps=list(STEPS), labels=[1, 0], first_error=1,
                answer="31", answer_correct=False)
    base.update(kw)
    return Record(**base)


def assert_int_labels(labels):
    assert all(type(v) is int for v in labels), [type(v).__name__ for v in labels]
    assert set(labels) <= {-100, 0, 1}


def test_arith_solution_ids_and_step_ends():
    ids, ends = arith_codec().solution(PROBLEM, STEPS)
    assert ids == SOLUTION_IDS
    assert ends == [30, 35]
    assert [ids[e] for e in ends] == [5, 5]  # both on a <step> token


def test_arith_discriminative_labels_on_step_tokens():
    (ex,) = head_examples(arith_codec(), [arith_record()], "discriminative", max_length=512)
    assert ex["input_ids"] == SOLUTION_IDS
    assert ex["labels"] == PRM_LABELS
    assert len(ex["labels"]) == len(ex["input_ids"])
    assert_int_labels(ex["labels"])


def test_arith_bool_labels_become_ints_and_none_stays_unlabelled():
    rec = arith_record(labels=[True, False])
    (ex,) = head_examples(arith_codec(), [rec], "discriminative", max_length=512)
    assert ex["labels"] == PRM_LABELS
    assert_int_labels(ex["labels"])
    rec = arith_record(labels=[1, None], first_error=None)
    (ex,) = head_examples(arith_codec(), [rec], "discriminative", max_length=512)
    assert ex["labels"] == [X] * 30 + [1] + [X] * 5


def test_arith_orm_label_on_last_step_end_only():
    codec = arith_codec()
    (ex,) = head_examples(codec, [arith_record()], "orm", max_length=512)
    assert ex["input_ids"] == SOLUTION_IDS
    assert ex["labels"] == ORM_LABELS
    assert_int_labels(ex["labels"])
    (ex,) = head_examples(codec, [arith_record(answer_correct=True)], "orm", max_length=512)
    assert ex["labels"] == [X] * 35 + [1]
    assert_int_labels(ex["labels"])
    with pytest.raises(InputError, match="hand-1"):
        head_examples(codec, [arith_record(answer_correct=None)], "orm", max_length=512)


def test_arith_generative_examples():
    codec = arith_codec()
    chains = teacher_chains([arith_record()], error_rate=0.0, seed=0)
    ex1, ex2 = verdict_examples(codec, chains, rationale=True, max_length=512)
    # step 1: prompt = problem + step 1 + <check>; target = rationale + <ok> + <eos>
    prompt1 = PROMPT_IDS + STEP1_IDS + [6]
    assert ex1["input_ids"] == prompt1 + CHECK1_IDS + [7, 2]
    assert ex1["labels"] == [X] * 32 + CHECK1_IDS + [7, 2]
    # step 2: the whole solution + <check>; target = rationale + <bad> + <eos>
    prompt2 = SOLUTION_IDS + [6]
    assert ex2["input_ids"] == prompt2 + CHECK2_IDS + [8, 2]
    assert ex2["labels"] == [X] * 37 + CHECK2_IDS + [8, 2]
    for ex in (ex1, ex2):
        assert len(ex["labels"]) == len(ex["input_ids"])
        assert all(type(v) is int for v in ex["labels"])


def test_arith_direct_examples():
    chains = teacher_chains([arith_record()], error_rate=0.0, seed=0)
    ex1, ex2 = verdict_examples(arith_codec(), chains, rationale=False, max_length=512)
    assert ex1["input_ids"] == PROMPT_IDS + STEP1_IDS + [6, 7, 2]
    assert ex1["labels"] == [X] * 32 + [7, 2]
    assert ex2["input_ids"] == SOLUTION_IDS + [6, 8, 2]
    assert ex2["labels"] == [X] * 37 + [8, 2]


def test_padded_labels_stay_int64_with_minus_100():
    codec = arith_codec()
    short = Record(id="hand-2", problem=PROBLEM, steps=["23 + 7 = 30"], labels=[1],
                   first_error=-1, answer=None, answer_correct=None)
    exs = head_examples(codec, [arith_record(), short], "discriminative", max_length=512)
    batch = pad_batch(exs, codec.pad_id)
    assert batch["labels"].dtype == torch.int64
    assert batch["input_ids"].dtype == torch.int64
    assert batch["labels"][0].tolist() == PRM_LABELS
    assert batch["labels"][1].tolist() == [X] * 30 + [1] + [X] * 5
    assert batch["input_ids"][1].tolist() == PROMPT_IDS + STEP1_IDS + [0] * 5
    assert batch["attention_mask"][1].tolist() == [1] * 31 + [0] * 5
    assert set(batch["labels"].unique().tolist()) == {-100, 0, 1}
    # exactly the two labelled step ends count as targets
    assert int((batch["labels"] != -100).sum()) == 3


# ---------------------------------------------------------------------------------------------
# (b) a separator that encodes to more than one token

MT_VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "\n", "#", "verify", ":", "correct", "incorrect",
            "x", "=", "1", "2", "3", "+", "what", "is", "?"]
#           ids:  <pad> 0, <s> 1, </s> 2, <unk> 3, "\n" 4, # 5, verify 6, : 7, correct 8,
#           incorrect 9, x 10, = 11, 1 12, 2 13, 3 14, + 15, what 16, is 17, ? 18


def multi_token_codec() -> Codec:
    """A word-level tokenizer in which every newline is its own token, so "\\n\\n" is two."""
    tok = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(MT_VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\n"), "isolated"),
        pre_tokenizers.Split(" ", "removed"),
        pre_tokenizers.Split(Regex(r"\d|[a-z]+|[^\sa-z\d]"), "isolated")])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", unk_token="<unk>")
    fmt = TextFormat(lsd_digits=False, sep="\n#\n", step_end="\n\n", check="\nverify:",
                     ok=" correct", bad=" incorrect", space_join=False)
    return Codec(fast, fmt)


MT_PROBLEM, MT_STEPS = "what is 1 + 2?", ["1 + 2 = 3", "x = 2"]
#                <s> | what is 1 + 2 ?            | \n # \n   (indices 0..9)
MT_PROMPT_IDS = [1, 16, 17, 12, 15, 13, 18, 4, 5, 4]
MT_STEP1_IDS = [12, 15, 13, 11, 14, 4, 4]  # 1 + 2 = 3 \n \n   (10..16: separator at 15, 16)
MT_STEP2_IDS = [10, 11, 13, 4, 4]          # x = 2 \n \n       (17..21: separator at 20, 21)
MT_IDS = MT_PROMPT_IDS + MT_STEP1_IDS + MT_STEP2_IDS


def mt_record(**kw) -> Record:
    base = dict(id="mt-1", problem=MT_PROBLEM, steps=list(MT_STEPS), labels=[1, 0],
                first_error=1, answer="2", answer_correct=False)
    base.update(kw)
    return Record(**base)


def test_multi_token_markers_really_are_multi_token():
    codec = multi_token_codec()
    assert codec.step_end == [4, 4]
    assert codec.sep == [4, 5, 4]
    assert codec.check == [4, 6, 7]
    assert (codec.ok_id, codec.bad_id, codec.eos_id, codec.bos) == (8, 9, 2, [1])
    # the joined text tokenises the same way as the pieces here
    text = "what is 1 + 2?\n#\n1 + 2 = 3\n\nx = 2\n\n"
    assert codec.tok.encode(text, add_special_tokens=False) == MT_IDS[1:]


def test_multi_token_step_end_is_last_separator_token():
    codec = multi_token_codec()
    ids, ends = codec.solution(MT_PROBLEM, MT_STEPS)
    assert ids == MT_IDS
    assert ends == [16, 21]  # the second "\n" of each "\n\n", never the first (15, 20)
    (ex,) = head_examples(codec, [mt_record()], "discriminative", max_length=64)
    assert ex["input_ids"] == MT_IDS
    assert ex["labels"] == [X] * 16 + [1] + [X] * 4 + [0]
    assert_int_labels(ex["labels"])
    (ex,) = head_examples(codec, [mt_record(answer_correct=True)], "orm", max_length=64)
    assert ex["labels"] == [X] * 21 + [1]
    assert_int_labels(ex["labels"])


def test_multi_token_verdict_examples():
    codec = multi_token_codec()
    rec = mt_record()
    chains = [Chain(rec, ("3 = 3", "2 = 3"), (True, False))]
    ex1, ex2 = verdict_examples(codec, chains, rationale=True, max_length=64)
    p1 = MT_PROMPT_IDS + MT_STEP1_IDS + [4, 6, 7]  # ... \n verify :
    assert ex1["input_ids"] == p1 + [14, 11, 14, 8, 2]
    assert ex1["labels"] == [X] * 20 + [14, 11, 14, 8, 2]
    assert ex2["input_ids"] == MT_IDS + [4, 6, 7] + [13, 11, 14, 9, 2]
    assert ex2["labels"] == [X] * 25 + [13, 11, 14, 9, 2]
    d1, d2 = verdict_examples(codec, chains, rationale=False, max_length=64)
    assert d1["labels"] == [X] * 20 + [8, 2]
    assert d2["labels"] == [X] * 25 + [9, 2]


def test_multi_token_split_steps_round_trip():
    codec = multi_token_codec()
    gen = MT_STEP1_IDS + MT_STEP2_IDS + [2, 10]  # generation after the prompt; stops at </s>
    assert codec.split_steps(gen) == ["1 + 2 = 3", "x = 2"]


# ---------------------------------------------------------------------------------------------
# (c) no silent truncation

def test_too_long_head_example_raises_and_names_record():
    codec = arith_codec()
    head_examples(codec, [arith_record()], "discriminative", max_length=36)  # exactly fits
    for fmt in ("discriminative", "orm"):
        with pytest.raises(InputError) as e:
            head_examples(codec, [arith_record()], fmt, max_length=35)
        assert "hand-1" in str(e.value)
        assert "max_length=35" in str(e.value)
    with pytest.raises(InputError, match="mt-1"):
        head_examples(multi_token_codec(), [mt_record()], "discriminative", max_length=21)


def test_too_long_verdict_example_raises_and_names_record():
    codec = arith_codec()
    chains = teacher_chains([arith_record()], error_rate=0.0, seed=0)
    verdict_examples(codec, chains, rationale=False, max_length=39)  # 36 + <check> <bad> <eos>
    verdict_examples(codec, chains, rationale=True, max_length=69)
    with pytest.raises(InputError, match="hand-1"):
        verdict_examples(codec, chains, rationale=False, max_length=38)
    with pytest.raises(InputError, match="hand-1"):
        verdict_examples(codec, chains, rationale=True, max_length=68)  # step 1: 32 + 35 + 2 = 69


def test_memoised_encode_matches_the_tokenizer_and_hands_out_fresh_lists():
    codec = arith_codec()
    text = "bob = 23 + 7 = 30"
    first = codec.encode(text)
    assert first == list(codec._encode_uncached(text))
    first.append(-1)  # callers extend what encode returns; the memo must not see it
    assert codec.encode(text) == list(codec._encode_uncached(text))
    assert codec.encode(text) is not codec.encode(text)
