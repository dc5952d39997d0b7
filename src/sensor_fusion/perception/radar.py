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
   velocity along the LOS. Point ``i`` is stationary when ``r_i^2 / var_i`` is within the
   chi-square (1 dof) quantile of ``1 - static_false_alarms_per_scan / n``, ``var_i`` from the Doppler noise,
   the ego velocity and yaw-rate covariance (the ego filter's) and the LOS direction error
   (:mod:`.radar_clutter`). Stationary returns (roadside clutter, parked cars, poles, rails)
   start no detection; they are where the reflector lines of step 5 come from. Caveat: an
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
   *mirror*: a cluster behind a straight reflector (a guard rail, wall or façade fitted to
   the stationary returns) whose mirror image across it holds a stronger moving cluster
   with the mirrored Doppler (:mod:`.radar_clutter`; counted in ``rejected_ghost_mirror``
   and in ``rejected_ghost``).
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
   ``sigma_r^2 / n + (f d / 2)^2 + d^2 / (12 n^2)`` along and
   ``(rho sigma_az)^2 / n + (f s / 2)^2 + s^2 / (12 n^2)`` across, ``d, s`` the prior box's
   visible depth along and width across the LOS, ``f = pos_extent_std_fraction`` (the prior box
   is not the object's); the last terms, times ``pos_centroid_spread_fraction``, are where ``n``
   returns spread evenly over an extent put their centroid (one return: anywhere on it, variance
   ``s^2 / 12``). Without them the position is overconfident: NEES 3.5-6.7 (2 expected) on the
   generator's scans, 1.6-2.9 with them (``scripts/radar_clutter_eval.py``); but the tracker's
   radar gating was set with the overconfident covariance and the consistent one costs MOTA in
   clutter (radar_clutter seed 4: 0.548 to 0.487), so the default (0) keeps it until the tracker
   is retuned.
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

import numpy as np

from ..core.classes import SENSOR_RADAR, ObjectClass
from ..core.schema import ParamConfig, param
from ..core.types import Detections, RadarScan
from .radar_clutter import Reflectors, empty_reflectors, fit_reflectors, mirror_ghosts, static_test
from .radar_fit import (
    ClusterFit,
    RadarPoints,
    classify,
    cluster_radar,
    find_ghosts,
    fit_velocities,
    outer2,
)

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
        0.1,
        unit="m/s",
        ge=0.0,
        desc="Std of the ego velocity per axis when the caller gives no covariance (the pipeline gives "
        "the ego filter's)",
    )
    # Region of interest: range from the radar.
    range_min_m: float = param(0.5, unit="m", ge=0.0, desc="Closer returns are dropped")
    range_max_m: float = param(150.0, unit="m", gt=0.0, desc="Farther returns are dropped")
    # Stationary or moving: chi-square test of the compensated Doppler (radar_clutter.py).
    static_false_alarms_per_scan: float = param(
        0.01,
        unit="1",
        gt=0.0,
        lt=1.0,
        desc="Stationary returns a scan may call moving, on average: each return's compensated Doppler "
        "is tested against its variance (Doppler noise, ego velocity and yaw-rate covariance) at the "
        "chi-square (1 dof) level 1 - this / returns",
    )
    # Reflectors and mirror ghosts (radar_clutter.py).
    reflector_min_points: int = param(
        3, unit="1", ge=2, desc="Stationary returns a straight reflector (rail, wall, facade) is fitted to"
    )
    reflector_min_length_m: float = param(
        5.0, unit="m", gt=0.0, desc="Shortest reflector segment (longer than a car, 4.5 m)"
    )
    reflector_inlier_m: float = param(
        0.6,
        unit="m",
        gt=0.0,
        desc="A stationary return within this distance of a reflector line is on it (2 sigma of the "
        "azimuth noise, 0.3 deg, at 60 m)",
    )
    reflector_max_gap_m: float = param(
        10.0,
        unit="m",
        gt=0.0,
        desc="A reflector's returns have no wider gap along it (a facade or rail returns a point every "
        "few metres; a wider gap is a side street or a missing section)",
    )
    reflector_extend_m: float = param(
        20.0,
        unit="m",
        ge=0.0,
        inf_ok=True,
        desc="A reflector continues this far past its end returns (a facade seen at grazing incidence "
        "returns little; the mirror-partner and Doppler tests guard against a surface assumed there)",
    )
    ghost_mirror_gate_m: float = param(
        3.0,
        unit="m",
        gt=0.0,
        desc="A cluster behind a reflector is a mirror ghost when another lies this close to its mirror "
        "image (half a car length, the returns sample different points, plus noise)",
    )
    ghost_mirror_doppler_std_mps: float = param(
        0.5,
        unit="m/s",
        ge=0.0,
        desc="Model std of a ghost's Doppler against the mirrored velocity of its partner (the two "
        "clusters sample different points of a target that may turn)",
    )
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
    pos_centroid_spread_fraction: float = param(
        0.0,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="Fraction of the centroid-spread variance s^2 / (12 n^2) added to the position covariance "
        "(1: consistent, NEES ~2; 0, the default: as before, NEES 3.5-6.7, because the tracker's gates "
        "were set with it and lose MOTA in clutter with the consistent one; docs/results.md)",
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


_STAT_KEYS = (
    "points", "invalid", "out_of_range", "static_rejected", "moving", "reflectors", "clusters",
    "radial_only", "rejected_clusters", "rejected_few_points", "rejected_rcs", "rejected_residual",
    "rejected_ghost", "rejected_ghost_mirror", "detections",
)  # fmt: skip

# ``last_point_labels`` codes (per input return) besides a detection's index (>= 0)
POINT_DROPPED = -1  # invalid or out of range
POINT_STATIC = -2  # stationary (compensated Doppler within the static gate)
POINT_REJECTED = -3  # in a cluster rejected for few points, low RCS or a large residual
POINT_GHOST = -4  # in a cluster rejected as a ghost (double bounce, behind another, mirror)


class RadarDetector:
    """Moving objects from one radar scan; per-stage seconds in ``last_timing``, counts in ``last_stats``."""

    def __init__(self, config: RadarDetectorConfig | None = None):
        self.config = config if config is not None else RadarDetectorConfig()
        self.config.validate()
        self.last_timing: dict[str, float] = {"compensate": 0.0, "cluster": 0.0, "fit": 0.0}
        self.last_stats: dict[str, int] = dict.fromkeys(_STAT_KEYS, 0)
        self.last_point_labels = np.zeros(0, np.int64)  # per return: detection index or a POINT_ code
        self.last_reflectors: Reflectors = empty_reflectors()

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
        ego_velocity_cov: np.ndarray | None = None,
        ego_yaw_rate_var: float = 0.0,
    ) -> Detections:
        """Moving objects in ``frame_id`` (base_link) from one scan; see the module docstring.

        ``ego_velocity_base``: (2,) or (3,) velocity of the base_link origin in base_link axes, m/s;
        ``ego_yaw_rate``: rad/s; ``ego_velocity_cov``: (2, 2) or (3, 3) its covariance in base axes
        (the ego filter's), ``ego_yaw_rate_var`` the yaw rate's variance: the static test's
        threshold (None, 0: only ``ego_velocity_std_mps``). The result carries the optional Doppler
        rows (module docstring); ``last_point_labels`` says what became of each return.
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
        cov = np.zeros((3, 3))
        if ego_velocity_cov is not None:
            c = np.asarray(ego_velocity_cov, dtype=np.float64)
            if c.shape not in ((2, 2), (3, 3)) or not np.isfinite(c).all():
                raise ValueError(f"ego_velocity_cov must be a finite (2, 2) or (3, 3) matrix, got {c!r}")
            cov[: c.shape[0], : c.shape[1]] = c
        w_var = float(ego_yaw_rate_var)
        if not (math.isfinite(w_var) and w_var >= 0.0):
            raise ValueError(f"ego_yaw_rate_var must be finite and >= 0, got {ego_yaw_rate_var!r}")
        stats = dict.fromkeys(_STAT_KEYS, 0)
        timing = {"compensate": 0.0, "cluster": 0.0, "fit": 0.0}
        self.last_stats, self.last_timing = stats, timing
        self.last_reflectors = empty_reflectors()

        pts, moving, kept = self._compensate(scan, T, v_ego, w, cov, w_var, stats)
        labels = np.full(kept.shape[0], POINT_DROPPED, np.int64)
        self.last_point_labels = labels
        labels[kept] = np.where(moving, 0, POINT_STATIC)
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
        moving_pts = RadarPoints(*(a[idx] for a in pts))
        fit = fit_velocities(lab, nc, moving_pts, t_radar, cfg)
        stats["radial_only"] = int((~fit.full).sum())
        few = fit.n < cfg.min_points
        weak = ~few & (fit.rcs < cfg.min_rcs_dbsm)
        bad = ~few & ~weak & (fit.rms > cfg.fit_max_residual_mps)
        ghost = ~few & ~weak & ~bad & find_ghosts(lab, idx, fit, pts, t_radar, cfg)
        static = ~moving
        refl = fit_reflectors(pts.p[static], cfg, pts.rcs[static])
        self.last_reflectors = refl
        mirror = ~few & ~weak & ~bad & ~ghost & mirror_ghosts(fit, refl, t_radar, cfg)
        keep = ~(few | weak | bad | ghost | mirror)
        stats.update(
            reflectors=int(refl.n.shape[0]),
            rejected_few_points=int(few.sum()),
            rejected_rcs=int(weak.sum()),
            rejected_residual=int(bad.sum()),
            rejected_ghost=int(ghost.sum() + mirror.sum()),
            rejected_ghost_mirror=int(mirror.sum()),
            rejected_clusters=int(nc - keep.sum()),
            detections=int(keep.sum()),
        )
        det_index = np.where(keep, np.cumsum(keep) - 1, np.where(ghost | mirror, POINT_GHOST, POINT_REJECTED))
        moving_rows = np.flatnonzero(kept)[idx]
        labels[moving_rows] = det_index[lab]
        out = self._assemble(ClusterFit(*(a[keep] for a in fit)), stamp, frame_id)
        timing["fit"] = time.perf_counter() - t2
        return out

    def _compensate(
        self,
        scan: RadarScan,
        T: np.ndarray,
        v_ego: np.ndarray,
        w: float,
        cov: np.ndarray,
        w_var: float,
        stats: dict[str, int],
    ) -> tuple[RadarPoints, np.ndarray, np.ndarray]:
        """Steps 1-2: valid in-range returns in base_link, their moving mask, and which input rows
        they are (bool over the scan)."""
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
        comp = dop + u @ v_radar
        moving, _nis = static_test(u, comp, v_radar, t, cov, w_var, cfg)
        stats.update(static_rejected=int((~moving).sum()), moving=int(moving.sum()))
        return RadarPoints(p, u, rho, dop, comp, rcs), moving, keep

    def _assemble(self, fit: ClusterFit, stamp: int, frame_id: str) -> Detections:
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
        vis_depth = l * c + wd * s  # depth of the visible faces along the LOS
        # n returns spread evenly over an extent: their centroid's variance (off by default, see
        # pos_centroid_spread_fraction)
        k = cfg.pos_centroid_spread_fraction / (12.0 * fit.n**2)
        var_along = cfg.range_std_m**2 / fit.n + (0.5 * f * vis_depth) ** 2 + k * vis_depth**2
        var_across = (fit.rho * sig_az) ** 2 / fit.n + (0.5 * f * shadow) ** 2 + k * shadow**2
        nrm = np.column_stack([-los[:, 1], los[:, 0]])
        pos_cov = var_along[:, None, None] * outer2(los) + var_across[:, None, None] * outer2(nrm)
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
