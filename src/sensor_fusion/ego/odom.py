"""REP-105 frames from the ego filter: a continuous ``odom`` and ``map -> odom`` (ROS-free).

The filter (:class:`~.estimator.EgoEstimator`) estimates base_link in one GNSS-referenced
world frame: REP-105's ``map``. Each fix corrects its position, so that pose jumps by
up to the fix noise, which is what ``odom`` must never do. :class:`OdomFrame` keeps a second
pose that follows the filter's motion but not its corrections:

* heading: the integral of the filter's (bias-corrected) gyro yaw rate, not the filter's yaw.
  Every fix also turns the filter's heading a little (through the velocity and the
  non-holonomic constraint), so the filter's yaw wanders with the GNSS error's own drift
  (0.6-0.8 deg RMS over 10 s on ``urban``: a 1 m/10 s GNSS drift seen over a 120 m path);
  ``odom`` keeps the gyro's relative heading, which is what a local frame needs. Roll and
  pitch are the filter's (gravity-referenced: no drift to remove).
* position: the integral of the filter's velocity *in base_link axes* turned by ``odom``'s own
  heading (trapezoid between outputs), so the path's direction agrees with ``odom``'s yaw.
  A fix changes the filter's position by a step but its velocity only by a small increment,
  so ``odom`` gets a kink, never a jump.

``map -> odom`` = ``T_map_base * inverse(T_odom_base)`` at every output: a translation and a
rotation about the vertical by ``alpha`` = filter yaw - odom yaw (what the fixes have turned),
as robot_localization's two-filter set-up publishes it. Gaps longer than ``max_gap_ns`` are
not integrated across (``odom`` holds; ``map -> odom`` absorbs the motion) and time going
backwards restarts ``odom`` at the filter's pose.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..core.geometry import make_transform, quat_to_matrix
from ..core.stamps import NS_PER_S
from .pose import EgoPose


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _yaw_rate(pose: EgoPose) -> float:
    """rad/s: the rate of the ZYX yaw from the body rates, ``(sin r w_y + cos r w_z) / cos p``."""
    R = quat_to_matrix(pose.quaternion)
    roll = math.atan2(R[2, 1], R[2, 2])
    cp = max(math.hypot(R[2, 1], R[2, 2]), 1e-6)
    w = np.asarray(pose.angular_velocity, dtype=np.float64)
    return float((math.sin(roll) * w[1] + math.cos(roll) * w[2]) / cp)


@dataclass
class EgoOutput:
    """One odometry output: the filter's pose (``map``) and the REP-105 transforms at its stamp."""

    stamp_ns: int
    pose: EgoPose  # base_link in map: the filter's best estimate (published as odometry)
    odom_position: np.ndarray  # (3,) m: base_link's position in odom
    map_odom_yaw: float = 0.0  # rad: map -> odom rotation about the vertical (filter yaw - odom yaw)

    @property
    def T_odom_base(self) -> np.ndarray:
        """(4, 4) base_link -> odom (continuous)."""
        R = _rz(-self.map_odom_yaw) @ quat_to_matrix(self.pose.quaternion)
        return make_transform(R, self.odom_position)

    @property
    def T_map_odom(self) -> np.ndarray:
        """(4, 4) odom -> map: a rotation about the vertical and a translation."""
        return make_transform(_rz(self.map_odom_yaw), self.map_odom_translation)

    @property
    def map_odom_translation(self) -> np.ndarray:
        return np.asarray(self.pose.position, dtype=np.float64) - _rz(self.map_odom_yaw) @ self.odom_position


class OdomFrame:
    """Integrates the filter's gyro heading and body velocity into a continuous ``odom`` pose
    (module docstring).

    ``update`` is called with the filter's pose at increasing stamps (the odometry outputs);
    ``offset_at`` gives ``map -> odom`` at another stamp (a detection frame) from the outputs
    of the last ``keep_ns``.
    """

    def __init__(self, max_gap_ns: int, keep_ns: int = 2 * NS_PER_S):
        self.max_gap_ns = int(max_gap_ns)
        self.keep_ns = int(keep_ns)
        # (stamp, odom position, odom velocity, odom yaw, yaw rate, alpha, T_map_odom) of recent outputs
        self._recent: deque[tuple] = deque()
        self.gaps = 0  # outputs not integrated across (gap longer than max_gap_ns)
        self.restarts = 0  # restarts at the filter's pose (first output, time backwards)

    def reset(self) -> None:
        self._recent.clear()

    @property
    def started(self) -> bool:
        return bool(self._recent)

    def _step(self, pose: EgoPose, k: int) -> tuple[np.ndarray, np.ndarray, float, float, float]:
        """(odom position, odom velocity, odom yaw, yaw rate, alpha) at ``pose`` from output ``k``."""
        t = int(pose.stamp_ns)
        t0, p0, v0, yaw0, rate0, alpha0, _T = self._recent[k]
        rate = _yaw_rate(pose)
        v_map = np.asarray(pose.velocity, dtype=np.float64)
        if t - t0 > self.max_gap_ns:  # not integrated across: odom holds, map -> odom takes the motion
            return p0.copy(), _rz(-alpha0) @ v_map, pose.yaw - alpha0, rate, alpha0
        dt = (t - t0) / NS_PER_S
        yaw = yaw0 + 0.5 * (rate0 + rate) * dt
        alpha = math.remainder(pose.yaw - yaw, math.tau)
        v = _rz(-alpha) @ v_map  # the filter's base_link velocity, turned by odom's heading
        return p0 + 0.5 * (v0 + v) * dt, v, yaw, rate, alpha

    def update(self, pose: EgoPose) -> EgoOutput:
        """The outputs at ``pose.stamp_ns`` (the filter's pose in map there)."""
        t = int(pose.stamp_ns)
        if not self._recent or t < self._recent[-1][0]:
            self._recent.clear()
            self.restarts += 1
            # odom starts where the filter is: map -> odom = identity
            p, v = (
                np.asarray(pose.position, dtype=np.float64).copy(),
                np.asarray(pose.velocity, dtype=np.float64),
            )
            yaw, rate, alpha = pose.yaw, _yaw_rate(pose), 0.0
        else:
            if t - self._recent[-1][0] > self.max_gap_ns:
                self.gaps += 1
            p, v, yaw, rate, alpha = self._step(pose, len(self._recent) - 1)
        out = EgoOutput(t, pose, p, alpha)
        self._recent.append((t, p, v.copy(), yaw, rate, alpha, out.T_map_odom))
        while len(self._recent) > 2 and t - self._recent[1][0] > self.keep_ns:
            self._recent.popleft()
        return out

    def offset_at(self, pose: EgoPose) -> np.ndarray:
        """(4, 4) ``T_map_odom`` at ``pose.stamp_ns`` (a detection frame between outputs): the
        odom pose there is integrated from the last output at or before it with ``pose``'s rates,
        exactly as :meth:`update` would; before the first kept output, that output's transform;
        identity before any output."""
        r = self._recent
        if not r:
            return np.eye(4)
        t = int(pose.stamp_ns)
        if t < r[0][0]:
            return r[0][6].copy()
        k = len(r) - 1
        while r[k][0] > t:
            k -= 1
        p, _v, _yaw, _rate, alpha = self._step(pose, k)
        return make_transform(_rz(alpha), np.asarray(pose.position, dtype=np.float64) - _rz(alpha) @ p)


def tick_stamps(after_ns: int | None, until_ns: int, period_ns: int) -> list[int]:
    """Output stamps on the grid of multiples of ``period_ns`` in (``after_ns``, ``until_ns``);
    with ``after_ns`` None, only the last grid stamp before ``until_ns``. On a fixed grid of data
    time, live and offline runs give the same stamps whatever the arrival timing. ``until_ns``
    (the filter time) itself is left to the next IMU sample: a fix stamped at the same instant
    usually arrives just after that IMU sample, and the output should include it (one IMU period
    of latency)."""
    last = ((until_ns - 1) // period_ns) * period_ns
    if after_ns is None:
        return [last]
    first = (after_ns // period_ns + 1) * period_ns
    return list(range(first, last + 1, period_ns))
