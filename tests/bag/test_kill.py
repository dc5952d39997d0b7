"""A recording command killed mid-run leaves a readable bag: SIGINT and SIGTERM close it properly
(rosbags reads it as is); after SIGKILL everything up to the last flushed chunk is recovered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from rosbags.rosbag2 import Reader

from sensor_fusion.bag import recover
from sensor_fusion.bag.io import FLUSH_INTERVAL_S, bag_topics, read_messages

SMALL = {"lidar": {"beams": 16, "azimuth_resolution_deg": 0.4}, "cameras": {"rate_hz": 5.0}}


def _mcap(bag) -> int:
    files = list(bag.glob("*.mcap"))
    return files[0].stat().st_size if files else 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_killed_simulate_leaves_a_readable_bag(tmp_path, sig):
    overrides = tmp_path / "small.yaml"
    overrides.write_text(yaml.safe_dump(SMALL))
    bag = tmp_path / "rec"
    cmd = [sys.executable, "-m", "sensor_fusion", "simulate", "--duration", "120", "--out", str(bag)]
    proc = subprocess.Popen(
        [*cmd, "--config", str(overrides)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a test run started in the background (`make test &`) ignores SIGINT, and a child inherits
        # that: give the recorder the default disposition, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 180
        while _mcap(bag) < 600_000:  # a few chunks written
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the recorder wrote nothing"
            time.sleep(0.2)
        on_disk = _mcap(bag)
        time.sleep(1.5 * FLUSH_INTERVAL_S)  # what was on disk then is in closed chunks by now
        os.kill(proc.pid, sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        assert not (bag / "metadata.yaml").exists()
        rec = recover.scan(next(bag.glob("*.mcap")))
        assert rec.good_bytes >= on_disk, "data flushed before the kill was lost"
    else:
        assert proc.returncode == 128 + sig, err
        assert f"interrupted by {sig.name}" in err.splitlines()[-1]
        assert "Traceback" not in err
        with Reader(bag) as r:  # closed properly: summary, index and metadata.yaml
            assert r.message_count > 0
        assert _mcap(bag) >= on_disk
    topics = bag_topics(bag)
    n = sum(c for _t, c in topics.values())
    assert topics["/sensors/lidar/points"][1] >= 1 and n > 10
    read = sum(1 for _ in read_messages(bag, ["/sensors/imu", "/sensors/lidar/points"]))
    assert read == topics["/sensors/imu"][1] + topics["/sensors/lidar/points"][1]
