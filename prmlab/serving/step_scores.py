"""`POST /v1/step_scores`: a judge as a step-reward server (an RL trainer elsewhere posts
solutions, gets P(step correct) per step back).

Body: `{"model": NAME, "solutions": [{"id": "a", "problem": "...", "steps": ["...", ...]}]}`
(`id` optional: the position is used). Reply: `{"object": "step_scores", "model": NAME,
"scores": [{"id": "a", "step_scores": [0.93, 0.12]}], "usage": {...}}`, in request order,
`rationales` added for judges that write them.

Concurrent requests are micro-batched: one worker thread takes the first waiting request, waits
`wait_s` for others, and scores up to `max_batch` solutions in one `judge.score` call (the
engine then batches their steps together), so N clients cost about one judge call, not N.
A judge's scores do not depend on which solutions share a call for head judges and greedy
generative ones (up to float noise); sampled rationales (K > 1) do.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import traceback
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prmlab.data.record import Record
from prmlab.serving.completions import Limits
from prmlab.serving.errors import RequestError


class Solution(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str | None = Field(None, description="Echoed back (default: the solution's position).")
    problem: str = Field(min_length=1, description="The problem text.")
    steps: list[str] = Field(min_length=1, description="The solution's steps, in order.")


class StepScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = Field(description="Served judge name.")
    solutions: list[Solution] = Field(min_length=1, description="Solutions to score.")


class _Job:
    def __init__(self, records: list[Record]):
        self.records, self.done = records, threading.Event()
        self.result: list[Any] | None = None
        self.error: BaseException | None = None


class StepScorer:
    """A judge behind `/v1/step_scores`, its calls micro-batched by one worker thread."""

    def __init__(self, judge, name: str, limits: Limits, *, wait_s: float = 0.005,
                 max_batch: int = 256):
        self.judge, self.name, self.limits = judge, name, limits
        self.wait_s, self.max_batch = wait_s, max_batch
        self.q: queue.Queue[_Job] = queue.Queue()
        self.stats = {"requests": 0, "batches": 0, "max_requests_per_batch": 0, "solutions": 0}
        self._worker = threading.Thread(target=self._loop, name="step-scores", daemon=True)
        self._worker.start()

    def score(self, req: StepScoreRequest) -> dict[str, Any]:
        if req.model != self.name:
            raise RequestError(f"judge {req.model!r} is not served here (served: {self.name})",
                               status=404, field="model")
        if len(req.solutions) > self.limits.max_solutions:
            raise RequestError(f"{len(req.solutions)} solutions in one request; at most "
                               f"{self.limits.max_solutions}", field="solutions")
        for i, s in enumerate(req.solutions):
            if any(not st.strip() for st in s.steps):
                raise RequestError("a step is empty", field=f"solutions[{i}].steps")
        records = [Record(id=s.id if s.id is not None else str(i), problem=s.problem,
                          steps=list(s.steps), labels=[None] * len(s.steps), first_error=None)
                   for i, s in enumerate(req.solutions)]
        job = _Job(records)
        self.q.put(job)
        job.done.wait()
        if job.error is not None:
            raise RequestError(f"the judge failed: {type(job.error).__name__}: "
                               f"{' '.join(str(job.error).split())[:200]}", status=500)
        scores = []
        for r, s in zip(records, job.result or []):
            row: dict[str, Any] = {"id": r.id, "step_scores": [float(x) for x in s.step_scores]}
            if s.rationales is not None:
                row["rationales"] = s.rationales
            scores.append(row)
        return {"object": "step_scores", "model": self.name, "scores": scores,
                "usage": {"solutions": len(records), "steps": sum(len(r.steps) for r in records)}}

    def _loop(self) -> None:
        while True:
            jobs = [self.q.get()]
            n = len(jobs[0].records)
            deadline = time.monotonic() + self.wait_s
            while n < self.max_batch:
                left = deadline - time.monotonic()
                try:
                    job = self.q.get(timeout=left) if left > 0 else self.q.get_nowait()
                except queue.Empty:
                    break
                jobs.append(job)
                n += len(job.records)
            records = [r for j in jobs for r in j.records]
            try:
                out = self.judge.score(records)
                at = 0
                for j in jobs:
                    j.result = out[at:at + len(j.records)]
                    at += len(j.records)
            except Exception as e:  # noqa: BLE001 - reported to each client, logged here
                traceback.print_exc(file=sys.stderr)
                for j in jobs:
                    j.error = e
            st = self.stats
            st["requests"] += len(jobs)
            st["batches"] += 1
            st["solutions"] += len(records)
            st["max_requests_per_batch"] = max(st["max_requests_per_batch"], len(jobs))
            for j in jobs:
                j.done.set()
