"""Radar object detector: ego-motion compensated Doppler, clustering, velocity fit.

ROS-free core layer. Input is one :class:`RadarScan` in the radar frame (raw,
*not* ego-compensated radial velocity ``d``, positive away; RCS in dBsm), the
radar extrinsic ``T_base_radar`` and the ego twist; output is
:class:`Detections` in ``base_link`` with a ground-relative velocity per object.

1. **Transform.** ``p_i = R x_i + t``; the unit line of sight (LOS) in base
   axes is ``u_i = R x_i / rho_i`` with range ``rho_i = |x_i|``. Non-finite
   points and ranges outside ``[range_min_m, range_max_m]`` are dropped.
2. **Ego-motion compensation.** The radar moves with
   ``v_R = v_ego + w z x t = (vx - w t_y, vy + w t_x, vz)`` (yaw-rate lever arm).
   A static point reads ``d_i = -v_R . u_i``, so the compensated Doppler
   ``r_i = d_i + v_R . u_i = v_i . u_i`` is the target's ground-relative
   velocity along the LOS. Point ``i`` is static when
   ``|r_i| < max(static_threshold_min_mps, k sigma_i)`` with
   ``sigma_i^2 = sigma_d^2 + sigma_ego^2 + (sigma_az |v_R - (v_R . u_i) u_i|)^2``
   (Doppler noise, ego-velocity error, LOS direction error). Static points
   (roadside clutter, parked cars) are counted and dropped. Caveat: an
   object moving across the LOS reads ``r ~ 0`` and is dropped too: Doppler
   cannot see purely tangential motion.
3. **Clustering** of the moving points: single linkage (DBSCAN with
   ``min_samples = 1``): ``i ~ j`` iff ``|r_i - r_j| <= cluster_eps_doppler_mps``
   and ``(d . m / eps_along)^2 + (d x m / eps_across)^2 <= 1`` with ``d`` the
   planar offset and ``m`` the mean horizontal LOS of the pair: a surface seen
   at a grazing angle returns points far apart *along* the LOS, while cars in
   adjacent lanes are apart *across* it. Connected components by a numba
   breadth-first search, O(n^2) (radar scans are small). The Doppler gate keeps
   neighbours moving differently apart; single linkage follows the smooth
   Doppler gradient across a wide object.
4. **Velocity fit** (rigid translation, ``v_z = 0``): ``r_i = a_i . v + e_i``
   with ``a_i = (u_ix, u_iy)`` (horizontal part of the 3D LOS, so elevation is
   accounted for). Least squares ``v = (A^T A)^-1 A^T r``,
   ``Sigma_v = s^2 (A^T A)^-1``. The noise ``s^2 = sigma_c^2 = sigma_d^2 +
   sigma_m^2 + (sigma_az v . t)^2`` (Doppler noise, ``fit_model_std_mps`` for
   unmodelled spread such as target rotation, and the LOS direction error times
   the tangential speed, ``t`` the cross-LOS unit vector) unless the residuals
   reject it (``RSS / sigma_c^2`` above the chi-square 95 % quantile with
   ``n - 2`` dof), then ``s^2 = RSS / (n - 2)``. The tangential std is
   ``s / sqrt(lambda_min(A^T A))`` with ``lambda_min ~ n var(azimuth)``: when it
   exceeds ``fit_max_tangential_std_mps`` (the cluster spans too small an angle,
   or has one point) the fit is **radial only**: the minimum-norm estimate
   ``v = s u_bar`` along the mean LOS ``u_bar``, ``s = sum r_i c_i / sum c_i^2 ~
   mean(r)`` with ``c_i = a_i . u_bar ~ 1``, and
   ``Sigma_v = s_r^2 / sum c_i^2 u_bar u_bar^T + radial_only_tangential_std_mps^2 t t^T``
   (a deliberately large tangential variance: Doppler says nothing across).
5. **Rejection** (counted in ``last_stats``): fewer than ``min_points``;
   total RCS ``10 log10 sum_i 10^(rcs_i / 10)`` below ``min_rcs_dbsm``; RMS
   residual above ``fit_max_residual_mps`` (mixed or multipath cluster); ghosts:
   *double bounce*: a cluster at twice the range of another return on the same
   LOS with twice its raw Doppler (gates of ``ghost_gate_sigma`` sigmas), and
   *behind*: a cluster inside another's azimuth span, beyond its farthest
   return, weaker, and with a compensated Doppler differing by more than
   ``ghost_behind_doppler_mps`` (the nearer object would occlude a real one).
   Mirror ghosts (reflections in a side wall) look like real weak targets (a
   rule for them also removes real side-by-side cars) and are left to the
   tracker: they do not persist from scan to scan.
6. **Output.** Class from total RCS (truck > car > bicycle > pedestrian), then
   speed (a "pedestrian" faster than ``pedestrian_max_speed_mps`` is a bicycle,
   a "bicycle" faster than ``bicycle_max_speed_mps`` a car); sizes are the class
   priors ``PRIOR_SIZES``; yaw is the heading of the fitted velocity. Returns
   lie on the faces that face the radar, spread evenly across the LOS, so for a
   box of length ``l``, width ``w`` and heading at angle ``a`` to the LOS their
   centroid is the box centre moved towards the radar by ``l w / (2 (l |sin a| +
   w |cos a|))`` (area over twice the shadow width: ``l / 2`` end-on, ``w / 2``
   side-on); the centre is the centroid moved back by ``center_shift_fraction``
   of that, z is half the prior height. ``pos_cov`` in the LOS frame:
   ``sigma_r^2 / n + (f d / 2)^2`` along and ``(rho sigma_az)^2 / n + (f s / 2)^2``
   across, ``d, s`` the prior box's depth along and width across the LOS,
   ``f = pos_extent_std_fraction`` (the returns sample the object's extent).
   Score ``(1 - exp(-n / score_ref_points)) exp(-rms^2 / (2 score_residual_ref_mps^2))``,
   times ``radial_only_score_factor`` for radial-only fits.

Besides the required :class:`Detections` rows the result carries the optional ones: ``vel_cov``
(N, 2, 2) the velocity covariance; ``radial`` (N,) the ground-relative speed along ``los``
(N, 2) (the mean horizontal unit LOS of the returns, base_link axes) with ``radial_var`` (N,),
i.e. ``los . velocity`` and ``los^T vel_cov los``: what the tracker's exact Doppler update
consumes; and ``radial_only`` (N,) bool, the rows whose velocity is the radial-only estimate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit
from scipy import special

from ..core.classes import SENSOR_RADAR, ObjectClass
from ..core.geometry import wrap_angle
from ..core.schema import ParamConfig, param
from ..core.types import Detections, RadarScan

# Class prior box sizes (length, width, height), m.
PRIOR_SIZES: dict[ObjectClass, tuple[float, float, float]] = {
    ObjectClass.UNKNOWN: (1.0, 1.0, 1.5),
    ObjectClass.CAR: (4.5, 1.8, 1.5),
    ObjectClass.TRUCK: (9.0, 2.5, 3.2),
    ObjectClass.BICYCLE: (1.8, 0.6, 1.7),
    ObjectClass.PEDESTRIAN: (0.6, 0.6, 1.75),
}
_SIZE_TABLE = np.array([PRIOR_SIZES.get(ObjectClass(i), PRIOR_SIZES[ObjectClass.UNKNOWN]) for i in range(8)])


@dataclass
class RadarDetectorConfig(ParamConfig):
    """Radar detector parameters (SI units in the names); see the module docstring for the maths."""

    # Sensor noise (1 sigma), as in the radar's datasheet (the simulator's ``radars`` block).
    range_std_m: float = param(0.15, unit="m", gt=0.0, desc="Range noise, 1 sigma (datasheet)")
    azimuth_std_deg: float = param(0.3, unit="deg", gt=0.0, desc="Azimuth noise, 1 sigma (datasheet)")
    doppler_std_mps: float = param(0.1, unit="m/s", gt=0.0, desc="Doppler noise, 1 sigma (datasheet)")
    ego_velocity_std_mps: float = param(
        0.1, unit="m/s", ge=0.0, desc="Std of the ego velocity used for compensation, per axis"
    )
    # Region of interest: range from the radar.
    range_min_m: float = param(0.5, unit="m", ge=0.0, desc="Closer returns are dropped")
    range_max_m: float = param(150.0, unit="m", gt=0.0, desc="Farther returns are dropped")
    # Static rejection: |compensated Doppler| < max(min, sigma * sigma_i) is the static world.
    static_threshold_sigma: float = param(
        3.0,
        unit="1",
        gt=0.0,
        desc="A return is static when |compensated Doppler| < max(static_threshold_min_mps, this x its "
        "sigma)",
    )
    static_threshold_min_mps: float = param(0.3, unit="m/s", ge=0.0, desc="Floor of the static threshold")
    # Clustering (single linkage in x, y and compensated Doppler).
    cluster_eps_along_m: float = param(
        3.0, unit="m", gt=0.0, desc="Link distance along the LOS (a grazing surface returns sparse points)"
    )
    cluster_eps_across_m: float = param(
        2.0, unit="m", gt=0.0, desc="Link distance across the LOS (cars in adjacent lanes are ~1.7 m apart)"
    )
    cluster_eps_doppler_mps: float = param(
        1.5, unit="m/s", gt=0.0, desc="Largest compensated-Doppler difference of linked returns"
    )
    # Velocity fit.
    fit_max_tangential_std_mps: float = param(
        2.0, unit="m/s", gt=0.0, desc="Above this tangential std the velocity fit falls back to radial only"
    )
    radial_only_tangential_std_mps: float = param(
        15.0,
        unit="m/s",
        gt=0.0,
        desc="Tangential std reported for radial-only fits (Doppler says nothing across)",
    )
    fit_model_std_mps: float = param(
        0.1,
        unit="m/s",
        ge=0.0,
        desc="Unmodelled Doppler spread (target rotation, extent), added to the Doppler noise in the fit",
    )
    fit_max_residual_mps: float = param(
        1.5,
        unit="m/s",
        gt=0.0,
        desc="Clusters with a larger RMS Doppler residual are rejected (mixed, multipath)",
    )
    # Rejection.
    min_points: int = param(1, unit="1", ge=1, desc="Clusters with fewer returns are rejected")
    min_rcs_dbsm: float = param(-20.0, unit="dBsm", desc="Clusters with a lower total RCS are rejected")
    ghost_gate_sigma: float = param(
        3.5, unit="1", gt=0.0, desc="Ghost gates (azimuth, range, Doppler) in measurement-noise sigmas"
    )
    ghost_behind_doppler_mps: float = param(
        1.0,
        unit="m/s",
        gt=0.0,
        desc="A weaker cluster behind another, with a Doppler differing by more than this, is a ghost",
    )
    # Class guess from total RCS (dBsm) and speed (m/s).
    rcs_truck_dbsm: float = param(15.0, unit="dBsm", desc="Total RCS from which a cluster is a truck")
    rcs_car_dbsm: float = param(6.0, unit="dBsm", desc="Total RCS from which a cluster is a car")
    rcs_bicycle_dbsm: float = param(-1.5, unit="dBsm", desc="Total RCS from which a cluster is a bicycle")
    pedestrian_max_speed_mps: float = param(
        3.0, unit="m/s", ge=0.0, desc="A faster 'pedestrian' is a bicycle"
    )
    bicycle_max_speed_mps: float = param(12.0, unit="m/s", ge=0.0, desc="A faster 'bicycle' is a car")
    # Output geometry and confidence.
    center_shift_fraction: float = param(
        1.0,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="The box centre lies this fraction of the visible faces' depth behind the returns' centroid "
        "(0: the centroid)",
    )
    pos_extent_std_fraction: float = param(
        0.3, unit="1", ge=0.0, desc="Fraction of the prior box's half extents added to the position std"
    )
    score_ref_points: float = param(
        2.0, unit="1", gt=0.0, desc="Return count: the score scales by 1 - exp(-n / score_ref_points)"
    )
    score_residual_ref_mps: float = param(
        0.5, unit="m/s", gt=0.0, desc="The score scales by exp(-rms^2 / (2 score_residual_ref_mps^2))"
    )
    radial_only_score_factor: float = param(
        0.7, unit="1", ge=0.0, le=1.0, desc="Score factor of radial-only velocity fits"
    )

    def cross_checks(self) -> list[str]:
        out = []
        if self.range_min_m >= self.range_max_m:
            out.append(f"range_min_m: must be < range_max_m, got {self.range_min_m} >= {self.range_max_m}")
        if not self.rcs_bicycle_dbsm < self.rcs_car_dbsm < self.rcs_truck_dbsm:
            out.append(
                "rcs_car_dbsm: RCS class thresholds must increase: rcs_bicycle_dbsm < rcs_car_dbsm < "
                f"rcs_truck_dbsm, got {self.rcs_bicycle_dbsm}, {self.rcs_car_dbsm}, {self.rcs_truck_dbsm}"
            )
        if self.pedestrian_max_speed_mps >= self.bicycle_max_speed_mps:
            out.append(
                "pedestrian_max_speed_mps: must be < bicycle_max_speed_mps, got "
                f"{self.pedestrian_max_speed_mps} >= {self.bicycle_max_speed_mps}"
            )
        return out


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


def _outer2(a: np.ndarray) -> np.ndarray:
    """(N, 2) -> (N, 2, 2) outer products a a^T."""
    return a[:, :, None] * a[:, None, :]


def _check_stamp(stamp_ns) -> int:
    if not isinstance(stamp_ns, (int, np.integer)) or isinstance(stamp_ns, bool):
        raise TypeError(f"stamp_ns must be int nanoseconds, got {type(stamp_ns).__name__}")
    return int(stamp_ns)


def _empty(stamp_ns: int, frame_id: str) -> Detections:
    """No detections, with the (empty) Doppler rows every radar result carries."""
    return Detections(
        stamp_ns,
        frame_id,
        vel_cov=np.zeros((0, 2, 2)),
        los=np.zeros((0, 2)),
        radial=np.zeros(0),
        radial_var=np.zeros(0),
        radial_only=np.zeros(0, bool),
    )


class _Points(NamedTuple):
    """Valid in-range returns (n,) in base_link; ``comp`` is the compensated Doppler."""

    p: np.ndarray  # (n, 3) position, m
    u: np.ndarray  # (n, 3) unit LOS from the radar, base axes
    rho: np.ndarray  # (n,) range, m
    dop: np.ndarray  # (n,) raw Doppler, m/s
    comp: np.ndarray  # (n,) compensated Doppler v . u, m/s
    rcs: np.ndarray  # (n,) dBsm


class _Fit(NamedTuple):
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
    lab: np.ndarray, nc: int, pts: _Points, t_radar: np.ndarray, cfg: RadarDetectorConfig
) -> _Fit:
    """Least-squares ground velocity per cluster, or the radial-only fallback (module docstring, step 4)."""
    sig_az = math.radians(cfg.azimuth_std_deg)
    ax, ay, r = pts.u[:, 0], pts.u[:, 1], pts.comp
    n = np.bincount(lab, minlength=nc).astype(np.float64)
    sxx, sxy, syy, bx, by, sx, sy, sr, px, py, pw = _sums(
        lab, nc, ax * ax, ax * ay, ay * ay, ax * r, ay * r, ax, ay, r, pts.p[:, 0], pts.p[:, 1],
        10.0 ** (pts.rcs / 10.0),
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
    cov_r = (s2_r / scc)[:, None, None] * _outer2(ub) + cfg.radial_only_tangential_std_mps**2 * _outer2(tb)
    vel_cov = np.where(full[:, None, None], s2[:, None, None] * inv, cov_r)
    rms = np.sqrt(np.where(full, rss, rss_r) / n)
    cen = np.column_stack([px, py]) / n[:, None]
    rel = cen - t_radar[:2]
    rho = np.hypot(rel[:, 0], rel[:, 1])
    los = np.where((rho > 1e-9)[:, None], rel / np.maximum(rho, 1e-9)[:, None], ub)
    rcs = 10.0 * np.log10(np.maximum(pw, 1e-30))
    return _Fit(n, vel, vel_cov, full, rms, r_mean, cen, los, ub, rho, rcs)


def find_ghosts(
    lab: np.ndarray, idx: np.ndarray, fit: _Fit, pts: _Points, t_radar: np.ndarray, cfg: RadarDetectorConfig
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


_STAT_KEYS = (
    "points", "invalid", "out_of_range", "static_rejected", "moving", "clusters", "radial_only",
    "rejected_clusters", "rejected_few_points", "rejected_rcs", "rejected_residual", "rejected_ghost",
    "detections",
)  # fmt: skip


class RadarDetector:
    """Moving objects from one radar scan; per-stage seconds in ``last_timing``, counts in ``last_stats``."""

    def __init__(self, config: RadarDetectorConfig | None = None):
        self.config = config if config is not None else RadarDetectorConfig()
        self.config.validate()
        self.last_timing: dict[str, float] = {"compensate": 0.0, "cluster": 0.0, "fit": 0.0}
        self.last_stats: dict[str, int] = dict.fromkeys(_STAT_KEYS, 0)

    def warm_up(self) -> None:
        """Compile or load the numba kernel now, so the first real scan is not slow."""
        xyz = np.array([[10.0, 0.0, 0.0], [10.0, 0.5, 0.0], [30.0, -3.0, 0.0]], np.float32)
        scan = RadarScan(0, "radar", xyz, np.array([-2.0, -2.0, 0.0], np.float32), np.zeros(3, np.float32))
        self.detect(scan, np.eye(4), np.zeros(3), 0.0)

    def detect(
        self,
        scan: RadarScan,
        T_base_radar: np.ndarray,
        ego_velocity_base: np.ndarray,
        ego_yaw_rate: float,
        frame_id: str = "base_link",
    ) -> Detections:
        """Moving objects in ``frame_id`` (base_link) from one scan; see the module docstring.

        ``ego_velocity_base``: (2,) or (3,) velocity of the base_link origin in base_link axes, m/s;
        ``ego_yaw_rate``: rad/s. The result carries the optional Doppler rows (module docstring).
        """
        t0 = time.perf_counter()
        cfg = self.config
        stamp = _check_stamp(scan.stamp_ns)
        T = np.asarray(T_base_radar, dtype=np.float64)
        if T.shape != (4, 4) or not np.isfinite(T).all():
            raise ValueError(f"T_base_radar must be a finite 4x4 transform, got shape {T.shape}")
        v_ego = np.asarray(ego_velocity_base, dtype=np.float64).reshape(-1)
        if v_ego.shape not in ((2,), (3,)) or not np.isfinite(v_ego).all():
            raise ValueError(f"ego_velocity_base must be a finite (2,) or (3,) vector, got {v_ego!r}")
        w = float(ego_yaw_rate)
        if not math.isfinite(w):
            raise ValueError(f"ego_yaw_rate must be finite, got {ego_yaw_rate!r}")
        stats = dict.fromkeys(_STAT_KEYS, 0)
        timing = {"compensate": 0.0, "cluster": 0.0, "fit": 0.0}
        self.last_stats, self.last_timing = stats, timing

        pts, moving = self._compensate(scan, T, v_ego, w, stats)
        t1 = time.perf_counter()
        timing["compensate"] = t1 - t0
        if not moving.any():
            return _empty(stamp, frame_id)

        idx = np.flatnonzero(moving)
        uh = pts.u[idx, :2]
        uh = uh / np.maximum(np.hypot(uh[:, 0], uh[:, 1]), 1e-12)[:, None]
        lab, nc = cluster_radar(
            np.ascontiguousarray(pts.p[idx, 0]),
            np.ascontiguousarray(pts.p[idx, 1]),
            np.ascontiguousarray(pts.comp[idx]),
            np.ascontiguousarray(uh[:, 0]),
            np.ascontiguousarray(uh[:, 1]),
            float(cfg.cluster_eps_along_m),
            float(cfg.cluster_eps_across_m),
            float(cfg.cluster_eps_doppler_mps),
        )
        stats["clusters"] = int(nc)
        t2 = time.perf_counter()
        timing["cluster"] = t2 - t1

        t_radar = T[:3, 3]
        moving_pts = _Points(*(a[idx] for a in pts))
        fit = fit_velocities(lab, nc, moving_pts, t_radar, cfg)
        stats["radial_only"] = int((~fit.full).sum())
        few = fit.n < cfg.min_points
        weak = ~few & (fit.rcs < cfg.min_rcs_dbsm)
        bad = ~few & ~weak & (fit.rms > cfg.fit_max_residual_mps)
        ghost = ~few & ~weak & ~bad & find_ghosts(lab, idx, fit, pts, t_radar, cfg)
        keep = ~(few | weak | bad | ghost)
        stats.update(
            rejected_few_points=int(few.sum()),
            rejected_rcs=int(weak.sum()),
            rejected_residual=int(bad.sum()),
            rejected_ghost=int(ghost.sum()),
            rejected_clusters=int(nc - keep.sum()),
            detections=int(keep.sum()),
        )
        out = self._assemble(_Fit(*(a[keep] for a in fit)), stamp, frame_id)
        timing["fit"] = time.perf_counter() - t2
        return out

    def _compensate(
        self, scan: RadarScan, T: np.ndarray, v_ego: np.ndarray, w: float, stats: dict[str, int]
    ) -> tuple[_Points, np.ndarray]:
        """Steps 1-2: valid in-range returns in base_link and the moving mask."""
        cfg = self.config
        xyz = np.asarray(scan.xyz, dtype=np.float64)
        if xyz.ndim != 2 or xyz.shape[1] != 3:
            raise ValueError(f"scan.xyz must be (N, 3), got shape {xyz.shape}")
        n_in = xyz.shape[0]
        dop = np.asarray(scan.radial_velocity, dtype=np.float64).reshape(-1)
        rcs = np.asarray(scan.rcs, dtype=np.float64).reshape(-1)
        if dop.shape[0] != n_in or rcs.shape[0] != n_in:
            raise ValueError(
                f"scan has {n_in} points but {dop.shape[0]} radial velocities and {rcs.shape[0]} RCS values"
            )
        valid = np.isfinite(xyz).all(axis=1) & np.isfinite(dop) & np.isfinite(rcs)
        xyz = np.where(valid[:, None], xyz, 0.0)
        rho = np.sqrt(np.einsum("ij,ij->i", xyz, xyz))
        keep = valid & (rho >= cfg.range_min_m) & (rho <= cfg.range_max_m)
        n_valid = int(valid.sum())
        stats.update(points=n_in, invalid=n_in - n_valid, out_of_range=n_valid - int(keep.sum()))
        xyz, dop, rcs, rho = xyz[keep], dop[keep], rcs[keep], rho[keep]
        R, t = T[:3, :3], T[:3, 3]
        u = (xyz / rho[:, None]) @ R.T
        p = xyz @ R.T + t
        v_radar = np.zeros(3)
        v_radar[: v_ego.shape[0]] = v_ego
        v_radar += np.array([-w * t[1], w * t[0], 0.0])  # yaw-rate lever arm
        ur = u @ v_radar
        comp = dop + ur
        sig_az = math.radians(cfg.azimuth_std_deg)
        vperp2 = np.maximum(v_radar @ v_radar - ur * ur, 0.0)
        sig = np.sqrt(cfg.doppler_std_mps**2 + cfg.ego_velocity_std_mps**2 + sig_az**2 * vperp2)
        moving = np.abs(comp) >= np.maximum(cfg.static_threshold_min_mps, cfg.static_threshold_sigma * sig)
        stats.update(static_rejected=int((~moving).sum()), moving=int(moving.sum()))
        return _Points(p, u, rho, dop, comp, rcs), moving

    def _assemble(self, fit: _Fit, stamp: int, frame_id: str) -> Detections:
        """Step 6: class guess, prior boxes moved to their centres, covariances and scores."""
        cfg = self.config
        m = fit.n.shape[0]
        vel, los = fit.vel, fit.los
        labels = classify(fit.rcs, np.hypot(vel[:, 0], vel[:, 1]), cfg)
        sizes = _SIZE_TABLE[labels]
        yaw = np.arctan2(vel[:, 1], vel[:, 0])
        c = np.abs(np.cos(yaw) * los[:, 0] + np.sin(yaw) * los[:, 1])  # |cos(heading - LOS)|
        s = np.sqrt(np.maximum(1.0 - c * c, 0.0))
        l, wd = sizes[:, 0], sizes[:, 1]
        shadow = l * s + wd * c  # box width across the LOS
        depth = l * wd / (2.0 * np.maximum(shadow, 1e-9))  # centre behind the visible faces' centroid
        xy = fit.centroid + (cfg.center_shift_fraction * depth)[:, None] * los
        f = cfg.pos_extent_std_fraction
        sig_az = math.radians(cfg.azimuth_std_deg)
        var_along = cfg.range_std_m**2 / fit.n + (0.5 * f * (l * c + wd * s)) ** 2
        var_across = (fit.rho * sig_az) ** 2 / fit.n + (0.5 * f * shadow) ** 2
        nrm = np.column_stack([-los[:, 1], los[:, 0]])
        pos_cov = var_along[:, None, None] * _outer2(los) + var_across[:, None, None] * _outer2(nrm)
        score = (1.0 - np.exp(-fit.n / cfg.score_ref_points)) * np.exp(
            -0.5 * (fit.rms / cfg.score_residual_ref_mps) ** 2
        )
        score = np.clip(np.where(fit.full, score, cfg.radial_only_score_factor * score), 0.0, 1.0)
        return Detections(
            stamp_ns=stamp,
            frame_id=frame_id,
            centers=np.column_stack([xy, 0.5 * sizes[:, 2]]),
            sizes=sizes,
            yaw=yaw,
            labels=labels,
            scores=score,
            velocity=vel,
            pos_cov=pos_cov,
            sensors=np.full(m, SENSOR_RADAR, np.uint8),
            vel_cov=fit.vel_cov,
            los=fit.u_mean,
            radial=np.einsum("ni,ni->n", fit.u_mean, vel),
            radial_var=np.einsum("ni,nij,nj->n", fit.u_mean, fit.vel_cov, fit.u_mean),
            radial_only=~fit.full,
        )
