"""Point layouts of real LiDAR drivers: generate -> PointCloud2 -> decode -> deskew agrees with the
project's own layout, and a misread unit is refused instead of deskewing over 50 million seconds."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.point_time import point_time_offsets
from sensor_fusion.ego.deskew import deskew_points
from sensor_fusion.ros import convert
from sensor_fusion.sim.lidar import simulate_lidar
from sensor_fusion.sim.lidar_layouts import POINT_LAYOUTS, lidar_columns
from tests.sim.common import T_BASE_LIDAR, FakeWorld, box

STAMP = 1_700_000_000_123_456_789  # an epoch stamp, so absolute layouts carry real magnitudes
CFG = {"beams": 16, "vfov_deg": [-15.0, 15.0], "azimuth_resolution_deg": 0.4, "dropout_prob": 0.0}


@pytest.fixture(scope="module")
def sweep():
    world = FakeWorld([box(3, (12.0, 2.0, 1.0), (4.5, 1.9, 1.6))], ego_velocity=(15.0, 0.0), yaw_rate=0.4)
    s = simulate_lidar(world, STAMP, T_BASE_LIDAR, CFG, np.random.default_rng(0))
    return world, s


def _pose_fn(world):
    def pose(t_ns: int) -> np.ndarray:
        e = world.ego_at(t_ns)
        c, s = np.cos(e.yaw), np.sin(e.yaw)
        T = np.eye(4)
        T[:2, :2] = [[c, -s], [s, c]]
        T[:3, 3] = e.position
        return T

    return pose


def _decoded(s, layout: str, **kw):
    msg = convert.encode_cloud(STAMP, "lidar_top", lidar_columns(s, layout))
    return msg, convert.decode_lidar(msg, **kw)[0]


@pytest.mark.parametrize("layout", POINT_LAYOUTS)
def test_every_layout_decodes_and_deskews_like_the_reference(sweep, layout):
    world, s = sweep
    _, ref = _decoded(s, "sim")
    msg, cloud = _decoded(s, layout)
    names = {f.name for f in msg.fields}
    want = {"sim": "t", "velodyne": "time", "ouster": "t", "livox": "offset_time"}.get(layout, "timestamp")
    assert want in names
    np.testing.assert_array_equal(cloud.xyz, ref.xyz)
    # ns integers and float64 epoch seconds hold the same instants to 0.5 ns / 0.25 us
    np.testing.assert_allclose(cloud.time_offset, ref.time_offset, atol=5e-7, rtol=0)
    assert cloud.time_offset.min() >= -1e-6 and cloud.time_offset.max() < 0.1
    pose = _pose_fn(world)
    target = STAMP + 50_000_000
    a = deskew_points(ref.xyz, ref.time_offset, STAMP, T_BASE_LIDAR, pose, target)
    b = deskew_points(cloud.xyz, cloud.time_offset, STAMP, T_BASE_LIDAR, pose, target)
    np.testing.assert_allclose(b, a, atol=2e-5)  # 15 m/s x 0.25 us = 4 um


def test_configured_unit_and_reference_override_detection(sweep):
    _, s = sweep
    _, ref = _decoded(s, "sim")
    _, ouster = _decoded(s, "ouster", time_field="t", time_unit="ns", time_reference="stamp")
    np.testing.assert_allclose(ouster.time_offset, ref.time_offset, atol=5e-7, rtol=0)
    _, hesai = _decoded(s, "hesai", time_field="timestamp", time_unit="s", time_reference="absolute")
    np.testing.assert_allclose(hesai.time_offset, ref.time_offset, atol=5e-7, rtol=0)


def test_an_ouster_t_read_as_seconds_is_refused_not_deskewed(sweep):
    _, s = sweep
    msg = convert.encode_cloud(STAMP, "lidar_top", lidar_columns(s, "ouster"))
    with pytest.raises(convert.DecodeError, match="not one sweep"):
        convert.decode_lidar(msg, time_field="t", time_unit="s")
    with pytest.raises(convert.DecodeError, match="time unit"):
        convert.decode_lidar(msg, time_unit="fortnights")


def test_field_choice_auto_explicit_and_none():
    pts = np.zeros(4, dtype=[("x", "<f4"), ("offset_time", "<u4"), ("time", "<f4")])
    pts["offset_time"] = [0, 1_000_000, 2_000_000, 3_000_000]
    pts["time"] = [0.0, 0.01, 0.02, 0.03]
    np.testing.assert_allclose(point_time_offsets(pts, "auto", 0), pts["time"])  # "time" before "offset_time"
    np.testing.assert_allclose(point_time_offsets(pts, "offset_time", 0), [0, 1e-3, 2e-3, 3e-3], rtol=1e-6)
    assert point_time_offsets(pts, "", 0) is None and point_time_offsets(pts, "t", 0) is None


def test_float_epoch_nanoseconds_are_detected():
    """livox_ros_driver2 writes a float64 ``timestamp`` in epoch nanoseconds."""
    pts = np.zeros(3, dtype=[("x", "<f4"), ("timestamp", "<f8")])
    pts["timestamp"] = STAMP + np.array([0, 40_000_000, 90_000_000], np.float64)
    np.testing.assert_allclose(point_time_offsets(pts, "auto", STAMP), [0.0, 0.04, 0.09], atol=1e-6)
    pts["timestamp"] = STAMP * 1e-9 + np.array([0, 0.04, 0.09])  # epoch seconds, as Hesai
    np.testing.assert_allclose(point_time_offsets(pts, "auto", STAMP), [0.0, 0.04, 0.09], atol=1e-6)
