"""IMU-driven, GPS-corrected ego-state estimator (error-state Kalman filter, ROS-free).

State and maths are in :mod:`sensor_fusion.ego.eskf`: position/velocity in ENU
around a WGS84 datum, orientation quaternion with a 3-vector global angle error,
accelerometer and gyro biases (15 error states).

Flow
----
* ``add_imu``: every sample propagates the state (trapezoid between consecutive
  samples) and, at ``constraint_rate_hz``, applies either a zero-velocity +
  zero-rate update when the vehicle stands still (``use_zupt``: quiet IMU *and*
  a small, well-known filter speed) or the non-holonomic constraint
  ``v_body[y] = v_body[z] = 0`` (cars; ``use_nhc``; lateral only once yaw is
  known). The filter clock is the IMU; a gap longer than ``imu_gap_reset_s``
  resets the filter (too long to dead-reckon across).
* ``add_gps``: fix -> ENU (``core.geodesy``) -> antenna-position update with
  ``h = p + R l_gps`` and a chi2(3) Mahalanobis gate. A fix stamped at the
  filter time is fused at once; an older one (within ``history_window_s``) rolls
  the filter back to the last snapshot before it and replays the stored IMU
  samples and fixes (the result equals in-order processing); one older than the
  window is dropped (``gps_late_dropped``); a newer one waits for the IMU to pass
  it and is fused at its exact stamp with interpolated IMU readings.
* ``add_body_velocity``: a measured base_link velocity in base_link axes (radar
  Doppler ego-motion, wheel odometry; NaN components unmeasured), update
  ``h = R' v`` with a chi2 gate, timed like fixes (``vel_accepted`` /
  ``vel_rejected``). IMU + GPS observe speed only through differences of noisy
  fixes, so this is what brings the position error well below the GPS noise in
  the first seconds. Horizontal rows are used once yaw is known.
* Initialisation: at the *stamp* of the first valid fix, once the IMU has
  passed it (the IMU samples of the last ``init_max_gps_imu_dt_s`` are buffered,
  the readings interpolated to the stamp and the later samples replayed), so a
  fix that arrives with latency while the car moves does not put the start
  position where the car was a latency earlier. Position from the fix, velocity 0
  (std ``init_velocity_std_mps``), roll/pitch from the mean specific force of the
  ``init_imu_samples`` samples up to the fix, yaw unknown -- unless
  ``init_yaw_std_rad`` is at most ``unalign_yaw_std_rad`` (a known start
  heading), or ``use_imu_orientation_yaw`` takes it from the IMU's own orientation
  output (world ENU <- IMU: GNSS/INS units, AHRS with a calibrated magnetometer;
  a 6-axis IMU's yaw is arbitrary).
* Yaw alignment: while yaw is unknown it is kept out of the linear model (its
  cross-covariances are zeroed and no update corrects it: the linearisation is
  meaningless for errors of order pi); its effects enter as noise instead: the
  horizontal GPS lever arm as an offset of size |l_h| in R, and the unknown
  rotation of the horizontal specific force as extra velocity noise. After each
  fused fix two heading sources are tried, both assuming forward driving without
  side slip (the NHC):

  - the filter's own velocity: once the horizontal speed is ``>=
    align_min_speed_mps`` and its direction is known to ``align_max_std_rad``
    (``sqrt(n' P_v n)/|v|``, ``n`` the normal to the course), yaw is set to the
    course and the covariance carried over exactly (new yaw error
    ``n . dv/|v|``, ``P = J P J'``): typically after 3-5 fixes when cruising;
  - the GPS chord (robust in sustained turns, where the unknown rotation of the
    lateral acceleration keeps the velocity uncertain): every pair of fused
    fixes at least ``align_baseline_s`` apart (within ``align_window_s``) at
    ``>= align_min_speed_mps`` gives a course; for a constant-curvature path the
    chord direction equals the heading at the middle of the interval, i.e. the
    mean of the two filter yaws (which differ by the integrated gyro only). The
    weighted circular mean of ``course - mid_yaw`` rotates the state about world
    z when its std (``sqrt(var_i + var_j)/chord``) is below
    ``align_max_std_rad``; the yaw variance is set to that std^2 and the
    velocity re-seeded along the new heading.

  Both rotate the world-frame tilt errors with the heading change. From there on
  yaw is an ordinary EKF state refined by GPS + NHC.
* With ``use_imu_orientation_yaw`` and ``imu_orientation_yaw_rate_hz > 0`` the IMU's own
  orientation output (ENU-referenced units only) is also a yaw measurement at that rate
  (chi2(1) gated, ``imu_yaw_accepted`` / ``imu_yaw_rejected``); while yaw is unknown it aligns
  it. Decimated, because an AHRS heading error is correlated over seconds.
* Time going backwards by more than ``time_jump_reset_s`` on the IMU (bag loop)
  resets the filter; smaller reorderings drop the sample (``imu_out_of_order``).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.special import chdtri

from ..core.geodesy import geodetic_to_enu
from ..core.stamps import NS_PER_S
from ..core.types import GpsFix, ImuSample
from . import eskf
from ._kernels import interp_pose, pose_covariances, predict_step, update_step
from .config import EgoConfig
from .pose import EgoPose

__all__ = ["COUNTER_NAMES", "EgoConfig", "EgoEstimator", "EgoPose"]

COUNTER_NAMES = (
    "imu_used",  # samples that propagated the filter
    "imu_out_of_order",  # at or before the filter time (but not a time jump): dropped
    "imu_invalid",  # NaN/inf or wrong shape: dropped
    "imu_gap",  # step longer than max_imu_dt_s (propagated; reset past imu_gap_reset_s)
    "gps_accepted",  # fused (first processing only, also for late fixes)
    "gps_rejected_gate",  # failed the chi2(3) gate
    "gps_late_dropped",  # older than the history window
    "gps_rollbacks",  # late fixes handled by rollback + replay
    "gps_queued",  # stamped ahead of the IMU, fused when the IMU passes
    "gps_queue_overflow",  # queued fixes dropped while the IMU was silent
    "gps_no_fix",  # status < 0
    "gps_invalid",  # NaN/inf position
    "gps_reinit",  # position re-seeded after gps_reinit_after_rejections gated fixes
    "vel_accepted",  # body-velocity measurements fused (add_body_velocity)
    "vel_rejected",  # body-velocity measurements gated, invalid or too old
    "imu_yaw_accepted",  # IMU orientation yaw measurements fused (imu_orientation_yaw_rate_hz)
    "imu_yaw_rejected",  # ... gated
    "nhc_updates",  # non-holonomic constraint updates
    "zupt_updates",  # standstill (zero velocity + zero rate) updates
    "yaw_aligned",  # heading alignments from the GPS course
    "initialized",  # initialisations (first fix + IMU)
    "resets",  # reset() calls, including time jumps and long IMU gaps
)


_MAX_PENDING = 50  # fixes stamped ahead of the IMU waiting for it


@dataclass
class _State:
    t_ns: int
    p: np.ndarray
    v: np.ndarray
    q: np.ndarray
    ba: np.ndarray
    bg: np.ndarray
    P: np.ndarray
    w_meas: np.ndarray  # last raw base-frame gyro, rad/s
    a_meas: np.ndarray  # last raw base-frame specific force, m/s^2
    dt_s: float  # last IMU step
    aligned: bool
    t_nhc_ns: int  # last constraint (NHC / ZUPT) update
    imu_mean: np.ndarray  # (6,) exponentially weighted mean of raw (w, a), for standstill detection
    imu_var: np.ndarray  # (6,) exponentially weighted variance

    def copy(self) -> _State:
        return _State(
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
        )


@dataclass
class _Fix:
    """A timed measurement: a GPS fix (``enu`` = antenna position, m) or, with ``kind``
    "vel", a base_link velocity in base_link axes (``enu`` = the velocity, m/s; ``rows``
    the measured axes)."""

    stamp_ns: int
    enu: np.ndarray  # antenna position, m (or body velocity, m/s)
    cov: np.ndarray  # (3, 3) m^2 (or (k, k) (m/s)^2 over ``rows``)
    first: bool = True  # count the outcome (False when replayed)
    result: bool = False
    kind: str = "gps"  # "gps" | "vel"
    rows: tuple[int, ...] = (0, 1, 2)


def _valid_quat(o: np.ndarray | None) -> bool:
    return o is not None and np.shape(o) == (4,) and bool(np.isfinite(o).all()) and np.linalg.norm(o) > 0.5


class EgoEstimator:
    """Error-state EKF over (p, v, q, ba, bg) driven by IMU and corrected by GPS.

    ``T_base_imu`` / ``T_base_gps`` are extrinsics (4, 4) taking sensor-frame
    points to ``base_link``. IMU readings are rotated into base_link and the
    accelerometer is moved to the base origin through its lever arm ``r``
    (centripetal and angular-acceleration terms, see ``_to_base``). ``counters``
    holds what was used, dropped or rejected (see ``COUNTER_NAMES``).
    """

    def __init__(
        self,
        config: EgoConfig | None = None,
        T_base_imu: np.ndarray | None = None,
        T_base_gps: np.ndarray | None = None,
    ) -> None:
        self.config = (config or EgoConfig()).validate()
        T_bi = np.eye(4) if T_base_imu is None else np.asarray(T_base_imu, dtype=np.float64)
        T_bg = np.eye(4) if T_base_gps is None else np.asarray(T_base_gps, dtype=np.float64)
        if T_bi.shape != (4, 4) or T_bg.shape != (4, 4):
            raise ValueError("T_base_imu and T_base_gps must be (4, 4) transforms")
        self._R_bi = T_bi[:3, :3].copy()
        self._r_bi = T_bi[:3, 3].copy()
        self._has_imu_lever = bool(np.any(self._r_bi != 0.0))
        self._lever_gps = T_bg[:3, 3].copy()
        lh2 = float(self._lever_gps[:2] @ self._lever_gps[:2])
        self._lever_cov = np.diag([lh2, lh2, 0.0])
        c = self.config
        self._g = np.array([0.0, 0.0, -c.gravity_mps2])
        self._qdiag = np.array(
            [
                c.accel_noise_mps2_sqrt_hz**2,
                c.gyro_noise_rad_s_sqrt_hz**2,
                c.accel_bias_walk_mps3_sqrt_hz**2,
                c.gyro_bias_walk_rad_s2_sqrt_hz**2,
            ]
        )
        self._gate = math.inf if c.gps_gate_prob >= 1.0 else float(chdtri(3, 1.0 - c.gps_gate_prob))
        self._chi2_gate = {
            k: math.inf if c.gps_gate_prob >= 1.0 else float(chdtri(k, 1.0 - c.gps_gate_prob))
            for k in (1, 2, 3)
        }
        self._window_ns = int(round(c.history_window_s * NS_PER_S))
        self._jump_ns = int(round(c.time_jump_reset_s * NS_PER_S))
        self._gap_reset_ns = int(round(c.imu_gap_reset_s * NS_PER_S))
        self._max_dt_ns = int(round(c.max_imu_dt_s * NS_PER_S))
        self._nhc_period_ns = int(round(NS_PER_S / c.constraint_rate_hz))
        self._imu_yaw_period_ns = (
            int(round(NS_PER_S / c.imu_orientation_yaw_rate_hz))
            if c.use_imu_orientation_yaw and c.imu_orientation_yaw_rate_hz > 0
            else 0
        )
        self._extrap_ns = int(round(c.pose_extrapolation_s * NS_PER_S))
        self._zupt_window_s = float(c.zupt_window_s)
        self._datum_from_config = c.has_datum  # else (NaN) the first fix sets it
        self.datum: tuple[float, float, float] | None = tuple(c.datum) if c.has_datum else None
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self.last_correction: np.ndarray | None = None  # last injected error state (15,)
        self._clear()

    # ------------------------------------------------------------------ public API

    def reset(self, keep_datum: bool = True) -> None:
        """Forget the state and history (counters are kept; ``resets`` counts calls)."""
        self.counters["resets"] += 1
        if not keep_datum and not self._datum_from_config:
            self.datum = None
        self._clear()

    @property
    def initialized(self) -> bool:
        return self._s is not None

    @property
    def stamp_ns(self) -> int | None:
        """Filter time (the newest IMU stamp), or None before initialisation."""
        return None if self._s is None else self._s.t_ns

    @property
    def P(self) -> np.ndarray:
        """Copy of the (15, 15) error covariance [dp, dv, dth, dba, dbg]."""
        self._require()
        return self._s.P.copy()

    @property
    def nominal(self) -> dict[str, np.ndarray]:
        """Copy of the nominal state: p, v, q (x y z w), ba, bg."""
        s = self._require()
        return {"p": s.p.copy(), "v": s.v.copy(), "q": s.q.copy(), "ba": s.ba.copy(), "bg": s.bg.copy()}

    @property
    def yaw_aligned(self) -> bool:
        return self._s is not None and self._s.aligned

    def add_imu(self, sample: ImuSample) -> None:
        """Propagate to ``sample.stamp_ns`` (the filter clock)."""
        w = np.asarray(sample.angular_velocity, dtype=np.float64)
        a = np.asarray(sample.linear_acceleration, dtype=np.float64)
        if w.shape != (3,) or a.shape != (3,) or not (np.isfinite(w).all() and np.isfinite(a).all()):
            self.counters["imu_invalid"] += 1
            return
        t = int(sample.stamp_ns)
        s = self._s
        if s is not None:
            prev = (s.t_ns, s.w_meas)
        else:
            prev = (self._init_imu[-1][0], self._init_imu[-1][1]) if self._init_imu else None
        w, a = self._to_base(w, a, t, prev)
        if s is None:
            if self._init_imu and t <= self._init_imu[-1][0]:
                if self._init_imu[-1][0] - t > self._jump_ns:
                    self._init_imu.clear()
                    self._init_orientation.clear()
                else:
                    self.counters["imu_out_of_order"] += 1
                    return
            self._buffer_init_imu(t, w, a)
            o = sample.orientation
            if _valid_quat(o):
                self._init_orientation[t] = np.asarray(o, dtype=np.float64) / np.linalg.norm(o)
            self._try_init()
            return
        if t <= s.t_ns:
            if s.t_ns - t > self._jump_ns:
                self.reset()
                self._buffer_init_imu(t, w, a)
            else:
                self.counters["imu_out_of_order"] += 1
            return
        if t - s.t_ns > self._max_dt_ns:
            self.counters["imu_gap"] += 1
            if t - s.t_ns > self._gap_reset_ns:  # IMU silent too long to dead-reckon across
                self.reset()
                self._buffer_init_imu(t, w, a)
                return
        self.counters["imu_used"] += 1
        self._step(t, w, a)
        self._record(t, w, a)
        o = sample.orientation
        if self._imu_yaw_period_ns and t - self._t_imu_yaw >= self._imu_yaw_period_ns and _valid_quat(o):
            self._t_imu_yaw = t
            var = self.config.imu_orientation_yaw_std_rad**2
            yaw = self._base_yaw(np.asarray(o, dtype=np.float64))
            self._add_timed(_Fix(t, np.array([yaw, 0.0, 0.0]), np.array([[var]]), kind="yaw", rows=(0,)))

    def add_gps(self, fix: GpsFix) -> bool:
        """Fuse a WGS84 fix; True if used (or queued ahead of the IMU), False if rejected."""
        if fix.status < 0:
            self.counters["gps_no_fix"] += 1
            return False
        lat, lon, alt = float(fix.latitude), float(fix.longitude), float(fix.altitude)
        if not (math.isfinite(lat) and math.isfinite(lon) and math.isfinite(alt)) or abs(lat) > 90.0:
            self.counters["gps_invalid"] += 1
            return False
        if self.datum is None:
            self.datum = (lat, lon, alt)
        enu = self._to_enu(lat, lon, alt)
        return self.add_gps_enu(fix.stamp_ns, enu, fix.covariance)

    def add_gps_enu(self, stamp_ns: int, enu: np.ndarray, covariance: np.ndarray) -> bool:
        """Fuse an antenna position already in the ENU frame of ``datum`` (m, m^2)."""
        enu = np.asarray(enu, dtype=np.float64).reshape(3)
        if not np.isfinite(enu).all():
            self.counters["gps_invalid"] += 1
            return False
        fx = _Fix(int(stamp_ns), enu, self._sanitize_cov(covariance))
        if self._s is None:
            self._init_fix = fx
            self._try_init()
            return True
        return self._add_timed(fx)

    def add_body_velocity(self, stamp_ns: int, velocity: np.ndarray, covariance: np.ndarray) -> bool:
        """Fuse a measured velocity of base_link in base_link axes (forward, left, up; m/s)
        with its (3, 3) covariance ((m/s)^2), e.g. ego-motion from radar Doppler on static
        targets or wheel odometry. A NaN component is not measured (radar: vertical).

        Speed is what IMU + GPS alone observe worst (only through differences of noisy
        fixes); an independent velocity fixes it within a few measurements. Timing as for
        fixes: fused at its stamp (rollback for late ones, queued for early ones). True if
        used or queued; before initialisation the measurement is ignored (False).

        The measurement must not be derived with this filter's own velocity (e.g. radar
        targets called static because they agree with the predicted ego motion): its error
        would then follow the filter's error, pass the gate and can lock the filter onto a
        wrong speed. Pick static targets by consensus (RANSAC) and report an honest
        covariance."""
        v = np.asarray(velocity, dtype=np.float64).reshape(3)
        C = np.asarray(covariance, dtype=np.float64).reshape(3, 3)
        rows = tuple(i for i in range(3) if math.isfinite(v[i]))
        R = C[np.ix_(rows, rows)]
        ok = bool(rows) and self._s is not None and bool(np.isfinite(R).all())
        if ok:
            R = 0.5 * (R + R.T)
            try:
                np.linalg.cholesky(R)  # positive definite
            except np.linalg.LinAlgError:
                ok = False
        if not ok:
            self.counters["vel_rejected"] += 1
            return False
        return self._add_timed(_Fix(int(stamp_ns), v, R, kind="vel", rows=rows))

    def _add_timed(self, fx: _Fix) -> bool:
        """Fuse ``fx`` at its own stamp: now, after a rollback (late), or queued (early)."""
        s = self._s
        if fx.stamp_ns > s.t_ns:
            if len(self._pending) >= _MAX_PENDING:  # IMU silent: keep the newest
                self._pending.pop(0)
                self.counters["gps_queue_overflow"] += 1
            self._pending.append(fx)
            self._pending.sort(key=lambda f: f.stamp_ns)
            self.counters["gps_queued"] += 1
            return True
        if fx.stamp_ns == s.t_ns:
            self._fuse(fx)
            self._fix_log.append(fx)
            self._hist_s[-1] = s.copy()
            return fx.result
        i = bisect_left(self._hist_t, fx.stamp_ns) - 1  # last snapshot strictly before the fix
        if i < 0:
            self.counters["gps_late_dropped" if fx.kind == "gps" else "vel_rejected"] += 1
            return False
        self._rollback_replay(i, fx)
        self.counters["gps_rollbacks"] += 1
        return fx.result

    def latest(self) -> EgoPose | None:
        return None if self._s is None else self._pose(self._s)

    def pose_at(self, stamp_ns: int) -> EgoPose | None:
        """Pose at ``stamp_ns`` interpolated within the history window (Hermite position,
        geodesic orientation), or extrapolated up to ``pose_extrapolation_s`` past the
        newest state; None outside that or before initialisation."""
        s = self._s
        if s is None:
            return None
        t = int(stamp_ns)
        if t >= s.t_ns:
            if t - s.t_ns > self._extrap_ns:
                return None
            return self._pose(s, t) if t > s.t_ns else self._pose(s)
        i = bisect_right(self._hist_t, t) - 1
        if i < 0:
            return None
        a = self._hist_s[i]
        if self._hist_t[i] == t:
            return self._pose(a)
        b = self._hist_s[i + 1]
        return self._interp(a, b, t, with_cov=True)

    def T_world_base_at(self, stamp_ns: int) -> np.ndarray | None:
        """(4, 4) pose at ``stamp_ns`` like :meth:`pose_at`, without covariances (deskew fast path)."""
        s = self._s
        t = int(stamp_ns)
        if s is None or t >= s.t_ns:
            pose = self.pose_at(t)
            return None if pose is None else pose.T_world_base()
        i = bisect_right(self._hist_t, t) - 1
        if i < 0:
            return None
        a = self._hist_s[i]
        if self._hist_t[i] == t:
            T = np.eye(4)
            T[:3, :3] = eskf.quat_to_rot(a.q)
            T[:3, 3] = a.p
            return T
        b = self._hist_s[i + 1]
        return interp_pose(
            a.p, a.v, a.q, b.p, b.v, b.q, (b.t_ns - a.t_ns) / NS_PER_S, (t - a.t_ns) / (b.t_ns - a.t_ns)
        )[2]

    # --------------------------------------------------------- linearisations (tests)

    def predict_matrices(self, sample: ImuSample) -> tuple[np.ndarray, np.ndarray]:
        """(F, Q) of the step ``add_imu(sample)`` would take now (no pending fixes)."""
        s = self._require()
        w, a = self._to_base(
            np.asarray(sample.angular_velocity, dtype=np.float64),
            np.asarray(sample.linear_acceleration, dtype=np.float64),
            int(sample.stamp_ns),
            (s.t_ns, s.w_meas),
        )
        dt = (int(sample.stamp_ns) - s.t_ns) / NS_PER_S
        *_, F, _ = eskf.imu_propagate(s.p, s.v, s.q, s.ba, s.bg, s.w_meas, s.a_meas, w, a, dt, self._g)
        return F, self._Q(dt)

    def gps_matrices(self, fix: GpsFix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(H, R, y) of the update for ``fix`` at the current state (y = z - h(x)). While yaw is
        unknown the update itself zeroes H's yaw column and adds the lever-arm offset to R."""
        s = self._require()
        enu = self._to_enu(float(fix.latitude), float(fix.longitude), float(fix.altitude))
        Rl, H = eskf.gps_jacobian(s.q, self._lever_gps)
        return H, self._sanitize_cov(fix.covariance), enu - (s.p + Rl)

    # -------------------------------------------------------------------- internals

    def _clear(self) -> None:
        self._s: _State | None = None
        self._hist_t: list[int] = []
        self._hist_s: list[_State] = []
        self._hist_meas: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._fix_log: list[_Fix] = []
        self._pending: list[_Fix] = []
        self._init_imu: deque = deque()  # (t, w, a) before initialisation, see _buffer_init_imu
        self._init_fix: _Fix | None = None
        self._align_buf: dict[int, tuple[float, float, float, float]] = {}
        self._init_orientation: dict[int, np.ndarray] = {}  # IMU stamp -> orientation output
        self._consec_rejects = 0
        self._t_imu_yaw = -(1 << 62)

    def _base_yaw(self, orientation: np.ndarray) -> float:
        """base_link yaw from an IMU orientation output (world ENU <- IMU): R_wb = R_wi R_bi'."""
        R_wb = eskf.quat_to_rot(orientation / np.linalg.norm(orientation)) @ self._R_bi.T
        return math.atan2(R_wb[1, 0], R_wb[0, 0])

    def _to_base(
        self, w: np.ndarray, a: np.ndarray, t: int, prev: tuple[int, np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """IMU-frame readings -> base_link: rotate, and move the specific force from the IMU to
        the base origin, ``f_b = f_imu - w x (w x r) - dw/dt x r``. The angular acceleration is
        the difference of consecutive gyro samples: noisy per sample, but its effect on velocity
        telescopes to ``(w_k - w_0) x r``, so the noise does not accumulate."""
        w = self._R_bi @ w
        a = self._R_bi @ a
        if self._has_imu_lever:
            r = self._r_bi
            a = a - np.cross(w, np.cross(w, r))
            if prev is not None and prev[0] < t <= prev[0] + self._max_dt_ns:
                a = a - np.cross((w - prev[1]) * (NS_PER_S / (t - prev[0])), r)
        return w, a

    def _require(self) -> _State:
        if self._s is None:
            raise RuntimeError("EgoEstimator is not initialised (needs IMU and a valid GPS fix)")
        return self._s

    def _to_enu(self, lat: float, lon: float, alt: float) -> np.ndarray:
        if self.datum is None:
            raise RuntimeError("no datum: set EgoConfig.datum or fuse a fix first")
        e, n, u = geodetic_to_enu(lat, lon, alt, *self.datum)
        return np.array([float(e), float(n), float(u)])

    def _sanitize_cov(self, cov: np.ndarray) -> np.ndarray:
        """Symmetric, finite, positive definite (Sylvester) with a floor on the diagonal; else the
        diagonal, else ``gps_fallback_std_m``."""
        c = self.config
        C = np.asarray(cov, dtype=np.float64)
        if C.size != 9:
            return np.eye(3) * c.gps_fallback_std_m**2
        v = C.ravel().tolist()
        if not all(math.isfinite(x) for x in v) or min(v[0], v[4], v[8]) <= 0.0:
            return np.eye(3) * c.gps_fallback_std_m**2
        m = c.gps_min_std_m**2
        a, b, d = max(v[0], m), 0.5 * (v[1] + v[3]), 0.5 * (v[2] + v[6])
        e, f, i = max(v[4], m), 0.5 * (v[5] + v[7]), max(v[8], m)
        det = a * (e * i - f * f) - b * (b * i - f * d) + d * (b * f - e * d)
        if a * e - b * b <= 0.0 or det <= 0.0:
            return np.diag([a, e, i])
        return np.array([[a, b, d], [b, e, f], [d, f, i]])

    def _Q(self, dt: float) -> np.ndarray:
        c = self.config
        return eskf.process_noise(
            dt,
            c.accel_noise_mps2_sqrt_hz,
            c.gyro_noise_rad_s_sqrt_hz,
            c.accel_bias_walk_mps3_sqrt_hz,
            c.gyro_bias_walk_rad_s2_sqrt_hz,
        )

    def _buffer_init_imu(self, t: int, w: np.ndarray, a: np.ndarray) -> None:
        """Keep the IMU samples of the last ``init_max_gps_imu_dt_s`` (at least
        ``init_imu_samples``) so the filter can start at the first fix's own stamp."""
        buf = self._init_imu
        buf.append((t, w, a))
        keep_ns = self.config.init_max_gps_imu_dt_s * NS_PER_S
        while len(buf) > self.config.init_imu_samples and t - buf[0][0] > keep_ns:
            t_old = buf.popleft()[0]
            self._init_orientation.pop(t_old, None)

    def _try_init(self) -> None:
        """Start the filter at the stamp of the first fix once the IMU has passed it.

        The state starts at the fix stamp (IMU readings interpolated there), so a fix that
        arrives after its latency does not put the start position where the car was when
        the fix was measured but at a later time; the buffered IMU samples after the stamp
        are then replayed. Roll/pitch come from the mean specific force of the
        ``init_imu_samples`` samples up to the fix."""
        fx = self._init_fix
        c = self.config
        buf = self._init_imu
        if fx is None or len(buf) < c.init_imu_samples:
            return
        tf = fx.stamp_ns
        if tf > buf[-1][0]:
            return  # the IMU has not reached the fix yet (a newer fix replaces this one)
        times = [m[0] for m in buf]
        j = bisect_right(times, tf)  # samples [0, j) are at or before the fix
        if j == 0:
            self._init_fix = None  # older than the buffered IMU: wait for the next fix
            return
        t0, w0, a0 = buf[j - 1]
        if t0 == tf or j == len(buf):
            w, a = w0, a0
        else:
            t1, w1, a1 = buf[j]
            frac = (tf - t0) / (t1 - t0)
            w, a = w0 + frac * (w1 - w0), a0 + frac * (a1 - a0)
        lo = max(0, j - int(c.init_imu_samples))
        f = np.mean([m[2] for m in list(buf)[lo:j]], axis=0)
        roll = math.atan2(f[1], f[2])
        pitch = math.atan2(-f[0], math.hypot(f[1], f[2]))
        yaw, yaw_std = c.init_yaw_rad, c.init_yaw_std_rad
        orient = [self._init_orientation[k] for k in times[:j] if k in self._init_orientation]
        if c.use_imu_orientation_yaw and orient:
            yaw, yaw_std = self._base_yaw(orient[-1]), c.imu_orientation_yaw_std_rad
            self._t_imu_yaw = tf  # that reading was the first yaw measurement (no second one now)
        aligned = yaw_std <= c.unalign_yaw_std_rad
        q = eskf.quat_from_rpy(roll, pitch, yaw)
        Rl = eskf.quat_to_rot(q) @ self._lever_gps
        P = np.zeros((eskf.DIM, eskf.DIM))
        lever_var = 0.0 if aligned else float(self._lever_gps[:2] @ self._lever_gps[:2])
        P[0:3, 0:3] = fx.cov + np.diag([lever_var, lever_var, 0.0])
        P[3:6, 3:6] = np.eye(3) * c.init_velocity_std_mps**2
        P[6:8, 6:8] = np.eye(2) * c.init_tilt_std_rad**2
        P[8, 8] = yaw_std**2
        P[9:12, 9:12] = np.eye(3) * c.init_accel_bias_std_mps2**2
        P[12:15, 12:15] = np.eye(3) * c.init_gyro_bias_std_rad_s**2
        self._s = _State(
            t_ns=tf,
            p=fx.enu - Rl,
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
            imu_var=np.full(6, 1e6),  # not still until the window has filled
        )
        rest = list(buf)[j:]
        if rest and rest[0][0] == tf:
            rest = rest[1:]
        self._init_fix = None
        buf.clear()
        self._init_orientation.clear()
        self.counters["initialized"] += 1
        self.counters["gps_accepted"] += 1
        self._record(tf, w, a)
        for t, w, a in rest:  # replay the IMU received after the fix
            self.counters["imu_used"] += 1
            self._step(t, w, a)
            self._record(t, w, a)

    def _record(self, t: int, w: np.ndarray, a: np.ndarray) -> None:
        """Snapshot the state after the IMU step at ``t`` and trim the history."""
        self._hist_t.append(t)
        self._hist_s.append(self._s.copy())
        self._hist_meas.append((t, w, a))
        k = bisect_right(self._hist_t, t - self._window_ns) - 1
        if k > 0:
            del self._hist_t[:k], self._hist_s[:k], self._hist_meas[:k]
            t0 = self._hist_t[0]
            if self._fix_log and self._fix_log[0].stamp_ns <= t0:
                self._fix_log = [f for f in self._fix_log if f.stamp_ns > t0]

    def _rollback_replay(self, i: int, fx: _Fix) -> None:
        t_i = self._hist_t[i]
        replays = [
            _Fix(f.stamp_ns, f.enu, f.cov, first=False, kind=f.kind, rows=f.rows)
            for f in self._fix_log
            if f.stamp_ns > t_i
        ]
        self._fix_log = [f for f in self._fix_log if f.stamp_ns <= t_i]
        self._pending = sorted([*replays, fx, *self._pending], key=lambda f: f.stamp_ns)
        meas = self._hist_meas[i + 1 :]
        del self._hist_t[i + 1 :], self._hist_s[i + 1 :], self._hist_meas[i + 1 :]
        self._s = self._hist_s[i].copy()
        for t, w, a in meas:
            self._step(t, w, a)
            self._record(t, w, a)

    def _step(self, t: int, w1: np.ndarray, a1: np.ndarray) -> None:
        """Fuse pending fixes stamped < t at their own stamps (interpolated IMU), propagate to t,
        apply the constraint update if due, then fuse fixes stamped exactly t. This is the
        order in-order data gets, so a replay reproduces it exactly."""
        s = self._s
        while self._pending and self._pending[0].stamp_ns < t:
            fx = self._pending.pop(0)
            if fx.stamp_ns > s.t_ns:
                frac = (fx.stamp_ns - s.t_ns) / (t - s.t_ns)
                self._propagate(
                    fx.stamp_ns, s.w_meas + frac * (w1 - s.w_meas), s.a_meas + frac * (a1 - s.a_meas)
                )
            self._fuse(fx)
            self._fix_log.append(fx)
        if t > s.t_ns:
            self._propagate(t, w1, a1)
        c = self.config
        if (c.use_nhc or c.use_zupt) and t - s.t_nhc_ns >= self._nhc_period_ns:
            if c.use_zupt and self._is_still():
                self._zupt()
            elif c.use_nhc:
                self._nhc()
        while self._pending and self._pending[0].stamp_ns == t:
            fx = self._pending.pop(0)
            self._fuse(fx)
            self._fix_log.append(fx)

    def _propagate(self, t: int, w1: np.ndarray, a1: np.ndarray) -> None:
        s = self._s
        dt = (t - s.t_ns) / NS_PER_S
        # Fused numba version of eskf.imu_propagate + F P F' + Q (+ the unaligned-yaw handling:
        # extra velocity noise of density |A_h| for the unknown rotation of the horizontal
        # specific force, and yaw decoupled).
        s.p, s.v, s.q, s.P, s.imu_mean, s.imu_var = predict_step(
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
            self._g,
            self._qdiag,
            not s.aligned,
            s.imu_mean,
            s.imu_var,
            min(1.0, dt / self._zupt_window_s),
        )
        s.t_ns, s.w_meas, s.a_meas, s.dt_s = t, w1, a1, dt

    def _update(self, H: np.ndarray, R: np.ndarray, y: np.ndarray, gate: float = math.inf) -> bool:
        """Gated update + injection + reset (numba; maths in eskf.kalman_update / reset_jacobian).
        While yaw is unknown its gain row is zeroed and it stays decoupled."""
        s = self._s
        ok, _, dx, p, v, q, ba, bg, P = update_step(
            s.p, s.v, s.q, s.ba, s.bg, s.P, np.ascontiguousarray(H), R, y, gate, -1 if s.aligned else eskf.YAW
        )
        if ok:
            s.p, s.v, s.q, s.ba, s.bg, s.P = p, v, q, ba, bg, P
            self.last_correction = dx
        return bool(ok)

    def _nhc(self) -> None:
        s = self._s
        c = self.config
        rows = (1, 2) if s.aligned else (2,)
        vb, H = eskf.nhc_jacobian(s.q, s.v, rows)
        R = np.diag([c.nhc_lateral_std_mps**2 if r == 1 else c.nhc_vertical_std_mps**2 for r in rows])
        self._update(H, R, -vb)
        s.t_nhc_ns = s.t_ns
        self.counters["nhc_updates"] += 1

    def _is_still(self) -> bool:
        """Standstill: quiet IMU (EW std of the specific force, bias-corrected mean rate, mean
        acceleration ~ 0) and a filter speed that is small and well known (so constant-speed
        cruising never qualifies)."""
        s = self._s
        c = self.config
        if float(s.imu_var[3:6].max()) > c.zupt_accel_std_mps2**2:
            return False
        w = s.imu_mean[0:3] - s.bg
        if float(w @ w) > c.zupt_gyro_rate_rad_s**2:
            return False
        if float(s.v @ s.v) > c.zupt_max_speed_mps**2:
            return False
        acc = eskf.quat_to_rot(s.q) @ (s.imu_mean[3:6] - s.ba) + self._g  # estimated acceleration
        if float(acc @ acc) > c.zupt_max_accel_mps2**2:
            return False
        return float(max(s.P[3, 3], s.P[4, 4], s.P[5, 5])) < c.zupt_max_speed_std_mps**2

    def _zupt(self) -> None:
        """Zero velocity and zero angular rate (z_w = gyro sample = bg + noise) at standstill."""
        s = self._s
        c = self.config
        H = np.zeros((6, eskf.DIM))
        H[0:3, 3:6] = np.eye(3)
        H[3:6, 12:15] = np.eye(3)
        y = np.concatenate([-s.v, s.w_meas - s.bg])
        R = np.diag(
            [c.zupt_velocity_std_mps**2] * 3 + [c.gyro_noise_rad_s_sqrt_hz**2 / max(s.dt_s, 1e-4)] * 3
        )
        self._update(H, R, y)
        s.t_nhc_ns = s.t_ns
        self.counters["zupt_updates"] += 1

    def _fuse_velocity(self, fx: _Fix) -> None:
        """Body-velocity update ``z = R' v`` (rows ``fx.rows``), chi2 gated like fixes. While
        yaw is unknown the horizontal rows would compare the world velocity rotated by an
        arbitrary heading, so only the vertical row is used then (the heading comes from GPS;
        from there on the horizontal rows fix the speed)."""
        s = self._s
        idx = [k for k, r in enumerate(fx.rows) if s.aligned or r == 2]
        if not idx:
            fx.result = False
            return
        rows = tuple(fx.rows[k] for k in idx)
        vb, H = eskf.nhc_jacobian(s.q, s.v, rows)
        R = fx.cov[np.ix_(idx, idx)]
        fx.result = self._update(H, R, fx.enu[list(rows)] - vb, self._chi2_gate[len(rows)])
        if fx.first:
            self.counters["vel_accepted" if fx.result else "vel_rejected"] += 1

    def _fuse_yaw(self, fx: _Fix) -> None:
        """Heading measurement (IMU orientation output, ENU-referenced), chi2(1) gated. While
        yaw is unknown it aligns the heading instead: rotate to it, variance = its own."""
        s = self._s
        z = float(fx.enu[0])
        d = z - eskf.rpy_from_quat(s.q)[2]
        d = math.atan2(math.sin(d), math.cos(d))
        if not s.aligned:
            P = self._turn_heading(d)
            P[eskf.YAW, :] = 0.0
            P[:, eskf.YAW] = 0.0
            P[eskf.YAW, eskf.YAW] = float(fx.cov[0, 0])
            s.P = 0.5 * (P + P.T)
            s.aligned = True
            self._align_buf.clear()
            fx.result = True
        else:
            H = np.zeros((1, eskf.DIM))
            H[0, 6:9] = eskf.rpy_jacobian(s.q)[2]
            fx.result = self._update(H, fx.cov, np.array([d]), self._chi2_gate[1])
        if fx.first:
            self.counters["imu_yaw_accepted" if fx.result else "imu_yaw_rejected"] += 1

    def _turn_heading(self, d: float) -> np.ndarray:
        """Rotate the nominal attitude by ``d`` about world z (the antenna stays put) and return
        P with the world-frame tilt errors turned along (they were about the old heading)."""
        s = self._s
        R_old = eskf.quat_to_rot(s.q)
        q = eskf.quat_mul(eskf.quat_exp(np.array([0.0, 0.0, d])), s.q)
        s.q = q / math.sqrt(float(q @ q))
        s.p = s.p + (R_old - eskf.quat_to_rot(s.q)) @ self._lever_gps
        J = np.eye(eskf.DIM)
        cd, sd = math.cos(d), math.sin(d)
        J[6:8, 6:8] = [[cd, -sd], [sd, cd]]
        return J @ s.P @ J.T

    def _fuse(self, fx: _Fix) -> None:
        """Gate and fuse one fix at the current state time; sets ``fx.result``."""
        if fx.kind == "vel":
            self._fuse_velocity(fx)
            return
        if fx.kind == "yaw":
            self._fuse_yaw(fx)
            return
        s = self._s
        c = self.config
        Rl, H = eskf.gps_jacobian(s.q, self._lever_gps)
        y = fx.enu - (s.p + Rl)
        R = fx.cov
        if not s.aligned:
            # Yaw unknown: the horizontal lever arm is an unknown offset of size |l_h|.
            H[:, eskf.YAW] = 0.0
            R = R + self._lever_cov
        if not self._update(H, R, y, self._gate):
            fx.result = False
            if fx.first:
                self.counters["gps_rejected_gate"] += 1
                self._consec_rejects += 1
                n = c.gps_reinit_after_rejections
                if n and self._consec_rejects >= n:
                    self._reseed(fx, Rl)
            return
        fx.result = True
        if fx.first:
            self.counters["gps_accepted"] += 1
            self._consec_rejects = 0
        if not s.aligned:
            yaw = eskf.rpy_from_quat(s.q)[2]
            var_h = 0.5 * float(fx.cov[0, 0] + fx.cov[1, 1])
            self._align_buf[fx.stamp_ns] = (float(fx.enu[0]), float(fx.enu[1]), var_h, yaw)
            self._try_align(fx)
        elif s.P[eskf.YAW, eskf.YAW] > c.unalign_yaw_std_rad**2:
            s.aligned = False
            self._align_buf.clear()

    def _reseed(self, fx: _Fix, Rl: np.ndarray) -> None:
        """After many consecutive gated fixes trust GPS again: re-seed position, inflate velocity."""
        s = self._s
        s.p = fx.enu - Rl
        s.P[0:6, :] = 0.0
        s.P[:, 0:6] = 0.0
        s.P[0:3, 0:3] = fx.cov
        s.P[3:6, 3:6] = np.eye(3) * self.config.init_velocity_std_mps**2
        self._consec_rejects = 0
        self.counters["gps_reinit"] += 1

    def _try_align(self, fx: _Fix) -> None:
        """Align yaw from the filter's velocity or, failing that, from the GPS chord."""
        if self._try_align_velocity() or self._try_align_chord(fx):
            self._align_buf.clear()
            if fx.first:
                self.counters["yaw_aligned"] += 1

    def _try_align_velocity(self) -> bool:
        """Heading from the filter's own velocity (forward driving, no side slip): once the
        horizontal speed is at least ``align_min_speed_mps`` and its direction is known to
        ``align_max_std_rad``, set yaw to the course and carry the information over exactly:
        the new yaw error is ``n . dv / |v|`` (``n`` the unit normal to the course), so P
        becomes ``J P J'`` with that row for yaw, and the world-frame tilt errors rotate with
        the heading change (they were expressed about the old nominal heading)."""
        c = self.config
        s = self._s
        vx, vy = float(s.v[0]), float(s.v[1])
        speed = math.hypot(vx, vy)
        if speed < c.align_min_speed_mps:
            return False
        ch, sh = vx / speed, vy / speed
        n = np.array([-sh, ch])
        P = s.P
        var = float(n @ P[3:5, 3:5] @ n) / (speed * speed)
        if var > c.align_max_std_rad**2:
            return False
        d = math.atan2(sh, ch) - eskf.rpy_from_quat(s.q)[2]
        d = math.atan2(math.sin(d), math.cos(d))
        J = np.eye(eskf.DIM)
        J[eskf.YAW, eskf.YAW] = 0.0
        J[eskf.YAW, 3:5] = n / speed
        P = J @ self._turn_heading(d) @ J.T
        P[eskf.YAW, eskf.YAW] += max(0.0, c.align_min_std_rad**2 - P[eskf.YAW, eskf.YAW])
        s.P = 0.5 * (P + P.T)
        s.aligned = True
        return True

    def _try_align_chord(self, fx: _Fix) -> bool:
        """Heading from the GPS chord between fused fixes (robust while turning, where the
        velocity is poorly known before alignment): see the module docs. True if aligned."""
        c = self.config
        s = self._s
        t = fx.stamp_ns
        lo = t - int(c.align_window_s * NS_PER_S)
        for k in [k for k in self._align_buf if k < lo]:
            del self._align_buf[k]
        keys = sorted(k for k in self._align_buf if k <= t)
        if len(keys) < 2:
            return False
        arr = np.array([self._align_buf[k] for k in keys])
        ts = np.array(keys, dtype=np.float64) / NS_PER_S
        dt = ts[None, :] - ts[:, None]
        de = arr[None, :, 0] - arr[:, None, 0]
        dn = arr[None, :, 1] - arr[:, None, 1]
        dist = np.hypot(de, dn)
        with np.errstate(divide="ignore", invalid="ignore"):
            sig = np.sqrt(arr[:, None, 2] + arr[None, :, 2]) / dist
            ok = (
                (dt >= c.align_baseline_s)
                & (dist >= c.align_min_speed_mps * dt)
                & (sig <= c.align_max_std_rad)
            )
        if not ok.any():
            return False
        yaw = arr[:, 3]
        mid = yaw[:, None] + 0.5 * np.angle(np.exp(1j * (yaw[None, :] - yaw[:, None])))
        delta = np.arctan2(dn, de) - mid
        wts = 1.0 / sig[ok] ** 2
        d = float(np.arctan2(np.sum(wts * np.sin(delta[ok])), np.sum(wts * np.cos(delta[ok]))))
        std = max(float(sig[ok].min()), c.align_min_std_rad)

        P = self._turn_heading(d)
        R_new = eskf.quat_to_rot(s.q)
        speed = math.hypot(s.v[0], s.v[1])
        hx, hy = R_new[0, 0], R_new[1, 0]
        hn = math.hypot(hx, hy)
        s.v = np.array([speed * hx / hn, speed * hy / hn, s.v[2]])
        vz = P[5, 5]
        for idx in (3, 4, 5, eskf.YAW):
            P[idx, :] = 0.0
            P[:, idx] = 0.0
        P[eskf.YAW, eskf.YAW] = std * std
        sv = 0.5 + speed * std
        P[3, 3] = P[4, 4] = sv * sv
        P[5, 5] = vz
        s.P = 0.5 * (P + P.T)
        s.aligned = True
        return True

    def _pose(self, s: _State, t_extrap: int | None = None) -> EgoPose:
        pose_cov, twist_cov = pose_covariances(s.P, s.q, self._gyro_var(s))
        w = s.w_meas - s.bg
        p, q, t = s.p, s.q, s.t_ns
        if t_extrap is not None:
            dt = (t_extrap - s.t_ns) / NS_PER_S
            p = p + s.v * dt
            q = eskf.quat_mul(q, eskf.quat_exp(w * dt))
            t = t_extrap
        return EgoPose(t, p.copy(), q.copy(), s.v.copy(), w, pose_cov, twist_cov)

    def _gyro_var(self, s: _State) -> float:
        return self.config.gyro_noise_rad_s_sqrt_hz**2 / max(s.dt_s, 1e-4)

    def _interp(self, a: _State, b: _State, t: int, with_cov: bool) -> EgoPose:
        """Between snapshots a and b: Hermite position, geodesic orientation, linear velocity and
        rate; covariances of the earlier snapshot."""
        f = (t - a.t_ns) / (b.t_ns - a.t_ns)
        p, q, _ = interp_pose(a.p, a.v, a.q, b.p, b.v, b.q, (b.t_ns - a.t_ns) / NS_PER_S, f)
        v = (1.0 - f) * a.v + f * b.v
        w = (1.0 - f) * (a.w_meas - a.bg) + f * (b.w_meas - b.bg)
        if with_cov:
            pose_cov, twist_cov = pose_covariances(a.P, a.q, self._gyro_var(a))
        else:
            pose_cov = twist_cov = np.zeros((6, 6))
        return EgoPose(t, p, q, v, w, pose_cov, twist_cov)
