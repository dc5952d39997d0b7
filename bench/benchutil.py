"""Timing shared by the bench scripts (run as ``python bench/bench_x.py``, so this folder is on sys.path)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def median_time(fn: Callable[[], object], runs: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds over ``runs`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


class Figures:
    """A bench's figures, printed as before and also written as ``out/bench/<name>.json``.

    Keys carry their unit (``..._ms``, ``..._x`` for ratios, ``..._fps``), so the file reads without
    the script; ``make bench`` ends with ``bench/summary.py``, one table of every file."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.values: dict[str, float | int | str] = {}

    def add(self, key: str, value: float | int | str) -> float | int | str:
        if isinstance(value, float | np.floating):
            value = round(float(value), 6)
        elif isinstance(value, np.integer):
            value = int(value)
        self.values[key] = value
        return value

    def write(self, out_dir: str | Path | None = None) -> Path:
        out = Path(out_dir) if out_dir else Path(os.environ.get("SF_BENCH_OUT", "out/bench"))
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "bench": self.name,
            "host_cpus": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 2),
        }
        path = out / f"{self.name}.json"
        path.write_text(json.dumps({**self.values, "_meta": meta}, indent=1) + "\n")
        print(f"figures -> {path}")
        return path
