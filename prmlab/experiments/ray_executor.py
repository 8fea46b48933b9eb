"""Cells as Ray tasks: every cell whose dependencies are finished runs at once, as far as the
cluster's CPUs and GPUs allow.

What a worker gets: the spec (a small frozen model) and the artifacts' paths, never the loaded
data; it reads the data sets from the cache folder itself (once per worker process), runs the
cell through `run_cell` (the serial executor's own function: the same files, the same record,
written last and atomically by the worker) and returns where and how long it ran. So the
run folder (`--out`) and the artifact cache (`--cache`) must be visible to every worker at the
same path: always so for a local `ray.init()`; on a multi-node cluster they must be on shared
storage, and a worker that cannot see them fails with a line that says so. A relative path
means the same folder there as here: the task runs in the driver's working directory.

A cell gives torch as many threads as the CPUs it asked for; a cell that runs a model asks for a
GPU when the cluster has one (`runs_model` of its spec). Cells are deterministic by their seeds
and do not depend on their neighbours, so their records are the serial executor's
(tests/test_ray_executor.py compares them); byte for byte where the serial run gives torch as
many threads, since the thread count changes the order of float32 sums (dev/LOG.md). Label-free cells that share rollout labels run one
after another, as serially: the first derives the labels, the next reads them.

Ray is imported inside the functions: this module loads without it, and
`prmlab.experiments.executors` says what to install when it is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from prmlab.errors import InputError
from prmlab.experiments.artifacts import Artifacts, DataSets, read_datasets
from prmlab.experiments.cells import Env
from prmlab.experiments.executor import is_done, run_cell

SHARED = ("on a multi-node Ray cluster the run folder (--out) and the artifact cache (--cache) "
          "must be on storage every node mounts at the same path")


@dataclasses.dataclass(frozen=True)
class CellTask:
    """Everything a worker needs besides the spec: paths and numbers, no loaded data."""

    out: str
    base: str
    policy: str
    policy_init: str
    data_folder: str
    bootstrap_resamples: int
    cwd: str  # the driver's: relative paths resolve the same way in the worker
    argv: tuple[str, ...]  # the driver's command: what the cell's provenance names
    threads: int
    prepared_out: bool  # the driver writes into `out` as a prepared prmlab folder (a manifest)


@dataclasses.dataclass(frozen=True)
class RayExecutor:
    address: str | None = None  # None: a local ray.init() (unless Ray is initialised already)
    cpus_per_cell: int = 1
    gpus_per_cell: float | None = None  # None: 1 for model cells where the cluster has GPUs

    def execute(self, specs: Sequence[Any], arts: Mapping[int, Artifacts], env: Env) -> list[str]:
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            if self.address:
                ray.init(address=self.address, log_to_driver=True)
            else:
                ray.init(include_dashboard=False, log_to_driver=True)
        try:
            return self._execute(ray, specs, arts, env)
        finally:
            if started_here:
                ray.shutdown()

    def _resources(self, ray) -> tuple[int, float]:
        total = ray.cluster_resources()
        cpus, gpus_there = total.get("CPU", 0), total.get("GPU", 0)
        gpus = self.gpus_per_cell if self.gpus_per_cell is not None else (1.0 if gpus_there >= 1 else 0.0)
        if self.cpus_per_cell > cpus:
            raise InputError(f"--cpus-per-cell {self.cpus_per_cell}: the Ray cluster has "
                             f"{cpus:g} CPUs; no cell could start")
        if gpus > gpus_there:
            raise InputError(f"--gpus-per-cell {gpus:g}: the Ray cluster has {gpus_there:g} "
                             "GPUs; no cell that runs a model could start")
        return self.cpus_per_cell, gpus

    def _execute(self, ray, specs: Sequence[Any], arts: Mapping[int, Artifacts], env: Env) -> list[str]:
        from prmlab import outdir

        cpus, gpus = self._resources(ray)
        prepared = outdir.read_manifest(env.out) is not None
        tasks = {b: CellTask(out=str(env.out), base=str(art.base), policy=str(art.policy),
                             policy_init=str(art.policy_init), data_folder=str(art.data_folder),
                             bootstrap_resamples=env.bootstrap_resamples, cwd=os.getcwd(),
                             argv=tuple(sys.argv), threads=cpus, prepared_out=prepared)
                 for b, art in arts.items()}
        remote = ray.remote(_run_cell_task)
        env.ui.start_cells(len(specs))
        done = {s.id for s in specs if is_done(env.out, s.id)}
        for _ in done:
            env.ui.advance()
        pending = [s for s in specs if s.id not in done]
        planned = {s.id for s in pending}
        for s in pending:
            lost = [d for d in s.deps if d not in done and d not in planned]
            if lost:
                raise InputError(f"cell {s.id} needs the finished cell {lost[0]}")
        env.ui.log(f"ray: {len(pending)} cells to run ({len(done)} finished before), each on "
                   f"{cpus} CPU{'s' if cpus > 1 else ''}"
                   + (f" and {gpus:g} GPU if it runs a model" if gpus else "")
                   + f"; cluster {_cluster(ray)}")
        running: dict[Any, Any] = {}
        ran: set[str] = set()
        failure: Exception | None = None
        try:
            while pending or running:
                if failure is None:
                    busy = {_shared_output(s) for s in running.values()} - {None}
                    for s in [s for s in pending if all(d in done for d in s.deps)]:
                        if _shared_output(s) in busy:
                            continue
                        busy |= {_shared_output(s)} - {None}
                        ref = remote.options(num_cpus=cpus, num_gpus=gpus if s.runs_model else 0,
                                             name=f"cell {s.id}").remote(s, tasks[s.base])
                        running[ref] = s
                        pending.remove(s)
                elif not running:
                    break
                if not running:
                    raise InputError(f"cell {pending[0].id} can never start: it waits for "
                                     f"{[d for d in pending[0].deps if d not in done]}")
                (ref,), _ = ray.wait(list(running), num_returns=1)
                spec = running.pop(ref)
                try:
                    result = _result(ray, ref)
                except Exception as e:  # noqa: BLE001 - re-raised once the running cells end
                    if failure is None:
                        failure = e
                        if running:
                            env.ui.log(f"ray: cell {spec.id} failed; waiting for the "
                                       f"{len(running)} running cells to finish (Ctrl-C stops "
                                       "them now; finished cells are kept)")
                    continue
                if not is_done(env.out, spec.id):
                    raise InputError(f"the Ray worker on {result['node']} finished cell {spec.id} "
                                     f"but its cell.json is not in {env.out} here: {SHARED}")
                done.add(spec.id)
                ran.add(spec.id)
                env.ui.log(f"cell {spec.id}: finished in {result['seconds']:.0f}s on "
                           f"{result['node']} ({len(running)} submitted to Ray, {len(pending)} not "
                           "yet)")
                env.ui.advance()
        finally:
            for ref in running:  # an interruption or an error: the cluster may outlive us
                ray.cancel(ref, force=True)
        if failure is not None:
            raise failure
        return [s.id for s in specs if s.id in ran]


def _shared_output(spec: Any) -> str | None:
    """Rollout labels several label-free cells read (derived by whichever runs first)."""
    return getattr(spec, "labels_name", None)


def _cluster(ray) -> str:
    total = ray.cluster_resources()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return (f"{nodes} node{'s' if nodes != 1 else ''}, {total.get('CPU', 0):g} CPUs, "
            f"{total.get('GPU', 0):g} GPUs")


def _result(ray, ref) -> dict:
    """The task's result; a user's error from the worker as the same one-line error here."""
    out = ray.get(ref)
    if "error" in out:
        cls = {"input": InputError, "os": OSError}[out["error"]]
        if cls is OSError:
            raise OSError(out["errno"], out["message"], out["path"])
        raise InputError(out["message"])
    return out


_datasets: dict[str, DataSets] = {}  # per worker process: the data folder is content-addressed


def _load_datasets(folder: Path) -> DataSets:
    key = str(folder.resolve())
    if key not in _datasets:
        _datasets[key] = read_datasets(folder)
    return _datasets[key]


def _check_visible(task: CellTask) -> None:
    host = socket.gethostname()
    needed = [(Path(task.out) / "config.json", "the run folder"),
              (Path(task.data_folder) / "summary.json", "the cache's data sets"),
              (Path(task.base) / "prmlab.json", "the cache's base"),
              (Path(task.policy) / "prmlab.json", "the cache's policy")]
    for path, what in needed:
        if not path.exists():
            raise InputError(f"a Ray worker on {host} cannot see {what} ({path}): {SHARED}")


def _run_cell_task(spec: Any, task: CellTask) -> dict:
    """One cell in a Ray worker; returns its node and seconds, or the user's error it met."""
    import torch

    from prmlab import outdir

    t0 = time.time()
    old_cwd, old_argv, old_threads = os.getcwd(), sys.argv, torch.get_num_threads()
    try:
        if os.path.isdir(task.cwd):
            os.chdir(task.cwd)
        sys.argv = list(task.argv)
        torch.set_num_threads(task.threads)
        _check_visible(task)
        with outdir.command():
            if task.prepared_out:
                outdir.prepare_out(task.out, worker=True)  # the driver holds its lock
            art = Artifacts(Path(task.base), Path(task.policy), Path(task.policy_init),
                            _load_datasets(Path(task.data_folder)), Path(task.data_folder))
            run_cell(spec, art, Env(Path(task.out), WorkerUI(spec.id), task.bootstrap_resamples))
    except InputError as e:
        return {"error": "input", "message": str(e)}
    except OSError as e:
        return {"error": "os", "errno": e.errno, "message": e.strerror or str(e),
                "path": e.filename}
    finally:
        os.chdir(old_cwd)
        sys.argv = old_argv
        torch.set_num_threads(old_threads)
    return {"node": socket.gethostname(), "seconds": time.time() - t0}


class WorkerUI:
    """A cell's progress inside a worker: plain lines, prefixed by the cell's id (Ray forwards a
    worker's output to the driver's terminal), a training stage at most every `every` seconds."""

    def __init__(self, cell_id: str, every: float = 30.0):
        self.cell_id, self.every = cell_id, every

    def log(self, msg: str) -> None:
        print(f"[{self.cell_id}] {msg}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def steps(self, desc: str):
        last = 0.0

        def update(step: int, total: int, row: dict) -> None:
            nonlocal last
            if time.time() - last >= self.every or step == total:
                last = time.time()
                self.log(f"{desc}: step {step}/{total}, loss {row['loss']:.3f}"
                         + (f", dev F1 {row['dev']:.3f}" if "dev" in row else ""))
        yield update

    @contextlib.contextmanager
    def phase(self, desc: str):
        t0 = time.time()
        yield
        self.log(f"{desc}: {time.time() - t0:.0f}s")

    def start_cells(self, total: int) -> None:
        pass

    def advance(self) -> None:
        pass
