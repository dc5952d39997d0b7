"""IMU-driven, GPS-corrected ego-state estimator (error-state Kalman filter, ROS-free).

State and maths are in :mod:`.eskf`: position/velocity in ENU around a WGS84 datum,
orientation quaternion with a 3-vector global angle error, accelerometer and gyro biases
(15 error states). :class:`EgoEstimator` composes the parts, as OpenVINS separates
propagation, updaters and initialisation and robot_localization keeps its history apart
from its filters:

* :mod:`.init` -- the first state, at the stamp of the first valid fix (tilt from gravity,
  heading unknown unless configured or read from the IMU's orientation output);
* :mod:`.propagation` -- IMU readings into base_link and the prediction step (the IMU is
  the filter clock);
* :mod:`.measurements` -- GPS position, body velocity, heading, non-holonomic and
  zero-velocity models and their gated updates;
* :mod:`.alignment` -- the heading while it is unknown (filter velocity, GPS chord, heading
  measurement);
* :mod:`.history` -- snapshots, and every measurement fused at its own stamp (late ones by
  rollback and replay, early ones queued until the IMU passes them);
* :mod:`.pose` -- the output, at the filter time or interpolated within the history.

Inputs: ``add_imu`` (propagates; a step longer than ``max_imu_dt_s`` is counted, one longer
than ``imu_gap_reset_s`` resets the filter, time going backwards by more than
``time_jump_reset_s`` (bag loop) resets it, smaller reorderings drop the sample),
``add_gps`` / ``add_gps_enu`` (fix -> ENU via ``core.geodesy`` -> antenna-position update),
``add_body_velocity`` (radar Doppler ego-motion), ``add_wheel_odometry`` and
``add_gnss_velocity`` (:mod:`.velocity_inputs`: usable before the heading is known, and the
low-speed heading from the wheel track, :mod:`.track_align`). With
``use_imu_orientation_yaw`` and ``imu_orientation_yaw_rate_hz > 0`` the IMU's own orientation
output (ENU-referenced units only) is also a heading measurement at that rate, decimated
because an AHRS heading error is correlated over seconds.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.geodesy import geodetic_to_enu
from ..core.stamps import NS_PER_S
from ..core.types import GpsFix, ImuSample
from . import eskf, wheel_scale
from .alignment import Aligner
from .config import EgoConfig
from .history import History
from .init import Initializer
from .measurements import Updater, body_velocity_measurement, gps_position, sanitize_gps_cov
from .pose import EgoPose, pose_between, pose_of, transform_between
from .propagation import Propagator, valid_orientation
from .state import FilterState, Measurement
from .track_align import add_fix as add_track_fix
from .velocity_inputs import floored, velocity_measurement
from .velocity_updater import VelocityUpdater

__all__ = ["COUNTER_NAMES", "EgoConfig", "EgoEstimator", "EgoPose"]

COUNTER_NAMES = (
    "imu_used",  # samples that propagated the filter
    "imu_out_of_order",  # at or before the filter time (but not a time jump): dropped
    "imu_invalid",  # NaN/inf or wrong shape: dropped
    "imu_gap",  # step longer than max_imu_dt_s (propagated; reset past imu_gap_reset_s)
    "gps_accepted",  # fused (first processing only, also for late fixes)
    "gps_rejected_gate",  # failed the chi2(3) gate
    "gps_late_dropped",  # older than the history window
    "gps_rollbacks",  # late measurements handled by rollback + replay
    "gps_queued",  # measurements stamped ahead of the IMU, fused when the IMU passes
    "gps_queue_overflow",  # queued measurements dropped while the IMU was silent
    "gps_no_fix",  # status < 0
    "gps_invalid",  # NaN/inf position
    "gps_reinit",  # position re-seeded after gps_reinit_after_rejections gated fixes
    "gps_multipath_gated",  # gated fixes the recent fixes carried along the wheel track disagree with too
    "gps_multipath_returns",  # fixes back from a jump the filter had taken: re-seeded there (gnss_steps)
    "vel_accepted",  # body-velocity measurements fused (add_body_velocity)
    "vel_rejected",  # body-velocity measurements gated, invalid or too old
    "wheel_accepted",  # wheel-odometry velocities fused (add_wheel_odometry; heading-free before alignment)
    "wheel_rejected",  # ... gated, invalid or too old
    "gnss_vel_accepted",  # GNSS velocities fused (add_gnss_velocity; or aligned the heading)
    "gnss_vel_rejected",  # ... gated, invalid or too old
    "vel_heading_unknown",  # wheel/GNSS velocities with nothing heading-free to fuse before alignment
    "imu_yaw_accepted",  # IMU orientation yaw measurements fused (imu_orientation_yaw_rate_hz)
    "imu_yaw_rejected",  # ... gated
    "imu_yaw_unused",  # ... while neither the heading nor the AHRS yaw bias is known
    "nhc_updates",  # non-holonomic constraint updates
    "zupt_updates",  # standstill (zero velocity + zero rate) updates
    "yaw_aligned",  # heading alignments from the GPS course (all sources below included)
    "yaw_aligned_track",  # ... from the wheel-odometry track matched to the fixes (low speed)
    "yaw_aligned_gnss_velocity",  # ... from the GNSS velocity's course
    "initialized",  # initialisations (first fix + IMU)
    "resets",  # reset() calls, including time jumps and long IMU gaps
)


class EgoEstimator:
    """Error-state EKF over (p, v, q, ba, bg) driven by IMU and corrected by GPS.

    ``T_base_imu`` / ``T_base_gps`` are extrinsics (4, 4) taking sensor-frame points to
    ``base_link``. ``counters`` holds what was used, dropped or rejected (see
    ``COUNTER_NAMES``); ``datum`` is the ENU origin (``EgoConfig.datum`` or the first fix).
    """

    def __init__(
        self,
        config: EgoConfig | None = None,
        T_base_imu: np.ndarray | None = None,
        T_base_gps: np.ndarray | None = None,
    ) -> None:
        c = self.config = (config or EgoConfig()).validate()
        T_bi = np.eye(4) if T_base_imu is None else np.asarray(T_base_imu, dtype=np.float64)
        T_bg = np.eye(4) if T_base_gps is None else np.asarray(T_base_gps, dtype=np.float64)
        if T_bi.shape != (4, 4) or T_bg.shape != (4, 4):
            raise ValueError("T_base_imu and T_base_gps must be (4, 4) transforms")
        self._lever_gps = T_bg[:3, 3].copy()
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self._propagator = Propagator(c, T_bi)
        self._updater = Updater(c, self._lever_gps, self.counters)
        self._aligner = Aligner(c, self._lever_gps, self.counters)
        self._vel = VelocityUpdater(c, self._lever_gps, self.counters, self._updater, self._aligner)
        self._init = Initializer(c, self._lever_gps, self._propagator.base_yaw)
        self._hist = History(
            int(round(c.history_window_s * NS_PER_S)),
            self.counters,
            propagate=self._propagator.propagate,
            constrain=self._updater.constrain,
            fuse=self._fuse,
        )
        self._jump_ns = int(round(c.time_jump_reset_s * NS_PER_S))
        self._gap_reset_ns = int(round(c.imu_gap_reset_s * NS_PER_S))
        self._max_dt_ns = int(round(c.max_imu_dt_s * NS_PER_S))
        self._imu_yaw_period_ns = (
            int(round(NS_PER_S / c.imu_orientation_yaw_rate_hz))
            if c.use_imu_orientation_yaw and c.imu_orientation_yaw_rate_hz > 0
            else 0
        )
        self._extrap_ns = int(round(c.pose_extrapolation_s * NS_PER_S))
        self._datum_from_config = c.has_datum  # else (NaN) the first fix sets it
        self.datum: tuple[float, float, float] | None = tuple(c.datum) if c.has_datum else None
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
        return self._require().P.copy()

    @property
    def nominal(self) -> dict[str, np.ndarray]:
        """Copy of the nominal state: p, v, q (x y z w), ba, bg."""
        s = self._require()
        return {"p": s.p.copy(), "v": s.v.copy(), "q": s.q.copy(), "ba": s.ba.copy(), "bg": s.bg.copy()}

    @property
    def yaw_aligned(self) -> bool:
        return self._s is not None and self._s.aligned

    @property
    def last_correction(self) -> np.ndarray | None:
        """The last injected error state (15,), or None before the first update."""
        return self._updater.last_correction

    def add_imu(self, sample: ImuSample) -> None:
        """Propagate to ``sample.stamp_ns`` (the filter clock)."""
        w = np.asarray(sample.angular_velocity, dtype=np.float64)
        a = np.asarray(sample.linear_acceleration, dtype=np.float64)
        if w.shape != (3,) or a.shape != (3,) or not (np.isfinite(w).all() and np.isfinite(a).all()):
            self.counters["imu_invalid"] += 1
            return
        t = int(sample.stamp_ns)
        o = sample.orientation
        s = self._s
        w, a = self._propagator.to_base(w, a, t, self._init.newest if s is None else (s.t_ns, s.w_meas))
        if s is None:
            if not self._init.add_imu(t, w, a, o if valid_orientation(o) else None):
                self.counters["imu_out_of_order"] += 1
                return
            self._try_start()
            return
        if t <= s.t_ns:
            if s.t_ns - t > self._jump_ns:
                self.reset()
                self._init.buffer(t, w, a)
            else:
                self.counters["imu_out_of_order"] += 1
            return
        if t - s.t_ns > self._max_dt_ns:
            self.counters["imu_gap"] += 1
            if t - s.t_ns > self._gap_reset_ns:  # IMU silent too long to dead-reckon across
                self.reset()
                self._init.buffer(t, w, a)
                return
        self.counters["imu_used"] += 1
        self._hist.step(t, w, a)
        if (
            self._imu_yaw_period_ns
            and t - self._t_imu_yaw >= self._imu_yaw_period_ns
            and valid_orientation(o)
        ):
            self._t_imu_yaw = t
            var = self.config.imu_orientation_yaw_std_rad**2
            yaw = self._propagator.base_yaw(np.asarray(o, dtype=np.float64))
            self._hist.add(
                Measurement(t, np.array([yaw, 0.0, 0.0]), np.array([[var]]), kind="yaw", rows=(0,))
            )

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
        return self.add_gps_enu(fix.stamp_ns, self._to_enu(lat, lon, alt), fix.covariance)

    def add_gps_enu(self, stamp_ns: int, enu: np.ndarray, covariance: np.ndarray) -> bool:
        """Fuse an antenna position already in the ENU frame of ``datum`` (m, m^2)."""
        enu = np.asarray(enu, dtype=np.float64).reshape(3)
        if not np.isfinite(enu).all():
            self.counters["gps_invalid"] += 1
            return False
        m = Measurement(int(stamp_ns), enu, self._gps_cov(covariance))
        if self._s is None:
            self._init.add_fix(m)
            self._try_start()
            return True
        return self._hist.add(m)

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
        m = body_velocity_measurement(stamp_ns, velocity, covariance)
        if m is None or self._s is None:
            self.counters["vel_rejected"] += 1
            return False
        return self._hist.add(m)

    def add_wheel_odometry(
        self, stamp_ns: int, velocity: np.ndarray, covariance: np.ndarray | None = None
    ) -> bool:
        """Fuse a wheel-odometry velocity of base_link in base_link axes (m/s; the linear twist
        of ``nav_msgs/Odometry``) with its (3, 3) covariance ((m/s)^2; None, NaN or zero
        diagonals take ``wheel_fallback_std_mps``, >= 1e3 marks an unmeasured axis). Unlike
        :meth:`add_body_velocity` it is used before the heading is known too: its speed (and
        standstill) are heading-free, and its dead-reckoned track gives the heading at low
        speed (:mod:`.track_align`). The lateral and vertical rows' variances are at least the
        non-holonomic constraint's (``nhc_*_std_mps``): a wheeled base's driver reports zero
        there by construction, often with a tiny constant covariance (``diff_drive_controller``:
        0.001 (m/s)^2), which would pin the filter tighter than the side slip allows. True if
        used or queued."""
        c = self.config
        m = velocity_measurement(stamp_ns, velocity, covariance, c.wheel_fallback_std_mps, "wheel")
        if m is not None:
            m = floored(m, (0.0, c.nhc_lateral_std_mps, c.nhc_vertical_std_mps))
        if m is None or self._s is None:
            self.counters["wheel_rejected"] += 1
            return False
        return self._hist.add(m)

    def add_gnss_velocity(
        self, stamp_ns: int, velocity_enu: np.ndarray, covariance: np.ndarray | None = None
    ) -> bool:
        """Fuse the GNSS receiver's antenna velocity (m/s, ENU; ``geometry_msgs/
        TwistWithCovarianceStamped`` linear part) with its (3, 3) covariance (as for
        :meth:`add_wheel_odometry`, fallback ``gnss_velocity_fallback_std_mps``). Before the
        heading is known its course aligns it when fast and precise enough. True if used or
        queued."""
        m = velocity_measurement(
            stamp_ns, velocity_enu, covariance, self.config.gnss_velocity_fallback_std_mps, "gvel"
        )
        if m is None or self._s is None:
            self.counters["gnss_vel_rejected"] += 1
            return False
        return self._hist.add(m)

    @property
    def yaw_bias(self) -> tuple[float, float] | None:
        """(estimate rad, std rad) of the AHRS yaw bias, None before initialisation."""
        s = self._s
        return None if s is None else (s.yaw_bias, math.sqrt(max(s.yaw_bias_var, 0.0)))

    def latest(self) -> EgoPose | None:
        return None if self._s is None else pose_of(self._s, self.config.gyro_noise_rad_s_sqrt_hz)

    def pose_at(self, stamp_ns: int) -> EgoPose | None:
        """Pose at ``stamp_ns`` interpolated within the history window (Hermite position,
        geodesic orientation), or extrapolated up to ``pose_extrapolation_s`` past the
        newest state; None outside that or before initialisation."""
        s = self._s
        if s is None:
            return None
        t = int(stamp_ns)
        gyro_noise = self.config.gyro_noise_rad_s_sqrt_hz
        if t >= s.t_ns:
            if t - s.t_ns > self._extrap_ns:
                return None
            return pose_of(s, gyro_noise, t) if t > s.t_ns else pose_of(s, gyro_noise)
        around = self._hist.around(t)
        if around is None:
            return None
        a, b = around
        return pose_of(a, gyro_noise) if b is None else pose_between(a, b, t, gyro_noise)

    def T_world_base_at(self, stamp_ns: int) -> np.ndarray | None:
        """(4, 4) pose at ``stamp_ns`` like :meth:`pose_at`, without covariances (deskew fast path)."""
        s = self._s
        t = int(stamp_ns)
        if s is None or t >= s.t_ns:
            pose = self.pose_at(t)
            return None if pose is None else pose.T_world_base()
        around = self._hist.around(t)
        return None if around is None else transform_between(*around, t)

    # --------------------------------------------------------- linearisations (tests)

    def predict_matrices(self, sample: ImuSample) -> tuple[np.ndarray, np.ndarray]:
        """(F, Q) of the step ``add_imu(sample)`` would take now (no pending fixes)."""
        s = self._require()
        t = int(sample.stamp_ns)
        w, a = self._propagator.to_base(
            np.asarray(sample.angular_velocity, dtype=np.float64),
            np.asarray(sample.linear_acceleration, dtype=np.float64),
            t,
            (s.t_ns, s.w_meas),
        )
        return self._propagator.matrices(s, t, w, a)

    def gps_matrices(self, fix: GpsFix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(H, R, y) of the update for ``fix`` at the current state (y = z - h(x)). While yaw is
        unknown the update itself zeroes H's yaw column and adds the lever-arm offset to R."""
        s = self._require()
        enu = self._to_enu(float(fix.latitude), float(fix.longitude), float(fix.altitude))
        y, H, R = gps_position(s, enu, self._gps_cov(fix.covariance), self._lever_gps)
        return H, R, y

    # -------------------------------------------------------------------- internals

    @property
    def _s(self) -> FilterState | None:
        """The current filter state (owned by the history), None before initialisation."""
        return self._hist.state

    def _clear(self) -> None:
        self._hist.clear()
        self._init.clear()
        self._aligner.clear()
        self._updater.clear()
        self._t_imu_yaw = -(1 << 62)  # last IMU orientation fused as a heading

    def _try_start(self) -> None:
        start = self._init.try_start()
        if start is None:
            return
        if start.yaw_from_imu:
            self._t_imu_yaw = start.state.t_ns  # that reading was the first heading measurement
        st = start.state
        self._updater.start_level(st.t_ns, st, start.fix)
        if not st.aligned:
            # the first fix starts the odometry track too: a fix that jumps against it before the
            # heading is known is recognised from the track (track_align.mismatch), not followed
            antenna = st.p + eskf.quat_to_rot(st.q) @ self._lever_gps
            var_h = 0.5 * float(st.P[0, 0] + st.P[1, 1])
            add_track_fix(st, st.t_ns, antenna, var_h, self._lever_gps, self.config.align_track_window_s)
        # the first snapshot after the fix is on the track: a late message rolls back to it
        self._hist.start(st)
        self.counters["initialized"] += 1
        self.counters["gps_accepted"] += 1
        for t, w, a in start.later_imu:  # replay the IMU received after the fix
            self.counters["imu_used"] += 1
            self._hist.step(t, w, a)

    def _fuse(self, s: FilterState, m: Measurement) -> None:
        """Fuse one measurement at the state time (the history decides when); sets ``m.result``."""
        if m.kind == "gps":
            if self._updater.gps(s, m):
                c = self.config
                span = c.align_min_baseline_sigmas
                wheel_scale.add_fix(
                    s,
                    m,
                    self._lever_gps,
                    self._vel.scale_prior,
                    c.wheel_scale_window_s,
                    span,
                )
                self._aligner.after_fix(s, m)
            elif not m.multipath:
                # a fix the track called multipath leaves the level of the accepted fixes as it
                # was: no break in the heading fit (a break costs the part after it a span of its own)
                self._aligner.after_gated_fix(s, m)
        elif m.kind == "vel":
            self._updater.velocity(s, m)
        elif m.kind == "wheel":
            self._vel.wheel(s, m)
        elif m.kind == "gvel":
            self._vel.gnss_velocity(s, m)
        elif s.aligned:
            self._updater.yaw(s, m)
        else:
            self._aligner.heading(s, m)

    def _require(self) -> FilterState:
        if self._s is None:
            raise RuntimeError("EgoEstimator is not initialised (needs IMU and a valid GPS fix)")
        return self._s

    def _to_enu(self, lat: float, lon: float, alt: float) -> np.ndarray:
        if self.datum is None:
            raise RuntimeError("no datum: set EgoConfig.datum or fuse a fix first")
        e, n, u = geodetic_to_enu(lat, lon, alt, *self.datum)
        return np.array([float(e), float(n), float(u)])

    def _gps_cov(self, cov: np.ndarray) -> np.ndarray:
        return sanitize_gps_cov(cov, self.config.gps_min_std_m, self.config.gps_fallback_std_m)
