"""Which GNSS fixes are multipath: episodes judged from the wheel track and from the steps
between fixes (ROS-free).

Why apart from the measurement models (:mod:`.measurements`): the Updater fuses a fix behind the
filter's chi2 gate; whether the fix is a multipath jump (gated and not counted towards a re-seed)
is a judgement over the recent fixes, the odometry track and the levels the fixes held, with its
own state between fixes (the episode in progress, the level the filter holds, the steps still
open). The Updater asks :meth:`Multipath.decide` at a fix's first processing and applies the
state side (:meth:`Multipath.apply_levels`) on every processing, replays included.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from . import eskf
from .config import EgoConfig
from .gnss_steps import StepDetector
from .state import FilterState, Measurement
from .track_align import AGREE_CHI2 as TRACK_AGREE_CHI2
from .track_align import add_break, fix_entry, mismatch
from .wheel_scale import AGREE_CHI2, track_residual

__all__ = ["Multipath"]


class Multipath:
    """The multipath judgement of the fixes (module docstring); ``counters`` shared with the
    estimator (``gps_multipath_returns``)."""

    def __init__(self, config: EgoConfig, lever_gps: np.ndarray, counters: dict[str, int]) -> None:
        self.config = config
        self._lever = lever_gps
        self._counters = counters
        self._steps = StepDetector()
        self.clear()

    def clear(self) -> None:
        self._episode_t0: int | None = None  # stamp of the first fix of the multipath episode in progress
        self._episode_sum = np.zeros(2)  # sum of its fixes' residuals against the track (heading known), m
        self._episode_n = 0
        self._episode_r: np.ndarray | None = None  # the residual of the fix being decided
        self._level_t0: int | None = None  # since when the filter holds its level: its start or last re-seed
        self._episode_by_step = False  # the episode opened with a step (gnss_steps): held until one returns
        self._steps.clear()

    def start_level(self, t_ns: int) -> None:
        """The filter started (or was re-seeded) from a fix at ``t_ns``: the level it holds since;
        an episode open against the old level is over (left open, its start, older than the
        level, would make every later episode "outlast" it)."""
        self._level_t0 = int(t_ns)
        self._close_episode()

    def first_fix(self, s: FilterState, m: Measurement) -> None:
        """The fix the filter started from is the first reference of the steps (``gnss_steps``): a
        jump from it to the next fix is a step like any other. Before, the steps started at the
        second fix, so a jump there was the reference (dev robot seed 36: an 8.7 m jump from the
        second fix on, taken at 9.6 s, its end at 14.4 s a new "jump" that held the true fixes
        for 20 s)."""
        if self.config.gnss_steps:
            self._steps.start(s, m, self._lever)

    def _track_test(self, s: FilterState, m: Measurement, gate_ok: bool) -> tuple[bool, bool | None]:
        """(multipath, the track's answer) for a fix at its first processing.

        The wheel track answers whether the fix agrees with the accepted fixes carried along it
        (heading known: :func:`.wheel_scale.track_residual`; unknown: the rotation-free
        :func:`.track_align.mismatch`, distances and shape of the track against the fixes). It is
        asked when the filter gates the fix, and, during a multipath episode (the previous fix
        was called multipath; dwells last seconds, fixes come every fraction of one), also when
        the filter would take it: the filter's own
        covariance grows while it gates and would let the jump in after a few seconds (then
        follow it, and gate the true fixes when it ends). An episode stops being called
        multipath once it has lasted longer than the level the filter holds (since its start or
        re-seed): with exponential dwell times (mean tau) and a jump as likely to have been
        present at the start as its share of time, the odds of "the held level was the jump"
        against "this episode is" are exp((T_episode - T_held) / tau), so they turn where the
        episode outlasts the held level, whatever tau; its fixes then count towards a re-seed."""
        c = self.config
        if gate_ok and self._episode_t0 is None:
            return False, None
        if s.aligned:
            res = track_residual(s, m, self._lever)
            agree = None if res is None else float(res[0] @ res[0]) / res[1] <= AGREE_CHI2
            if agree and self._episode_t0 is not None and self._episode_n:
                # inside an episode: a fix nearer the episode's own level than the prediction is
                # still jumped (the prediction's error is common to both and cancels; the step
                # between the levels is the jump, the scatter about a level the fix noise)
                d = res[0] - self._episode_sum / self._episode_n
                agree = float(d @ d) >= float(res[0] @ res[0])
            if agree is False:
                self._episode_r = res[0]
        else:
            entry = fix_entry(s, m.z, 0.5 * float(m.cov[0, 0] + m.cov[1, 1]), m.stamp_ns, self._lever)
            mm = mismatch(s, entry, c.wheel_scale_std)
            agree = None if mm is None else mm[0] <= TRACK_AGREE_CHI2
            if agree and not gate_ok:
                # the track vouches for the fix and the filter gates it: with the course unknown
                # the filter cannot follow the robot's motion since its last accepted fix, so its
                # position is unknown by up to the distance the track says it drove
                m.course_var = mm[1] ** 2
        if agree is not False:
            return False, agree
        return self._within_episode(m), agree  # not once the episode outlasts the held level

    def decide(self, s: FilterState, m: Measurement, gate_ok: bool) -> bool:
        """Set ``m.multipath`` (and the step decisions :meth:`apply_levels` applies) at a fix's
        first processing and keep the episode bookkeeping: from its step (``gnss_steps``: a step
        out opens an episode, a step back ends it, no step keeps it), else from the wheel-track
        tests (:meth:`_track_test`; ``gate_ok``: the filter's chi2 gate would take the fix).
        Returns whether the fix stepped."""
        self._episode_r = None
        chi = self._steps.test(s, m, self._lever) if self.config.gnss_steps else None
        stepped = chi is not None and chi > self._steps.bound
        kind = self._steps.classify(m.stamp_ns, stepped, self._level_t0) if chi is not None else None
        if kind is not None and kind[0] == "return":
            o = kind[1]
            m.multipath = False
            m.return_from_ns = o.t_ns
            self._close_episode()
            if o.followed:
                # the filter stands on the jumped level: the level held before it is its own again
                m.reseed = True
                self._level_t0 = o.level_t0 if o.level_t0 is not None else m.stamp_ns
                self._counters["gps_multipath_returns"] += 1
            return stepped
        if kind is not None and kind[0] == "open":  # out of the held level: a jump until it returns
            kind[1].level_t0 = self._level_t0
            m.level_open = True
            if self._episode_t0 is None:
                self._start_episode(m.stamp_ns, by_step=True)
            m.multipath = self._within_episode(m)
            return stepped
        if self._episode_by_step and self._steps.open:
            m.multipath = self._within_episode(m)  # no step since: the jumped level holds
            return stepped
        m.multipath, agree = self._track_test(s, m, gate_ok)
        if agree is False:  # the episode runs on while the track disagrees, called multipath or not
            if self._episode_t0 is None:
                self._start_episode(m.stamp_ns, by_step=False)
            if self._episode_r is not None:
                self._episode_sum = self._episode_sum + self._episode_r
                self._episode_n += 1
        else:
            self._close_episode()
        return stepped

    def apply_levels(self, s: FilterState, m: Measurement) -> bool:
        """The filter-state side of the step decisions on ``m`` (:meth:`decide`), on its
        first processing and again on every replay after a rollback: a level part of the heading
        fit where a step opened a level; back from one, that part and the fixes after it leave the
        heading track; back from a level the filter had taken, the position is re-seeded from the
        fix (velocity and attitude kept) and the jumped fixes leave the wheel-scale fit (refit
        from the rest at the next fix). True when re-seeded."""
        if m.level_open and not s.aligned:
            # should the filter take this level (the duration rule), the fit must not bend across it
            add_break(s, m.stamp_ns, self.config.align_track_window_s, level=True)
        if m.return_from_ns < 0:
            return False
        s.track_z = tuple(f for f in s.track_z if f[0] < m.return_from_ns)
        if not m.reseed:
            return False
        s.p = m.z - eskf.quat_to_rot(s.q) @ self._lever
        s.P = s.P.copy()
        s.P[0:3, :] = 0.0
        s.P[:, 0:3] = 0.0
        s.P[0:3, 0:3] = m.cov
        tr = s.wheel_scale
        if tr is not None:
            s.wheel_scale = replace(tr, fixes=tuple(f for f in tr.fixes if f[0] < m.return_from_ns))
        return True

    def _start_episode(self, t_ns: int, by_step: bool) -> None:
        self._episode_t0 = int(t_ns)
        self._episode_sum, self._episode_n = np.zeros(2), 0
        self._episode_by_step = by_step

    def _close_episode(self) -> None:
        self._episode_t0 = None
        self._episode_by_step = False

    def _within_episode(self, m: Measurement) -> bool:
        """A fix at the level of the episode in progress: multipath until the episode has lasted
        longer than the level the filter holds (the duration rule of :meth:`_track_test`)."""
        t0 = self._episode_t0 if self._episode_t0 is not None else m.stamp_ns
        return not (self._level_t0 is not None and m.stamp_ns - t0 > t0 - self._level_t0)

    def after_fix(self, s: FilterState, m: Measurement, fused: bool, stepped: bool) -> None:
        """After a fix's first processing (``gnss_steps``): the level the filter took, and the fix
        as the reference of the next step."""
        if not self.config.gnss_steps:
            return
        if fused:
            self._steps.followed(m.stamp_ns)
            if self._episode_by_step and self._episode_t0 is not None:
                # the episode outlasted the level the filter held and the filter took it:
                # its level is the filter's since it began (a later step is a new episode)
                self._level_t0 = self._episode_t0
                self._close_episode()
        self._steps.record(s, m, self._lever, stepped)
