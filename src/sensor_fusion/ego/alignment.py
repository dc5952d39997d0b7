"""Yaw alignment: finding the heading while it is unknown.

Until the heading is known it is kept out of the linear model (its cross-covariances are
zeroed and no update corrects it: the linearisation is meaningless for errors of order pi);
its effects enter as noise instead (see :mod:`.propagation` and :class:`.measurements.Updater`).
After each fused fix two heading sources are tried, both assuming forward driving without
side slip (the NHC):

* the filter's own velocity (:func:`align_from_velocity`): once the horizontal speed is
  ``>= align_min_speed_mps`` and its direction is known to ``align_max_std_rad``
  (``sqrt(n' P_v n)/|v|``, ``n`` the normal to the course), yaw is set to the course and the
  covariance carried over exactly (new yaw error ``n . dv/|v|``, ``P = J P J'``): typically
  after 3-5 fixes when cruising;
* the GPS chord (:func:`align_from_chord`; robust in sustained turns, where the unknown
  rotation of the lateral acceleration keeps the velocity uncertain): every pair of fused
  fixes at least ``align_baseline_s`` apart (within ``align_window_s``) at
  ``>= align_min_speed_mps`` gives a course; for a constant-curvature path the chord
  direction equals the heading at the middle of the interval, i.e. the mean of the two
  filter yaws (which differ by the integrated gyro only). The weighted circular mean of
  ``course - mid_yaw`` rotates the state about world z when its std
  (``sqrt(var_i + var_j)/chord``) is below ``align_max_std_rad``; the yaw variance is set to
  that std^2 and the velocity re-seeded along the new heading.

With live wheel odometry neither is tried: the wheel + gyro track matched to the fixes
(:mod:`.track_align`) is the only source (:func:`wheels_live`). It answers the same question
from every fix, with a test of each fix against the dead-reckoned path; a chord takes two fixes
untested, and one reaching into a multipath jump set the heading 60 deg off on a slow robot.
Once the fixes have spread over three times the span the track needs and it still gives no
heading, the wheels are taken to disagree with the motion and the course-based sources try too.

A heading measurement (an ENU-referenced IMU orientation output) aligns directly
(:func:`align_to_heading`). Every alignment rotates the world-frame tilt errors with the
heading change (:func:`turn_heading`). From there on yaw is an ordinary EKF state refined by
GPS + NHC; should its std grow past ``unalign_yaw_std_rad``, alignment starts over.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.geometry import wrap_angle
from ..core.stamps import NS_PER_S
from . import eskf
from .config import EgoConfig
from .measurements import grow_yaw_bias, heading_residual
from .state import FilterState, Measurement
from .track_align import TRACK_MAX_GAP_S, add_break, add_fix, try_align
from .velocity_inputs import reseed_velocity

__all__ = [
    "Aligner",
    "align_from_chord",
    "align_from_velocity",
    "align_to_heading",
    "turn_heading",
    "wheels_live",
    "WHEELS_EXPLAIN_FLOORS",
]

# A fused fix while yaw is unknown: stamp -> (east m, north m, horizontal variance m^2, filter yaw rad).
ChordBuffer = dict[int, tuple[float, float, float, float]]


def turn_heading(s: FilterState, d: float, lever: np.ndarray) -> np.ndarray:
    """Rotate the nominal attitude of ``s`` by ``d`` rad about world z, keeping the antenna
    (``lever`` in base_link) where it is, and return P with the world-frame tilt errors turned
    along (they were about the old heading). ``s.P`` itself is left to the caller."""
    R_old = eskf.quat_to_rot(s.q)
    q = eskf.quat_mul(eskf.quat_exp(np.array([0.0, 0.0, d])), s.q)
    s.q = q / math.sqrt(float(q @ q))
    s.p = s.p + (R_old - eskf.quat_to_rot(s.q)) @ lever
    J = np.eye(eskf.DIM)
    cd, sd = math.cos(d), math.sin(d)
    J[6:8, 6:8] = [[cd, -sd], [sd, cd]]
    return J @ s.P @ J.T


def align_to_heading(s: FilterState, yaw: float, var: float, lever: np.ndarray) -> None:
    """Set the heading to a measured ``yaw`` (rad) with its own variance (rad^2)."""
    P = turn_heading(s, heading_residual(s, yaw), lever)
    P[eskf.YAW, :] = 0.0
    P[:, eskf.YAW] = 0.0
    P[eskf.YAW, eskf.YAW] = var
    s.P = 0.5 * (P + P.T)
    s.aligned = True


def align_from_velocity(s: FilterState, c: EgoConfig, lever: np.ndarray) -> bool:
    """Heading from the filter's own velocity (forward driving, no side slip): once the
    horizontal speed is at least ``align_min_speed_mps`` and its direction is known to
    ``align_max_std_rad``, set yaw to the course and carry the information over exactly:
    the new yaw error is ``n . dv / |v|`` (``n`` the unit normal to the course), so P
    becomes ``J P J'`` with that row for yaw. True if aligned."""
    vx, vy = float(s.v[0]), float(s.v[1])
    speed = math.hypot(vx, vy)
    if speed < c.align_min_speed_mps:
        return False
    ch, sh = vx / speed, vy / speed
    n = np.array([-sh, ch])
    var = float(n @ s.P[3:5, 3:5] @ n) / (speed * speed)
    if var > c.align_max_std_rad**2:
        return False
    d = heading_residual(s, math.atan2(sh, ch))
    J = np.eye(eskf.DIM)
    J[eskf.YAW, eskf.YAW] = 0.0
    J[eskf.YAW, 3:5] = n / speed
    P = J @ turn_heading(s, d, lever) @ J.T
    P[eskf.YAW, eskf.YAW] += max(0.0, c.align_min_std_rad**2 - P[eskf.YAW, eskf.YAW])
    s.P = 0.5 * (P + P.T)
    s.aligned = True
    return True


def align_from_chord(s: FilterState, buf: ChordBuffer, t: int, c: EgoConfig, lever: np.ndarray) -> bool:
    """Heading from the GPS chords between the fused fixes in ``buf`` up to ``t`` (entries
    older than ``align_window_s`` are removed from ``buf``). True if aligned."""
    lo = t - int(c.align_window_s * NS_PER_S)
    for k in [k for k in buf if k < lo]:
        del buf[k]
    keys = sorted(k for k in buf if k <= t)
    if len(keys) < 2:
        return False
    arr = np.array([buf[k] for k in keys])
    ts = np.array(keys, dtype=np.float64) / NS_PER_S
    dt = ts[None, :] - ts[:, None]
    de = arr[None, :, 0] - arr[:, None, 0]
    dn = arr[None, :, 1] - arr[:, None, 1]
    dist = np.hypot(de, dn)
    with np.errstate(divide="ignore", invalid="ignore"):
        sig = np.sqrt(arr[:, None, 2] + arr[None, :, 2]) / dist
        ok = (dt >= c.align_baseline_s) & (dist >= c.align_min_speed_mps * dt) & (sig <= c.align_max_std_rad)
    if not ok.any():
        return False
    yaw = arr[:, 3]
    mid = yaw[:, None] + 0.5 * wrap_angle(yaw[None, :] - yaw[:, None])  # mid-interval filter yaw
    delta = np.arctan2(dn, de) - mid
    wts = 1.0 / sig[ok] ** 2
    d = float(np.arctan2(np.sum(wts * np.sin(delta[ok])), np.sum(wts * np.cos(delta[ok]))))
    std = max(float(sig[ok].min()), c.align_min_std_rad)

    P = turn_heading(s, d, lever)
    R_new = eskf.quat_to_rot(s.q)
    speed = math.hypot(s.v[0], s.v[1])
    hx, hy = R_new[0, 0], R_new[1, 0]
    hn = math.hypot(hx, hy)
    s.v = np.array([speed * hx / hn, speed * hy / hn, s.v[2]])
    vz = P[5, 5]
    for idx in (3, 4, 5, eskf.YAW):
        P[idx, :] = 0.0
        P[:, idx] = 0.0
    P[eskf.YAW, eskf.YAW] = std * std
    sv = 0.5 + speed * std
    P[3, 3] = P[4, 4] = sv * sv
    P[5, 5] = vz
    s.P = 0.5 * (P + P.T)
    s.aligned = True
    return True


WHEELS_EXPLAIN_FLOORS = 3.0  # fixes spread over this many track span floors: the wheels had their chance


def wheels_live(s: FilterState, t: int, min_baseline_sigmas: float) -> bool:
    """Wheel odometry feeds the odometry track at ``t`` (its newest sample within
    ``TRACK_MAX_GAP_S``) and may still explain the fixes: then the track alone aligns
    (:meth:`Aligner.after_fix`). The track aligns once it spans ``min_baseline_sigmas`` x the fix
    sigma; fixes spread over ``WHEELS_EXPLAIN_FLOORS`` times that with no heading from it mean
    wheels that disagree with the motion (a wrong wheel radius, a stuck encoder publishing
    zeros, a wrong frame), and the course-based sources try as well. Wheels that fall silent
    hand the heading back to them at once. Either way a failing wheel sensor never keeps the
    heading unknown where the fixes alone would give it."""
    if not (s.track_v and s.track_z) or t - s.track_v[-1][0] > TRACK_MAX_GAP_S * NS_PER_S:
        return False
    f = np.array([e[1:4] for e in s.track_z if e[1] == e[1]], dtype=np.float64).reshape(-1, 3)
    if len(f) < 2:
        return True
    spread = float(np.hypot(*(f[:, :2].max(0) - f[:, :2].min(0))))
    return spread < WHEELS_EXPLAIN_FLOORS * min_baseline_sigmas * math.sqrt(float(np.mean(f[:, 2])))


class Aligner:
    """When to align: keeps the fused fixes while yaw is unknown, tries both sources after
    each, aligns on a heading measurement, and unaligns when the yaw std grows too large.
    ``counters`` (shared with the estimator) counts ``yaw_aligned``."""

    def __init__(self, config: EgoConfig, lever_gps: np.ndarray, counters: dict[str, int]) -> None:
        self.config = config
        self._lever = lever_gps
        self._counters = counters

    def clear(self) -> None:
        """Nothing is kept beside the filter state (its chords and track are in it)."""

    def after_fix(self, s: FilterState, m: Measurement) -> None:
        """After a fused fix: try to align (yaw unknown) or give the heading up (yaw std above
        ``unalign_yaw_std_rad``)."""
        c = self.config
        if not s.aligned:
            yaw = eskf.rpy_from_quat(s.q)[2]
            var_h = 0.5 * float(m.cov[0, 0] + m.cov[1, 1])
            lo = m.stamp_ns - int(c.align_window_s * NS_PER_S)  # what align_from_chord would prune
            kept = tuple(e for e in s.chords if e[0] >= lo)
            s.chords = (*kept, (m.stamp_ns, float(m.z[0]), float(m.z[1]), var_h, yaw))
            if s.track_v:  # wheel odometry seen while unaligned: the track gets this fix
                add_fix(s, m.stamp_ns, m.z, var_h, self._lever, c.align_track_window_s)
            if wheels_live(s, m.stamp_ns, c.align_min_baseline_sigmas):
                # the track only: the course-based headings below take one chord (or the filter's
                # velocity, itself from the fixes) with no test against the dead-reckoned path,
                # so a chord reaching into a multipath jump sets the heading tens of degrees
                # off; the track fit tests every fix (outliers, steps) for the same heading
                self._align_from_track(s, m)
            elif align_from_velocity(s, c, self._lever) or self._align_from_chords(s, m.stamp_ns):
                self.aligned(s, m)
            elif s.track_v and s.track_z:
                self._align_from_track(s, m)
        elif s.P[eskf.YAW, eskf.YAW] > c.unalign_yaw_std_rad**2:
            s.aligned = False
            s.chords = s.track_v = s.track_z = ()

    def after_gated_fix(self, s: FilterState, m: Measurement) -> None:
        """A gated fix while yaw is unknown splits the odometry track (:func:`.track_align.add_break`)."""
        if not s.aligned:
            add_break(s, m.stamp_ns, self.config.align_track_window_s)

    def aligned(self, s: FilterState, m: Measurement, source: str = "") -> None:
        """Bookkeeping after any alignment: forget the course buffers, count it (first pass)."""
        s.chords = s.track_v = s.track_z = ()
        if m.first:
            self._counters["yaw_aligned"] += 1
            if source:
                self._counters[source] += 1

    def _align_from_chords(self, s: FilterState, t: int) -> bool:
        """:func:`align_from_chord` over the state's chords (pruned to its window as they are added,
        so it prunes nothing here)."""
        return align_from_chord(s, {e[0]: e[1:] for e in s.chords}, t, self.config, self._lever)

    def _align_from_track(self, s: FilterState, m: Measurement) -> None:
        """The wheel-odometry track against the fixes (:mod:`.track_align`): rotate by the fitted
        angle, give yaw the fit's std, re-seed the velocity from the last wheel speed."""
        res = try_align(s, self.config)
        if res is None:
            return
        std = res.yaw_std
        P = turn_heading(s, res.theta, self._lever)
        P[eskf.YAW, :] = 0.0
        P[:, eskf.YAW] = 0.0
        P[eskf.YAW, eskf.YAW] = std * std
        if res.antenna is not None:
            # the antenna where the fit of the kept fixes puts it (track_align.try_align), with
            # the share of the heading error in it: a fix the fit dropped as a jump may have
            # pulled the filter's position while its heading was unknown
            lever_w = eskf.quat_to_rot(s.q) @ self._lever
            s.p = s.p.copy()
            s.p[:2] += res.antenna - (s.p + lever_w)[:2]
            # base_link = antenna - R lever: turned by the heading error, the lever moves it too
            J = res.antenna_dtheta - np.array([-lever_w[1], lever_w[0]])
            P[0:2, :] = 0.0
            P[:, 0:2] = 0.0
            P[0:2, 0:2] = np.eye(2) * res.antenna_var + np.outer(J, J) * std * std
            P[0:2, eskf.YAW] = P[eskf.YAW, 0:2] = J * std * std
        s.P = 0.5 * (P + P.T)
        s.aligned = True
        vb = s.wheel_vb
        if vb is not None:
            v = eskf.quat_to_rot(s.q) @ np.where(np.isfinite(vb), vb, 0.0)
            sv = self.config.wheel_fallback_std_mps + abs(float(vb[0]) if math.isfinite(vb[0]) else 0.0) * std
            reseed_velocity(s, v[:2], sv * sv)
        self.aligned(s, m, "yaw_aligned_track")

    def heading(self, s: FilterState, m: Measurement) -> None:
        """A heading measurement while yaw is unknown: rotate to it, with its own variance
        (less the estimated AHRS yaw bias, plus that bias's variance); not while that bias is
        less known than the AHRS noise (``imu_yaw_unused``): learning it needs a heading that
        did not come from the AHRS."""
        z, var = float(m.z[0]), float(m.cov[0, 0])
        if self.config.imu_yaw_bias_init_std_rad > 0.0:
            grow_yaw_bias(s, m.stamp_ns, self.config.imu_yaw_bias_walk_rad_sqrt_s)
            if s.yaw_bias_var > var:  # bias unknown: learnt once GPS + wheels give the heading
                m.result = False
                if m.first:
                    self._counters["imu_yaw_unused"] += 1
                return
            z, var = z - s.yaw_bias, var + s.yaw_bias_var
        align_to_heading(s, z, var, self._lever)
        s.chords = s.track_v = s.track_z = ()
        m.result = True
        if m.first:
            self._counters["imu_yaw_accepted"] += 1
