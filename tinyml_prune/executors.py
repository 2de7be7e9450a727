"""Where independent evaluations run: local processes, or Ray (embedded or a cluster).

A sweep or search is a list of *units* (small picklable values) and one *job*: a
``setup(payload) -> state`` run once per worker process, and a ``run(state, unit) -> row``
run once per unit. The payload (model bytes and data arrays) travels once: to each local
worker at its start, or into Ray's object store, from which every worker process fetches
it once and keeps the state it built. Rows come back as units finish (in completion order),
so the caller can append each one to its resumable cache at once.

* ``local``: ``jobs <= 1`` runs in this process; more runs ``spawn`` worker processes
  (TensorFlow is not fork-safe). A worker that dies takes its pool down; the unfinished units
  go to a fresh pool, each at most ``max_retries`` more times.
* ``ray``: ``ray.init()`` with no address starts Ray embedded on this machine (``cpus``
  CPUs, no dashboard) and stops it afterwards; ``address="auto"`` or ``"HOST:PORT"`` joins a
  running cluster (``cpus`` then caps the units in flight). A unit whose worker process dies
  is re-run by Ray, at most ``max_retries`` times. Exceptions raised by the job itself are not
  retried: they are the same on every try.

The job functions must be module-level functions (Ray and ``spawn`` pickle them by name), so
every node of a cluster needs the same tinyml-prune installed.
"""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .errors import TinymlError

KINDS = ("local", "ray")


class ExecutorError(TinymlError):
    """The executor could not run the units (Ray missing, cluster unreachable, retries spent)."""


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str = "local"           # local | ray
    jobs: int = 1                 # local: worker processes (1 = this process)
    address: str | None = None    # ray: None = embedded; "auto" or HOST:PORT joins a cluster
    cpus: int | None = None       # ray: CPUs of the embedded instance / units in flight on a cluster
    max_retries: int = 3          # re-runs of a unit whose worker process died
    object_store_mb: int | None = None  # ray embedded: object store size (None: Ray's default)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ExecutorError(f"executor {self.kind!r}: use {' or '.join(KINDS)}")
        if self.max_retries < 0:
            raise ExecutorError(f"max retries {self.max_retries}: must be >= 0")
        if self.address is not None and self.kind != "ray":
            raise ExecutorError("--ray-address needs --executor ray")

    def describe(self) -> str:
        if self.kind == "local":
            return "this process" if self.jobs <= 1 else f"{self.jobs} local processes"
        where = "embedded Ray" if self.address is None else f"Ray cluster at {self.address}"
        return where + (f", {self.cpus} CPUs" if self.cpus else "")


Setup = Callable[[object], object]
Run = Callable[[object, object], dict]


def run_units(spec: ExecutorSpec, setup: Setup, run: Run, payload, units: Iterable,
              state=None) -> Iterator[tuple[object, dict]]:
    """Yield ``(unit, row)`` for every unit as it finishes.

    ``state``: an already built state for in-process runs (saves rebuilding it from the payload).
    """
    units = list(units)
    if not units:
        return
    if spec.kind == "ray":
        yield from _run_ray(spec, setup, run, payload, units)
    elif spec.jobs <= 1 or len(units) == 1:
        st = setup(payload) if state is None else state
        for u in units:
            yield u, run(st, u)
    else:
        yield from _run_pool(spec, setup, run, payload, units)


# ---------------------------------------------------------------- local processes

_LOCAL: dict = {}


def _local_init(setup: Setup, payload) -> None:
    _LOCAL["run_state"] = setup(payload)


def _local_unit(run: Run, unit) -> dict:
    return run(_LOCAL["run_state"], unit)


def _run_pool(spec, setup, run, payload, units):
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    tries = {i: 0 for i in range(len(units))}
    todo = list(range(len(units)))
    while todo:
        with ProcessPoolExecutor(max_workers=min(spec.jobs, len(todo)), mp_context=mp.get_context("spawn"),
                                 initializer=_local_init, initargs=(setup, payload)) as pool:
            futures = {pool.submit(_local_unit, run, units[i]): i for i in todo}
            todo = []
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = futures[fut]
                    try:
                        row = fut.result()
                    except BrokenProcessPool:
                        tries[i] += 1
                        if tries[i] > spec.max_retries:
                            raise ExecutorError(f"unit {units[i]!r}: its worker process died "
                                                f"{tries[i]} times (max retries {spec.max_retries})") from None
                        todo.append(i)
                        continue
                    yield units[i], row


# ---------------------------------------------------------------- Ray

_RAY_STATE: dict = {}


def _ray_unit(setup: Setup, run: Run, key: str, boxed: list, unit) -> dict:
    """One unit in a Ray worker; the state built from the payload is kept per worker process."""
    if _RAY_STATE.get("key") != key:
        import ray

        _RAY_STATE.clear()
        _RAY_STATE.update(key=key, state=setup(ray.get(boxed[0])))
    return run(_RAY_STATE["state"], unit)


def import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError("--executor ray needs Ray: pip install 'tinyml-prune[ray]' (or pip install ray)") from None
    return ray


def start_ray(spec: ExecutorSpec) -> bool:
    """Connect to (or start) Ray; True when this call started it and must shut it down."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    if spec.address is None:
        kwargs["num_cpus"] = spec.cpus or os.cpu_count() or 1
        if spec.object_store_mb:
            kwargs["object_store_memory"] = int(spec.object_store_mb) << 20
    else:
        kwargs["address"] = spec.address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = "embedded" if spec.address is None else f"at {spec.address}"
        raise ExecutorError(f"cannot start Ray {where}: {str(e).splitlines()[0]}") from None
    return True


def _run_ray(spec, setup, run, payload, units):
    ray = import_ray()
    started = start_ray(spec)
    try:
        key = uuid.uuid4().hex  # this run's payload: a worker builds its state once per run
        ref = ray.put(payload)  # once: every worker fetches it from the object store
        task = ray.remote(_ray_unit).options(num_cpus=1, max_retries=spec.max_retries, retry_exceptions=False)
        limit = len(units)
        if spec.cpus and spec.address is not None:
            limit = spec.cpus
        queue = list(range(len(units)))
        inflight: dict = {}
        while queue or inflight:
            while queue and len(inflight) < limit:
                i = queue.pop(0)
                inflight[task.remote(setup, run, key, [ref], units[i])] = i
            done, _ = ray.wait(list(inflight), num_returns=1)
            i = inflight.pop(done[0])
            try:
                row = ray.get(done[0])
            except ray.exceptions.RayTaskError as e:  # the job itself raised: same on every try
                cause = e.cause if getattr(e, "cause", None) is not None else e
                if isinstance(cause, TinymlError):
                    raise cause from None
                raise ExecutorError(f"unit {units[i]!r} failed on a Ray worker: "
                                    f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}") from None
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as e:
                raise ExecutorError(f"unit {units[i]!r}: its worker died more than {spec.max_retries} times "
                                    f"(max retries): {type(e).__name__}") from None
            yield units[i], row
    finally:
        if started:
            ray.shutdown()


# ---------------------------------------------------------------- progress

class Progress:
    """A rich progress bar over units with the remaining time (ETA); silent when disabled."""

    def __init__(self, label: str, total: int, done: int = 0, enabled: bool = True):
        self.enabled = enabled
        self.t0 = time.perf_counter()
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as _P

        self._bar = _P(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       TextColumn("{task.description}"), transient=False)
        self._bar.start()
        self._tid = self._bar.add_task("", total=total, completed=done)

    def advance(self, description: str = "") -> None:
        if self.enabled:
            self._bar.update(self._tid, advance=1, description=description)

    def grow(self, more: int, done: int = 0) -> None:
        """``more`` units were added (a search step), ``done`` of them already finished."""
        if self.enabled:
            t = self._bar.tasks[0]
            self._bar.update(self._tid, total=(t.total or 0) + more, advance=done)

    def close(self) -> None:
        if self.enabled:
            self._bar.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
