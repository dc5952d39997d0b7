"""Error-state Kalman filter maths for the ego estimator (pure functions, no I/O).

Nominal state: position ``p`` (ENU, m), velocity ``v`` (world, m/s), orientation
``q`` (base -> world, x y z w), accelerometer bias ``ba`` (m/s^2) and gyro bias
``bg`` (rad/s), both in the base frame. Error state (15): ``dx = [dp, dv, dth,
dba, dbg]`` with a *global* (world-frame) angular error::

    R_true = Exp(dth) R,      so dth[2] is exactly the yaw error.

IMU propagation over ``dt`` (trapezoid in the world frame, gyro midpoint)::

    w   = (w0 + w1)/2 - bg              R1 = R0 Exp(w dt),  Rm = R0 Exp(w dt/2)
    aw  = (R0 (a0 - ba) + R1 (a1 - ba))/2 + g
    p1  = p0 + v0 dt + aw dt^2/2,       v1 = v0 + aw dt

Error transition ``F = d dx1 / d dx0`` (the exact Jacobian of the step above to
second order in dt; ``A = (R0 a0 + R1 a1)/2 - R(ba)``, ``Rb = (R0 + R1)/2``)::

    dp1  = dp + dv dt - [A]x dth dt^2/2 - Rb dba dt^2/2 + R1 [a1 - ba]x dbg dt^3/4
    dv1  = dv - [A]x dth dt - Rb dba dt + R1 [a1 - ba]x dbg dt^2/2
    dth1 = dth - Rm dbg dt

Process noise (white-noise densities, continuous PSD ``s^2`` -> ``s^2 dt``)::

    Q = diag(0, s_a^2 dt I, s_g^2 dt I, s_ba^2 dt I, s_bg^2 dt I)

Update: the standard Kalman step on the error state with Joseph form (as
filterpy's ``KalmanFilter.update``)::

    S = H P H' + R,  K = P H' S^-1,  dx = K y,  P = (I-KH) P (I-KH)' + K R K'

then injection (``p += dp``, ``q = Exp(dth) q``, ...) and the reset
``P = G P G'`` with ``G = I + [dth/2]x`` on the attitude block (Sola 2017, 7.2).
"""

from __future__ import annotations

import math

import numpy as np

P_ = slice(0, 3)
V_ = slice(3, 6)
TH_ = slice(6, 9)
BA_ = slice(9, 12)
BG_ = slice(12, 15)
YAW = 8  # index of the yaw error (global z angle)
DIM = 15
_I15 = np.eye(DIM)


def skew(w: np.ndarray) -> np.ndarray:
    """[w]x such that [w]x u = w x u."""
    return np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])


def so3_exp(phi: np.ndarray) -> np.ndarray:
    """Rodrigues: Exp(phi) = I + sin t/t [phi]x + (1 - cos t)/t^2 [phi]x^2."""
    t2 = float(phi[0] * phi[0] + phi[1] * phi[1] + phi[2] * phi[2])
    K = skew(phi)
    if t2 < 1e-16:
        return np.eye(3) + K + 0.5 * (K @ K)
    t = math.sqrt(t2)
    return np.eye(3) + (math.sin(t) / t) * K + ((1.0 - math.cos(t)) / t2) * (K @ K)


def quat_exp(phi: np.ndarray) -> np.ndarray:
    """Rotation vector -> unit quaternion (x, y, z, w)."""
    t = math.sqrt(float(phi[0] * phi[0] + phi[1] * phi[1] + phi[2] * phi[2]))
    if t < 1e-8:
        q = np.array([0.5 * phi[0], 0.5 * phi[1], 0.5 * phi[2], 1.0])
        return q / np.linalg.norm(q)
    s = math.sin(0.5 * t) / t
    return np.array([s * phi[0], s * phi[1], s * phi[2], math.cos(0.5 * t)])


def quat_log(q: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) -> rotation vector (shortest arc)."""
    x, y, z, w = q
    if w < 0.0:
        x, y, z, w = -x, -y, -z, -w
    n = math.sqrt(x * x + y * y + z * z)
    if n < 1e-12:
        return np.array([2.0 * x, 2.0 * y, 2.0 * z])
    a = 2.0 * math.atan2(n, w) / n
    return np.array([a * x, a * y, a * z])


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b for (x, y, z, w) quaternions."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ]
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    return np.array([-q[0], -q[1], -q[2], q[3]])


def quat_to_rot(q: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) -> rotation matrix (no normalisation)."""
    x, y, z, w = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def imu_propagate(
    p: np.ndarray,
    v: np.ndarray,
    q: np.ndarray,
    ba: np.ndarray,
    bg: np.ndarray,
    w0: np.ndarray,
    a0: np.ndarray,
    w1: np.ndarray,
    a1: np.ndarray,
    dt: float,
    gravity: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One nominal step from measurements (w0, a0) at t to (w1, a1) at t + dt.

    Measurements are base-frame gyro (rad/s) and specific force (m/s^2), raw
    (biases are removed here). Returns ``(p1, v1, q1, F, w)`` with ``F`` the
    (15, 15) error transition and ``w`` the bias-corrected mean rate.
    """
    w = 0.5 * (w0 + w1) - bg
    wdt = w * dt
    R0 = quat_to_rot(q)
    qm = quat_mul(q, quat_exp(0.5 * wdt))
    q1 = quat_mul(q, quat_exp(wdt))
    q1 /= math.sqrt(float(q1 @ q1))
    Rm = quat_to_rot(qm)
    R1 = quat_to_rot(q1)
    f1 = a1 - ba
    A = 0.5 * (R0 @ (a0 - ba) + R1 @ f1)
    aw = A + gravity
    p1 = p + v * dt + (0.5 * dt * dt) * aw
    v1 = v + aw * dt

    dt2 = 0.5 * dt * dt
    Ax = skew(A)
    Rb = 0.5 * (R0 + R1)
    F = np.eye(DIM)
    F[0:3, 3:6] = np.eye(3) * dt
    F[0:3, 6:9] = -dt2 * Ax
    F[0:3, 9:12] = -dt2 * Rb
    F[3:6, 6:9] = -dt * Ax
    F[3:6, 9:12] = -dt * Rb
    R1f = R1 @ skew(f1)
    F[0:3, 12:15] = (0.5 * dt2 * dt) * R1f
    F[3:6, 12:15] = dt2 * R1f
    F[6:9, 12:15] = -dt * Rm
    return p1, v1, q1, F, w


def process_noise(dt: float, s_a: float, s_g: float, s_ba: float, s_bg: float) -> np.ndarray:
    """Discrete Q for white-noise densities (accel, gyro, accel-bias walk, gyro-bias walk)."""
    d = np.empty(DIM)
    d[0:3] = 0.0
    d[3:6] = s_a * s_a * dt
    d[6:9] = s_g * s_g * dt
    d[9:12] = s_ba * s_ba * dt
    d[12:15] = s_bg * s_bg * dt
    return np.diag(d)


def kalman_update(
    P: np.ndarray, H: np.ndarray, R: np.ndarray, y: np.ndarray, freeze: int | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Error-state Kalman update; returns ``(dx, P_post, d2)`` with d2 = y' S^-1 y.

    ``freeze`` is an error index whose gain row is zeroed (Schmidt "consider"
    state: its uncertainty enters S but it is not corrected). Joseph form keeps
    ``P_post`` exact for that suboptimal gain.
    """
    PHt = P @ H.T
    S = H @ PHt + R
    Sinv = np.linalg.inv(S)
    K = PHt @ Sinv
    if freeze is not None:
        K[freeze, :] = 0.0
    dx = K @ y
    IKH = _I15 - K @ H
    Pn = IKH @ P @ IKH.T + K @ R @ K.T
    Pn = 0.5 * (Pn + Pn.T)
    return dx, Pn, float(y @ Sinv @ y)


def mahalanobis2(P: np.ndarray, H: np.ndarray, R: np.ndarray, y: np.ndarray) -> float:
    """Squared Mahalanobis distance of innovation ``y`` (y' (H P H' + R)^-1 y)."""
    S = H @ P @ H.T + R
    return float(y @ np.linalg.solve(S, y))


def reset_jacobian(dth: np.ndarray) -> np.ndarray:
    """G = I with I + [dth/2]x on the attitude block (global angular error)."""
    G = np.eye(DIM)
    G[6:9, 6:9] += skew(0.5 * dth)
    return G


def gps_jacobian(q: np.ndarray, lever: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Antenna position h = p + R l; returns (R l, H) with H = [I 0 -[R l]x 0 0]."""
    Rl = quat_to_rot(q) @ lever
    H = np.zeros((3, DIM))
    H[:, 0:3] = np.eye(3)
    H[:, 6:9] = -skew(Rl)
    return Rl, H


def nhc_jacobian(q: np.ndarray, v: np.ndarray, rows: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Body velocity v_b = R' v and its Jacobian ``[0 R' R'[v]x 0 0]`` restricted to ``rows``.

    With ``R_true = Exp(dth) R``: ``v_b = R'(I - [dth]x)(v + dv) ~ R'v + R'dv + R'[v]x dth``.
    """
    Rt = quat_to_rot(q).T
    vb = Rt @ v
    H = np.zeros((3, DIM))
    H[:, 3:6] = Rt
    H[:, 6:9] = Rt @ skew(v)
    r = list(rows)
    return vb[r], H[r]


def rpy_from_quat(q: np.ndarray) -> tuple[float, float, float]:
    """ZYX (tf) roll, pitch, yaw of a unit quaternion (x, y, z, w)."""
    x, y, z, w = q
    roll = math.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2.0 * (w * y - z * x))))
    yaw = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return roll, pitch, yaw


def quat_from_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """R = Rz(yaw) Ry(pitch) Rx(roll) as (x, y, z, w)."""
    cr, sr = math.cos(0.5 * roll), math.sin(0.5 * roll)
    cp, sp = math.cos(0.5 * pitch), math.sin(0.5 * pitch)
    cy, sy = math.cos(0.5 * yaw), math.sin(0.5 * yaw)
    return np.array(
        [
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy,
        ]
    )


def rpy_jacobian(q: np.ndarray) -> np.ndarray:
    """d(roll, pitch, yaw)/d(dth) for the global angular error: E^-1 with

    ``E = [[cy cp, -sy, 0], [sy cp, cy, 0], [-sp, 0, 1]]`` (world rate = E rpy_dot).
    Singular at pitch = +-90 deg (clamped).
    """
    _, pitch, yaw = rpy_from_quat(q)
    cp = math.cos(pitch)
    if abs(cp) < 1e-6:
        cp = math.copysign(1e-6, cp)
    sp, cy, sy = math.sin(pitch), math.cos(yaw), math.sin(yaw)
    return np.array(
        [
            [cy / cp, sy / cp, 0.0],
            [-sy, cy, 0.0],
            [cy * sp / cp, sy * sp / cp, 1.0],
        ]
    )
