"""Error-state maths (ego/eskf.py): Jacobians against finite differences, quaternion helpers."""

from __future__ import annotations

import numpy as np

from sensor_fusion.core.geometry import matrix_to_quat, quat_to_matrix, rpy_to_matrix
from sensor_fusion.ego import eskf
from tests.ego.test_estimator import G


def test_eskf_jacobian_matches_finite_differences():
    rng = np.random.default_rng(3)
    p, v = rng.normal(size=3), rng.normal(size=3) * 5
    q = matrix_to_quat(rpy_to_matrix(0.1, -0.2, 2.0))
    ba, bg = rng.normal(size=3) * 0.1, rng.normal(size=3) * 0.01
    w0, w1 = rng.normal(size=3), rng.normal(size=3)
    a0, a1 = rng.normal(size=3) + [0, 0, G], rng.normal(size=3) + [0, 0, G]
    g, dt = np.array([0, 0, -G]), 0.01
    p1, v1, q1, F, _ = eskf.imu_propagate(p, v, q, ba, bg, w0, a0, w1, a1, dt, g)
    eps = 1e-6
    Fn = np.zeros((15, 15))
    for j in range(15):
        d = np.zeros(15)
        d[j] = eps
        qp = eskf.quat_mul(eskf.quat_exp(d[6:9]), q)
        pp, vp, qq, _, _ = eskf.imu_propagate(
            p + d[0:3], v + d[3:6], qp, ba + d[9:12], bg + d[12:15], w0, a0, w1, a1, dt, g
        )
        dth = eskf.quat_log(eskf.quat_mul(qq, eskf.quat_conj(q1)))
        Fn[:, j] = np.concatenate([pp - p1, vp - v1, dth, d[9:12], d[12:15]]) / eps
    # F is exact up to O(dt^3) terms (p wrt bg) and O(|w dt|^2) in the attitude blocks.
    np.testing.assert_allclose(F, Fn, atol=2e-6)


def test_rpy_jacobian_matches_finite_differences():
    q = matrix_to_quat(rpy_to_matrix(0.2, -0.3, 2.5))
    J = eskf.rpy_jacobian(q)
    r0 = np.array(eskf.rpy_from_quat(q))
    Jn = np.zeros((3, 3))
    for j in range(3):
        d = np.zeros(3)
        d[j] = 1e-7
        Jn[:, j] = (np.array(eskf.rpy_from_quat(eskf.quat_mul(eskf.quat_exp(d), q))) - r0) / 1e-7
    np.testing.assert_allclose(J, Jn, atol=1e-5)


def test_quaternion_helpers_agree_with_core_geometry():
    rng = np.random.default_rng(1)
    for _ in range(20):
        rpy = rng.uniform(-1.5, 1.5, 3)
        q = eskf.quat_from_rpy(*rpy)
        np.testing.assert_allclose(eskf.quat_to_rot(q), rpy_to_matrix(*rpy), atol=1e-12)
        np.testing.assert_allclose(quat_to_matrix(q), rpy_to_matrix(*rpy), atol=1e-12)
        phi = rng.normal(size=3)
        np.testing.assert_allclose(eskf.quat_to_rot(eskf.quat_exp(phi)), eskf.so3_exp(phi), atol=1e-12)
        np.testing.assert_allclose(eskf.quat_log(eskf.quat_exp(phi * 0.5)), phi * 0.5, atol=1e-12)
