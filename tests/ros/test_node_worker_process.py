"""``worker: process``: the fusion step in a child process survives that child dying.

The node (its own process, over DDS) forwards serialized sweeps to its worker process; the test
kills the worker with SIGKILL mid-stream and checks that the node logs it, starts a new one and
keeps publishing tracks, and that stopping the node leaves no worker behind.
"""

from __future__ import annotations

import os
import re
import signal
import time

import numpy as np
import pytest
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import PointCloud2

from sensor_fusion.demo import stop_process
from sensor_fusion.ros.convert import encode_cloud
from sensor_fusion.sim.boxes import MovingBox, sweep
from sensor_fusion_msgs.msg import TrackedObjectArray

BOX = MovingBox((12.0, -2.0, 0.75), (4.5, 1.8, 1.5), (2.0, 0.0))


@pytest.fixture(scope="module")
def node(start_fusion_node, repo):
    return start_fusion_node(
        {
            "worker": "process",
            "cameras": {"names": [""]},
            "radars": {"names": [""]},
            "imu": {"enabled": False},
            "gps": {"enabled": False},
            "calibration_file": str(repo / "config" / "calibration.yaml"),
        }
    )


def _worker_pids(log) -> list[int]:
    log.flush()
    log.seek(0)
    return [int(p) for p in re.findall(r"fusion worker process (\d+) up", log.read())]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_worker_process_is_restarted_and_tracks_continue(node):
    proc, log = node
    rclpy.init()
    h = Node("worker_process_harness")
    pub = h.create_publisher(PointCloud2, "/sensors/lidar/points", qos_profile_sensor_data)
    tracks: list[TrackedObjectArray] = []
    h.create_subscription(TrackedObjectArray, "/fusion_node/tracked_objects", tracks.append, 50)
    rng = np.random.default_rng(0)
    t0 = time.time_ns()
    k = 0

    def publish_for(seconds: float) -> None:
        nonlocal k
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = k / 10.0
            xyz = sweep([BOX], t, rng)
            pub.publish(
                encode_cloud(t0 + int(t * 1e9), "lidar_top", {c: xyz[:, i] for i, c in enumerate("xyz")})
            )
            k += 1
            stop = time.monotonic() + 0.1
            while time.monotonic() < stop:
                rclpy.spin_once(h, timeout_sec=0.01)

    try:
        deadline = time.monotonic() + 180  # a cold numba cache compiles at start-up
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            rclpy.spin_once(h, timeout_sec=0.1)
        assert pub.get_subscription_count() > 0, "fusion_node never subscribed"
        first = _worker_pids(log)
        assert len(first) == 1 and _alive(first[0])
        publish_for(2.0)
        before = len(tracks)
        assert before > 5, f"{before} outputs before the kill"
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 120
        while len(_worker_pids(log)) < 2 and time.monotonic() < deadline:
            publish_for(0.5)
        pids = _worker_pids(log)
        assert len(pids) == 2 and pids[1] != first[0], "no new worker process"
        n_restart = len(tracks)
        publish_for(2.0)
        assert proc.poll() is None, "fusion_node died with its worker"
        assert len(tracks) - n_restart > 5, "no tracks after the restart"
        assert any(len(m.objects) for m in tracks[n_restart:]), "the new worker tracks nothing"
        old_ids = {bytes(o.object_id.uuid) for m in tracks[:before] for o in m.objects}
        new_ids = {bytes(o.object_id.uuid) for m in tracks[n_restart:] for o in m.objects}
        assert old_ids and not old_ids & new_ids, "a UUID of the first worker named a track of the second"
    finally:
        h.destroy_node()
        rclpy.shutdown()
    stop_process(proc)
    log.seek(0)
    text = log.read()
    assert "fusion worker process died" in text and "restarting (1)" in text
    time.sleep(0.5)
    assert not _alive(pids[1]) or open(f"/proc/{pids[1]}/stat").read().split()[2] == "Z"
