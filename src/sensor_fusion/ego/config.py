"""Configuration of the ego estimator (every field SI, unit in its name), in the schema."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.schema import ParamConfig, param


class EgoConfigError(ValueError):
    pass


NAN3 = (math.nan, math.nan, math.nan)


@dataclass
class EgoConfig(ParamConfig):
    """Parameters of :class:`~sensor_fusion.ego.estimator.EgoEstimator`.

    IMU noise is given as continuous white-noise densities (datasheet style). The defaults are
    the shipped vehicle's IMU datasheet with noise densities x2 for vibration on the vehicle
    (``config/fusion.yaml`` is generated from these declarations).
    """

    error = EgoConfigError

    gravity_mps2: float = param(9.80665, unit="m/s^2", gt=0.0, desc="Local gravity magnitude")
    gyro_noise_rad_s_sqrt_hz: float = param(
        3.4e-4,
        unit="rad/s/sqrt(Hz)",
        gt=0.0,
        desc="Gyro white noise: datasheet angle random walk 1.7e-4 rad/s/sqrt(Hz) (0.58 deg/sqrt(h)) x2",
    )
    accel_noise_mps2_sqrt_hz: float = param(
        4.0e-3,
        unit="m/s^2/sqrt(Hz)",
        gt=0.0,
        desc="Accelerometer white noise: datasheet velocity random walk 2.0e-3 m/s^2/sqrt(Hz) x2",
    )
    gyro_bias_walk_rad_s2_sqrt_hz: float = param(
        4.0e-5,
        unit="rad/s^2/sqrt(Hz)",
        ge=0.0,
        desc="Gyro bias random walk: datasheet 2.0e-5 rad/s^2/sqrt(Hz) x2",
    )
    accel_bias_walk_mps3_sqrt_hz: float = param(
        6.0e-4,
        unit="m/s^3/sqrt(Hz)",
        ge=0.0,
        desc="Accelerometer bias random walk: datasheet 3.0e-4 m/s^3/sqrt(Hz) x2",
    )
    imu_noise_measured: bool = param(
        True,
        unit="",
        desc="Process noise at least the IMU's measured white noise per axis (sample to sample over 0.5 s, "
        "and block to block over 0.1 s blocks for IMUs whose samples are correlated; ego/_kernels.py "
        "noise_update): vibration of an unsprung chassis is 10-100x the datasheet density, and a filter "
        "that trusts its IMU more than its wheels gates them out. The densities above are the floor; "
        "false: the densities alone",
    )

    # Initial uncertainty.
    init_velocity_std_mps: float = param(
        20.0,
        unit="m/s",
        gt=0.0,
        desc="Initial velocity std (velocity starts at zero; covers a start at highway speed)",
    )
    init_tilt_std_rad: float = param(
        0.05, unit="rad", gt=0.0, desc="Initial roll/pitch std (from the accelerometer)"
    )
    init_yaw_rad: float = param(
        0.0, unit="rad", desc="Start heading (ENU); unknown, aligned from GPS later, unless its std is small"
    )
    init_yaw_std_rad: float = param(
        math.pi,
        unit="rad",
        gt=0.0,
        desc="Start heading std; above unalign_yaw_std_rad the heading counts as unknown",
    )
    use_imu_orientation_yaw: bool = param(
        False,
        unit="",
        desc="Heading from the IMU's orientation output: at the start, then as a yaw measurement every "
        "1/imu_orientation_yaw_rate_hz s (chi2-gated). Only for IMUs whose yaw is referenced to ENU "
        "(GNSS/INS units, AHRS with a calibrated magnetometer far from steel and motors); a plain 6-axis "
        "IMU reports an arbitrary yaw that would be wrong here. false: the heading comes from the GPS "
        "track once the car moves (align_* parameters)",
    )
    imu_orientation_yaw_std_rad: float = param(
        0.035,
        unit="rad",
        gt=0.0,
        desc="Std of the IMU orientation yaw (2 deg: AHRS heading accuracy with margin)",
    )
    imu_orientation_yaw_rate_hz: float = param(
        1.0,
        unit="Hz",
        ge=0.0,
        desc="Rate at which the IMU orientation yaw is fused (0: start only); low because an AHRS yaw "
        "error is correlated over seconds (magnetic disturbances): fusing every sample as independent "
        "would make the heading far too confident",
    )
    imu_yaw_offset_rad: float = param(
        0.0,
        unit="rad",
        desc="Added to the IMU orientation's yaw before use (robot_localization's yaw_offset): an AHRS "
        "whose yaw reads 0 facing north or magnetic north-east needs pi/2 or its mounting here",
    )
    magnetic_declination_rad: float = param(
        0.0,
        unit="rad",
        desc="Magnetic declination at the site, added to the IMU orientation's yaw (east of true north "
        "positive; robot_localization's magnetic_declination_radians): a magnetometer AHRS points to "
        "magnetic north, ENU wants true north",
    )
    imu_yaw_bias_init_std_rad: float = param(
        0.0,
        unit="rad",
        ge=0.0,
        desc="Std of an unknown constant-ish offset of the IMU orientation yaw (magnetic disturbance by "
        "the robot's own motors and steel, an imprecise imu_yaw_offset_rad); > 0 estimates it as a slow "
        "bias from the innovations (the AHRS yaw then counts as yaw + bias); 0: no bias estimate",
    )
    imu_yaw_bias_walk_rad_sqrt_s: float = param(
        0.0,
        unit="rad/sqrt(s)",
        ge=0.0,
        desc="Random walk of that yaw bias (the disturbance changes as the robot moves near steel)",
    )
    init_gyro_bias_std_rad_s: float = param(
        1.0e-3,
        unit="rad/s",
        gt=0.0,
        desc="Initial gyro bias std: turn-on bias repeatability, 1 sigma (0.057 deg/s)",
    )
    init_accel_bias_std_mps2: float = param(
        0.02,
        unit="m/s^2",
        gt=0.0,
        desc="Initial accelerometer bias std: turn-on bias repeatability, 1 sigma (2 mg)",
    )
    init_imu_samples: int = param(10, unit="1", ge=1, desc="IMU samples averaged for the initial roll/pitch")
    init_max_gps_imu_dt_s: float = param(
        0.5,
        unit="s",
        gt=0.0,
        desc="IMU is kept before init: a first fix up to this much older than the newest IMU sample still "
        "starts the filter at its own stamp (latency)",
    )

    # GPS.
    gps_gate_prob: float = param(
        0.999,
        unit="1",
        gt=0.0,
        le=1.0,
        desc="Chi-square (3 dof) gate probability of a fix; 1 disables gating",
    )
    gps_min_std_m: float = param(0.05, unit="m", gt=0.0, desc="Floor on each axis of the fix covariance")
    gps_fallback_std_m: float = param(
        5.0, unit="m", gt=0.0, desc="Fix std used when its covariance is unusable"
    )
    gps_reinit_after_rejections: int = param(
        25, unit="1", ge=0, desc="Consecutive gated fixes after which the position is re-seeded; 0: never"
    )
    gnss_steps: bool = param(
        False,
        unit="",
        desc="On in config/robot.yaml (passed its sixth pre-registered validation, docs/ego.md), off "
        "for the car (urban not better): multipath jumps told by their steps (ego/gnss_steps.py): a "
        "fix that steps away from the recent fixes, the dead-reckoned motion taken out, by more than "
        "their own fix-to-fix noise (learnt) opens a multipath episode whatever the chi2 gate says, "
        "held until a step back; a step back from a jump the filter had taken re-seeds the position "
        "there. Needs wheel_scale_std > 0; false: the gate and the wheel-track tests alone",
    )
    datum: tuple[float, ...] = param(
        NAN3,
        unit="deg, deg, m",
        length=3,
        nan="the first fix",
        desc="ENU origin (latitude, longitude, altitude)",
    )

    # Pseudo-measurements, applied at constraint_rate_hz.
    constraint_rate_hz: float = param(
        10.0, unit="Hz", gt=0.0, desc="Rate of the NHC and standstill pseudo-measurements"
    )
    use_nhc: bool = param(
        True, unit="", desc="Non-holonomic constraint (car): zero lateral and vertical body velocity"
    )
    nhc_lateral_std_mps: float = param(
        0.1, unit="m/s", gt=0.0, desc="NHC: std of the zero lateral body velocity"
    )
    nhc_vertical_std_mps: float = param(
        0.1, unit="m/s", gt=0.0, desc="NHC: std of the zero vertical body velocity"
    )
    use_zupt: bool = param(
        True,
        unit="",
        desc="Standstill updates (zero velocity and angular rate) when the IMU is quiet over zupt_window_s, "
        "the estimated acceleration ~ 0 and the filter speed and its std are low (so cruising at constant "
        "speed never looks like standstill)",
    )
    zupt_window_s: float = param(
        0.5, unit="s", gt=0.0, desc="Standstill: time constant of the IMU statistics"
    )
    zupt_accel_std_mps2: float = param(
        0.15, unit="m/s^2", gt=0.0, desc="Standstill: largest accelerometer std over the window"
    )
    zupt_gyro_rate_rad_s: float = param(0.01, unit="rad/s", gt=0.0, desc="Standstill: largest gyro rate")
    zupt_max_speed_mps: float = param(0.2, unit="m/s", gt=0.0, desc="Standstill: largest filter speed")
    zupt_max_accel_mps2: float = param(
        0.2, unit="m/s^2", gt=0.0, desc="Standstill: largest estimated acceleration |R (a - ba) + g|"
    )
    zupt_max_speed_std_mps: float = param(
        1.0, unit="m/s", gt=0.0, desc="Standstill: largest filter speed std"
    )
    zupt_velocity_std_mps: float = param(
        0.02, unit="m/s", gt=0.0, desc="Standstill: std of the zero-velocity update"
    )

    # Yaw alignment from the GPS course (see EgoEstimator docs).
    align_min_speed_mps: float = param(
        3.0,
        unit="m/s",
        gt=0.0,
        desc="GPS-course alignment: slowest speed (filter, and between the two fixes)",
    )
    align_baseline_s: float = param(
        2.0,
        unit="s",
        gt=0.0,
        desc="GPS-course alignment: the two fixes of a course are at least this far apart",
    )
    align_window_s: float = param(
        5.0, unit="s", gt=0.0, desc="GPS-course alignment: only fixes this recent give a course"
    )
    align_max_std_rad: float = param(
        0.1,
        unit="rad",
        gt=0.0,
        desc="GPS-course alignment: accept the course estimate when its std is this good",
    )
    align_min_std_rad: float = param(0.02, unit="rad", gt=0.0, desc="Floor on the yaw std after alignment")
    align_track_window_s: float = param(
        30.0,
        unit="s",
        gt=0.0,
        desc="Odometry-track alignment (wheel odometry before the heading is known): fixes and wheel "
        "speeds this recent form the track matched to the GPS positions",
    )
    align_min_baseline_sigmas: float = param(
        10.0,
        unit="1",
        gt=0.0,
        desc="Odometry-track alignment: the dead-reckoned track must span at least this many fix "
        "stds (horizontal). Against white fix noise the heading std alone would decide; real GNSS "
        "errors are correlated over tens of seconds, so averaging many fixes over a short track "
        "does not help: the worst case is independent errors at the track's ends, sqrt(2) sigma / "
        "span = 0.14 rad at 10 sigma, which the yaw std then carries (see docs/ego.md)",
    )
    align_gnss_velocity_min_speed_mps: float = param(
        0.3,
        unit="m/s",
        gt=0.0,
        desc="GNSS-velocity alignment: slowest horizontal speed whose course is taken as the heading "
        "(and its std must be below align_max_std_rad); below it (stops, turns on the spot) the course "
        "is noise",
    )
    wheel_zero_speed_mps: float = param(
        0.02,
        unit="m/s",
        ge=0.0,
        desc="Wheel odometry at or below this speed counts as standing still: before the heading is "
        "known it then fixes the whole horizontal velocity to zero (heading-free); encoder resolution",
    )
    wheel_fallback_std_mps: float = param(
        0.1,
        unit="m/s",
        gt=0.0,
        desc="Wheel-odometry velocity std when the message's twist covariance is absent, zero or NaN "
        "(skid-steer: ~5-10 % slip at 1 m/s)",
    )
    wheel_scale_std: float = param(
        0.05,
        unit="1",
        ge=0.0,
        le=0.3,
        desc="Prior std of the wheel-odometry scale error (wheel distance / true distance - 1): the "
        "effective rolling radius varies 1-3 % with tyre pressure, load and wear, and a driving wheel's "
        "longitudinal slip adds a few per cent on grass or gravel. > 0 estimates the scale from the "
        "GNSS displacement over wheel_scale_window_s (ego/wheel_scale.py; estimate clipped to 3 stds); "
        "0: wheel speed fused as unbiased",
    )
    wheel_scale_mean: float = param(
        0.0,
        unit="1",
        ge=-0.1,
        le=0.2,
        desc="Prior mean of that scale error. Wheels over-read on average: a loaded tyre rolls on a radius "
        "about 1 % under its nominal one, and a driving wheel slips forward to overcome rolling resistance "
        "(rolling resistance over slip stiffness: ~0.1 % on asphalt, 2-5 % on grass or gravel); "
        "config/robot.yaml takes 0.02. 0: none assumed until the fit finds it",
    )
    wheel_scale_window_s: float = param(
        120.0,
        unit="s",
        gt=0.0,
        desc="Wheel-scale fit window: fixes and wheel track of this long are fitted (long against the "
        "GNSS error's correlation time of about a minute; short against terrain and tyre temperature)",
    )
    wheel_slip_slope_std: float = param(
        0.5,
        unit="1",
        ge=0.0,
        le=3.0,
        desc="Prior std of the wheel slip per sine of the climb (c in wheel / true distance = 1 + s + "
        "c sin(climb), signed: uphill pulls, downhill brakes), fitted with the wheel scale from the GNSS "
        "displacement: on grass, soil or gravel a tyre's traction coefficient rises by 1-3 per unit "
        "slip (Janosi-Hanamoto, contact length 0.1-0.2 m over shear modulus 1.5-4 cm, peak 0.5-0.8), "
        "and a slope asks sin(climb) of it, so c ~ 0.3-0.8 (asphalt ~0.05). Needs wheel_scale_std > 0; "
        "0: scale only",
    )
    wheel_slip_slope_mean: float = param(
        0.0,
        unit="1",
        ge=0.0,
        le=2.0,
        desc="Prior mean of that slip per sine of the climb. c >= 0 (the slip follows the traction force's "
        "sign): about 0.05 for a tyre on asphalt, 0.3-0.8 on grass, soil or gravel; config/robot.yaml "
        "takes 0.4, the middle. 0: none assumed until the fit finds it",
    )
    gnss_velocity_fallback_std_mps: float = param(
        0.2,
        unit="m/s",
        gt=0.0,
        desc="GNSS velocity std when the message's covariance is absent, zero or NaN (Doppler "
        "velocity of a single-frequency receiver: 0.05-0.1 m/s open sky, x2)",
    )
    unalign_yaw_std_rad: float = param(
        0.5, unit="rad", gt=0.0, desc="Yaw std above this: realign from the GPS course"
    )

    # Time handling.
    history_window_s: float = param(1.0, unit="s", gt=0.0, desc="Rollback window for late fixes and pose_at")
    max_imu_dt_s: float = param(0.1, unit="s", gt=0.0, desc="Larger IMU gaps are counted (imu_gap)")
    imu_gap_reset_s: float = param(2.0, unit="s", gt=0.0, desc="An IMU gap this long resets the filter")
    time_jump_reset_s: float = param(0.5, unit="s", gt=0.0, desc="IMU this far in the past resets the filter")
    pose_extrapolation_s: float = param(
        0.02, unit="s", ge=0.0, desc="pose_at may extrapolate this far past the newest state"
    )

    @property
    def has_datum(self) -> bool:
        """False while ``datum`` is the NaN default (the first fix sets it)."""
        return self.datum is not None and not all(math.isnan(x) for x in self.datum)

    def cross_checks(self) -> list[str]:
        out = []
        if self.imu_gap_reset_s <= self.max_imu_dt_s:
            out.append("imu_gap_reset_s: must be > max_imu_dt_s")
        if self.align_window_s < self.align_baseline_s:
            out.append("align_window_s: must be >= align_baseline_s")
        if self.align_min_std_rad > self.align_max_std_rad:
            out.append("align_min_std_rad: must be <= align_max_std_rad")
        if self.gnss_steps and self.wheel_scale_std <= 0.0:
            out.append("gnss_steps: needs wheel_scale_std > 0 (the multipath episodes it opens)")
        if self.wheel_scale_mean != 0.0 and self.wheel_scale_std <= 0.0:
            out.append("wheel_scale_mean: needs wheel_scale_std > 0 (0 turns the scale off, its mean too)")
        if self.has_datum:
            lat, lon, _ = self.datum
            if any(math.isnan(x) for x in self.datum):
                out.append(f"datum: all three NaN (the first fix) or none, got {self.datum!r}")
            elif not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 360.0):
                out.append(f"datum: latitude/longitude out of range: {self.datum!r}")
        return out
