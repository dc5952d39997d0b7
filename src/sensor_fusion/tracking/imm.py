r"""Interacting Multiple Model (IMM) estimator maths, batched over tracks.

Shapes: ``M`` models sharing one state layout of size ``n``; per track the
model-conditioned means ``xm`` (..., M, n), covariances ``Pm`` (..., M, n, n)
and mode probabilities ``mu`` (..., M). ``Pi`` (M, M) is the Markov mode
transition matrix, :math:`\Pi_{ij} = P(\text{mode } j \text{ at } k \mid i \text{ at } k-1)`.
One IMM cycle (Blom & Bar-Shalom; filterpy's ``IMMEstimator``):

1. :func:`mix` -- predicted mode probabilities and mixing weights

   .. math::
       \bar c_j = \sum_i \Pi_{ij} \mu_i, \qquad
       \omega_{ij} = \Pi_{ij} \mu_i / \bar c_j,

   mixed initial conditions per model

   .. math::
       x^0_j = \sum_i \omega_{ij} x_i, \qquad
       P^0_j = \sum_i \omega_{ij} \left(P_i + (x_i - x^0_j)(x_i - x^0_j)^\top\right);

2. each model predicts from its own :math:`(x^0_j, P^0_j)` (its own, possibly
   nonlinear, dynamics -- done by the caller);
3. :func:`update_models` -- each model's Kalman update with the same
   measurement and its log-likelihood :math:`\ln \Lambda_j = \ln \mathcal N(y_j; 0, S_j)`;
4. :func:`mode_probabilities` --
   :math:`\mu_j = \bar c_j \Lambda_j / \sum_l \bar c_l \Lambda_l` (in log space, so
   far-off measurements cannot underflow every likelihood to zero);
5. :func:`combine` -- the moment-matched output

   .. math::
       x = \sum_j \mu_j x_j, \qquad P = \sum_j \mu_j \left(P_j + (x_j - x)(x_j - x)^\top\right).

Without a measurement the mode probabilities after prediction are
:math:`\bar c` (filterpy keeps the previous posterior ``mu`` there, which is
only the same when an update follows every prediction).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm

from sensor_fusion.tracking import kalman


def transition_matrix(dt: float, sojourn_s: np.ndarray) -> np.ndarray:
    r"""Mode transition matrix (M, M) for a step of ``dt`` seconds.

    The mode is a continuous-time Markov chain that leaves mode ``i`` at rate
    :math:`1/\tau_i` (``sojourn_s[i]`` is the mean time spent in it) to any
    other mode with equal probability: generator
    :math:`G_{ii} = -1/\tau_i`, :math:`G_{ij} = 1/(\tau_i (M-1))`, and
    :math:`\Pi(\Delta t) = e^{G \Delta t}`. Rows sum to 1; ``dt = 0`` gives ``I``,
    so uneven frame intervals switch modes consistently.
    """
    tau = np.asarray(sojourn_s, dtype=np.float64)
    M = tau.shape[0]
    if M == 1:
        return np.ones((1, 1))
    G = np.tile((1.0 / (tau * (M - 1)))[:, None], (1, M))
    G[np.diag_indices(M)] = -1.0 / tau
    Pi = expm(G * float(dt))
    return Pi / Pi.sum(axis=1, keepdims=True)


def stationary_probabilities(sojourn_s: np.ndarray) -> np.ndarray:
    r"""Stationary mode distribution of :func:`transition_matrix`'s chain: :math:`\mu_i \propto \tau_i`."""
    tau = np.asarray(sojourn_s, dtype=np.float64)
    return tau / tau.sum()


def mix(
    mu: np.ndarray, Pi: np.ndarray, xm: np.ndarray, Pm: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IMM interaction: ``(cbar (..., M), x0 (..., M, n), P0 (..., M, n, n))``; see the module docstring.
    ``Pi`` is one (M, M) matrix or one per track (..., M, M)."""
    n = xm.shape[-1]
    M = xm.shape[-2]
    cbar = np.einsum("...i,...ij->...j", mu, Pi)  # (..., M); Pi (M, M) or per track (..., M, M)
    w = Pi * mu[..., :, None] / cbar[..., None, :]  # (..., i, j) = omega_ij
    wT = np.swapaxes(w, -1, -2)  # (..., j, i)
    x0 = wT @ xm  # (..., j, n)
    P0 = (wT @ Pm.reshape(*Pm.shape[:-2], n * n)).reshape(*Pm.shape[:-3], M, n, n)
    d = xm[..., None, :, :] - x0[..., :, None, :]  # (..., j, i, n): x_i - x0_j
    P0 = P0 + np.swapaxes(d * wT[..., None], -1, -2) @ d
    return cbar, x0, kalman.symmetrize(P0)


def update_models(
    xm: np.ndarray, Pm: np.ndarray, z: np.ndarray, H: np.ndarray, R: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Every model's Kalman update with one linear measurement ``z = H x + v``.

    ``xm`` (K, M, n), ``Pm`` (K, M, n, n), ``z`` (K, m), ``H`` (m, n) shared or
    (K, m, n) per track (the same for all models), ``R`` (K, m, m). Returns the
    updated ``xm``, ``Pm`` and the log-likelihoods (K, M) of ``z`` under each model.
    The tracker's measurements (position, velocity, Doppler :math:`\ell^\top v`) are
    all linear in its Cartesian state, so no per-model relinearisation is needed.
    """
    Hb = H if H.ndim == 2 else H[:, None]
    y = z[:, None, :] - (Hb @ xm[..., None])[..., 0]
    return kalman.update_ll(xm, Pm, y, Hb, R[:, None])


def mode_probabilities(cbar: np.ndarray, loglik: np.ndarray) -> np.ndarray:
    r""":math:`\mu_j \propto \bar c_j \Lambda_j`, normalised over the last axis, computed in log space."""
    a = np.exp(loglik - loglik.max(axis=-1, keepdims=True)) * cbar
    return a / a.sum(axis=-1, keepdims=True)


def combine(mu: np.ndarray, xm: np.ndarray, Pm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Moment-matched mixture ``(x (..., n), P (..., n, n))`` of the model estimates."""
    n = xm.shape[-1]
    x = (mu[..., None, :] @ xm)[..., 0, :]
    P = (mu[..., None, :] @ Pm.reshape(*Pm.shape[:-2], n * n))[..., 0, :].reshape(*Pm.shape[:-3], n, n)
    d = xm - x[..., None, :]  # (..., M, n)
    P = P + np.swapaxes(d * mu[..., None], -1, -2) @ d
    return x, kalman.symmetrize(P)
