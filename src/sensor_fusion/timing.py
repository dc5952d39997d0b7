"""Per-stage timing: each frame's record plus rolling windows for diagnostics."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from contextlib import contextmanager

import numpy as np


class StageTimer:
    """Collects seconds per stage for the current frame (``record``) and a rolling history."""

    def __init__(self, window: int = 200):
        self.record: dict[str, float] = {}
        self.history: dict[str, deque] = defaultdict(lambda: deque(maxlen=window))
        self._lock = threading.Lock()  # the node's diagnostics timer reads while the worker writes

    def start_frame(self) -> None:
        self.record = {}

    @contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        self.record[name] = self.record.get(name, 0.0) + seconds

    def observe(self, name: str, seconds: float) -> None:
        """Time of work outside the frames (the ego filter's feeding): history only."""
        with self._lock:
            self.history[name].append(seconds)

    def end_frame(self) -> dict[str, float]:
        with self._lock:
            for k, v in self.record.items():
                self.history[k].append(v)
        return dict(self.record)

    def summary_ms(self) -> dict[str, tuple[float, float]]:
        """Stage -> (median, p99) in milliseconds over the window."""
        out = {}
        with self._lock:
            items = [(k, list(h)) for k, h in self.history.items()]
        for k, h in items:
            if h:
                a = np.fromiter(h, dtype=np.float64) * 1e3
                out[k] = (float(np.median(a)), float(np.percentile(a, 99)))
        return out
