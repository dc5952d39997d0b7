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
from sensor_fusion.tracking.motion import ConstantVelocity, ConstantVelocityZeroTurn, CoordinatedTurn, Stopped


class CVFilter:
    """One constant-velocity Kalman filter per track (``M = 1``, ``n = 4``)."""

    n = 4
    M = 1

    def init(
        self, x4: np.ndarray, P4: np.ndarray, init_vel_var: float = np.inf
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``init_vel_var`` is unused (one model: nothing to weigh)."""
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


def stop_log_odds(v: np.ndarray, Pvv: np.ndarray, prior_var: float) -> np.ndarray:
    r"""(N,) log Bayes factor of "at rest" against "moving" for velocity estimates ``v`` (N, 2),
    ``Pvv`` (N, 2, 2) made from a zero-mean prior of variance ``prior_var`` per axis: the
    Savage-Dickey ratio :math:`\ln \mathcal N(0; v, P_{vv}) - \ln \mathcal N(0; 0, \sigma_0^2 I)`.
    0 where nothing was measured (the estimate is the prior)."""
    det = np.maximum(np.linalg.det(Pvv), 1e-300)
    m = np.einsum("ni,nij,nj->n", v, np.linalg.inv(Pvv), v)
    return -0.5 * m + 0.5 * np.log(prior_var**2 / det)


def reweigh_stop(mu: np.ndarray, log_odds: np.ndarray) -> np.ndarray:
    """``mu`` (N, 3) with the stopped mode (last) multiplied by ``exp(log_odds)``, renormalised."""
    a = np.log(np.maximum(mu, 1e-300))
    a[:, 2] += log_odds
    a = np.exp(a - a.max(axis=1, keepdims=True))
    return a / a.sum(axis=1, keepdims=True)


def _at_rest(xm: np.ndarray, Pm: np.ndarray) -> None:
    """In place: the stopped model (index 2) has no velocity and no turn rate, with no variance."""
    xm[:, 2, 2:] = 0.0
    Pm[:, 2, 2:, :] = 0.0
    Pm[:, 2, :, 2:] = 0.0


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
    M = 2  # per instance: 3 with the stopped model

    def __init__(
        self,
        turn_accel_std: float,
        init_turn_rate_std: float,
        sojourn_s: tuple[float, ...],
        max_lateral_accel: float = np.inf,
    ):
        self.turn_accel_std = float(turn_accel_std)
        self.max_lateral_accel = float(max_lateral_accel)
        self.init_turn_var = float(init_turn_rate_std) ** 2
        self.sojourn_s = np.asarray(sojourn_s, dtype=np.float64)
        self.M = self.sojourn_s.size  # 3: with the stopped model
        self.mu0 = imm.stationary_probabilities(self.sojourn_s)
        self.birth_stop_prob = 0.5  # with the stopped model: see :meth:`set_birth_stop_prob`
        self.stop_on = True  # False: nothing enters the stopped model (a frame moving with the vehicle)
        if self.M == 3:
            self.set_birth_stop_prob(0.5)
        self._cv = ConstantVelocityZeroTurn()
        self._ct = CoordinatedTurn()
        self._stop = Stopped()
        self._Pi_cache: tuple[float, np.ndarray] | None = None

    def set_birth_stop_prob(self, p: float) -> None:
        """The share of new tracks that start stopped (the rest moving, split as the CV/CT chain's
        stationary distribution). A first box says nothing of motion; the tracker sets the share
        stopped among the scene's established tracks (:class:`~.tracker.Tracker`)."""
        p = float(p) if self.stop_on else 1e-12  # floored: the mixing weights stay defined
        self.birth_stop_prob = p
        self.mu0 = np.append((1.0 - p) * imm.stationary_probabilities(self.sojourn_s[:2]), p)

    def transition(self, dt: float) -> np.ndarray:
        """Mode transition matrix for ``dt`` (cached: frames mostly share one interval)."""
        if self._Pi_cache is None or self._Pi_cache[0] != dt:
            self._Pi_cache = (dt, imm.transition_matrix(dt, self.sojourn_s))
        return self._Pi_cache[1]

    def init(
        self, x4: np.ndarray, P4: np.ndarray, init_vel_var: float = np.inf
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """New tracks; with the stopped model its share of the start distribution is weighed by
        the velocity the detection measured (:func:`stop_log_odds` against ``init_vel_var``, the
        velocity prior the tracker used: a car's box with 10 m/s of Doppler starts moving)."""
        k = x4.shape[0]
        x = np.zeros((k, 5))
        x[:, :4] = x4
        P = np.zeros((k, 5, 5))
        P[:, :4, :4] = P4
        P[:, 4, 4] = self.init_turn_var
        xm = np.repeat(x[:, None], self.M, axis=1)
        Pm = np.repeat(P[:, None], self.M, axis=1)
        mu = np.tile(self.mu0, (k, 1))
        if self.M == 3:
            _at_rest(xm, Pm)
            if np.isfinite(init_vel_var):
                mu = reweigh_stop(mu, stop_log_odds(x4[:, 2:4], P4[:, 2:4, 2:4], init_vel_var))
        return xm, Pm, mu

    def restart_stop(self, xm: np.ndarray, Pm: np.ndarray, mu: np.ndarray, init_vel_var: float) -> np.ndarray:
        """After a change of tracking frame (in place): the stopped model restarts from the moving
        models' estimate (their own odds) at rest, and the mode probabilities from the start
        distribution weighed by that velocity (:func:`stop_log_odds`); returns the new ``mu``. Why:
        "stopped" in a moving frame (base_link before the heading is known) is moving with the
        vehicle in ``odom``."""
        w = np.maximum(mu[:, :2], 1e-300)
        x, P = imm.combine(w / w.sum(axis=1, keepdims=True), xm[:, :2], Pm[:, :2])
        xm[:, 2] = x
        Pm[:, 2] = P
        _at_rest(xm, Pm)
        mu = np.tile(self.mu0, (xm.shape[0], 1))
        return reweigh_stop(mu, stop_log_odds(x[:, 2:4], P[:, 2:4, 2:4], init_vel_var))

    def predict(
        self, xm: np.ndarray, Pm: np.ndarray, mu: np.ndarray, dt: float, accel_std: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mix, then each model predicts; the returned ``mu`` is the predicted :math:`\\bar c`."""
        Pi = self.transition(dt)
        if self.M == 3:
            Pi = self._braking(Pi, xm, Pm, dt)
        cbar, x0, P0 = imm.mix(mu, Pi, xm, Pm)
        x_cv, P_cv = self._cv.predict(x0[:, 0], P0[:, 0], dt, accel_std)
        x0, P0 = x0.copy(), P0.copy()
        self._bound_turn(x0, P0)  # the mixed turning estimate too, before it predicts
        x_ct, P_ct = self._ct.predict(x0[:, 1], P0[:, 1], dt, accel_std, self.turn_accel_std)
        xs, Ps = [x_cv, x_ct], [P_cv, P_ct]
        if self.M == 3:
            x_s, P_s = self._stop.predict(x0[:, 2], P0[:, 2], dt, accel_std)
            xs.append(x_s)
            Ps.append(P_s)
        return np.stack(xs, axis=1), np.stack(Ps, axis=1), cbar

    def _braking(self, Pi: np.ndarray, xm: np.ndarray, Pm: np.ndarray, dt: float) -> np.ndarray:
        r"""Per-track transition matrices (N, 3, 3): a moving model switches to the stopped one only
        as far as its speed can reach zero within ``dt`` braking at ``max_lateral_accel`` (the same
        tyre-road friction bounds braking and cornering). The switch probability is scaled by
        :math:`\exp(-d^2 / 2\sigma^2)`, :math:`d = \max(0, |v| - a \Delta t)`, :math:`\sigma^2` the
        model's velocity variance along :math:`v`; the rest stays in the model. Why: with a switch
        rate blind to speed, one box of a car at 4.5 m/s that fell 0.45 m behind (2 sigma of 0.2 m
        noise) made the stopped mode a third of the estimate and halved its velocity."""
        out = np.broadcast_to(Pi, (xm.shape[0], 3, 3)).copy()
        # floored: a mode with no predicted mass leaves the mixing weights undefined (0 / 0)
        if not self.stop_on:  # a frame moving with the vehicle: nothing enters the stopped model
            q = np.full((xm.shape[0], 2), 1e-12)
        elif not np.isfinite(self.max_lateral_accel):
            return out
        else:
            v = xm[:, :2, 2:4]  # (N, 2 moving models, 2)
            speed = np.hypot(v[..., 0], v[..., 1])
            u = v / np.maximum(speed, 1e-9)[..., None]
            var = np.einsum("nmi,nmij,nmj->nm", u, Pm[:, :2, 2:4, 2:4], u)
            d = np.maximum(speed - self.max_lateral_accel * dt, 0.0)
            q = np.maximum(np.exp(-0.5 * d * d / np.maximum(var, 1e-12)), 1e-12)
        for i in range(2):
            go = out[:, i, 2] * (1.0 - q[:, i])
            out[:, i, 2] -= go
            out[:, i, i] += go
        return out

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
