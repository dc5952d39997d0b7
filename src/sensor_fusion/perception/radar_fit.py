"""Radar detector maths: clustering, velocity fit, ghosts, class (steps 3-6 of
:mod:`.radar`'s docstring, which derives them); split from the detector so each file holds
one job: this one the numerical kernels, ``radar.py`` the configuration and the pipeline.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit
from scipy import special

from ..core.classes import ObjectClass
from ..core.geometry import wrap_angle

if TYPE_CHECKING:
    from .radar import RadarDetectorConfig


@njit(cache=True)
def cluster_radar(
    x: np.ndarray,
    y: np.ndarray,
    r: np.ndarray,
    ux: np.ndarray,
    uy: np.ndarray,
    eps_along_m: float,
    eps_across_m: float,
    eps_r: float,
):
    """Single-linkage components of the graph ``i ~ j`` iff ``|r_i - r_j| <= eps_r`` and
    ``(d . m / eps_along)^2 + (d x m / eps_across)^2 <= 1``, ``d = p_j - p_i`` and ``m`` the mean
    of the two horizontal unit LOS ``(ux, uy)`` (normalised): an ellipse elongated along the LOS.

    Returns (labels (n,) int64 numbered in order of first point, n_clusters). O(n^2).
    """
    n = x.shape[0]
    labels = np.full(n, -1, np.int64)
    stack = np.empty(n, np.int64)
    ia = 1.0 / (eps_along_m * eps_along_m)
    ic = 1.0 / (eps_across_m * eps_across_m)
    c = 0
    for i in range(n):
        if labels[i] >= 0:
            continue
        labels[i] = c
        stack[0] = i
        top = 1
        while top > 0:
            top -= 1
            j = stack[top]
            for k in range(n):
                if labels[k] < 0 and abs(r[k] - r[j]) <= eps_r:
                    dx = x[k] - x[j]
                    dy = y[k] - y[j]
                    mx = ux[k] + ux[j]
                    my = uy[k] + uy[j]
                    m2 = mx * mx + my * my
                    if m2 > 0.0:
                        along = dx * mx + dy * my
                        across = dx * my - dy * mx
                        q = (along * along * ia + across * across * ic) / m2
                    else:
                        q = (dx * dx + dy * dy) * max(ia, ic)
                    if q <= 1.0:
                        labels[k] = c
                        stack[top] = k
                        top += 1
        c += 1
    return labels, c


def chi2_quantile_95(dof: np.ndarray) -> np.ndarray:
    """Chi-square 95 % quantile per entry of ``dof``; inf below 1 dof (no residual test).

    ``scipy.special.chdtri(k, 0.05)`` (the inverse survival function) is ``chi2.ppf(0.95, k)``
    without ``rv_continuous``'s argument handling, which costs ~0.2 ms per call here (two calls
    per scan) against ~0.02 ms.
    """
    k = np.asarray(dof, dtype=np.float64)
    q = special.chdtri(np.maximum(k, 1.0), 0.05)
    return np.where(k >= 1, q, np.inf)


def outer2(a: np.ndarray) -> np.ndarray:
    """(N, 2) -> (N, 2, 2) outer products a a^T."""
    return a[:, :, None] * a[:, None, :]


class RadarPoints(NamedTuple):
    """Valid in-range returns (n,) in base_link; ``comp`` is the compensated Doppler."""

    p: np.ndarray  # (n, 3) position, m
    u: np.ndarray  # (n, 3) unit LOS from the radar, base axes
    rho: np.ndarray  # (n,) range, m
    dop: np.ndarray  # (n,) raw Doppler, m/s
    comp: np.ndarray  # (n,) compensated Doppler v . u, m/s
    rcs: np.ndarray  # (n,) dBsm


class ClusterFit(NamedTuple):
    """Per-cluster results (C,)."""

    n: np.ndarray  # point count (float)
    vel: np.ndarray  # (C, 2) ground-relative velocity, base axes
    vel_cov: np.ndarray  # (C, 2, 2)
    full: np.ndarray  # bool: 2D least squares (else radial only)
    rms: np.ndarray  # RMS Doppler residual, m/s
    r_mean: np.ndarray  # mean compensated Doppler, m/s
    centroid: np.ndarray  # (C, 2) m
    los: np.ndarray  # (C, 2) horizontal unit LOS radar -> centroid
    u_mean: np.ndarray  # (C, 2) mean horizontal unit LOS of the returns
    rho: np.ndarray  # horizontal range radar -> centroid, m
    rcs: np.ndarray  # total RCS, dBsm


def _sums(lab: np.ndarray, nc: int, *cols: np.ndarray) -> list[np.ndarray]:
    return [np.bincount(lab, weights=c, minlength=nc) for c in cols]


def fit_velocities(
    lab: np.ndarray, nc: int, pts: RadarPoints, t_radar: np.ndarray, cfg: RadarDetectorConfig
) -> ClusterFit:
    """Least-squares ground velocity per cluster, or the radial-only fallback (module docstring, step 4)."""
    sig_az = math.radians(cfg.azimuth_std_deg)
    ax, ay, r = pts.u[:, 0], pts.u[:, 1], pts.comp
    n = np.bincount(lab, minlength=nc).astype(np.float64)
    sxx, sxy, syy, bx, by, sx, sy, sr, px, py, pw = _sums(
        lab, nc, ax * ax, ax * ay, ay * ay, ax * r, ay * r, ax, ay, r, pts.p[:, 0], pts.p[:, 1],
        # real RCS spans about -40 dBsm (a bird) to +60 (a ship); +-100 keeps every real value and
        # keeps a lying field (1e30 dBsm) from overflowing the power weights to inf
        10.0 ** (np.clip(pts.rcs, -100.0, 100.0) / 10.0),
    )  # fmt: skip
    # 2D normal equations (A^T A) v = A^T r with A^T A = [[sxx, sxy], [sxy, syy]]
    det = sxx * syy - sxy * sxy
    ok = det > 1e-12 * (sxx + syy) ** 2
    inv = np.stack([np.stack([syy, -sxy], -1), np.stack([-sxy, sxx], -1)], -2)
    inv /= np.where(ok, det, 1.0)[:, None, None]
    v_ls = np.where(ok[:, None], np.einsum("cij,cj->ci", inv, np.column_stack([bx, by])), 0.0)
    lam_min = 0.5 * (sxx + syy) - np.sqrt(0.25 * (sxx - syy) ** 2 + sxy * sxy)
    ub = np.column_stack([sx, sy])
    ub /= np.maximum(np.hypot(ub[:, 0], ub[:, 1]), 1e-12)[:, None]
    tb = np.column_stack([-ub[:, 1], ub[:, 0]])
    base2 = cfg.doppler_std_mps**2 + cfg.fit_model_std_mps**2
    sig2 = base2 + (sig_az * np.einsum("ci,ci->c", v_ls, tb)) ** 2
    e = r - np.einsum("ij,ij->i", v_ls[lab], pts.u[:, :2])
    (rss,) = _sums(lab, nc, e * e)
    s2 = np.where(rss > sig2 * chi2_quantile_95(n - 2.0), rss / np.maximum(n - 2.0, 1.0), sig2)
    with np.errstate(divide="ignore", invalid="ignore"):
        tan_var = np.where(ok & (lam_min > 0), s2 / lam_min, np.inf)
    full = (n >= 2) & ok & (tan_var <= cfg.fit_max_tangential_std_mps**2)
    # radial only: v = s u_bar, one parameter fitted to r_i = s c_i with c_i = a_i . u_bar (~ 1)
    r_mean = sr / n
    ci = ax * ub[lab, 0] + ay * ub[lab, 1]
    scc, src = _sums(lab, nc, ci * ci, r * ci)
    scc = np.maximum(scc, 1e-12)
    s_rad = src / scc
    e_r = r - s_rad[lab] * ci
    (rss_r,) = _sums(lab, nc, e_r * e_r)
    s2_r = np.where(rss_r > base2 * chi2_quantile_95(n - 1.0), rss_r / np.maximum(n - 1.0, 1.0), base2)
    vel = np.where(full[:, None], v_ls, s_rad[:, None] * ub)
    cov_r = (s2_r / scc)[:, None, None] * outer2(ub) + cfg.radial_only_tangential_std_mps**2 * outer2(tb)
    vel_cov = np.where(full[:, None, None], s2[:, None, None] * inv, cov_r)
    rms = np.sqrt(np.where(full, rss, rss_r) / n)
    cen = np.column_stack([px, py]) / n[:, None]
    rel = cen - t_radar[:2]
    rho = np.hypot(rel[:, 0], rel[:, 1])
    los = np.where((rho > 1e-9)[:, None], rel / np.maximum(rho, 1e-9)[:, None], ub)
    rcs = 10.0 * np.log10(np.maximum(pw, 1e-30))
    return ClusterFit(n, vel, vel_cov, full, rms, r_mean, cen, los, ub, rho, rcs)


def find_ghosts(
    lab: np.ndarray,
    idx: np.ndarray,
    fit: ClusterFit,
    pts: RadarPoints,
    t_radar: np.ndarray,
    cfg: RadarDetectorConfig,
) -> np.ndarray:
    """(C,) bool: double-bounce ghosts and clusters behind another one (module docstring, step 5).

    ``lab`` labels the returns ``pts`` at indices ``idx`` (the moving ones).
    """
    nc = fit.n.shape[0]
    g = cfg.ghost_gate_sigma
    sig_az = math.radians(cfg.azimuth_std_deg)
    az_c = np.arctan2(fit.los[:, 1], fit.los[:, 0])
    rho_m, dop_m = (x / fit.n for x in _sums(lab, nc, pts.rho[idx], pts.dop[idx]))
    # double bounce: another return on the same LOS at half the range with half the raw Doppler;
    # the cluster mean has variance sigma^2 / n, the doubled parent 4 sigma^2
    az_p = np.arctan2(pts.u[:, 1], pts.u[:, 0])
    f = np.sqrt(1.0 / fit.n + 4.0)[:, None]
    own = np.zeros((nc, pts.rho.shape[0]), bool)
    own[lab, idx] = True
    double = (
        ~own
        & (np.abs(wrap_angle(az_c[:, None] - az_p[None, :])) <= g * sig_az * math.sqrt(2.0))
        & (np.abs(rho_m[:, None] - 2.0 * pts.rho[None, :]) <= g * cfg.range_std_m * f)
        & (np.abs(dop_m[:, None] - 2.0 * pts.dop[None, :]) <= g * cfg.doppler_std_mps * f)
    ).any(axis=1)
    # behind: B's centroid inside A's azimuth span (+ tolerance), beyond A's farthest return,
    # weaker than A, with a compensated Doppler differing from A's
    pm = pts.p[idx]
    los_p = fit.los[lab]
    u = pts.u[idx]
    rel = np.arctan2(
        los_p[:, 0] * u[:, 1] - los_p[:, 1] * u[:, 0], los_p[:, 0] * u[:, 0] + los_p[:, 1] * u[:, 1]
    )
    lo, hi, far = np.full(nc, np.inf), np.full(nc, -np.inf), np.full(nc, -np.inf)
    np.minimum.at(lo, lab, rel)
    np.maximum.at(hi, lab, rel)
    np.maximum.at(far, lab, np.hypot(pm[:, 0] - t_radar[0], pm[:, 1] - t_radar[1]))
    d_az = wrap_angle(az_c[None, :] - az_c[:, None])  # [A, B]: B's azimuth relative to A's centroid
    tol = g * sig_az
    behind = (
        (d_az >= lo[:, None] - tol)
        & (d_az <= hi[:, None] + tol)
        & (fit.rho[None, :] > far[:, None] + g * cfg.range_std_m)
        & (fit.rcs[None, :] < fit.rcs[:, None])
        & (np.abs(fit.r_mean[None, :] - fit.r_mean[:, None]) > cfg.ghost_behind_doppler_mps)
    ).any(axis=0)
    return double | behind


def classify(rcs_dbsm: np.ndarray, speed_mps: np.ndarray, cfg: RadarDetectorConfig) -> np.ndarray:
    """ObjectClass (int64) per cluster from total RCS, then corrected by speed."""
    labels = np.select(
        [rcs_dbsm >= cfg.rcs_truck_dbsm, rcs_dbsm >= cfg.rcs_car_dbsm, rcs_dbsm >= cfg.rcs_bicycle_dbsm],
        [int(ObjectClass.TRUCK), int(ObjectClass.CAR), int(ObjectClass.BICYCLE)],
        int(ObjectClass.PEDESTRIAN),
    ).astype(np.int64)
    labels[(labels == ObjectClass.PEDESTRIAN) & (speed_mps > cfg.pedestrian_max_speed_mps)] = (
        ObjectClass.BICYCLE
    )
    labels[(labels == ObjectClass.BICYCLE) & (speed_mps > cfg.bicycle_max_speed_mps)] = ObjectClass.CAR
    return labels
