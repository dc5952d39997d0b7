r"""Motion models for the tracker, batched over tracks.

A model owns its state layout, its transition and process noise, and the
measurement matrices that pick the tracker's output quantities out of its
state. All models ``predict`` (N, n) / (N, n, n) batches to one common stamp.

* :class:`ConstantVelocity`: the linear CV model on ``(p_x, p_y, v_x, v_y)``
  (the tracker's ``motion_model: cv``, the AB3DMOT-style baseline).
* :class:`ConstantVelocityZeroTurn` and :class:`CoordinatedTurn`: the two
  models of the IMM (``motion_model: imm``), on the common 5-state

  .. math:: x = (p_x,\ p_y,\ v_x,\ v_y,\ \omega)

  with :math:`\omega` the turn rate (rad/s, counter-clockwise positive). The
  coordinated-turn model is CTRV (constant turn rate and speed) written with
  a Cartesian velocity instead of (speed, heading): the heading is
  :math:`\psi = \operatorname{atan2}(v_y, v_x)` and follows the velocity by
  construction. Keeping the velocity Cartesian makes the CV model exactly
  linear, the radar Doppler measurement :math:`h(x) = \ell^\top v` linear,
  the tracker's (x, y, vx, vy) output a plain slice of the state with its
  4x4 covariance, and IMM mixing free of angle wrapping (there is no angle
  in the state) -- and avoids the polar state's singular heading at
  :math:`v = 0` and its 180-degree ambiguity at birth.
"""

from __future__ import annotations

import numpy as np

from sensor_fusion.tracking import kalman


class ConstantVelocity:
    r"""Nearly-constant-velocity model on the state :math:`x = (p_x, p_y, v_x, v_y)`.

    .. math::
        F = \begin{bmatrix} I & \Delta t\, I \\ 0 & I \end{bmatrix},\qquad
        Q = \sigma_a^2 \begin{bmatrix} \tfrac{\Delta t^4}{4} I & \tfrac{\Delta t^3}{2} I \\
                                       \tfrac{\Delta t^3}{2} I & \Delta t^2 I \end{bmatrix}

    ``Q`` is the discrete white-noise acceleration model with acceleration std
    :math:`\sigma_a` (m/s^2), i.e. filterpy's ``Q_discrete_white_noise(2, dt,
    var=sigma_a**2, block_size=2, order_by_dim=False)``; ``sigma_a`` may differ
    per track (per class).
    """

    dim_x = 4
    H_POS = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])  # z = (x, y)
    H_POS_VEL = np.eye(4)  # z = (x, y, vx, vy)

    @staticmethod
    def transition(dt: float) -> np.ndarray:
        """State transition ``F`` (4, 4) for a step of ``dt`` seconds."""
        F = np.eye(4)
        F[0, 2] = F[1, 3] = dt
        return F

    @staticmethod
    def process_noise(dt: float, accel_std: np.ndarray) -> np.ndarray:
        """Process noise ``Q`` (N, 4, 4) for per-track acceleration std ``accel_std`` (N,) m/s^2."""
        q = np.zeros((4, 4))
        q[0, 0] = q[1, 1] = dt**4 / 4.0
        q[0, 2] = q[2, 0] = q[1, 3] = q[3, 1] = dt**3 / 2.0
        q[2, 2] = q[3, 3] = dt**2
        return np.asarray(accel_std, dtype=np.float64)[:, None, None] ** 2 * q

    def predict(
        self, x: np.ndarray, P: np.ndarray, dt: float, accel_std: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predict the batch ``dt`` seconds ahead (``dt`` shared: all tracks go to one stamp)."""
        return kalman.predict(x, P, self.transition(dt), self.process_noise(dt, accel_std))


def _cv_blocks(dt: float, accel_std: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CV ``F`` (n, n) and ``Q`` (N, n, n) on the leading (x, y, vx, vy) block, zeros elsewhere."""
    F = np.zeros((n, n))
    F[:4, :4] = ConstantVelocity.transition(dt)
    Q = np.zeros((np.shape(accel_std)[0], n, n))
    Q[:, :4, :4] = ConstantVelocity.process_noise(dt, accel_std)
    return F, Q


class ConstantVelocityZeroTurn:
    r"""The IMM's CV model on :math:`x = (p_x, p_y, v_x, v_y, \omega)`: straight line, no turn.

    .. math::
        F = \begin{bmatrix} F_{CV} & 0 \\ 0 & 0 \end{bmatrix},\qquad
        Q = \begin{bmatrix} Q_{CV}(\sigma_a) & 0 \\ 0 & 0 \end{bmatrix}

    The position/velocity block is :class:`ConstantVelocity`; the turn rate is
    set to 0 (with zero variance): in the "straight" mode the object does not
    turn, and a switch to the turning mode restarts from :math:`\omega = 0`
    through the IMM mixing. It is the :math:`\omega \to 0` limit of
    :class:`CoordinatedTurn` for the first four components.
    """

    dim_x = 5

    def predict(
        self, x: np.ndarray, P: np.ndarray, dt: float, accel_std: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        F, Q = _cv_blocks(dt, accel_std, 5)
        return kalman.predict(x, P, F, Q)


class CoordinatedTurn:
    r"""Coordinated turn (CTRV with Cartesian velocity) on :math:`x = (p_x, p_y, v_x, v_y, \omega)`, EKF.

    Exact motion at constant speed and turn rate over :math:`T = \Delta t`,
    with :math:`s = \sin \omega T`, :math:`c = \cos \omega T`,
    :math:`A = s / \omega`, :math:`B = (1 - c) / \omega`:

    .. math::
        f(x) = \begin{bmatrix}
            p_x + A v_x - B v_y \\ p_y + B v_x + A v_y \\
            c\, v_x - s\, v_y \\ s\, v_x + c\, v_y \\ \omega \end{bmatrix},
        \qquad
        F = \frac{\partial f}{\partial x} = \begin{bmatrix}
            1 & 0 & A & -B & A' v_x - B' v_y \\
            0 & 1 & B & A & B' v_x + A' v_y \\
            0 & 0 & c & -s & -T (s v_x + c v_y) \\
            0 & 0 & s & c & T (c v_x - s v_y) \\
            0 & 0 & 0 & 0 & 1 \end{bmatrix}

    with :math:`A' = (T c \omega - s) / \omega^2` and
    :math:`B' = (T s \omega - (1 - c)) / \omega^2`. Near :math:`\omega T = 0`
    the Taylor series :math:`A \approx T(1 - \theta^2/6)`,
    :math:`B \approx T(\theta/2 - \theta^3/24)`,
    :math:`A' \approx -\omega T^3/3 + \omega^3 T^5/30`,
    :math:`B' \approx T^2/2 - \omega^2 T^4/8` (:math:`\theta = \omega T`) replace the
    quotients, so :math:`\omega = 0` gives exactly the CV prediction. ``1 - c``
    is computed as :math:`2 \sin^2(\theta/2)` (no cancellation).

    Process noise: white acceleration on the position/velocity block (as CV)
    and a piecewise-constant turn acceleration of std :math:`\sigma_\alpha`
    (rad/s^2): :math:`Q = \operatorname{diag}(Q_{CV}(\sigma_a),\ \sigma_\alpha^2 T^2)`.
    EKF: :math:`x^- = f(x)`, :math:`P^- = F P F^\top + Q`.
    """

    dim_x = 5
    SMALL_THETA = 1e-3  # |omega dt| below this uses the series (truncation < 1e-13 relative)

    @classmethod
    def transition(cls, x: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """``f(x)`` (N, 5) and its Jacobian ``F`` (N, 5, 5) at ``x`` (N, 5) for a step ``dt`` s."""
        vx, vy, w = x[:, 2], x[:, 3], x[:, 4]
        T = float(dt)
        th = w * T
        s, c = np.sin(th), np.cos(th)
        one_c = 2.0 * np.sin(0.5 * th) ** 2
        small = np.abs(th) < cls.SMALL_THETA
        ws = np.where(small, 1.0, w)
        A = np.where(small, T * (1.0 - th * th / 6.0), s / ws)
        B = np.where(small, T * (0.5 * th - th**3 / 24.0), one_c / ws)
        dA = np.where(small, -w * T**3 / 3.0 + w**3 * T**5 / 30.0, (T * c * w - s) / ws**2)
        dB = np.where(small, 0.5 * T * T - w * w * T**4 / 8.0, (T * s * w - one_c) / ws**2)
        fx = np.empty_like(x)
        fx[:, 0] = x[:, 0] + A * vx - B * vy
        fx[:, 1] = x[:, 1] + B * vx + A * vy
        fx[:, 2] = c * vx - s * vy
        fx[:, 3] = s * vx + c * vy
        fx[:, 4] = w
        F = np.zeros((x.shape[0], 5, 5))
        F[:, 0, 0] = F[:, 1, 1] = F[:, 4, 4] = 1.0
        F[:, 0, 2] = F[:, 1, 3] = A
        F[:, 0, 3] = -B
        F[:, 1, 2] = B
        F[:, 2, 2] = F[:, 3, 3] = c
        F[:, 2, 3] = -s
        F[:, 3, 2] = s
        F[:, 0, 4] = dA * vx - dB * vy
        F[:, 1, 4] = dB * vx + dA * vy
        F[:, 2, 4] = -T * (s * vx + c * vy)
        F[:, 3, 4] = T * (c * vx - s * vy)
        return fx, F

    def predict(
        self, x: np.ndarray, P: np.ndarray, dt: float, accel_std: np.ndarray, turn_accel_std: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """EKF prediction of the batch ``dt`` seconds ahead; ``turn_accel_std`` in rad/s^2."""
        fx, F = self.transition(x, dt)
        _, Q = _cv_blocks(dt, accel_std, 5)
        Q[:, 4, 4] = (float(turn_accel_std) * dt) ** 2
        return fx, kalman.symmetrize(F @ P @ np.swapaxes(F, -1, -2) + Q)


class Stopped:
    r"""The IMM's stopped model on :math:`x = (p_x, p_y, v_x, v_y, \omega)`: the object stands still.

    .. math::
        F = \operatorname{diag}(1, 1, 0, 0, 0),\qquad
        Q = \begin{bmatrix} \sigma_a^2 \tfrac{\Delta t^4}{4} I & 0 \\ 0 & 0 \end{bmatrix}

    Velocity and turn rate are exactly 0 (zero variance); the position keeps the CV model's
    position noise. The stop of a move-stop-move target (Kirubarajan & Bar-Shalom, "Tracking
    evasive move-stop-move targets with a GMTI radar using a VS-IMM estimator", IEEE TAES
    2003): a parked car is explained by it, so a track on one does not take a velocity from one
    box of its neighbour (a row of parked cars stands 2.5 m apart) and hop along the row.
    """

    dim_x = 5

    def predict(
        self, x: np.ndarray, P: np.ndarray, dt: float, accel_std: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        F, Q = _cv_blocks(dt, accel_std, 5)
        F[0, 2] = F[1, 3] = F[2, 2] = F[3, 3] = 0.0
        Q[:, :, 2:] = 0.0
        Q[:, 2:, :] = 0.0
        return kalman.predict(x, P, F, Q)
