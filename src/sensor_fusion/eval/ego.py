"""Ego-pose and raw-GPS errors against ground truth.

``ego_trajectory_metrics`` gives the figures localisation people quote, computed with the ``evo``
package (Grupp, https://github.com/MichaelGrupp/evo) as ``evo_ape``/``evo_rpe`` do: ATE is the RMSE of
the translation part of the absolute pose error *without alignment* (our estimate lives in the
GNSS-anchored frame, so an alignment would hide exactly the error that matters); RPE over a time
``delta`` is the RMSE of the translation part of ``(Q_i^-1 Q_j)^-1 (P_i^-1 P_j)`` over all pose
pairs ``delta`` apart (evo's ``all_pairs``; the truth grid is uniform, so a time delta is a frame
delta). Poses are planar (x, y, yaw; z = 0 on both sides), as the estimator's output is.

evo's RPE expresses the relative motion in the frame of the earlier pose, so a heading error
``dpsi`` adds ``dpsi x distance travelled``: at 12 m/s over 10 s, 0.15 deg of heading error alone is
0.3 m. ``ego_rpe_{d}s_world_m`` is the same RMSE over the same pairs of the displacement error in the
world frame, ``|(p_j - p_i) - (q_j - q_i)|``: how far the estimate's path drifts (or jumps) in
``d`` seconds, without the heading term; the two together tell heading from drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.geometry import wrap_angle


@dataclass
class EgoPoses:
    """Planar poses: ``stamp_ns`` (N,) int64, ``x``/``y`` (N,) m, ``yaw`` (N,) rad."""

    stamp_ns: np.ndarray
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray

    def __post_init__(self) -> None:
        self.stamp_ns = np.asarray(self.stamp_ns, dtype=np.int64).reshape(-1)
        n = self.stamp_ns.shape[0]
        self.x = np.asarray(self.x, dtype=np.float64).reshape(n)
        self.y = np.asarray(self.y, dtype=np.float64).reshape(n)
        self.yaw = np.asarray(self.yaw, dtype=np.float64).reshape(n)


def _as_poses(p: EgoPoses | tuple) -> EgoPoses:
    return p if isinstance(p, EgoPoses) else EgoPoses(*p)


def ego_errors(truth_poses: EgoPoses | tuple, est_poses: EgoPoses | tuple) -> dict[str, float | int]:
    """Position RMSE (m) and yaw RMSE (deg) of the estimate, interpolated to the truth stamps.

    Poses are ``EgoPoses`` or ``(stamp_ns, x, y, yaw)`` tuples. Estimates are interpolated
    linearly (yaw unwrapped first, so a +-pi crossing does not sweep through zero); truth
    stamps outside the estimate's time span are skipped rather than extrapolated.
    Stamps are offset to the first truth stamp before going to float, keeping ns precision.
    """
    truth, est = _as_poses(truth_poses), _as_poses(est_poses)
    order = np.argsort(est.stamp_ns, kind="stable")
    if order.size == 0 or truth.stamp_ns.size == 0:
        return {"ego_position_rmse": float("nan"), "ego_yaw_rmse_deg": float("nan"), "ego_num_samples": 0}
    t_ref = truth.stamp_ns[0]
    te = (est.stamp_ns[order] - t_ref).astype(np.float64)
    inside = (truth.stamp_ns >= est.stamp_ns[order[0]]) & (truth.stamp_ns <= est.stamp_ns[order[-1]])
    tt = (truth.stamp_ns[inside] - t_ref).astype(np.float64)
    dx = np.interp(tt, te, est.x[order]) - truth.x[inside]
    dy = np.interp(tt, te, est.y[order]) - truth.y[inside]
    dyaw = wrap_angle(np.interp(tt, te, np.unwrap(est.yaw[order])) - truth.yaw[inside])
    n = int(tt.size)
    return {
        "ego_position_rmse": float(np.sqrt(np.mean(dx**2 + dy**2))) if n else float("nan"),
        "ego_yaw_rmse_deg": float(np.degrees(np.sqrt(np.mean(dyaw**2)))) if n else float("nan"),
        "ego_num_samples": n,
    }


def position_rmse(truth_xy_at_stamps: np.ndarray, measured_xy: np.ndarray) -> float:
    """Planar RMSE (m) of measurements (e.g. raw GPS in ENU) against truth at the same stamps.

    Rows with a non-finite value on either side (no fix) are left out.
    """
    d = (
        np.asarray(measured_xy, dtype=np.float64)[:, :2]
        - np.asarray(truth_xy_at_stamps, dtype=np.float64)[:, :2]
    )
    d = d[np.isfinite(d).all(1)]
    return float(np.sqrt(np.mean(np.sum(d**2, 1)))) if d.size else float("nan")


def gps_average_bound(stamps_ns: np.ndarray, errors_xy: np.ndarray, t_from_ns: int, t_to_ns: int) -> float:
    """Planar RMSE of the running mean of raw GPS errors ((N, 2) m, in stamp order, from the first fix),
    over the fixes stamped in ``[t_from_ns, t_to_ns]``; NaN if none.

    An estimator that knew the vehicle's motion between fixes exactly (heading and speed from the
    first fix on) can do no better, in expectation, than average every fix so far; its error is
    this running mean. It is GPS's information limit for the ego position over the same window,
    to read ``ego_position_rmse`` against: a bound in expectation for white GPS noise (the
    generator's); with time-correlated noise it is only indicative.
    """
    stf = np.asarray(stamps_ns, dtype=np.float64).reshape(-1)
    e = np.asarray(errors_xy, dtype=np.float64).reshape(stf.shape[0], 2)
    ok = np.isfinite(e).all(1) & np.isfinite(stf)
    if not ok.any():
        return float("nan")
    st, e = np.asarray(stamps_ns).reshape(-1)[ok].astype(np.int64), e[ok]
    order = np.argsort(st, kind="stable")
    st, e = st[order], e[order]
    mean = np.cumsum(e, axis=0) / np.arange(1, len(e) + 1)[:, None]
    m = (st >= t_from_ns) & (st <= t_to_ns)
    return float(np.sqrt(np.mean(np.sum(mean[m] ** 2, axis=1)))) if m.any() else float("nan")


def _resampled(truth: EgoPoses, est: EgoPoses) -> tuple[EgoPoses, EgoPoses] | None:
    """Truth inside the estimate's span and the estimate interpolated to those stamps (None: no overlap)."""
    order = np.argsort(est.stamp_ns, kind="stable")
    if order.size < 2 or truth.stamp_ns.size < 2:
        return None
    t_ref = truth.stamp_ns[0]
    te = (est.stamp_ns[order] - t_ref).astype(np.float64)
    inside = (truth.stamp_ns >= est.stamp_ns[order[0]]) & (truth.stamp_ns <= est.stamp_ns[order[-1]])
    if inside.sum() < 2:
        return None
    tt = (truth.stamp_ns[inside] - t_ref).astype(np.float64)
    e = EgoPoses(
        truth.stamp_ns[inside],
        np.interp(tt, te, est.x[order]),
        np.interp(tt, te, est.y[order]),
        np.interp(tt, te, np.unwrap(est.yaw[order])),
    )
    t = EgoPoses(truth.stamp_ns[inside], truth.x[inside], truth.y[inside], truth.yaw[inside])
    return t, e


def _evo_trajectory(p: EgoPoses):
    from evo.core.trajectory import PoseTrajectory3D

    n = p.stamp_ns.size
    xyz = np.column_stack([p.x, p.y, np.zeros(n)])
    wxyz = np.column_stack([np.cos(0.5 * p.yaw), np.zeros(n), np.zeros(n), np.sin(0.5 * p.yaw)])
    return PoseTrajectory3D(xyz, wxyz, (p.stamp_ns - p.stamp_ns[0]) * 1e-9)


def ego_trajectory_metrics(
    truth_poses: EgoPoses | tuple, est_poses: EgoPoses | tuple, rpe_deltas_s: tuple[float, ...] = (1.0, 10.0)
) -> dict[str, float]:
    """``ego_ate_m``, ``ego_rpe_{d}s_m`` and ``ego_rpe_{d}s_world_m`` for each delta (module docstring),
    NaN where undefined
    (no overlap, or the overlap is shorter than the delta)."""
    from evo.core import metrics

    out = {"ego_ate_m": float("nan")}
    out.update(relative_pose_errors(truth_poses, est_poses, rpe_deltas_s))
    pair = _resampled(_as_poses(truth_poses), _as_poses(est_poses))
    if pair is None:
        return out
    ref, tra = _evo_trajectory(pair[0]), _evo_trajectory(pair[1])
    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((ref, tra))
    out["ego_ate_m"] = float(ape.get_statistic(metrics.StatisticsType.rmse))
    return out


def relative_pose_errors(
    truth_poses: EgoPoses | tuple,
    est_poses: EgoPoses | tuple,
    rpe_deltas_s: tuple[float, ...] = (1.0, 10.0),
    prefix: str = "ego",
) -> dict[str, float]:
    """``{prefix}_rpe_{d}s_m`` (evo's RPE, translation RMSE over all pairs ``d`` apart) and
    ``{prefix}_rpe_{d}s_world_m`` (module docstring); NaN where undefined. RPE is invariant to a
    constant rigid transform of the estimate, so it scores REP-105's ``odom`` (whose origin is
    wherever the heading became known) against the truth as it is."""
    from evo.core import metrics

    out: dict[str, float] = {}
    for d in rpe_deltas_s:
        out[f"{prefix}_rpe_{d:g}s_m"] = out[f"{prefix}_rpe_{d:g}s_world_m"] = float("nan")
    pair = _resampled(_as_poses(truth_poses), _as_poses(est_poses))
    if pair is None:
        return out
    truth, est = pair
    ref, tra = _evo_trajectory(truth), _evo_trajectory(est)
    dt = float(np.median(np.diff(truth.stamp_ns))) * 1e-9
    for d in rpe_deltas_s:
        k = int(round(d / dt))
        if k < 1 or k >= truth.stamp_ns.size:
            continue
        rpe = metrics.RPE(metrics.PoseRelation.translation_part, k, metrics.Unit.frames, all_pairs=True)
        rpe.process_data((ref, tra))
        out[f"{prefix}_rpe_{d:g}s_m"] = float(rpe.get_statistic(metrics.StatisticsType.rmse))
        de = np.column_stack([est.x[k:] - est.x[:-k], est.y[k:] - est.y[:-k]])
        dq = np.column_stack([truth.x[k:] - truth.x[:-k], truth.y[k:] - truth.y[:-k]])
        out[f"{prefix}_rpe_{d:g}s_world_m"] = float(np.sqrt(np.mean(np.sum((de - dq) ** 2, axis=1))))
    return out


def odom_max_jump(truth_poses: EgoPoses | tuple, odom_poses: EgoPoses | tuple) -> float:
    """Largest planar step between consecutive odometry poses beyond what the truth moved between the
    same stamps (m): ``max_k |(p_k - p_{k-1}) - (q(t_k) - q(t_{k-1}))|``. A continuous ``odom``
    (REP-105) keeps this at its per-step noise; a GPS correction taken as a jump shows up whole."""
    truth, odo = _as_poses(truth_poses), _as_poses(odom_poses)
    order = np.argsort(odo.stamp_ns, kind="stable")
    st = odo.stamp_ns[order]
    ok = (st >= truth.stamp_ns[0]) & (st <= truth.stamp_ns[-1])
    if ok.sum() < 2:
        return float("nan")
    st = st[ok]
    t_ref = truth.stamp_ns[0]
    tt, ts = (truth.stamp_ns - t_ref).astype(np.float64), (st - t_ref).astype(np.float64)
    q = np.column_stack([np.interp(ts, tt, truth.x), np.interp(ts, tt, truth.y)])
    p = np.column_stack([odo.x[order][ok], odo.y[order][ok]])
    return float(np.max(np.linalg.norm(np.diff(p, axis=0) - np.diff(q, axis=0), axis=1)))


def gps_correlated_rmse(stamps_ns: np.ndarray, errors_xy: np.ndarray, t_from_ns: int, t_to_ns: int) -> float:
    """Planar RMS of the correlated (Gauss-Markov) part of the GNSS error ((N, 2) m, recorded by the
    generator) over the fixes stamped in ``[t_from_ns, t_to_ns]``: the part no estimator can average
    away, to read ``ego_ate_m`` against. NaN if none."""
    st = np.asarray(stamps_ns, dtype=np.int64).reshape(-1)
    e = np.asarray(errors_xy, dtype=np.float64).reshape(st.size, 2)
    m = (st >= t_from_ns) & (st <= t_to_ns) & np.isfinite(e).all(1)
    return float(np.sqrt(np.mean(np.sum(e[m] ** 2, axis=1)))) if m.any() else float("nan")


MOVING_SPEED_MPS = 0.1  # truth speed above which the ego counts as moving (a parked vehicle: 0)


def ego_coverage(truth_poses: EgoPoses | tuple, first_ns: int, last_ns: int) -> float:
    """Fraction of the truth poses from the ego's first motion on that the odometry spans
    (``[first_ns, last_ns]``); NaN without truth.

    Issue 15 defines coverage >= 0.9 as "heading known within the first 12 s of motion" (of a
    120 s run): a heading cannot be observed from GNSS or wheels while standing still, so time
    before the first motion (truth speed > ``MOVING_SPEED_MPS``) is not counted against it. A
    vehicle that starts moving (``urban``) is counted from its first pose, as before.
    """
    truth = _as_poses(truth_poses)
    st = truth.stamp_ns
    if st.size == 0:
        return float("nan")
    if st.size > 1:
        dt = np.diff(st).astype(np.float64) * 1e-9
        speed = np.hypot(np.diff(truth.x), np.diff(truth.y)) / np.where(dt > 0, dt, np.inf)
        moving = np.flatnonzero(speed > MOVING_SPEED_MPS)
        st = st[moving[0] :] if moving.size else st
    return float(np.mean((st >= first_ns) & (st <= last_ns)))
