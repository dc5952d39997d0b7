"""Radar in clutter: which returns are the static world, and which moving clusters are mirror ghosts.

Split from :mod:`.radar` (the detector's pipeline) so each file holds one job; the maths:

**Stationary or moving** (a chi-square test, not a fixed speed). The compensated Doppler of return
``i`` is ``r_i = d_i + u_i . v_R`` with ``v_R = v + w z x t`` the radar's velocity (ego velocity
``v``, yaw rate ``w``, mounting lever arm ``t``) and ``u_i`` its unit line of sight (LOS). A static
point has ``r_i = 0`` up to

    var_i = sigma_d^2 + u_i^T Sigma_v u_i + sigma_w^2 (l . u_i)^2 [+ sigma_x^2] + (sigma_az |v_R,perp|)^2

(Doppler noise; the ego velocity covariance ``Sigma_v`` in base axes, from the ego filter; the yaw
rate variance through the lever arm ``l = (-t_y, t_x, 0)``; ``sigma_x = ego_velocity_std_mps``
only when no covariance is given; the LOS direction error times the radar's speed across the
LOS). The frame detector adds to ``Sigma_v`` the velocity change between the pose's stamp and
the scan's (an unknown acceleration of 1 m/s^2, 1 sigma). Return ``i`` is stationary when
``r_i^2 / var_i`` lies within the chi-square (1 dof) quantile of ``1 - F / n``, ``n`` the scan's
returns and ``F = static_false_alarms_per_scan``: each stationary return is called moving with
probability ``F / n``, so a scan reports ``F`` stationary returns as movers on average (a single
return makes a radar detection) however much clutter it holds. With 60 returns and the default
0.01 the gate is 3.8 sigma: at 10 m/s with the ego velocity known to 5 cm/s a target moving at
about 0.45 m/s along the LOS is kept.

**Reflector lines.** Long flat surfaces (guard rails, barriers, walls, façades) return a row of
stationary points, often sparse (a few metres apart, gaps where a return was missed). The line
through two stationary returns with the most others within ``reflector_inlier_m`` (at least
``reflector_min_points``, no gap wider than ``reflector_max_gap_m``: a side street or a missing
section is no surface), refitted to them by total least squares, is a straight reflector
segment (their extent along it) when at least ``reflector_min_length_m`` long (longer than a car);
its returns are removed and the search repeats (:func:`fit_reflectors`).

**Mirror ghosts.** A target beside a reflector is also seen along the path radar -> reflector ->
target -> reflector -> radar: at its mirror image behind the surface, with the Doppler of the
mirrored velocity ``M v`` (``M = I - 2 n n^T``, ``n`` the surface normal). A moving cluster B is a
ghost when (1) the LOS to its centroid crosses a reflector segment in front of it, and (2) a
moving cluster A on the radar's side, stronger than B (a reflection loses power), lies within
``ghost_mirror_gate_m`` of B's mirror image, and
(3) B's mean compensated Doppler agrees with ``(M v_A) . u_B`` within ``ghost_gate_sigma`` of both
fits' variances (a radial-only A: its radial variance only, see :func:`mirror_ghosts`; plus
``ghost_mirror_doppler_std_mps`` for the model: the ghost's returns sample other points of the
target). Behind a surface alone is not enough: oncoming cars behind a
highway's median barrier are real (the radar sees a car's body over a 0.8 m barrier), and the
Doppler test keeps them (their mirrored velocity points the wrong way).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit
from scipy import special

from .radar_fit import ClusterFit

if TYPE_CHECKING:
    from .radar import RadarDetectorConfig

MAX_REFLECTORS = 8  # straight segments searched per scan (a street canyon has two, a highway 2-4)
MAX_REFLECTOR_RETURNS = 96  # strongest stationary returns searched (O(n^3) per line)


def chi2_1dof(p: float) -> float:
    """Chi-square quantile with one degree of freedom at probability ``p``."""
    return float(special.chdtri(1.0, 1.0 - p))


def static_test(
    u: np.ndarray,
    comp: np.ndarray,
    v_radar: np.ndarray,
    lever: np.ndarray,
    vel_cov: np.ndarray,
    yaw_rate_var: float,
    cfg: RadarDetectorConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """(moving (n,) bool, normalised squared compensated Doppler r^2 / var (n,)); module docstring.

    ``u`` (n, 3) unit LOS in base axes, ``comp`` (n,) compensated Doppler, ``v_radar`` (3,) the
    radar's velocity, ``lever`` (3,) its position in base_link, ``vel_cov`` (3, 3) the ego velocity
    covariance in base axes, ``yaw_rate_var`` rad^2/s^2.
    """
    sig_az = math.radians(cfg.azimuth_std_deg)
    ur = u @ v_radar
    vperp2 = np.maximum(v_radar @ v_radar - ur * ur, 0.0)
    arm = np.array([-lever[1], lever[0], 0.0])
    var = (
        cfg.doppler_std_mps**2
        + np.einsum("ni,ij,nj->n", u, vel_cov, u)
        + yaw_rate_var * (u @ arm) ** 2
        + sig_az**2 * vperp2
    )
    if not vel_cov.any():  # no covariance from an ego filter: the configured error, per axis
        var = var + cfg.ego_velocity_std_mps**2
    nis = comp * comp / var
    p_fa = min(cfg.static_false_alarms_per_scan / max(comp.shape[0], 1), 0.5)
    return nis > chi2_1dof(1.0 - p_fa), nis


class Reflectors(NamedTuple):
    """Straight reflector segments (L,) fitted to stationary returns, base_link xy."""

    center: np.ndarray  # (L, 2) m
    tangent: np.ndarray  # (L, 2) unit direction along the surface
    normal: np.ndarray  # (L, 2) unit normal
    half_length: np.ndarray  # (L,) m
    rms: np.ndarray  # (L,) perpendicular RMS of the returns, m
    n: np.ndarray  # (L,) returns


def empty_reflectors() -> Reflectors:
    z2, z = np.zeros((0, 2)), np.zeros(0)
    return Reflectors(z2, z2, z2, z, z, z)


def _line_fit(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Total least squares line through ``xy`` (k, 2): (centre of the extent, unit tangent,
    half length, perpendicular RMS)."""
    c = xy.mean(axis=0)
    d = xy - c
    w, v = np.linalg.eigh(d.T @ d / len(xy))
    t = v[:, 1]
    along = d @ t
    lo, hi = float(along.min()), float(along.max())
    return c + 0.5 * (lo + hi) * t, t, 0.5 * (hi - lo), float(np.sqrt(max(w[0], 0.0)))


@njit(cache=True)
def _search_lines(x: np.ndarray, y: np.ndarray, tol: float, min_points: int, max_gap: float, max_lines: int):
    """Greedy line search of :func:`fit_reflectors`: (labels (n,) line index or -1, lines).

    For every pair of unassigned returns, the returns within ``tol`` of their line are projected
    on it and split at gaps wider than ``max_gap``; the pair whose largest run is largest wins,
    that run becomes a line and leaves the pool, and the search repeats.
    """
    n = x.shape[0]
    labels = np.full(n, -1, np.int64)
    proj = np.empty(n)
    members = np.empty(n, np.int64)
    lines = 0
    for _ in range(max_lines):
        best, b_ax, b_ay, b_tx, b_ty, b_lo, b_hi = 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        for i in range(n):
            if labels[i] >= 0:
                continue
            for j in range(i + 1, n):
                if labels[j] >= 0:
                    continue
                dx, dy = x[j] - x[i], y[j] - y[i]
                L = math.hypot(dx, dy)
                if L < 1e-6:
                    continue
                tx, ty = dx / L, dy / L
                m = 0
                for k in range(n):
                    if labels[k] < 0:
                        rx, ry = x[k] - x[i], y[k] - y[i]
                        if abs(ty * rx - tx * ry) <= tol:
                            proj[m] = rx * tx + ry * ty
                            m += 1
                if m <= best:
                    continue
                s = np.sort(proj[:m])
                start, run_best, lo, hi = 0, 0, 0.0, 0.0
                for k in range(1, m + 1):
                    if k == m or s[k] - s[k - 1] > max_gap:
                        if k - start > run_best:
                            run_best, lo, hi = k - start, s[start], s[k - 1]
                        start = k
                if run_best > best:
                    best, b_ax, b_ay, b_tx, b_ty, b_lo, b_hi = run_best, x[i], y[i], tx, ty, lo, hi
        if best < min_points:
            break
        c = 0
        for k in range(n):
            if labels[k] < 0:
                rx, ry = x[k] - b_ax, y[k] - b_ay
                pk = rx * b_tx + ry * b_ty
                if abs(b_ty * rx - b_tx * ry) <= tol and b_lo - 1e-9 <= pk <= b_hi + 1e-9:
                    members[c] = k
                    c += 1
        for k in range(c):
            labels[members[k]] = lines
        lines += 1
    return labels, lines


def fit_reflectors(p: np.ndarray, cfg: RadarDetectorConfig, rcs: np.ndarray | None = None) -> Reflectors:
    """Straight segments through stationary returns ``p`` (n, 3): the line through two returns
    with the most returns within ``reflector_inlier_m`` and no gap between them wider than
    ``reflector_max_gap_m``, refitted to them (total least squares), kept when at least
    ``reflector_min_length_m`` long; its returns are removed and the search repeats (at most
    ``MAX_REFLECTORS``). All pairs are tried (O(n^3) per line, numba, on the
    ``MAX_REFLECTOR_RETURNS`` strongest returns by ``rcs``; no random sampling: the same scan
    gives the same lines)."""
    if rcs is not None and p.shape[0] > MAX_REFLECTOR_RETURNS:  # an imaging radar's thousands
        p = p[np.argsort(-rcs, kind="stable")[:MAX_REFLECTOR_RETURNS]]
    if p.shape[0] < cfg.reflector_min_points:
        return empty_reflectors()
    xy = np.asarray(p[:, :2], dtype=np.float64)
    labels, nl = _search_lines(
        np.ascontiguousarray(xy[:, 0]),
        np.ascontiguousarray(xy[:, 1]),
        float(cfg.reflector_inlier_m),
        int(cfg.reflector_min_points),
        float(cfg.reflector_max_gap_m),
        MAX_REFLECTORS,
    )
    out = []
    for line in range(nl):
        k = labels == line
        c, t, half, rms = _line_fit(xy[k])
        if 2.0 * half >= cfg.reflector_min_length_m:
            out.append((c, t, half, rms, float(k.sum())))
    if not out:
        return empty_reflectors()
    c, t, half, rms, cnt = (np.array(v) for v in zip(*out))
    return Reflectors(c, t, np.column_stack([-t[:, 1], t[:, 0]]), half, rms, cnt)


def mirror_ghosts(
    fit: ClusterFit, refl: Reflectors, t_radar: np.ndarray, cfg: RadarDetectorConfig
) -> np.ndarray:
    """(C,) bool: clusters that are the mirror image of another across a reflector (module docstring)."""
    nc, nl = fit.n.shape[0], refl.center.shape[0]
    if nc < 2 or nl == 0:
        return np.zeros(nc, bool)
    o = t_radar[:2]
    g2 = cfg.ghost_gate_sigma**2
    # (1) the LOS o -> centroid_B crosses segment L before B: o + s d = c_L + tau t_L
    d = fit.centroid - o  # (C, 2), length = range
    rho = np.hypot(d[:, 0], d[:, 1])
    rel = refl.center - o  # (L, 2)
    cross_dt = d[:, None, 0] * refl.tangent[None, :, 1] - d[:, None, 1] * refl.tangent[None, :, 0]  # (C, L)
    par = np.abs(cross_dt) < 1e-9 * np.maximum(rho, 1e-9)[:, None]
    den = np.where(par, 1.0, cross_dt)
    s = (rel[None, :, 0] * refl.tangent[None, :, 1] - rel[None, :, 1] * refl.tangent[None, :, 0]) / den
    tau = (rel[None, :, 0] * d[:, None, 1] - rel[None, :, 1] * d[:, None, 0]) / den
    margin = cfg.ghost_gate_sigma * np.sqrt(cfg.range_std_m**2 + refl.rms**2)  # (L,)
    behind = (
        ~par
        & (s > 0.0)
        & (s * rho[:, None] < rho[:, None] - margin[None])
        & (np.abs(tau) <= refl.half_length[None] + cfg.reflector_extend_m + margin[None])
    )  # s is the fraction of the range at which the LOS meets the line
    if not behind.any():
        return np.zeros(nc, bool)
    # (2) a partner A near B's mirror image, on the radar's side of L
    d_o = np.einsum("lj,lj->l", o[None] - refl.center, refl.normal)  # radar's signed distance (L,)
    d_c = np.einsum("clj,lj->cl", fit.centroid[:, None, :] - refl.center[None], refl.normal)  # (C, L)
    mirror = fit.centroid[:, None, :] - 2.0 * d_c[..., None] * refl.normal[None]  # (C, L, 2)
    same_side = np.sign(d_c) == np.sign(d_o)[None]  # (C, L): A on the radar's side
    dist = np.linalg.norm(mirror[:, :, None, :] - fit.centroid[None, None, :, :], axis=-1)  # (B, L, A)
    cand = behind[:, :, None] & same_side.T[None, :, :] & (dist <= cfg.ghost_mirror_gate_m)
    cand &= ~np.eye(nc, dtype=bool)[:, None, :]
    cand &= (fit.rcs[None, :] > fit.rcs[:, None])[:, None, :]  # a reflection loses power: A is stronger
    if not cand.any():
        return np.zeros(nc, bool)
    # (3) B's Doppler is the mirrored velocity of A along B's LOS
    b, l_, a = np.nonzero(cand)
    nn = refl.normal[l_]
    M = np.eye(2)[None] - 2.0 * nn[:, :, None] * nn[:, None, :]  # (K, 2, 2)
    ub = fit.u_mean[b]
    mu = np.einsum("kij,kj->ki", M, ub)  # M^T u_B = M u_B (M symmetric)
    pred = np.einsum("ki,ki->k", mu, fit.vel[a])
    # a radial-only partner's velocity is its minimum-norm estimate (along its LOS), the velocity
    # the detector reports; its large tangential variance would let any Doppler pass, so only its
    # radial variance counts (the generator's ghosts carry exactly that mirrored radial velocity)
    ua = fit.u_mean[a]
    cov_a = fit.vel_cov[a]
    rad_var = np.einsum("ki,kij,kj->k", ua, cov_a, ua)
    cov_a = np.where(
        fit.full[a][:, None, None], cov_a, rad_var[:, None, None] * (ua[:, :, None] * ua[:, None, :])
    )
    var = (
        (cfg.doppler_std_mps**2 + cfg.fit_model_std_mps**2) / fit.n[b]
        + np.einsum("ki,kij,kj->k", mu, cov_a, mu)
        + cfg.ghost_mirror_doppler_std_mps**2
    )
    ok = (fit.r_mean[b] - pred) ** 2 <= g2 * var
    out = np.zeros(nc, bool)
    out[b[ok]] = True
    return out
