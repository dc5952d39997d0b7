"""Benchmark the ego estimator (IMU predict, GPS update) and LiDAR deskew against baselines.

Run: ``.venv/bin/python bench/bench_ego.py [--seconds 60] [--points 120000] [--repeat 20]``.

Stream: a car on a 50 m circle at 10 m/s, 100 Hz IMU (exact + noise), 5 Hz GPS.
Everything is timed per call with ``perf_counter_ns`` after a warm-up (numba
compiled, yaw aligned); medians are printed. Baselines in the same process:

* predict: the numpy reference step (``eskf.imu_propagate`` + ``F P F' + Q``), and
  filterpy ``KalmanFilter.predict`` given the same (F, Q) (covariance only: no
  nominal-state integration, no F construction);
* GPS update: filterpy ``KalmanFilter.update`` and ``ExtendedKalmanFilter.update``
  given the same (H, R, y) (no gating, injection, history or WGS84 conversion);
* GPS step test (``ego.gnss_steps``, opt-in): ``add_gps_enu`` with it, against without;
* deskew: exact per-point interpolation with scipy ``Slerp`` + ``Rotation.apply``
  over the same pose knots.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from benchutil import Figures
from filterpy.kalman import ExtendedKalmanFilter, KalmanFilter
from scipy.spatial.transform import Rotation, Slerp

from sensor_fusion.core.geodesy import enu_to_geodetic, geodetic_to_enu
from sensor_fusion.core.geometry import invert_transform, make_transform, rpy_to_matrix
from sensor_fusion.core.types import GpsFix, ImuSample
from sensor_fusion.ego import eskf
from sensor_fusion.ego._kernels import noise_start, predict_step
from sensor_fusion.ego.deskew import deskew_points
from sensor_fusion.ego.estimator import EgoConfig, EgoEstimator

NS = 1_000_000_000
G = 9.80665
DATUM = (48.137, 11.575, 520.0)
T0 = 1_700_000_000 * NS


def stream(seconds: float, seed: int = 0):
    """(imu samples, {imu index: (enu, fix)}) for a 50 m circle at 10 m/s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 100) + 1
    t = np.arange(n) / 100.0
    speed, radius = 10.0, 50.0
    r = speed / radius
    yaw = 0.3 + r * t
    pos = np.stack([radius * np.sin(yaw - 0.3), radius * (1 - np.cos(yaw - 0.3)), np.zeros(n)], 1)
    gyro = np.stack([np.zeros(n), np.zeros(n), np.full(n, r)], 1) + rng.normal(0, 3e-3, (n, 3))
    acc = np.stack([np.zeros(n), np.full(n, speed * r), np.full(n, G)], 1) + rng.normal(0, 0.05, (n, 3))
    stamps = T0 + np.round(t * NS).astype(np.int64)
    imu = [ImuSample(int(stamps[i]), "imu", gyro[i], acc[i]) for i in range(n)]
    fixes = {}
    cov = np.eye(3) * 1.5**2
    for i in range(0, n, 20):
        enu = pos[i] + np.array([0.5 * math.cos(yaw[i]), 0.5 * math.sin(yaw[i]), 1.5]) + rng.normal(0, 1.5, 3)
        lat, lon, alt = enu_to_geodetic(*enu, *DATUM)
        fixes[i] = (enu, GpsFix(int(stamps[i]), "gps", float(lat), float(lon), float(alt), cov))
    return imu, fixes


def make_estimator(**kw) -> EgoEstimator:
    cfg = EgoConfig(datum=DATUM, gyro_noise_rad_s_sqrt_hz=3e-4, accel_noise_mps2_sqrt_hz=5e-3, **kw)
    return EgoEstimator(cfg, T_base_gps=make_transform(np.eye(3), np.array([0.5, 0.0, 1.5])))


def med_us(ns: list[int]) -> float:
    return float(np.median(ns)) / 1e3


def bench_filter(seconds: float, fig: Figures) -> None:
    imu, fixes = stream(seconds)
    warm = 1500  # 15 s: initialised, numba compiled, yaw aligned
    est = make_estimator()
    t_imu, t_gps, t_kf_pred, t_kf_upd, t_ekf_upd, t_ref, t_kernel = [], [], [], [], [], [], []
    kf = KalmanFilter(dim_x=15, dim_z=3)
    ekf = ExtendedKalmanFilter(dim_x=15, dim_z=3)
    c = est.config
    qd = np.array(
        [
            c.accel_noise_mps2_sqrt_hz**2,
            c.gyro_noise_rad_s_sqrt_hz**2,
            c.accel_bias_walk_mps3_sqrt_hz**2,
            c.gyro_bias_walk_rad_s2_sqrt_hz**2,
        ]
    )
    g = np.array([0.0, 0.0, -G])
    windows = est._propagator._noise_windows  # the filter's own (read-only here)
    for i, s in enumerate(imu):
        if i >= warm:
            # baselines for this very step, from the same state
            F, Q = est.predict_matrices(s)
            kf.x = np.zeros(15)
            kf.P = est.P
            t0 = time.perf_counter_ns()
            kf.predict(F=F, Q=Q)
            t_kf_pred.append(time.perf_counter_ns() - t0)
            st = est._s  # internal state, read-only here
            w, a = s.angular_velocity, s.linear_acceleration
            t0 = time.perf_counter_ns()
            p1, v1, q1, Fr, _ = eskf.imu_propagate(
                st.p, st.v, st.q, st.ba, st.bg, st.w_meas, st.a_meas, w, a, 0.01, g
            )
            _ = Fr @ st.P @ Fr.T + eskf.process_noise(0.01, *np.sqrt(qd))
            t_ref.append(time.perf_counter_ns() - t0)
            noise0 = st.imu_noise if st.imu_noise is not None else noise_start(st.imu_mean)
            t0 = time.perf_counter_ns()
            predict_step(
                st.p, st.v, st.q, st.ba, st.bg, st.P, st.w_meas, st.a_meas, w, a, 0.01, g, qd, False,
                st.imu_mean, st.imu_var, 0.02, np.array([0.0, 0.0, 0.5]),
                noise0, 0.01, True, windows,
            )  # fmt: skip
            t_kernel.append(time.perf_counter_ns() - t0)
        t0 = time.perf_counter_ns()
        est.add_imu(s)
        dt_imu = time.perf_counter_ns() - t0
        if i >= warm:
            t_imu.append(dt_imu)
        if i in fixes:
            enu, fx = fixes[i]
            if i >= warm:
                H, R, y = est.gps_matrices(fx)
                kf.x = np.zeros(15)
                kf.P = est.P
                t0 = time.perf_counter_ns()
                kf.update(y, R=R, H=H)
                t_kf_upd.append(time.perf_counter_ns() - t0)
                ekf.x = np.zeros(15)
                ekf.P = est.P
                t0 = time.perf_counter_ns()
                ekf.update(y, HJacobian=lambda x, H=H: H, Hx=lambda x, H=H: H @ x, R=R)
                t_ekf_upd.append(time.perf_counter_ns() - t0)
            t0 = time.perf_counter_ns()
            est.add_gps(fx)
            if i >= warm:
                t_gps.append(time.perf_counter_ns() - t0)
    assert est.yaw_aligned, est.counters

    # add_gps_enu (no WGS84 conversion) and late fixes (200 ms -> rollback + 20-sample replay)
    # est4: the same fixes with the step test of ego/gnss_steps.py (ego.gnss_steps, opt-in)
    est2, est3, est4 = make_estimator(), make_estimator(), make_estimator(gnss_steps=True)
    t_enu, t_late, t_geo, t_vel, t_steps = [], [], [], [], []
    late = {i + 20: fx for i, (_, fx) in fixes.items() if i > 0}
    vel_cov = np.diag([0.1**2, 0.2**2, 1.0])
    for i, s in enumerate(imu):
        est2.add_imu(s)
        est3.add_imu(s)
        est4.add_imu(s)
        if i >= warm and i % 8 == 4:  # ~13 Hz radar-style forward/lateral velocity at the filter time
            t0 = time.perf_counter_ns()
            est2.add_body_velocity(s.stamp_ns, np.array([10.0, 0.0, np.nan]), vel_cov)
            t_vel.append(time.perf_counter_ns() - t0)
        if i in fixes:
            enu, fx = fixes[i]
            t0 = time.perf_counter_ns()
            est2.add_gps_enu(fx.stamp_ns, enu, fx.covariance)
            if i >= warm:
                t_enu.append(time.perf_counter_ns() - t0)
            t0 = time.perf_counter_ns()
            est4.add_gps_enu(fx.stamp_ns, enu, fx.covariance)
            if i >= warm:
                t_steps.append(time.perf_counter_ns() - t0)
                t0 = time.perf_counter_ns()
                geodetic_to_enu(fx.latitude, fx.longitude, fx.altitude, *DATUM)
                t_geo.append(time.perf_counter_ns() - t0)
        if i in late or i == 0:
            fx = late[i] if i else fixes[0][1]
            t0 = time.perf_counter_ns()
            est3.add_gps(fx)
            if i >= warm:
                t_late.append(time.perf_counter_ns() - t0)

    print(f"ego filter, {len(t_imu)} IMU samples / {len(t_gps)} fixes after warm-up (median per call):")
    print(f"  predict  EgoEstimator.add_imu (incl. history snapshot) {med_us(t_imu):8.1f} us")
    print(f"           numba kernel predict_step                     {med_us(t_kernel):8.1f} us")
    print(f"           numpy reference step (propagate + FPF'+Q)     {med_us(t_ref):8.1f} us"
          f"   ratio {med_us(t_ref) / med_us(t_imu):5.2f}x vs add_imu")  # fmt: skip
    print(f"           filterpy KalmanFilter.predict (P only)        {med_us(t_kf_pred):8.1f} us"
          f"   ratio {med_us(t_kf_pred) / med_us(t_imu):5.2f}x vs add_imu")  # fmt: skip
    print(f"  update   EgoEstimator.add_gps (WGS84 -> ENU, gate, fuse) {med_us(t_gps):6.1f} us")
    print(f"           EgoEstimator.add_gps_enu                        {med_us(t_enu):6.1f} us")
    print(f"           of which core.geodesy.geodetic_to_enu           {med_us(t_geo):6.1f} us")
    print(f"           add_gps_enu with gnss_steps (step test)         {med_us(t_steps):6.1f} us"
          f"   ratio {med_us(t_steps) / med_us(t_enu):5.2f}x vs add_gps_enu")  # fmt: skip
    print(f"           late fix, 200 ms (rollback + 20-sample replay)  {med_us(t_late):6.1f} us")
    print(f"           EgoEstimator.add_body_velocity (2 rows)         {med_us(t_vel):6.1f} us")
    print(f"           filterpy KalmanFilter.update                    {med_us(t_kf_upd):6.1f} us"
          f"   ratio {med_us(t_kf_upd) / med_us(t_enu):5.2f}x vs add_gps_enu")  # fmt: skip
    print(f"           filterpy ExtendedKalmanFilter.update            {med_us(t_ekf_upd):6.1f} us"
          f"   ratio {med_us(t_ekf_upd) / med_us(t_enu):5.2f}x vs add_gps_enu")  # fmt: skip
    for key, t in (("add_imu", t_imu), ("predict_kernel", t_kernel), ("numpy_reference_step", t_ref),
                   ("filterpy_predict", t_kf_pred), ("add_gps", t_gps), ("add_gps_enu", t_enu),
                   ("geodetic_to_enu", t_geo), ("add_gps_enu_gnss_steps", t_steps),
                   ("late_fix_200ms", t_late), ("add_body_velocity", t_vel),
                   ("filterpy_update", t_kf_upd), ("filterpy_ekf_update", t_ekf_upd)):  # fmt: skip
        fig.add(f"{key}_us", med_us(t))


def slerp_deskew(xyz, toff, stamp_ns, T_bl, pose_fn, target_ns, knots):
    """Baseline: exact per-point SLERP between the same knots (scipy), float64."""
    T_lb = invert_transform(T_bl)
    head = T_lb @ invert_transform(pose_fn(target_ns))
    lo, hi = float(toff.min()), float(toff.max())
    ts = np.linspace(lo, hi, knots)
    Ms = np.stack([head @ pose_fn(int(stamp_ns + round(t * NS))) @ T_bl for t in ts])
    rots = Slerp(ts, Rotation.from_matrix(Ms[:, :3, :3]))(np.clip(toff.astype(np.float64), lo, hi))
    trans = np.stack([np.interp(toff, ts, Ms[:, i, 3]) for i in range(3)], 1)
    return rots.apply(xyz.astype(np.float64)) + trans


def bench_deskew(n_points: int, repeat: int, fig: Figures) -> None:
    imu, fixes = stream(20.0)
    est = make_estimator()
    for i, s in enumerate(imu):
        est.add_imu(s)
        if i in fixes:
            est.add_gps(fixes[i][1])
    t_end = imu[-2].stamp_ns
    t0 = t_end - NS // 10
    rng = np.random.default_rng(1)
    xyz = rng.uniform(-60, 60, (n_points, 3)).astype(np.float32)
    toff = np.sort(rng.uniform(0.0, 0.1, n_points)).astype(np.float32)
    T_bl = make_transform(rpy_to_matrix(0.0, 0.0, 0.02), np.array([1.2, 0.0, 1.8]))
    ours, ours_fast, base = [], [], []
    for _ in range(repeat):
        a = time.perf_counter_ns()
        out = deskew_points(xyz, toff, t0, T_bl, est.T_world_base_at, t_end, num_knots=16)
        ours.append(time.perf_counter_ns() - a)
        a = time.perf_counter_ns()
        ref = slerp_deskew(xyz, toff, t0, T_bl, est.T_world_base_at, t_end, 16)
        base.append(time.perf_counter_ns() - a)
    poses = {}

    def cached(t: int) -> np.ndarray:
        if t not in poses:
            poses[t] = est.T_world_base_at(t)
        return poses[t]

    cached_fn = cached
    deskew_points(xyz, toff, t0, T_bl, cached_fn, t_end, num_knots=16)
    for _ in range(repeat):
        a = time.perf_counter_ns()
        deskew_points(xyz, toff, t0, T_bl, cached_fn, t_end, num_knots=16)
        ours_fast.append(time.perf_counter_ns() - a)
    err = np.abs(out - ref).max()
    print(f"deskew, {n_points} points, 0.1 s sweep, 16 knots (median of {repeat}):")
    print(f"  deskew_points (17 pose_at calls included)   {np.median(ours) / 1e6:7.2f} ms")
    print(f"  deskew_points (poses cached)                {np.median(ours_fast) / 1e6:7.2f} ms")
    ratio = np.median(base) / np.median(ours)
    print(f"  scipy Slerp per point (same knots)          {np.median(base) / 1e6:7.2f} ms"
          f"   ratio {ratio:5.2f}x; max |difference| {err * 1e3:.3f} mm")  # fmt: skip
    fig.add("deskew_points", n_points)
    fig.add("deskew_ms", np.median(ours) / 1e6)
    fig.add("deskew_cached_poses_ms", np.median(ours_fast) / 1e6)
    fig.add("deskew_scipy_slerp_baseline_ms", np.median(base) / 1e6)
    fig.add("deskew_slerp_over_ours_x", ratio)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--points", type=int, default=120_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    fig = Figures("ego")
    bench_filter(args.seconds, fig)
    bench_deskew(args.points, args.repeat, fig)
    fig.write()


if __name__ == "__main__":
    main()
