"""IMU propagation: readings into base_link, the prediction step and its linearisation.

The IMU is the filter clock. Each reading is rotated into base_link and its specific force
moved to the base origin through the mounting lever arm; the step between two readings is
the trapezoid of :func:`eskf.imu_propagate` with ``P = F P F' + Q``, run as one numba kernel
(:func:`_kernels.predict_step`) because at 100-400 Hz the overhead of ~60 small numpy calls
would dominate. While yaw is unknown the kernel keeps it decoupled and adds the unknown
rotation of the horizontal specific force as velocity noise of density ``|A_h|``.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.geometry import wrap_angle
from ..core.stamps import NS_PER_S
from . import eskf
from ._kernels import NOISE_BVAR, NOISE_DVAR, noise_start, noise_update, predict_step
from .config import EgoConfig
from .state import FilterState

__all__ = ["Propagator", "valid_orientation"]

_NO_LEVER = np.zeros(3)
# The measured IMU noise (_kernels.noise_update). Sample to sample over 0.5 s: 15 samples at
# 30 Hz, following a robot from standing to driving within a second. The block of the
# block-to-block estimate: the interval between a robot's aiding updates (wheels at 10 Hz), over
# which the IMU's noise integrates unchecked, and longer than the correlation an IMU's low-pass
# filter puts between its samples at tens of Hz; over 20 blocks, the estimate within ~+-30 %.
NOISE_WINDOW_S = 0.5
NOISE_BLOCK_S = 0.1
NOISE_BLOCK_WINDOW_S = 2.0


def valid_orientation(o: np.ndarray | None) -> bool:
    """An IMU orientation output worth reading: a finite, roughly unit quaternion (x y z w)."""
    return o is not None and np.shape(o) == (4,) and bool(np.isfinite(o).all()) and np.linalg.norm(o) > 0.5


class Propagator:
    """The IMU mounting (``T_base_imu``, (4, 4)) and the noise model of the prediction step."""

    def __init__(self, config: EgoConfig, T_base_imu: np.ndarray) -> None:
        c = config
        self._R_bi = T_base_imu[:3, :3].copy()
        self._r_bi = T_base_imu[:3, 3].copy()
        self._has_lever = bool(np.any(self._r_bi != 0.0))
        self._max_dt_ns = int(round(c.max_imu_dt_s * NS_PER_S))
        self._zupt_window_s = float(c.zupt_window_s)
        self.g = np.array([0.0, 0.0, -c.gravity_mps2])
        self._noise = (
            c.accel_noise_mps2_sqrt_hz,
            c.gyro_noise_rad_s_sqrt_hz,
            c.accel_bias_walk_mps3_sqrt_hz,
            c.gyro_bias_walk_rad_s2_sqrt_hz,
        )
        self._qdiag = np.array([x**2 for x in self._noise])
        self._yaw_offset = c.imu_yaw_offset_rad + c.magnetic_declination_rad
        self._measured_noise = bool(c.imu_noise_measured)
        self._noise_windows = np.array(
            [c.max_imu_dt_s * (1.0 + 1e-9), NOISE_WINDOW_S, NOISE_BLOCK_S, NOISE_BLOCK_WINDOW_S]
        )

    def to_base(
        self, w: np.ndarray, a: np.ndarray, t: int, prev: tuple[int, np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """IMU-frame readings -> base_link: rotate, and move the specific force from the IMU to
        the base origin, ``f_b = f_imu - w x (w x r) - dw/dt x r``. ``prev`` is the previous
        base-frame sample ``(t, w)``. The angular acceleration is the difference of consecutive
        gyro samples: noisy per sample, but its effect on velocity telescopes to
        ``(w_k - w_0) x r``, so the noise does not accumulate."""
        w = self._R_bi @ w
        a = self._R_bi @ a
        if self._has_lever:
            r = self._r_bi
            a = a - np.cross(w, np.cross(w, r))
            if prev is not None and prev[0] < t <= prev[0] + self._max_dt_ns:
                a = a - np.cross((w - prev[1]) * (NS_PER_S / (t - prev[0])), r)
        return w, a

    def base_yaw(self, orientation: np.ndarray) -> float:
        """base_link yaw from an IMU orientation output (world ENU <- IMU): R_wb = R_wi R_bi',
        plus ``imu_yaw_offset_rad`` + ``magnetic_declination_rad`` (a rotation about world z,
        applied to R_wi, adds exactly to the ZYX yaw of R_wb)."""
        R_wb = eskf.quat_to_rot(orientation / np.linalg.norm(orientation)) @ self._R_bi.T
        yaw = math.atan2(R_wb[1, 0], R_wb[0, 0])
        return float(wrap_angle(yaw + self._yaw_offset)) if self._yaw_offset else yaw

    def propagate(
        self, s: FilterState, t: int, w1: np.ndarray, a1: np.ndarray, sample_dt_ns: int | None = None
    ) -> None:
        """Propagate ``s`` in place to ``t`` with the base-frame readings ``(w1, a1)`` at ``t``
        (trapezoid with the previous readings), and update the IMU statistics for standstill
        detection (time constant ``zupt_window_s``) on the specific force without the
        angular-acceleration term of the lever arm (see :func:`_kernels.predict_step`).

        ``sample_dt_ns``: the time since the previous IMU sample, where this step is the last
        part of one split at measurement stamps (default: this step's). A reading interpolated
        at a measurement stamp (``sample_dt_ns`` 0) is not a sample: the statistics skip it
        (its specific force mixes two steps' lever terms), and the sample that ends the split
        step carries the whole step's weight."""
        dt = (t - s.t_ns) / NS_PER_S
        full_ns = t - s.t_ns if sample_dt_ns is None else int(sample_dt_ns)
        # to_base subtracted the lever term over the whole sample step, if not a gap
        lever = self._r_bi if self._has_lever and 0 < full_ns <= self._max_dt_ns else _NO_LEVER
        alpha = min(1.0, full_ns / NS_PER_S / self._zupt_window_s)
        noise = s.imu_noise if s.imu_noise is not None else noise_start(s.imu_mean)
        s.p, s.v, s.q, s.P, s.imu_mean, s.imu_var, s.imu_noise = predict_step(
            s.p,
            s.v,
            s.q,
            s.ba,
            s.bg,
            s.P,
            s.w_meas,
            s.a_meas,
            w1,
            a1,
            dt,
            self.g,
            self._qdiag,
            not s.aligned,
            s.imu_mean,
            s.imu_var,
            alpha,
            lever,
            noise,
            full_ns / NS_PER_S,
            self._measured_noise,
            self._noise_windows,
        )
        # a gap longer than the window (alpha 1) restarts the statistics from this sample
        s.imu_weight = 0.0 if alpha >= 1.0 else s.imu_weight + alpha * (1.0 - s.imu_weight)
        w_step = 0.5 * (s.w_meas + w1) * dt
        s.w_int = w_step if s.w_int is None else s.w_int + w_step
        s.w_int_s += dt
        s.t_ns, s.w_meas, s.a_meas, s.dt_s = t, w1, a1, dt

    def matrices(
        self, s: FilterState, t: int, w1: np.ndarray, a1: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(F, Q) of the step :meth:`propagate` would take from ``s`` to ``t`` (numpy reference
        maths, for comparison with other filters)."""
        dt = (t - s.t_ns) / NS_PER_S
        *_, F, _ = eskf.imu_propagate(s.p, s.v, s.q, s.ba, s.bg, s.w_meas, s.a_meas, w1, a1, dt, self.g)
        Q = eskf.process_noise(dt, *self._noise)
        if not self._measured_noise or dt <= 0.0:
            return F, Q
        # the measured noise as the kernel has it after this sample (a whole one)
        lever = self._r_bi if self._has_lever and t - s.t_ns <= self._max_dt_ns else _NO_LEVER
        x = np.concatenate([w1, a1 + np.cross((w1 - s.w_meas) / dt, lever)])
        noise = s.imu_noise if s.imu_noise is not None else noise_start(s.imu_mean)
        n1 = noise_update(noise, x, dt, *self._noise_windows)
        dvar = np.maximum(n1[NOISE_DVAR : NOISE_DVAR + 6], n1[NOISE_BVAR : NOISE_BVAR + 6])
        qg, qa = np.maximum(dvar[:3], self._qdiag[1]), np.maximum(dvar[3:], self._qdiag[0])
        if (dvar[:3] > self._qdiag[1]).any() or (dvar[3:] > self._qdiag[0]).any():
            Rm = eskf.quat_to_rot(
                eskf.quat_mul(s.q, eskf.quat_exp(0.5 * dt * (0.5 * (s.w_meas + w1) - s.bg)))
            )
            Q[3:6, 3:6] = Rm @ np.diag(qa) @ Rm.T * dt
            Q[6:9, 6:9] = Rm @ np.diag(qg) @ Rm.T * dt
        return F, Q
