"""Ego velocity from one radar scan: RANSAC over the Doppler of the static world.

A static return at unit line of sight ``u`` (radar axes rotated into base_link) reads
``d = -u . v_R`` with ``v_R = v + w x t`` the radar's own velocity (planar: ``v_R = (vx - w t_y,
vy + w t_x)``, ``t`` the radar's mounting position, ``w`` the yaw rate). Two returns fix
``v_R``; RANSAC keeps the hypothesis most returns agree with, so the static world (guard rails,
parked cars, clutter) is found by consensus and never by comparing with the filter's own
velocity (which would lock a wrong filter onto itself, see ``EgoEstimator.add_body_velocity``).
Least squares on the inliers gives ``v_R`` and its covariance; ``v = v_R - w x t``.

Written here rather than with ``sklearn.linear_model.RANSACRegressor``: the model is two
unknowns with a closed-form solve, so all hypotheses are solved and scored at once in numpy
(one scan costs ~0.1 ms) and no extra dependency is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.configs import strict_from_dict


@dataclass
class RadarEgoVelocityConfig:
    # off by default: in the generator's scenes the static world is a minority of the radar returns
    # (4 clutter returns per scan against ~12 from traffic), so the consensus often locks onto a
    # platoon (README, ego state); real radars see guard rails, poles and buildings
    enabled: bool = False
    inlier_threshold_mps: float = 0.3  # |d + u . v_R| of a static return (Doppler noise ~0.1 m/s)
    min_inliers: int = 6
    min_inlier_fraction: float = 0.4  # of the scan's returns: a minority cannot be "the world"
    hypotheses: int = 64
    doppler_std_mps: float = 0.1  # floor on the fit's noise
    min_azimuth_spread_rad: float = 0.15  # inliers must span this much azimuth (else v is ill-posed)
    std_inflation: float = 2.0  # reported std x this: unmodelled effects (elevation, timing)

    def validate(self) -> None:
        if self.min_inliers < 3 or self.hypotheses < 1 or self.inlier_threshold_mps <= 0:
            raise ValueError("radar_velocity: need min_inliers >= 3, hypotheses >= 1, threshold > 0")

    @classmethod
    def from_dict(cls, d: dict) -> RadarEgoVelocityConfig:
        return strict_from_dict(cls, d)


def radar_ego_velocity(
    xyz: np.ndarray,
    doppler: np.ndarray,
    T_base_radar: np.ndarray,
    yaw_rate: float,
    config: RadarEgoVelocityConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(v (2,), cov (2, 2)) of base_link in base_link axes from one scan, or None if not determined."""
    x = np.asarray(xyz, np.float64)
    d = np.asarray(doppler, np.float64)
    rng_ = np.linalg.norm(x, axis=1)
    ok = np.isfinite(x).all(axis=1) & np.isfinite(d) & (rng_ > 0.5)
    n = int(ok.sum())
    if n < config.min_inliers:
        return None
    u = (x[ok] @ T_base_radar[:3, :3].T) / rng_[ok, None]
    A = -u[:, :2]  # d = A v_R
    d = d[ok]
    pairs = rng.integers(0, n, size=(config.hypotheses, 2))
    Ap = A[pairs]  # (H, 2, 2)
    det = Ap[:, 0, 0] * Ap[:, 1, 1] - Ap[:, 0, 1] * Ap[:, 1, 0]
    good = np.abs(det) > 1e-3  # the two lines of sight must differ
    if not good.any():
        return None
    Ap, dp = Ap[good], d[pairs[good]]
    v_h = np.linalg.solve(Ap, dp[..., None])[..., 0]  # (H, 2)
    resid = np.abs(d[None, :] - v_h @ A.T)  # (H, n)
    inl = resid < config.inlier_threshold_mps
    best = int(np.argmax(inl.sum(axis=1)))
    m = inl[best]
    k = int(m.sum())
    if k < config.min_inliers or k < config.min_inlier_fraction * n:
        return None
    az = np.arctan2(u[m, 1], u[m, 0])
    if np.ptp(az) < config.min_azimuth_spread_rad:
        return None
    Ai, di = A[m], d[m]
    AtA = Ai.T @ Ai
    v_r = np.linalg.solve(AtA, Ai.T @ di)
    rss = float(np.sum((di - Ai @ v_r) ** 2))
    s2 = max(config.doppler_std_mps**2, rss / max(k - 2, 1))
    cov = s2 * np.linalg.inv(AtA) * config.std_inflation**2
    t = T_base_radar[:3, 3]
    v = v_r - np.array([-yaw_rate * t[1], yaw_rate * t[0]])
    return v, cov
