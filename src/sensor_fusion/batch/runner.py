"""Spread batch tasks over a local process pool or Ray; retry each failure once; report every bag.

Both engines run the same task (a :class:`Spec`: :func:`jobs.run_one` for ``batch``, the BEV
sample maker for ``train``) and hand each finished bag to ``on_done`` as
soon as it is known, so results are written while the batch goes on. A task that raises (or whose
worker dies) is submitted once more; after a second failure the bag is reported ``failed`` with
both errors. Nothing is dropped: every bag given comes back exactly once.

- Local pool: ``concurrent.futures.ProcessPoolExecutor`` with spawned workers (no fork of a
  process that holds threads). A worker that dies breaks the pool; it is rebuilt, and every bag
  that was in flight counts one attempt.
- Ray: one ``ray.remote`` task per bag (one CPU each), gathered with ``ray.wait``. ``address``
  ``local`` starts a Ray instance on this machine (``ray.init(num_cpus=workers)``); anything else
  is passed to ``ray.init(address=...)`` (``auto``, ``HOST:6379``, ``ray://HOST:10001``). On a
  cluster every node must see the bag paths and the output directory (a shared file system) and
  have this package installed.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .jobs import run_one

MAX_ATTEMPTS = 2  # the first try and one retry


class Spec(Protocol):
    """A kind of task: the picklable module-level function and its arguments for one bag."""

    fn: Callable[..., dict]

    def args(self, bag: Path) -> tuple: ...


@dataclass
class TaskSpec:
    """What every task of a batch shares (everything but the bag): ``run`` + ``evaluate``."""

    out_dir: str
    config: str | None = None
    detector: str | None = None
    keep_tracks: bool = True
    threads: int = 1
    fn: Callable[..., dict] = run_one

    def args(self, bag: Path) -> tuple:
        return (str(bag), self.out_dir, self.config, self.detector, self.keep_tracks, self.threads)


@dataclass
class _Pending:
    bag: Path
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


def _failed(p: _Pending) -> dict:
    return {"bag": p.bag.name, "path": str(p.bag.resolve()), "status": "failed", "errors": p.errors}


def _error_text(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return "".join(lines).strip().splitlines()[-1][:2000]


def run_pool(
    bags: Sequence[Path],
    spec: Spec,
    workers: int,
    on_done: Callable[[dict], None],
    on_retry: Callable[[Path, str], None] | None = None,
) -> None:
    """Every bag through a local process pool of ``workers`` spawned processes."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    queue = [_Pending(b) for b in bags]
    while queue:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            running = {}
            for p in queue:
                p.attempts += 1
                running[pool.submit(spec.fn, *spec.args(p.bag))] = p
            queue = []
            broken = False
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    p = running.pop(fut)
                    try:
                        rec = fut.result()
                    except BrokenProcessPool as exc:  # a worker died: every bag in flight goes again
                        broken = True
                        p.errors.append(f"attempt {p.attempts}: worker died ({_error_text(exc)})")
                    except Exception as exc:
                        p.errors.append(f"attempt {p.attempts}: {_error_text(exc)}")
                    else:
                        rec["attempts"] = p.attempts
                        rec["errors"] = p.errors
                        on_done(rec)
                        continue
                    if p.attempts >= MAX_ATTEMPTS:
                        on_done(_failed(p))
                    elif broken:
                        queue.append(p)  # resubmitted on a fresh pool below
                        if on_retry:
                            on_retry(p.bag, p.errors[-1])
                    else:
                        p.attempts += 1
                        running[pool.submit(spec.fn, *spec.args(p.bag))] = p
                        if on_retry:
                            on_retry(p.bag, p.errors[-1])


def run_ray(
    bags: Sequence[Path],
    spec: Spec,
    address: str,
    workers: int,
    on_done: Callable[[dict], None],
    on_retry: Callable[[Path, str], None] | None = None,
) -> dict:
    """Every bag as a Ray task; returns what Ray reported about the cluster it ran on."""
    import ray

    local = address == "local"
    t0 = time.perf_counter()
    if local:
        info = ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    else:
        info = ray.init(address=address, log_to_driver=False)
    try:
        cluster = {
            "address": address,
            "local": local,
            "cpus": ray.cluster_resources().get("CPU"),
            "nodes": len(ray.nodes()),
            "init_s": time.perf_counter() - t0,
            "ray_version": ray.__version__,
            "dashboard_url": getattr(info, "dashboard_url", None),
        }
        # max_retries=0: the retry is ours, so that the attempts and errors can be reported
        task = ray.remote(num_cpus=1, max_retries=0)(spec.fn)
        running = {}
        for b in bags:
            p = _Pending(b, attempts=1)
            running[task.remote(*spec.args(b))] = p
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                p = running.pop(ref)
                try:
                    rec = ray.get(ref)
                except Exception as exc:  # RayTaskError (the task raised) or a lost/crashed worker
                    cause = getattr(exc, "cause", None) or exc
                    p.errors.append(f"attempt {p.attempts}: {_error_text(cause)}")
                    if p.attempts >= MAX_ATTEMPTS:
                        on_done(_failed(p))
                    else:
                        p.attempts += 1
                        running[task.remote(*spec.args(p.bag))] = p
                        if on_retry:
                            on_retry(p.bag, p.errors[-1])
                    continue
                rec["attempts"] = p.attempts
                rec["errors"] = p.errors
                on_done(rec)
    finally:
        ray.shutdown()
    return cluster
