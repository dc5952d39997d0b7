"""One batch task: ``run`` + ``evaluate`` of one bag, and finding the bags of a batch.

Kept free of heavy imports at module level: a pool or Ray worker imports this module to unpickle
the task, and a pool worker can then set its thread count before numpy and torch load (a Ray
worker has numpy loaded already; torch's threads are set directly, see :func:`_limit_threads`).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
MAX_WARNINGS = 20


class BatchError(ValueError):
    """Bad batch input (no bags, a name clash)."""


def is_bag(path: Path) -> bool:
    """A rosbag2 directory (``metadata.yaml`` inside)."""
    return path.is_dir() and (path / "metadata.yaml").is_file()


def find_bags(spec: str) -> list[Path]:
    """Bags named by ``spec``: a bag directory, a directory whose sub-directories are bags, or a glob
    (quoted, so the shell leaves it to us). Sorted by path; raises when none is found."""
    p = Path(spec)
    if p.is_dir():
        bags = [p] if is_bag(p) else sorted(c for c in p.iterdir() if is_bag(c))
    else:
        bags = sorted(Path(x) for x in glob.glob(spec) if is_bag(Path(x)))
    if not bags:
        raise BatchError(f"--bags {spec!r}: no rosbag2 directory (with metadata.yaml) found")
    names = [b.name for b in bags]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise BatchError(f"--bags {spec!r}: several bags are named {dup}; outputs are named by bag")
    return bags


class _Collect(logging.Handler):
    """Keeps a task's warnings for its JSON instead of letting them interleave on the terminal."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.lines) < MAX_WARNINGS:
            self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


def _limit_threads(threads: int) -> None:
    """One task per core: numpy/torch must not each start a thread per core on top."""
    for k in THREAD_ENV:
        os.environ.setdefault(k, str(threads))
    os.environ.setdefault("SENSOR_FUSION_PROGRESS", "off")
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def run_one(
    bag: str,
    out_dir: str,
    config: str | None = None,
    detector: str | None = None,
    keep_tracks: bool = True,
    threads: int = 1,
) -> dict:
    """Run the pipeline over ``bag`` (as ``sensor-fusion run``), score it (as ``evaluate``) and return
    one JSON-ready record. The output bag goes to ``<out_dir>/tracks/<bag name>`` (replaced if a
    failed attempt left one). Raises on failure: the caller retries and reports."""
    _limit_threads(threads)
    from ..bag.offline import run_bag
    from ..config import default_share_dir, from_flat, load_params_file, resolve_calibration_path
    from ..core.calibration import load_calibration
    from ..eval.bags import evaluate_bags
    from ..sim.recorder import calibration_from_bag, scenario_from_bag

    t0, cpu0 = time.perf_counter(), time.process_time()
    bag_p = Path(bag)
    tracks = Path(out_dir) / "tracks" / bag_p.name
    if tracks.exists():
        shutil.rmtree(tracks)
    tracks.parent.mkdir(parents=True, exist_ok=True)
    handler = _Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        # the same set-up as ``sensor-fusion run`` (cli.cmd_run)
        cfg_path = Path(config) if config else default_share_dir() / "config" / "fusion.yaml"
        overrides = {"detection_mode": detector} if detector else {}
        cfg = from_flat({**load_params_file(cfg_path), **overrides})
        scenario = scenario_from_bag(bag_p)
        if scenario is not None and not cfg.ego.has_datum:
            d = scenario["config"]["gps"]["datum"]  # a generated bag: put map at the world origin
            cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
        cal = calibration_from_bag(bag_p) or load_calibration(resolve_calibration_path(cfg))
        summary = run_bag(bag_p, cfg, cal, tracks)
        t_run = time.perf_counter() - t0
        metrics = evaluate_bags(bag_p, tracks)
    finally:
        root.removeHandler(handler)
    if not keep_tracks:
        shutil.rmtree(tracks, ignore_errors=True)
    record = {
        "bag": bag_p.name,
        "path": str(bag_p.resolve()),
        "status": "ok",
        "metrics": metrics,
        "run": {
            "frames": summary.frames,
            "messages": summary.messages,
            "decode_errors": dict(summary.decode_errors),
            "run_s": t_run,
            "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - cpu0,  # this process, all its threads: the task's real cost
            "diagnostics": summary.diagnostics,
        },
        "tracks": str(tracks.resolve()) if keep_tracks else None,
        "warnings": {"count": handler.count, "first": handler.lines},
        "worker": {"host": socket.gethostname(), "pid": os.getpid()},
    }
    return json.loads(json.dumps(record, default=_jsonable))


def _jsonable(x: object) -> object:
    try:
        return float(x)  # numpy scalars
    except (TypeError, ValueError):
        return str(x)
