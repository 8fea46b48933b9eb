"""The base's pretraining corpus: deterministic, check verdicts follow the check's own marks,
and the token stream of a check document stops before any verdict (no label enters it)."""

from prmlab.data.arith.corpus import iter_corpus
from prmlab.data.arith.teacher import verdict_from_text
from prmlab.training.base import arith_codec, doc_ids, packed_blocks


def test_corpus_is_deterministic_and_has_each_kind():
    a = list(iter_corpus(20, 3, hard_checks=2))
    assert a == list(iter_corpus(20, 3, hard_checks=2))
    assert a != list(iter_corpus(20, 4, hard_checks=2))
    assert {d.kind for d in a} == {"solution", "check", "worked"}


def test_check_verdicts_are_the_rule_applied_to_their_own_marks():
    docs = [d for d in iter_corpus(200, 0, hard_checks=2) if d.kind == "check"]
    assert all(d.ok is verdict_from_text(d.check) for d in docs)
    # Hard checks (wrong-operand steps) make "!" marks common, not an edge case.
    assert 0.2 < sum(not d.ok for d in docs) / len(docs) < 0.8


def test_check_documents_stop_before_the_verdict():
    codec = arith_codec()
    bad = next(d for d in iter_corpus(50, 0, hard_checks=2) if d.kind == "check" and not d.ok)
    body = codec.check_prompt(bad.problem, bad.steps) + codec.encode(bad.check)
    assert doc_ids(codec, bad) == body + [codec.eos_id]
    blocks = packed_blocks(codec, iter_corpus(30, 0, hard_checks=2), 64)
    stream = [t for b in blocks for t in b["input_ids"]]
    assert codec.bad_id not in stream and codec.ok_id not in stream
    assert all(len(b["input_ids"]) == 64 for b in blocks)


def test_the_removed_options_read_as_off_in_saved_configs_and_are_refused_on():
    import pytest
    from pydantic import ValidationError

    from prmlab.training.base import BaseConfig

    # Every cached base's prmlab.json holds `verdicts: false` and `drills: 0`: they parse, as the
    # same base; any other value (a bool for a count too) is refused, naming the option.
    assert BaseConfig.model_validate({"verdicts": False}).key() == BaseConfig().key() == "ffebf5a5f8a2eec3"
    assert BaseConfig.model_validate({"verdicts": False, "drills": 0}).key() == BaseConfig().key()
    for name, on in (("verdicts", True), ("verdicts", 0), ("drills", 3), ("drills", False)):
        with pytest.raises(ValidationError, match=f"base.{name} was removed"):
            BaseConfig.model_validate({name: on})


def test_hard_checks_follow_the_error_types_asked_for():
    import pytest
    from pydantic import ValidationError

    from prmlab.training.base import BaseConfig

    def hard(types):
        return [d for d in iter_corpus(60, 0, checks=0, hard_checks=1, hard_types=types)
                if d.kind == "check"]

    # A wrong operation: every such check says "bad"; where it gets as far as comparing, the
    # operator's mark (the second of the marked claim's fields a|op|b|c) is the "!".
    ops = hard(["wrong_operation"])
    assert len(ops) == 60 and not any(d.ok for d in ops)
    marks = [m.split("|") for d in ops if "|" in (m := d.check.rsplit(" ; ", 1)[1])]
    assert len(marks) > 40 and all(m[1] in ("+!", "-!", "*!") for m in marks)
    # A skipped step: some check meets a quantity (or the answer's target) never computed.
    assert any("= none" in d.check for d in hard(["skipped_step"]))
    assert sum("= none" in d.check for d in hard(["skipped_step"])) > sum("= none" in d.check for d in ops)
    with pytest.raises(ValueError, match="unknown error type"):
        list(iter_corpus(2, 0, hard_checks=1, hard_types=["typo"]))
    with pytest.raises(ValidationError, match="unknown error type"):
        BaseConfig(hard_types=["typo"])
    assert BaseConfig(hard_types=["wrong_operand"]).key() != BaseConfig().key()


def test_slip_probes_are_checks_the_teacher_flags():
    from prmlab.data.arith.problems import Difficulty
    from prmlab.data.arith.teacher import verdict_from_text
    from prmlab.training.base import probe_sets

    sets = probe_sets(Difficulty(), seed=0, n=40)
    assert len(sets["slips"]) == 40
    assert all(verdict_from_text(want) is False for _, _, want in sets["slips"])
    # The check probes' problems and prefixes and the worked lines are what they were before
    # the slips, the marked claim and the probe streams' move (probe version 2: the same digest
    # from the code before it), so bases probed before and after are probed on the same steps.
    import hashlib
    import json
    blob = json.dumps([[c[:2] for c in sets["checks"]], sets["worked"]]).encode()
    assert hashlib.sha256(blob).hexdigest()[:16] == "0a617e3f38cfe727"
    assert sum(verdict_from_text(want) is False for _, _, want in sets["checks"]) < 40
    # The hard-type and slip probes draw their own problems (prmlab/seeds.py), not the policy's
    # training problems (policy.seed = 1 at base.seed = 1) nor the labelled pool's.
    from prmlab.data.arith.generate import iter_records
    for base_seed, policy_seed in ((0, 1), (1, 1)):
        probes = probe_sets(Difficulty(), seed=base_seed, n=40)
        policy = {r.problem for r in iter_records(40, 20_000_000 + policy_seed, error_rate=0.0)}
        pool = {r.problem for r in iter_records(40, 40_000_000 + base_seed, error_rate=0.0)}
        assert not {p for p, _, _ in probes["hard"]} & policy
        assert not {p for p, _, _ in probes["slips"]} & pool


def test_checks_survive_the_model_codec_and_keep_their_verdict():
    """A check the model writes is read back by decoding: every check of a corpus
    (signs, numbers of different lengths, every field) decodes to its own text, and the
    zero-label rule reads the teacher's verdict from it."""
    codec = arith_codec()
    n = 0
    for d in iter_corpus(150, 3, hard_checks=2):
        if d.kind != "check":
            continue
        assert codec.decode(codec.encode(d.check)) == d.check
        assert verdict_from_text(codec.decode(codec.encode(d.check))) is d.ok
        n += 1
    assert n == 150 * (2 + 2)  # checks and hard checks per problem
    # A marked claim with a sign, then text after it: the marking stops at the ";".
    text = "answer is bob ; bob = 3 ; claimed 3=-! ; 12 + 3 = 15"
    assert codec.decode(codec.encode(text)) == text
