"""Heading at low speed: the wheel-odometry track matched to the GPS fixes.

The course-based alignments of :mod:`.alignment` need the course of one GPS chord (or of the
filter's velocity) to be known to ``align_max_std_rad``: ``sqrt(2) sigma / chord`` with
``sigma`` the fix std. At 0.9 m and 0.1 rad that is a 13 m chord, which a 1 m/s robot covers
in 13 s, longer than the chord window, and the chord's direction is the heading only on a
constant-curvature path: a stop or a turn on the spot inside the chord breaks it. So a slow
robot never aligned.

With wheel odometry the filter knows, before it knows its heading, the *shape* of the path in
its own (arbitrarily rotated) world frame: integrate the wheel velocity rotated by the
filter's attitude (the gyro integrates the relative yaw exactly enough over tens of seconds:
a 1 mrad/s bias gives 0.03 rad in 30 s). The GPS fixes are the same path rotated by the
unknown heading error ``theta`` and shifted. The weighted 2-D Procrustes fit
(:func:`fit_rotation`) gives ``theta`` in closed form; stops and turns on the spot need no
special case (the track simply does not move while the robot stands or turns; the antenna's
lever arm, turned by the filter's attitude, is part of the track point).

When to believe it, from the fix noise ``sigma`` (horizontal std of one fix):

* white noise: ``std(theta) = 1 / sqrt(sum_i |d_i - d_bar|^2 / sigma_i^2)`` (``d_i`` the track
  points, ``d_bar`` their weighted centroid), inflated by the fit's reduced chi-square when the
  residuals are larger than the fixes claim (wheel slip, optimistic covariances). At 1 m/s
  and 2.5 Hz with sigma 0.9 m it reaches 0.1 rad after ~7 s of straight driving;
* correlated noise: real GNSS errors are correlated over tens of seconds to minutes
  (multipath, the atmosphere), so many fixes over a short track average far less than the
  formula claims. The fit's common offset absorbs what stays constant; in the worst case the
  errors at the track's two ends are independent, a heading error of ``sqrt(2) sigma / span``.
  So the track must also span ``align_min_baseline_sigmas`` x sigma (10: 9 m at 0.9 m, a
  worst-case 0.14 rad), and the heading std given to the filter is
  ``hypot(std(theta), sqrt(2) sigma / span)``: GPS + NHC + wheel speed refine it afterwards
  as an ordinary EKF state, and an honest (large) std lets them. (With 6 sigma, tried on the
  generator's robot world with Gauss-Markov GNSS, one seed aligned 20 deg off with a claimed
  9 deg and re-initialised once.)

The track lives in the filter state (``FilterState.track_v`` / ``track_z``), so a rollback
restores it and a replay rebuilds it exactly; entries older than ``align_track_window_s`` are
dropped, and so is everything before a gap of the wheel odometry longer than
``TRACK_MAX_GAP_S``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..core.stamps import NS_PER_S
from . import eskf
from .config import EgoConfig
from .state import FilterState

__all__ = [
    "OUTLIER_CHI2",
    "SPLIT_MIN_FIXES",
    "TRACK_MAX_GAP_S",
    "TrackAlignment",
    "add_break",
    "add_fix",
    "add_wheel",
    "fix_entry",
    "mismatch",
    "fit_rotation",
    "try_align",
]

TRACK_MAX_GAP_S = 1.0  # wheel odometry silent this long: the dead-reckoned track restarts
_MAX_EXTRAP_S = 0.5  # a fix this far past the newest wheel sample still gets a track point


def _trim(entries: tuple, t_min: int) -> tuple:
    k = 0
    while k < len(entries) and entries[k][0] < t_min:
        k += 1
    return entries[k:] if k else entries


def add_wheel(s: FilterState, t: int, v_body: np.ndarray, window_s: float) -> None:
    """Append the wheel velocity (base_link axes, NaN rows taken as 0: no side slip) rotated by
    the filter's attitude to the track of ``s``."""
    vb = np.where(np.isfinite(v_body), v_body, 0.0)
    vw = eskf.quat_to_rot(s.q) @ vb
    tv = _trim(s.track_v, t - int(window_s * NS_PER_S))
    if tv and (t - tv[-1][0]) > TRACK_MAX_GAP_S * NS_PER_S:
        tv = ()
        s.track_z = ()
    s.track_v = (*tv, (t, float(vw[0]), float(vw[1])))


def add_fix(s: FilterState, t: int, z: np.ndarray, var_h: float, lever: np.ndarray, window_s: float) -> None:
    """Append a fused fix (antenna ENU, horizontal variance m^2) with the antenna lever arm
    turned by the filter's attitude at the fix (part of the track point)."""
    lw = eskf.quat_to_rot(s.q) @ lever
    tz = _trim(s.track_z, t - int(window_s * NS_PER_S))
    s.track_z = (*tz, (t, float(z[0]), float(z[1]), float(var_h), float(lw[0]), float(lw[1])))


def add_break(s: FilterState, t: int, window_s: float, level: bool = False) -> None:
    """A fix the filter gated while the heading is unknown: the fixes jumped against the
    dead-reckoned filter (multipath), so the fixes after it may get their own shift in the fit
    (a candidate part of their own, :func:`fit_rotation`). ``level``: the fixes stepped to
    another level here (:mod:`.gnss_steps`), so those after it get their own shift whatever the
    fit says (a jump held by the newest fixes bends a one-shift rotation instead of leaving a
    step the fit could see). Kept in the track as a NaN entry, so a rollback restores it like
    any other."""
    if s.track_z:
        tz = _trim(s.track_z, t - int(window_s * NS_PER_S))
        s.track_z = (*tz, (t, math.nan, math.nan, math.nan, 1.0 if level else 0.0, 0.0))


def _track_points(
    track_v: tuple, track_z: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """(d (n, 2) track points at the fixes, z (n, 2) fix positions, var (n,), part (n,) int: the
    number of breaks before each, level (n,) int: the number of level breaks before each,
    :func:`add_break`; whether the newest fix is among them) for the fixes the wheel samples
    cover within ``_MAX_EXTRAP_S`` (trapezoid integral, linear between samples)."""
    v = np.array(track_v, dtype=np.float64).reshape(-1, 3)
    f = np.array(track_z, dtype=np.float64).reshape(-1, 6)
    brk = np.isnan(f[:, 1])
    part = np.cumsum(brk)[~brk]
    level = np.cumsum(brk & (f[:, 4] > 0.0))[~brk]
    f = f[~brk]
    if len(v) < 2 or len(f) == 0:
        e = np.zeros(0, dtype=np.int64)
        return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), e, e, False
    tv = (v[:, 0] - v[0, 0]) / NS_PER_S
    pos = np.zeros((len(v), 2))
    pos[1:] = np.cumsum(0.5 * (v[1:, 1:3] + v[:-1, 1:3]) * np.diff(tv)[:, None], axis=0)
    tf = (f[:, 0] - v[0, 0]) / NS_PER_S
    keep = (tf >= -_MAX_EXTRAP_S) & (tf <= tv[-1] + _MAX_EXTRAP_S)
    newest = bool(keep[-1])
    tf, f, part, level = tf[keep], f[keep], part[keep], level[keep]
    d = np.stack([np.interp(tf, tv, pos[:, 0]), np.interp(tf, tv, pos[:, 1])], axis=1)
    past = np.maximum(tf - tv[-1], 0.0)  # beyond the newest sample: its velocity
    d += past[:, None] * v[-1, 1:3]
    d += np.minimum(tf, 0.0)[:, None] * v[0, 1:3]  # the first fix (filter start) just before the first sample
    d += f[:, 4:6]  # the antenna, not base_link
    return d, f[:, 1:3], f[:, 3], part.astype(np.int64), level.astype(np.int64), newest


OUTLIER_CHI2 = 13.8  # chi2(2) at 0.999: a fix (or a step) this far from the fitted track is a jump
SPLIT_MIN_FIXES = 2  # fixes on either side of a candidate step (one jumped fix: the outlier test)
MAX_STEPS = 3


def fit_rotation(
    d: np.ndarray,
    z: np.ndarray,
    var: np.ndarray,
    part: np.ndarray | None = None,
    level: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """Weighted 2-D Procrustes: the rotation ``theta`` (rad) and shift minimising
    ``sum_i |z_i - R(theta) d_i - c|^2 / var_i``, robust to multipath jumps:

    * a single jumped fix: the fix farthest from the fit of the others (normalised squared
      prediction error above ``OUTLIER_CHI2``, :func:`_deleted_r2`) is dropped and the fit
      repeated, at most half of them;
    * a jump held for seconds (a step in the fixes that the wheels did not see): each point in
      time is tried as the start of a part with its own shift, the rotation fitted again
      (:func:`_split`); where that lowers the chi-square beyond ``OUTLIER_CHI2`` the track is
      split (at most ``MAX_STEPS``). A step hides in the residuals of the one-shift fit, which
      bends the rotation to share it out, most of all when the jump holds the newest fixes
      of a short track; re-fitting the rotation per candidate shows it. A part that does not
      move then carries no heading information.

    ``part`` (n,) ints: candidate breaks known beforehand (the fixes after a gated one,
    :func:`add_break`), each split where its own shift fits significantly better. ``level``
    (n,) ints: parts known beforehand (levels between GNSS steps), each its own shift.

    Returns ``(theta, std_theta, span_m)``: ``std_theta`` the white-noise std of the kept fixes,
    inflated by the reduced chi-square when above 1; ``span`` the largest distance between two
    kept track points of one part, root-sum-square over the parts (each part's heading carries
    the correlated-error bound ``sqrt(2) sigma / span_i`` of :func:`try_align`; independent parts
    combine to ``sqrt(2) sigma / sqrt(sum span_i^2)``)."""
    return _fit_parts(d, z, var, part, level)[:3]


def _fit_parts(
    d: np.ndarray,
    z: np.ndarray,
    var: np.ndarray,
    part: np.ndarray | None = None,
    level: np.ndarray | None = None,
) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """:func:`fit_rotation`, with the fixes it kept (n,) bool and each one's part (n,) int."""
    keep = np.ones(len(d), dtype=bool)
    seg = np.zeros(len(d), dtype=np.int64) if level is None else np.asarray(level, dtype=np.int64).copy()
    if part is not None and len(d) > 3:
        # a known break splits the track where its own shift explains the fixes better than the
        # one shift by more than chance would (chi-square drop above OUTLIER_CHI2 for 2 dof):
        # every fix after it gives this test its power, more than the step windows below
        chi2 = float(_fit(d, z, var, seg)[3].sum())
        for idx in np.flatnonzero(np.diff(np.asarray(part)) != 0) + 1:
            trial = seg.copy()
            trial[idx:][trial[idx:] == trial[idx]] = trial.max() + 1
            c2 = float(_fit(d, z, var, trial)[3].sum())
            if chi2 - c2 > OUTLIER_CHI2:
                seg, chi2 = trial, c2
    steps = 0
    while True:
        theta, std, span, _r2 = _fit(d[keep], z[keep], var[keep], seg[keep])
        r2 = _deleted_r2(d[keep], z[keep], var[keep], seg[keep])
        k = int(np.argmax(r2))
        if r2[k] > OUTLIER_CHI2 and 2 * (keep.sum() - 1) >= len(d) and keep.sum() > 3:
            keep[np.flatnonzero(keep)[k]] = False
            continue
        b = _split(d[keep], z[keep], var[keep], seg[keep]) if steps < MAX_STEPS else None
        if b is None:
            return theta, std, span, keep, seg
        idx = np.flatnonzero(keep)[b]
        seg[idx:][seg[idx:] == seg[idx]] = seg.max() + 1
        steps += 1


def _moments(d: np.ndarray, z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(n, 9) per-point terms of the Procrustes sums (see :func:`_centred`), weighted by ``w``."""
    return np.stack(
        [
            w,
            w * d[:, 0],
            w * d[:, 1],
            w * z[:, 0],
            w * z[:, 1],
            w * (d * d).sum(1),
            w * (z * z).sum(1),
            w * (d * z).sum(1),
            w * (d[:, 0] * z[:, 1] - d[:, 1] * z[:, 0]),
        ],
        axis=1,
    )


def _deleted_r2(d: np.ndarray, z: np.ndarray, var: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """(n,) each fix's normalised squared miss from the fit of all the others (rotation and its
    part's shift without it; variance: its own and the shift's, plus across the track the
    rotation's at its distance from the part's centroid: a chi-square with 2 dof). The fit's
    own residual misses a fix that pulls the fit towards it: far along a short track (high
    leverage) one jumped fix bends the rotation until its residual looks ordinary (a 9 m jump
    held by the newest fix before a break: 27 deg, with a residual of 2.9 sigma). 0 for a fix
    alone in its part (its own shift: nothing predicts it). Closed form from the sums less each
    fix's terms (as :func:`_split`), one pass."""
    w = 1.0 / var
    terms = _moments(d, z, w)
    labels, g = np.unique(seg, return_inverse=True)
    totals = np.zeros((len(labels), terms.shape[1]))
    np.add.at(totals, g, terms)
    base = _centred(totals)
    rest = totals[g] - terms  # each fix's part without it
    C = base.sum(0) - base[g] + _centred(rest)
    theta = np.arctan2(C[:, 3], C[:, 2])
    W = rest[:, 0]
    alone = W <= 0.0
    Wd = np.where(alone, 1.0, W)
    dbar = rest[:, 1:3] / Wd[:, None]
    zbar = rest[:, 3:5] / Wd[:, None]
    dc = d - dbar
    c, s = np.cos(theta), np.sin(theta)
    turned = np.stack([c * dc[:, 0] - s * dc[:, 1], s * dc[:, 0] + c * dc[:, 1]], 1)
    miss = z - zbar - turned
    # the rotation's error moves the prediction across the turned track point only: along it the
    # variance is the fix's and the shift's, across it the rotation's at that distance too
    r2d = (dc * dc).sum(1)
    u = np.stack([-turned[:, 1], turned[:, 0]], 1) / np.sqrt(np.maximum(r2d, 1e-300))[:, None]
    across = (miss * u).sum(1)
    along2 = np.maximum((miss * miss).sum(1) - across * across, 0.0)
    info = np.maximum(C[:, 0], 1e-300)
    base_var = var + 1.0 / Wd
    r2 = across * across / (base_var + r2d / info) + along2 / base_var
    return np.where(alone, 0.0, r2)


def _centred(S: np.ndarray) -> np.ndarray:
    """Centred second moments (Sdd, Szz, dot, cross) of sums ``S`` (..., 9): W, Sdx, Sdy, Szx,
    Szy, Sdd, Szz, dot, cross (all weighted by 1 / var)."""
    W = np.maximum(S[..., 0], 1e-300)
    dx, dy, zx, zy = S[..., 1], S[..., 2], S[..., 3], S[..., 4]
    return np.stack(
        [
            S[..., 5] - (dx * dx + dy * dy) / W,
            S[..., 6] - (zx * zx + zy * zy) / W,
            S[..., 7] - (dx * zx + dy * zy) / W,
            S[..., 8] - (dx * zy - dy * zx) / W,
        ],
        axis=-1,
    )


def _chi2(C: np.ndarray) -> np.ndarray:
    """The fit's chi-square at its best rotation from summed centred moments (Sdd, Szz, dot,
    cross): ``Szz + Sdd - 2 |(dot, cross)|`` (closed form of the Procrustes minimum)."""
    return np.maximum(C[..., 1] + C[..., 0] - 2.0 * np.hypot(C[..., 2], C[..., 3]), 0.0)


def _split(d: np.ndarray, z: np.ndarray, var: np.ndarray, seg: np.ndarray) -> int | None:
    """Index where the track is best split (see :func:`fit_rotation`), or None.

    Every point in time inside a part (``SPLIT_MIN_FIXES`` fixes or more on either side) is
    tried as the start of a new part with a shift of its own, the rotation re-fitted: a
    likelihood-ratio test (2 dof), the chi-square drop divided by the split fit's reduced
    chi-square when above 1 (residuals larger than the fixes claim, as correlated GNSS errors
    give, must not read as steps). Closed form over all candidates at once (prefix sums), so it
    costs one pass, not one fit per candidate."""
    n, m = len(d), SPLIT_MIN_FIXES
    if n < 2 * m:
        return None
    terms = _moments(d, z, 1.0 / var)
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    ends = np.r_[starts[1:], n]
    totals = np.add.reduceat(terms, starts, axis=0)  # parts are contiguous runs of ``seg``
    base = _centred(totals)
    C0 = base.sum(0)
    chi2_0 = float(_chi2(C0))
    dof = 2 * n - 1 - 2 * (len(starts) + 1)
    if dof <= 0:
        return None
    best, at = OUTLIER_CHI2, None
    for g, (a, e) in enumerate(zip(starts, ends)):
        if e - a < 2 * m:
            continue
        pre = np.cumsum(terms[a:e], axis=0)[m - 1 : e - a - m]  # prefix sums: parts [a, b), b = a+m .. e-m
        C = C0 - base[g] + _centred(pre) + _centred(totals[g] - pre)
        c2 = _chi2(C)
        stat = (chi2_0 - c2) / np.maximum(1.0, c2 / dof)
        k = int(np.argmax(stat))
        if stat[k] > best:
            best, at = float(stat[k]), int(a + m + k)
    return at


def _fit(
    d: np.ndarray, z: np.ndarray, var: np.ndarray, seg: np.ndarray
) -> tuple[float, float, float, np.ndarray]:
    """The rotation of the track ``d`` onto the fixes ``z``, each part of ``seg`` with its own
    shift: (theta, its std inflated by the reduced chi-square, the parts' combined span, each
    fix's weighted squared residual)."""
    w = 1.0 / var
    dc, zc = d.copy(), z.copy()
    span2 = 0.0
    labels = np.unique(seg)
    for g in labels:  # each part its own shift
        m = seg == g
        W = float(w[m].sum())
        dc[m] -= (w[m] @ d[m]) / W
        zc[m] -= (w[m] @ z[m]) / W
        if m.sum() > 1:
            dm = d[m]
            span2 += float(np.max(np.sum((dm[:, None, :] - dm[None, :, :]) ** 2, axis=2)))
    cross = float(np.sum(w * (dc[:, 0] * zc[:, 1] - dc[:, 1] * zc[:, 0])))
    dot = float(np.sum(w * (dc[:, 0] * zc[:, 0] + dc[:, 1] * zc[:, 1])))
    theta = math.atan2(cross, dot)
    info = float(np.sum(w * np.sum(dc * dc, axis=1)))  # sum |d_i - d_bar|^2 / var_i
    c, s = math.cos(theta), math.sin(theta)
    res = zc - dc @ np.array([[c, s], [-s, c]])
    dof = 2 * len(d) - 1 - 2 * len(labels)
    r2 = w * np.sum(res * res, axis=1)
    chi2 = float(np.sum(r2))
    scale = max(1.0, chi2 / dof) if dof > 0 else math.inf
    std = math.sqrt(scale / info) if info > 0.0 else math.inf
    return theta, std, math.sqrt(span2), r2


class TrackAlignment(NamedTuple):
    """What :func:`try_align` gives the filter."""

    theta: float  # rad, the rotation to apply about world z
    yaw_std: float  # rad, the heading std to give the filter
    antenna: np.ndarray | None  # (2,) m ENU, the antenna now as the fit places it; None: no fit there
    antenna_var: float  # m^2 per axis, the part's shift (at least one fix's: the errors are correlated)
    antenna_dtheta: np.ndarray  # (2,) m/rad: how the antenna moves with the rotation (its error's share)


def try_align(s: FilterState, c: EgoConfig) -> TrackAlignment | None:
    """The heading when the track of ``s`` fixes it (module docstring), else None; also where the
    fit puts the antenna at the newest track point (the fix just fused): the shift of the newest
    part's kept fixes plus its track point turned by the fitted rotation. A fix the fit dropped
    as a jump may still have pulled the filter's position while its heading was unknown (the
    lever arm's unknown direction and the dead-reckoned course widen the gate); the fit's
    position has none of it, unless that fix is the newest part's only one (then its own
    shift: the fix itself) or one of two (the outlier test cannot tell which of two is off)."""
    d, z, var, part, level, newest = _track_points(s.track_v, s.track_z)
    if len(d) < 3:
        return None
    theta, std, span, keep, seg = _fit_parts(d, z, var, part, level)
    sigma = math.sqrt(float(np.mean(var)))
    if std > c.align_max_std_rad or span < c.align_min_baseline_sigmas * sigma:
        return None
    yaw_std = max(math.hypot(std, math.sqrt(2.0) * sigma / span), c.align_min_std_rad)
    own = keep & (seg == seg[-1])
    if not own.any() or not newest:  # the fix just fused is off the track
        return TrackAlignment(theta, yaw_std, None, 0.0, np.zeros(2))
    w = 1.0 / var[own]
    W = float(w.sum())
    dc = d[-1] - (w @ d[own]) / W
    cs, sn = math.cos(theta), math.sin(theta)
    turned = np.array([cs * dc[0] - sn * dc[1], sn * dc[0] + cs * dc[1]])
    # the shift is the mean of the part's fixes, but their error is correlated over the track
    # (module docstring): not known better than one of them
    var_shift = max(1.0 / W, float(np.mean(var[own])))
    antenna = (w @ z[own]) / W + turned
    return TrackAlignment(theta, yaw_std, antenna, var_shift, np.array([-turned[1], turned[0]]))


AGREE_CHI2 = 5.991  # chi2(2) at 0.95, as wheel_scale.AGREE_CHI2 (the same question once the heading is known)
_GRID = np.linspace(-math.pi, math.pi, 361)[:-1]  # 1 deg: 0.17 m at 10 m, far below the fix noise


def fix_entry(s: FilterState, z: np.ndarray, var_h: float, t: int, lever: np.ndarray) -> tuple:
    """A track entry for a fix (as :func:`add_fix` stores it)."""
    lw = eskf.quat_to_rot(s.q) @ lever
    return (int(t), float(z[0]), float(z[1]), float(var_h), float(lw[0]), float(lw[1]))


def mismatch(s: FilterState, entry: tuple, scale_std: float) -> tuple[float, float] | None:
    """Before the heading is known: how far a fix (``entry``, :func:`fix_entry`) is from what the
    accepted fixes of the odometry track predict, whatever the heading.

    The track (wheels + gyro) is the path's shape in an unknown rotation; the accepted fixes are
    that path rotated and shifted. The fix is predicted from them for every rotation (a 1 deg
    grid), with the rotation the accepted fixes fit (:func:`fit_rotation`) as a prior of its std
    (none while they span too little to fix it: then only the distances from the fixes count),
    and the smallest normalised squared miss is returned (agreement: ``AGREE_CHI2``), with the
    track distance (m) from the newest accepted fix to this one. Its
    variance: the fix's and the fixes' centroid's (both carry the correlated GNSS error: the fix
    variance each, times the fit's reduced chi-square when the fixes scatter more than they
    claim) plus the wheel scale's error (``scale_std``) over the track distance. None when there
    is nothing to ask (no wheel track, no accepted fix on it, the fix beyond the track's end)."""
    ref = s.track_z
    if len(s.track_v) < 2 or not ref:
        return None
    var_h = entry[3]
    d, zz, var, part, level, newest = _track_points(s.track_v, (*ref, entry))
    if len(d) < 2 or not newest:  # the fix is off the track's end
        return None
    dk, zk = d[-1], zz[-1]
    D, Z, V = d[:-1], zz[:-1], var[:-1]
    sigma2 = float(np.median(V))
    th0, std = 0.0, math.inf
    if len(D) >= 3:
        th0, std, span = fit_rotation(D, Z, V, part[:-1], level[:-1])
        std = math.hypot(std, math.sqrt(2.0 * sigma2) / span) if span > 0.0 else math.inf
    # the fix is predicted from the level the filter holds (the fixes after the newest step of
    # :mod:`.gnss_steps`); the rotation above uses every level, each with its own shift
    cur = level[:-1] == level[-2]
    D, Z, w = D[cur], Z[cur], 1.0 / V[cur]
    dbar = (w @ D) / w.sum()
    zbar = (w @ Z) / w.sum()
    # reduced chi2 of the accepted fixes about one shift at the fitted rotation (>= 1)
    c, sn = math.cos(th0), math.sin(th0)
    Dc = D - dbar
    res = (Z - zbar) - np.stack([c * Dc[:, 0] - sn * Dc[:, 1], sn * Dc[:, 0] + c * Dc[:, 1]], 1)
    chi2 = float((w * (res**2).sum(1)).sum()) / max(2 * len(D) - 3, 1) if len(D) > 2 else 1.0
    far = dk - dbar
    vp = (var_h + sigma2) * max(1.0, chi2) + (scale_std**2) * float(far @ far)
    th = th0 + _GRID
    cg, sg = np.cos(th), np.sin(th)
    rx = zk[0] - zbar[0] - (cg * far[0] - sg * far[1])
    ry = zk[1] - zbar[1] - (sg * far[0] + cg * far[1])
    stat = (rx * rx + ry * ry) / vp
    driven = float(np.hypot(*(dk - D[-1])))
    if math.isfinite(std):
        return float((stat + (_GRID / std) ** 2).min()), driven
    # no rotation prior: the minimum over the rotation leaves the distance alone (1 dof)
    return chi2_1dof_as_2dof(float(stat.min())), driven


def chi2_1dof_as_2dof(x: float) -> float:
    """The 2-dof chi-square value with the tail probability of ``x`` at 1 dof, so one threshold
    (``AGREE_CHI2``, 2 dof) holds for both: -2 ln(1 - F1(x)), F1(x) = erf(sqrt(x / 2)). Without it
    a 1-dof statistic against 5.991 passes misses up to 2.45 sigma instead of 1.96."""
    tail = math.erfc(math.sqrt(0.5 * max(x, 0.0)))
    return -2.0 * math.log(tail) if tail > 0.0 else math.inf
