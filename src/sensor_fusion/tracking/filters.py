r"""Per-track filter banks the tracker drives: one CV filter, or the CV + CT IMM.

A bank keeps, per track, ``M`` model-conditioned estimates ``xm`` (N, M, n),
``Pm`` (N, M, n, n) and mode probabilities ``mu`` (N, M), all float64, and offers
the same four batched operations, so the tracker has one code path:

* ``init(x4, P4)`` -- new tracks from a (p_x, p_y, v_x, v_y) mean and 4x4 covariance;
* ``predict(xm, Pm, mu, dt, accel_std)`` -- every track to the next stamp;
* ``update(xm, Pm, mu, z, H, R)`` -- a linear measurement ``z = H x + v`` (``H`` has
  ``n`` columns; the first four state components are always p_x, p_y, v_x, v_y);
* ``combine(xm, Pm, mu)`` -- the single (x, P) the tracker associates with and reports.

:class:`CVFilter` (``motion_model: cv``) is ``M = 1`` on the 4-state: exactly the
linear constant-velocity Kalman filter (same calls, same numbers, as before the
IMM existed). :class:`IMMFilter` (``motion_model: imm``) is the two-model IMM of
:class:`~sensor_fusion.tracking.motion.ConstantVelocityZeroTurn` and
:class:`~sensor_fusion.tracking.motion.CoordinatedTurn` on
:math:`(p_x, p_y, v_x, v_y, \omega)`; see :mod:`sensor_fusion.tracking.imm`.
"""

from __future__ import annotations

import numpy as np

from sensor_fusion.tracking import imm, kalman
from sensor_fusion.tracking.motion import ConstantVelocity, ConstantVelocityZeroTurn, CoordinatedTurn


class CVFilter:
    """One constant-velocity Kalman filter per track (``M = 1``, ``n = 4``)."""

    n = 4
    M = 1

    def init(self, x4: np.ndarray, P4: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return x4[:, None, :].copy(), P4[:, None, :, :].copy(), np.ones((x4.shape[0], 1))

    def predict(
        self, xm: np.ndarray, Pm: np.ndarray, mu: np.ndarray, dt: float, accel_std: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, P = ConstantVelocity().predict(xm[:, 0], Pm[:, 0], dt, accel_std)
        return x[:, None], P[:, None], mu

    def update(
        self, xm: np.ndarray, Pm: np.ndarray, mu: np.ndarray, z: np.ndarray, H: np.ndarray, R: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, P = kalman.linear_update(xm[:, 0], Pm[:, 0], z, H, R)
        return x[:, None], P[:, None], mu

    def combine(self, xm: np.ndarray, Pm: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The single model's estimate (views, no copy)."""
        return xm[:, 0], Pm[:, 0]


class IMMFilter:
    r"""IMM of straight-line CV and coordinated turn on :math:`(p_x, p_y, v_x, v_y, \omega)`.

    Model 0 is :class:`~sensor_fusion.tracking.motion.ConstantVelocityZeroTurn`,
    model 1 :class:`~sensor_fusion.tracking.motion.CoordinatedTurn` (EKF). Mode
    switching follows :func:`~sensor_fusion.tracking.imm.transition_matrix` with mean
    sojourn times ``sojourn_s = (tau_cv, tau_ct)``; new tracks start from its
    stationary distribution (:math:`\mu \propto \tau`), turn rate 0 with std
    ``init_turn_rate_std``. Both models use the per-track acceleration std;
    the turning model adds the turn-acceleration noise ``turn_accel_std``.

    ``max_lateral_accel`` (m/s^2) bounds the turning model's turn rate by what the tyres allow,
    :math:`|\omega| \le a_{max} / |v|` (lateral acceleration :math:`|v| \omega`): after each
    update the estimate is projected onto that bound (estimate projection, Simon 2010), the
    covariance kept. A slow object may turn as fast as the data say; a fast one cannot swing
    its heading by tens of degrees a second, whatever a neighbour's boxes pull.
    """

    n = 5
    M = 2

    def __init__(
        self,
        turn_accel_std: float,
        init_turn_rate_std: float,
        sojourn_s: tuple[float, float],
        max_lateral_accel: float = np.inf,
    ):
        self.turn_accel_std = float(turn_accel_std)
        self.max_lateral_accel = float(max_lateral_accel)
        self.init_turn_var = float(init_turn_rate_std) ** 2
        self.sojourn_s = np.asarray(sojourn_s, dtype=np.float64)
        self.mu0 = imm.stationary_probabilities(self.sojourn_s)
        self._cv = ConstantVelocityZeroTurn()
        self._ct = CoordinatedTurn()
        self._Pi_cache: tuple[float, np.ndarray] | None = None

    def transition(self, dt: float) -> np.ndarray:
        """Mode transition matrix for ``dt`` (cached: frames mostly share one interval)."""
        if self._Pi_cache is None or self._Pi_cache[0] != dt:
            self._Pi_cache = (dt, imm.transition_matrix(dt, self.sojourn_s))
        return self._Pi_cache[1]

    def init(self, x4: np.ndarray, P4: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = x4.shape[0]
        x = np.zeros((k, 5))
        x[:, :4] = x4
        P = np.zeros((k, 5, 5))
        P[:, :4, :4] = P4
        P[:, 4, 4] = self.init_turn_var
        xm = np.repeat(x[:, None], 2, axis=1)
        Pm = np.repeat(P[:, None], 2, axis=1)
        return xm, Pm, np.tile(self.mu0, (k, 1))

    def predict(
        self, xm: np.ndarray, Pm: np.ndarray, mu: np.ndarray, dt: float, accel_std: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mix, then each model predicts; the returned ``mu`` is the predicted :math:`\\bar c`."""
        cbar, x0, P0 = imm.mix(mu, self.transition(dt), xm, Pm)
        x_cv, P_cv = self._cv.predict(x0[:, 0], P0[:, 0], dt, accel_std)
        x0, P0 = x0.copy(), P0.copy()
        self._bound_turn(x0, P0)  # the mixed turning estimate too, before it predicts
        x_ct, P_ct = self._ct.predict(x0[:, 1], P0[:, 1], dt, accel_std, self.turn_accel_std)
        return np.stack([x_cv, x_ct], axis=1), np.stack([P_cv, P_ct], axis=1), cbar

    def update(
        self, xm: np.ndarray, Pm: np.ndarray, mu: np.ndarray, z: np.ndarray, H: np.ndarray, R: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xm, Pm, ll = imm.update_models(xm, Pm, z, H, R)
        self._bound_turn(xm, Pm)
        return xm, Pm, imm.mode_probabilities(mu, ll)

    def _bound_turn(self, xm: np.ndarray, Pm: np.ndarray) -> None:
        """The turning model's turn rate within the lateral-acceleration bound, in place: the mean
        clipped to it and the std scaled to at most half of it (the bound at 2 sigma)."""
        if not np.isfinite(self.max_lateral_accel) or xm.shape[0] == 0:
            return
        ct, P = xm[:, 1], Pm[:, 1]
        w_max = self.max_lateral_accel / np.maximum(np.hypot(ct[:, 2], ct[:, 3]), 1e-6)
        ct[:, 4] = np.clip(ct[:, 4], -w_max, w_max)
        s = np.minimum(1.0, 0.5 * w_max / np.sqrt(np.maximum(P[:, 4, 4], 1e-300)))
        P[:, 4, :] *= s[:, None]  # D P D with D = diag(1, 1, 1, 1, s): stays positive semi-definite
        P[:, :, 4] *= s[:, None]

    def combine(self, xm: np.ndarray, Pm: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return imm.combine(mu, xm, Pm)
