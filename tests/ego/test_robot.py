"""Ground robots: heading at low speed (wheel track, GNSS velocity), wheel odometry before the
heading is known, stops and turns on the spot, AHRS yaw offset / declination / bias, gating
counts. World: tests/ego/robot_sim.py (1 m/s skid-steer, IMU 30 Hz rotated, GPS 2.5 Hz
sigma 0.9 m, wheels 10 Hz)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from sensor_fusion.core.geometry import wrap_angle
from sensor_fusion.ego import eskf, track_align
from sensor_fusion.ego.estimator import EgoEstimator
from sensor_fusion.ego.track_align import fit_rotation
from sensor_fusion.ego.velocity_inputs import floored, velocity_measurement
from tests.ego.robot_sim import T_BASE_GPS, T_BASE_IMU, RobotSim, robot_config, simulate

MOTION_START_S = 3.0  # the yard profile stands still before this


def run(sim: RobotSim, cfg=None, wheel=True, gvel=False, delay=0) -> tuple[EgoEstimator, np.ndarray]:
    """Feed the IMU in order and each other measurement after the IMU sample ``delay`` samples
    past its stamp (0: in order; > 0: late, fused by rollback). Records per IMU sample
    (t, aligned, yaw error, horizontal position error, filter speed, true speed)."""
    est = EgoEstimator(cfg or robot_config(), T_base_imu=T_BASE_IMU, T_base_gps=T_BASE_GPS)
    ev = [(f.stamp_ns, 0, f) for f in sim.gps]
    if wheel:
        ev += [(w[0], 1, w) for w in sim.wheel]
    if gvel:
        ev += [(w[0], 2, w) for w in sim.gnss_vel]
    ev.sort(key=lambda e: (e[0], e[1]))
    k, rec = 0, []

    def deliver(until_ns: int) -> None:
        nonlocal k
        while k < len(ev) and ev[k][0] <= until_ns:
            _, kind, m = ev[k]
            k += 1
            if kind == 0:
                est.add_gps(m)
            elif kind == 1:
                est.add_wheel_odometry(*m)
            else:
                est.add_gnss_velocity(*m)

    for i, smp in enumerate(sim.imu):
        est.add_imu(smp)
        d = delay if est.initialized else 0  # the first fix in order: the same start
        deliver(sim.stamps[max(0, i - d)])
        if est.initialized:
            p = est.latest()
            rec.append(
                (
                    sim.t[i],
                    est.yaw_aligned,
                    float(wrap_angle(p.yaw - sim.yaw[i])),
                    float(np.linalg.norm(p.position[:2] - sim.pos[i, :2])),
                    float(np.hypot(*est.nominal["v"][:2])),
                    sim.speed[i],
                )
            )
    deliver(sim.stamps[-1])  # what the delay held back
    return est, np.array(rec, dtype=float)


def t_aligned(rec: np.ndarray) -> float:
    al = rec[rec[:, 1] > 0]
    return float(al[0, 0]) if len(al) else math.inf


@pytest.fixture(scope="module")
def yard() -> RobotSim:
    return simulate(70.0, "yard", seed=3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_low_speed_heading_from_wheel_track(seed):
    """1 m/s with 0.9 m fixes: the heading is known within 12 s of motion, stays within 6 deg
    (through the stop and the turn on the spot), and no fix is gated or re-initialised."""
    sim = simulate(70.0, "yard", seed=seed)
    est, rec = run(sim)
    ta = t_aligned(rec)
    assert ta - MOTION_START_S < 12.0
    assert est.counters["yaw_aligned_track"] == 1 and est.counters["yaw_aligned"] == 1
    after = rec[rec[:, 0] > ta + 3.0]
    assert np.all(after[:, 1] > 0)
    assert np.degrees(np.abs(after[:, 2]).max()) < 6.0
    assert est.counters["gps_reinit"] == 0 and est.counters["gps_rejected_gate"] <= 2
    # the old course paths (filter velocity, GPS chord at >= align_min_speed_mps) never align here
    _, rec_old = run(sim, wheel=False)
    assert t_aligned(rec_old) == math.inf


def test_wheels_that_disagree_with_the_fixes_hand_the_heading_to_the_course():
    """With live wheel odometry the track alone aligns; but wheels reading half the speed (a
    wrong wheel radius) never fit the fixes, and once the fixes have spread over three times the
    track's span floor the GPS course aligns as it would without wheels. Good wheels still align
    by the track, earlier."""
    sim = simulate(40.0, "fast", seed=1, wheel_scale=0.5)
    est, rec = run(sim)
    ta = t_aligned(rec)
    assert ta < 35.0 and est.counters["yaw_aligned_track"] == 0
    assert np.degrees(np.abs(rec[rec[:, 0] > ta + 3.0, 2]).max()) < 15.0
    good, rec_good = run(simulate(40.0, "fast", seed=1))
    assert good.counters["yaw_aligned_track"] == 1 and t_aligned(rec_good) < ta


def test_wheel_odometry_used_before_heading_known(yard):
    """Before the heading is known the wheels fix the velocity at standstill (heading-free) and
    extend the track; the filter stays at the fixes instead of drifting."""
    est, rec = run(yard, wheel=True)
    pre = rec[rec[:, 0] < MOTION_START_S]
    assert not pre[:, 1].any()
    assert np.abs(pre[1:, 4]).max() < 0.05  # standing: speed pinned near zero by the wheels
    ta = t_aligned(rec)
    before = rec[(rec[:, 0] < ta)]
    assert np.sqrt(np.mean(before[:, 3] ** 2)) < 1.5  # within the fix noise, no run-away
    est2, _ = run(simulate(ta - 0.5, "yard", seed=3))  # stopped before the alignment
    assert not est2.yaw_aligned
    assert est2.counters["wheel_accepted"] >= 10 * MOTION_START_S - 5  # at least the standstill rows
    assert len(est2._s.track_v) > 0 and len(est2._s.track_z) > 0


def test_a_vibrating_chassis_keeps_the_wheels():
    """An unsprung chassis shakes its IMU 10-100x above the datasheet density (1 m/s^2, 3 deg/s per
    sample at 1 m/s here). With the configured densities alone the filter trusts its IMU more
    than its wheels and gates them (a third or more); with the measured noise
    (``imu_noise_measured``) it takes them, aligns and holds the heading and the speed."""
    sim = simulate(70.0, "yard", seed=3, vibration=1.0)
    est, rec = run(sim)
    assert est.counters["wheel_rejected"] <= 5
    ta = t_aligned(rec)
    assert ta - MOTION_START_S < 12.0
    after = rec[rec[:, 0] > ta + 3.0]
    assert np.degrees(np.abs(after[:, 2]).max()) < 8.0
    moving = after[after[:, 5] > 0.5]
    assert np.sqrt(np.mean((moving[:, 4] - moving[:, 5]) ** 2)) < 0.1  # speed within 0.1 m/s RMS
    assert est.counters["gps_reinit"] == 0
    blind, _ = run(sim, robot_config(imu_noise_measured=False))
    n = blind.counters["wheel_accepted"] + blind.counters["wheel_rejected"]
    assert blind.counters["wheel_rejected"] > n / 3


def test_stop_and_turn_on_the_spot_keep_heading(yard):
    """A stop with a turn on the spot (0.5 rad/s, 20-26 s): no standstill update while the turn's
    rate ramps up (it would become gyro bias), the heading follows the gyro."""
    _, rec = run(yard)
    turn = rec[(rec[:, 0] > 20.0) & (rec[:, 0] < 27.0)]
    assert np.all(turn[:, 1] > 0)
    assert np.degrees(np.abs(turn[:, 2]).max()) < 4.0


def test_turning_on_the_spot_gives_no_heading():
    """Turns on the spot alone never move the track: no alignment, no crash, no gated fix."""
    sim = simulate(30.0, "spin", seed=5)
    est, rec = run(sim)
    assert not rec[:, 1].any()
    assert est.counters["gps_rejected_gate"] == 0
    assert est.counters["wheel_accepted"] + est.counters["vel_heading_unknown"] > 280


def test_gnss_velocity_aligns_heading():
    """Doppler velocity (0.05 m/s) at 1 m/s: its course is the heading within ~2 s of motion."""
    sim = simulate(40.0, "yard", seed=4)
    est, rec = run(sim, wheel=False, gvel=True)
    ta = t_aligned(rec)
    assert ta - MOTION_START_S < 3.0
    assert est.counters["yaw_aligned_gnss_velocity"] == 1
    after = rec[rec[:, 0] > ta + 1.0]
    assert np.degrees(np.abs(after[:, 2]).max()) < 6.0
    assert est.counters["gnss_vel_accepted"] > 50


def test_ahrs_yaw_offset_and_declination():
    """An AHRS that reads (true - pi/2 - declination): with imu_yaw_offset_rad and
    magnetic_declination_rad the start heading is right; without them it is off by ~pi/2."""
    decl = 0.06
    sim = simulate(8.0, "yard", seed=6, ahrs_yaw_error=-(math.pi / 2) - decl)
    cfg = dict(use_imu_orientation_yaw=True, imu_orientation_yaw_std_rad=0.05)
    _, rec = run(sim, robot_config(**cfg, imu_yaw_offset_rad=math.pi / 2, magnetic_declination_rad=decl))
    assert rec[0, 1] > 0 and np.degrees(np.abs(rec[:, 2]).max()) < 4.0
    _, rec_raw = run(sim, robot_config(**cfg))
    assert abs(abs(rec_raw[0, 2]) - math.pi / 2) < 0.1


def test_ahrs_yaw_bias_estimated_and_disturbance_gated():
    """An AHRS with an unknown 0.15 rad bias and a 0.8 rad magnetic disturbance at 35-40 s: the
    AHRS waits while its bias is unknown, the bias is then estimated against the heading GPS +
    wheels give, the disturbance is gated and counted."""
    sim = simulate(70.0, "yard", seed=7, ahrs_yaw_error=0.15, ahrs_glitch=(35.0, 40.0, 0.8))
    cfg = robot_config(
        use_imu_orientation_yaw=True,
        imu_orientation_yaw_std_rad=0.035,
        imu_orientation_yaw_rate_hz=1.0,
        imu_yaw_bias_init_std_rad=0.3,
        imu_yaw_bias_walk_rad_sqrt_s=1e-3,
    )
    est, rec = run(sim, cfg)
    b, b_std = est.yaw_bias
    assert abs(b - 0.15) < 3 * b_std and b_std < 0.05
    assert est.counters["imu_yaw_rejected"] >= 4  # the disturbance, 1 Hz x 5 s
    assert est.counters["imu_yaw_unused"] > 0  # before the wheels gave the heading: bias unknown
    late = rec[rec[:, 0] > 30.0]
    assert np.degrees(np.abs(late[:, 2]).max()) < 6.0
    assert est.counters["gps_reinit"] == 0


def test_late_wheel_odometry_equals_in_order(yard):
    """Wheel samples and fixes delivered 6 IMU samples (0.2 s) late are fused by rollback; the
    track lives in the state, so the result equals in-order processing."""
    short = simulate(20.0, "yard", seed=3)
    a, _ = run(short)
    b, _ = run(short, delay=6)
    assert a.yaw_aligned and b.yaw_aligned
    np.testing.assert_allclose(a.nominal["p"], b.nominal["p"], atol=1e-9)
    np.testing.assert_allclose(a.nominal["q"], b.nominal["q"], atol=1e-9)


def test_velocity_measurement_covariance_fallbacks():
    v = np.array([1.0, 0.0, 0.0])
    m = velocity_measurement(1, v, None, 0.1, "wheel")
    assert m.rows == (0, 1, 2) and np.allclose(np.diag(m.cov), 0.01)
    m = velocity_measurement(1, v, np.full((3, 3), np.nan), 0.1, "wheel")
    assert np.allclose(np.diag(m.cov), 0.01)
    m = velocity_measurement(1, v, np.diag([0.0, 0.04, 1e6]), 0.1, "wheel")  # zero: fallback; 1e6: unmeasured
    assert m.rows == (0, 1) and np.allclose(np.diag(m.cov), [0.01, 0.04])
    assert velocity_measurement(1, np.full(3, np.nan), None, 0.1, "wheel") is None
    assert velocity_measurement(1, np.ones(2), None, 0.1, "wheel") is None
    est = EgoEstimator(robot_config())
    assert not est.add_wheel_odometry(1, np.full(3, np.nan), None)  # before init and invalid: counted
    assert not est.add_gnss_velocity(1, v, None)
    assert est.counters["wheel_rejected"] == 1 and est.counters["gnss_vel_rejected"] == 1


def test_a_drivers_tiny_lateral_covariance_is_floored_at_the_side_slip():
    """A diff-drive driver reports zero lateral and vertical velocity with a constant 0.001
    (m/s)^2 (``diff_drive_controller``'s default): those rows reach the filter with at least the
    non-holonomic constraint's variance (0.1 m/s side slip), the measured forward row as
    reported, and a full covariance stays positive definite."""
    cov = np.full((3, 3), 0.0005) + np.eye(3) * 0.0005  # 0.001 on the diagonal, correlated rows
    m = floored(velocity_measurement(1, np.array([1.0, 0.0, 0.0]), cov, 0.1, "wheel"), (0.0, 0.1, 0.1))
    assert np.diag(m.cov) == pytest.approx([0.001, 0.01, 0.01])
    np.linalg.cholesky(m.cov)
    m0 = velocity_measurement(1, np.array([1.0, 0.0, 0.0]), np.diag([0.001, 0.04, 1e6]), 0.1, "wheel")
    assert floored(m0, (0.0, 0.1, 0.1)) is m0  # nothing below its floor: untouched
    est = EgoEstimator(robot_config(nhc_lateral_std_mps=0.1, nhc_vertical_std_mps=0.1))
    seen = []
    est._hist.add = lambda meas: seen.append(meas) or True
    est._hist.state = object()  # started: the measurement goes to the history
    assert est.add_wheel_odometry(1, np.array([1.0, 0.0, 0.0]), np.eye(3) * 0.001)
    assert np.diag(seen[0].cov) == pytest.approx([0.001, 0.01, 0.01])


def test_fit_rotation_recovers_angle_and_std():
    rng = np.random.default_rng(0)
    d = np.stack([np.linspace(0, 10, 26), 0.2 * np.sin(np.linspace(0, 3, 26))], 1)
    th = 0.7
    R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    errs = []
    for _ in range(200):
        z = d @ R.T + np.array([5.0, -3.0]) + rng.normal(0, 0.9, d.shape)
        t, std, span = fit_rotation(d, z, np.full(len(d), 0.81))
        errs.append(wrap_angle(t - th) / std)
    assert span == pytest.approx(math.hypot(10.0, d[-1, 1] - d[0, 1]), rel=0.05)
    assert 0.7 < np.std(errs) < 1.3  # the std is honest for white noise


def test_robot_profile_loads_validates_and_aligns():
    """config/robot.yaml (and its calibration) load and validate; on the 1 m/s yard drive its ego
    block knows the heading within 12 s of motion with a yaw RMSE under 3 deg afterwards."""
    from sensor_fusion.config import from_flat, load_params_file, resolve_calibration_path
    from sensor_fusion.core.calibration import load_calibration

    repo = Path(__file__).resolve().parents[2]
    cfg = from_flat(load_params_file(repo / "config" / "robot.yaml"))
    assert cfg.wheel_odom.enabled and not cfg.ego.use_imu_orientation_yaw
    cal = load_calibration(resolve_calibration_path(cfg))
    T = cal.T_base_from(cfg.imu.frame)
    np.testing.assert_allclose(T[:3, :3].T @ [0, 0, 1], [0, 1, 0], atol=1e-9)  # gravity on the IMU's y
    sim = simulate(60.0, "yard", seed=8)
    est, rec = run(sim, dataclasses.replace(cfg.ego, datum=robot_config().datum))
    ta = t_aligned(rec)
    assert ta - MOTION_START_S < 12.0
    after = rec[rec[:, 0] > ta + 3.0]
    assert np.degrees(np.sqrt(np.mean(after[:, 2] ** 2))) < 3.0
    assert est.counters["gps_reinit"] == 0


def test_fit_rotation_drops_a_jumped_fix():
    """One fix 6 m off (a multipath jump) is dropped instead of bending the heading."""
    rng = np.random.default_rng(1)
    d = np.stack([np.linspace(0, 10, 26), np.zeros(26)], 1)
    z = d + rng.normal(0, 0.3, d.shape)
    z[20] += [0.0, 6.0]
    var = np.full(26, 0.09)
    th, std, _ = fit_rotation(d, z, var)
    assert abs(th) < 3 * std < 0.1
    keep = np.arange(26) != 20
    th_clean, _, _ = fit_rotation(d[keep], z[keep], var[keep])
    assert th == pytest.approx(th_clean, abs=1e-12)


def test_fit_rotation_drops_a_jumped_fix_that_bends_the_fit_towards_it():
    """The track of the robot test with a 9 m jump over 9-15 s (test_wheel_scale): 8 fixes at
    rest, 13 as the robot drives off and on to 5 m, then the last jumped fix (accepted: the
    heading unknown, the gate was wide), a gated one, and 5 true fixes after that known break.
    Far along the track, that one fix bends the rotation of its part until its own residual
    looks ordinary: judged by it, 12 of these 40 draws were more than 3 of the claimed sigmas
    off (up to 67 deg; 27 deg in the robot test). Judged by its miss from the fit of the
    others it is dropped."""
    drive = 5.0 * np.linspace(0, 1, 14)[1:] ** 1.5
    x = np.concatenate([np.zeros(8), drive, [10.4], np.linspace(11.2, 13.2, 5)])
    d = np.stack([x, np.zeros_like(x)], 1)
    var = np.full(len(d), 0.81)
    part = np.r_[np.zeros(22, int), np.ones(5, int)]
    for seed in range(40):
        z = d + np.random.default_rng(seed).normal(0.0, 0.9, d.shape)
        z[21] += [-3.75, -8.18]  # 9 m east, the robot heading 2 rad
        th, std, span = fit_rotation(d, z, var, part)
        # what try_align would hand the filter
        assert abs(th) < 3 * math.hypot(std, math.sqrt(2) * 0.9 / span), seed


def test_deleted_residuals_equal_a_refit_without_each_fix():
    """The closed form (sums less each fix's terms) against fitting the others for every fix:
    three parts, one of a single fix (nothing predicts it: 0)."""
    rng = np.random.default_rng(4)
    x = np.concatenate([np.linspace(0, 6, 12), np.linspace(7, 12, 9), [13.0]])
    d = np.stack([x, 0.3 * np.sin(x)], 1) + [3000.0, -2000.0]  # ENU metres from a datum
    var = rng.uniform(0.3, 1.2, len(d))
    z = d @ np.array([[0.8, 0.6], [-0.6, 0.8]]) + rng.normal(0.0, 0.9, d.shape)
    seg = np.r_[np.zeros(12, int), np.ones(9, int), [2]]
    r2 = track_align._deleted_r2(d, z, var, seg)
    for i in range(len(d)):
        o = np.arange(len(d)) != i
        if not (seg[o] == seg[i]).any():
            assert r2[i] == 0.0
            continue
        th = track_align._fit(d[o], z[o], var[o], seg[o])[0]
        w, m = 1.0 / var[o], seg[o] == seg[i]
        dbar, zbar = (w[m] @ d[o][m]) / w[m].sum(), (w[m] @ z[o][m]) / w[m].sum()
        info = sum(
            float(
                w[seg[o] == g]
                @ (
                    (d[o][seg[o] == g] - (w[seg[o] == g] @ d[o][seg[o] == g]) / w[seg[o] == g].sum()) ** 2
                ).sum(1)
            )
            for g in np.unique(seg[o])
        )
        c, sn = math.cos(th), math.sin(th)
        t = np.array([[c, -sn], [sn, c]]) @ (d[i] - dbar)
        miss = z[i] - zbar - t
        u = np.array([-t[1], t[0]]) / np.linalg.norm(t)
        base = var[i] + 1.0 / w[m].sum()
        across = float(miss @ u)
        expect = across**2 / (base + float(t @ t) / info) + (float(miss @ miss) - across**2) / base
        assert r2[i] == pytest.approx(expect, rel=1e-6), i  # sums of squares 3 km from the datum


def test_fit_rotation_drops_a_far_fix_jumped_along_the_track():
    """A jump along the track moves the far fix where the rotation's error cannot: judged with the
    rotation's variance on both axes, a 5 m jump there (5.4 sigma) passed half the time."""
    drive = 5.0 * np.linspace(0, 1, 14)[1:] ** 1.5
    x = np.concatenate([np.zeros(8), drive, [10.4], np.linspace(11.2, 13.2, 5)])
    d = np.stack([x, np.zeros_like(x)], 1)
    var = np.full(len(d), 0.81)
    part = np.r_[np.zeros(22, int), np.ones(5, int)]
    kept = 0
    for seed in range(40):
        z = d + np.random.default_rng(seed).normal(0.0, 0.9, d.shape)
        z[21] += [5.0, 0.0]
        *_, keep, _seg = track_align._fit_parts(d, z, var, part)
        kept += int(keep[21])
    assert kept <= 4  # of 40: the noise can cancel part of it


def test_track_alignment_places_the_antenna_with_its_heading_share(monkeypatch):
    """At the track alignment the filter's antenna goes where the fit puts it, and its covariance
    (through the GPS model's lever arm) is the fit's: the shift's variance plus the heading's
    share along the rotation's direction, correlated with yaw as the fit says."""
    from sensor_fusion.ego import alignment

    seen = []
    try_align = alignment.try_align

    def spy(s, c):
        res = try_align(s, c)
        if res is not None and res.antenna is not None:
            seen.append(res)
        return res

    monkeypatch.setattr(alignment, "try_align", spy)
    states = []
    aligned = alignment.Aligner.aligned

    def after(self, s, m, source=""):
        if source == "yaw_aligned_track":
            states.append((s.copy(), self._lever))
        aligned(self, s, m, source)

    monkeypatch.setattr(alignment.Aligner, "aligned", after)
    run(simulate(25.0, "yard", seed=2))
    assert seen and states
    res, (s, lever) = seen[0], states[0]
    lw = eskf.quat_to_rot(s.q) @ lever
    np.testing.assert_allclose((s.p + lw)[:2], res.antenna, atol=1e-9)
    # antenna = p + R lever: d/d(yaw) = e_z x (R lever)
    H = np.zeros((2, 15))
    H[:, 0:2] = np.eye(2)
    H[:, eskf.YAW] = [-lw[1], lw[0]]
    std2 = s.P[eskf.YAW, eskf.YAW]
    J = res.antenna_dtheta
    np.testing.assert_allclose(H @ s.P @ H.T, np.eye(2) * res.antenna_var + np.outer(J, J) * std2, atol=1e-12)
    np.testing.assert_allclose(H @ s.P[:, eskf.YAW], J * std2, atol=1e-12)


def test_fit_rotation_splits_a_held_jump():
    """A 3.6 m jump held over the second half of the track (multipath for seconds): per-fix
    residuals share it out and bend the heading; the step test splits the track there."""
    rng = np.random.default_rng(2)
    d = np.stack([np.linspace(0, 12, 30), np.zeros(30)], 1)
    z = d + rng.normal(0, 0.3, d.shape)
    z[15:] += [0.0, 3.6]
    th, std, _ = fit_rotation(d, z, np.full(30, 0.09))
    assert abs(th) < max(3 * std, 0.03)


def test_fit_rotation_splits_a_jump_in_the_newest_fixes_of_a_short_track():
    """Dev robot seed 13 at an 8 sigma span floor: 14 fixes at rest, 6 as the robot drives off,
    then a 6 m jump held by the newest 6 fixes. A one-shift fit bends the rotation to share the
    jump out (-58 deg, claimed 3.9 deg), so the residuals show no step; trying each point in
    time as a part of its own, rotation re-fitted, finds it. The residual-window test this
    replaced bent on 8 of these 40 noise draws with the span to align; the scan on none."""
    x = np.concatenate([np.zeros(14), np.linspace(0.2, 2.6, 6), np.linspace(4.8, 7.6, 6)])
    d = np.stack([x, np.zeros_like(x)], 1)
    var = np.full(len(d), 0.81)
    for seed in range(40):
        z = d + np.random.default_rng(seed).normal(0, 0.3, d.shape)
        z[20:] += [-3.7, -5.0]
        th, std, span = fit_rotation(d, z, var)
        # what try_align would hand the filter, at the 8 sigma floor (7.2 m at 0.9 m)
        if span >= 8 * 0.9:
            assert abs(th) < 3 * math.hypot(std, math.sqrt(2) * 0.9 / span), seed


def test_fit_rotation_splits_at_a_gated_fix():
    """A 5 m jump that starts 2 m into the drive (the filter gated its first fixes, so the break
    is known): one shift per part at the known break gives the heading, and so does the blind
    fit's split scan (the residual-window test it replaced bent 25 deg with a claimed 1.3 deg
    std here: too few fixes before the jump). A known break without a jump is not split."""
    rng = np.random.default_rng(3)
    x = np.concatenate([np.zeros(12), np.linspace(0.5, 2.0, 4), np.linspace(2.5, 14.0, 24)])
    d = np.stack([x, np.zeros_like(x)], 1)
    noise = rng.normal(0, 0.3, d.shape)
    z = d + noise
    z[16:] += [0.0, 5.0]
    var = np.full(len(d), 0.09)
    part = np.r_[np.zeros(16, int), np.ones(len(d) - 16, int)]
    th_blind, std_blind, _ = fit_rotation(d, z, var)
    assert abs(th_blind) < 3 * std_blind
    th, std, _ = fit_rotation(d, z, var, part)
    assert abs(th) < 3 * std < 0.1
    _, _, span = fit_rotation(d, d + noise, var, part)
    assert span == pytest.approx(14.0, abs=0.1)  # not split: one part spanning the whole track
