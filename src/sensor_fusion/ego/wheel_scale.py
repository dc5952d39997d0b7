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

Slip with slope (``wheel_slip_slope_std`` > 0): a driving wheel's slip grows with the traction
force, and a slope asks ``m g sin(climb)`` of it (uphill the wheels pull and spin ahead of the
ground; downhill they brake and lag), so ``k = 1 + s + c sin(climb)``, the climb the world-up
component of base_link's x axis from the filter's attitude, signed by the direction of travel
(:func:`climb_sine`). The wheel velocity times that sine is dead-reckoned into a second track
``Q`` and the fit becomes ``z_i = z0 + R(theta) (a D_i + b Q_i)`` (``1 / k = a + b
sin(climb)`` to first order), solved with the priors on ``s`` and ``c`` (:func:`fit_scale_slip`).
Prior std of ``c``: a tyre on grass, soil or gravel develops its traction coefficient at 1-3 per
unit slip (Janosi-Hanamoto: peak 0.5-0.8, contact length 0.1-0.2 m over a shear modulus of
1.5-4 cm), so ``c`` is 0.3-0.8 there (about 0.05 on asphalt): 0.5.

How much to believe it, from the fix std ``sigma``: the white-noise std of the fit, inflated by
its reduced chi-square, and at least ``sqrt(2) sigma / span`` (``span`` the straight-line
extent of the track, ``sqrt(12)`` x the RMS distance of its points from their centroid):
GNSS errors are correlated over tens of seconds to minutes, so in the worst case only the
track's two ends are independent. The fit is combined with the prior ``N(wheel_scale_mean,
wheel_scale_std^2)`` (tolerances above; the mean positive because wheels over-read on average:
a loaded tyre rolls under its nominal radius, a driving wheel slips forward against rolling
resistance) and clipped to 3 prior stds about that mean, so a short track (large fit std)
hardly moves it and a long one takes over. The wheel speed is divided by ``k`` before it is
fused, its variance grown by the scale's (``(v sigma_s)^2``), once the heading is known (the
prior's mean from the first sample then); before, the heading-free uses take it raw.

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
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..core.stamps import NS_PER_S
from . import eskf
from .state import FilterState, Measurement

__all__ = [
    "MAX_GAP_S",
    "ScalePrior",
    "ScaleTrack",
    "add_fix",
    "add_wheel",
    "corrected",
    "climb_sine",
    "fit_scale",
    "fit_scale_slip",
    "track_residual",
]

MAX_GAP_S = 1.0  # a wheel gap this long is not dead-reckoned across: the track restarts
OUTLIER_SIGMAS = 3.0  # fixes off the first fit by this x sqrt(2) sigma (multipath) leave the second
# A gated fix "agrees with the track" inside the 95 % ellipse (chi2, 2 dof): a true fix misses it
# 1 time in 20 (a lost filter's re-seed is delayed by about a fix); a jump must exceed ~2.5
# sqrt(2) sigma to be called multipath, and smaller jumps rarely fail the filter's own gate.
AGREE_CHI2 = 5.991
SPAN_PER_RMS = math.sqrt(12.0)  # a straight track of length L has RMS distance L / sqrt(12) from its centre
# The correlated-error floor of the slip fit, in the form that reproduces the scale-only floor
# (``2 sigma^2 / span^2`` for a straight track): the white-noise covariance with the fixes counted
# as this many independent ones (N fixes: covariance x N / N_EFF). Two independent ends of a
# straight track of length L give 2 sigma^2 / L^2; N evenly spread fixes give sigma^2 12 / (N L^2).
N_EFF = 6.0


@dataclass(frozen=True)
class ScalePrior:
    """What is believed before any fix: ``s ~ N(s_mean, s_std^2)`` and, with ``c_std`` > 0, the
    slip per climb sine ``c ~ N(c_mean, c_std^2)`` (``c_std`` 0: no slip term). ``s_std`` 0 turns
    the estimate off. From the ``wheel_scale_*`` and ``wheel_slip_slope_*`` keys (:meth:`of`)."""

    s_std: float
    s_mean: float = 0.0
    c_std: float = 0.0
    c_mean: float = 0.0

    @classmethod
    def of(cls, config) -> ScalePrior:
        """From an ``EgoConfig`` (duck-typed: the four ``wheel_*`` attributes)."""
        return cls(
            float(config.wheel_scale_std),
            float(config.wheel_scale_mean),
            float(config.wheel_slip_slope_std),
            float(config.wheel_slip_slope_mean),
        )


@dataclass(frozen=True)
class ScaleTrack:
    """Dead-reckoned wheel track, the fixes against it, and the scale estimate ``s`` (k - 1)."""

    t_ns: int = -1  # last wheel sample integrated (-1: none since the track (re)started)
    d: tuple[float, float] = (0.0, 0.0)  # m: wheel track position (east, north)
    v: tuple[float, float] = (0.0, 0.0)  # m/s: last wheel velocity, world horizontal
    fixes: tuple = ()  # (t_ns, east, north, D_east, D_north, var, Q_east, Q_north) per accepted fix
    s: float = 0.0  # wheel distance / true distance - 1
    var: float = 0.0  # its variance (the prior's until a fit)
    q: tuple[float, float] = (0.0, 0.0)  # m: slip track Q = integral of v_w sin(climb) (east, north)
    vq: tuple[float, float] = (0.0, 0.0)  # m/s: last wheel velocity x sin(climb), world horizontal
    c: float = 0.0  # slip per sine of the climb: k = 1 + s + c sin(climb)
    var_c: float = 0.0  # its variance (the prior's until a fit)
    cov_sc: float = 0.0  # covariance of s and c

    def restart(self) -> ScaleTrack:
        """A new track (after a gap or a heading loss); the estimates are kept."""
        return ScaleTrack(s=self.s, var=self.var, c=self.c, var_c=self.var_c, cov_sc=self.cov_sc)

    def k(self, g: float) -> tuple[float, float]:
        """Wheel distance per true distance at climb sine ``g``, and its variance."""
        return 1.0 + self.s + self.c * g, self.var + g * g * self.var_c + 2.0 * g * self.cov_sc


def _track(s: FilterState, prior: ScalePrior) -> ScaleTrack:
    if s.wheel_scale is not None:
        return s.wheel_scale
    return ScaleTrack(
        s=prior.s_mean, var=prior.s_std**2, c=prior.c_mean if prior.c_std > 0.0 else 0.0, var_c=prior.c_std**2
    )


def climb_sine(R: np.ndarray, v_body: np.ndarray) -> float:
    """Sine of the climb along the direction of travel: the world-up component of base_link's x
    axis (``R`` world <- base), negated when reversing (base_link at the turning centre of a
    skid-steer: the travel is along x); 0 at standstill. Positive uphill. The traction force a
    slope asks of the wheels is ``m g`` times it (forward uphill and reversing uphill pull;
    downhill either way brakes)."""
    vx = float(v_body[0])
    if not math.isfinite(vx) or vx == 0.0:
        return 0.0
    # not math.copysign(R[2, 0], vx): that drops the slope's own sign and makes every descent a climb
    return float(R[2, 0]) if vx > 0.0 else -float(R[2, 0])


def add_wheel(
    s: FilterState,
    t_ns: int,
    v_body: np.ndarray,
    prior: ScalePrior,
) -> None:
    """Extend the track (and the slip track) by a wheel sample (raw body velocity, m/s; NaN rows
    count as 0); the first one starts the estimate at the prior."""
    tr = _track(s, prior)
    if not s.aligned:
        s.wheel_scale = tr.restart() if tr.t_ns >= 0 or tr.fixes else tr
        return
    vb = np.nan_to_num(np.asarray(v_body, dtype=np.float64), nan=0.0)
    R = eskf.quat_to_rot(s.q)
    vw = R @ vb
    g = climb_sine(R, vb)
    v = (float(vw[0]), float(vw[1]))
    vq = (v[0] * g, v[1] * g)
    if tr.t_ns < 0:
        s.wheel_scale = replace(tr, t_ns=int(t_ns), v=v, vq=vq)
        return
    dt = (int(t_ns) - tr.t_ns) / NS_PER_S
    if dt < 0.0:
        return  # out of order within the rollback: the history replays in order
    if dt > MAX_GAP_S:
        s.wheel_scale = replace(tr.restart(), t_ns=int(t_ns), v=v, vq=vq)
        return
    d = (tr.d[0] + 0.5 * (tr.v[0] + v[0]) * dt, tr.d[1] + 0.5 * (tr.v[1] + v[1]) * dt)
    q = (tr.q[0] + 0.5 * (tr.vq[0] + vq[0]) * dt, tr.q[1] + 0.5 * (tr.vq[1] + vq[1]) * dt)
    s.wheel_scale = replace(tr, t_ns=int(t_ns), d=d, v=v, q=q, vq=vq)


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


def _agreeing(res: np.ndarray, var: np.ndarray) -> np.ndarray:
    """(N,) which fixes lie within ``OUTLIER_SIGMAS`` x sqrt(2) sigma of a fit (the rest: multipath
    the gate let through), from the fit's residuals (N, 2) and the fixes' variances (N,)."""
    return (res**2).sum(1) <= OUTLIER_SIGMAS**2 * 2.0 * var


def fit_scale(D: np.ndarray, Z: np.ndarray, var: np.ndarray) -> tuple[float, float, np.ndarray] | None:
    """Weighted 2-D similarity fit ``Z = c + a R(theta) D``: ``(k, var_k, residuals)`` with
    ``k = 1 / a`` (wheel distance per true distance) and its variance (module docstring), or
    None for a degenerate track."""
    f = _similarity(D, Z, var)
    if f is None:
        return None
    k = 1.0 / f[2]
    return k, f[4] * k**4, f[5]  # var(1/a) = var(a) / a^4


def fit_scale_slip(
    D: np.ndarray,
    Q: np.ndarray,
    Z: np.ndarray,
    var: np.ndarray,
    prior: ScalePrior,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Fit of the fixes to the wheel track with a slip term, ``Z = z0 + R(theta) (a D + b Q)``
    (``Q`` the slip track, ``integral v_w sin(climb) dt``), with the priors: the posterior
    ``((s, c), cov, residuals)`` of the wheel-to-true distance ratio ``k = 1 + s + c
    sin(climb)`` (to first order ``1 / k = a + b sin(climb)``: ``s = 1 / a - 1``, ``c = -b /
    a^2``), its 2x2 covariance, and the residuals; None for a degenerate track.

    Gauss-Newton from the similarity fit (:func:`_similarity`, ``b`` at its prior mean): the model is linear
    but for the small rotation, so a few steps converge. The fixes' information is divided by
    the larger of the reduced chi-square and ``N / N_EFF`` (the correlated-error floor: the
    scale-only fit's ``sqrt(2) sigma / span``), and the priors (``prior``: ``s`` and ``c``, its
    ``c_std`` > 0), put on ``a`` and ``b`` at the current ``a``, are added to it
    (MAP): on a short track, or one on a constant slope, ``D`` and ``Q`` are nearly parallel and
    only ``s + c sin(climb)`` is known; the priors then split it instead of the fit running off
    along the degenerate direction."""
    f = _similarity(D, Z, var)
    if f is None:
        return None
    d0, z0, a, th = f[0], f[1], f[2], f[3]
    w = 1.0 / var
    W = w.sum()
    q0 = (w[:, None] * Q).sum(0) / W
    Dc, Qc = D - d0, Q - q0
    n = len(D)
    ww = np.repeat(w, 2)
    # prior mean (z0 and theta free; b's set each step): a = 1 / (1 + s) at c = 0
    x0 = np.array([0.0, 0.0, 1.0 / (1.0 + prior.s_mean), 0.0, 0.0])
    x = np.array([z0[0], z0[1], a, th, -prior.c_mean * a * a])
    for _ in range(4):
        x0[4] = -prior.c_mean * x[2] ** 2  # c's prior mean as b (c = -b / a^2)
        # the priors on s and c put on a and b (ds / da = dc / db = -1 / a^2 at b = 0)
        a4 = x[2] ** 4
        Pi = np.diag([0.0, 0.0, 1.0 / (prior.s_std**2 * a4), 0.0, 1.0 / (prior.c_std**2 * a4)])
        c, sn = math.cos(x[3]), math.sin(x[3])
        R = np.array([[c, -sn], [sn, c]])
        RD, RQ = Dc @ R.T, Qc @ R.T
        u = x[2] * RD + x[4] * RQ
        r = (Z - x[:2] - u).reshape(-1)
        J = np.zeros((2 * n, 5))
        J[0::2, 0] = 1.0
        J[1::2, 1] = 1.0
        J[:, 2] = RD.reshape(-1)
        J[:, 3] = np.stack([-u[:, 1], u[:, 0]], 1).reshape(-1)
        J[:, 4] = RQ.reshape(-1)
        chi2 = float((ww * r * r).sum()) / max(2 * n - 5, 1)
        infl = max(1.0, chi2, n / N_EFF)
        N = J.T @ (ww[:, None] * J) / infl + Pi
        try:
            dx = np.linalg.solve(N, J.T @ (ww * r) / infl - Pi @ (x - x0))
        except np.linalg.LinAlgError:
            return None
        x = x + dx
    c, sn = math.cos(x[3]), math.sin(x[3])
    R = np.array([[c, -sn], [sn, c]])
    res = Z - x[:2] - (x[2] * Dc + x[4] * Qc) @ R.T
    try:
        C = np.linalg.inv(N)[np.ix_([2, 4], [2, 4])]
    except np.linalg.LinAlgError:
        return None
    a, b = float(x[2]), float(x[4])
    if a <= 0.0:
        return None
    G = np.array([[-1.0 / a**2, 0.0], [2.0 * b / a**3, -1.0 / a**2]])  # d(s, c) / d(a, b)
    return np.array([1.0 / a - 1.0, -b / a**2]), G @ C @ G.T, res


def add_fix(
    s: FilterState,
    m: Measurement,
    lever: np.ndarray,
    prior: ScalePrior,
    window_s: float,
    min_span_sigmas: float,
) -> None:
    """After an accepted fix (heading known): add it against the track and refit the scale (and,
    with ``prior.c_std`` > 0, the slip per climb sine) once the track spans ``min_span_sigmas`` fix
    stds (as the heading alignment's track)."""
    tr = s.wheel_scale
    if prior.s_std <= 0.0 or tr is None or tr.t_ns < 0 or not s.aligned:
        return
    base = np.asarray(m.z, dtype=np.float64) - eskf.quat_to_rot(s.q) @ lever
    dt = (int(m.stamp_ns) - tr.t_ns) / NS_PER_S
    if abs(dt) > MAX_GAP_S:
        return
    D = (tr.d[0] + tr.v[0] * dt, tr.d[1] + tr.v[1] * dt)
    Qn = (tr.q[0] + tr.vq[0] * dt, tr.q[1] + tr.vq[1] * dt)
    var = 0.5 * float(m.cov[0, 0] + m.cov[1, 1])
    t0 = int(m.stamp_ns) - int(window_s * NS_PER_S)
    new = (int(m.stamp_ns), float(base[0]), float(base[1]), *D, var, *Qn)
    fixes = (*(f for f in tr.fixes if f[0] >= t0), new)
    s.wheel_scale = replace(tr, fixes=fixes)
    F = np.array(fixes, dtype=np.float64)
    Dm, Zm, V, Qm = F[:, 3:5], F[:, 1:3], F[:, 5], F[:, 6:8]
    ext = Dm.max(0) - Dm.min(0)
    if math.hypot(ext[0], ext[1]) < min_span_sigmas * math.sqrt(float(np.median(V))):
        return
    if prior.c_std > 0.0 and _fit_with_slip(s, Dm, Qm, Zm, V, prior):
        return
    fit = _fit_agreeing(fit_scale, (Dm, Zm), V)
    if fit is None:
        return
    k, var_k, _ = fit
    p0 = prior.s_std**2
    post = 1.0 / (1.0 / p0 + 1.0 / var_k)
    est = post * (k - 1.0) / var_k + post * prior.s_mean / p0
    lim = 3.0 * prior.s_std
    s.wheel_scale = replace(s.wheel_scale, s=min(max(est, prior.s_mean - lim), prior.s_mean + lim), var=post)


def _fit_agreeing(
    fit: Callable[..., tuple | None], rows: tuple[np.ndarray, ...], V: np.ndarray
) -> tuple | None:
    """``fit(*rows, V)`` (its last output the residuals), and again without the fixes that do not
    agree with it (:func:`_agreeing`: multipath the gate let through, after a re-seed) when at least
    3 agree; None when either fit is degenerate."""
    out = fit(*rows, V)
    if out is None:
        return None
    keep = _agreeing(out[-1], V)
    if 3 <= keep.sum() < len(keep):
        return fit(*(r[keep] for r in rows), V[keep])
    return out


def _fit_with_slip(
    s: FilterState,
    D: np.ndarray,
    Q: np.ndarray,
    Z: np.ndarray,
    V: np.ndarray,
    prior: ScalePrior,
) -> bool:
    """Scale and slip from :func:`fit_scale_slip` (outliers left out of a second pass, as the
    scale-only fit), clipped to 3 prior stds about the prior means; False when the fit is
    degenerate."""
    fit = _fit_agreeing(lambda d, q, z, v: fit_scale_slip(d, q, z, v, prior), (D, Q, Z), V)
    if fit is None:
        return False
    x, C, _ = fit
    ls, lc = 3.0 * prior.s_std, 3.0 * prior.c_std
    s.wheel_scale = replace(
        s.wheel_scale,
        s=min(max(float(x[0]), prior.s_mean - ls), prior.s_mean + ls),
        c=min(max(float(x[1]), prior.c_mean - lc), prior.c_mean + lc),
        var=float(C[0, 0]),
        var_c=float(C[1, 1]),
        cov_sc=float(C[0, 1]),
    )
    return True


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
    (``multipath.Multipath._track_test``)."""
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
    keep = _agreeing(f[5], V)
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
    """The wheel measurement divided by ``k = 1 + s + c sin(climb)`` (the climb from the filter's
    attitude, :func:`climb_sine`), its covariance grown by ``k``'s variance (``(v sigma_k)^2``
    on each measured row); ``m`` itself when no estimate exists."""
    tr = s.wheel_scale
    if tr is None or tr.var <= 0.0:
        return m
    g = climb_sine(eskf.quat_to_rot(s.q), m.z) if tr.var_c > 0.0 else 0.0
    k, var_k = tr.k(g)
    z = m.z / k
    zr = np.nan_to_num(z[list(m.rows)], nan=0.0)
    cov = m.cov / (k * k) + np.diag(zr * zr * max(var_k, 0.0))
    return replace(m, z=z, cov=cov)
