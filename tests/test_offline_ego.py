"""An IMU + GNSS bag (no LiDAR, camera or radar messages) gives odometry and /tf offline, with the
shipped config (a LiDAR configured that never publishes) and with an ego-only config."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Imu, NavSatFix

from sensor_fusion.bag.io import BagWriter, bag_topics, read_messages
from sensor_fusion.bag.offline import run_bag
from sensor_fusion.config import from_flat
from sensor_fusion.core.calibration import Calibration
from sensor_fusion.core.geometry import invert_transform, make_transform, quat_to_matrix
from sensor_fusion.core.stamps import to_ns
from sensor_fusion.ros.convert import time_msg
from tests.ego.test_estimator import DATUM, simulate

DURATION_S = 30.0


@pytest.fixture(scope="module")
def imu_gps_bag(tmp_path_factory):
    """30 s of the ego tests' S-curve drive (IMU 100 Hz in base_link axes, GNSS 5 Hz) as a bag."""
    sim = simulate(DURATION_S, "s_curve", seed=2, T_base_imu=np.eye(4))
    path = tmp_path_factory.mktemp("imu_gps") / "bag"
    with BagWriter(path) as w:
        fixes = {s.stamp_ns: s for s in sim.gps}
        for s in sim.imu:
            m = Imu()
            m.header.stamp, m.header.frame_id = time_msg(s.stamp_ns), "imu_link"
            g_ = m.angular_velocity
            g_.x, g_.y, g_.z = (float(v) for v in s.angular_velocity)
            a = m.linear_acceleration
            a.x, a.y, a.z = (float(v) for v in s.linear_acceleration)
            m.orientation_covariance[0] = -1.0  # no orientation
            w.write("/sensors/imu", m, s.stamp_ns)
            g = fixes.get(s.stamp_ns)
            if g is not None:
                f = NavSatFix()
                f.header.stamp, f.header.frame_id = time_msg(g.stamp_ns), "gps_link"
                f.latitude, f.longitude, f.altitude = g.latitude, g.longitude, g.altitude
                f.position_covariance = [float(v) for v in g.covariance.ravel()]
                f.position_covariance_type = NavSatFix.COVARIANCE_TYPE_KNOWN
                f.status.status = 0  # STATUS_FIX
                w.write("/sensors/gps/fix", f, g.stamp_ns)
    return path, sim


@pytest.mark.parametrize(
    "flat",
    [
        {},  # shipped: LiDAR, two cameras and a radar configured; none publishes
        {"lidar.enabled": False, "cameras.names": [""], "radars.names": [""]},  # ego only
    ],
    ids=["lidar_silent", "ego_only"],
)
def test_an_imu_gps_bag_yields_odometry_and_tf(imu_gps_bag, tmp_path, flat):
    bag, sim = imu_gps_bag
    cfg = from_flat({"ego.datum": list(DATUM), **flat})
    summary = run_bag(bag, cfg, Calibration(), tmp_path / "out")
    assert summary.frames == 0
    topics = bag_topics(tmp_path / "out")
    n_odom = topics["/fusion_node/ego_odom"][1]
    assert n_odom == summary.odometry and topics["/tf"][1] == n_odom
    # 30 Hz from the heading alignment (the car reaches 3 m/s at about 6 s) to the end
    assert n_odom > 30 * (DURATION_S - 12)
    odom, tf = [], []
    for topic, _mt, _t, msg in read_messages(tmp_path / "out", ["/fusion_node/ego_odom", "/tf"]):
        (odom if topic == "/fusion_node/ego_odom" else tf).append(msg)
    stamps = np.array([to_ns(m.header.stamp.sec, m.header.stamp.nanosec) for m in odom])
    assert np.all(np.diff(stamps) == 1_000_000_000 // 30)
    assert {m.header.frame_id for m in odom} == {"map"}
    # the filter follows the drive (GNSS 1.5 m noise): well within a few metres at the end
    truth_t = sim.imu[0].stamp_ns + np.round(sim.t * 1e9).astype(np.int64)
    p = odom[-1].pose.pose.position
    truth = [np.interp(stamps[-1], truth_t, sim.pos[:, k]) for k in range(2)]
    assert np.hypot(p.x - truth[0], p.y - truth[1]) < 2.0
    # map -> odom -> base_link composes to the odometry pose at every stamp
    for o, t in list(zip(odom, tf, strict=True))[::60]:
        T = {tr.child_frame_id: tr for tr in t.transforms}
        assert T["odom"].header.frame_id == "map" and T["base_link"].header.frame_id == "odom"
        M = _matrix(T["odom"]) @ _matrix(T["base_link"])
        q = o.pose.pose.orientation
        pos = o.pose.pose.position
        Tm = make_transform(quat_to_matrix(np.array([q.x, q.y, q.z, q.w])), np.array([pos.x, pos.y, pos.z]))
        np.testing.assert_allclose(invert_transform(Tm) @ M, np.eye(4), atol=1e-6)


def _matrix(tr) -> np.ndarray:
    r, t = tr.transform.rotation, tr.transform.translation
    return make_transform(quat_to_matrix(np.array([r.x, r.y, r.z, r.w])), np.array([t.x, t.y, t.z]))
