"""numba kernels of the ego filter's hot paths: the IMU step (the maths of
:func:`eskf.imu_propagate` + ``F P F' + Q``), the gated update (:func:`eskf.kalman_update` +
injection + reset), pose interpolation and covariances, and the LiDAR deskew blend.

At 100-400 Hz the per-call overhead of ~60 small numpy operations dominates
(hundreds of microseconds on a loaded core); a fused kernel does the same
step in a few microseconds. ``tests/ego/test_kernels.py`` checks the step and the update
against the numpy reference, ``tests/ego/test_estimator.py`` (through
``EgoEstimator.predict_matrices``) against filterpy, ``tests/ego/test_pose.py`` the poses.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# The measured IMU noise (noise_update), one flat array so that the filter state snapshots it as
# one value: the last raw sample (w, a), the sample-to-sample estimate, the running block (its
# time-weighted sum and duration), the last two blocks' means and durations, the block-to-block
# estimate, and how many blocks have closed since the last gap (counted to 2).
NOISE_PREV, NOISE_DVAR, NOISE_BSUM, NOISE_BPREV, NOISE_BPREV2, NOISE_BVAR = 0, 6, 12, 18, 24, 30
NOISE_BT, NOISE_BN, NOISE_BT1, NOISE_BT2 = 36, 37, 38, 39
NOISE_LEN = 40


def noise_start(x6: np.ndarray) -> np.ndarray:
    """The measured-noise state of a filter whose last raw sample is ``x6`` (w, a)."""
    out = np.zeros(NOISE_LEN)
    out[NOISE_PREV : NOISE_PREV + 6] = x6
    return out


@njit(cache=True)
def noise_update(
    noise: np.ndarray,
    x6: np.ndarray,
    sample_dt: float,
    max_dt: float,
    window_s: float,
    block_s: float,
    block_window_s: float,
) -> np.ndarray:
    """The measured white-noise density squared of each raw IMU axis (w, a), two ways:

    * sample to sample: half the squared difference of consecutive samples times the step,
      weighted over ``window_s``: the white part, at once (motion changes little between two
      samples, vibration everything);
    * block to block (a Hadamard variance at ``block_s``): the squared second difference of
      consecutive block means over its white-noise variance per density squared (``1/T0 + 4/T1
      + 1/T2`` for blocks of durations ``T0, T1, T2``: 6/T for equal ones), weighted over
      ``block_window_s``. An IMU that low-passes before it decimates passes vibration as
      correlated samples, whose sample-to-sample differences hide most of what integrates into
      velocity; block means longer than that correlation see it, and the second difference
      leaves out a steadily changing acceleration (a car braking harder and harder).

    The filter takes the larger. A reading interpolated at a measurement stamp (``sample_dt``
    0) leaves the state alone; after a gap (``sample_dt`` over ``max_dt``) the differences start
    again from this sample, and both estimates carry on from before it (the chassis shakes as
    it did; starting them from zero would fall back to the datasheet for seconds)."""
    out = noise.copy()
    if sample_dt <= 0.0:
        return out
    if sample_dt > max_dt:
        out[NOISE_PREV : NOISE_PREV + 6] = x6
        out[NOISE_BSUM : NOISE_BSUM + 6] = 0.0
        out[NOISE_BT] = 0.0
        out[NOISE_BN] = 0.0
        return out
    alpha = min(1.0, sample_dt / window_s)
    for i in range(6):
        e = x6[i] - noise[NOISE_PREV + i]
        out[NOISE_DVAR + i] = (1.0 - alpha) * noise[NOISE_DVAR + i] + alpha * 0.5 * e * e * sample_dt
        out[NOISE_PREV + i] = x6[i]
        out[NOISE_BSUM + i] += x6[i] * sample_dt
    out[NOISE_BT] += sample_dt
    T = out[NOISE_BT]
    if T >= block_s * (1.0 - 1e-6):  # 3 samples of 1/30 s make a 0.1 s block
        beta = min(1.0, T / block_window_s)
        if out[NOISE_BN] >= 2.0:
            k = 1.0 / out[NOISE_BT2] + 4.0 / out[NOISE_BT1] + 1.0 / T
        for i in range(6):
            m = out[NOISE_BSUM + i] / T
            if out[NOISE_BN] >= 2.0:
                d = m - 2.0 * out[NOISE_BPREV + i] + out[NOISE_BPREV2 + i]
                out[NOISE_BVAR + i] = (1.0 - beta) * out[NOISE_BVAR + i] + beta * d * d / k
            out[NOISE_BPREV2 + i] = out[NOISE_BPREV + i]
            out[NOISE_BPREV + i] = m
            out[NOISE_BSUM + i] = 0.0
        out[NOISE_BT2] = out[NOISE_BT1]
        out[NOISE_BT1] = T
        out[NOISE_BT] = 0.0
        out[NOISE_BN] = min(out[NOISE_BN] + 1.0, 2.0)
    return out


@njit(cache=True)
def _quat_exp(x: float, y: float, z: float) -> tuple[float, float, float, float]:
    t = math.sqrt(x * x + y * y + z * z)
    if t < 1e-8:
        qx, qy, qz, qw = 0.5 * x, 0.5 * y, 0.5 * z, 1.0
        n = math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
        return qx / n, qy / n, qz / n, qw / n
    s = math.sin(0.5 * t) / t
    return s * x, s * y, s * z, math.cos(0.5 * t)


@njit(cache=True)
def _qmul(a: np.ndarray, bx: float, by: float, bz: float, bw: float) -> np.ndarray:
    ax, ay, az, aw = a[0], a[1], a[2], a[3]
    out = np.empty(4)
    out[0] = aw * bx + ax * bw + ay * bz - az * by
    out[1] = aw * by - ax * bz + ay * bw + az * bx
    out[2] = aw * bz + ax * by - ay * bx + az * bw
    out[3] = aw * bw - ax * bx - ay * by - az * bz
    return out


@njit(cache=True)
def _rot(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q[0], q[1], q[2], q[3]
    R = np.empty((3, 3))
    R[0, 0] = 1 - 2 * (y * y + z * z)
    R[0, 1] = 2 * (x * y - z * w)
    R[0, 2] = 2 * (x * z + y * w)
    R[1, 0] = 2 * (x * y + z * w)
    R[1, 1] = 1 - 2 * (x * x + z * z)
    R[1, 2] = 2 * (y * z - x * w)
    R[2, 0] = 2 * (x * z - y * w)
    R[2, 1] = 2 * (y * z + x * w)
    R[2, 2] = 1 - 2 * (x * x + y * y)
    return R


@njit(cache=True)
def _skew_into(M: np.ndarray, r0: int, c0: int, s: float, w: np.ndarray) -> None:
    """M[r0:r0+3, c0:c0+3] = s * [w]x."""
    M[r0, c0] = 0.0
    M[r0, c0 + 1] = -s * w[2]
    M[r0, c0 + 2] = s * w[1]
    M[r0 + 1, c0] = s * w[2]
    M[r0 + 1, c0 + 1] = 0.0
    M[r0 + 1, c0 + 2] = -s * w[0]
    M[r0 + 2, c0] = -s * w[1]
    M[r0 + 2, c0 + 1] = s * w[0]
    M[r0 + 2, c0 + 2] = 0.0


@njit(cache=True)
def predict_step(
    p: np.ndarray,
    v: np.ndarray,
    q: np.ndarray,
    ba: np.ndarray,
    bg: np.ndarray,
    P: np.ndarray,
    w0: np.ndarray,
    a0: np.ndarray,
    w1: np.ndarray,
    a1: np.ndarray,
    dt: float,
    g: np.ndarray,
    qdiag: np.ndarray,
    unaligned: bool,
    imu_mean: np.ndarray,
    imu_var: np.ndarray,
    alpha: float,
    lever: np.ndarray,
    imu_noise: np.ndarray,
    sample_dt: float,
    measured_noise: bool,
    noise_windows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (p1, v1, q1, P1, imu_mean1, imu_var1, imu_noise1); ``qdiag`` = (s_a^2, s_g^2,
    s_ba^2, s_bg^2).

    With ``unaligned`` the yaw row/column of P1 is decoupled and the velocity gets the
    extra noise density |A_h| (see EgoEstimator). ``imu_mean``/``imu_var`` are the
    exponentially weighted statistics of the raw (w, a) with weight ``alpha`` for (w1, a1),
    with the angular-acceleration term ``(w1 - w0) / dt x lever`` that ``Propagator.to_base``
    took out of ``a1`` put back (``lever`` zero where it took none out): differenced gyro noise
    times the lever arm (0.34 m/s^2 at 200 Hz and 0.5 m) would otherwise hide every standstill.

    The same raw sample, with its step ``sample_dt`` (s, 0 for a reading interpolated at a
    measurement stamp), updates the measured noise ``imu_noise`` (:func:`noise_update` with
    ``noise_windows`` = (max_dt, window_s, block_s, block_window_s)). With
    ``measured_noise``, where a body axis's measured density exceeds the configured one, that
    axis's process noise is the measured one, rotated into the world: a chassis that shakes more
    than the datasheet says must not make the filter trust its IMU more than its wheels.
    """
    w = 0.5 * (w0 + w1) - bg
    ex, ey, ez, ew = _quat_exp(0.5 * w[0] * dt, 0.5 * w[1] * dt, 0.5 * w[2] * dt)
    qm = _qmul(q, ex, ey, ez, ew)
    fx, fy, fz, fw = _quat_exp(w[0] * dt, w[1] * dt, w[2] * dt)
    q1 = _qmul(q, fx, fy, fz, fw)
    q1 /= math.sqrt(q1[0] * q1[0] + q1[1] * q1[1] + q1[2] * q1[2] + q1[3] * q1[3])
    R0 = _rot(q)
    Rm = _rot(qm)
    R1 = _rot(q1)
    f0 = a0 - ba
    f1 = a1 - ba
    A = 0.5 * (R0 @ f0 + R1 @ f1)
    aw = A + g
    dt2 = 0.5 * dt * dt
    p1 = p + v * dt + dt2 * aw
    v1 = v + aw * dt

    F = np.eye(15)
    for i in range(3):
        F[i, 3 + i] = dt
    _skew_into(F, 0, 6, -dt2, A)
    _skew_into(F, 3, 6, -dt, A)
    S1 = np.empty((3, 3))
    _skew_into(S1, 0, 0, 1.0, f1)
    R1f = R1 @ S1
    for i in range(3):
        for j in range(3):
            rb = 0.5 * (R0[i, j] + R1[i, j])
            F[i, 9 + j] = -dt2 * rb
            F[3 + i, 9 + j] = -dt * rb
            F[i, 12 + j] = 0.5 * dt2 * dt * R1f[i, j]
            F[3 + i, 12 + j] = dt2 * R1f[i, j]
            F[6 + i, 12 + j] = -dt * Rm[i, j]

    # P1 = F P F' (F is identity outside rows 0..8, so only those rows mix).
    FP = P.copy()
    for i in range(9):
        for j in range(15):
            acc = 0.0
            for k in range(15):
                acc += F[i, k] * P[k, j]
            FP[i, j] = acc
    P1 = FP.copy()
    for i in range(15):
        for j in range(9):
            acc = 0.0
            for k in range(15):
                acc += FP[i, k] * F[j, k]
            P1[i, j] = acc
    for i in range(15):
        for j in range(i + 1, 15):
            m = 0.5 * (P1[i, j] + P1[j, i])
            P1[i, j] = m
            P1[j, i] = m
    m1 = np.empty(6)
    v1s = np.empty(6)
    a_st = a1.copy()
    if dt > 0.0:
        d0, d1, d2 = (w1[0] - w0[0]) / dt, (w1[1] - w0[1]) / dt, (w1[2] - w0[2]) / dt
        a_st[0] += d1 * lever[2] - d2 * lever[1]
        a_st[1] += d2 * lever[0] - d0 * lever[2]
        a_st[2] += d0 * lever[1] - d1 * lever[0]
    x6 = np.empty(6)
    for i in range(6):
        x = w1[i] if i < 3 else a_st[i - 3]
        x6[i] = x
        d = x - imu_mean[i]
        m1[i] = imu_mean[i] + alpha * d
        v1s[i] = (1.0 - alpha) * (imu_var[i] + alpha * d * d)
    nw = noise_windows
    noise1 = noise_update(imu_noise, x6, sample_dt, nw[0], nw[1], nw[2], nw[3])
    qg = np.full(3, qdiag[1])
    qa = np.full(3, qdiag[0])
    measured = False
    if measured_noise:
        for i in range(3):
            dg = max(noise1[NOISE_DVAR + i], noise1[NOISE_BVAR + i])
            da = max(noise1[NOISE_DVAR + 3 + i], noise1[NOISE_BVAR + 3 + i])
            if dg > qg[i]:
                qg[i] = dg
                measured = True
            if da > qa[i]:
                qa[i] = da
                measured = True
    if measured:  # body-axis densities into the world: Rm diag(q) Rm'
        for i in range(3):
            for j in range(i, 3):
                sa = 0.0
                sg = 0.0
                for k in range(3):
                    sa += Rm[i, k] * qa[k] * Rm[j, k]
                    sg += Rm[i, k] * qg[k] * Rm[j, k]
                P1[3 + i, 3 + j] += sa * dt
                P1[6 + i, 6 + j] += sg * dt
                if j != i:
                    P1[3 + j, 3 + i] += sa * dt
                    P1[6 + j, 6 + i] += sg * dt
    else:
        for i in range(3):
            P1[3 + i, 3 + i] += qdiag[0] * dt
            P1[6 + i, 6 + i] += qdiag[1] * dt
    for i in range(3):
        P1[9 + i, 9 + i] += qdiag[2] * dt
        P1[12 + i, 12 + i] += qdiag[3] * dt
    if unaligned:
        ah2 = A[0] * A[0] + A[1] * A[1]
        P1[3, 3] += ah2 * dt
        P1[4, 4] += ah2 * dt
        for k in range(15):
            if k != 8:
                P1[8, k] = 0.0
                P1[k, 8] = 0.0
    return p1, v1, q1, P1, m1, v1s, noise1


@njit(cache=True)
def update_step(
    p: np.ndarray,
    v: np.ndarray,
    q: np.ndarray,
    ba: np.ndarray,
    bg: np.ndarray,
    P: np.ndarray,
    H: np.ndarray,
    R: np.ndarray,
    y: np.ndarray,
    gate: float,
    freeze: int,
):
    """Gated Joseph-form update + injection + reset: the maths of :func:`eskf.kalman_update`,
    ``q = Exp(dth) q`` and ``P = G P G'``.

    Returns ``(accepted, d2, dx, p, v, q, ba, bg, P)``; when ``d2 = y' S^-1 y > gate`` the
    inputs come back unchanged. ``freeze >= 0`` zeroes that gain row and decouples that
    state's cross-covariances afterwards (unknown yaw).
    """
    n = P.shape[0]
    PHt = P @ H.T
    S = H @ PHt + R
    Sinv = np.linalg.inv(S)
    Sy = Sinv @ y
    d2 = 0.0
    for i in range(y.shape[0]):
        d2 += y[i] * Sy[i]
    if d2 > gate:
        return False, d2, np.zeros(n), p, v, q, ba, bg, P
    K = PHt @ Sinv
    if freeze >= 0:
        K[freeze, :] = 0.0
    dx = K @ y
    IKH = np.eye(n) - K @ H
    Pn = IKH @ P @ IKH.T + K @ R @ K.T
    # reset: G = I + [dth/2]x on the attitude block; only rows/cols 6..8 change
    G = np.eye(3)
    _skew_into(G, 0, 0, 0.5, dx[6:9])
    for i in range(3):
        G[i, i] = 1.0
    rows = np.empty((3, n))
    for i in range(3):
        for j in range(n):
            rows[i, j] = G[i, 0] * Pn[6, j] + G[i, 1] * Pn[7, j] + G[i, 2] * Pn[8, j]
    Pn[6:9, :] = rows
    cols = np.empty((n, 3))
    for i in range(n):
        for j in range(3):
            cols[i, j] = Pn[i, 6] * G[j, 0] + Pn[i, 7] * G[j, 1] + Pn[i, 8] * G[j, 2]
    Pn[:, 6:9] = cols
    for i in range(n):
        for j in range(i + 1, n):
            m = 0.5 * (Pn[i, j] + Pn[j, i])
            Pn[i, j] = m
            Pn[j, i] = m
    if freeze >= 0:
        for k in range(n):
            if k != freeze:
                Pn[freeze, k] = 0.0
                Pn[k, freeze] = 0.0
    ex, ey, ez, ew = _quat_exp(dx[6], dx[7], dx[8])
    e = np.array([ex, ey, ez, ew])
    q1 = _qmul(e, q[0], q[1], q[2], q[3])
    q1 /= math.sqrt(q1[0] * q1[0] + q1[1] * q1[1] + q1[2] * q1[2] + q1[3] * q1[3])
    return True, d2, dx, p + dx[0:3], v + dx[3:6], q1, ba + dx[9:12], bg + dx[12:15], Pn


@njit(cache=True)
def deskew_kernel(pts: np.ndarray, u: np.ndarray, Ms: np.ndarray) -> np.ndarray:
    """out_i = ((1-f) M_k + f M_k+1) p_i with k = floor(u_i), f = u_i - k; float32."""
    n = pts.shape[0]
    kmax = Ms.shape[0] - 2
    out = np.empty((n, 3), dtype=np.float32)
    for i in range(n):
        k = int(u[i])
        if k > kmax:
            k = kmax
        if k < 0:
            k = 0
        f = u[i] - k
        x, y, z = pts[i, 0], pts[i, 1], pts[i, 2]
        for r in range(3):
            a = Ms[k, r, 0] * x + Ms[k, r, 1] * y + Ms[k, r, 2] * z + Ms[k, r, 3]
            b = Ms[k + 1, r, 0] * x + Ms[k + 1, r, 1] * y + Ms[k + 1, r, 2] * z + Ms[k + 1, r, 3]
            out[i, r] = a + f * (b - a)
    return out


@njit(cache=True)
def interp_pose(
    pa: np.ndarray,
    va: np.ndarray,
    qa: np.ndarray,
    pb: np.ndarray,
    vb: np.ndarray,
    qb: np.ndarray,
    h: float,
    f: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pose at fraction f of an interval of h seconds: cubic Hermite position (end velocities),
    geodesic orientation ``qa Exp(f Log(qa^-1 qb))``. Returns (p, q, T_world_base)."""
    f2 = f * f
    f3 = f2 * f
    h00 = 2 * f3 - 3 * f2 + 1
    h10 = f3 - 2 * f2 + f
    h01 = -2 * f3 + 3 * f2
    h11 = f3 - f2
    p = h00 * pa + (h10 * h) * va + h01 * pb + (h11 * h) * vb
    # dq = conj(qa) * qb
    ca = np.array([-qa[0], -qa[1], -qa[2], qa[3]])
    dq = _qmul(ca, qb[0], qb[1], qb[2], qb[3])
    if dq[3] < 0.0:
        dq = -dq
    nv = math.sqrt(dq[0] * dq[0] + dq[1] * dq[1] + dq[2] * dq[2])
    s = 2.0 * math.atan2(nv, dq[3]) / nv if nv > 1e-12 else 2.0
    ex, ey, ez, ew = _quat_exp(f * s * dq[0], f * s * dq[1], f * s * dq[2])
    q = _qmul(qa, ex, ey, ez, ew)
    q /= math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    T = np.eye(4)
    T[:3, :3] = _rot(q)
    T[:3, 3] = p
    return p, q, T


@njit(cache=True)
def pose_covariances(P: np.ndarray, q: np.ndarray, gyro_var: float) -> tuple[np.ndarray, np.ndarray]:
    """(pose_cov over x y z roll pitch yaw, twist_cov over v_world, w_body).

    Angles: d(rpy) = E^-1 dth (global error; E^-1 as in eskf.rpy_jacobian).
    """
    x, y, z, w = q[0], q[1], q[2], q[3]
    pitch = math.asin(max(-1.0, min(1.0, 2.0 * (w * y - z * x))))
    yaw = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    cp = math.cos(pitch)
    if abs(cp) < 1e-6:
        cp = 1e-6 if cp >= 0 else -1e-6
    sp, cy, sy = math.sin(pitch), math.cos(yaw), math.sin(yaw)
    J = np.eye(6)
    J[3, 3] = cy / cp
    J[3, 4] = sy / cp
    J[4, 3] = -sy
    J[4, 4] = cy
    J[5, 3] = cy * sp / cp
    J[5, 4] = sy * sp / cp
    J[5, 5] = 1.0
    idx = (0, 1, 2, 6, 7, 8)
    B = np.empty((6, 6))
    for i in range(6):
        for j in range(6):
            B[i, j] = P[idx[i], idx[j]]
    C = J @ B @ J.T
    tw = np.zeros((6, 6))
    for i in range(3):
        for j in range(3):
            tw[i, j] = P[3 + i, 3 + j]
            tw[3 + i, 3 + j] = P[12 + i, 12 + j]
        tw[3 + i, 3 + i] += gyro_var
    return C, tw
