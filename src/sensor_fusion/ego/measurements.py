"""Measurement models of the ego filter and the gated updates that apply them.

Each model returns its linearisation at the current state as :class:`Linearised` --
residual ``y = z - h(x)``, Jacobian ``H`` over the 15 error states, noise ``R`` -- and
:class:`Updater` gates (chi2 at ``gps_gate_prob``), fuses and counts:

* GPS antenna position ``h = p + R l_gps`` (:func:`gps_position`), chi2(3). While yaw is
  unknown the yaw column is dropped and the horizontal lever arm enters R as an unknown
  offset of size ``|l_h|``. After ``gps_reinit_after_rejections`` consecutive gated fixes
  the position is re-seeded from the fix (a persistent jump is believed). With wheel odometry
  the wheel track also calls fixes multipath (:mod:`.multipath`), and with
  ``gnss_steps`` the steps between fixes do (:mod:`.gnss_steps`).
* Body velocity ``h = R' v`` over the measured axes (:func:`body_velocity`; radar Doppler
  ego-motion, wheel odometry), chi2(k). IMU + GPS observe speed only through differences
  of noisy fixes, so this brings the position error well below the GPS noise early on.
* Heading ``h = yaw(q)`` (:func:`heading`; an ENU-referenced IMU orientation output, after
  ``imu_yaw_offset_rad`` + ``magnetic_declination_rad``), chi2(1), residual wrapped; with
  ``imu_yaw_bias_init_std_rad > 0`` minus an estimated slow yaw bias (:meth:`Updater.yaw`).
* Non-holonomic constraint ``v_body[y] = v_body[z] = 0`` (:func:`nhc`; cars; lateral only
  once yaw is known) and, at standstill (:func:`is_still`: quiet IMU *and* a small, well
  known filter speed), zero velocity + zero angular rate (:func:`zupt`); one of them at
  ``constraint_rate_hz``, ungated.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.special import chdtri

from ..core.geometry import wrap_angle
from ..core.stamps import NS_PER_S
from . import eskf
from .config import EgoConfig
from .multipath import Multipath
from .state import FilterState, Measurement, correct

__all__ = [
    "Linearised",
    "Updater",
    "body_velocity",
    "body_velocity_measurement",
    "gps_position",
    "grow_yaw_bias",
    "heading",
    "heading_residual",
    "is_still",
    "nhc",
    "sanitize_gps_cov",
    "zupt",
]


class Linearised(NamedTuple):
    """A measurement model at the current state."""

    y: np.ndarray  # (k,) residual z - h(x)
    H: np.ndarray  # (k, 15) d h / d dx
    R: np.ndarray  # (k, k) measurement noise


def sanitize_gps_cov(cov: np.ndarray, min_std_m: float, fallback_std_m: float) -> np.ndarray:
    """Symmetric, finite, positive definite (Sylvester) with a floor on the diagonal; else the
    diagonal, else ``fallback_std_m`` on each axis."""
    C = np.asarray(cov, dtype=np.float64)
    if C.size != 9:
        return np.eye(3) * fallback_std_m**2
    v = C.ravel().tolist()
    if not all(math.isfinite(x) for x in v) or min(v[0], v[4], v[8]) <= 0.0:
        return np.eye(3) * fallback_std_m**2
    m = min_std_m**2
    a, b, d = max(v[0], m), 0.5 * (v[1] + v[3]), 0.5 * (v[2] + v[6])
    e, f, i = max(v[4], m), 0.5 * (v[5] + v[7]), max(v[8], m)
    det = a * (e * i - f * f) - b * (b * i - f * d) + d * (b * f - e * d)
    if a * e - b * b <= 0.0 or det <= 0.0:
        return np.diag([a, e, i])
    return np.array([[a, b, d], [b, e, f], [d, f, i]])


def body_velocity_measurement(
    stamp_ns: int, velocity: np.ndarray, covariance: np.ndarray
) -> Measurement | None:
    """A base_link velocity (m/s, base_link axes; NaN = not measured) with its (3, 3)
    covariance as a measurement over the measured axes; None when nothing is measured or the
    covariance of those axes is not finite and positive definite."""
    v = np.asarray(velocity, dtype=np.float64).reshape(3)
    C = np.asarray(covariance, dtype=np.float64).reshape(3, 3)
    rows = tuple(i for i in range(3) if math.isfinite(v[i]))
    R = C[np.ix_(rows, rows)]
    if not rows or not np.isfinite(R).all():
        return None
    R = 0.5 * (R + R.T)
    try:
        np.linalg.cholesky(R)  # positive definite
    except np.linalg.LinAlgError:
        return None
    return Measurement(int(stamp_ns), v, R, kind="vel", rows=rows)


def gps_position(s: FilterState, z: np.ndarray, cov: np.ndarray, lever: np.ndarray) -> Linearised:
    """Antenna position ``h = p + R l`` (``lever`` = antenna in base_link, m)."""
    Rl, H = eskf.gps_jacobian(s.q, lever)
    return Linearised(z - (s.p + Rl), H, cov)


def body_velocity(s: FilterState, m: Measurement) -> Linearised | None:
    """Body velocity ``h = R' v`` over the rows ``m.rows`` measures. While yaw is unknown the
    horizontal rows would compare the world velocity rotated by an arbitrary heading, so only
    the vertical row is used then; None when no row is left."""
    idx = [k for k, r in enumerate(m.rows) if s.aligned or r == 2]
    if not idx:
        return None
    rows = tuple(m.rows[k] for k in idx)
    vb, H = eskf.nhc_jacobian(s.q, s.v, rows)
    return Linearised(m.z[list(rows)] - vb, H, m.cov[np.ix_(idx, idx)])


def heading_residual(s: FilterState, yaw: float) -> float:
    """``yaw - yaw(q)`` wrapped to [-pi, pi), the one heading residual of ego/ (heading
    updates and alignments)."""
    return float(wrap_angle(yaw - eskf.rpy_from_quat(s.q)[2]))


def heading(s: FilterState, yaw: float, var: float | np.ndarray) -> Linearised:
    """base_link heading ``h = yaw(q)`` (ZYX), ``var`` rad^2 (or its (1, 1) matrix)."""
    H = np.zeros((1, eskf.DIM))
    H[0, 6:9] = eskf.rpy_jacobian(s.q)[2]
    return Linearised(np.array([heading_residual(s, yaw)]), H, np.reshape(var, (1, 1)))


def nhc(s: FilterState, lateral_std_mps: float, vertical_std_mps: float) -> Linearised:
    """Non-holonomic constraint: zero lateral (once yaw is known) and vertical body velocity."""
    rows = (1, 2) if s.aligned else (2,)
    vb, H = eskf.nhc_jacobian(s.q, s.v, rows)
    R = np.diag([lateral_std_mps**2 if r == 1 else vertical_std_mps**2 for r in rows])
    return Linearised(-vb, H, R)


def zupt(s: FilterState, velocity_std_mps: float, gyro_noise_rad_s_sqrt_hz: float) -> Linearised:
    """Zero velocity and zero angular rate at standstill: ``v = 0`` and the gyro's mean since
    the last constraint update ``w_int / w_int_s = bg + noise`` (variance ``density^2 /
    w_int_s``). Every sample of the period sees the turn-on bias; one sample per update
    would use one in ``rate / constraint_rate_hz`` of them (1 in 20 at 200 Hz)."""
    H = np.zeros((6, eskf.DIM))
    H[0:3, 3:6] = np.eye(3)
    H[3:6, 12:15] = np.eye(3)
    if s.w_int is not None and s.w_int_s > 0.0:
        w, var = s.w_int / s.w_int_s, gyro_noise_rad_s_sqrt_hz**2 / s.w_int_s
    else:  # no step since the last constraint: the newest sample
        w, var = s.w_meas, s.gyro_sample_var(gyro_noise_rad_s_sqrt_hz)
    y = np.concatenate([-s.v, w - s.bg])
    R = np.diag([velocity_std_mps**2] * 3 + [var] * 3)
    return Linearised(y, H, R)


def grow_yaw_bias(s: FilterState, t: int, walk_rad_sqrt_s: float) -> None:
    """Random walk of the AHRS yaw bias variance up to ``t`` (from its last AHRS measurement)."""
    if s.t_yaw_bias_ns >= 0 and t > s.t_yaw_bias_ns:
        s.yaw_bias_var += walk_rad_sqrt_s**2 * (t - s.t_yaw_bias_ns) / NS_PER_S
    s.t_yaw_bias_ns = max(t, s.t_yaw_bias_ns)


# the weight of one window (zupt_window_s) of samples in the IMU statistics: 1 - 1/e
_WINDOW_FILLED = 1.0 - math.exp(-1.0)


def is_still(s: FilterState, c: EgoConfig, g: np.ndarray) -> bool:
    """Standstill: quiet IMU (EW std of the specific force, bias-corrected mean rate and newest
    rate sample, mean acceleration ~ 0) and a filter speed that is small and well known (so constant-speed
    cruising never qualifies). Not before the statistics hold one window of samples
    (``FilterState.imu_weight``). ``g`` is gravity in the world, m/s^2."""
    if s.imu_weight < _WINDOW_FILLED:  # the statistics cover less than one window yet
        return False
    if float(s.imu_var[3:6].max()) > c.zupt_accel_std_mps2**2 * s.imu_weight:
        return False
    w = s.imu_mean[0:3] - s.bg
    if float(w @ w) > c.zupt_gyro_rate_rad_s**2:
        return False
    # The newest sample too: the window mean lags by ~zupt_window_s, so a turn on the spot (no
    # translation, a quiet accelerometer) would pass as standstill while its rate ramps up, and
    # the zero-rate row would turn that rate into gyro bias. Threshold: the mean's plus 4 sample
    # noise stds (a noise-only sample never exceeds it).
    w = s.w_meas - s.bg
    lim = c.zupt_gyro_rate_rad_s + 4.0 * math.sqrt(s.gyro_sample_var(c.gyro_noise_rad_s_sqrt_hz))
    if float(w @ w) > lim * lim:
        return False
    if float(s.v @ s.v) > c.zupt_max_speed_mps**2:
        return False
    acc = eskf.quat_to_rot(s.q) @ (s.imu_mean[3:6] - s.ba) + g  # estimated acceleration
    if float(acc @ acc) > c.zupt_max_accel_mps2**2:
        return False
    return float(max(s.P[3, 3], s.P[4, 4], s.P[5, 5])) < c.zupt_max_speed_std_mps**2


class Updater:
    """Applies the models to a state: gates, fuses, counts (``counters`` shared with the
    estimator) and keeps what the updates need between calls (consecutive GPS rejections,
    the last injected correction)."""

    def __init__(self, config: EgoConfig, lever_gps: np.ndarray, counters: dict[str, int]) -> None:
        c = self.config = config
        self._lever = lever_gps
        lh2 = float(lever_gps[:2] @ lever_gps[:2])
        self._lever_cov = np.diag([lh2, lh2, 0.0])
        self._g = np.array([0.0, 0.0, -c.gravity_mps2])
        self._gate = {
            k: math.inf if c.gps_gate_prob >= 1.0 else float(chdtri(k, 1.0 - c.gps_gate_prob))
            for k in (1, 2, 3)
        }
        self.constraint_period_ns = int(round(NS_PER_S / c.constraint_rate_hz))
        self._counters = counters
        self.last_correction: np.ndarray | None = None  # last injected error state (15,)
        self.multipath = Multipath(config, lever_gps, counters)
        self.clear()

    def clear(self) -> None:
        self._consec_rejects = 0
        self._constrained_ns = -(1 << 62)  # newest stamp whose constraint update was counted
        self.multipath.clear()

    def start_level(self, t_ns: int, s: FilterState | None = None, fix: Measurement | None = None) -> None:
        """The filter started (or was re-seeded) from a fix at ``t_ns``: the level it holds since;
        at the start, that fix (``fix``, with the state ``s`` it gave) is the first reference of
        the steps between fixes."""
        self.multipath.start_level(t_ns)
        if s is not None and fix is not None:
            self.multipath.first_fix(s, fix)

    def _correct(self, s: FilterState, lin: Linearised, gate: float = math.inf) -> bool:
        dx = correct(s, lin.H, lin.R, lin.y, gate)
        if dx is None:
            return False
        self.last_correction = dx
        return True

    def correct_gated(self, s: FilterState, lin: Linearised) -> bool:
        """Fuse ``lin`` behind the chi2 gate of its dimension (``gps_gate_prob``)."""
        return self._correct(s, lin, self._gate[len(lin.y)])

    def _nis(self, s: FilterState, lin: Linearised) -> float:
        """Normalised innovation squared of ``lin`` (inf for a singular innovation covariance)."""
        S = lin.H @ s.P @ lin.H.T + lin.R
        try:
            return float(lin.y @ np.linalg.solve(S, lin.y))
        except np.linalg.LinAlgError:
            return math.inf

    def gps(self, s: FilterState, m: Measurement) -> bool:
        """Gate and fuse a fix (``m.z`` the antenna position, ENU); sets and returns ``m.result``.
        With wheel odometry the fix may be judged multipath first (:mod:`.multipath`)."""
        lin = self._gps_lin(s, m)
        judged = m.first and self.config.wheel_scale_std > 0.0
        stepped = False
        if judged:
            stepped = self.multipath.decide(s, m, self._nis(s, lin) <= self._gate[3])
            if m.reseed:
                self._consec_rejects = 0
        if self.multipath.apply_levels(s, m):  # re-seeded from this fix: it is not fused a second time
            m.result = True
            if m.first:
                self._counters["gps_accepted"] += 1
            ok = True
        else:
            ok = self._fuse_fix(s, m, lin)
        if judged:
            self.multipath.after_fix(s, m, ok, stepped)
        return ok

    def _gps_lin(self, s: FilterState, m: Measurement) -> Linearised:
        lin = gps_position(s, m.z, m.cov, self._lever)
        if not s.aligned:  # yaw unknown: the horizontal lever arm is an unknown offset of size |l_h|
            lin.H[:, eskf.YAW] = 0.0
            lin = lin._replace(R=lin.R + self._lever_cov)
        return lin

    def _fuse_fix(self, s: FilterState, m: Measurement, lin: Linearised) -> bool:
        """The fix after the multipath decision: gated (multipath) or fused behind the chi2 gate,
        counted, and a re-seed after ``gps_reinit_after_rejections`` consecutive gated fixes."""
        if m.multipath:
            # the fixes of the recent past, carried along the wheel track, disagree with this one
            # too: multipath, not a lost filter; gated, and it does not count towards a re-seed
            m.result = False
            if m.first:
                self._counters["gps_rejected_gate"] += 1
                self._counters["gps_multipath_gated"] += 1
            return False
        if m.course_var > 0.0 and not s.aligned:
            # kept when the fix is gated all the same, so consecutive gated fixes add up the
            # squared distances (more than the one from the last accepted fix): restoring P
            # instead gated dev robot seed 38's true fixes 107 times instead of 46 (position
            # RMSE 2.9 -> 4.4 m); of the other 29 dev seeds three moved by <= 0.08 deg yaw RMSE
            s.P = s.P.copy()
            s.P[0, 0] += m.course_var
            s.P[1, 1] += m.course_var
        m.result = self._correct(s, lin, self._gate[3])
        if not m.first:
            return m.result
        if m.result:
            self._counters["gps_accepted"] += 1
            self._consec_rejects = 0
            return True
        self._counters["gps_rejected_gate"] += 1
        self._consec_rejects += 1
        n = self.config.gps_reinit_after_rejections
        if n and self._consec_rejects >= n:
            self._reseed(s, m)
        return False

    def _reseed(self, s: FilterState, m: Measurement) -> None:
        """After many consecutive gated fixes trust GPS again: re-seed position, inflate velocity."""
        s.p = m.z - eskf.quat_to_rot(s.q) @ self._lever
        s.P[0:6, :] = 0.0
        s.P[:, 0:6] = 0.0
        s.P[0:3, 0:3] = m.cov
        s.P[3:6, 3:6] = np.eye(3) * self.config.init_velocity_std_mps**2
        if s.wheel_scale is not None:
            # the fixes before the re-seed disagree with those after (one set was wrong): a step
            # inside the wheel-scale fit would bend the scale, so its track starts again
            s.wheel_scale = s.wheel_scale.restart()
        self._consec_rejects = 0
        self.multipath.start_level(m.stamp_ns)  # the new level starts here
        self._counters["gps_reinit"] += 1

    def velocity(self, s: FilterState, m: Measurement) -> bool:
        """Gate and fuse a body velocity; sets and returns ``m.result``."""
        lin = body_velocity(s, m)
        if lin is None:
            m.result = False
            return False
        m.result = self._correct(s, lin, self._gate[len(lin.y)])
        if m.first:
            self._counters["vel_accepted" if m.result else "vel_rejected"] += 1
        return m.result

    def yaw(self, s: FilterState, m: Measurement) -> bool:
        """Gate and fuse a heading (yaw known; see alignment for the unknown case).

        With a yaw bias estimate (``imu_yaw_bias_init_std_rad > 0``) the AHRS reads ``yaw + b``.
        A joint update of yaw and ``b`` would need their cross-covariance carried through every
        IMU step; instead each measurement serves one of them: while ``b`` is less certain than
        the AHRS noise (``P_b > R``) and the filter's heading is better known than ``b``
        (``P_yaw <= P_b``: it came from GPS + wheels, or was refined by them) the residual
        ``z - yaw - b`` updates ``b`` only (gain ``P_b / S``, ``S = P_yaw + P_b + R``);
        otherwise the filter sees ``z - b`` with variance ``R + P_b``. No information is used
        twice, so neither becomes over-confident; ``b`` random-walks at
        ``imu_yaw_bias_walk_rad_sqrt_s`` and is learnt again when it has grown."""
        c = self.config
        if c.imu_yaw_bias_init_std_rad <= 0.0:
            m.result = self._correct(s, heading(s, float(m.z[0]), m.cov), self._gate[1])
        else:
            grow_yaw_bias(s, m.stamp_ns, c.imu_yaw_bias_walk_rad_sqrt_s)
            R = float(m.cov[0, 0])
            lin = heading(s, float(m.z[0]) - s.yaw_bias, R + s.yaw_bias_var)
            p_yaw = float(lin.H[0] @ s.P @ lin.H[0])
            if s.yaw_bias_var > R and p_yaw <= s.yaw_bias_var:
                S = p_yaw + s.yaw_bias_var + R
                r = float(lin.y[0])
                m.result = r * r <= self._gate[1] * S
                if m.result:
                    k = s.yaw_bias_var / S
                    s.yaw_bias = float(wrap_angle(s.yaw_bias + k * r))
                    s.yaw_bias_var *= 1.0 - k
            else:
                m.result = self._correct(s, lin, self._gate[1])
        if m.first:
            self._counters["imu_yaw_accepted" if m.result else "imu_yaw_rejected"] += 1
        return m.result

    def constrain(self, s: FilterState, t: int) -> None:
        """At ``constraint_rate_hz``: ZUPT when standing still, else the NHC."""
        c = self.config
        if not (c.use_nhc or c.use_zupt) or t - s.t_nhc_ns < self.constraint_period_ns:
            return
        # a replay after a rollback applies the constraints again: count each stamp once
        first = s.t_ns > self._constrained_ns
        self._constrained_ns = max(self._constrained_ns, s.t_ns)
        if c.use_zupt and is_still(s, c, self._g):
            self._correct(s, zupt(s, c.zupt_velocity_std_mps, c.gyro_noise_rad_s_sqrt_hz))
            self._counters["zupt_updates"] += int(first)
        elif c.use_nhc:
            self._correct(s, nhc(s, c.nhc_lateral_std_mps, c.nhc_vertical_std_mps))
            self._counters["nhc_updates"] += int(first)
        else:  # standstill updates only, and moving: the next one's gyro mean starts here
            s.w_int, s.w_int_s = None, 0.0
            return
        s.t_nhc_ns = s.t_ns
        s.w_int, s.w_int_s = None, 0.0  # the next standstill update's gyro mean starts here
