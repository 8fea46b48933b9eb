"""Where a sweep's cells run: the executors by name, and their options checked before any work.

`serial` (default) runs the cells one after another in this process; `ray` runs the cells whose
dependencies are finished as Ray tasks, on a local `ray.init()` or on an existing cluster
(`prmlab.experiments.ray_executor`). Every executor runs a cell through
`prmlab.experiments.executor.run_cell`, so its files, its record and resume do not depend on
the executor. Ray is optional (`pip install 'prmlab[ray]'`): asking for it without it installed
is a one-line error, raised here before anything is written.
"""

from __future__ import annotations

import importlib
from typing import Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prmlab.errors import InputError
from prmlab.experiments.executor import Executor, SerialExecutor


class ExecutorOptions(BaseModel):
    """What the command line says about where cells run."""

    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(None, description="ray: the address of an existing cluster "
                                "(`auto`, `HOST:6379` or `ray://HOST:10001`); none: a local ray.init()")
    cpus_per_cell: int = Field(1, ge=1, description="ray: CPUs each cell asks for (and the torch "
                               "threads it uses)")
    gpus_per_cell: float | None = Field(None, ge=0, description="ray: GPUs each cell that runs a "
                                        "model asks for (fractions share one); none: 1 where the "
                                        "cluster has GPUs, else 0")


def _serial(opts: ExecutorOptions) -> Executor:
    given = [name for name, value in (("--address", opts.address),
                                      ("--cpus-per-cell", opts.cpus_per_cell != 1 or None),
                                      ("--gpus-per-cell", opts.gpus_per_cell)) if value is not None]
    if given:
        raise InputError(f"{given[0]} is an option of --executor ray; the serial executor runs "
                         "every cell in this process")
    return SerialExecutor()


def _ray(opts: ExecutorOptions) -> Executor:
    try:
        importlib.import_module("ray")
    except ImportError:
        raise InputError("--executor ray needs Ray, which is not installed: pip install "
                         "'prmlab[ray]'") from None
    from prmlab.experiments.ray_executor import RayExecutor

    return RayExecutor(address=opts.address, cpus_per_cell=opts.cpus_per_cell,
                       gpus_per_cell=opts.gpus_per_cell)


EXECUTORS: dict[str, Callable[[ExecutorOptions], Executor]] = {"serial": _serial, "ray": _ray}


def make_executor(name: str = "serial", **options) -> Executor:
    """The executor `name` with its options (`ExecutorOptions` fields); InputError for an unknown
    name, an option the executor does not take, or a missing optional dependency."""
    if name not in EXECUTORS:
        raise InputError(f"--executor: unknown executor {name!r} (known: {', '.join(EXECUTORS)})")
    try:
        opts = ExecutorOptions(**options)
    except ValidationError as e:
        err = e.errors()[0]
        flag = "--" + str(err["loc"][0]).replace("_", "-")
        raise InputError(f"{flag}: {err['msg']}") from None
    return EXECUTORS[name](opts)
