"""The ego filter's state, the timed measurements it fuses, and the one correction step they share.

Everything else in ``ego/`` works on these plain records: the history snapshots a
:class:`FilterState` after every IMU step and replays :class:`Measurement` objects, the
propagator and the measurement models read and write its fields, and every update goes
through :func:`correct` (the numba kernel of :func:`eskf.kalman_update` + injection + reset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from . import eskf
from ._kernels import update_step

__all__ = ["FilterState", "Measurement", "correct"]


@dataclass
class FilterState:
    """Nominal state, error covariance and what the next IMU step and the constraints need."""

    t_ns: int
    p: np.ndarray  # (3,) m, ENU
    v: np.ndarray  # (3,) m/s, world
    q: np.ndarray  # (4,) x y z w, base -> world
    ba: np.ndarray  # (3,) m/s^2, base
    bg: np.ndarray  # (3,) rad/s, base
    P: np.ndarray  # (15, 15) over [dp, dv, dth, dba, dbg]
    w_meas: np.ndarray  # last raw base-frame gyro, rad/s
    a_meas: np.ndarray  # last raw base-frame specific force, m/s^2
    dt_s: float  # last IMU step
    aligned: bool  # yaw known (an ordinary EKF state) or not (kept out of the linear model)
    t_nhc_ns: int  # last constraint (NHC / ZUPT) update
    imu_mean: np.ndarray  # (6,) exponentially weighted mean of raw (w, a), for standstill detection
    imu_var: np.ndarray  # (6,) exponentially weighted variance (from 0: divide by imu_weight)
    # Kept in the state (not beside it) so that a rollback restores them and a replay rebuilds
    # them exactly: the odometry track while yaw is unknown (see track_align), the AHRS yaw bias.
    track_v: tuple = ()  # (t_ns, east, north): wheel velocity rotated by the filter's attitude
    track_z: tuple = ()  # (t_ns, east, north, var, lever_e, lever_n): fused fixes, filter-frame lever;
    # a NaN entry marks a fix gated while unaligned (track_align.add_break)
    wheel_vb: np.ndarray | None = None  # last wheel-odometry body velocity (NaN rows unmeasured)
    yaw_bias: float = 0.0  # rad, AHRS yaw minus true yaw (estimated when imu_yaw_bias_init_std_rad > 0)
    yaw_bias_var: float = 0.0  # rad^2
    t_yaw_bias_ns: int = -1  # stamp the bias variance was last grown to (-1: not yet)
    wheel_scale: object = None  # wheel_scale.ScaleTrack (immutable) or None: wheel scale estimate
    w_int: np.ndarray | None = None  # (3,) rad: raw base-frame gyro integrated since the last constraint
    w_int_s: float = 0.0  # s covered by w_int
    # the fused fixes while yaw is unknown, (t_ns, east, north, var, filter yaw) each: the GPS
    # course's chords (alignment.align_from_chord). In the state, like the odometry track: a radar
    # velocity fused at its stamp rolls the filter back past the fix that aligned it, and the
    # replayed fix must find the chords that aligned it the first time
    chords: tuple = ()
    # the weight the exponentially weighted IMU statistics hold, 1 - (1 - alpha)^n over the n
    # samples since the start (0 at the start, -> 1): imu_var / imu_weight is the variance unbiased
    # by its zero start (the mean starts at the first sample), and the window has filled once the
    # weight reaches 1 - 1/e
    imu_weight: float = 0.0
    # the measured IMU noise (_kernels.noise_update; replaced, never mutated); None: the next
    # step starts it from imu_mean (the first sample)
    imu_noise: np.ndarray | None = None

    def copy(self) -> FilterState:
        """Snapshot: the arrays that updates replace (never mutate in place) are shared."""
        return FilterState(
            self.t_ns,
            self.p.copy(),
            self.v.copy(),
            self.q.copy(),
            self.ba.copy(),
            self.bg.copy(),
            self.P.copy(),
            self.w_meas,  # never mutated in place
            self.a_meas,
            self.dt_s,
            self.aligned,
            self.t_nhc_ns,
            self.imu_mean,
            self.imu_var,
            self.track_v,  # tuples: replaced, never mutated
            self.track_z,
            self.wheel_vb,
            self.yaw_bias,
            self.yaw_bias_var,
            self.t_yaw_bias_ns,
            self.wheel_scale,  # immutable: replaced, never mutated
            self.w_int,  # replaced, never mutated
            self.w_int_s,
            self.chords,  # a tuple: replaced, never mutated
            self.imu_weight,
            self.imu_noise,  # replaced, never mutated
        )

    def gyro_sample_var(self, gyro_noise_rad_s_sqrt_hz: float) -> float:
        """Variance of one gyro sample, (rad/s)^2: white-noise density^2 over the last step."""
        return gyro_noise_rad_s_sqrt_hz**2 / max(self.dt_s, 1e-4)


@dataclass
class Measurement:
    """A measurement fused at its own stamp.

    ``kind`` "gps": ``z`` the antenna position in ENU (m), ``cov`` (3, 3) m^2; "vel": a
    base_link velocity in base_link axes (m/s) over the axes ``rows``, ``cov`` (k, k) (m/s)^2
    over those rows; "wheel": the same from wheel odometry (also used before yaw is known);
    "gvel": the GNSS antenna velocity in ENU over ``rows``; "yaw": ``z[0]`` the base_link
    heading (rad), ``cov`` (1, 1) rad^2.
    ``first`` is False when the history replays it (its outcome is counted once);
    ``result`` is whether the last fusion accepted it.
    """

    stamp_ns: int
    z: np.ndarray
    cov: np.ndarray
    kind: str = "gps"  # "gps" | "vel" | "wheel" | "gvel" | "yaw"
    rows: tuple[int, ...] = (0, 1, 2)
    first: bool = True
    result: bool = False
    multipath: bool = False  # the wheel track called this fix multipath (first processing; replays keep it)
    course_var: float = 0.0  # m^2 added to the horizontal position variance before fusing (heading unknown)
    # gnss_steps decisions (first processing; replays apply them again to the rolled-back state):
    level_open: bool = False  # the fix stepped to a new level: a level part of the heading fit starts here
    return_from_ns: int = -1  # the fix returned from the level a step opened at this stamp
    reseed: bool = False  # ... a level the filter had taken: the position is re-seeded from this fix

    def replay(self) -> Measurement:
        """The same measurement for a replay after a rollback (not counted again)."""
        return replace(self, first=False, result=False)


def correct(
    s: FilterState, H: np.ndarray, R: np.ndarray, y: np.ndarray, gate: float = math.inf
) -> np.ndarray | None:
    """Gated update of ``s`` in place with residual ``y = z - h(x)``; the injected error state
    (15,), or None when ``y' S^-1 y > gate`` (``s`` untouched). While yaw is unknown its gain
    row is zeroed and it stays decoupled (its linearisation is meaningless for errors of order pi).
    """
    ok, _, dx, p, v, q, ba, bg, P = update_step(
        s.p, s.v, s.q, s.ba, s.bg, s.P, np.ascontiguousarray(H), R, y, gate, -1 if s.aligned else eskf.YAW
    )
    if not ok:
        return None
    s.p, s.v, s.q, s.ba, s.bg, s.P = p, v, q, ba, bg, P
    return dx
