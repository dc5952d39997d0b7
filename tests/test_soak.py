"""``sensor-fusion soak``: a short run of the real command, and the pass/fail rule."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from sensor_fusion.soak import SoakResult

SMALL = {"lidar": {"beams": 16, "azimuth_resolution_deg": 0.4}, "cameras": {"rate_hz": 5.0}}


def test_short_soak_loops_the_drive_and_reports_one_json_line(tmp_path):
    from sensor_fusion.sim.recorder import record

    ov = tmp_path / "small.yaml"
    ov.write_text(yaml.safe_dump(SMALL))
    bag = tmp_path / "drive"
    record("urban", 3, 0.6, bag, overrides_file=str(ov))  # 6 sweeps: loops even on a loaded machine
    cmd = [sys.executable, "-m", "sensor_fusion", "soak", "--minutes", "0.25", "--json", "--bag", str(bag)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, p.stdout + p.stderr
    r = json.loads(lines[0])
    keys = ["frames", "dropped", "rss_mb_after_1min", "rss_mb_end", "fds_start", "fds_end"]
    assert list(r)[:8] == [*keys, "threads_start", "threads_end"]
    assert r["passes"] >= 2, r  # looped
    assert r["time_resets"] == 0, r  # stamps shifted: one continuous drive, nothing reset
    assert r["frames"] > 0 and r["anchors_in"] == r["frames"] + r["anchor_dropped"]
    assert r["rss_mb_end"] > 50 and r["fds_start"] > 2 and r["threads_start"] >= 1
    assert p.returncode == (0 if r["ok"] else 1), p.stderr
    assert r["ok"] == (not SoakResult(**{k: r[k] for k in SoakResult.__dataclass_fields__}).failures)


def _result(**kw) -> SoakResult:
    base = dict(frames=100, anchors_in=100, rss_mb_after_1min=200.0, rss_mb_end=200.0)
    base |= dict(fds_start=7, fds_end=7, threads_start=6, threads_end=6)
    return SoakResult(**(base | kw))


def test_growth_fails_the_soak():
    assert _result().failures == []
    assert _result(rss_mb_end=209.0).failures == []  # 4.5 %
    assert "resident memory grew 6.0 %" in _result(rss_mb_end=212.0).failures[0]
    assert "file descriptors grew 7 -> 8" in _result(fds_end=8).failures[0]
    assert "threads grew 6 -> 7" in _result(threads_end=7).failures[0]
    assert "anchor messages in" in _result(anchors_in=101).failures[0]  # a frame unaccounted for
