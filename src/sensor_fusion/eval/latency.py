"""Per-stage latency percentiles from the pipeline's timing record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def latency_percentiles(samples: Mapping[str, Sequence[float]]) -> dict[str, dict[str, float]]:
    """``{stage: {"p50": ms, "p99": ms, "n": count}}`` from per-frame durations in seconds.

    Percentiles use numpy's default linear interpolation; non-finite samples are dropped
    and a stage without samples gets NaN.
    """
    out: dict[str, dict[str, float]] = {}
    for stage, values in samples.items():
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        v = v[np.isfinite(v)] * 1e3
        p50, p99 = np.percentile(v, [50, 99]) if v.size else (np.nan, np.nan)
        out[stage] = {"p50": float(p50), "p99": float(p99), "n": int(v.size)}
    return out
