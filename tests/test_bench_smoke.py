"""The benchmarks that check their own baseline still run. CI runs no benchmark, and two had
broken unnoticed (the tracker's equal-work check, a radar private signature).

Tiny sizes; the figures go to a temporary ``SF_BENCH_OUT``, never to ``out/bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "bench, args, key",
    [
        # asserts the same confirmed ids and states as the per-track filterpy loop every frame
        (
            "bench_tracker.py",
            ["--sizes", "10", "--frames", "25", "--warmup", "5", "--repeats", "1"],
            "step_10_objects_cv_ms",
        ),
        # asserts the numba clustering gives scipy's partition
        ("bench_radar.py", ["--runs", "1", "--scans", "3"], "detect_median_ms"),
    ],
)
def test_bench_runs(bench: str, args: list[str], key: str, tmp_path: Path) -> None:
    env = {**os.environ, "SF_BENCH_OUT": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, str(REPO / "bench" / bench), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (out,) = tmp_path.glob("*.json")
    assert key in json.loads(out.read_text())
