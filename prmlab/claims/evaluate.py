"""A suite's claims from its run folders alone (never a model): each claim's effect in every
planned replicate, its summary over replicates, and its verdict by the claim's own rule."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from prmlab.claims.claim import Claim
from prmlab.claims.schema import ClaimResult, ClaimsResult, ReplicateValue, RunLink
from prmlab.claims.stats import summarize
from prmlab.claims.suite import RUNS, FolderPlan, SuitePlan
from prmlab.claims.view import Folder, ReplicateView, read_folder
from prmlab.errors import InputError


def read_folders(plan: SuitePlan, out: Path) -> dict[str, Folder]:
    """Every planned folder (empty when not run yet). A folder holding another config than
    planned is refused: the claims' rules were written for the planned experiment."""
    folders = {}
    for fp in plan.folders:
        f = read_folder(out / RUNS / fp.name, fp.name, fp.experiment, fp.base, fp.seed, fp.kind)
        if f.config is not None and f.config != fp.config:
            raise InputError("this run folder holds another config than the claim suite planned "
                             f"for {fp.name}", path=str(out / RUNS / fp.name / "config.json"))
        folders[fp.name] = f
    return folders


def _link(fp: FolderPlan, f: Folder) -> RunLink:
    return RunLink(folder=f"{RUNS}/{fp.name}", experiment=fp.experiment, base=fp.base,
                   seed=fp.seed, finished=f.finished, base_meets_bar=f.base_meets_bar)


def _folder_plan(plan: SuitePlan, experiment, base: int, seed: int | None) -> FolderPlan | None:
    if experiment.level == "base":
        return plan.folder(experiment.name, base, None)
    return plan.folder(experiment.name, base, plan.size.seeds[0] if seed is None else seed)


def evaluate_claim(claim: Claim, plan: SuitePlan, folders: dict[str, Folder]) -> ClaimResult:
    seeds = plan.size.seeds if claim.level == "seed" else [None]
    reps, links = [], {}
    for b in plan.size.bases:
        for s in seeds:
            mine, absent = {}, []
            for e in claim.experiments:
                fp = _folder_plan(plan, e, b, s)
                if fp is None:  # a plan pinned before this claim was registered
                    absent.append(f"{e.name} (not in this suite's plan: run the suite again to add it)")
                    continue
                f = folders[fp.name]
                links[fp.name] = _link(fp, f)
                mine[e.name] = f
                if not f.finished:
                    absent.append(f"{RUNS}/{fp.name}")
            if absent:
                reps.append(ReplicateValue(base=b, seed=s, value=None,
                                           reason=f"not run yet: {', '.join(absent)} has no finished cells"))
                continue
            m = claim.measure(ReplicateView(b, s, mine))
            reps.append(ReplicateValue(base=b, seed=s, value=m.value, reason=m.reason,
                                       detail=m.detail, inputs=m.inputs))
    summary = summarize([r.value for r in reps])
    verdict, why = claim.rule.decide(summary)
    return ClaimResult(id=claim.id, title=claim.title, statement=claim.statement,
                       anchor=claim.anchor, effect=claim.effect, unit=claim.unit,
                       level=claim.level, rule=claim.rule.spec(), replicates=reps,
                       summary=summary, verdict=verdict, verdict_reason=why,
                       runs=[links[k] for k in sorted(links)], notes=list(claim.notes))


def evaluate_suite(plan: SuitePlan, out: Path, claims: Sequence[Claim]) -> ClaimsResult:
    folders = read_folders(plan, Path(out))
    results = [evaluate_claim(c, plan, folders) for c in claims]
    s = plan.size
    notes = [s.note]
    unhealthy = [f.name for f in folders.values() if f.base_meets_bar is False]
    if unhealthy:
        notes.append("bases under the health bar (kept, never replaced): "
                     + ", ".join(f"{RUNS}/{n}" for n in unhealthy))
    return ClaimsResult(size=s.name, preset=s.preset, bases=s.bases, seeds=s.seeds, notes=notes,
                        claims=results,
                        runs=[_link(fp, folders[fp.name]) for fp in plan.folders])
