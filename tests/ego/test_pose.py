"""The estimator's output (ego/pose.py): a pose from the state, extrapolated, or between two
snapshots, and the transform fast path that must agree with it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_fusion.ego.pose import pose_between, pose_of, transform_between
from tests.ego.test_state import make_state

GYRO_ND = 1e-3
STEP = 10_000_000


def pair(yaw_rate: float = 0.5, speed: float = 10.0):
    """Snapshots 10 ms apart driving straight along x while turning at ``yaw_rate``."""
    P = np.diag(np.arange(1.0, 16.0)) * 1e-3
    a = make_state(v=(speed, 0.0, 0.0), rpy=(0.0, 0.0, 0.2), w=(0.0, 0.0, yaw_rate), P=P)
    b = make_state(
        t_ns=a.t_ns + STEP,
        p=a.p + a.v * 0.01,
        v=(speed, 0.0, 0.0),
        rpy=(0.0, 0.0, 0.2 + yaw_rate * 0.01),
        w=(0.0, 0.0, yaw_rate),
        P=2.0 * P,
    )
    return a, b


def test_pose_of_the_state():
    s, _ = pair()
    pose = pose_of(s, GYRO_ND)
    assert pose.stamp_ns == s.t_ns
    np.testing.assert_array_equal(pose.position, s.p)
    assert pose.position is not s.p  # a copy
    assert pose.yaw == pytest.approx(0.2)
    # level attitude: the pose yaw variance is the global yaw error's, position as in P
    assert pose.pose_cov[5, 5] == pytest.approx(s.P[8, 8]) and pose.pose_cov[0, 0] == s.P[0, 0]
    assert pose.twist_cov[5, 5] == pytest.approx(s.P[14, 14] + GYRO_ND**2 / s.dt_s)
    np.testing.assert_allclose(pose.angular_velocity, s.w_meas - s.bg)


def test_pose_of_extrapolates_at_constant_velocity_and_rate():
    s, _ = pair(yaw_rate=0.5)
    pose = pose_of(s, GYRO_ND, s.t_ns + 20_000_000)
    assert pose.stamp_ns == s.t_ns + 20_000_000
    np.testing.assert_allclose(pose.position, s.p + s.v * 0.02, atol=1e-12)
    assert pose.yaw == pytest.approx(0.2 + 0.5 * 0.02, abs=1e-12)


def test_pose_between_snapshots():
    """Midway: Hermite position (straight line at constant velocity), half the rotation,
    the earlier snapshot's covariances; the transform fast path is the same pose."""
    a, b = pair(yaw_rate=0.5)
    t = a.t_ns + STEP // 2
    pose = pose_between(a, b, t, GYRO_ND)
    np.testing.assert_allclose(pose.position, a.p + a.v * 0.005, atol=1e-12)
    assert pose.yaw == pytest.approx(0.2 + 0.5 * 0.005, abs=1e-12)
    np.testing.assert_array_equal(pose.pose_cov, pose_of(a, GYRO_ND).pose_cov)
    np.testing.assert_allclose(transform_between(a, b, t), pose.T_world_base(), atol=1e-12)
    # at the ends: the snapshots themselves
    np.testing.assert_allclose(pose_between(a, b, b.t_ns, GYRO_ND).position, b.p, atol=1e-12)
    np.testing.assert_allclose(
        transform_between(a, None, a.t_ns), pose_of(a, GYRO_ND).T_world_base(), atol=1e-15
    )
    # a Hermite curve through a turn: not the straight chord
    a, b = pair(yaw_rate=0.5)
    b.v = np.array([10.0 * math.cos(0.5), 10.0 * math.sin(0.5), 0.0])
    mid = pose_between(a, b, t, GYRO_ND).position
    assert abs(mid[1] - 0.5 * (a.p[1] + b.p[1])) > 1e-4
