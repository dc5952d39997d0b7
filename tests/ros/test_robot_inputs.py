"""Wheel odometry (nav_msgs/Odometry) and GNSS velocity (TwistWithCovarianceStamped) inputs:
decoding with absent/NaN covariances, the node's and the offline runner's topic map, and the
pipeline feeding them to the ego filter (a slow robot aligns from the wheel track)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from geometry_msgs.msg import TwistWithCovarianceStamped
from nav_msgs.msg import Odometry

from sensor_fusion.config import from_flat
from sensor_fusion.core.calibration import Calibration
from sensor_fusion.core.types import PointCloud, WheelOdometry
from sensor_fusion.pipeline import FusionPipeline
from sensor_fusion.ros import convert
from sensor_fusion.ros.inputs import input_specs
from tests.ego.robot_sim import T_BASE_GPS, T_BASE_IMU, robot_config, simulate


def _odom(vx: float, cov_diag=(0.01, 0.01, 0.0)) -> Odometry:
    m = Odometry()
    m.header.stamp.sec, m.header.stamp.nanosec = 5, 100
    m.child_frame_id = "base_link"
    m.twist.twist.linear.x = vx
    m.twist.twist.angular.z = 0.3
    cov = np.zeros(36)
    cov[[0, 7, 14]] = cov_diag
    m.twist.covariance = cov.tolist()
    return m


def test_decode_wheel_odometry_and_missing_covariance():
    w = convert.decode_wheel_odometry(_odom(1.2))
    assert w.stamp_ns == 5_000_000_100 and w.frame_id == "base_link"
    np.testing.assert_allclose(w.velocity, [1.2, 0.0, 0.0])
    np.testing.assert_allclose(np.diag(w.covariance), [0.01, 0.01, 0.0])
    assert np.isnan(convert.decode_wheel_odometry(_odom(1.0, (0.0, 0.0, 0.0))).covariance).all()
    bad = _odom(1.0)
    bad.twist.covariance = [math.nan] * 36
    assert np.isnan(convert.decode_wheel_odometry(bad).covariance).all()
    with pytest.raises(convert.DecodeError):
        convert.decode_wheel_odometry(_odom(math.nan))


def test_decode_gnss_velocity():
    m = TwistWithCovarianceStamped()
    m.header.frame_id = "gps_link"
    m.twist.twist.linear.x, m.twist.twist.linear.y = 0.6, -0.8
    g = convert.decode_gnss_velocity(m)
    np.testing.assert_allclose(g.velocity, [0.6, -0.8, 0.0])
    assert np.isnan(g.covariance).all()  # all-zero covariance: unknown
    m.twist.twist.linear.y = math.inf
    with pytest.raises(convert.DecodeError):
        convert.decode_gnss_velocity(m)


def test_topics_in_the_input_map_only_when_enabled():
    base = {"cameras.names": [""], "radars.names": [""]}
    assert not {"wheel_odom", "gps_velocity"} & {s.sensor for s in input_specs(from_flat(base))}
    cfg = from_flat(
        {**base, "wheel_odom.enabled": True, "gps_velocity.enabled": True, "wheel_odom.topic": "/odom"}
    )
    specs = {s.sensor: s for s in input_specs(cfg)}
    assert specs["wheel_odom"].topic == "/odom" and specs["wheel_odom"].msg_class is Odometry
    assert specs["gps_velocity"].msg_class is TwistWithCovarianceStamped


def test_pipeline_feeds_wheel_odometry_to_the_ego_filter():
    """A 1 m/s robot through the pipeline (LiDAR frames as the anchor): the wheel samples reach
    the filter, and the heading is known within 12 s of motion."""
    sim = simulate(18.0, "yard", seed=11)
    ego = robot_config()
    flat = {f"ego.{k}": getattr(ego, k) for k in ego.__dataclass_fields__}
    cfg = from_flat({"cameras.names": [""], "radars.names": [""], "wheel_odom.enabled": True, **flat})
    cal = Calibration(frames={"imu_link": ("base_link", T_BASE_IMU), "gps_link": ("base_link", T_BASE_GPS)})
    pipe = FusionPipeline(cfg, cal)
    items = [(s.stamp_ns, "imu", s) for s in sim.imu]
    items += [(f.stamp_ns, "gps", f) for f in sim.gps]
    items += [(t, "wheel_odom", WheelOdometry(t, "base_link", v, np.zeros(3), c)) for t, v, c in sim.wheel]
    items += [
        (int(t), "lidar", PointCloud(int(t), "base_link", np.zeros((8, 3), np.float32)))
        for t in sim.stamps[::3]
    ]
    outs = []
    for _, sensor, item in sorted(items, key=lambda x: (x[0], x[1] != "lidar")):
        pipe.push(sensor, item)
        outs += pipe.step()
    outs += pipe.flush()
    counters = pipe.diagnostics()["ego"]
    assert counters["wheel_accepted"] > 100 and counters["yaw_aligned_track"] == 1
    first = next(o.stamp_ns for o in outs if o.ego is not None)
    assert (first - int(sim.stamps[0])) / 1e9 < 3.0 + 12.0
    last = outs[-1].ego
    assert abs(math.remainder(last.yaw - sim.yaw[-1], 2 * math.pi)) < math.radians(6.0)


def test_gnss_stamps_a_driver_puts_at_reception_are_moved_back():
    """``gps.stamp_latency_s`` / ``gps_velocity.stamp_latency_s``: drivers that stamp a solution at
    reception put it 0.05-0.2 s after its time of validity; the decoders take that off."""
    from sensor_msgs.msg import NavSatFix

    fix = NavSatFix(latitude=48.1, longitude=11.5, altitude=520.0)
    fix.header.stamp.sec = 10
    fix.position_covariance = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 4.0]
    fix.position_covariance_type = NavSatFix.COVARIANCE_TYPE_KNOWN
    vel = TwistWithCovarianceStamped()
    vel.header.stamp.sec = 10
    base = {"cameras.names": [""], "radars.names": [""], "gps_velocity.enabled": True}
    for late, want in ((0.0, 10_000_000_000), (0.15, 9_850_000_000)):
        cfg = from_flat({**base, "gps.stamp_latency_s": late, "gps_velocity.stamp_latency_s": late})
        specs = {s.sensor: s for s in input_specs(cfg)}
        assert specs["gps"].decode(fix).stamp_ns == want
        assert specs["gps_velocity"].decode(vel).stamp_ns == want
        assert specs["gps"].decode(fix).latitude == 48.1
