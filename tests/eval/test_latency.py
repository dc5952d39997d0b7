"""eval/latency.py: latency percentiles."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.eval.latency import latency_percentiles


def test_latency_percentiles():
    r = latency_percentiles({"track": list(np.arange(1, 101) * 1e-3), "empty": []})
    assert r["track"]["p50"] == pytest.approx(50.5) and r["track"]["p99"] == pytest.approx(99.01)
    assert r["track"]["n"] == 100 and np.isnan(r["empty"]["p50"])
