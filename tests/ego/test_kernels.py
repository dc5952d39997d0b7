"""numba kernels (ego/_kernels.py) against the numpy reference maths in ego/eskf.py."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.geometry import matrix_to_quat, rpy_to_matrix
from sensor_fusion.ego import eskf
from sensor_fusion.ego._kernels import (
    NOISE_BN,
    NOISE_BSUM,
    NOISE_BVAR,
    NOISE_DVAR,
    NOISE_LEN,
    NOISE_PREV,
    noise_start,
    noise_update,
    predict_step,
    update_step,
)
from tests.ego.test_estimator import G


def test_numba_kernel_equals_numpy_reference():
    rng = np.random.default_rng(4)
    for unaligned in (False, True):
        p, v = rng.normal(size=3), rng.normal(size=3) * 5
        q = matrix_to_quat(rpy_to_matrix(*rng.uniform(-1, 1, 3)))
        ba, bg = rng.normal(size=3) * 0.1, rng.normal(size=3) * 0.01
        w0, w1, a0, a1 = (
            rng.normal(size=3),
            rng.normal(size=3),
            rng.normal(size=3) + 9,
            rng.normal(size=3) + 9,
        )
        A = rng.normal(size=(15, 15))
        P = A @ A.T
        g, dt = np.array([0, 0, -G]), 0.005
        nd = np.array([4e-4, 1e-6, 4e-8, 1e-10])
        m0, v0 = rng.normal(size=6), rng.uniform(size=6)
        lever = np.array([0.3, -0.2, 0.5])
        prev = rng.normal(size=6)
        p1, v1, q1, P1, m1, var1, noise1 = predict_step(
            p,
            v,
            q,
            ba,
            bg,
            P,
            w0,
            a0,
            w1,
            a1,
            dt,
            g,
            nd,
            unaligned,
            m0,
            v0,
            0.1,
            lever,
            noise_start(prev),
            dt,
            False,  # measured noise off: the reference has the densities alone
            np.array([0.1, 0.5, 0.1, 2.0]),
        )
        rp, rv, rq, F, _ = eskf.imu_propagate(p, v, q, ba, bg, w0, a0, w1, a1, dt, g)
        Pr = F @ P @ F.T + eskf.process_noise(dt, *np.sqrt(nd))
        if unaligned:
            ah = 0.5 * (eskf.quat_to_rot(q) @ (a0 - ba) + eskf.quat_to_rot(rq) @ (a1 - ba))[:2]
            Pr[3, 3] += ah @ ah * dt
            Pr[4, 4] += ah @ ah * dt
            d = Pr[8, 8]
            Pr[8, :] = Pr[:, 8] = 0.0
            Pr[8, 8] = d
        np.testing.assert_allclose(p1, rp, atol=1e-14)
        np.testing.assert_allclose(v1, rv, atol=1e-14)
        np.testing.assert_allclose(q1, rq, atol=1e-14)
        np.testing.assert_allclose(P1, Pr, rtol=1e-12, atol=1e-12)
        # the statistics see a1 with the lever arm's angular-acceleration term put back
        x = np.concatenate([w1, a1 + np.cross((w1 - w0) / dt, lever)])
        np.testing.assert_allclose(m1, m0 + 0.1 * (x - m0))
        np.testing.assert_allclose(var1, 0.9 * (v0 + 0.1 * (x - m0) ** 2))
        # the measured noise: half the squared step from the last sample, as a density squared
        np.testing.assert_allclose(noise1[NOISE_PREV : NOISE_PREV + 6], x)
        np.testing.assert_allclose(noise1[NOISE_DVAR : NOISE_DVAR + 6], dt / 0.5 * 0.5 * (x - prev) ** 2 * dt)


def test_measured_imu_noise_above_the_densities_is_the_process_noise_in_world_axes():
    """Where the measured noise (half the squared difference of consecutive samples, times the
    step) exceeds the configured density on a body axis, that axis's noise enters P rotated into
    the world (R diag R'); below it on every axis, P is exactly the configured one; off, too."""
    rng = np.random.default_rng(6)
    p, v = rng.normal(size=3), rng.normal(size=3)
    q = matrix_to_quat(rpy_to_matrix(0.3, -0.2, 1.1))
    z3 = np.zeros(3)
    w0 = w1 = np.array([0.0, 0.0, 0.1])
    a0 = a1 = np.array([0.0, 0.0, G])
    A = rng.normal(size=(15, 15))
    P = A @ A.T
    g, dt = np.array([0, 0, -G]), 1.0 / 30.0
    nd = np.array([9e-3, 5e-4, 1e-3, 1e-4]) ** 2
    m0 = np.concatenate([w0, a0])
    # gyro, accel (per sample)**2 * dt; the gyro's z axis under its configured density
    shake = np.array([0.02, 0.05, 1e-5, 0.5, 0.5, 1.0]) ** 2 * dt
    args = (p, v, q, z3, z3, P, w0, a0, w1, a1, dt, g, nd, False, m0, np.zeros(6), 0.1, z3)

    def P_with(dvar, on):
        noise = noise_start(m0)
        noise[NOISE_DVAR : NOISE_DVAR + 6] = dvar / (1 - dt / 0.5)  # what the update keeps of it
        return predict_step(*args, noise, dt, on, np.array([0.1, 0.5, 0.1, 2.0]))[3]

    base = P_with(np.zeros(6), True)
    np.testing.assert_array_equal(P_with(np.zeros(6), False), base)
    np.testing.assert_array_equal(P_with(shake, False), base)
    R = eskf.quat_to_rot(eskf.quat_mul(q, eskf.quat_exp(0.5 * dt * w0)))  # mid-step attitude
    P1 = P_with(shake, True)
    qg, qa = np.maximum(shake[:3], nd[1]), np.maximum(shake[3:], nd[0])
    expect = base.copy()
    expect[3:6, 3:6] += (R @ np.diag(qa) @ R.T - nd[0] * np.eye(3)) * dt
    expect[6:9, 6:9] += (R @ np.diag(qg) @ R.T - nd[1] * np.eye(3)) * dt
    np.testing.assert_allclose(P1, expect, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(P1, P1.T)


def test_numba_update_equals_numpy_reference():
    rng = np.random.default_rng(5)
    for freeze in (-1, eskf.YAW):
        A = rng.normal(size=(15, 15))
        P = A @ A.T * 0.1
        if freeze >= 0:
            d = P[8, 8]
            P[8, :] = P[:, 8] = 0.0
            P[8, 8] = d
        H = rng.normal(size=(2, 15))
        H[:, 8] = 0.0 if freeze >= 0 else H[:, 8]
        R, y = np.diag([0.3, 0.2]), rng.normal(size=2)
        p, v, ba, bg = (rng.normal(size=3) for _ in range(4))
        q = matrix_to_quat(rpy_to_matrix(0.1, 0.2, 0.3))
        ok, d2, dx, p1, v1, q1, ba1, bg1, P1 = update_step(p, v, q, ba, bg, P, H, R, y, np.inf, freeze)
        rdx, rP, rd2 = eskf.kalman_update(P, H, R, y, freeze=None if freeze < 0 else freeze)
        Gj = eskf.reset_jacobian(rdx[6:9])
        rP = Gj @ rP @ Gj.T
        if freeze >= 0:
            d = rP[8, 8]
            rP[8, :] = rP[:, 8] = 0.0
            rP[8, 8] = d
        assert ok and abs(d2 - rd2) < 1e-9 and abs(d2 - eskf.mahalanobis2(P, H, R, y)) < 1e-9
        np.testing.assert_allclose(dx, rdx, atol=1e-12)
        np.testing.assert_allclose(P1, rP, atol=1e-12)
        np.testing.assert_allclose(p1, p + rdx[0:3], atol=1e-14)
        np.testing.assert_allclose(bg1, bg + rdx[12:15], atol=1e-14)
        rq = eskf.quat_mul(eskf.quat_exp(rdx[6:9]), q)
        np.testing.assert_allclose(q1, rq / np.linalg.norm(rq), atol=1e-14)
        rejected = update_step(p, v, q, ba, bg, P, H, R, y, 0.5 * d2, freeze)
        assert not rejected[0] and rejected[8] is P


def test_noise_update_measures_white_and_correlated_imu_noise():
    """Sample to sample, the white variance; block to block (a Hadamard variance at 0.1 s), what an
    IMU that low-passes before decimating passes as correlated samples: AR(1) noise with
    correlation 0.5 hides half its variance from consecutive differences while integrating three
    times faster than white noise of the same variance; the block estimate sees it."""
    dt, n, sigma = 1.0 / 30.0, 60_000, 0.8
    rng = np.random.default_rng(8)

    def run(rho: float) -> tuple[float, float]:
        z = rng.standard_normal(n)
        x = np.empty(n)
        x[0] = z[0]
        for k in range(1, n):
            x[k] = rho * x[k - 1] + np.sqrt(1 - rho * rho) * z[k]
        x *= sigma
        noise, dv, bv = noise_start(np.zeros(6)), [], []
        for k in range(n):
            noise = noise_update(noise, np.full(6, x[k]), dt, 0.1, 0.5, 0.1, 2.0)
            dv.append(noise[NOISE_DVAR])
            bv.append(noise[NOISE_BVAR])
        return float(np.mean(dv[3000:])), float(np.mean(bv[3000:]))

    white = sigma**2 * dt
    d, b = run(0.0)
    assert d == pytest.approx(white, rel=0.05) and b == pytest.approx(white, rel=0.1)
    d, b = run(0.5)
    assert d == pytest.approx(0.5 * white, rel=0.05)  # 1 - rho of it
    # the Hadamard variance of 3-sample blocks of AR(1) noise, from its autocovariance rho^|k|
    gam = 0.5 ** np.abs(np.subtract.outer(np.arange(9), np.arange(9))) * sigma**2
    c = np.repeat([1.0, -2.0, 1.0], 3) / 3.0
    hvar = c @ gam @ c / 6.0
    assert b == pytest.approx(hvar * 3 * dt, rel=0.1) and b > 2 * d
    # an interpolated reading (step 0) changes nothing; after a gap (a step over max_dt) the
    # differences start again from it and the estimates carry on
    one = noise_start(np.ones(6))
    assert np.array_equal(noise_update(one, np.zeros(6), 0.0, 0.1, 0.5, 0.1, 2.0), one)
    full = np.arange(NOISE_LEN, dtype=float)
    after = noise_update(full, np.full(6, -1.0), 0.3, 0.1, 0.5, 0.1, 2.0)
    np.testing.assert_array_equal(after[NOISE_PREV : NOISE_PREV + 6], -1.0)
    np.testing.assert_array_equal(after[NOISE_DVAR : NOISE_DVAR + 6], full[NOISE_DVAR : NOISE_DVAR + 6])
    np.testing.assert_array_equal(after[NOISE_BVAR : NOISE_BVAR + 6], full[NOISE_BVAR : NOISE_BVAR + 6])
    assert after[NOISE_BN] == 0.0 and not after[NOISE_BSUM : NOISE_BSUM + 6].any()
