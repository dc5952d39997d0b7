"""Wheel-odometry scale: how much farther the wheels say the robot went than it did (ROS-free).

Why: on the generator's ``robot`` world the continuous ``odom`` (which follows the filter's
velocity, which follows the wheels) drifts 1-4 % *along* the path and almost not across it
(``scripts/ego_replay.py --dump`` + decomposition in docs/ego.md): the wheels over-read. A wheel
encoder measures ``omega * r``; the robot moves ``omega * r * (1 - i)``. The effective rolling
radius ``r`` is off by a few per cent per run (tyre pressure, load, wear: 1-3 % on pneumatic
tyres, more on soft ones) and a driving wheel's longitudinal slip ``i`` is positive whenever it
pulls (a skid-steer on grass or gravel: several per cent, more uphill). The filter fused the
wheel speed as unbiased, so ``odom`` took the whole error.

What: the ratio ``k = 1 + s`` of wheel distance to true distance, estimated from the GNSS
displacement over a long window. The wheel velocity, rotated by the filter's attitude, is
dead-reckoned into a track ``D(t)`` (horizontal, metres); each accepted fix ``z_i`` (the base
position it implies) is the same path, scaled by ``1 / k``, rotated by the filter's slow
heading error and shifted: ``z_i = c + R(theta) D_i / k + e_i``. The weighted 2-D similarity fit
(Procrustes with scale, :func:`fit_scale`) gives ``1 / k`` in closed form; the rotation keeps
the filter's heading error out of the scale.

How much to believe it, from the fix std ``sigma``: the white-noise std of the fit, inflated by
its reduced chi-square, and at least ``sqrt(2) sigma / span`` (``span`` the straight-line
extent of the track, ``sqrt(12)`` x the RMS distance of its points from their centroid):
GNSS errors are correlated over tens of seconds to minutes, so in the worst case only the
track's two ends are independent. The fit is combined with the prior ``N(0,
wheel_scale_std)`` (tolerances above) and clipped to 3 prior stds, so a short track (large fit
std) hardly moves it and a long one takes over. The wheel speed is divided by ``k`` before it
is fused, its variance grown by the scale's (``(v sigma_s)^2``).

It changes at each fix by what one fix adds to a window of minutes, so the filter's velocity
(and ``odom``) sees a slow drift of its scale, never a step. The window
(``wheel_scale_window_s``) follows slow changes (terrain, tyre temperature). Kept in the filter
state (:class:`ScaleTrack`, immutable), so a rollback restores it and a replay rebuilds it.
Only while the heading is known (before, the track of :mod:`.track_align` is in an unknown
frame); a wheel gap longer than ``MAX_GAP_S`` or a heading loss restarts the track (the
estimate is kept).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..core.stamps import NS_PER_S
from . import eskf
from .state import FilterState, Measurement

__all__ = [
    "MAX_GAP_S",
    "ScaleTrack",
    "add_fix",
    "add_wheel",
    "corrected",
    "fit_scale",
    "track_residual",
]

MAX_GAP_S = 1.0  # a wheel gap this long is not dead-reckoned across: the track restarts
OUTLIER_SIGMAS = 3.0  # fixes off the first fit by this x sqrt(2) sigma (multipath) leave the second
# A gated fix "agrees with the track" inside the 95 % ellipse (chi2, 2 dof): a true fix misses it
# 1 time in 20 (a lost filter's re-seed is delayed by about a fix); a jump must exceed ~2.5
# sqrt(2) sigma to be called multipath, and smaller jumps rarely fail the filter's own gate.
AGREE_CHI2 = 5.991
SPAN_PER_RMS = math.sqrt(12.0)  # a straight track of length L has RMS distance L / sqrt(12) from its centre


@dataclass(frozen=True)
class ScaleTrack:
    """Dead-reckoned wheel track, the fixes against it, and the scale estimate ``s`` (k - 1)."""

    t_ns: int = -1  # last wheel sample integrated (-1: none since the track (re)started)
    d: tuple[float, float] = (0.0, 0.0)  # m: wheel track position (east, north)
    v: tuple[float, float] = (0.0, 0.0)  # m/s: last wheel velocity, world horizontal
    fixes: tuple = ()  # (t_ns, east, north, D_east, D_north, var) per accepted fix
    s: float = 0.0  # wheel distance / true distance - 1
    var: float = 0.0  # its variance (the prior's until a fit)

    def restart(self) -> ScaleTrack:
        """A new track (after a gap or a heading loss); the estimate is kept."""
        return ScaleTrack(s=self.s, var=self.var)


def _track(s: FilterState, prior_std: float) -> ScaleTrack:
    return s.wheel_scale if s.wheel_scale is not None else ScaleTrack(var=prior_std**2)


def add_wheel(s: FilterState, t_ns: int, v_body: np.ndarray, prior_std: float) -> None:
    """Extend the track by a wheel sample (raw body velocity, m/s; NaN rows count as 0)."""
    tr = _track(s, prior_std)
    if not s.aligned:
        s.wheel_scale = tr.restart() if tr.t_ns >= 0 or tr.fixes else tr
        return
    vb = np.nan_to_num(np.asarray(v_body, dtype=np.float64), nan=0.0)
    vw = eskf.quat_to_rot(s.q) @ vb
    v = (float(vw[0]), float(vw[1]))
    if tr.t_ns < 0:
        s.wheel_scale = replace(tr, t_ns=int(t_ns), v=v)
        return
    dt = (int(t_ns) - tr.t_ns) / NS_PER_S
    if dt < 0.0:
        return  # out of order within the rollback: the history replays in order
    if dt > MAX_GAP_S:
        s.wheel_scale = replace(tr.restart(), t_ns=int(t_ns), v=v)
        return
    d = (tr.d[0] + 0.5 * (tr.v[0] + v[0]) * dt, tr.d[1] + 0.5 * (tr.v[1] + v[1]) * dt)
    s.wheel_scale = replace(tr, t_ns=int(t_ns), d=d, v=v)


def _similarity(D: np.ndarray, Z: np.ndarray, var: np.ndarray) -> tuple | None:
    """Weighted 2-D similarity fit ``Z = z0 + a R(theta) (D - d0)``: ``(d0, z0, a, theta,
    var_a, residuals)``, ``var_a`` the variance of ``a`` and ``theta`` alike (module docstring);
    None for a degenerate track."""
    if len(D) < 3:
        return None
    w = 1.0 / var
    W = w.sum()
    d0 = (w[:, None] * D).sum(0) / W
    z0 = (w[:, None] * Z).sum(0) / W
    Dc, Zc = D - d0, Z - z0
    sdd = float((w * (Dc**2).sum(1)).sum())
    if sdd <= 1e-9:
        return None
    A = float((w * (Dc * Zc).sum(1)).sum())
    B = float((w * (Dc[:, 0] * Zc[:, 1] - Dc[:, 1] * Zc[:, 0])).sum())
    a = math.hypot(A, B) / sdd
    if a <= 0.0:
        return None
    th = math.atan2(B, A)
    c, sn = math.cos(th), math.sin(th)
    res = Zc - a * np.stack([c * Dc[:, 0] - sn * Dc[:, 1], sn * Dc[:, 0] + c * Dc[:, 1]], 1)
    chi2 = float((w * (res**2).sum(1)).sum()) / max(2 * len(D) - 4, 1)
    var_a = max(1.0, chi2) / sdd  # white noise, inflated when the residuals exceed the fixes' claim
    rms = math.sqrt(float((Dc**2).sum(1).mean()))
    sig = math.sqrt(float(np.median(var)))
    var_a = max(var_a, 2.0 * sig * sig / (SPAN_PER_RMS * rms) ** 2)  # correlated errors: the two ends
    return d0, z0, a, th, var_a, res, chi2


def fit_scale(D: np.ndarray, Z: np.ndarray, var: np.ndarray) -> tuple[float, float, np.ndarray] | None:
    """Weighted 2-D similarity fit ``Z = c + a R(theta) D``: ``(k, var_k, residuals)`` with
    ``k = 1 / a`` (wheel distance per true distance) and its variance (module docstring), or
    None for a degenerate track."""
    f = _similarity(D, Z, var)
    if f is None:
        return None
    k = 1.0 / f[2]
    return k, f[4] * k**4, f[5]  # var(1/a) = var(a) / a^4


def add_fix(
    s: FilterState,
    m: Measurement,
    lever: np.ndarray,
    prior_std: float,
    window_s: float,
    min_span_sigmas: float,
) -> None:
    """After an accepted fix (heading known): add it against the track and refit the scale once
    the track spans ``min_span_sigmas`` fix stds (as the heading alignment's track)."""
    tr = s.wheel_scale
    if prior_std <= 0.0 or tr is None or tr.t_ns < 0 or not s.aligned:
        return
    base = np.asarray(m.z, dtype=np.float64) - eskf.quat_to_rot(s.q) @ lever
    dt = (int(m.stamp_ns) - tr.t_ns) / NS_PER_S
    if abs(dt) > MAX_GAP_S:
        return
    D = (tr.d[0] + tr.v[0] * dt, tr.d[1] + tr.v[1] * dt)
    var = 0.5 * float(m.cov[0, 0] + m.cov[1, 1])
    t0 = int(m.stamp_ns) - int(window_s * NS_PER_S)
    new = (int(m.stamp_ns), float(base[0]), float(base[1]), *D, var)
    fixes = (*(f for f in tr.fixes if f[0] >= t0), new)
    s.wheel_scale = replace(tr, fixes=fixes)
    F = np.array(fixes, dtype=np.float64)
    Dm, Zm, V = F[:, 3:5], F[:, 1:3], F[:, 5]
    ext = Dm.max(0) - Dm.min(0)
    if math.hypot(ext[0], ext[1]) < min_span_sigmas * math.sqrt(float(np.median(V))):
        return
    fit = fit_scale(Dm, Zm, V)
    if fit is None:
        return
    k, var_k, res = fit
    keep = (res**2).sum(1) <= OUTLIER_SIGMAS**2 * 2.0 * V
    if 3 <= keep.sum() < len(keep):  # multipath the gate let through (after a re-seed): refit without it
        fit = fit_scale(Dm[keep], Zm[keep], V[keep])
        if fit is None:
            return
        k, var_k, _ = fit
    p0 = prior_std**2
    post = 1.0 / (1.0 / p0 + 1.0 / var_k)
    est = post * (k - 1.0) / var_k
    lim = 3.0 * prior_std
    s.wheel_scale = replace(s.wheel_scale, s=min(max(est, -lim), lim), var=post)


def track_residual(s: FilterState, m: Measurement, lever: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Where a fix the filter gated lies against the recent *accepted* fixes carried forward along
    the wheel track? None when there is nothing to ask (no wheels, heading unknown, fewer than
    5 accepted fixes on the track).

    Tells "filter lost" from "GNSS multipath" (docs/ego.md): a multipath jump moves the fixes
    against both the filter and the fixes of the last minutes carried forward by the wheels
    and gyro; a filter that went wrong (it followed a jump before the heading was known, or
    was re-seeded onto one) disagrees with the fixes, but they still agree with the older
    ones. The accepted fixes are fitted to the track (:func:`_similarity`; fixes off the first
    fit by more than ``OUTLIER_SIGMAS`` x sqrt(2) sigma, a jumped minority the filter took,
    are left out of a second) and the fit predicts where the new fix should be. Its variance:
    the fix's and the fit's (both carry the correlated GNSS error: 2 sigma^2, times the fit's
    reduced chi2 when the fixes scatter more), plus the fit's scale and rotation errors over
    the distance from the fixes' centroid. Returns (the fix's base position minus the prediction,
    (2,) m; that variance, m^2); the fix agrees when ``|r|^2 / var`` is inside ``AGREE_CHI2``
    (``measurements.Updater._multipath``)."""
    tr = s.wheel_scale
    if tr is None or tr.t_ns < 0 or not s.aligned or len(tr.fixes) < 5:
        return None
    dt = (int(m.stamp_ns) - tr.t_ns) / NS_PER_S
    if abs(dt) > MAX_GAP_S:
        return None
    F = np.array(tr.fixes, dtype=np.float64)
    D, Z, V = F[:, 3:5], F[:, 1:3], F[:, 5]
    f = _similarity(D, Z, V)
    if f is None:
        return None
    keep = (f[5] ** 2).sum(1) <= OUTLIER_SIGMAS**2 * 2.0 * V
    if keep.sum() < 5:
        return None
    if keep.sum() < len(keep):
        D, Z, V = D[keep], Z[keep], V[keep]
        f = _similarity(D, Z, V)
        if f is None:
            return None
    d0, z0, a, th, var_a, _res, chi2 = f
    c, sn = math.cos(th), math.sin(th)
    far = np.array([tr.d[0] + tr.v[0] * dt, tr.d[1] + tr.v[1] * dt]) - d0
    pred = z0 + a * np.array([c * far[0] - sn * far[1], sn * far[0] + c * far[1]])
    base = np.asarray(m.z, dtype=np.float64)[:2] - (eskf.quat_to_rot(s.q) @ lever)[:2]
    r = base - pred
    var = 2.0 * float(np.median(V)) * max(1.0, chi2) + 2.0 * var_a * float(far @ far)
    return r, var


def corrected(s: FilterState, m: Measurement) -> Measurement:
    """The wheel measurement divided by the scale ``1 + s``, its covariance grown by the scale's
    variance (``(v sigma_s)^2`` on each measured row); ``m`` itself when no estimate exists."""
    tr = s.wheel_scale
    if tr is None or tr.var <= 0.0:
        return m
    k = 1.0 + tr.s
    z = m.z / k
    zr = np.nan_to_num(z[list(m.rows)], nan=0.0)
    cov = m.cov / (k * k) + np.diag(zr * zr * tr.var)
    return replace(m, z=z, cov=cov)
