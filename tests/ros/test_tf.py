"""REP-105 over DDS: a generated bag replayed into fusion_node (IMU + GNSS only, no detection
sensor) gives odometry and /tf (map -> odom -> base_link) at the odometry rate that agree with
each other; the replay sends /tf_static and the node takes its extrinsics from it."""

from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from nav_msgs.msg import Odometry
from rclpy.node import Node

from sensor_fusion.bag.io import read_messages
from sensor_fusion.bag.replay import BagPlayer, ReplayStats
from sensor_fusion.core.geometry import make_transform, quat_to_matrix
from sensor_fusion.core.stamps import to_ns
from sensor_fusion.demo import stop_process
from sensor_fusion.ros.node import TF_QOS, TF_STATIC_QOS
from tf2_msgs.msg import TFMessage

RATE_HZ = 30.0


def _stamp(header) -> int:
    return to_ns(header.stamp.sec, header.stamp.nanosec)


def _matrix(tr) -> np.ndarray:
    r, t = tr.rotation, tr.translation
    return make_transform(quat_to_matrix(np.array([r.x, r.y, r.z, r.w])), np.array([t.x, t.y, t.z]))


def _pose_matrix(p) -> np.ndarray:
    q, t = p.orientation, p.position
    return make_transform(quat_to_matrix(np.array([q.x, q.y, q.z, q.w])), np.array([t.x, t.y, t.z]))


class Harness(Node):
    def __init__(self):
        super().__init__("tf_harness")
        self.odom: list[Odometry] = []
        self.tf: list[TFMessage] = []
        self.tf_static: list[TFMessage] = []
        self.create_subscription(Odometry, "/fusion_node/ego_odom", self.odom.append, 100)
        self.create_subscription(TFMessage, "/tf", self.tf.append, TF_QOS)
        self.create_subscription(TFMessage, "/tf_static", self.tf_static.append, TF_STATIC_QOS)
        self.diags: list[DiagnosticArray] = []
        self.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, 50)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self, timeout_sec=0.01)


@pytest.fixture(scope="module")
def bag(fleet):
    return fleet / "urban_s1"


@pytest.mark.parametrize("worker", ["thread", "process"])
def test_replay_into_the_node_gives_tf_that_matches_the_odometry(bag, start_fusion_node, repo, worker):
    """The same with the fusion step on a worker thread and in a worker process (whose odometry
    and /tf come back to the node serialized)."""
    rclpy.init()
    h = Harness()
    player = BagPlayer(h, bag, ["/tf_static", "/sensors/imu", "/sensors/gps/fix"], publish_clock=False)
    proc = None
    try:
        # the robot's static transforms are up before the node starts (as robot_state_publisher's)
        for _t, _mt, _ts, msg in read_messages(bag, ["/tf_static"]):
            player.pubs["/tf_static"].publish(msg)
        h.spin_for(0.5)
        assert h.tf_static and h.tf_static[0].transforms, "the replayed /tf_static was not received"
        static_children = {t.child_frame_id for t in h.tf_static[0].transforms}
        assert {"lidar_top", "imu_link", "gps_link"} <= static_children
        proc, log = start_fusion_node(
            {
                "worker": worker,
                "lidar": {"enabled": False},
                "cameras": {"names": [""]},
                "radars": {"names": [""]},
                "odometry_rate_hz": RATE_HZ,
                "tf_static_wait_s": 20.0,  # ends once every frame is in: discovery under load
                "diagnostics_period_s": 0.5,
                "calibration_file": str(repo / "config" / "calibration.yaml"),
            }
        )
        deadline = time.monotonic() + 180  # a fresh clone compiles the numba kernels at start-up
        while player.pubs["/sensors/imu"].get_subscription_count() == 0 and time.monotonic() < deadline:
            h.spin_for(0.1)
            assert proc.poll() is None, "fusion_node exited during start-up"
        assert player.wait_for_subscribers(["/sensors/imu", "/sensors/gps/fix"], 5.0)
        stats = ReplayStats()
        player.play_once(stats)
        end = time.monotonic() + 10
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() < end and time.monotonic() - quiet_since < 1.5:
            h.spin_for(0.2)
            if len(h.odom) != seen:
                seen, quiet_since = len(h.odom), time.monotonic()
        assert proc.poll() is None, "fusion_node died"
    finally:
        h.destroy_node()
        rclpy.shutdown()
        if proc is not None:
            stop_process(proc)  # one node at a time: both parameters' nodes publish /tf
    log.flush()
    log.seek(0)
    text = log.read()
    assert "extrinsics from /tf_static" in text, text[-3000:]
    # diagnostics: an ego-only node is running when it outputs odometry (no frames expected)
    last = [st for d in h.diags for st in d.status if st.name.endswith(": pipeline")][-1]
    values = {kv.key: kv.value for kv in last.values}
    assert last.level == DiagnosticStatus.OK and last.message == "ego only", (last.message, values)
    assert int(values["odometry_outputs"]) >= len(h.odom)

    # odometry at the odometry rate, from the heading alignment on (urban starts at 12 m/s: < 1 s)
    stamps = np.array([_stamp(m.header) for m in h.odom])
    assert len(h.odom) >= RATE_HZ * 1.5, f"{len(h.odom)} odometry messages for a 3 s bag"
    period = int(round(1e9 / RATE_HZ))
    # on the rate's grid: whole periods apart (a tick the loaded node or DDS lost leaves two)
    gaps = np.diff(np.sort(stamps))
    ticks = np.rint(gaps / period).astype(np.int64)
    assert np.all(ticks >= 1) and np.all(np.abs(gaps - ticks * period) <= 1), (
        "odometry is off the rate's grid"
    )
    assert np.mean(ticks == 1) >= 0.9, f"{np.sum(ticks > 1)} of {len(ticks)} odometry ticks missing"
    assert {m.header.frame_id for m in h.odom} == {"map"}
    # every odometry stamp has /tf with map -> odom and odom -> base_link that compose to its pose
    by_stamp: dict[int, dict[str, object]] = {}
    for m in h.tf:
        for t in m.transforms:
            by_stamp.setdefault(_stamp(t.header), {})[f"{t.header.frame_id}->{t.child_frame_id}"] = t
    matched = 0
    for m in h.odom:
        tfs = by_stamp.get(_stamp(m.header), {})
        if "map->odom" not in tfs or "odom->base_link" not in tfs:
            continue
        matched += 1
        T = _matrix(tfs["map->odom"].transform) @ _matrix(tfs["odom->base_link"].transform)
        np.testing.assert_allclose(T, _pose_matrix(m.pose.pose), atol=1e-6)
    assert matched >= 0.95 * len(h.odom), (
        f"only {matched} of {len(h.odom)} odometry stamps had both transforms"
    )
    # odom is continuous: its steps follow the odometry's own velocity (no GNSS jumps)
    odom = [(s, t) for s in sorted(by_stamp) for k, t in by_stamp[s].items() if k == "odom->base_link"]
    odom_xy = np.array([[t.transform.translation.x, t.transform.translation.y] for _, t in odom])
    odom_ticks = np.maximum(np.rint(np.diff([s for s, _ in odom]) / period), 1.0)
    steps = np.linalg.norm(np.diff(odom_xy, axis=0), axis=1) / odom_ticks  # per odometry period
    speed = np.median([np.hypot(m.twist.twist.linear.x, m.twist.twist.linear.y) for m in h.odom])
    assert steps.max() < speed / RATE_HZ + 0.05, (steps.max(), speed)
