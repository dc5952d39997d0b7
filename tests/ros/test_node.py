"""fusion_node as a separate process over DDS: synthetic sweeps in, tracks out.

Also checks that malformed clouds are dropped, counted in /diagnostics, and do
not stop the node.
"""

from __future__ import annotations

import array
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.serialization import serialize_message
from sensor_msgs.msg import PointCloud2, PointField

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.demo import stop_process
from sensor_fusion.ros.convert import encode_cloud
from sensor_fusion.sim.boxes import MovingBox, sweep
from sensor_fusion_msgs.msg import TrackedObjectArray

BOXES = [
    MovingBox((12.0, -6.0, 0.75), (4.5, 1.8, 1.5), (0.0, 3.0)),  # crossing left at 3 m/s
    MovingBox((20.0, 4.0, 0.75), (4.5, 1.8, 1.5), (-4.0, 0.0)),  # oncoming at 4 m/s
    MovingBox((-15.0, -3.5, 1.6), (9.0, 2.5, 3.2), (2.0, 0.0), int(ObjectClass.TRUCK)),
]
RATE_HZ = 10.0
DURATION_S = 4.0
POS_TOL_M = 0.5  # box-centre error of a confirmed track
VEL_TOL_MPS = 0.5  # velocity error after 2 s of tracking


@pytest.fixture(scope="module", params=["thread", "process"])
def node_process(start_fusion_node, repo, request):
    """The node with its fusion step on a worker thread, and in a worker process of its own (one at
    a time: both subscribe to the same topic and report as fusion_node)."""
    proc, log = start_fusion_node(
        {
            "worker": request.param,
            # a configured camera that never publishes: output must continue at the LiDAR rate
            "cameras": {"names": ["camera_front"]},
            "radars": {"names": [""]},
            "imu": {"enabled": False},
            "gps": {"enabled": False},
            "diagnostics_period_s": 0.5,
            "calibration_file": str(repo / "config" / "calibration.yaml"),
        }
    )
    yield proc, log
    stop_process(proc)


class Harness(Node):
    def __init__(self):
        super().__init__("integration_harness")
        self.pub = self.create_publisher(PointCloud2, "/sensors/lidar/points", qos_profile_sensor_data)
        self.tracks: list[TrackedObjectArray] = []
        self.diags: list[DiagnosticArray] = []
        self.create_subscription(TrackedObjectArray, "/fusion_node/tracked_objects", self.tracks.append, 50)
        self.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, 50)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self, timeout_sec=0.01)


def malformed_clouds(stamp_ns: int) -> list[PointCloud2]:
    """A short buffer, a field past point_step, an unknown datatype, and a cloud of NaNs."""
    good = encode_cloud(
        stamp_ns,
        "lidar_top",
        {"x": np.ones(100, np.float32), "y": np.ones(100, np.float32), "z": np.ones(100, np.float32)},
    )
    short = encode_cloud(stamp_ns, "lidar_top", {"x": np.ones(10, np.float32)})
    short.width = 1000  # claims more points than the buffer holds
    wrong_field = PointCloud2()
    wrong_field.header = good.header
    wrong_field.fields = [
        PointField(name="x", offset=0, datatype=7, count=1),
        PointField(name="y", offset=4, datatype=7, count=1),
        PointField(name="z", offset=10, datatype=8, count=1),
    ]  # 8 bytes at 10 > step 12
    wrong_field.point_step, wrong_field.width, wrong_field.height = 12, 10, 1
    wrong_field.row_step = 120
    wrong_field.data = array.array("B", bytes(120))
    bad_type = PointCloud2()
    bad_type.header = good.header
    bad_type.fields = [PointField(name="x", offset=0, datatype=42, count=1)]
    bad_type.point_step, bad_type.width, bad_type.height, bad_type.row_step = 4, 1, 1, 4
    bad_type.data = array.array("B", bytes(4))
    nan = encode_cloud(stamp_ns, "lidar_top", {k: np.full(50, np.nan, np.float32) for k in "xyz"})
    unknown_frame = encode_cloud(stamp_ns, "no_such_frame", {k: np.ones(5, np.float32) for k in "xyz"})
    return [short, wrong_field, bad_type, nan, unknown_frame]


def test_node_tracks_moving_boxes_and_survives_malformed_input(node_process):
    proc, log = node_process
    rclpy.init()
    h = Harness()
    try:
        # wait for discovery of the node's subscription
        deadline = time.monotonic() + 180  # a fresh clone compiles the numba kernels at start-up
        while h.pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            h.spin_for(0.1)
        assert proc.poll() is None, "fusion_node exited during start-up"
        assert h.pub.get_subscription_count() > 0, "fusion_node never subscribed to the LiDAR topic"
        rng = np.random.default_rng(0)
        t0_ns = time.time_ns()
        n = int(DURATION_S * RATE_HZ)
        for k in range(n):
            t = k / RATE_HZ
            stamp = t0_ns + int(t * 1e9)
            xyz = sweep(BOXES, t, rng)
            msg = encode_cloud(stamp, "lidar_top", {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]})
            h.pub.publish(msg)
            if k == n // 2:
                for bad in malformed_clouds(stamp + 1000):
                    h.pub.publish(bad)
                # bytes no writer produces, read by the raw subscription (ros/cdr.py): a cut
                # serialized cloud and a header whose frame_id length lies
                wire = serialize_message(msg)
                h.pub.publish(wire[: len(wire) // 2])
                h.pub.publish(wire[:12] + b"\xff\xff\xff\x7f" + wire[16:])
            h.spin_for(1.0 / RATE_HZ)
        # let the node drain its queue: stop once no output arrived for 2 s (at most 30 s)
        end = time.monotonic() + 30
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() < end and time.monotonic() - quiet_since < 2.0:
            h.spin_for(0.2)
            if len(h.tracks) != seen:
                seen, quiet_since = len(h.tracks), time.monotonic()
        assert proc.poll() is None, "fusion_node died"
    finally:
        h.destroy_node()
        rclpy.shutdown()

    assert len(h.tracks) >= n * 0.6, f"only {len(h.tracks)} TrackedObjectArray messages for {n} sweeps"
    last = next(m for m in reversed(h.tracks) if m.objects)
    assert last.header.frame_id == "base_link"  # no IMU/GPS configured: tracks stay in the base frame
    t_last = (last.header.stamp.sec * 10**9 + last.header.stamp.nanosec - t0_ns) / 1e9
    found = {}
    for obj in last.objects:
        p = obj.kinematics.pose_with_covariance.pose.position
        v = obj.kinematics.twist_with_covariance.twist.linear
        for i, b in enumerate(BOXES):
            c = b.center_at(t_last)
            # sweep() is in the sensor frame; calibration puts lidar_top at x 1.0, z 1.9 in base_link
            c_base = c + np.array([1.0, 0.0, 0.0])
            if np.hypot(p.x - c_base[0], p.y - c_base[1]) < POS_TOL_M:
                found[i] = (obj, np.hypot(v.x - b.velocity[0], v.y - b.velocity[1]))
    assert set(found) == {0, 1, 2}, f"tracked {sorted(found)} of 3 boxes at t={t_last:.1f}s"
    for i, (_obj, verr) in found.items():
        assert verr < VEL_TOL_MPS, f"box {i}: velocity error {verr:.2f} m/s"
    # ids stable over the second half: the same UUID for each box in every later message
    ids_per_box = {i: set() for i in found}
    for m in h.tracks[len(h.tracks) // 2 :]:
        ts = (m.header.stamp.sec * 10**9 + m.header.stamp.nanosec - t0_ns) / 1e9
        for obj in m.objects:
            p = obj.kinematics.pose_with_covariance.pose.position
            for i in found:
                c = BOXES[i].center_at(ts) + np.array([1.0, 0.0, 0.0])
                if np.hypot(p.x - c[0], p.y - c[1]) < POS_TOL_M:
                    ids_per_box[i].add(bytes(obj.object_id.uuid))
    for i, ids in ids_per_box.items():
        assert len(ids) == 1, f"box {i} changed id {len(ids) - 1} times"
    assert found[2][0].classification[0].label == ObjectClass.TRUCK
    # malformed messages were counted, not fatal
    lidar_status = [s for d in h.diags for s in d.status if s.name.endswith(": lidar")]
    assert lidar_status, "no lidar diagnostics"
    values = {kv.key: kv.value for kv in lidar_status[-1].values}
    assert int(values["decode_errors"]) >= 5, values  # 3 typed + 2 raw
    assert int(values.get("dropped_rejected_unknown_frame", 0)) == 1, values
    # the dead camera is named in diagnostics, and every frame says it was missing
    cam = [s for d in h.diags for s in d.status if s.name.endswith(": camera_front")][-1]
    assert cam.level == DiagnosticStatus.ERROR and "camera_front" in cam.message, cam.message
    cam_values = {kv.key: kv.value for kv in cam.values}
    assert int(cam_values["missing_in_frames"]) >= n * 0.6


def test_node_refuses_bad_parameters_with_one_clear_message(tmp_path, venv_bin):
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump({"fusion_node": {"ros__parameters": {"lidar": {"qos": "fast", "topci": "/x"}}}})
    )
    res = subprocess.run(
        [str(venv_bin / "fusion_node"), "--ros-args", "--params-file", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert res.returncode == 2, res.stderr[-2000:]
    out = res.stdout + res.stderr
    assert "lidar.qos: must be one of" in out and "lidar.topci: unknown parameter" in out
    assert "Traceback" not in out


def test_node_runs_with_the_shipped_config(repo, venv_bin):
    """What `ros2 launch` starts: every sensor configured, none publishing; diagnostics say so."""
    proc = subprocess.Popen(
        [
            str(venv_bin / "fusion_node"),
            "--ros-args",
            "--params-file",
            str(repo / "config" / "fusion.yaml"),
            "-p",
            "diagnostics_period_s:=0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
    )
    rclpy.init()
    node = rclpy.create_node("shipped_config_probe")
    diags: list[DiagnosticArray] = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    try:
        end = time.monotonic() + 180
        while (
            time.monotonic() < end
            and proc.poll() is None
            and not any(s.name.endswith(": imu") for d in diags for s in d.status)
        ):
            rclpy.spin_once(node, timeout_sec=0.2)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        alive = proc.poll() is None
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=20)[0]
    assert alive, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    names = {s.name.split(": ")[-1]: s for d in diags for s in d.status}
    for sensor in ("lidar", "camera_front", "camera_rear", "radar_front", "imu", "gps"):
        assert names[sensor].level == DiagnosticStatus.ERROR, (sensor, names[sensor].message)
