"""A slow skid-steer robot for the ego tests: analytic speed / yaw-rate profile on flat ground,
IMU at 30 Hz mounted rotated (gravity on the IMU's y axis), GPS at 2.5 Hz with 0.9 m white
noise, wheel odometry at 10 Hz (scale error, noise), an optional AHRS orientation output and
GNSS Doppler velocity. The IMU is exact (gyro (0, 0, r), specific force (ds/dt, s r, g) in
base_link) plus white noise and constant biases, as in test_estimator's simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sensor_fusion.core.geodesy import enu_to_geodetic
from sensor_fusion.core.geometry import make_transform, matrix_to_quat, rpy_to_matrix
from sensor_fusion.core.types import GpsFix, ImuSample
from sensor_fusion.ego.config import EgoConfig

G = 9.80665
DATUM = (48.137, 11.575, 520.0)
NS = 1_000_000_000
T0_NS = 1_700_000_000 * NS
IMU_HZ = 30
GPS_HZ = 2.5
WHEEL_HZ = 10
GPS_STD = 0.9
# base z (up) is the IMU's y axis; the IMU's x points to base_link's left
T_BASE_IMU = make_transform(rpy_to_matrix(math.pi / 2, 0.0, math.pi / 2), np.array([0.1, 0.0, 0.3]))
T_BASE_GPS = make_transform(np.eye(3), np.array([-0.2, 0.1, 0.6]))
GYRO_ND, ACCEL_ND = 5e-4, 2e-3  # consumer MEMS
GYRO_BIAS = np.array([0.001, -0.002, 0.0015])
ACCEL_BIAS = np.array([0.03, -0.02, 0.04])
WHEEL_STD = 0.05


def robot_config(**kw) -> EgoConfig:
    """The filter for this simulated IMU (biases within the priors), robot-style settings."""
    base = dict(
        datum=DATUM,
        gyro_noise_rad_s_sqrt_hz=GYRO_ND,
        accel_noise_mps2_sqrt_hz=ACCEL_ND,
        gyro_bias_walk_rad_s2_sqrt_hz=1e-5,
        accel_bias_walk_mps3_sqrt_hz=2e-4,
        init_gyro_bias_std_rad_s=0.003,
        init_accel_bias_std_mps2=0.05,
        init_velocity_std_mps=2.0,
        max_imu_dt_s=0.1,
        zupt_gyro_rate_rad_s=0.02,
    )
    base.update(kw)
    return EgoConfig(**base)


def _smooth(t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    x = np.clip((t - t0) / (t1 - t0), 0.0, 1.0)
    return 3 * x**2 - 2 * x**3


def profile(t: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Speed (m/s) and yaw rate (rad/s). 'yard': rest 3 s, 1 m/s straight, stop at 20-26 s with
    a turn on the spot (0.5 rad/s for ~3 s), gentle curves, a second stop at 60-65 s.
    'spin': rest 3 s, then turns on the spot only (never translates). 'fast': rest 3 s, then
    4 m/s (fast enough for the GPS-course alignment) with gentle curves from 10 s."""
    if kind == "spin":
        return np.zeros_like(t), 0.4 * (_smooth(t, 3.0, 4.0) - _smooth(t, 40.0, 41.0))
    if kind == "fast":
        return 4.0 * _smooth(t, 3.0, 6.0), 0.05 * np.sin(2 * np.pi * (t - 10.0) / 30.0) * (t > 10.0)
    s = _smooth(t, 3.0, 5.0) - _smooth(t, 18.0, 20.0) + _smooth(t, 26.0, 28.0)
    s -= _smooth(t, 58.0, 60.0) - _smooth(t, 65.0, 67.0)
    r = 0.5 * (_smooth(t, 21.0, 21.5) - _smooth(t, 24.0, 24.5))
    r += 0.15 * np.sin(2 * np.pi * (t - 28.0) / 20.0) * (t > 28.0) * s
    return s, r


@dataclass
class RobotSim:
    t: np.ndarray  # (M,) s, IMU stamps
    stamps: np.ndarray  # (M,) ns
    pos: np.ndarray  # (M, 3)
    yaw: np.ndarray  # (M,)
    speed: np.ndarray  # (M,)
    imu: list[ImuSample]
    gps: list[GpsFix]
    wheel: list[tuple[int, np.ndarray, np.ndarray]]  # (stamp, body velocity, covariance)
    gnss_vel: list[tuple[int, np.ndarray, np.ndarray]]  # (stamp, ENU antenna velocity, cov)


def simulate(
    duration: float = 80.0,
    kind: str = "yard",
    seed: int = 0,
    yaw0: float = 2.0,
    ahrs_yaw_error: float | None = None,
    ahrs_glitch: tuple[float, float, float] | None = None,
    wheel_scale: float = 1.02,
    gps_jump: tuple[float, float, float, float] | None = None,
    vibration: float = 0.0,
) -> RobotSim:
    """``ahrs_yaw_error``: when given, each IMU sample carries an orientation output whose yaw is
    the IMU's true yaw plus that error (rad); ``ahrs_glitch`` ``(t0, t1, rad)`` adds a magnetic
    disturbance over [t0, t1). ``wheel_scale``: wheel speed / true speed. ``gps_jump``
    ``(t0, t1, east, north)``: a multipath jump (m) of the fixes over [t0, t1). ``vibration``:
    chassis shake per sample, base axes, times the wheels' ground speed (m/s; a turn on the spot
    counts its wheels, 0.3 m from the centre): accelerometer (0.5, 0.5, 1.0) m/s^2 and gyro
    (0.05, 0.05, 0.02) rad/s at 1 m/s and ``vibration`` 1 (the generator's robot, sim/inertial.py);
    its own random stream, so the other numbers do not move."""
    rng = np.random.default_rng(seed)
    sub = 20
    tf = np.arange(int(duration * IMU_HZ * sub) + 1) / (IMU_HZ * sub)
    s, r = profile(tf, kind)
    dtf = tf[1] - tf[0]
    yaw = yaw0 + np.concatenate([[0.0], np.cumsum(0.5 * (r[1:] + r[:-1]) * dtf)])
    vel = np.stack([s * np.cos(yaw), s * np.sin(yaw), np.zeros_like(s)], axis=1)
    pos = np.concatenate([np.zeros((1, 3)), np.cumsum(0.5 * (vel[1:] + vel[:-1]) * dtf, axis=0)])
    ds = np.gradient(s, dtf)
    dr = np.gradient(r, dtf)
    k = slice(None, None, sub)
    t, pos, yaw, vel, s, ds, r, dr = tf[k], pos[k], yaw[k], vel[k], s[k], ds[k], r[k], dr[k]
    stamps = np.round(t * NS).astype(np.int64) + T0_NS

    R_bi, lev = T_BASE_IMU[:3, :3], T_BASE_IMU[:3, 3]
    gyro_b = np.stack([np.zeros_like(r), np.zeros_like(r), r], axis=1)
    acc_b = np.stack([ds, s * r, np.full_like(s, G)], axis=1)
    alpha = np.stack([np.zeros_like(dr), np.zeros_like(dr), dr], axis=1)
    acc_b += np.cross(gyro_b, np.cross(gyro_b, lev)) + np.cross(alpha, lev)
    sq = math.sqrt(IMU_HZ)
    gyro_i = gyro_b @ R_bi + GYRO_BIAS + rng.normal(0, GYRO_ND * sq, gyro_b.shape)
    acc_i = acc_b @ R_bi + ACCEL_BIAS + rng.normal(0, ACCEL_ND * sq, acc_b.shape)
    if vibration:
        vr = np.random.default_rng([seed, 7])
        u = vibration * (np.abs(s) + 0.3 * np.abs(r))[:, None]
        gyro_i += (vr.standard_normal(gyro_b.shape) * u * np.array([0.05, 0.05, 0.02])) @ R_bi
        acc_i += (vr.standard_normal(acc_b.shape) * u * np.array([0.5, 0.5, 1.0])) @ R_bi
    imu = []
    for i, st in enumerate(stamps):
        o = None
        if ahrs_yaw_error is not None:
            err = ahrs_yaw_error
            if ahrs_glitch is not None and ahrs_glitch[0] <= t[i] < ahrs_glitch[1]:
                err += ahrs_glitch[2]
            R_wb = rpy_to_matrix(0.0, 0.0, yaw[i] + err)
            o = matrix_to_quat(R_wb @ R_bi)  # world <- IMU
        imu.append(ImuSample(int(st), "imu", gyro_i[i], acc_i[i], o))

    gps_idx = np.arange(0, len(t), int(round(IMU_HZ / GPS_HZ)))
    lever = T_BASE_GPS[:3, 3]
    c, sn = np.cos(yaw[gps_idx]), np.sin(yaw[gps_idx])
    antenna = pos[gps_idx] + np.stack(
        [c * lever[0] - sn * lever[1], sn * lever[0] + c * lever[1], np.full_like(c, lever[2])], 1
    )
    noisy = antenna + rng.normal(0, GPS_STD, antenna.shape)
    if gps_jump is not None:
        jt = t[gps_idx]
        inside = (jt >= gps_jump[0]) & (jt < gps_jump[1])
        noisy[inside, :2] += np.array(gps_jump[2:4])
    lat, lon, alt = enu_to_geodetic(noisy[:, 0], noisy[:, 1], noisy[:, 2], *DATUM)
    cov = np.eye(3) * GPS_STD**2
    gps = [
        GpsFix(int(stamps[i]), "gps", float(lat[j]), float(lon[j]), float(alt[j]), cov)
        for j, i in enumerate(gps_idx)
    ]
    wheel = []
    wcov = np.diag([WHEEL_STD**2, WHEEL_STD**2, 1e6])  # vertical: not measured
    for i in range(0, len(t), IMU_HZ // WHEEL_HZ):
        v = np.array([wheel_scale * s[i] + rng.normal(0, 0.02), rng.normal(0, 0.02), 0.0])
        wheel.append((int(stamps[i]), v, wcov))
    gnss_vel = []
    gv_std = 0.05
    for i in gps_idx:
        w = np.array([0.0, 0.0, r[i]])
        ant = vel[i] + rpy_to_matrix(0.0, 0.0, yaw[i]) @ np.cross(w, lever)
        gnss_vel.append((int(stamps[i]), ant + rng.normal(0, gv_std, 3), np.eye(3) * gv_std**2))
    return RobotSim(t, stamps, pos, yaw, s, imu, gps, wheel, gnss_vel)
