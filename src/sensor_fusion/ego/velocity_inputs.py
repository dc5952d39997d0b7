"""Wheel odometry and GNSS velocity: measurements, models before and after the heading is known.

Both measure velocity, which IMU + GPS observe worst; both must be usable *before* the heading
is known, when a slow robot needs them most:

* wheel odometry (``nav_msgs/Odometry`` twist, base_link axes): once yaw is known the body
  velocity model of :func:`.measurements.body_velocity` (chi2-gated). Before, the body
  velocity says nothing about the world direction, but two things are heading-free: the
  horizontal *speed* ``|v_h|`` (:func:`speed_model`, once the filter's own course is known
  well enough to linearise it), and, at standstill
  (``|v| <= wheel_zero_speed_mps``), the whole horizontal velocity, zero
  (:func:`zero_velocity_model`): stops. Each sample also extends the dead-reckoned track of
  :mod:`.track_align` that gives the heading at low speed. The wheels' yaw rate is not used:
  the gyro measures it far better, and a skid-steer's wheel yaw rate is off by its slip
  factor (1.5-2x) in every turn.
* GNSS velocity (``geometry_msgs/TwistWithCovarianceStamped``, ENU, the antenna's Doppler
  velocity): once yaw is known ``h = v + R (w x l)`` (:func:`gnss_velocity_model`); before,
  its course is the heading (forward driving, no side slip; backwards when the wheels say so)
  once the speed is at least ``align_gnss_velocity_min_speed_mps`` and the course std
  ``sqrt(n' C n) / |v|`` at most ``align_max_std_rad`` (Doppler at 0.05-0.1 m/s: from about
  1 m/s on); slower (stops, turns on the spot) only its speed is used.

Covariances: a missing, NaN or non-positive diagonal (drivers publish zeros) takes the
``*_fallback_std_mps`` of the config; a diagonal of 1e3 (m/s)^2 or more (the ROS convention
for "not measured") drops that row; off-diagonals are kept only if the result is positive
definite.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from . import eskf
from .measurements import Linearised
from .state import FilterState, Measurement

__all__ = [
    "UNMEASURED_VAR",
    "gnss_course",
    "gnss_velocity_model",
    "reseed_velocity",
    "speed_model",
    "velocity_measurement",
    "wheel_unaligned",
    "zero_velocity_model",
]

UNMEASURED_VAR = 1.0e3  # (m/s)^2: ROS drivers mark an unmeasured axis with a huge variance


def velocity_measurement(
    stamp_ns: int, velocity: np.ndarray, covariance: np.ndarray | None, fallback_std: float, kind: str
) -> Measurement | None:
    """A (3,) velocity with its (3, 3) covariance (None or NaN: unknown) as a measurement over
    the rows that are finite and not marked unmeasured; None when no row is left."""
    v = np.asarray(velocity, dtype=np.float64).reshape(-1)
    if v.shape != (3,):
        return None
    C = np.full((3, 3), np.nan) if covariance is None else np.asarray(covariance, dtype=np.float64)
    if C.size != 9:
        C = np.full((3, 3), np.nan)
    C = C.reshape(3, 3)
    diag = np.diag(C).copy()
    bad = ~np.isfinite(diag) | (diag <= 0.0)
    diag[bad] = fallback_std**2
    rows = tuple(i for i in range(3) if math.isfinite(v[i]) and diag[i] < UNMEASURED_VAR)
    if not rows:
        return None
    R = np.diag(diag[list(rows)])
    if not bad.any():
        full = C[np.ix_(rows, rows)]
        full = 0.5 * (full + full.T)
        if np.isfinite(full).all():
            try:
                np.linalg.cholesky(full)
                R = full
            except np.linalg.LinAlgError:
                pass
    return Measurement(int(stamp_ns), v, R, kind=kind, rows=rows)


def floored(m: Measurement, stds: tuple[float, float, float]) -> Measurement:
    """``m`` with each measured row's variance raised to at least ``stds[row]^2`` (a diagonal
    added, so a full covariance stays positive definite); ``m`` itself when none is below."""
    lo = np.array([stds[r] ** 2 for r in m.rows])
    add = np.maximum(lo - np.diag(m.cov), 0.0)
    if not add.any():
        return m
    return replace(m, cov=m.cov + np.diag(add))


def _row_var(m: Measurement, row: int) -> float | None:
    return float(m.cov[m.rows.index(row), m.rows.index(row)]) if row in m.rows else None


def speed_model(s: FilterState, speed: float, var: float, max_course_std: float) -> Linearised | None:
    """Heading-free horizontal speed ``h = |v_h|``, linearised along the filter's velocity.

    A known speed with an unknown direction is a ring, which no Gaussian in (vx, vy) describes:
    linearised about a velocity pointing the wrong way the update pins a wrong velocity with a
    small variance and the position runs away from the fixes. So the row is used only once the
    filter's own course is known to ``max_course_std`` (``sqrt(n' P_v n) / |v_h|``, the
    linearisation limit the heading has too: ``unalign_yaw_std_rad``); None before."""
    vh = s.v[:2]
    n = math.hypot(vh[0], vh[1])
    if n < 1e-3:
        return None
    u = vh / n
    perp = np.array([-u[1], u[0]])
    if float(perp @ s.P[3:5, 3:5] @ perp) > (max_course_std * n) ** 2:
        return None
    H = np.zeros((1, eskf.DIM))
    H[0, 3:5] = u
    return Linearised(np.array([speed - n]), H, np.array([[var]]))


def zero_velocity_model(s: FilterState, var: float) -> Linearised:
    """Standing still: horizontal world velocity zero, whatever the heading."""
    H = np.zeros((2, eskf.DIM))
    H[0, 3] = H[1, 4] = 1.0
    return Linearised(-s.v[:2].copy(), H, np.eye(2) * var)


def wheel_unaligned(
    s: FilterState, m: Measurement, zero_speed: float, max_course_std: float
) -> Linearised | None:
    """The heading-free part of a wheel measurement: zero velocity at standstill, else the
    speed (when the filter's course is known well enough, :func:`speed_model`)."""
    vx = _row_var(m, 0)
    if vx is None:
        return None
    vy = _row_var(m, 1)
    lat = float(m.z[1]) if vy is not None else 0.0
    sp = math.hypot(float(m.z[0]), lat)
    if sp <= zero_speed:
        return zero_velocity_model(s, max(vx, vy or 0.0))
    return speed_model(s, sp, vx, max_course_std)


def gnss_velocity_model(s: FilterState, m: Measurement, lever: np.ndarray) -> Linearised:
    """Antenna velocity in ENU ``h = v + R (w x l)`` over the measured rows (w the bias-corrected
    gyro), Jacobian on dv only."""
    w = s.w_meas - s.bg
    h = s.v + eskf.quat_to_rot(s.q) @ np.cross(w, lever)
    rows = list(m.rows)
    H = np.zeros((len(rows), eskf.DIM))
    for k, r in enumerate(rows):
        H[k, 3 + r] = 1.0
    return Linearised(m.z[rows] - h[rows], H, m.cov)


def gnss_course(
    s: FilterState, m: Measurement, lever: np.ndarray
) -> tuple[float, float, float, float] | None:
    """``(course, var, speed, speed_var)`` of the horizontal GNSS velocity, the course turned by
    pi when the wheels say the robot reverses; None without both horizontal rows. The lever
    arm's ``w x l`` (unknown direction before yaw is known) is added to both variances."""
    if 0 not in m.rows or 1 not in m.rows:
        return None
    ve, vn = float(m.z[0]), float(m.z[1])
    sp = max(math.hypot(ve, vn), 1e-6)
    i, j = m.rows.index(0), m.rows.index(1)
    C = m.cov[np.ix_([i, j], [i, j])]
    n = np.array([-vn, ve]) / sp
    u = np.array([ve, vn]) / sp
    w = s.w_meas - s.bg
    lv = float(np.linalg.norm(np.cross(w, lever)))
    var = (float(n @ C @ n) + lv * lv) / (sp * sp)
    course = math.atan2(vn, ve)
    if s.wheel_vb is not None and math.isfinite(s.wheel_vb[0]) and s.wheel_vb[0] < 0.0:
        course += math.pi
    return course, var, sp, float(u @ C @ u) + lv * lv


def reseed_velocity(s: FilterState, v_h: np.ndarray, var: float) -> None:
    """After an alignment: the horizontal velocity is ``v_h`` (m/s, ENU) with variance ``var``
    per axis, uncorrelated with the rest (what the filter had was in the wrong direction)."""
    s.v = np.array([float(v_h[0]), float(v_h[1]), float(s.v[2])])
    P = s.P.copy()
    P[3:5, :] = 0.0
    P[:, 3:5] = 0.0
    P[3, 3] = P[4, 4] = var
    s.P = P
