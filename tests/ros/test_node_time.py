"""fusion_node over DDS when time misbehaves: sweeps of moving boxes for 2 s, the same 2 s again
(a bag loop), then 2 s an hour later (a clock jump). The node keeps publishing tracks after
each jump and counts one backward and one forward jump in /diagnostics."""

from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy

from sensor_fusion.ros.convert import encode_cloud
from sensor_fusion.sim.boxes import sweep
from tests.ros.test_node import BOXES, RATE_HZ, Harness

HOUR_NS = 3600 * 10**9


@pytest.fixture(scope="module")
def node_process(start_fusion_node, repo):
    return start_fusion_node(
        {
            "cameras": {"names": [""]},
            "radars": {"names": [""]},
            "imu": {"enabled": False},
            "gps": {"enabled": False},
            "diagnostics_period_s": 0.5,
            "calibration_file": str(repo / "config" / "calibration.yaml"),
        }
    )


def _pipeline_values(h: Harness) -> dict[str, str]:
    for arr in reversed(h.diags):
        for st in arr.status:
            if st.name.endswith(": pipeline"):
                return {kv.key: kv.value for kv in st.values}
    return {}


def test_node_resets_once_per_jump_and_keeps_publishing(node_process):
    proc, _ = node_process
    rclpy.init()
    h = Harness()
    try:
        deadline = time.monotonic() + 180  # a fresh clone compiles the numba kernels at start-up
        while h.pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            h.spin_for(0.1)
        assert h.pub.get_subscription_count() > 0, "fusion_node never subscribed to the LiDAR topic"
        rng = np.random.default_rng(0)
        t0 = time.time_ns()
        stamps_out = []
        for start in (t0, t0, t0 + HOUR_NS):  # play, loop, jump ahead
            n_before = len(h.tracks)
            for k in range(int(2 * RATE_HZ)):
                t = k / RATE_HZ
                xyz = sweep(BOXES, t, rng)
                h.pub.publish(
                    encode_cloud(
                        start + int(t * 1e9), "lidar_top", {c: xyz[:, i] for i, c in enumerate("xyz")}
                    )
                )
                h.spin_for(1.0 / RATE_HZ)
            h.spin_for(2.0)  # drain
            stamps_out.append(
                [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in h.tracks[n_before:]]
            )
        end = time.monotonic() + 10
        while time.monotonic() < end and _pipeline_values(h).get("time_jumps_forward") != "1":
            h.spin_for(0.25)
        values = _pipeline_values(h)
        assert proc.poll() is None, "fusion_node died"
    finally:
        h.destroy_node()
        rclpy.shutdown()
    for phase, (start, got) in enumerate(zip((t0, t0, t0 + HOUR_NS), stamps_out, strict=True)):
        assert len(got) >= 10, f"phase {phase}: only {len(got)} track messages"
        assert all(start <= s < start + 3 * 10**9 for s in got)
    assert values.get("time_jumps_backward") == "1" and values.get("time_jumps_forward") == "1", values
