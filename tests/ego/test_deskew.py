"""LiDAR deskew (ego/deskew.py): an analytic sweep, and poses from the estimator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_fusion.core.geometry import invert_transform, make_transform, rpy_to_matrix, transform_points
from sensor_fusion.ego.deskew import DeskewError, deskew_points
from tests.ego.test_estimator import NS


def _sweep_world(yaw_rate: float = 0.4, speed: float = 12.0):
    """Ego moving on an arc; a 10 m wide wall 15 m ahead (x_world = 15) scanned over 0.1 s."""
    t0 = 1_000 * NS
    T_bl = make_transform(rpy_to_matrix(0.01, -0.02, 0.05), np.array([1.2, 0.1, 1.8]))

    def T_wb(stamp: int) -> np.ndarray:
        t = (stamp - t0) / NS
        yaw = yaw_rate * t
        x = speed * math.sin(yaw) / yaw_rate if yaw_rate else speed * t
        y = speed * (1 - math.cos(yaw)) / yaw_rate if yaw_rate else 0.0
        return make_transform(rpy_to_matrix(0.0, 0.0, yaw), np.array([x, y, 0.0]))

    n = 120_000
    rng = np.random.default_rng(0)
    toff = np.sort(rng.uniform(0.0, 0.1, n))
    wall = np.stack([np.full(n, 15.0), np.linspace(-5, 5, n), rng.uniform(0.0, 3.0, n)], axis=1)
    # exact: lidar pose per point
    tt = t0 + np.round(toff * NS).astype(np.int64)
    yaw = yaw_rate * (tt - t0) / NS
    xs, ys = speed * np.sin(yaw) / yaw_rate, speed * (1 - np.cos(yaw)) / yaw_rate
    R_bl, t_bl = T_bl[:3, :3], T_bl[:3, 3]
    c, s = np.cos(yaw), np.sin(yaw)
    d = wall - np.stack([xs, ys, np.zeros(n)], 1)
    base = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], 1)  # R_wb' d
    pts = (base - t_bl) @ R_bl  # R_bl' (base - t)
    t_end = t0 + int(0.1 * NS)
    expected = transform_points(invert_transform(T_wb(t_end) @ T_bl), wall)
    return pts.astype(np.float32), toff.astype(np.float32), t0, T_bl, T_wb, t_end, expected


def test_deskew_straightens_wall():
    pts, toff, t0, T_bl, T_wb, t_end, expected = _sweep_world()
    raw_err = np.linalg.norm(pts - expected, axis=1).max()
    out = deskew_points(pts, toff, t0, T_bl, T_wb, t_end, num_knots=16)
    assert out.dtype == np.float32 and out.shape == pts.shape
    err = np.linalg.norm(out - expected, axis=1)
    # the wall is a plane again: fit in the world frame at t_end
    w = transform_points(T_wb(t_end) @ T_bl, out.astype(np.float64))
    print(
        f"deskew: raw max error {raw_err:.3f} m -> {err.max() * 100:.3f} cm; "
        f"wall flatness {np.ptp(w[:, 0]) * 100:.3f} cm"
    )
    assert raw_err > 0.5  # the test would fail without deskewing
    assert err.max() < 0.02
    assert np.ptp(w[:, 0]) < 0.02
    # No per-point times: rigid transform to the target.
    same = deskew_points(pts[:10], None, t_end, T_bl, T_wb, t_end)
    np.testing.assert_allclose(same, pts[:10], atol=1e-5)
    with pytest.raises(DeskewError):
        deskew_points(pts, toff, t0, T_bl, lambda t: None, t_end)


def test_deskew_with_estimator_poses(drive, drive_run):
    est = drive_run.est
    i_end = len(drive.imu) - 5
    t_end = drive.imu[i_end].stamp_ns
    t0 = t_end - NS // 10
    T_bl = make_transform(rpy_to_matrix(0.0, 0.0, 0.0), np.array([1.0, 0.0, 1.8]))
    n = 2000
    toff = np.linspace(0.0, 0.1, n)
    tt = t0 + np.round(toff * NS).astype(np.int64)
    # truth poses from the simulation (interpolated linearly on the 10 ms grid)
    ts = np.array([s.stamp_ns for s in drive.imu])

    def T_true(t: int) -> np.ndarray:
        k = int(np.searchsorted(ts, t))
        f = (t - ts[k - 1]) / (ts[k] - ts[k - 1]) if ts[k] != t else 1.0
        k0 = k - 1 if ts[k] != t else k
        p = drive.pos[k0] + f * (drive.pos[k] - drive.pos[k0])
        y = drive.yaw[k0] + f * (drive.yaw[k] - drive.yaw[k0])
        return make_transform(rpy_to_matrix(0, 0, y), p)

    T_end = T_true(t_end)
    wall = transform_points(T_end, np.stack([np.full(n, 15.0), np.linspace(-5, 5, n), np.ones(n)], 1))
    pts = np.stack(
        [
            transform_points(invert_transform(T_true(int(t)) @ T_bl), wall[k : k + 1])[0]
            for k, t in enumerate(tt)
        ]
    )
    expected = transform_points(invert_transform(T_end @ T_bl), wall)
    out = deskew_points(pts.astype(np.float32), toff.astype(np.float32), t0, T_bl, est.T_world_base_at, t_end)
    err = np.linalg.norm(out - expected, axis=1).max()
    print(f"deskew with estimated poses: max error {err * 100:.2f} cm")
    assert err < 0.02
