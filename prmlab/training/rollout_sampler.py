"""Rollouts from a policy model: the `Complete` callable of `prmlab.supervision.rollouts`.

`RolloutSampler(model, codec)(requests)` continues every requested prefix (problem + the first
`n_prefix` steps, each followed by the step-end marker, exactly as the policy was trained) until
end of sequence, and says per rollout whether prefix + completion reached the right final
answer: `is_solved(task, problem, steps)` of `prmlab.data.tasks` (default task: arith, where
the first `answer = v` must state the problem's gold value; no oracle step labels).

The rollouts come from a `Generator` (`prmlab.models.generator`): `generator=` when given (a
server backend, a stub), else a `KVCacheGenerator` over `model` with `batch_size`.

What "reuse" means here, concretely:

* one `generate` call per round: every missing rollout of every request of every record goes
  into the same call, which sorts prompts by length and runs them in KV-cached batches of
  `batch_size` (each prompt is prefilled once per copy: K copies of a prefix cost K prefills;
  `generate` has no cross-row prefix sharing);
* identical prefixes share rollouts: rollouts are kept per prompt (token ids of problem +
  prefix) as a stream; a request for k rollouts of a prompt uses the first k of its stream and
  only the missing ones are drawn. Two solutions with the same first steps, the same prefix
  asked again in a later round (omega, tree), or by a later run on the same sampler (a larger K,
  another method) cost nothing new;
* the bill of a run (`begin_run()` starts one) charges each rollout once, to the first request
  of the run that uses it (as if the run had drawn it alone); a request's other rollouts are
  counted as `shared`. So the per-record bills sum to what a standalone run generates, and
  `stats` holds what was physically generated across runs.

Terminal prefixes (an answer already stated) never reach the sampler: the labelling driver
resolves them.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

from prmlab import seeds
from prmlab.data.tasks import ARITH, Task, is_solved
from prmlab.judges.progress import Progress, generation_progress
from prmlab.models.generator import Generator, generator_for, n_tokens
from prmlab.models.text import Codec
from prmlab.supervision.rollouts import Outcome, Request


@dataclasses.dataclass(frozen=True)
class Rollout:
    steps: list[str]  # generated steps
    success: bool  # prefix + steps reached the gold answer
    tokens: int  # generated tokens (stop token included)


class RolloutSampler:
    def __init__(self, model, codec: Codec, *, temperature: float = 1.0, max_new_tokens: int = 80,
                 seed: int = 0, batch_size: int = 256, progress: Progress = False,
                 generator: Generator | None = None, task: Task | None = None):
        self.model, self.codec = model, codec
        self.temperature, self.max_new_tokens = temperature, max_new_tokens
        self.seed, self.batch_size, self.progress = seed, batch_size, progress
        self.generator = generator_for(model, generator, batch_size=batch_size, pad_id=codec.pad_id)
        self.task = ARITH if task is None else task
        self._streams: dict[tuple[int, ...], list[Rollout]] = {}
        self._charged: dict[tuple[int, ...], int] = {}  # prompt -> rollouts charged this run
        self.stats: dict[str, Any] = {"calls": 0, "requests": 0, "unique_prompts": 0,
                                      "rollouts_drawn": 0, "tokens_generated": 0,
                                      "tokens_processed": 0, "seconds": 0.0}

    def begin_run(self) -> None:
        """Start a new bill: every rollout is charged again, once, to its first user."""
        self._charged = {}

    def prompt(self, req: Request) -> list[int]:
        ids, _ = self.codec.solution(req.record.problem, req.prefix_steps)
        return ids

    def __call__(self, requests: Sequence[Request]) -> list[Outcome]:
        keys = [tuple(self.prompt(r)) for r in requests]
        want: dict[tuple[int, ...], int] = {}
        first: dict[tuple[int, ...], Request] = {}
        for key, r in zip(keys, requests):
            want[key] = max(want.get(key, 0), r.k)
            first.setdefault(key, r)
        todo = [(key, want[key] - len(self._streams.get(key, []))) for key in want]
        todo = [(key, m) for key, m in todo if m > 0]
        prompts = [list(key) for key, m in todo for _ in range(m)]
        if prompts:
            t0 = time.perf_counter()
            with generation_progress(self.progress, "rollouts") as on_progress:
                samples = self.generator.generate(
                    prompts, max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                    stop_ids=[self.codec.eos_id], seed=seeds.seed("rollouts.sample", self.seed, index=self.stats["calls"]),
                    progress=on_progress)
            self.stats["seconds"] += time.perf_counter() - t0
            self.stats["calls"] += 1
            self.stats["rollouts_drawn"] += len(prompts)
            self.stats["tokens_generated"] += n_tokens(samples)
            self.stats["tokens_processed"] += sum(len(p) for p in prompts)
            seqs = iter(samples)
            for key, m in todo:
                req = first[key]
                self.task.gold_answer(req.record.problem)  # InputError for a problem without one
                stream = self._streams.setdefault(key, [])
                for _ in range(m):
                    seq = next(seqs).ids
                    steps = self.codec.split_steps(seq)
                    ok = is_solved(self.task, req.record.problem, req.prefix_steps + steps)
                    stream.append(Rollout(steps, ok, len(seq)))
        self.stats["requests"] += len(requests)
        self.stats["unique_prompts"] = len(self._streams)
        out = []
        for key, r in zip(keys, requests):
            used = self._streams[key][: r.k]
            charged = self._charged.get(key, 0)
            paid = used[charged:] if charged < r.k else []
            self._charged[key] = max(charged, r.k)
            out.append(Outcome(successes=[x.success for x in used],
                               generated_tokens=sum(x.tokens for x in paid),
                               prompt_tokens=len(key) * len(paid),
                               completions=[list(x.steps) for x in used],
                               shared=r.k - len(paid)))
        return out
