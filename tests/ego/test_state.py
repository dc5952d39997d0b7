"""Filter state, timed measurements and the shared correction step (ego/state.py).

``make_state`` and ``perturbed`` are shared with the other ego unit tests.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from filterpy.kalman import KalmanFilter

from sensor_fusion.ego import eskf
from sensor_fusion.ego.state import FilterState, Measurement, correct
from tests.ego.test_estimator import G


def make_state(
    t_ns: int = 1_000_000_000,
    p=(3.0, -2.0, 0.5),
    v=(0.0, 0.0, 0.0),
    rpy=(0.0, 0.0, 0.0),
    P: np.ndarray | None = None,
    aligned: bool = True,
    w=(0.0, 0.0, 0.0),
    a=(0.0, 0.0, G),
    ba=(0.0, 0.0, 0.0),
    bg=(0.0, 0.0, 0.0),
    dt_s: float = 0.01,
) -> FilterState:
    """A filter state with the given nominal values (P default: a random SPD matrix)."""
    if P is None:
        A = np.random.default_rng(0).normal(size=(15, 15)) * 0.1
        P = A @ A.T + 0.01 * np.eye(15)
    w, a = np.array(w, dtype=float), np.array(a, dtype=float)
    return FilterState(
        t_ns=t_ns,
        p=np.array(p, dtype=float),
        v=np.array(v, dtype=float),
        q=eskf.quat_from_rpy(*rpy),
        ba=np.array(ba, dtype=float),
        bg=np.array(bg, dtype=float),
        P=np.array(P, dtype=float),
        w_meas=w,
        a_meas=a,
        dt_s=dt_s,
        aligned=aligned,
        t_nhc_ns=t_ns,
        imu_mean=np.concatenate([w, a]),
        imu_var=np.zeros(6),
        imu_weight=1.0,  # the window has filled
    )


def perturbed(s: FilterState, dx: np.ndarray) -> FilterState:
    """``s`` with the error state ``dx`` injected (global angle error: ``q = Exp(dth) q``)."""
    out = s.copy()
    out.p = s.p + dx[0:3]
    out.v = s.v + dx[3:6]
    q = eskf.quat_mul(eskf.quat_exp(dx[6:9]), s.q)
    out.q = q / np.linalg.norm(q)
    out.ba = s.ba + dx[9:12]
    out.bg = s.bg + dx[12:15]
    return out


def test_copy_is_independent():
    s = make_state(v=(1.0, 2.0, 3.0))
    c = s.copy()
    c.p[0] += 1.0
    c.v[1] += 1.0
    c.P[2, 2] += 1.0
    c.q[3] = 0.0
    assert s.p[0] == 3.0 and s.v[1] == 2.0 and s.q[3] == 1.0
    assert c.P[2, 2] == s.P[2, 2] + 1.0


def test_copy_carries_every_field():
    """A field the snapshot forgot would reset at every rollback (copy() lists them by position)."""
    s = make_state(v=(1.0, 2.0, 3.0))
    for i, f in enumerate(dataclasses.fields(FilterState)):
        v = getattr(s, f.name)
        if isinstance(v, float) and not isinstance(v, bool):
            setattr(s, f.name, v + 0.25 + i)
    c = s.copy()
    for f in dataclasses.fields(FilterState):
        a, b = getattr(s, f.name), getattr(c, f.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b, f.name


def test_measurement_replay_is_not_counted_again():
    m = Measurement(5, np.array([1.0, 2.0, 3.0]), np.eye(3), kind="vel", rows=(0, 2), result=True)
    r = m.replay()
    assert r is not m and not r.first and not r.result
    assert r.stamp_ns == 5 and r.kind == "vel" and r.rows == (0, 2) and r.z is m.z
    assert m.first and m.result


def test_correct_equals_kalman_update_and_gates():
    """An accepted update injects K y (filterpy's KalmanFilter on the error state); one past the
    gate returns None and leaves the state as it was."""
    s = make_state(v=(5.0, 1.0, 0.0), rpy=(0.1, -0.05, 0.7))
    H = np.zeros((2, 15))
    H[0, 0] = H[1, 4] = 1.0
    H[1, 8] = 0.5
    R, y = np.diag([0.5, 0.2]), np.array([0.3, -0.4])
    kf = KalmanFilter(dim_x=15, dim_z=2)
    kf.x, kf.P = np.zeros(15), s.P.copy()
    kf.update(y, R=R, H=H)
    before = s.copy()
    dx = correct(s, H, R, y)
    np.testing.assert_allclose(dx, kf.x, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(s.p, before.p + kf.x[0:3], atol=1e-14)
    np.testing.assert_allclose(s.v, before.v + kf.x[3:6], atol=1e-14)
    d2 = float(y @ np.linalg.solve(H @ before.P @ H.T + R, y))
    again = before.copy()
    assert correct(again, H, R, y, gate=0.99 * d2) is None
    for k in ("p", "v", "q", "ba", "bg", "P"):
        np.testing.assert_array_equal(getattr(again, k), getattr(before, k))
    assert correct(again, H, R, y, gate=1.01 * d2) is not None


def test_correct_keeps_unknown_yaw_out():
    """While yaw is unknown no update moves it and it stays decoupled, even through a
    measurement that depends on it."""
    P = np.eye(15) * 0.1
    P[3, 8] = P[8, 3] = 0.05  # yaw correlated with a velocity error
    s = make_state(aligned=False, rpy=(0.0, 0.0, 0.4), P=P)
    H = np.zeros((1, 15))
    H[0, 8] = 1.0
    H[0, 0] = 1.0
    dx = correct(s, H, np.array([[0.01]]), np.array([0.5]))
    assert dx is not None and dx[8] == 0.0 and dx[0] != 0.0 and dx[3] != 0.0
    assert abs(eskf.rpy_from_quat(s.q)[2] - 0.4) < 1e-12
    off = np.delete(s.P[8], 8)
    np.testing.assert_array_equal(off, 0.0)
