"""Motion models for the tracker, batched over tracks.

A model owns its state layout, its transition and process noise, and the
measurement matrices that pick the tracker's output quantities out of its
state. Only the constant-velocity (CV) model exists now; a CTRV model and an
IMM mixing CV and CTRV are expected to live beside it with the same shape of
interface (``predict`` on (N, n) / (N, n, n) batches, ``H_POS``).
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
