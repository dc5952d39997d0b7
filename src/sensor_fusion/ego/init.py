"""Static initialisation: the filter's first state, at the stamp of the first valid fix.

Before the first fix the IMU samples of the last ``init_max_gps_imu_dt_s`` (at least
``init_imu_samples``) are buffered. Once the IMU has passed the fix's stamp the filter
starts *at that stamp* (IMU readings interpolated there) and the later samples are replayed,
so a fix that arrives with latency while the car moves does not put the start position where
the car was a latency earlier. Start state:

* position from the fix (antenna minus lever arm), velocity 0 (std ``init_velocity_std_mps``);
* roll/pitch from gravity: the mean specific force of the ``init_imu_samples`` samples up
  to the fix (:func:`tilt_from_gravity`);
* yaw unknown -- unless ``init_yaw_std_rad`` is at most ``unalign_yaw_std_rad`` (a known
  start heading), or ``use_imu_orientation_yaw`` takes it from the IMU's own orientation
  output (world ENU <- IMU: GNSS/INS units, AHRS with a calibrated magnetometer; a 6-axis
  IMU's yaw is arbitrary; ``imu_yaw_offset_rad`` + ``magnetic_declination_rad`` are added to
  it, and its std includes ``imu_yaw_bias_init_std_rad``). While it is unknown the horizontal
  lever arm adds ``|l_h|^2`` to the position variance;
* biases zero with ``init_accel_bias_std_mps2`` / ``init_gyro_bias_std_rad_s``.

The datum (the ENU origin) is not chosen here: it is ``EgoConfig.datum`` or the first fix's
position, set by the estimator when that fix arrives.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.stamps import NS_PER_S
from . import eskf
from .config import EgoConfig
from .state import FilterState, Measurement

__all__ = ["Initializer", "Start", "tilt_from_gravity"]


def tilt_from_gravity(f: np.ndarray) -> tuple[float, float]:
    """(roll, pitch) rad of base_link at rest from the mean specific force ``f`` (m/s^2, base
    axes), which then points up: ``f = R' (0, 0, g)``."""
    roll = math.atan2(f[1], f[2])
    pitch = math.atan2(-f[0], math.hypot(f[1], f[2]))
    return roll, pitch


@dataclass
class Start:
    """The first state and what follows it."""

    state: FilterState  # at the fix stamp, with the IMU readings interpolated there
    later_imu: list[tuple[int, np.ndarray, np.ndarray]]  # base-frame samples after it, to replay
    yaw_from_imu: bool  # the start heading is the IMU orientation reading at the fix
    fix: Measurement | None = None  # the fix it started from


class Initializer:
    """Buffers IMU samples and the first fix until the filter can start.

    ``lever_gps`` is the antenna position in base_link (m); ``base_yaw`` maps an IMU
    orientation output to a base_link yaw (see :meth:`.propagation.Propagator.base_yaw`).
    """

    def __init__(
        self, config: EgoConfig, lever_gps: np.ndarray, base_yaw: Callable[[np.ndarray], float]
    ) -> None:
        self.config = config
        self._lever = lever_gps
        self._base_yaw = base_yaw
        self._jump_ns = int(round(config.time_jump_reset_s * NS_PER_S))
        self._keep_ns = config.init_max_gps_imu_dt_s * NS_PER_S
        self.clear()

    def clear(self) -> None:
        self._imu: deque[tuple[int, np.ndarray, np.ndarray]] = deque()  # base-frame (t, w, a)
        self._orientation: dict[int, np.ndarray] = {}  # IMU stamp -> unit orientation output
        self._fix: Measurement | None = None

    @property
    def newest(self) -> tuple[int, np.ndarray] | None:
        """(t, w) of the newest buffered sample, or None."""
        return (self._imu[-1][0], self._imu[-1][1]) if self._imu else None

    def add_imu(self, t: int, w: np.ndarray, a: np.ndarray, orientation: np.ndarray | None) -> bool:
        """Buffer a base-frame sample (and its orientation output, already checked valid, or
        None). False if it is not newer than the buffer (dropped); a jump back by more than
        ``time_jump_reset_s`` restarts the buffer instead."""
        if self._imu and t <= self._imu[-1][0]:
            if self._imu[-1][0] - t > self._jump_ns:
                self._imu.clear()
                self._orientation.clear()
            else:
                return False
        self.buffer(t, w, a)
        if orientation is not None:
            self._orientation[t] = np.asarray(orientation, dtype=np.float64) / np.linalg.norm(orientation)
        return True

    def buffer(self, t: int, w: np.ndarray, a: np.ndarray) -> None:
        """Keep the samples of the last ``init_max_gps_imu_dt_s`` (at least ``init_imu_samples``)."""
        buf = self._imu
        buf.append((t, w, a))
        while len(buf) > self.config.init_imu_samples and t - buf[0][0] > self._keep_ns:
            t_old = buf.popleft()[0]
            self._orientation.pop(t_old, None)

    def add_fix(self, m: Measurement) -> None:
        """The fix to start at (a newer one replaces it)."""
        self._fix = m

    def try_start(self) -> Start | None:
        """The start state once the IMU has passed the fix, else None (keep waiting; a fix
        older than every buffered sample is dropped: the next one will do)."""
        fx = self._fix
        c = self.config
        buf = self._imu
        if fx is None or len(buf) < c.init_imu_samples:
            return None
        tf = fx.stamp_ns
        if tf > buf[-1][0]:
            return None  # the IMU has not reached the fix yet
        times = [m[0] for m in buf]
        j = bisect_right(times, tf)  # samples [0, j) are at or before the fix
        if j == 0:
            self._fix = None
            return None
        t0, w0, a0 = buf[j - 1]
        if t0 == tf or j == len(buf):
            w, a = w0, a0
        else:
            t1, w1, a1 = buf[j]
            frac = (tf - t0) / (t1 - t0)
            w, a = w0 + frac * (w1 - w0), a0 + frac * (a1 - a0)
        lo = max(0, j - int(c.init_imu_samples))
        roll, pitch = tilt_from_gravity(np.mean([m[2] for m in list(buf)[lo:j]], axis=0))
        yaw, yaw_std = c.init_yaw_rad, c.init_yaw_std_rad
        orient = [self._orientation[k] for k in times[:j] if k in self._orientation]
        # an AHRS whose bias is less known than its noise is no heading source until the bias is
        # learnt against the heading GPS + wheels give (see Updater.yaw)
        bias_known = c.imu_yaw_bias_init_std_rad <= c.imu_orientation_yaw_std_rad
        yaw_from_imu = bool(c.use_imu_orientation_yaw and orient and bias_known)
        if yaw_from_imu:
            # the AHRS yaw is yaw + bias, the bias unknown (zero mean) at the start
            yaw = self._base_yaw(orient[-1])
            yaw_std = math.hypot(c.imu_orientation_yaw_std_rad, c.imu_yaw_bias_init_std_rad)
        state = self._state(fx, tf, w, a, roll, pitch, yaw, yaw_std)
        later = list(buf)[j:]
        if later and later[0][0] == tf:
            later = later[1:]
        self.clear()
        return Start(state, later, yaw_from_imu, fx)

    def _state(
        self,
        fx: Measurement,
        tf: int,
        w: np.ndarray,
        a: np.ndarray,
        roll: float,
        pitch: float,
        yaw: float,
        yaw_std: float,
    ) -> FilterState:
        c = self.config
        aligned = yaw_std <= c.unalign_yaw_std_rad
        q = eskf.quat_from_rpy(roll, pitch, yaw)
        Rl = eskf.quat_to_rot(q) @ self._lever
        P = np.zeros((eskf.DIM, eskf.DIM))
        lever_var = 0.0 if aligned else float(self._lever[:2] @ self._lever[:2])
        P[0:3, 0:3] = fx.cov + np.diag([lever_var, lever_var, 0.0])
        P[3:6, 3:6] = np.eye(3) * c.init_velocity_std_mps**2
        P[6:8, 6:8] = np.eye(2) * c.init_tilt_std_rad**2
        P[8, 8] = yaw_std**2
        P[9:12, 9:12] = np.eye(3) * c.init_accel_bias_std_mps2**2
        P[12:15, 12:15] = np.eye(3) * c.init_gyro_bias_std_rad_s**2
        return FilterState(
            t_ns=tf,
            p=fx.z - Rl,
            v=np.zeros(3),
            q=q,
            ba=np.zeros(3),
            bg=np.zeros(3),
            P=P,
            w_meas=w,
            a_meas=a,
            dt_s=0.01,
            aligned=aligned,
            t_nhc_ns=tf,
            imu_mean=np.concatenate([w, a]),
            imu_var=np.zeros(6),  # with imu_weight 0: not still until the window has filled
            yaw_bias_var=c.imu_yaw_bias_init_std_rad**2,
        )
