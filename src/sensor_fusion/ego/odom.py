"""REP-105 frames from the ego filter: a continuous ``odom`` and ``map -> odom`` (ROS-free).

The filter (:class:`~.estimator.EgoEstimator`) estimates base_link in one GNSS-referenced
world frame: REP-105's ``map``. Each fix corrects its position, so that pose jumps by
up to the fix noise, which is what ``odom`` must never do. :class:`OdomFrame` keeps a second
pose that follows the filter's motion but not its position corrections:

* position: the integral of the filter's world velocity (trapezoid between outputs). A fix
  changes the filter's position by a step but its velocity only by a small increment, so
  ``odom`` gets a kink, never a jump; what the fixes move goes into ``map -> odom``.
* orientation: the filter's own attitude (gravity-referenced roll/pitch, gyro-propagated
  yaw that fixes and heading measurements correct by small gated increments). Sharing it
  keeps ``map -> odom`` a pure translation, so ``odom`` drifts only in position, by the
  integrated velocity error (centimetres over seconds; docs/ego.md).

``map -> odom`` = ``T_map_base * inverse(T_odom_base)`` at every output, as robot_localization's
``navsat_transform`` / two-filter set-up publishes it. Gaps longer than ``max_gap_ns`` are not
integrated across (``odom`` holds; ``map -> odom`` absorbs the motion) and time going
backwards restarts ``odom`` at the filter's pose.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ..core.geometry import make_transform, quat_to_matrix
from ..core.stamps import NS_PER_S
from .pose import EgoPose


@dataclass
class EgoOutput:
    """One odometry output: the filter's pose (``map``) and the REP-105 transforms at its stamp."""

    stamp_ns: int
    pose: EgoPose  # base_link in map: the filter's best estimate (published as odometry)
    odom_position: np.ndarray  # (3,) m: base_link's position in odom

    @property
    def T_odom_base(self) -> np.ndarray:
        """(4, 4) base_link -> odom (continuous)."""
        return make_transform(quat_to_matrix(self.pose.quaternion), self.odom_position)

    @property
    def T_map_odom(self) -> np.ndarray:
        """(4, 4) odom -> map: a translation (odom shares the filter's attitude)."""
        return make_transform(np.eye(3), self.map_odom_translation)

    @property
    def map_odom_translation(self) -> np.ndarray:
        return np.asarray(self.pose.position, dtype=np.float64) - self.odom_position


class OdomFrame:
    """Integrates the filter's velocity into a continuous ``odom`` pose (module docstring).

    ``update`` is called with the filter's pose at increasing stamps (the odometry outputs);
    ``offset_at`` gives ``map -> odom`` at another stamp (a detection frame) from the outputs
    of the last ``keep_ns``.
    """

    def __init__(self, max_gap_ns: int, keep_ns: int = 2 * NS_PER_S):
        self.max_gap_ns = int(max_gap_ns)
        self.keep_ns = int(keep_ns)
        # (stamp, odom position, world velocity, map -> odom translation) of recent outputs
        self._recent: deque[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = deque()
        self.gaps = 0  # outputs not integrated across (gap longer than max_gap_ns)
        self.restarts = 0  # restarts at the filter's pose (first output, time backwards)

    def reset(self) -> None:
        self._recent.clear()

    @property
    def started(self) -> bool:
        return bool(self._recent)

    def update(self, pose: EgoPose) -> EgoOutput:
        """The outputs at ``pose.stamp_ns`` (the filter's pose in map there)."""
        t = int(pose.stamp_ns)
        p_map = np.asarray(pose.position, dtype=np.float64)
        v = np.asarray(pose.velocity, dtype=np.float64)
        if not self._recent or t < self._recent[-1][0]:
            self._recent.clear()
            self.restarts += 1
            p_odom = p_map.copy()  # odom starts where the filter is: map -> odom = identity
        else:
            t0, p0, v0, _ = self._recent[-1]
            if t - t0 > self.max_gap_ns:
                self.gaps += 1
                p_odom = p0.copy()
            else:
                p_odom = p0 + 0.5 * (v0 + v) * ((t - t0) / NS_PER_S)
        self._recent.append((t, p_odom, v.copy(), p_map - p_odom))
        while len(self._recent) > 2 and t - self._recent[1][0] > self.keep_ns:
            self._recent.popleft()
        return EgoOutput(t, pose, p_odom)

    def offset_at(self, pose: EgoPose) -> np.ndarray:
        """(3,) map -> odom translation at ``pose.stamp_ns`` (a detection frame between outputs):
        the odom position there is integrated from the last output at or before it with
        ``pose``'s velocity, exactly as :meth:`update` would; before the first kept output, that
        output's offset; zeros before any output."""
        r = self._recent
        if not r:
            return np.zeros(3)
        t = int(pose.stamp_ns)
        if t < r[0][0]:
            return r[0][3].copy()
        k = len(r) - 1
        while r[k][0] > t:
            k -= 1
        t0, p0, v0, _ = r[k]
        v = np.asarray(pose.velocity, dtype=np.float64)
        p_odom = p0 if t - t0 > self.max_gap_ns else p0 + 0.5 * (v0 + v) * ((t - t0) / NS_PER_S)
        return np.asarray(pose.position, dtype=np.float64) - p_odom


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
