"""The robot scenario: mission (stops, turns in place, slopes), 3D IMU, AHRS yaw reference, wheel odometry."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from sensor_fusion.bag.io import bag_topics, read_messages
from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.ego.wheel_scale import climb_sine
from sensor_fusion.sim.inertial import simulate_imu
from sensor_fusion.sim.recorder import WHEEL_ODOM_TOPIC, calibration_from_bag, record
from sensor_fusion.sim.robot import RobotWorld
from sensor_fusion.sim.scenarios import scenario_config, stream_rng
from sensor_fusion.sim.wheel import simulate_wheel_odometry

QUIET = {
    "gyro_noise_density": 0.0,
    "accel_noise_density": 0.0,
    "gyro_bias_init_std": 0.0,
    "accel_bias_init_std": 0.0,
    "gyro_bias_random_walk": 0.0,
    "accel_bias_random_walk": 0.0,
    "orientation_noise_deg": [0.0, 0.0, 0.0],
    "yaw_bias_std_deg": 0.0,
    "vibration_accel_mps2": [0.0, 0.0, 0.0],
    "vibration_gyro_rad_s": [0.0, 0.0, 0.0],
    "vibration_idle_accel_mps2": 0.0,
    "vibration_idle_gyro_rad_s": 0.0,
}


@pytest.fixture(scope="module")
def cfg():
    return scenario_config("robot", {"world": {"duration_s": 60.0}})


@pytest.fixture(scope="module")
def world(cfg):
    return RobotWorld(cfg, 3)


@pytest.fixture(scope="module")
def cal(repo):
    return load_calibration(repo / "config" / "calibration_robot.yaml")


def test_mission_has_stops_turns_on_the_spot_and_slopes(cfg) -> None:
    turned = sloped = 0
    for seed in (1, 2, 3):
        w = RobotWorld(cfg, seed)
        g = w._grid
        v, wz = g["speed"], g["omega_body"][:, 2]
        assert v.max() <= 1.5 + 1e-6 and v.min() > -1e-3
        assert np.all(np.abs(v[: int(4.5 / 0.005)]) < 1e-6)  # stands still at the start
        assert (np.abs(v) < 0.02).mean() > 0.08  # stops
        turned += int(((np.abs(wz) > 0.3) & (np.abs(v) < 0.02)).sum() > 200)  # > 1 s turning in place
        sloped += int(w.slope_deg.max() > 4.0)
        # the body's z axis is the ground normal: no lateral velocity, none along z
        R = _R(w)
        vb = np.einsum("nji,nj->ni", R, g["velocity"])
        assert np.abs(vb[:, 1:]).max() < 0.02
    assert turned >= 2 and sloped >= 1


def _R(w):
    from sensor_fusion.sim.body import rot_zyx

    g = w._grid
    return rot_zyx(g["yaw"], g["pitch"], g["roll"])


def test_noise_free_imu_integrates_back_to_the_trajectory(world, cfg, cal) -> None:
    T = cal.T_base_from("imu_link")
    st = world.t0_ns + np.arange(0, 30_000_000_000, 2_500_000)
    imu = simulate_imu(world, st, T, dict(cfg["imu"], **QUIET), stream_rng(0, "imu"))
    R_bi, r, dt = T[:3, :3], T[:3, 3], 2.5e-3
    e = world.ego_arrays(st)
    Rwi = e["R_world_base"][0] @ R_bi
    p = e["position"][0] + e["R_world_base"][0] @ r
    v = e["velocity"][0] + e["R_world_base"][0] @ np.cross(e["omega_body"][0], r)
    g = np.array([0.0, 0.0, -9.80665])
    for k in range(len(st) - 1):  # trapezoidal strapdown
        Rn = Rwi @ Rotation.from_rotvec(0.5 * (imu.gyro[k] + imu.gyro[k + 1]) * dt).as_matrix()
        a = 0.5 * (Rwi @ imu.accel[k] + Rn @ imu.accel[k + 1]) + g
        p, v, Rwi = p + v * dt + 0.5 * a * dt * dt, v + a * dt, Rn
    truth = e["position"][-1] + e["R_world_base"][-1] @ r
    assert np.linalg.norm(p - truth) < 0.05
    # gravity on the IMU's y axis (the mounting of calibration_robot.yaml) when level
    assert np.abs(imu.accel[:, 1]).mean() > 9.5


def test_the_chassis_shakes_the_imu_with_the_wheels_ground_speed(world, cfg, cal) -> None:
    """Vibration (sim/inertial._vibration) in base_link axes: per sample, its idle hum plus the
    reference level times the wheels' ground speed (a turn on the spot shakes too), zero-mean; off
    (the cars), nothing is drawn."""
    T = cal.T_base_from("imu_link")
    R_bi = T[:3, :3]
    st = world.t0_ns + np.arange(0, 60_000_000_000, 33_333_333)
    # every other noise on (white, biases, AHRS orientation and its magnetic disturbance)
    ic = dict(cfg["imu"], **{k: v for k, v in QUIET.items() if k.startswith("vibration_")})
    quiet = simulate_imu(world, st, T, ic, stream_rng(0, "imu"))
    vib = {k: cfg["imu"][k] for k in cfg["imu"] if k.startswith("vibration_")}
    shaken = simulate_imu(world, st, T, dict(ic, **vib), stream_rng(0, "imu"))
    for k in ("orientation", "gyro_bias", "accel_bias"):  # drawn last: nothing else moves
        assert np.array_equal(getattr(quiet, k), getattr(shaken, k))
    assert cfg["imu"]["yaw_bias_std_deg"] > 0 and np.ptp(quiet.gyro_bias) > 0
    e = world.ego_arrays(st)
    u = np.abs(e["speed"]) + np.linalg.norm(e["omega_body"], axis=1) * vib["vibration_half_track_m"]
    acc = (shaken.accel - quiet.accel) @ R_bi.T  # back into base_link axes
    gyr = (shaken.gyro - quiet.gyro) @ R_bi.T
    driving = u > 0.8
    still = u < 1e-6
    assert driving.sum() > 300 and still.sum() > 100
    idle_a, idle_g = vib["vibration_idle_accel_mps2"], vib["vibration_idle_gyro_rad_s"]
    za = acc[driving] / (idle_a + u[driving, None] * np.array(vib["vibration_accel_mps2"]))
    zg = gyr[driving] / (idle_g + u[driving, None] * np.array(vib["vibration_gyro_rad_s"]))
    for z in (za, zg):
        np.testing.assert_allclose(z.std(axis=0), 1.0, atol=0.1)
        assert np.abs(z.mean(axis=0)).max() < 0.15
    np.testing.assert_allclose(acc[still].std(axis=0), idle_a, rtol=0.2)
    np.testing.assert_allclose(gyr[still].std(axis=0), idle_g, rtol=0.2)
    assert vib["vibration_accel_mps2"][2] > 10 * np.sqrt(30.0) * cfg["imu"]["accel_noise_density"]
    # an IMU that low-passes before it decimates: the same level, consecutive samples correlated
    low = simulate_imu(world, st, T, dict(ic, **{**vib, "vibration_correlation": 0.5}), stream_rng(0, "imu"))
    z = ((low.accel - quiet.accel) @ R_bi.T)[driving] / (
        idle_a + u[driving, None] * np.array(vib["vibration_accel_mps2"])
    )
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=0.1)
    run = np.flatnonzero(driving)
    pair = run[1:][np.diff(run) == 1]  # consecutive driving samples
    za = ((low.accel - quiet.accel) @ R_bi.T) / (idle_a + u[:, None] * np.array(vib["vibration_accel_mps2"]))
    lag1 = np.mean(za[pair] * za[pair - 1], axis=0)
    np.testing.assert_allclose(lag1, 0.5, atol=0.1)


def test_ahrs_yaw_follows_robot_localizations_offset_and_declination(world, cfg, cal) -> None:
    T = cal.T_base_from("imu_link")
    st = world.t0_ns + np.arange(0, 20_000_000_000, 33_333_333)
    ic = dict(cfg["imu"], **QUIET)
    imu = simulate_imu(world, st, T, ic, stream_rng(0, "imu"))
    Rb = Rotation.from_quat(imu.orientation).as_matrix() @ T[:3, :3].T
    yaw_imu = np.arctan2(Rb[:, 1, 0], Rb[:, 0, 0])
    yaw = world.ego_arrays(st)["yaw"]
    d = yaw - (yaw_imu + ic["magnetic_declination_rad"] + ic["yaw_offset_rad"])
    assert np.abs(np.angle(np.exp(1j * d))).max() < 1e-9
    biased = simulate_imu(world, st, T, dict(ic, yaw_bias_std_deg=3.0), stream_rng(0, "imu"))
    assert np.array_equal(biased.gyro, imu.gyro)  # the disturbance is drawn last
    Rb2 = Rotation.from_quat(biased.orientation).as_matrix() @ T[:3, :3].T
    bias = np.angle(np.exp(1j * (yaw_imu - np.arctan2(Rb2[:, 1, 0], Rb2[:, 0, 0]))))
    assert 0.05 < np.degrees(np.abs(bias)).max() < 15.0 and np.std(np.diff(bias)) < 1e-2


def test_wheel_odometry_slips_and_dead_reckons(world, cfg) -> None:
    st = world.t0_ns + np.arange(0, 60_000_000_000, 100_000_000)
    wc = dict(cfg["wheel_odom"], speed_noise_mps=0.0, yaw_rate_noise_rps=0.0, speed_scale_std=0.0)
    wc.update(yaw_rate_scale_std=0.0, slope_slip_per_rad=0.0)
    wo = simulate_wheel_odometry(world, st, dict(wc, slip_std=0.0), stream_rng(0, "w"))
    e = world.ego_arrays(st)
    assert np.allclose(wo.speed, e["speed"]) and np.allclose(wo.yaw_rate, e["omega_body"][:, 2])
    assert wo.x[0] == 0.0 and wo.y[0] == 0.0 and wo.yaw[0] == 0.0
    slip = simulate_wheel_odometry(world, st, wc, stream_rng(0, "w"))
    moving = e["speed"] > 0.3
    ratio = slip.speed[moving] / e["speed"][moving]
    assert ratio.min() >= 1.0 - 1e-9 and 0.005 < ratio.mean() - 1.0 < 0.06  # wheels over-read
    full = simulate_wheel_odometry(world, st, cfg["wheel_odom"], stream_rng(0, "w"))
    # dead reckoning drifts, but stays a fair odometry over a minute
    path = np.sum(np.hypot(np.diff(e["position"][:, 0]), np.diff(e["position"][:, 1])))
    ex = e["position"][:, :2] - e["position"][0, :2]
    c, s = np.cos(e["yaw"][0]), np.sin(e["yaw"][0])
    local = np.column_stack([c * ex[:, 0] + s * ex[:, 1], -s * ex[:, 0] + c * ex[:, 1]])
    drift = np.hypot(full.x[-1] - local[-1, 0], full.y[-1] - local[-1, 1])
    assert 0.0 < drift < 0.3 * path


def test_wheel_slip_follows_the_traction_a_slope_asks_for(world, cfg) -> None:
    """Uphill the wheels pull and over-read, downhill they brake and under-read: the slope slip is
    signed with the climb along the motion (a one-sided slip made any fit of it a compromise)."""
    st = world.t0_ns + np.arange(0, 60_000_000_000, 100_000_000)
    wc = dict(cfg["wheel_odom"], speed_noise_mps=0.0, yaw_rate_noise_rps=0.0, speed_scale_std=0.0)
    wc.update(yaw_rate_scale_std=0.0, slip_std=0.0, slope_slip_per_rad=0.5)
    wo = simulate_wheel_odometry(world, st, wc, stream_rng(0, "w"))
    e = world.ego_arrays(st)
    moving = e["speed"] > 0.3
    climb = -e["pitch"][moving]
    ratio = wo.speed[moving] / e["speed"][moving]
    assert np.allclose(ratio - 1.0, 0.5 * climb)
    up, down = climb > 0.02, climb < -0.02
    assert up.any() and down.any()
    assert (ratio[up] > 1.0).all() and (ratio[down] < 1.0).all()
    # the filter reads the same climb from the attitude (its slip model is the generator's sign)
    R = e["R_world_base"][moving]
    g = np.array([climb_sine(Rk, np.array([v, 0.0, 0.0])) for Rk, v in zip(R, e["speed"][moving])])
    assert np.allclose(g, np.sin(climb), atol=1e-9)


def test_robot_bag_has_its_sensors_and_calibration(tmp_path, repo) -> None:
    out = tmp_path / "robot"
    info = record("robot", 2, 8.0, out)
    topics = bag_topics(out)
    want = ("/sensors/imu", "/sensors/gps/fix", WHEEL_ODOM_TOPIC, "/ground_truth/odom")
    for t in (*want, "/ground_truth/gps_error"):
        assert t in topics
    assert "/sensors/lidar/points" not in topics and not any("camera" in t for t in topics)
    assert info.counts["/sensors/imu"] == pytest.approx(240, abs=2)
    assert info.counts["/sensors/gps/fix"] == 20 and info.counts[WHEEL_ODOM_TOPIC] == 80
    cal = calibration_from_bag(out)
    ref = load_calibration(repo / "config" / "calibration_robot.yaml")
    assert np.allclose(cal.T_base_from("imu_link"), ref.T_base_from("imu_link"))
    for _t, _mt, _s, m in read_messages(out, ["/sensors/gps/fix"]):
        assert m.position_covariance[0] == pytest.approx(0.85**2 + 0.3**2)
        break


def test_a_fix_stamped_at_reception_carries_the_latency_and_its_truth_too(tmp_path) -> None:
    """``gps.stamp_latency_ms``: the fix's header stamp (and its truth topics', which pair with it
    by stamp) is the time of validity plus the latency; nothing else of the bag moves."""
    import yaml

    stamps = {}
    for late in (0.0, 150.0):
        cfg = tmp_path / f"late{late:.0f}.yaml"
        cfg.write_text(yaml.safe_dump({"gps": {"stamp_latency_ms": late}}))
        out = tmp_path / f"robot{late:.0f}"
        record("robot", 2, 4.0, out, overrides_file=cfg)
        got = {}
        for topic, _mt, t, m in read_messages(
            out, ["/sensors/gps/fix", "/ground_truth/gps_error", "/sensors/imu"]
        ):
            st = m.header.stamp.sec * 10**9 + m.header.stamp.nanosec
            got.setdefault(topic, []).append((st, t, getattr(m, "latitude", None)))
        stamps[late] = got
    a, b = stamps[0.0], stamps[150.0]
    assert [x[0] + 150_000_000 for x in a["/sensors/gps/fix"]] == [x[0] for x in b["/sensors/gps/fix"]]
    assert [x[0] for x in b["/ground_truth/gps_error"]] == [x[0] for x in b["/sensors/gps/fix"]]
    assert all(t >= st for st, t, _ in b["/sensors/gps/fix"])  # received after its stamp
    assert [x[2] for x in a["/sensors/gps/fix"]] == [x[2] for x in b["/sensors/gps/fix"]]
    assert a["/sensors/imu"] == b["/sensors/imu"]


def test_buildings_stand_beside_the_path_and_bring_multipath(world, cfg) -> None:
    from sensor_fusion.sim.gnss import multipath_source

    src = multipath_source(world)
    assert src is not None and len(world.facade_segments) == 4 * cfg["world"]["robot"]["buildings"]
    xy = world._grid["position"][:, :2]
    d = src.distance(xy)
    assert d.min() >= cfg["world"]["robot"]["building_clearance_m"] - 1e-6
    rate = src.multipath_rate_hz(xy)
    assert np.all(rate > 0) and rate.max() <= 0.1
