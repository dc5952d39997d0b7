"""Wheel odometry of a skid-steer robot with slip: ``nav_msgs/Odometry`` as a robot's base driver sends.

Why these errors: a skid-steer base measures its wheels, not its motion. The forward speed carries
a per-run scale error (tyre radius, pressure: ``speed_scale_std``), a slip ratio that wanders
(Gauss-Markov ``slip_std``, ``slip_time_s``: the rolling resistance of grass or gravel, always
driving), one that follows the slope (``slope_slip_per_rad`` x the climb along the motion, its
factor drawn per run: :func:`slope_slip`), and white noise. The slope term is signed because
the traction force is: holding speed on a grade asks ``m g sin(climb)`` of the tyres, so uphill
they pull and spin ahead of the ground, downhill they brake and lag behind it. A tyre's slip is
its traction coefficient over its slip stiffness (1-3 per unit slip on soil or grass, ~20 on
asphalt: Wong, "Theory of Ground Vehicles", ch. 1-2). Before session 43 the slip grew uphill
only, as if the robot coasted down every slope unbraked, which would speed it up; the scenario's
speed profile does not.
The yaw rate from the wheel-speed difference depends on how much the tracks skid in a turn: the
effective track width differs from the geometric one by a per-run factor (``yaw_rate_scale_std``;
Mandow et al., "Experimental kinematics for wheeled skid-steer mobile robots", IROS 2007, measure
this ratio at 1.1-1.5 before calibration; a calibrated base keeps a few per cent).

The message carries the measured body twist (x forward, yaw rate) and the pose dead-reckoned from it
in the driver's own ``odom`` frame, starting at zero, as robot drivers do; covariances are what
such drivers report (fixed diagonal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass
class WheelOdometry:
    stamps_ns: np.ndarray  # (N,) int64
    speed: np.ndarray  # (N,) measured forward speed, m/s
    yaw_rate: np.ndarray  # (N,) measured yaw rate, rad/s
    x: np.ndarray  # (N,) dead-reckoned pose in the driver's odom frame, m
    y: np.ndarray
    yaw: np.ndarray  # rad
    twist_cov: np.ndarray  # (6, 6)
    pose_cov: np.ndarray  # (6, 6)
    true_speed: np.ndarray  # (N,) for tests

    def __len__(self) -> int:
        return int(self.stamps_ns.shape[0])


def slope_slip(value, rng: np.random.Generator) -> float:
    """This run's slip per radian of climb: ``value`` itself, or drawn uniformly from ``[min,
    max]``. It is the terrain's: slip over traction coefficient, the inverse of the tyre's slip
    stiffness, about 0.05 on asphalt and 0.3-0.8 on grass, soil or gravel (Janosi-Hanamoto), so
    the default range draws a different ground for every run rather than one value a filter
    could learn as a constant."""
    if isinstance(value, (list, tuple)):
        return float(rng.uniform(float(value[0]), float(value[1])))
    return float(value)


def simulate_wheel_odometry(
    world, stamps_ns: np.ndarray, cfg: Mapping, rng: np.random.Generator
) -> WheelOdometry:
    """Wheel odometry at ``stamps_ns`` from the world's ego motion (module docstring)."""
    st = np.asarray(stamps_ns, dtype=np.int64)
    n = len(st)
    e = world.ego_arrays(st)
    v_true = np.asarray(e["speed"], dtype=np.float64)
    w_true = np.asarray(e["omega_body"][:, 2] if "omega_body" in e else e["yaw_rate"], dtype=np.float64)
    pitch = np.asarray(e.get("pitch", np.zeros(n)), dtype=np.float64)
    scale = 1.0 + float(cfg["speed_scale_std"]) * rng.standard_normal()
    w_scale = 1.0 + float(cfg["yaw_rate_scale_std"]) * rng.standard_normal()
    dt = np.diff(st).astype(np.float64) * 1e-9
    wn = rng.standard_normal(n)
    slip = np.zeros(n)
    if n:
        phi = np.exp(-dt / max(float(cfg["slip_time_s"]), 1e-9))
        slip[0] = wn[0]
        for k in range(1, n):  # Gauss-Markov slip ratio, one step per message
            slip[k] = phi[k - 1] * slip[k - 1] + np.sqrt(1.0 - phi[k - 1] ** 2) * wn[k]
        slip = np.abs(slip) * float(cfg["slip_std"])  # wheels turn more than the body moves
    sv, sw = float(cfg["speed_noise_mps"]), float(cfg["yaw_rate_noise_rps"])
    v_noise = sv * rng.standard_normal(n)
    w_noise = sw * rng.standard_normal(n)
    # climb along the motion: nose up is negative pitch (about y, z up, x forward), negated when
    # reversing; uphill spins the wheels ahead (+), downhill braking holds them back (-)
    climb = -pitch * np.where(v_true < 0.0, -1.0, 1.0)
    slip += slope_slip(cfg["slope_slip_per_rad"], rng) * climb  # drawn last: the noise above is as before
    v = v_true * scale * (1.0 + slip) + v_noise
    w = w_true * w_scale + w_noise
    yaw = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]) * dt)])
    h = yaw[:-1] + 0.5 * (w[:-1] * dt)  # midpoint heading per step
    step = 0.5 * (v[1:] + v[:-1]) * dt
    x = np.concatenate([[0.0], np.cumsum(step * np.cos(h))])
    y = np.concatenate([[0.0], np.cumsum(step * np.sin(h))])
    twist_cov = np.diag([sv**2 + (0.05 * 1.0) ** 2, 1e-4, 1e6, 1e6, 1e6, sw**2 + 0.02**2])
    pose_cov = np.diag([1e-3, 1e-3, 1e6, 1e6, 1e6, 1e-2])
    return WheelOdometry(st, v, w, x, y, np.arctan2(np.sin(yaw), np.cos(yaw)), twist_cov, pose_cov, v_true)
