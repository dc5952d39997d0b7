"""Steps between consecutive GNSS fixes: where a multipath jump starts and ends (ROS-free).

Why: a receiver's error is a slow drift plus fix-to-fix noise plus, near walls and trees, jumps
of metres that hold for seconds (``sim/gnss.py``; Groves 2013 ch. 9). The filter's chi2 gate and
the wheel-track tests of :class:`.measurements.Updater` compare a fix with the *accepted* fixes,
whose error is dominated by the drift (0.85 m on the generator's robot, the reported sigma
0.9 m), so a 4 m jump is only ~3 sigma from them: the gate takes one that starts while the
filter's position std is a few decimetres, and the filter follows it (dev robot seed 39: 37 true
fixes gated after the jump ended, `odom` RPE 10 s 0.83 m). Between two consecutive fixes the
drift has hardly moved (a Gauss-Markov error of 0.85 m and tau 60 s changes by
``0.85 sqrt(2 dt / tau)`` = 0.1 m in 0.4 s) and the robot's own motion is known from the dead
reckoning, so the *step* from one fix to the next is the fix-to-fix noise alone, a few
decimetres, and a jump shows as a step of its full size: 10-20 of that noise's sigmas.

What: the step of fix ``k`` against the recent fixes with the dead-reckoned motion taken out:

* heading known: the motion of the antenna between the fixes from the filter's velocity (its
  posterior after ``k-1`` and its prediction at ``k``, trapezoid; IMU, wheels and constraints
  give it to centimetres over a fraction of a second) and the lever arm turned by the attitude
  change is subtracted from the fix difference; 2 dof. The velocity, not the position, so that a
  correction of the filter's position between the fixes (a lost filter) is not read as a step
  of the fixes. The reference is the median of the last ``REF_FIXES`` fixes carried to the
  newest by that motion;
* heading unknown: the direction of the motion is not known, only its length, the distance the
  wheel track (:mod:`.track_align`) drove; the step is at least ``| |dz| - driven |``
  (triangle inequality), which is tested as one number. Its tail never exceeds chi2(2)'s (it is
  at most ``|noise|``), so the same bound holds; standing still it *is* the 2-D norm.

Its variance per axis is not the receiver's (that is the total error's): it is learnt from the
data, the median of the last ``WINDOW`` unflagged steps, each divided by the median its
statistic has per unit variance (:func:`median_factor`: ``2 ln 2`` for a 2-D vector or a robot
standing still, falling to chi2(1)'s 0.455 for one driving many sigmas between fixes, and
0.34 at one sigma), never below ``STD_FLOOR_M``; until ``MIN_SAMPLES`` steps are seen it is the
reported variance doubled (a difference of two fixes), which detects nothing but jumps of many
metres. A step is flagged past :attr:`StepDetector.bound`: ``CHI2`` (chi2(2) at 0.999, the
outlier bound of :mod:`.track_align`) widened for a noise learnt from few steps
(:func:`bound_factor`: twice as wide after ten steps of a robot standing still, four times
after ten of one driving, as a median of ten is often half the truth); a single outlier fix gives
a step out and one back. The steps of those first fixes are kept and tested again once the noise
is learnt: a jump that began among them (the filter took its level, a few metres are within
twice the reported sigma) is then an open step whose level the filter holds, so the step back
when it ends is a return, not a new jump that would hold the true fixes as multipath until it
outlasts the filter's start. One the review passes (the ten steps learnt too much) is still
known by its end: a flagged step that is its reverse (:meth:`StepDetector._reverses_quiet`).

Levels: a flagged step either *returns* from an earlier flagged step still open (its vector is
minus that step's, within both steps' noise: the fixes are back at the level before it; two
independent jumps of random direction and size rarely cancel to within it), or from the newest few
together (minus their sum: a jump that changed straight into another, then cleared), or *opens* a
level of its own, unless it is minus the previous fix's large unflagged step: then that fix was a
single outlier and this one is back (:meth:`StepDetector._back_from_outlier`). Both vectors are in
ENU whether the heading is known or not: before the heading the fix difference is the step plus
the motion driven between the two fixes, whose length is known (its direction is not), and the
comparison takes it out by that length (:meth:`StepDetector._matches`). So the return from a jump
is recognised even when the filter took the jumped level meanwhile (before its heading, or after
an episode outlasted the level it held), and the jump's fixes are then known to be multipath: what
the wheel-track tests cannot tell once the track holds only jumped fixes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..core.stamps import NS_PER_S
from . import eskf
from .state import FilterState, Measurement

__all__ = ["CHI2", "StepDetector", "bound_factor", "median_factor", "sample_weight", "track_displacement"]

CHI2 = 13.8  # chi2(2) at 0.999
WINDOW = 100  # steps the noise is learnt from (40 s at 2.5 Hz: the median to +-15 %)
MIN_SAMPLES = 10
STD_FLOOR_M = 0.1  # per axis: carrier-smoothed code noise of a single-frequency receiver; a
# receiver that repeats its last solution (no new measurement) must not make centimetres a jump
MAX_GAP_S = 1.5  # consecutive fixes further apart are not compared (the drift moves more)
REF_FIXES = 5  # heading known: the reference level is the median of this many recent fixes, so
# an outlier among them (a fix or two off) does not make its neighbour look like a step
MAX_OPEN = 4  # open steps remembered (nested jumps)
OPEN_HORIZON_S = 120.0  # an open step older than this is forgotten: multipath dwells last seconds
# to tens of seconds (Groves 2013 ch. 9); a level held longer is the filter's by the duration rule
FOLLOWED_HORIZON_S = 30.0  # an open step whose level the filter has held this long is forgotten: a
# level the filter has fused for tens of seconds is its own, and a later step that happens to mirror
# the old one is a new jump, not a return to a level left that long ago
MEDIAN_CHI2_2 = 2.0 * math.log(2.0)  # median of chi2(2)
BACK_CHI2 = 9.21  # chi2(2) at 0.99: a step back from a single outlier fix is minus the step out
VAR_ITERATIONS = 3  # fixed-point passes of the learnt variance (the heading-free medians depend on it)

# The heading-free statistic (|d + n| - |d|)^2 with n ~ N(0, I2) (unit variance per axis) against
# rho = |d| (the distance driven between the fixes in sigmas): its median, and the weight of one
# such sample in the median of many (chi2(2) samples weigh 1: the variance of the median of n of
# them, relative to that of n chi2(2) samples). Monte Carlo, 4e6 draws per rho (median) and
# 8e4 medians of 50 (weight); the ends are exact (chi2(2), chi2(1)). scripts/gnss_step_tables.py
# recomputes them; the tests check them.
# fmt: off
_RHO = np.array([0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0])
_MEDIAN = np.array([MEDIAN_CHI2_2, 1.118, 0.8933, 0.7115, 0.5648, 0.4474, 0.3716,
                    0.3394, 0.3582, 0.3849, 0.4212, 0.442, 0.4495, 0.4549])
_WEIGHT = np.array([1.0, 0.797, 0.622, 0.471, 0.353, 0.272, 0.262,
                    0.336, 0.372, 0.373, 0.371, 0.368, 0.365, 0.365])
# fmt: on
# bound_factor: the 0.999 quantile of chi2(2) / (a variance learnt as the median of steps of
# weight n_eff in all) over CHI2 is 1 + A/n_eff + B/n_eff^2 (least squares on Monte Carlo over
# 24 mixes of standing and driving, 10 to 100 steps: within 5 %, 12 % at n_eff < 5; the same script)
_BOUND_A, _BOUND_B = 5.8, 25.0


def median_factor(rho: np.ndarray) -> np.ndarray:
    """Median of a step statistic per unit variance per axis: ``2 ln 2`` at ``rho`` 0 (a 2-D
    vector, or heading unknown and standing still), the heading-free ``(|d + n| - |d|)^2`` at
    ``rho = |d| / sigma``."""
    return np.interp(rho, _RHO, _MEDIAN)


def sample_weight(rho: np.ndarray) -> np.ndarray:
    """Weight of one step at ``rho`` in the median of many, relative to a 2-D step's: a
    heading-free step driving a sigma or more tells a third as much about the variance."""
    return np.interp(rho, _RHO, _WEIGHT)


def bound_factor(n_eff: float) -> float:
    """How much wider than ``CHI2`` the flag bound is for a variance learnt from steps of total
    weight ``n_eff`` (module docstring): the learnt variance is itself a random draw."""
    n = max(float(n_eff), 1.0)
    return 1.0 + _BOUND_A / n + _BOUND_B / (n * n)


def track_displacement(track_v: tuple, t0: int, t1: int) -> np.ndarray | None:
    """Displacement (2,) m of the wheel track ``track_v`` ((t_ns, v_east, v_north) samples in the
    filter's frame) from ``t0`` to ``t1``: the velocity integrated with the trapezoid rule, held
    at the nearest sample beyond the samples (one sample: held throughout, as at the start,
    when the wheels received before the filter started are gone); None without a sample or
    when the samples end more than ``MAX_GAP_S`` before ``t1``."""
    if not track_v:
        return None
    v = np.array(track_v, dtype=np.float64).reshape(-1, 3)
    if len(v) == 1:
        a, b = (t0 - v[0, 0]) / NS_PER_S, (t1 - v[0, 0]) / NS_PER_S
        return v[0, 1:] * (b - a) if b > a and b <= MAX_GAP_S else None
    t = (v[:, 0] - v[0, 0]) / NS_PER_S
    a, b = (t0 - v[0, 0]) / NS_PER_S, (t1 - v[0, 0]) / NS_PER_S
    if b - t[-1] > MAX_GAP_S or b <= a:
        return None
    grid = np.concatenate([[a], t[(t > a) & (t < b)], [b]])
    g = np.stack([np.interp(grid, t, v[:, 1]), np.interp(grid, t, v[:, 2])], axis=1)
    return (0.5 * (g[1:] + g[:-1]) * np.diff(grid)[:, None]).sum(0)


@dataclass
class Step:
    """A flagged step still open: where it was, its ENU vector, and whether the filter took the
    level it opened (fused fixes from it)."""

    t_ns: int
    vec: np.ndarray
    motion: np.ndarray | None = None  # heading unknown: the wheel track's displacement in the vector, m
    epoch: int = 0  # the heading state's epoch (the frame that displacement is in)
    level_t0: int | None = None  # since when the filter held the level this step left (Updater)
    followed: bool = False
    followed_ns: int = -1  # since when the filter holds this step's level (it fused a fix from it)
    ref: tuple = ()  # the reference fixes before the step (restored when the fixes return)


class StepDetector:
    """Flags the fixes that step away from the recent fixes and keeps the steps still open
    (module docstring). Asked at a fix's first processing (:meth:`test`, then :meth:`classify`,
    before it is fused) and told where the filter stood after it (:meth:`record`); kept outside
    the filter state like the Updater's episode bookkeeping (a rollback replays fixes that were
    already decided)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        # (t_ns, fix xy, dead-reckoned xy, lever arm turned by the attitude xy, aligned)
        self._recent: deque[tuple] = deque(maxlen=REF_FIXES)
        self._d = np.zeros(2)  # dead-reckoned position: the filter's velocity integrated from fix to fix, m
        self._v = np.zeros(2)  # the filter's horizontal velocity after the newest fix, m/s
        self._v_known = True  # False after the start fix: the start state's velocity is a guess (0)
        # unflagged steps: (squared step m^2, distance driven between the fixes m; 0 heading known)
        self._samples: deque[tuple[float, float]] = deque(maxlen=WINDOW)
        self._pending: tuple[float, float] | None = None  # the sample of the fix being decided
        self._learnt: float | None = None  # the variance learnt at the latest fix, m^2
        self.bound = CHI2  # the flag bound for the test of the fix being decided
        self._num = 0.0  # its squared step (the test's numerator), m^2
        self._early: list[tuple[Step, float]] = []  # unflagged steps before the noise was learnt, with _num
        self._quiet: list[tuple[Step, float]] = []  # those of them not flagged at the review either
        self._kind: str | None = None  # how the fix being decided was classified
        self._last: tuple[Step, float] | None = None  # the previous fix's unflagged, unclassified step
        self._vec: np.ndarray | None = None  # its step as an ENU vector, m
        self._var = 0.0  # the step noise's variance per axis at this fix, m^2
        self._motion: np.ndarray | None = None  # heading unknown: the displacement driven in the vector, m
        self._epoch = 0  # counts the changes of the heading state (the wheel track's frame)
        self._ref_t: list[int] = []  # the stamps of the reference fixes of the fix being decided
        self._restore: tuple | None = None  # the fix being decided returned: the reference before the step
        self.open: list[Step] = []  # flagged steps not returned from, oldest first

    def variance(self, reported_var: float) -> float:
        """Per-axis variance of a step (m^2): learnt, or twice the reported one until learnt.
        Sets :attr:`bound`, the flag bound for a test against it."""
        if len(self._samples) < MIN_SAMPLES:
            self.bound = CHI2
            return 2.0 * reported_var
        num, dd = np.array(self._samples).T
        var = self._learnt if self._learnt is not None else 2.0 * reported_var
        for _ in range(VAR_ITERATIONS):  # the heading-free medians depend on the variance
            rho = dd / math.sqrt(var)
            var = max(STD_FLOOR_M**2, float(np.median(num / median_factor(rho))))
        self._learnt = var
        self.bound = CHI2 * bound_factor(float(sample_weight(dd / math.sqrt(var)).sum()))
        return var

    def test(self, s: FilterState, m: Measurement, lever: np.ndarray) -> float | None:
        """Normalised squared step of fix ``m`` against the recent fixes (compare with :attr:`bound`);
        None when there is nothing to compare (no recent fix, a gap, out of order, the heading
        lost since the previous fix, no wheel track before the heading). The fixes from before a
        change of heading state are left out of the reference, but for the previous one when the
        heading was found since (the alignment turns the filter about its antenna)."""
        self._pending = self._vec = self._kind = None
        self._restore = None
        self._num = 0.0
        recent = list(self._recent)
        k = len(recent)
        while k > 0 and recent[k - 1][4] == s.aligned:
            k -= 1
        if k == len(recent) and s.aligned and recent:
            recent = recent[-1:]  # the heading found since: the alignment kept the antenna in place
        else:
            recent = recent[k:]
        if not recent:
            return None
        if len(recent) % 2 == 0:
            recent = recent[1:]  # an odd count: the median is one of the fixes, not a midpoint
        t_prev = recent[-1][0]
        dt = (m.stamp_ns - t_prev) / NS_PER_S
        if dt <= 0.0 or dt > MAX_GAP_S:
            return None
        z = np.asarray(m.z, dtype=np.float64)[:2]
        var = self._var = self.variance(0.5 * float(m.cov[0, 0] + m.cov[1, 1]))
        if s.aligned:
            # each recent fix carried to now by the dead-reckoned motion; their median is the level
            # before the heading the velocity was not in this frame; at the start fix it was a guess
            v_prev = self._v if recent[-1][4] and self._v_known else s.v[:2]
            d_now = self._d + 0.5 * (v_prev + s.v[:2]) * dt  # in this frame
            rl = (eskf.quat_to_rot(s.q) @ lever)[:2]
            pred = np.array([f[1] + (d_now - f[2]) + (rl - f[3]) for f in recent])
            r = z - np.median(pred, axis=0)
            r2 = float(r @ r)
            self._pending, self._num = (r2, 0.0), r2
            self._vec, self._motion, self._ref_t = r, None, [f[0] for f in recent]
            return r2 / var
        d = track_displacement(s.track_v, t_prev, m.stamp_ns)
        if d is None:
            return None
        dz = z - recent[-1][1]
        dd = float(np.hypot(*d))
        r1 = float(np.hypot(*dz)) - dd
        self._pending, self._num = (r1 * r1, dd), r1 * r1
        self._vec, self._motion, self._ref_t = dz, d, [recent[-1][0]]
        return r1 * r1 / var

    def classify(self, t_ns: int, flagged: bool, level_t0: int | None = None) -> tuple[str, Step] | None:
        """After :meth:`test`: ("return", the open step it returns from, removed with any opened
        after it, or the oldest of the newest steps whose sum it returns from), ("open", a new
        open step), ("same", the newest open step: the fix is at its level), or None (a fix at
        the reference level with no step open that it could end). ``level_t0``: since when the
        filter holds its level, for a step found only now among the first fixes (:meth:`_review_early`).

        A flagged fix whose step is the newest open step's own is on its level. While most of the
        reference fixes are from before that step (the median of the recent fixes lags by half
        their number), an unflagged fix is back at the level it left (a jump or an outlier of a
        fix or two)."""
        kind = self._classify(t_ns, flagged, level_t0)
        self._kind = None if kind is None else kind[0]
        return kind

    def _classify(self, t_ns: int, flagged: bool, level_t0: int | None) -> tuple[str, Step] | None:
        if self._vec is None:
            return None
        if self._early and len(self._samples) >= MIN_SAMPLES:
            self._review_early(level_t0)
        horizon = int(t_ns) - int(OPEN_HORIZON_S * NS_PER_S)
        held = int(t_ns) - int(FOLLOWED_HORIZON_S * NS_PER_S)
        self.open = [o for o in self.open if o.t_ns >= horizon and not (o.followed and o.followed_ns < held)]
        if self.open:
            o = self.open[-1]
            old_ref = 2 * sum(1 for t in self._ref_t if t < o.t_ns) > len(self._ref_t)
            if flagged:
                if old_ref and self._on_level(o, self._vec, self._motion, self._epoch):
                    return "same", o
            elif old_ref:
                self.open.pop()
                self._restore = o.ref
                return "return", o
        if not flagged:
            return None
        k = self._returns_to(self._vec, self._motion, self._epoch)
        if k is not None:
            o = self.open[k]
            del self.open[k:]
            self._restore = o.ref
            return "return", o
        q = self._reverses_quiet(int(t_ns), level_t0)
        if q is not None:
            self._restore = q.ref
            return "return", q
        if self._back_from_outlier():
            return None
        new = self._step(int(t_ns))
        self._push(new)
        return "open", new

    def _back_from_outlier(self) -> bool:
        """Whether a flagged step, nothing open, is minus the previous fix's unflagged step: the
        previous fix was a single outlier (a white-noise tail just under the bound) and this one
        is back at the level before it, not on a new one. Only a reference of the previous fix
        alone (heading unknown) shows an outlier so; the median of several does not. Without
        this the fix after such an outlier opened a level and the true fixes were held until the
        duration rule let them go (10 Hz fixes, robot seed 245: 14.5 s).

        Out and back must cancel within ``BACK_CHI2``, tighter than the flag bound: matched
        within that bound (a radius of 2-3 m) a jump's start after an ordinary step, heading
        unknown, passed for a step back (dev seed 27, a 3.8 m jump). And the noise must be
        learnt (before, the reported variance doubled matches anything). And the step out must
        itself be large (past half of ``CHI2``, 3 % of white steps): a step back that is flagged
        is as large as the step out, and an ordinary step before a jump's start (a 0.6 m receiver,
        whose match radius is metres) is not one."""
        if self._last is None or len(self._samples) < MIN_SAMPLES:
            return False
        p, num = self._last
        if num < 0.5 * CHI2 * self._var:
            return False
        return self._matches(self._vec + p.vec, [p], self._motion, self._epoch, bound=BACK_CHI2)

    def _push(self, step: Step) -> None:
        """Open ``step``, the oldest forgotten past ``MAX_OPEN``."""
        self.open = [*self.open[-(MAX_OPEN - 1) :], step]

    def _on_level(self, o: Step, vec: np.ndarray, motion: np.ndarray | None, epoch: int) -> bool:
        """Whether a step ``vec`` (against a reference from before ``o``) is ``o``'s own: the fix
        is on the level ``o`` opened."""
        return self._matches(vec - o.vec, [o], motion, epoch, -1.0)

    def _step(self, t_ns: int) -> Step:
        """The step of the fix being decided, with the reference fixes before it."""
        motion = None if self._motion is None else self._motion.copy()
        return Step(t_ns, self._vec.copy(), motion, self._epoch, ref=tuple(self._recent))

    def _returns_to(self, vec: np.ndarray, motion: np.ndarray | None, epoch: int) -> int | None:
        """Index of the open step a step ``vec`` returns from: minus one open step's vector (the
        newest first), or else minus the sum of the newest few (back-to-back jumps: a jump that
        changes straight into another, then clear; the step back is to the level before the
        oldest of them); None."""
        for k in range(len(self.open) - 1, -1, -1):
            if self._matches(vec + self.open[k].vec, [self.open[k]], motion, epoch):
                return k
        for k in range(len(self.open) - 2, -1, -1):
            steps = self.open[k:]
            if self._matches(vec + sum(x.vec for x in steps), steps, motion, epoch):
                return k
        return None

    def _matches(
        self,
        e: np.ndarray,
        steps: list[Step],
        motion: np.ndarray | None,
        epoch: int,
        sign: float = 1.0,
        bound: float | None = None,
    ) -> bool:
        """Whether ``e``, a step vector (with ``motion`` driven in it, heading unknown) plus
        (``sign`` 1) or minus (-1) the sum of ``steps``, is zero within their noise
        (:attr:`bound`, the step noise as learnt now for each: not as it was when a step opened,
        perhaps still the reported variance before the noise was learnt) once the motion in
        the vectors is taken out. Heading unknown, only the motion's length is known in ENU: in
        one heading epoch the displacements share the wheel track's frame, so the length of
        their sum is known and ``| |e| - |sum| |`` is tested (at most the noise's norm); across
        epochs the lengths add up (``|e| - sum of lengths``, the triangle inequality). A variance
        of ``driven^2`` per axis in place of that (before session 29) accepted reversals up to
        4 m off at 1.5 m/s."""
        moves = [(motion, epoch, 1.0)] + [(o.motion, o.epoch, sign) for o in steps]
        moves = [(d, ep, sg) for d, ep, sg in moves if d is not None]
        size = float(np.hypot(*e))
        if moves and len({ep for _, ep, _ in moves}) == 1:
            size = abs(size - float(np.hypot(*sum(sg * d for d, _, sg in moves))))
        elif moves:
            size = max(0.0, size - sum(float(np.hypot(*d)) for d, _, _ in moves))
        bound = self.bound if bound is None else bound
        return size * size <= bound * (1 + len(steps)) * self._var

    def _reverses_quiet(self, t_ns: int, level_t0: int | None) -> Step | None:
        """A flagged step, no step open, that is minus one of the first fixes' steps, one the
        review passed but a jump by the noise learnt since: a jump among the first fixes that the
        review missed (the first ten steps learnt a noise too large: validation seed 125, 0.69
        m^2 per axis where its white noise gives 0.18), and this is its end. The filter took its
        level, so it is a return from a level followed since that step. Two conditions: a white
        step of the first fixes flagged only by a noise learnt later is not enough (the noise of
        a receiver may fall after its start), and two independent jumps of random direction and
        size rarely cancel to within the step noise. Kept as long as a followed level
        (``FOLLOWED_HORIZON_S``)."""
        held = t_ns - int(FOLLOWED_HORIZON_S * NS_PER_S)
        self._quiet = [(q, num) for q, num in self._quiet if q.t_ns >= held]
        if self.open or self._vec is None:
            return None
        for i in range(len(self._quiet) - 1, -1, -1):
            q, num = self._quiet[i]
            if num / self._var > self.bound and self._matches(
                self._vec + q.vec, [q], self._motion, self._epoch
            ):
                del self._quiet[i:]
                q.level_t0, q.followed, q.followed_ns = level_t0, True, q.t_ns
                return q
        return None

    def _review_early(self, level_t0: int | None) -> None:
        """The noise is learnt: the steps of the first fixes, tested with the reported variance
        doubled, are tested again with it. One flagged now opens a level the filter took (it
        fused the fixes after it: followed since the step) or returns from one opened so (an
        outlier fix among the first, out and back: both already fused, nothing left to undo)."""
        var = self._var
        early, self._early = self._early, []
        for step, num in early:
            if num / var <= self.bound:
                self._quiet.append((step, num))
                continue
            if self.open and self._on_level(self.open[-1], step.vec, step.motion, step.epoch):
                continue  # the newest level's own step again (the reference's median lags): same
            k = self._returns_to(step.vec, step.motion, step.epoch)
            if k is not None:
                del self.open[k:]
                continue
            step.level_t0, step.followed, step.followed_ns = level_t0, True, step.t_ns
            self._push(step)

    def followed(self, t_ns: int) -> None:
        """The filter fused a fix at ``t_ns``: it holds the level of the newest open step (when
        the fix is not older than the step: a late fix fused by rollback says nothing of it)."""
        if self.open and not self.open[-1].followed and t_ns >= self.open[-1].t_ns:
            self.open[-1].followed = True
            self.open[-1].followed_ns = int(t_ns)

    def start(self, s: FilterState, m: Measurement, lever: np.ndarray) -> None:
        """The fix the filter started from, as the first reference: the next fix's step is tested
        against it. The start state's velocity is a guess (zero, its std the start's), so the motion
        to the next fix is dead-reckoned with the velocity there alone."""
        self.record(s, m, lever, False)
        self._v_known = False

    def record(self, s: FilterState, m: Measurement, lever: np.ndarray, flagged: bool) -> None:
        """After fix ``m`` was decided: it joins the recent fixes (the reference for the next) with
        the dead-reckoned position and the turned lever arm at it; the step's size joins the noise
        estimate unless it was flagged."""
        if self._recent and m.stamp_ns <= self._recent[-1][0]:
            return  # out of order: the newer fixes stay the reference
        step = None if self._vec is None or flagged else (self._step(int(m.stamp_ns)), self._num)
        self._last = step if self._kind is None else None
        if self._pending is not None and not flagged:
            if len(self._samples) < MIN_SAMPLES and step is not None:
                # tested with the reported variance: tested again once the noise is learnt
                self._early.append(step)
            self._samples.append(self._pending)
        self._pending = None
        v = np.array(s.v[:2], dtype=np.float64)
        if self._recent and self._recent[-1][4] != s.aligned:
            self._epoch += 1  # the heading found or lost: the wheel track's frame changed
        if self._recent:
            dt = (m.stamp_ns - self._recent[-1][0]) / NS_PER_S
            # the heading found or lost since, or the start's guessed velocity: the one at this fix
            v_prev = self._v if self._recent[-1][4] == s.aligned and self._v_known else v
            self._d = self._d + 0.5 * (v_prev + v) * dt
        self._v = v
        self._v_known = True
        if self._restore is not None:  # back from a level: the fixes before it are the reference again
            self._recent.clear()
            self._recent.extend(self._restore)
            self._restore = None
        rl = (eskf.quat_to_rot(s.q) @ lever)[:2]
        z = np.asarray(m.z, dtype=np.float64)[:2].copy()
        self._recent.append((int(m.stamp_ns), z, self._d.copy(), rl, bool(s.aligned)))
