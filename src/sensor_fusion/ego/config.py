"""Configuration of the ego estimator (every field SI, unit in its name)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any


class EgoConfigError(ValueError):
    pass


@dataclass
class EgoConfig:
    """Parameters of :class:`~sensor_fusion.ego.estimator.EgoEstimator`.

    IMU noise is given as continuous white-noise densities (datasheet style):
    ``gyro_noise`` in rad/s/sqrt(Hz), ``accel_noise`` in m/s^2/sqrt(Hz), bias
    random walks in rad/s^2/sqrt(Hz) and m/s^3/sqrt(Hz). Defaults suit a decent
    automotive MEMS IMU with some vibration margin.
    """

    gravity_mps2: float = 9.80665
    gyro_noise_rad_s_sqrt_hz: float = 1e-3
    accel_noise_mps2_sqrt_hz: float = 0.02
    gyro_bias_walk_rad_s2_sqrt_hz: float = 1e-5
    accel_bias_walk_mps3_sqrt_hz: float = 2e-4

    # Initial uncertainty.
    init_velocity_std_mps: float = 20.0  # velocity starts at zero; covers a start at highway speed
    init_tilt_std_rad: float = 0.05  # roll/pitch from the accelerometer
    init_yaw_rad: float = 0.0  # start heading; unknown (aligned from GPS later) unless its std is
    init_yaw_std_rad: float = math.pi  # <= unalign_yaw_std_rad
    use_imu_orientation_yaw: bool = False  # start heading from ImuSample.orientation (ENU <- IMU)
    imu_orientation_yaw_std_rad: float = 0.1
    # ... and keep fusing it as a yaw measurement this often (0: start only). Decimated because
    # an AHRS yaw error is correlated over seconds (magnetic disturbances): fusing every sample
    # as independent would make the heading far too confident.
    imu_orientation_yaw_rate_hz: float = 0.0
    init_gyro_bias_std_rad_s: float = 0.005
    init_accel_bias_std_mps2: float = 0.1
    init_imu_samples: int = 10  # IMU samples averaged for roll/pitch
    # IMU kept before init: a first fix up to this much older than the newest IMU sample still
    # starts the filter at its own stamp (latency)
    init_max_gps_imu_dt_s: float = 0.5

    # GPS.
    gps_gate_prob: float = 0.999  # chi2(3) gate; 1.0 disables gating
    gps_min_std_m: float = 0.05  # floor on each axis of the fix covariance
    gps_fallback_std_m: float = 5.0  # used when the fix covariance is unusable
    gps_reinit_after_rejections: int = 25  # consecutive gated fixes -> re-seed position; 0 = never
    datum: tuple[float, float, float] | None = None  # (lat0 deg, lon0 deg, alt0 m); None = first fix

    # Pseudo-measurements, applied at constraint_rate_hz.
    constraint_rate_hz: float = 10.0
    # Non-holonomic constraint (car): zero lateral and vertical body velocity.
    use_nhc: bool = True
    nhc_lateral_std_mps: float = 0.1
    nhc_vertical_std_mps: float = 0.1
    # Standstill (ZUPT + zero angular rate): IMU quiet over zupt_window_s, estimated
    # acceleration ~ 0 and the filter speed below zupt_max_speed_mps with std below
    # zupt_max_speed_std_mps (so cruising at constant speed never looks like standstill).
    use_zupt: bool = True
    zupt_window_s: float = 0.5  # time constant of the IMU statistics
    zupt_accel_std_mps2: float = 0.15
    zupt_gyro_rate_rad_s: float = 0.01
    zupt_max_speed_mps: float = 0.2
    zupt_max_accel_mps2: float = 0.2  # estimated acceleration R (a - ba) + g must be below this
    zupt_max_speed_std_mps: float = 1.0
    zupt_velocity_std_mps: float = 0.02

    # Yaw alignment from the GPS course (see EgoEstimator docs).
    align_min_speed_mps: float = 3.0
    align_baseline_s: float = 2.0
    align_window_s: float = 5.0
    align_max_std_rad: float = 0.1  # accept the course estimate when this good
    align_min_std_rad: float = 0.02  # floor on the yaw std after alignment
    unalign_yaw_std_rad: float = 0.5  # yaw std above this -> realign

    # Time handling.
    history_window_s: float = 1.0  # rollback window for late fixes and pose_at
    max_imu_dt_s: float = 0.1  # larger IMU gaps are counted (imu_gap)
    imu_gap_reset_s: float = 2.0  # an IMU gap this long resets the filter
    time_jump_reset_s: float = 0.5  # IMU this far in the past -> reset
    pose_extrapolation_s: float = 0.02  # pose_at may extrapolate this far past the newest state

    def validate(self) -> EgoConfig:
        """Raise :class:`EgoConfigError` with a clear message on bad values; return self."""
        positive = [
            "gravity_mps2",
            "gyro_noise_rad_s_sqrt_hz",
            "accel_noise_mps2_sqrt_hz",
            "init_velocity_std_mps",
            "init_tilt_std_rad",
            "init_yaw_std_rad",
            "imu_orientation_yaw_std_rad",
            "init_gyro_bias_std_rad_s",
            "init_accel_bias_std_mps2",
            "init_max_gps_imu_dt_s",
            "gps_min_std_m",
            "gps_fallback_std_m",
            "constraint_rate_hz",
            "zupt_window_s",
            "zupt_accel_std_mps2",
            "zupt_gyro_rate_rad_s",
            "zupt_max_speed_mps",
            "zupt_max_accel_mps2",
            "imu_gap_reset_s",
            "zupt_max_speed_std_mps",
            "zupt_velocity_std_mps",
            "nhc_lateral_std_mps",
            "nhc_vertical_std_mps",
            "align_min_speed_mps",
            "align_baseline_s",
            "align_max_std_rad",
            "align_min_std_rad",
            "unalign_yaw_std_rad",
            "history_window_s",
            "max_imu_dt_s",
            "time_jump_reset_s",
        ]
        for name in positive:
            val = getattr(self, name)
            if not (isinstance(val, (int, float)) and math.isfinite(val) and val > 0):
                raise EgoConfigError(f"EgoConfig.{name} must be a finite number > 0, got {val!r}")
        for name in (
            "gyro_bias_walk_rad_s2_sqrt_hz",
            "accel_bias_walk_mps3_sqrt_hz",
            "pose_extrapolation_s",
            "imu_orientation_yaw_rate_hz",
        ):
            val = getattr(self, name)
            if not (isinstance(val, (int, float)) and math.isfinite(val) and val >= 0):
                raise EgoConfigError(f"EgoConfig.{name} must be a finite number >= 0, got {val!r}")
        if not 0.0 < self.gps_gate_prob <= 1.0:
            raise EgoConfigError(f"EgoConfig.gps_gate_prob must be in (0, 1], got {self.gps_gate_prob!r}")
        if int(self.init_imu_samples) < 1:
            raise EgoConfigError(f"EgoConfig.init_imu_samples must be >= 1, got {self.init_imu_samples!r}")
        if int(self.gps_reinit_after_rejections) < 0:
            raise EgoConfigError("EgoConfig.gps_reinit_after_rejections must be >= 0 (0 disables)")
        if self.imu_gap_reset_s <= self.max_imu_dt_s:
            raise EgoConfigError("EgoConfig.imu_gap_reset_s must be > max_imu_dt_s")
        if self.align_window_s < self.align_baseline_s:
            raise EgoConfigError("EgoConfig.align_window_s must be >= align_baseline_s")
        if self.align_min_std_rad > self.align_max_std_rad:
            raise EgoConfigError("EgoConfig.align_min_std_rad must be <= align_max_std_rad")
        if self.datum is not None:
            d = tuple(float(x) for x in self.datum)
            if len(d) != 3 or not all(math.isfinite(x) for x in d):
                raise EgoConfigError(f"EgoConfig.datum must be (lat deg, lon deg, alt m), got {self.datum!r}")
            if not (-90.0 <= d[0] <= 90.0 and -180.0 <= d[1] <= 360.0):
                raise EgoConfigError(f"EgoConfig.datum latitude/longitude out of range: {self.datum!r}")
            self.datum = d
        return self

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> EgoConfig:
        """Build from a parameter dict (unknown keys are an error); validated."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise EgoConfigError(f"unknown EgoConfig parameter(s): {', '.join(unknown)}")
        if d.get("datum") is not None:
            # ROS parameters cannot hold None: an empty list means "from the first fix".
            d["datum"] = tuple(d["datum"]) if len(d["datum"]) else None
        if "init_imu_samples" in d:
            d["init_imu_samples"] = int(d["init_imu_samples"])
        if "gps_reinit_after_rejections" in d:
            d["gps_reinit_after_rejections"] = int(d["gps_reinit_after_rejections"])
        return cls(**d).validate()
