"""The filter's recent past: state snapshots, fused measurements, rollback and replay.

As robot_localization keeps its state/measurement history apart from its filters, this
module owns *when* things are fused and the filter modules own *how*. The IMU is the
clock: every IMU step ends in a snapshot of the state (kept for ``history_window_s``) with
the reading that produced it. A measurement is fused at its own stamp:

* stamped at the filter time: fused at once (the newest snapshot is replaced);
* older, within the window: the filter rolls back to the last snapshot strictly before
  it, and the stored IMU readings are replayed together with the new measurement and the
  measurements fused since that snapshot, each at its own stamp -- the result equals
  in-order processing; older than the window: dropped (``gps_late_dropped``, or
  ``vel_rejected`` / ``imu_yaw_rejected`` for the other kinds);
* newer: queued until the IMU passes it (``gps_queued``; at most ``MAX_PENDING``, the
  earliest-stamped dropped first), then fused at its exact stamp with IMU readings interpolated there.

Within one IMU step the order is: queued measurements stamped before the step (each after
propagating to its stamp), the propagation to the step's stamp, the constraint updates
(NHC / ZUPT) when due, the measurements stamped exactly at the step. A replay takes the
same path, so it reproduces in-order processing bit for bit.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable

import numpy as np

from .state import FilterState, Measurement

__all__ = ["MAX_PENDING", "History"]

MAX_PENDING = 50  # measurements stamped ahead of the IMU waiting for it

# (s, t, w, a, sample_dt_ns) in place; sample_dt_ns: the time since the previous IMU sample, 0 for
# a reading interpolated at a measurement stamp (not a sample)
Propagate = Callable[[FilterState, int, np.ndarray, np.ndarray, int | None], None]
Constrain = Callable[[FilterState, int], None]  # pseudo-measurements when due, at t
Fuse = Callable[[FilterState, Measurement], None]  # fuse at s.t_ns, set m.result


class History:
    """The current filter state, its snapshots over ``window_ns`` and the measurement queues.

    ``propagate``, ``constrain`` and ``fuse`` are the filter's maths; ``counters`` (shared
    with the estimator) counts queued, overflowing, rolled-back and dropped measurements.
    """

    def __init__(
        self,
        window_ns: int,
        counters: dict[str, int],
        propagate: Propagate,
        constrain: Constrain,
        fuse: Fuse,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._window_ns = int(window_ns)
        self._counters = counters
        self._propagate = propagate
        self._constrain = constrain
        self._fuse = fuse
        self._max_pending = int(max_pending)
        self.clear()

    def clear(self) -> None:
        """Forget the state, the snapshots and both queues."""
        self.state: FilterState | None = None
        self._times: list[int] = []  # snapshot stamps, ascending
        self._states: list[FilterState] = []
        self._imu: list[tuple[int, np.ndarray, np.ndarray]] = []  # the reading of each step
        self._fused: list[Measurement] = []  # fused after the oldest snapshot, in fusion order
        self._pending: list[Measurement] = []  # stamped ahead of the filter, by stamp

    @property
    def pending(self) -> list[Measurement]:
        """Copy of the queue of measurements waiting for the IMU (by stamp)."""
        return list(self._pending)

    @property
    def span_ns(self) -> tuple[int, int] | None:
        """Stamps of the oldest and newest snapshot, or None before the start."""
        return (self._times[0], self._times[-1]) if self._times else None

    def start(self, s: FilterState) -> None:
        """Begin at the initial state ``s`` (its first snapshot)."""
        self.clear()
        self.state = s
        self._record(s.t_ns, s.w_meas, s.a_meas)

    def step(self, t: int, w1: np.ndarray, a1: np.ndarray) -> None:
        """One IMU step to ``t`` with base-frame readings ``(w1, a1)``: fuse queued
        measurements stamped before ``t`` at their own stamps (IMU interpolated), propagate
        to ``t``, apply the constraints if due, fuse those stamped exactly ``t``, snapshot."""
        s = self.state
        t_prev = s.t_ns  # the previous IMU sample
        while self._pending and self._pending[0].stamp_ns < t:
            m = self._pending.pop(0)
            if m.stamp_ns > s.t_ns:
                frac = (m.stamp_ns - s.t_ns) / (t - s.t_ns)
                self._propagate(
                    s, m.stamp_ns, s.w_meas + frac * (w1 - s.w_meas), s.a_meas + frac * (a1 - s.a_meas), 0
                )
            self._fuse(s, m)
            self._fused.append(m)
        if t > s.t_ns:
            self._propagate(s, t, w1, a1, t - t_prev)  # the whole step's length, split or not
        self._constrain(s, t)
        while self._pending and self._pending[0].stamp_ns == t:
            m = self._pending.pop(0)
            self._fuse(s, m)
            self._fused.append(m)
        self._record(t, w1, a1)

    def add(self, m: Measurement) -> bool:
        """Fuse ``m`` at its own stamp: now, after a rollback (late) or queued (early).
        True if fused or queued."""
        s = self.state
        if m.stamp_ns > s.t_ns:
            if len(self._pending) >= self._max_pending:  # IMU silent: keep the newest
                self._pending.pop(0)
                self._counters["gps_queue_overflow"] += 1
            self._pending.append(m)
            self._pending.sort(key=lambda f: f.stamp_ns)
            self._counters["gps_queued"] += 1
            return True
        if m.stamp_ns == s.t_ns:
            self._fuse(s, m)
            self._fused.append(m)
            self._states[-1] = s.copy()
            return m.result
        i = bisect_left(self._times, m.stamp_ns) - 1  # last snapshot strictly before m
        if i < 0:
            self._counters[_TOO_OLD[m.kind]] += 1
            return False
        self._rollback_replay(i, m)
        self._counters["gps_rollbacks"] += 1
        return m.result

    def around(self, t: int) -> tuple[FilterState, FilterState | None] | None:
        """The snapshots bracketing ``t`` (before the filter time): ``(a, None)`` when one is
        stamped exactly ``t``, ``(a, b)`` with ``a.t_ns < t < b.t_ns`` otherwise; None when
        ``t`` is older than the window. The snapshots are the history's own: do not modify."""
        i = bisect_right(self._times, t) - 1
        if i < 0:
            return None
        a = self._states[i]
        if self._times[i] == t:
            return a, None
        return a, self._states[i + 1]

    def _record(self, t: int, w: np.ndarray, a: np.ndarray) -> None:
        """Snapshot the state after the IMU step at ``t`` and trim to the window."""
        self._times.append(t)
        self._states.append(self.state.copy())
        self._imu.append((t, w, a))
        k = bisect_right(self._times, t - self._window_ns) - 1
        if k > 0:
            del self._times[:k], self._states[:k], self._imu[:k]
            t0 = self._times[0]
            if self._fused and self._fused[0].stamp_ns <= t0:
                self._fused = [f for f in self._fused if f.stamp_ns > t0]

    def _rollback_replay(self, i: int, m: Measurement) -> None:
        """Return to snapshot ``i`` and replay the IMU after it with ``m`` and the measurements
        fused after it queued at their stamps (stable sort: equal stamps keep their order)."""
        t_i = self._times[i]
        replays = [f.replay() for f in self._fused if f.stamp_ns > t_i]
        self._fused = [f for f in self._fused if f.stamp_ns <= t_i]
        self._pending = sorted([*replays, m, *self._pending], key=lambda f: f.stamp_ns)
        imu = self._imu[i + 1 :]
        del self._times[i + 1 :], self._states[i + 1 :], self._imu[i + 1 :]
        self.state = self._states[i].copy()
        for t, w, a in imu:
            self.step(t, w, a)


_TOO_OLD = {
    "gps": "gps_late_dropped",
    "vel": "vel_rejected",
    "wheel": "wheel_rejected",
    "gvel": "gnss_vel_rejected",
    "yaw": "imu_yaw_rejected",
}
