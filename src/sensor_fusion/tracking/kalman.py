"""Batched linear Kalman filter steps over many tracks at once.

Every function works on a whole batch: ``x`` is (N, n), ``P`` is (N, n, n) and
the model matrices are either shared (n, n) / (m, n) or per track (N, n, n) /
(N, m, n). Nothing here knows about tracks, classes or time stamps, so the
same primitives serve the constant-velocity filter and the IMM's
model-conditioned filters (:mod:`sensor_fusion.tracking.imm`): an EKF passes its
own residual ``y = z - h(x)`` and Jacobian ``H`` to :func:`update`. Leading
batch axes may be more than one (tracks x models); ``H`` and ``R`` broadcast.

The maths is filterpy's ``KalmanFilter`` (Joseph-form update), batched with
``matmul`` broadcasting so there is no per-track Python.
"""

from __future__ import annotations

import numpy as np


def symmetrize(P: np.ndarray) -> np.ndarray:
    """Return ``(P + P') / 2`` over the last two axes (kills round-off asymmetry)."""
    return 0.5 * (P + np.swapaxes(P, -1, -2))


def predict(x: np.ndarray, P: np.ndarray, F: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Propagate the batch through a linear model.

    .. math::
        x^- = F x, \qquad P^- = F P F^\top + Q

    ``F`` is (n, n) or (N, n, n); ``Q`` is (n, n) or (N, n, n). Returns new
    arrays; the inputs are not modified.
    """
    x_new = (F @ x[..., None])[..., 0]
    P_new = symmetrize(F @ P @ np.swapaxes(F, -1, -2) + Q)
    return x_new, P_new


def innovation_cov(P: np.ndarray, H: np.ndarray, R: np.ndarray) -> np.ndarray:
    r"""Innovation covariance :math:`S = H P H^\top + R`, (N, m, m)."""
    return symmetrize(H @ P @ np.swapaxes(H, -1, -2) + R)


def update(
    x: np.ndarray, P: np.ndarray, y: np.ndarray, H: np.ndarray, R: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r"""Kalman measurement update with a given residual, Joseph form.

    .. math::
        S = H P H^\top + R, \quad K = P H^\top S^{-1}, \quad x^+ = x + K y,

        P^+ = (I - K H) P (I - K H)^\top + K R K^\top

    The Joseph form keeps ``P`` positive semi-definite under round-off and
    for a suboptimal gain; the result is symmetrised. ``y`` is (N, m): for a
    linear model ``z - H x`` (see :func:`linear_update`), for an EKF ``z - h(x)``.
    ``H`` is (m, n) or (N, m, n); ``R`` is (m, m) or (N, m, m).
    """
    n = x.shape[-1]
    if x.shape[0] == 0:
        return x.copy(), P.copy()
    Ht = np.swapaxes(H, -1, -2)
    PHt = P @ Ht  # (N, n, m)
    S = symmetrize(H @ PHt + R)  # (N, m, m)
    # K' = S^-1 H P (P and S symmetric): a solve is cheaper and better conditioned than inv(S).
    K = np.swapaxes(np.linalg.solve(S, np.swapaxes(PHt, -1, -2)), -1, -2)  # (N, n, m)
    x_new = x + (K @ y[..., None])[..., 0]
    I_KH = np.eye(n) - K @ H
    P_new = I_KH @ P @ np.swapaxes(I_KH, -1, -2) + K @ R @ np.swapaxes(K, -1, -2)
    return x_new, symmetrize(P_new)


def update_ll(
    x: np.ndarray, P: np.ndarray, y: np.ndarray, H: np.ndarray, R: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r""":func:`update` that also returns the measurement log-likelihood (the IMM needs it).

    .. math::
        \ln \Lambda = -\tfrac12 \left( y^\top S^{-1} y + \ln\det S + m \ln 2\pi \right)

    i.e. :math:`\ln \mathcal N(y; 0, S)` (filterpy's ``KalmanFilter.log_likelihood``).
    One solve with ``S`` gives both the gain and :math:`S^{-1} y`. Batch axes are
    everything before the last (``x`` (..., n), ``P`` (..., n, n), ``y`` (..., m));
    ``H`` (..., m, n) and ``R`` (..., m, m) broadcast against them. Returns
    ``(x+, P+, log_likelihood (...))``.
    """
    n = x.shape[-1]
    m = y.shape[-1]
    if x.size == 0:
        return x.copy(), P.copy(), np.zeros(x.shape[:-1])
    Ht = np.swapaxes(H, -1, -2)
    PHt = P @ Ht  # (..., n, m)
    S = symmetrize(H @ PHt + R)  # (..., m, m)
    rhs = np.concatenate([np.swapaxes(PHt, -1, -2), y[..., None]], axis=-1)  # (..., m, n + 1)
    sol = np.linalg.solve(S, rhs)
    K = np.swapaxes(sol[..., :n], -1, -2)  # (..., n, m)
    S_inv_y = sol[..., n]  # (..., m)
    x_new = x + (K @ y[..., None])[..., 0]
    I_KH = np.eye(n) - K @ H
    P_new = I_KH @ P @ np.swapaxes(I_KH, -1, -2) + K @ R @ np.swapaxes(K, -1, -2)
    _sign, logdet = np.linalg.slogdet(S)
    ll = -0.5 * ((y * S_inv_y).sum(axis=-1) + logdet + m * np.log(2.0 * np.pi))
    return x_new, symmetrize(P_new), ll


def linear_update(
    x: np.ndarray, P: np.ndarray, z: np.ndarray, H: np.ndarray, R: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`update` for a linear measurement ``z = H x + v``, ``v ~ N(0, R)``."""
    y = z - (H @ x[..., None])[..., 0]
    return update(x, P, y, H, R)
