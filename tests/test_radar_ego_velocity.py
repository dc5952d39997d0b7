"""Ego velocity from radar Doppler: RANSAC finds the static world, not the traffic."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.ego.radar_velocity import RadarEgoVelocityConfig, radar_ego_velocity


def _scan(rng, v_ego, yaw_rate, T, n_static, movers=()):
    """Returns in the radar frame (radar looks along base x) and their raw Doppler."""
    az = rng.uniform(-0.6, 0.6, n_static)
    r = rng.uniform(5, 80, n_static)
    el = rng.uniform(-0.05, 0.05, n_static)
    xyz = np.column_stack([r * np.cos(az) * np.cos(el), r * np.sin(az) * np.cos(el), r * np.sin(el)])
    t = T[:3, 3]
    v_r = np.array([v_ego[0] - yaw_rate * t[1], v_ego[1] + yaw_rate * t[0], 0.0])
    u = xyz / np.linalg.norm(xyz, axis=1, keepdims=True)
    d = -(u @ v_r) + rng.normal(0, 0.05, n_static)
    pts, dop = [xyz], [d]
    for v_obj, centre, k in movers:  # k returns from one object moving at v_obj (ground frame)
        p = centre + rng.normal(0, 0.5, (k, 3))
        uu = p / np.linalg.norm(p, axis=1, keepdims=True)
        pts.append(p)
        dop.append(uu @ (np.r_[v_obj, 0.0] - v_r) + rng.normal(0, 0.05, k))
    return np.concatenate(pts), np.concatenate(dop)


@pytest.fixture
def mount():
    T = np.eye(4)
    T[:3, 3] = [3.6, 0.4, 0.6]
    return T


def test_recovers_ego_velocity_with_traffic_and_yaw_rate(mount):
    rng = np.random.default_rng(1)
    cfg = RadarEgoVelocityConfig()
    for v_ego, w in (([12.0, 0.0], 0.0), ([8.0, 0.3], 0.25), ([25.0, -0.2], -0.05)):
        movers = [
            ((15.0, 0.0), np.array([30.0, 2.0, 0.5]), 6),
            ((-10.0, 0.0), np.array([50.0, -4.0, 0.5]), 5),
        ]
        xyz, d = _scan(rng, np.array(v_ego), w, mount, 25, movers)
        v, cov = radar_ego_velocity(xyz, d, mount, w, cfg, rng)
        err = v - np.array(v_ego)
        assert abs(err[0]) < 0.1 and abs(err[1]) < 0.5, (v_ego, v)
        # the reported covariance covers the error (and is not absurdly large)
        assert err @ np.linalg.solve(cov, err) < 13.8  # chi2(2) 99.9 %
        assert np.sqrt(cov[0, 0]) < 0.2


def test_no_answer_without_a_static_majority_or_with_few_returns(mount):
    rng = np.random.default_rng(2)
    cfg = RadarEgoVelocityConfig()
    # a platoon of movers outnumbers 5 static returns: no consensus may be called "the world"
    movers = [((14.0, 0.0), np.array([30.0 + 8 * k, 0.0, 0.5]), 4) for k in range(4)]
    xyz, d = _scan(rng, np.array([12.0, 0.0]), 0.0, mount, 5, movers)
    assert radar_ego_velocity(xyz, d, mount, 0.0, cfg, rng) is None
    xyz, d = _scan(rng, np.array([12.0, 0.0]), 0.0, mount, 4)
    assert radar_ego_velocity(xyz, d, mount, 0.0, cfg, rng) is None
    # NaN returns are ignored, not fatal
    xyz, d = _scan(rng, np.array([12.0, 0.0]), 0.0, mount, 20)
    xyz[::4] = np.nan
    v, _ = radar_ego_velocity(xyz, d, mount, 0.0, cfg, rng)
    assert abs(v[0] - 12.0) < 0.1
