"""Ego velocity from one radar scan: RANSAC over the Doppler of the static world.

A static return at unit line of sight ``u`` (radar axes rotated into base_link) reads
``d = -u . v_R`` with ``v_R = v + w x t`` the radar's own velocity (planar: ``v_R = (vx - w t_y,
vy + w t_x)``, ``t`` the radar's mounting position, ``w`` the yaw rate). RANSAC keeps the
hypothesis most places agree with, so the static world (guard rails, poles, clutter) is found by
consensus and never by comparing with the filter's own velocity (which would lock a wrong filter
onto itself, see ``EgoEstimator.add_body_velocity``). Least squares on the inliers gives the
velocity and its covariance.

Two things make the consensus hold where traffic outnumbers the static world:

* Returns inside the frame's detected objects (LiDAR or BEV boxes, ``object_margin_m`` around
  them) are not candidates: what a detector calls an object is not the static world, whether it
  moves or not. Detections are in base_link and need no ego state, so this too is independent of
  the filter. Beyond ``max_range_m`` (past reliable detection) no return is a candidate.
* ``nonholonomic``: base_link on the rear axle of a car does not slip sideways, so ``v = (vx, 0)``
  and one static return fixes ``vx``. A 1-D consensus needs fewer returns than a 2-D one and
  cannot be rotated onto a platoon. Only ``vx`` is reported (the filter's own non-holonomic
  constraint holds ``vy``).
* Consensus counts places, not returns (``consensus_cell_m``): a vehicle gives a radar several
  returns from one spot, the static world gives them from poles, signs and rails spread along the
  road. Counted per return, one car the detector missed (a box dropped, a car beyond its range)
  outnumbers the few static returns of an open road, and the scan gives no speed (or the car's);
  counted per occupied cell, it is one voice.

Written here rather than with ``sklearn.linear_model.RANSACRegressor``: the model has one or two
unknowns with a closed-form solve, so all hypotheses are solved and scored at once in numpy (one
scan costs ~0.1 ms) and no extra dependency is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.schema import ParamConfig, param
from ..core.types import Detections


@dataclass
class RadarEgoVelocityConfig(ParamConfig):
    enabled: bool = param(True, unit="", desc="Fuse the radar ego velocity (needs radars and the ego filter)")
    nonholonomic: bool = param(
        True, unit="", desc="base_link cannot slip sideways (car, rear axle): fit the forward speed only"
    )
    exclude_objects: bool = param(
        True, unit="", desc="Returns on detected objects are not candidates (needs a detector to have run)"
    )
    object_margin_m: float = param(
        1.5, unit="m", ge=0.0, desc="Margin around each box: radar noise and motion between the two stamps"
    )
    max_range_m: float = param(80.0, unit="m", gt=0.0, desc="Farther returns may be objects no detector saw")
    inlier_threshold_mps: float = param(
        0.3, unit="m/s", gt=0.0, desc="Largest |d + u . v_R| of a static return (Doppler noise ~0.1 m/s)"
    )
    min_inliers: int = param(
        3,
        unit="1",
        ge=2,
        desc="Fewest inliers of an estimate, and fewest cells they occupy (consensus_cell_m): 3 places, so "
        "one vehicle (one or two cells; more only where it straddles a cell corner) is not enough (2-D "
        "model: at least 3)",
    )
    min_inlier_fraction: float = param(
        0.6,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="Inliers needed, as a fraction of the candidates (of the cells they occupy, with "
        "consensus_cell_m): a minority cannot be the world",
    )
    consensus_cell_m: float = param(
        8.0,
        unit="m",
        ge=0.0,
        desc="Consensus counts the cells of this size (base_link grid) that hold an agreeing return, "
        "not the returns: a truck's length (8 m), so a vehicle's several returns fill one or two cells "
        "and an object no detector boxed is one voice against the static world spread along the road; "
        "0: count returns",
    )
    hypotheses: int = param(64, unit="1", ge=1, desc="2-D model: random pairs tried (1-D tries every return)")
    doppler_std_mps: float = param(0.1, unit="m/s", gt=0.0, desc="Floor on the fit's Doppler noise")
    min_azimuth_spread_rad: float = param(
        0.15, unit="rad", ge=0.0, desc="2-D model: inliers must span this much azimuth"
    )
    std_inflation: float = param(
        2.0, unit="1", gt=0.0, desc="Reported std times this: unmodelled effects (elevation, timing)"
    )

    def cross_checks(self) -> list[str]:
        if not self.nonholonomic and self.min_inliers < 3:
            return ["min_inliers: must be >= 3 for the 2-D model (nonholonomic false)"]
        return []


@dataclass
class ObjectBoxes:
    """Planar boxes in base_link: ``centers`` (N, 2) m, ``sizes`` (N, 2) length/width m, ``yaw`` (N,)."""

    centers: np.ndarray
    sizes: np.ndarray
    yaw: np.ndarray

    @classmethod
    def from_detections(cls, parts: Sequence[Detections]) -> ObjectBoxes:
        """The planar boxes of ``parts`` (each in base_link)."""
        return cls(
            np.concatenate([d.centers[:, :2] for d in parts]),
            np.concatenate([d.sizes[:, :2] for d in parts]),
            np.concatenate([d.yaw for d in parts]),
        )

    def contains(self, xy: np.ndarray, margin_m: float) -> np.ndarray:
        """(M,) bool: points within ``margin_m`` of any box."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        if len(self.yaw) == 0 or len(xy) == 0:
            return np.zeros(len(xy), dtype=bool)
        rel = xy[:, None, :] - np.asarray(self.centers, np.float64)[None, :, :2]  # (M, N, 2)
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        lx = np.abs(rel[..., 0] * c + rel[..., 1] * s)
        ly = np.abs(-rel[..., 0] * s + rel[..., 1] * c)
        half = 0.5 * np.asarray(self.sizes, np.float64)[:, :2] + margin_m
        return ((lx <= half[:, 0]) & (ly <= half[:, 1])).any(axis=1)


def radar_ego_velocity(
    xyz: np.ndarray,
    doppler: np.ndarray,
    T_base_radar: np.ndarray,
    yaw_rate: float,
    config: RadarEgoVelocityConfig,
    rng: np.random.Generator,
    objects: ObjectBoxes | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(v (2,), cov (2, 2)) of base_link in base_link axes from one scan, or None if not determined.

    With ``config.nonholonomic`` only ``vx`` is measured: ``v[1]`` and the covariance's second
    row and column are NaN. ``objects`` (base_link) excludes returns on detected objects.
    """
    x = np.asarray(xyz, np.float64)
    d = np.asarray(doppler, np.float64)
    rng_ = np.linalg.norm(x, axis=1)
    ok = np.isfinite(x).all(axis=1) & np.isfinite(d) & (rng_ > 0.5) & (rng_ <= config.max_range_m)
    R, t = T_base_radar[:3, :3], T_base_radar[:3, 3]
    idx = np.flatnonzero(ok)
    xr = x[idx] @ R.T  # the returns in base_link axes (relative to the radar)
    xy_base = xr[:, :2] + t[:2]
    if objects is not None and idx.size:
        free = ~objects.contains(xy_base, config.object_margin_m)
        idx, xr, xy_base = idx[free], xr[free], xy_base[free]
    if idx.size < config.min_inliers:
        return None
    u = xr / rng_[idx, None]
    d = d[idx]
    cells = _cells(xy_base, config.consensus_cell_m)
    lever = np.array([-yaw_rate * t[1], yaw_rate * t[0]])  # v_R = v + lever
    if config.nonholonomic:
        fit = _fit_vx(u, d, cells, lever, config)
    else:
        fit = _fit_v(u, d, cells, config, rng)
    if fit is None:
        return None
    v_r, cov = fit
    return v_r - lever, cov


def _cells(xy: np.ndarray, cell_m: float) -> np.ndarray:
    """(M,) dense cell index of each return on a ``cell_m`` grid (0: every return its own cell)."""
    if cell_m <= 0.0 or len(xy) == 0:
        return np.arange(len(xy))
    ij = np.floor(xy / cell_m).astype(np.int64)
    return np.unique(ij, axis=0, return_inverse=True)[1].reshape(-1)


def _consensus(resid: np.ndarray, cells: np.ndarray, config: RadarEgoVelocityConfig) -> np.ndarray | None:
    """Inlier mask of the best hypothesis (rows of ``resid``), or None below the thresholds.

    Support is the number of cells holding an inlier (ties: more inliers); it must reach
    ``min_inliers`` and ``min_inlier_fraction`` of all occupied cells, so one compact object,
    whose returns fill one or two cells, cannot be the world alone."""
    inl = resid < config.inlier_threshold_mps
    n_cells = int(cells.max()) + 1 if cells.size else 0
    occupied = np.zeros((len(inl), n_cells), bool)
    h, j = np.nonzero(inl)
    occupied[h, cells[j]] = True
    support = occupied.sum(axis=1)
    best_h = int(np.lexsort((inl.sum(axis=1), support))[-1])
    best = inl[best_h]
    k = int(best.sum())
    enough = support[best_h] >= max(config.min_inliers, config.min_inlier_fraction * n_cells)
    return best if k >= config.min_inliers and enough else None


def _fit_vx(
    u: np.ndarray, d: np.ndarray, cells: np.ndarray, lever: np.ndarray, config: RadarEgoVelocityConfig
):
    """1-D model ``v = (vx, 0)``: d = -u_x (vx + lever_x) - u_y lever_y; every return is a hypothesis."""
    a = -u[:, 0]  # d = a * v_Rx + b
    b = -u[:, 1] * lever[1]
    usable = np.abs(a) > 0.2  # near-broadside returns say little about vx
    if int(usable.sum()) < config.min_inliers:
        return None
    a, b, d = a[usable], b[usable], d[usable]
    cells = np.unique(cells[usable], return_inverse=True)[1].reshape(-1)
    hyp = (d - b) / a  # v_Rx per return
    m = _consensus(np.abs(d[None, :] - (a[None, :] * hyp[:, None] + b[None, :])), cells, config)
    if m is None:
        return None
    ai, ri = a[m], d[m] - b[m]
    aa = float(ai @ ai)
    vx = float(ai @ ri) / aa
    k = int(m.sum())
    s2 = max(config.doppler_std_mps**2, float(np.sum((ri - ai * vx) ** 2)) / max(k - 1, 1))
    var = s2 / aa * config.std_inflation**2
    return np.array([vx, np.nan]), np.array([[var, np.nan], [np.nan, np.nan]])


def _fit_v(
    u: np.ndarray, d: np.ndarray, cells: np.ndarray, config: RadarEgoVelocityConfig, rng: np.random.Generator
):
    """2-D model: random pairs of returns fix ``v_R``; best consensus, then least squares."""
    n = len(d)
    A = -u[:, :2]  # d = A v_R
    pairs = rng.integers(0, n, size=(config.hypotheses, 2))
    Ap = A[pairs]  # (H, 2, 2)
    det = Ap[:, 0, 0] * Ap[:, 1, 1] - Ap[:, 0, 1] * Ap[:, 1, 0]
    good = np.abs(det) > 1e-3  # the two lines of sight must differ
    if not good.any():
        return None
    v_h = np.linalg.solve(Ap[good], d[pairs[good]][..., None])[..., 0]  # (H, 2)
    m = _consensus(np.abs(d[None, :] - v_h @ A.T), cells, config)
    if m is None:
        return None
    az = np.arctan2(u[m, 1], u[m, 0])
    if np.ptp(az) < config.min_azimuth_spread_rad:
        return None
    Ai, di = A[m], d[m]
    AtA = Ai.T @ Ai
    v_r = np.linalg.solve(AtA, Ai.T @ di)
    k = int(m.sum())
    s2 = max(config.doppler_std_mps**2, float(np.sum((di - Ai @ v_r) ** 2)) / max(k - 2, 1))
    return v_r, s2 * np.linalg.inv(AtA) * config.std_inflation**2
