"""IMU and GNSS synthesised from the world's ego trajectory.

IMU: rigid-body kinematics of the IMU point on the planar ego body (lever arm
``T_base_imu``), specific force ``a - g`` (so +g on z at rest), white noise from
the noise densities at the sample rate, and bias random walks; optional
orientation (world ENU -> IMU) with small-angle noise. The ego world's yaw rate
and acceleration are consistent with its trajectory by construction, so
integrating a noise-free IMU reproduces the ground truth.

GNSS: the antenna position in the world frame, which *is* local ENU about the
datum (world origin = datum), plus an error, converted to WGS84 exactly
(``core.geodesy``). ``gps.gnss_model``: ``gauss_markov`` (default for new bags:
correlated drift, multipath jumps, reported covariance, Doppler, RTK; see
:mod:`.gnss`) or ``white`` (the model bags had before issue 15: white or
Gauss-Markov noise with ``horizontal_std_m``/``vertical_std_m``/``correlation_time_s``,
reported exactly; bit-identical to those bags for a seed).
Outage windows omit fixes. Both functions draw all their random numbers for
every stamp before masking outages, so changing an outage never shifts noise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter
from scipy.spatial.transform import Rotation

from ..core.geodesy import enu_to_geodetic
from ..core.geometry import matrix_to_quat
from ..core.types import GpsFix, ImuSample
from .gnss import gnss_errors, multipath_source
from .scenarios import BASE, window_mask
from .state import WorldView

NAVSAT_STATUS_NO_FIX = -1
NAVSAT_STATUS_FIX = 0


@dataclass
class ImuSeries:
    stamps_ns: np.ndarray  # (N,) int64
    frame_id: str
    gyro: np.ndarray  # (N, 3) rad/s in the IMU frame
    accel: np.ndarray  # (N, 3) m/s^2 specific force in the IMU frame
    orientation: np.ndarray | None  # (N, 4) x, y, z, w of world(ENU) <- IMU, or None
    gyro_cov: np.ndarray  # (3, 3) white-noise covariance per sample
    accel_cov: np.ndarray  # (3, 3)
    orientation_cov: np.ndarray | None  # (3, 3) rad^2
    gyro_bias: np.ndarray  # (N, 3) true bias (ground truth for filter tests)
    accel_bias: np.ndarray  # (N, 3)

    def __len__(self) -> int:
        return int(self.stamps_ns.shape[0])

    def sample(self, i: int) -> ImuSample:
        q = None if self.orientation is None else self.orientation[i].copy()
        return ImuSample(int(self.stamps_ns[i]), self.frame_id, self.gyro[i].copy(), self.accel[i].copy(), q)


@dataclass
class GpsSeries:
    stamps_ns: np.ndarray  # (M,) int64, outages removed
    frame_id: str
    latitude: np.ndarray  # (M,) deg
    longitude: np.ndarray  # (M,) deg
    altitude: np.ndarray  # (M,) m above the ellipsoid
    covariance: np.ndarray  # (M, 3, 3) ENU m^2
    status: np.ndarray  # (M,) int8 NavSatStatus
    enu_true: np.ndarray  # (M, 3) antenna position, world frame = ENU about the datum
    enu_measured: np.ndarray  # (M, 3)
    correlated_error: np.ndarray | None = None  # (M, 3) Gauss-Markov part (gauss_markov model)
    multipath_error: np.ndarray | None = None  # (M, 3) multipath jump offsets, 0 outside events
    velocity: np.ndarray | None = None  # (M, 3) Doppler ENU velocity, m/s (``velocity: true``)
    velocity_cov: np.ndarray | None = None  # (3, 3) m^2/s^2

    def __len__(self) -> int:
        return int(self.stamps_ns.shape[0])

    def fix(self, i: int) -> GpsFix:
        return GpsFix(
            int(self.stamps_ns[i]),
            self.frame_id,
            float(self.latitude[i]),
            float(self.longitude[i]),
            float(self.altitude[i]),
            self.covariance[i].copy(),
            int(self.status[i]),
        )


def _block(cfg: Mapping | None, name: str) -> dict:
    out = dict(BASE[name])
    out.update(cfg or {})
    return out


def _ego_arrays(world: WorldView, stamps_ns: np.ndarray) -> dict[str, np.ndarray]:
    """Vectorised ego state; falls back to per-stamp ``ego_at`` for other WorldView implementations."""
    fn = getattr(world, "ego_arrays", None)
    if fn is not None:
        return fn(stamps_ns)
    states = [world.ego_at(int(s)) for s in stamps_ns]
    h = 1_000_000  # 1 ms central difference for the yaw acceleration
    w_p = np.array([world.ego_at(int(s) + h).yaw_rate for s in stamps_ns])
    w_m = np.array([world.ego_at(int(s) - h).yaw_rate for s in stamps_ns])
    return {
        "position": np.array([e.position for e in states]),
        "yaw": np.array([e.yaw for e in states]),
        "velocity": np.array([e.velocity for e in states]),
        "yaw_rate": np.array([e.yaw_rate for e in states]),
        "yaw_accel": (w_p - w_m) / (2e-9 * h),
        "accel_body": np.array([e.accel_body for e in states]),
        "speed": np.array([e.speed for e in states]),
    }


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ax, ay, az, aw = np.moveaxis(a, -1, 0)
    bx, by, bz, bw = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def _rotvec_quat(v: np.ndarray) -> np.ndarray:
    ang = np.linalg.norm(v, axis=-1)
    k = np.where(ang > 1e-12, np.sin(0.5 * ang) / np.maximum(ang, 1e-12), 0.5)
    return np.concatenate([v * k[..., None], np.cos(0.5 * ang)[..., None]], axis=-1)


def _ahrs_reference(q: np.ndarray, c: Mapping, st: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An AHRS's orientation: yaw referenced to magnetic north and to its own zero, plus a slowly
    wandering magnetic disturbance. In robot_localization's convention (``navsat_transform``'s
    ``yaw_offset`` and ``magnetic_declination_radians``): ``yaw_enu = yaw_imu + declination + offset``,
    so the reported yaw is rotated by ``-(declination + offset + bias)`` about the world z axis.
    With all three zero (the car scenarios) nothing is drawn and ``q`` is returned unchanged."""
    off = float(c["magnetic_declination_rad"]) + float(c["yaw_offset_rad"])
    b_std, tau = float(c["yaw_bias_std_deg"]), float(c["yaw_bias_time_s"])
    if off == 0.0 and b_std == 0.0:
        return q
    n = len(st)
    bias = np.zeros(n)
    if b_std > 0.0 and n:
        wn = rng.standard_normal(n)  # drawn after every other IMU number: switching it on shifts none
        phi = np.exp(-np.diff(st).astype(np.float64) * 1e-9 / max(tau, 1e-9))
        bias[0] = wn[0]
        for k in range(1, n):
            bias[k] = phi[k - 1] * bias[k - 1] + np.sqrt(1.0 - phi[k - 1] ** 2) * wn[k]
        bias *= np.radians(b_std)
    half = -0.5 * (off + bias)
    rz = np.column_stack([np.zeros(n), np.zeros(n), np.sin(half), np.cos(half)])
    return _quat_mul(rz, q)


def _random_walk(rng: np.random.Generator, n: int, dt: np.ndarray, init_std: float, rw: float) -> np.ndarray:
    b0 = init_std * rng.standard_normal(3)
    steps = rw * np.sqrt(dt)[:, None] * rng.standard_normal((n, 3))
    steps[0] = 0.0
    return b0 + np.cumsum(steps, axis=0)


def _vibration(
    c: Mapping, e: Mapping[str, np.ndarray], n: int, rng: np.random.Generator
) -> tuple[Callable[[], np.ndarray], Callable[[], np.ndarray]] | None:
    """Chassis vibration in base_link axes, or None when off (every ``vibration_*`` zero).

    Why: a small robot without suspension shakes on its wheels or tracks, and a skid-steer base
    also while it turns on the spot (its wheels scrub sideways); an IMU sampled at tens of Hz sees
    that as broadband, zero-mean noise far above its datasheet density, which drivers do not
    report in their covariance. Per axis the standard deviation per sample is
    ``idle + ref * u / vibration_ref_speed_mps`` with the excitation speed ``u = |v| + |w| *
    vibration_half_track_m`` (the wheels' ground speed; ``|w|`` the body's whole rotation rate:
    turning on the spot, and rocking over rough slopes); ``ref`` is ``[x, y, z]`` for the
    accelerometer (m/s^2) and for the gyro (rad/s). ``vibration_correlation`` (0: white) is the
    lag-one correlation of consecutive samples, AR(1) at the same per-sample level: what an IMU
    that low-passes before it decimates delivers. Returned as two thunks so the draws happen
    after every other IMU number (the gyro's first, then the accelerometer's)."""
    acc_ref = np.asarray(c["vibration_accel_mps2"], dtype=np.float64)
    gyr_ref = np.asarray(c["vibration_gyro_rad_s"], dtype=np.float64)
    acc_idle, gyr_idle = float(c["vibration_idle_accel_mps2"]), float(c["vibration_idle_gyro_rad_s"])
    if not (acc_ref.any() or gyr_ref.any() or acc_idle or gyr_idle) or not n:
        return None
    if "omega_body" in e:
        w = np.linalg.norm(e["omega_body"], axis=1)
    else:
        w = np.abs(e["yaw_rate"])
    u = (np.abs(e["speed"]) + w * float(c["vibration_half_track_m"])) / float(c["vibration_ref_speed_mps"])
    rho = float(c["vibration_correlation"])

    def shake(ref: np.ndarray, idle: float) -> np.ndarray:
        z = rng.standard_normal((n, 3))
        if rho:  # AR(1) at unit variance: an IMU that low-passes before it decimates
            b0 = np.sqrt(1.0 - rho * rho)
            z = lfilter([b0], [1.0, -rho], z, axis=0, zi=(1.0 - b0) * z[:1])[0]  # starts at z[0]
        return z * (idle + u[:, None] * ref)

    def gyro() -> np.ndarray:
        return shake(gyr_ref, gyr_idle)

    def accel() -> np.ndarray:
        return shake(acc_ref, acc_idle)

    return gyro, accel


def simulate_imu(
    world: WorldView,
    stamps_ns: np.ndarray,
    T_base_imu: np.ndarray,
    cfg: Mapping | None,
    rng: np.random.Generator,
    frame_id: str | None = None,
    t0_ns: int | None = None,
) -> ImuSeries:
    """IMU samples at ``stamps_ns`` (measurement times); samples inside ``outages`` are omitted."""
    c = _block(cfg, "imu")
    st = np.asarray(stamps_ns, dtype=np.int64)
    n = len(st)
    e = _ego_arrays(world, st)
    T = np.asarray(T_base_imu, dtype=np.float64)
    R_bi, r = T[:3, :3], T[:3, 3]
    zeros = np.zeros(n)
    if "R_world_base" in e:  # 3D attitude (robot on slopes): full rigid-body kinematics
        Rwb, omega, alpha = e["R_world_base"], e["omega_body"], e["alpha_body"]
        rr = np.broadcast_to(r, (n, 3))
        a = e["accel_body"] + np.cross(alpha, rr) + np.cross(omega, np.cross(omega, rr))
        f = a + float(c["gravity_mps2"]) * Rwb[:, 2, :]  # R^T (0, 0, g): the third row of R
    else:
        w = e["yaw_rate"]
        dw = e["yaw_accel"]
        omega = np.column_stack([zeros, zeros, w])
        # a_imu = a_base + alpha x r + omega x (omega x r), planar rotation about z
        a = e["accel_body"] + np.column_stack(
            [-dw * r[1] - w * w * r[0], dw * r[0] - w * w * r[1], zeros]
        )  # fmt: skip
        f = a + np.array([0.0, 0.0, float(c["gravity_mps2"])])
    gyro_true = omega @ R_bi  # R_bi^T omega for each row
    acc_true = f @ R_bi
    dt = np.diff(st, prepend=st[0] - (st[1] - st[0] if n > 1 else 0)).astype(np.float64) * 1e-9
    rate = 1.0 / float(np.median(dt)) if n > 1 and np.median(dt) > 0 else float(c["rate_hz"])
    sg = float(c["gyro_noise_density"]) * np.sqrt(rate)
    sa = float(c["accel_noise_density"]) * np.sqrt(rate)
    bg = _random_walk(rng, n, dt, float(c["gyro_bias_init_std"]), float(c["gyro_bias_random_walk"]))
    ba = _random_walk(rng, n, dt, float(c["accel_bias_init_std"]), float(c["accel_bias_random_walk"]))
    gyro = gyro_true + bg + sg * rng.standard_normal((n, 3))
    acc = acc_true + ba + sa * rng.standard_normal((n, 3))
    vib = _vibration(c, e, n, rng)  # drawn last, after the AHRS disturbance: it shifts no other number
    q = q_cov = None
    if c["include_orientation"]:
        if "R_world_base" in e:
            q = Rotation.from_matrix(e["R_world_base"] @ R_bi).as_quat()
        else:
            half = 0.5 * e["yaw"]
            qz = np.column_stack([zeros, zeros, np.sin(half), np.cos(half)])
            q = _quat_mul(qz, np.broadcast_to(matrix_to_quat(R_bi), (n, 4)))
        sig = np.radians(np.asarray(c["orientation_noise_deg"], dtype=np.float64))
        q = _quat_mul(q, _rotvec_quat(sig * rng.standard_normal((n, 3))))
        q = _ahrs_reference(q, c, st, rng)
        q *= np.where(q[:, 3:4] < 0, -1.0, 1.0)
        q_cov = np.diag(sig**2)
    if vib is not None:
        gyro = gyro + vib[0]() @ R_bi
        acc = acc + vib[1]() @ R_bi
    t0 = int(getattr(world, "t0_ns", 0) if t0_ns is None else t0_ns)
    keep = ~window_mask(st, t0, c.get("outages", []))
    return ImuSeries(
        stamps_ns=st[keep],
        frame_id=frame_id or str(c["frame"]),
        gyro=gyro[keep],
        accel=acc[keep],
        orientation=None if q is None else q[keep],
        gyro_cov=np.eye(3) * sg**2,
        accel_cov=np.eye(3) * sa**2,
        orientation_cov=q_cov,
        gyro_bias=bg[keep],
        accel_bias=ba[keep],
    )


def simulate_gps(
    world: WorldView,
    stamps_ns: np.ndarray,
    T_base_gps: np.ndarray,
    cfg: Mapping | None,
    rng: np.random.Generator,
    frame_id: str | None = None,
    t0_ns: int | None = None,
) -> GpsSeries:
    """GNSS fixes at ``stamps_ns``; fixes inside ``outages`` (seconds from ``t0_ns``) are omitted."""
    c = _block(cfg, "gps")
    st = np.asarray(stamps_ns, dtype=np.int64)
    n = len(st)
    e = _ego_arrays(world, st)
    T = np.asarray(T_base_gps, dtype=np.float64)
    t = T[:3, 3]
    if "R_world_base" in e:  # 3D attitude (robot on slopes)
        enu = e["position"] + e["R_world_base"] @ t
    else:
        cy, sy = np.cos(e["yaw"]), np.sin(e["yaw"])
        enu = e["position"] + np.column_stack(
            [cy * t[0] - sy * t[1], sy * t[0] + cy * t[1], np.full(n, t[2])]
        )
    if c["gnss_model"] == "white":
        sig = np.array([c["horizontal_std_m"], c["horizontal_std_m"], c["vertical_std_m"]], dtype=np.float64)
        err = _white_model_error(rng, st, sig, float(c["correlation_time_s"]))
        cov = np.broadcast_to(np.diag(sig**2), (n, 3, 3))
        status = np.full(n, NAVSAT_STATUS_FIX, dtype=np.int8)
        corr = mp = None
    else:
        ge = gnss_errors(c, st, enu, rng, multipath_source(world))
        err, corr, mp, status = ge.total, ge.correlated, ge.multipath, ge.status
        cov = ge.reported_std[:, :, None] ** 2 * np.eye(3)[None]
    vel = vel_cov = None
    if c["gnss_model"] != "white" and c["velocity"]:
        lever = enu - e["position"]  # antenna velocity = base velocity + omega x lever arm (world)
        if "R_world_base" in e:
            omega = np.einsum("nij,nj->ni", e["R_world_base"], e["omega_body"])
        else:
            omega = np.column_stack([np.zeros(n), np.zeros(n), e["yaw_rate"]])
        v_ant = e["velocity"] + np.cross(omega, lever)
        vs = np.array([1.0, 1.0, 2.0]) * float(c["velocity_std_mps"])
        vel = v_ant + vs * rng.standard_normal((n, 3))  # drawn last: never shifts the fixes
        vel_cov = np.diag(vs**2)
    meas = enu + err
    d = c["datum"]
    lat, lon, alt = enu_to_geodetic(
        meas[:, 0], meas[:, 1], meas[:, 2], d["lat_deg"], d["lon_deg"], d["alt_m"]
    )
    t0 = int(getattr(world, "t0_ns", 0) if t0_ns is None else t0_ns)
    keep = ~window_mask(st, t0, c.get("outages", []))
    return GpsSeries(
        stamps_ns=st[keep],
        frame_id=frame_id or str(c["frame"]),
        latitude=np.atleast_1d(lat)[keep],
        longitude=np.atleast_1d(lon)[keep],
        altitude=np.atleast_1d(alt)[keep],
        covariance=np.asarray(cov)[keep].copy(),
        status=status[keep],
        enu_true=enu[keep],
        enu_measured=meas[keep],
        correlated_error=None if corr is None else corr[keep],
        multipath_error=None if mp is None else mp[keep],
        velocity=None if vel is None else vel[keep],
        velocity_cov=vel_cov,
    )


def _white_model_error(rng: np.random.Generator, st: np.ndarray, sig: np.ndarray, tau: float) -> np.ndarray:
    """The pre-issue-15 error: white, or Gauss-Markov when ``tau`` > 0 (draws unchanged, bit for bit)."""
    n = len(st)
    white = rng.standard_normal((n, 3))
    if tau > 0 and n > 1:
        # first-order Gauss-Markov with stationary std ``sig``: e_k = phi e_{k-1} + sqrt(1 - phi^2) w_k
        dt = np.diff(st).astype(np.float64) * 1e-9
        phi = np.exp(-dt / tau)
        err = np.empty((n, 3))
        err[0] = white[0]
        for k in range(1, n):
            err[k] = phi[k - 1] * err[k - 1] + np.sqrt(1.0 - phi[k - 1] ** 2) * white[k]
        return err * sig
    return white * sig
