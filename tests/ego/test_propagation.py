"""IMU propagation (ego/propagation.py): readings into base_link through the mounting and its
lever arm, the heading of an IMU orientation output, the prediction step against the numpy
reference; then a lever-armed IMU on the simulated drive."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_fusion.core.geometry import make_transform, matrix_to_quat, rpy_to_matrix
from sensor_fusion.ego import eskf
from sensor_fusion.ego._kernels import noise_start
from sensor_fusion.ego.config import EgoConfig
from sensor_fusion.ego.propagation import NOISE_WINDOW_S, Propagator, valid_orientation
from tests.ego.test_estimator import T_BASE_IMU, G, errors_after, run_filter, simulate
from tests.ego.test_state import make_state

CFG = EgoConfig().validate()
R_BI = rpy_to_matrix(0.2, -0.3, 2.0)
LEVER = np.array([1.5, -0.6, 0.4])
STEP = 10_000_000


def test_to_base_rotates_the_readings():
    prop = Propagator(CFG, make_transform(R_BI, np.zeros(3)))
    w, a = np.array([0.1, -0.2, 0.3]), np.array([0.5, 1.0, 9.0])
    wb, ab = prop.to_base(w, a, STEP, (0, np.zeros(3)))
    np.testing.assert_allclose(wb, R_BI @ w, atol=1e-15)
    np.testing.assert_allclose(ab, R_BI @ a, atol=1e-15)


def test_to_base_removes_the_lever_arm_terms():
    """Base origin at rest, turning about z (and speeding up the turn): the IMU 1.6 m away
    feels centripetal and tangential forces; base_link gets gravity alone back. A previous
    sample too old for a rate difference leaves the tangential term in."""
    prop = Propagator(CFG, make_transform(R_BI, LEVER))
    f_base = np.array([0.0, 0.0, G])
    w0, w1 = np.array([0.0, 0.0, 0.4]), np.array([0.0, 0.0, 0.5])
    dw = (w1 - w0) / (STEP / 1e9)
    f_imu = f_base + np.cross(w1, np.cross(w1, LEVER)) + np.cross(dw, LEVER)  # base axes, at the IMU
    w_i, a_i = R_BI.T @ w1, R_BI.T @ f_imu
    t = 5 * STEP
    wb, ab = prop.to_base(w_i, a_i, t, (t - STEP, w0))
    np.testing.assert_allclose(wb, w1, atol=1e-15)
    np.testing.assert_allclose(ab, f_base, atol=1e-12)
    _, ab_old = prop.to_base(w_i, a_i, t, (t - 10 * CFG.max_imu_dt_s * 1e9, w0))
    np.testing.assert_allclose(ab_old, f_base + np.cross(dw, LEVER), atol=1e-12)


def test_base_yaw_of_an_imu_orientation_output():
    prop = Propagator(CFG, make_transform(R_BI, LEVER))
    for yaw in (-3.0, -0.5, 0.0, 1.0, 3.1):
        q_wi = matrix_to_quat(rpy_to_matrix(0.0, 0.0, yaw) @ R_BI)  # R_wi = R_wb R_bi
        assert prop.base_yaw(q_wi * 2.0) == pytest.approx(yaw, abs=1e-12)  # any norm
    assert valid_orientation(np.array([0.0, 0.0, 0.0, 1.0]))
    assert not valid_orientation(None) and not valid_orientation(np.zeros(4))
    assert not valid_orientation(np.array([0.0, 0.0, np.nan, 1.0])) and not valid_orientation(np.ones(3))


def test_propagate_equals_the_reference_step():
    """The numba step == eskf.imu_propagate with P = F P F' + Q from ``matrices`` (noise
    densities in the right slots, or the measured noise where it is larger); unaligned, yaw is
    decoupled; the IMU statistics move towards the reading with weight dt / zupt_window_s."""
    cfg = EgoConfig(gyro_noise_rad_s_sqrt_hz=3e-4, accel_bias_walk_mps3_sqrt_hz=1e-3).validate()
    prop = Propagator(cfg, np.eye(4))
    w1, a1 = np.array([0.01, -0.02, 0.3]), np.array([1.0, 0.5, G + 0.2])
    for aligned, shaken in ((True, False), (False, False), (True, True)):
        s = make_state(v=(8.0, -3.0, 0.1), rpy=(0.05, -0.02, 1.0), w=(0.0, 0.0, 0.25), aligned=aligned)
        s.imu_mean = np.zeros(6)
        # the last sample: this reading (no measured noise) or one far from it (shaken)
        s.imu_noise = noise_start(np.zeros(6) if shaken else np.concatenate([w1, a1]))
        t = s.t_ns + STEP
        F, Q = prop.matrices(s, t, w1, a1)
        p1, v1, q1, _, _ = eskf.imu_propagate(
            s.p, s.v, s.q, s.ba, s.bg, s.w_meas, s.a_meas, w1, a1, 0.01, prop.g
        )
        P_ref = F @ s.P @ F.T + Q
        s1 = s.copy()
        prop.propagate(s1, t, w1, a1)
        np.testing.assert_allclose(s1.p, p1, atol=1e-13)
        np.testing.assert_allclose(s1.v, v1, atol=1e-13)
        np.testing.assert_allclose(s1.q, q1, atol=1e-14)
        assert s1.t_ns == t and s1.dt_s == pytest.approx(0.01) and s1.w_meas is w1
        if aligned:
            np.testing.assert_allclose(s1.P, P_ref, rtol=1e-10, atol=1e-14)
            assert Q[9, 9] == pytest.approx(1e-6 * 0.01)
            measured = 0.5 * 0.3**2 * 0.01 * (0.01 / NOISE_WINDOW_S)  # yaw rate 0 -> 0.3 rad/s
            gyro_q = 2 * 3e-4**2 + measured if shaken else 3 * 3e-4**2
            assert Q[6:9, 6:9].trace() / 0.01 == pytest.approx(gyro_q)
        else:
            assert not np.delete(s1.P[8], 8).any() and s1.P[3, 3] > P_ref[3, 3]
        alpha = 0.01 / cfg.zupt_window_s
        np.testing.assert_allclose(s1.imu_mean, alpha * np.concatenate([w1, a1]), rtol=1e-12)


def test_imu_lever_arm():
    """IMU 1.6 m from base_link on the S-curve: centripetal and angular-acceleration terms.

    Without the dw/dt x r term the unmodelled lateral force leaks into roll and z (1.5 m here)."""
    T_bi = make_transform(T_BASE_IMU[:3, :3], np.array([1.5, -0.6, 0.4]))
    sim = simulate(60.0, "s_curve", seed=7, T_base_imu=T_bi)
    run = run_filter(sim, T_base_imu=T_bi)
    e, ey, _, _ = errors_after(sim, run, 30.0)
    rmse = np.sqrt(np.mean(e**2, axis=0))
    assert np.sqrt(np.sum(rmse**2)) < 0.8
    assert rmse[2] < 0.3
    assert math.degrees(np.sqrt(np.mean(ey**2))) < 1.0
