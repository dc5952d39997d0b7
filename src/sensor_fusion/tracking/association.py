"""Track-to-detection association: pairwise costs and gated optimal assignment.

Costs are built for all (track, detection) pairs at once; the assignment is
solved by ``scipy.optimize.linear_sum_assignment`` (a global nearest
neighbour). Gating is expressed as a boolean ``allowed`` mask beside the cost
so that callers can add soft penalties (class mismatch) without moving the
gate.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import erfinv

from sensor_fusion.tracking._mixture import mixture_sq_kernel

_EMPTY = np.zeros(0, dtype=np.int64)


def chi2_2dof_ppf(prob: float | np.ndarray) -> np.ndarray:
    r"""Chi-square quantile for 2 degrees of freedom: :math:`-2 \ln(1 - p)`.

    With 2 dof the chi-square CDF is :math:`1 - e^{-x/2}`, so the gate value
    for a probability needs no table (e.g. 0.99 -> 9.21, 0.999 -> 13.82).
    """
    return -2.0 * np.log1p(-np.asarray(prob, dtype=np.float64))


def chi2_1dof_ppf(prob: float | np.ndarray) -> np.ndarray:
    r"""Chi-square quantile for 1 degree of freedom: :math:`2\,\mathrm{erfinv}(p)^2` (the square of
    the normal quantile of :math:`(1 + p) / 2`): ``scipy.stats.chi2.ppf(p, 1)`` to 1e-14, at a
    35th of its cost (55 us a call there, once per association pass with Doppler detections)."""
    return 2.0 * erfinv(np.asarray(prob, dtype=np.float64)) ** 2


def mahalanobis_sq(
    pred_pos: np.ndarray, pred_cov: np.ndarray, det_pos: np.ndarray, det_cov: np.ndarray
) -> np.ndarray:
    r"""Squared Mahalanobis distance of every detection to every predicted position.

    .. math::
        d^2_{ij} = (z_j - H x_i)^\top S_{ij}^{-1} (z_j - H x_i), \qquad
        S_{ij} = H P_i H^\top + R_j

    ``pred_pos`` (T, 2) and ``pred_cov`` (T, 2, 2) are the tracks' predicted
    (x, y) and its covariance ``H P H'``; ``det_pos`` (D, 2) and ``det_cov``
    (D, 2, 2) the detections' and their ``R``. Returns (T, D); a pair whose
    ``S`` is not positive definite gets ``inf``. The 2x2 inverse is written out
    so the whole (T, D) grid is a handful of elementwise operations.
    """
    # Entries of S_ij = P_i + R_j and of the innovation, each (T, D), without forming (T, D, 2, 2).
    a = pred_cov[:, None, 0, 0] + det_cov[None, :, 0, 0]
    c = pred_cov[:, None, 1, 1] + det_cov[None, :, 1, 1]
    b = 0.5 * (
        (pred_cov[:, 0, 1] + pred_cov[:, 1, 0])[:, None] + (det_cov[:, 0, 1] + det_cov[:, 1, 0])[None, :]
    )
    dx = det_pos[None, :, 0] - pred_pos[:, None, 0]
    dy = det_pos[None, :, 1] - pred_pos[:, None, 1]
    return _quad_2x2(a, b, c, dx, dy)


def _quad_2x2(a: np.ndarray, b: np.ndarray, c: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``[dx dy] S^-1 [dx dy]'`` elementwise for ``S = [[a, b], [b, c]]``; inf where S is not PD."""
    det = a * c - b * b
    num = c * dx * dx - 2.0 * b * dx * dy + a * dy * dy
    ok = (det > 0.0) & (a > 0.0)
    if ok.all():
        return num / det
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / det
    out[~ok] = np.inf
    return out


def mahalanobis_sq_timed(
    state: np.ndarray, cov: np.ndarray, det_pos: np.ndarray, det_cov: np.ndarray, dt: np.ndarray
) -> np.ndarray:
    r"""As :func:`mahalanobis_sq`, each detection ``j`` taken at ``dt[j]`` s after the tracks' time.

    ``state`` (T, 4) is (x, y, vx, vy) with covariance ``cov`` (T, 4, 4); the predicted position
    is ``H_j x`` with ``H_j = [I, dt_j I]``, so ``S_ij = P_pp + dt_j (P_pv + P_vp) + dt_j^2 P_vv + R_j``.
    """
    t = np.asarray(dt, dtype=np.float64)[None, :]
    px = state[:, None, 0] + t * state[:, None, 2]
    py = state[:, None, 1] + t * state[:, None, 3]
    a = (
        cov[:, None, 0, 0]
        + 2.0 * t * cov[:, None, 0, 2]
        + t * t * cov[:, None, 2, 2]
        + det_cov[None, :, 0, 0]
    )
    c = (
        cov[:, None, 1, 1]
        + 2.0 * t * cov[:, None, 1, 3]
        + t * t * cov[:, None, 3, 3]
        + det_cov[None, :, 1, 1]
    )
    b = (
        0.5 * (cov[:, None, 0, 1] + cov[:, None, 1, 0])
        + 0.5 * t * (cov[:, None, 0, 3] + cov[:, None, 2, 1] + cov[:, None, 1, 2] + cov[:, None, 3, 0])
        + t * t * 0.5 * (cov[:, None, 2, 3] + cov[:, None, 3, 2])
        + 0.5 * (det_cov[None, :, 0, 1] + det_cov[None, :, 1, 0])
    )
    return _quad_2x2(a, b, c, det_pos[None, :, 0] - px, det_pos[None, :, 1] - py)


def mixture_sq(
    xm: np.ndarray,
    Pm: np.ndarray,
    mu: np.ndarray,
    combined_cov: np.ndarray,
    det_pos: np.ndarray,
    det_cov: np.ndarray,
    dt: np.ndarray,
    cut: np.ndarray | None = None,
) -> np.ndarray:
    r"""(T, D) squared distance of each detection under an IMM's predicted measurement density
    (the gate and the assignment cost).

    The density is the mixture :math:`\sum_k \mu_k \mathcal N(z; H x_k, S_k)` of the models
    (``xm`` (T, M, >=4), ``Pm``, predicted mode probabilities ``mu`` (T, M)), written as the
    Mahalanobis distance it would be under the moment-matched :math:`S_c` (from
    ``combined_cov`` (T, >=4, >=4)):

    .. math:: d^2 = -2 \ln \sum_k \mu_k \sqrt{|S_c| / |S_k|}\, e^{-d_k^2 / 2}

    (one model: the plain :math:`d^2`). Why: with a stopped model the prediction is two-peaked,
    at rest and moving on; the moment-matched Gaussian is narrow around the stopped peak when
    that mode leads, and gated out the next box of a young track that was moving after all (a
    car at 5 m/s crossing, a car at 30 m/s seen by LiDAR alone). Gating each model on its own
    instead (their union) let a young track's wide moving model take the neighbour's box in a
    row of parked cars again (parking_lot 723: 451 ID switches against 303 in 10 s).
    ``dt`` (D,) as in :func:`mahalanobis_sq_timed`; pairs beyond ``cut`` (T,) (the tracks' gates)
    may read ``inf`` (a lower bound excludes them before the sum: the numba kernel
    :func:`~sensor_fusion.tracking._mixture.mixture_sq_kernel`).
    """
    T, D = xm.shape[0], det_pos.shape[0]
    if T == 0 or D == 0:
        return np.zeros((T, D))
    with np.errstate(divide="ignore"):
        logmu = np.log(mu)
    return mixture_sq_kernel(
        np.ascontiguousarray(xm[..., :4], dtype=np.float64),
        np.ascontiguousarray(Pm[..., :4, :4], dtype=np.float64),
        np.ascontiguousarray(logmu, dtype=np.float64),
        np.ascontiguousarray(combined_cov[:, :4, :4], dtype=np.float64),
        np.ascontiguousarray(det_pos, dtype=np.float64),
        np.ascontiguousarray(det_cov, dtype=np.float64),
        np.ascontiguousarray(np.broadcast_to(dt, (D,)), dtype=np.float64),
        np.ascontiguousarray(np.broadcast_to(np.inf if cut is None else cut, (T,)), dtype=np.float64),
    )


def velocity_gate(
    vel: np.ndarray,
    vel_cov: np.ndarray,
    m_vel: np.ndarray,
    m_vel_R: np.ndarray,
    has_vel: np.ndarray,
    radial: np.ndarray,
    los: np.ndarray,
    radial_var: np.ndarray,
    has_radial: np.ndarray,
    prob: np.ndarray,
) -> np.ndarray:
    r"""(T, D) bool: whether detection ``j``'s measured velocity could come from track ``i``.

    The position gate alone lets a radar cluster of the oncoming lane, 2 m beside a track at 100 m,
    update it with a Doppler 20 m/s off; the Kalman update then writes the whole innovation into
    the velocity (urban seed 8: a car track at 12 m/s left at 44 m/s). Each detection is tested on
    the velocity it carries, as the update will use it: a full velocity (``has_vel``) by
    :math:`\nu^\top (P_{vv} + R_v)^{-1} \nu` against the chi-square quantile of ``prob``
    (2 dof), a Doppler component (``has_radial``) by :math:`(r - \ell^\top v)^2 /
    (\ell^\top P_{vv} \ell + \sigma_r^2)` (1 dof). ``vel`` (T, 2) and ``vel_cov`` (T, 2, 2)
    are the tracks' predicted velocity and covariance, ``prob`` (T,) the tracks' gate
    probability (per class). Detections with no velocity pass.
    """
    nt, nd = vel.shape[0], m_vel.shape[0]
    ok = np.ones((nt, nd), bool)
    p = np.asarray(prob, dtype=np.float64)[:, None]
    j = np.flatnonzero(has_vel)
    if j.size:
        S = vel_cov[:, None] + m_vel_R[None, j]  # (T, J, 2, 2)
        d = m_vel[None, j] - vel[:, None]
        q = _quad_2x2(S[..., 0, 0], 0.5 * (S[..., 0, 1] + S[..., 1, 0]), S[..., 1, 1], d[..., 0], d[..., 1])
        ok[:, j] = q <= chi2_2dof_ppf(p)
    j = np.flatnonzero(has_radial & ~has_vel)
    if j.size:
        lv = los[j]  # (J, 2)
        pred = vel @ lv.T  # (T, J)
        var = np.einsum("jk,tkl,jl->tj", lv, vel_cov, lv) + radial_var[None, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            q = (radial[None, j] - pred) ** 2 / var
        ok[:, j] = np.where(var > 0.0, q <= chi2_1dof_ppf(p), True)
    return ok


def gated_assignment(cost: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one assignment restricted to ``allowed`` pairs.

    Solves, over all one-to-one matchings of rows (tracks) to columns
    (detections) using only allowed pairs: maximise the number of matched
    pairs, then minimise their total cost. This is what the usual "gated pairs
    get a large cost, solve, then drop them" Hungarian recipe computes; here
    the large cost is chosen from the data so that one gated pair always costs
    more than any set of allowed pairs, which makes the recipe exact.

    Returns ``(rows, cols)`` int64 arrays of matched pairs, sorted by row.
    """
    cost = np.asarray(cost, dtype=np.float64)
    allowed = np.asarray(allowed, dtype=bool) & np.isfinite(cost)
    n_rows, n_cols = cost.shape
    if n_rows == 0 or n_cols == 0 or not allowed.any():
        return _EMPTY.copy(), _EMPTY.copy()
    valid = cost[allowed]
    lo = valid.min()
    # Costs shifted to >= 0: any min(n_rows, n_cols) allowed pairs sum below ``big``.
    big = (min(n_rows, n_cols) + 1) * (valid.max() - lo + 1.0)
    work = np.where(allowed, cost - lo, big)
    rows, cols = linear_sum_assignment(work)
    keep = allowed[rows, cols]
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


def cascade_assignment(
    cost: np.ndarray, allowed: np.ndarray, confirmed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gated_assignment` of confirmed tracks first, then of tentative ones to the columns left.

    A newborn track's velocity is barely known, so its gate is wide and its
    Mahalanobis distances small: in one joint assignment it would take the
    detections of an established track that missed a single frame (the
    classic duplicate-and-steal failure). Confirmed-first (as in DeepSORT's
    matching cascade) keeps established tracks on their objects. With all rows
    confirmed or none, this is one joint assignment.

    Returns ``(rows, cols)`` int64 arrays of matched pairs, sorted by row.
    """
    if confirmed.all() or not confirmed.any():
        return gated_assignment(cost, allowed)
    conf = np.flatnonzero(confirmed)
    tent = np.flatnonzero(~confirmed)
    r1, c1 = gated_assignment(cost[conf], allowed[conf])
    free = np.ones(cost.shape[1], bool)
    free[c1] = False
    left = np.flatnonzero(free)
    r2, c2 = gated_assignment(cost[np.ix_(tent, left)], allowed[np.ix_(tent, left)])
    rows = np.concatenate([conf[r1], tent[r2]])
    cols = np.concatenate([c1, left[c2]])
    order = np.argsort(rows, kind="stable")
    return rows[order], cols[order]
