"""The pipeline's ego glue: pose at the frame stamp, extrapolation limit, tracking frame, coasting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_fusion.config import from_flat
from sensor_fusion.core.calibration import Calibration
from sensor_fusion.core.geometry import make_transform, rpy_to_matrix, yaw_to_quat
from sensor_fusion.core.types import RadarScan
from sensor_fusion.ego.frame_ego import (
    EgoSource,
    FrameEgo,
    extrapolate,
)
from sensor_fusion.ego.pose import EgoPose
from sensor_fusion.ego.radar_velocity import ObjectBoxes, RadarEgoVelocityConfig

DEFAULTS = from_flat({})  # the shipped defaults (the schema's)
MAX_EXTRAPOLATION_NS = int(round(DEFAULTS.ego_extrapolation_max_s * 1e9))
EGO_GAP_COAST_NS = int(round(DEFAULTS.ego_gap_reset_s * 1e9))
LIMITS = dict(max_extrapolation_ns=MAX_EXTRAPOLATION_NS, gap_coast_ns=EGO_GAP_COAST_NS)

MS = 1_000_000
NS = 1_000_000_000


class FakeEstimator:
    """EgoEstimator's public API over a scripted drive: x = x0 + speed t along heading ``yaw``.

    ``known_until_ns``: the filter's newest state (None: not initialised); ``aligned``: heading
    known. Records what is fed back.
    """

    def __init__(self, x0=(100.0, 50.0), yaw: float = 0.5, speed: float = 0.0, yaw_rate: float = 0.0):
        self.x0, self.yaw, self.speed, self.yaw_rate = np.asarray(x0, float), yaw, speed, yaw_rate
        self.known_until_ns: int | None = None
        self.aligned = False
        self.imu, self.gps, self.body_velocity = [], [], []
        self.resets = 0
        self.counters = {"fake": 1}

    @property
    def yaw_aligned(self) -> bool:
        return self.aligned

    @property
    def stamp_ns(self) -> int | None:
        """The filter time (EgoSource.feed emits odometry up to it)."""
        return self.known_until_ns

    def add_imu(self, s) -> None:
        self.imu.append(s)

    def add_gps(self, g) -> None:
        self.gps.append(g)

    def add_body_velocity(self, stamp_ns, v, cov) -> bool:
        self.body_velocity.append((stamp_ns, v, cov))
        return True

    def reset(self) -> None:
        self.resets += 1
        self.known_until_ns, self.aligned = None, False

    def truth(self, t_ns: int) -> EgoPose:
        t = t_ns / NS
        yaw = self.yaw + self.yaw_rate * t
        d = np.array([math.cos(self.yaw), math.sin(self.yaw)]) * self.speed * t  # straight (test poses)
        v = np.array([math.cos(yaw), math.sin(yaw), 0.0]) * self.speed
        return EgoPose(
            t_ns,
            np.array([*(self.x0 + d), 0.0]),
            yaw_to_quat(yaw),
            v,
            np.array([0.0, 0.0, self.yaw_rate]),
            np.diag([0.04, 0.09, 0.1, 1e-4, 1e-4, 1e-3]),
            np.eye(6) * 0.01,
        )

    def pose_at(self, t_ns: int) -> EgoPose | None:
        if self.known_until_ns is None or t_ns > self.known_until_ns:
            return None
        return self.truth(t_ns)

    def latest(self) -> EgoPose | None:
        return None if self.known_until_ns is None else self.truth(self.known_until_ns)

    def T_world_base_at(self, t_ns: int) -> np.ndarray | None:
        p = self.pose_at(t_ns)
        return None if p is None else p.T_world_base()


def _source(est: FakeEstimator | None, **kw) -> EgoSource:
    return EgoSource(
        (lambda: est) if est is not None else None, "odom", "base_link", Calibration(), **{**LIMITS, **kw}
    )


def test_extrapolate_is_constant_twist_within_the_limit_either_way():
    p = FakeEstimator(yaw=0.3, speed=10.0, yaw_rate=0.2).truth(NS)
    T = extrapolate(p, NS + 200 * MS, MAX_EXTRAPOLATION_NS)
    np.testing.assert_allclose(T[:3, 3], p.position + p.velocity * 0.2)
    np.testing.assert_allclose(T[:3, :3], rpy_to_matrix(0.0, 0.0, 0.3 + 0.2 * 1.2), atol=1e-12)
    back = extrapolate(p, NS - 100 * MS, MAX_EXTRAPOLATION_NS)
    np.testing.assert_allclose(back[:3, 3], p.position - p.velocity * 0.1)
    np.testing.assert_array_equal(extrapolate(p, NS, MAX_EXTRAPOLATION_NS), p.T_world_base())
    assert extrapolate(p, NS + MAX_EXTRAPOLATION_NS, MAX_EXTRAPOLATION_NS) is not None
    assert extrapolate(p, NS + MAX_EXTRAPOLATION_NS + 1, MAX_EXTRAPOLATION_NS) is None
    assert extrapolate(p, NS - MAX_EXTRAPOLATION_NS - 1, MAX_EXTRAPOLATION_NS) is None


def test_no_filter_tracks_in_base_link():
    ego = _source(None).frame(5 * NS, [], [], "base_link")
    assert ego.frame_id == "base_link" and ego.pose is None and not ego.coast
    np.testing.assert_array_equal(ego.T_world_base, np.eye(4))
    assert ego.pos_cov_extra is None and ego.T_world_base_at(5 * NS) is None


def test_base_link_until_the_heading_is_known_then_the_fixed_frame():
    est = FakeEstimator()
    src = _source(est)
    est.known_until_ns = NS
    ego = src.frame(NS, ["imu sample"], ["gps fix"], "base_link")
    assert est.imu == ["imu sample"] and est.gps == ["gps fix"]  # the frame's samples are fed
    assert ego.frame_id == "base_link" and ego.pose is None  # a pose, but no heading yet
    est.aligned = True
    ego = src.frame(NS, [], [], "base_link")
    assert ego.frame_id == "odom" and not ego.coast and ego.pose.stamp_ns == NS
    np.testing.assert_allclose(ego.T_world_base, est.truth(NS).T_world_base())
    np.testing.assert_allclose(ego.T_base_world @ ego.T_world_base, np.eye(4), atol=1e-12)
    np.testing.assert_array_equal(ego.pos_cov_extra, [[[0.04, 0.0], [0.0, 0.09]]])


def test_a_late_filter_is_extrapolated_briefly():
    est = FakeEstimator(speed=10.0)
    src = _source(est)
    est.known_until_ns, est.aligned = NS, True
    ego = src.frame(NS + 250 * MS, [], [], "odom")
    assert ego.frame_id == "odom" and ego.pose.stamp_ns == NS + 250 * MS
    np.testing.assert_allclose(ego.pose.position, est.truth(NS + 250 * MS).position)
    # stamps the filter has not reached come from the frame pose, as far as the limit
    np.testing.assert_allclose(ego.T_world_base_at(NS + 300 * MS)[:3, 3], est.truth(NS + 300 * MS).position)
    np.testing.assert_array_equal(ego.T_world_base_at(NS), est.truth(NS).T_world_base())  # the filter's
    assert ego.T_world_base_at(NS + 250 * MS + MAX_EXTRAPOLATION_NS + 1) is None


def test_a_short_ego_gap_coasts_a_long_one_falls_back_to_base_link():
    est = FakeEstimator()
    src = _source(est)
    est.known_until_ns, est.aligned = NS, True
    assert src.frame(NS, [], [], "base_link").frame_id == "odom"
    # no pose (IMU stopped past the extrapolation limit): coast in odom for a short gap
    t = NS + MAX_EXTRAPOLATION_NS + 100 * MS
    ego = src.frame(t, [], [], "odom")
    assert ego.coast and ego.frame_id == "odom" and ego.pose is None
    ego = src.frame(NS + EGO_GAP_COAST_NS - 1, [], [], "odom")
    assert ego.coast and ego.frame_id == "odom"
    ego = src.frame(NS + EGO_GAP_COAST_NS, [], [], "odom")
    assert not ego.coast and ego.frame_id == "base_link"
    # tracks already in base_link never coast
    assert not src.frame(t, [], [], "base_link").coast


def test_a_reset_forgets_the_last_heading():
    est = FakeEstimator()
    src = _source(est)
    est.known_until_ns, est.aligned = 10 * NS, True
    src.frame(10 * NS, [], [], "base_link")
    src.reset()  # time jumped backwards
    assert est.resets == 1
    ego = src.frame(5 * NS, [], [], "odom")  # before the old stamps: no coasting on a new timeline
    assert not ego.coast and ego.frame_id == "base_link"


def _static_scan(stamp: int, v_ego: float) -> RadarScan:
    az = np.linspace(-0.6, 0.6, 25)
    xyz = np.column_stack([20 * np.cos(az), 20 * np.sin(az), np.zeros_like(az)]).astype(np.float32)
    return RadarScan(stamp, "radar", xyz, (-v_ego * np.cos(az)).astype(np.float32), np.zeros(25, np.float32))


@pytest.mark.parametrize("exclude", [True, False])
def test_radar_ego_velocity_goes_back_to_the_filter(exclude):
    est = FakeEstimator(speed=8.0)
    cal = Calibration(frames={"radar": ("base_link", make_transform(np.eye(3), np.zeros(3)))})
    cfg = RadarEgoVelocityConfig(exclude_objects=exclude)
    src = EgoSource(lambda: est, "odom", "base_link", cal, cfg, **LIMITS)
    src.add_radar_velocity([_static_scan(NS, 8.0)], None)  # filter not initialised: nothing
    assert not est.body_velocity and src.radar_velocity_none == 0
    est.known_until_ns = NS
    src.add_radar_velocity([_static_scan(NS, 8.0)], None)
    if exclude:  # no detector ran: objects cannot be told from the static world
        assert not est.body_velocity and src.radar_velocity_none == 1
    else:
        assert src.radar_velocity_used == 1
    boxes = ObjectBoxes(np.array([[50.0, 0.0]]), np.array([[4.0, 2.0]]), np.zeros(1))
    src.add_radar_velocity([_static_scan(2 * NS, 8.0)], boxes)
    stamp, v, _ = est.body_velocity[-1]
    assert stamp == 2 * NS and v[0] == pytest.approx(8.0, abs=0.05) and np.isnan(v[2])
    diag = src.diagnostics()
    assert diag["fake"] == 1 and diag["radar_velocity_scans_used"] == (1 if exclude else 2)
    assert _source(None).diagnostics() is None


def test_frame_ego_defaults():
    ego = FrameEgo(3, "base_link")
    assert ego.pose is None and not ego.coast and ego.T_world_base_at(3) is None
