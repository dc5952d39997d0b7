"""Radar, IMU and GNSS models, and the WGS84 <-> ENU conversions they rely on."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.core.geodesy import (
    STANDARD_GRAVITY,
    ecef_to_geodetic,
    enu_to_geodetic,
    geodetic_to_ecef,
    geodetic_to_enu,
)
from sensor_fusion.core.geometry import make_transform, pose2d_to_transform, rpy_to_matrix
from sensor_fusion.sim.inertial import simulate_gps, simulate_imu
from sensor_fusion.sim.radar import (
    RCS_DBSM,
    TRUTH_CLUTTER,
    TRUTH_GHOST,
    simulate_radar,
    simulate_radar_with_truth,
)
from sensor_fusion.sim.road import RoadMap, straight_road
from sensor_fusion.sim.scenarios import BASE, scenario_config, stream_rng
from sensor_fusion.sim.state import ActorStates, EgoState
from sensor_fusion.sim.world import World

CAL = load_calibration("config/calibration.yaml")
T_RADAR = CAL.T_base_from("radar_front")
T_IMU = CAL.T_base_from("imu_link")
T_GPS = CAL.T_base_from("gps_link")
QUIET_RADAR = dict(
    BASE["radars"],
    range_noise_m=0.0,
    azimuth_noise_deg=0.0,
    elevation_noise_deg=0.0,
    velocity_noise_mps=0.0,
    rcs_noise_db=0.0,
    p_detect=1.0,
    snr_detection=False,
    clutter_rate=0.0,
    ghost_rate=0.0,
)
QUIET_IMU = dict(
    BASE["imu"],
    gyro_noise_density=0.0,
    accel_noise_density=0.0,
    gyro_bias_random_walk=0.0,
    accel_bias_random_walk=0.0,
    gyro_bias_init_std=0.0,
    accel_bias_init_std=0.0,
    orientation_noise_deg=[0.0, 0.0, 0.0],
)


class StubWorld:
    """A hand-made WorldView: the ego drives east on a straight road, actors are given."""

    def __init__(self, speed=10.0, yaw_rate=0.0, actors=None):
        self.ground = RoadMap([straight_road((-50.0, 1.75), 0.0, 400.0, shoulder=1.0)], resolution=0.1)
        self.speed, self.yaw_rate = speed, yaw_rate
        self.actors = actors
        self.t0_ns = 0

    def ego_at(self, stamp_ns: int) -> EgoState:
        v = self.speed
        return EgoState(
            stamp_ns,
            np.zeros(3),
            0.0,
            np.array([v, 0.0, 0.0]),
            self.yaw_rate,
            np.array([0.0, v * self.yaw_rate, 0.0]),
            v,
        )

    def actors_at(self, stamp_ns: int) -> ActorStates:
        return self.actors


def _actors(centers, labels, sizes, vel, yaw_rate=None) -> ActorStates:
    n = len(centers)
    return ActorStates(
        ids=np.arange(1, n + 1),
        labels=np.asarray(labels),
        centers=np.asarray(centers, dtype=float),
        sizes=np.asarray(sizes, dtype=float),
        yaw=np.zeros(n),
        velocity=np.asarray(vel, dtype=float),
        yaw_rate=np.zeros(n) if yaw_rate is None else np.asarray(yaw_rate, dtype=float),
    )


@pytest.fixture(scope="module")
def urban() -> World:
    return World(scenario_config("urban"), seed=0)


# -- geodesy --------------------------------------------------------------------------------------
def test_enu_round_trip_below_a_millimetre() -> None:
    rng = np.random.default_rng(0)
    enu = rng.uniform([-20e3, -20e3, -200.0], [20e3, 20e3, 2000.0], (10_000, 3))
    for lat0, lon0 in ((48.137, 11.576), (-33.9, 151.2), (78.2, 15.6), (0.0, -179.9)):
        lat, lon, alt = enu_to_geodetic(*enu.T, lat0, lon0, 500.0)
        back = np.column_stack(geodetic_to_enu(lat, lon, alt, lat0, lon0, 500.0))
        assert np.abs(back - enu).max() < 1e-3
    lat, lon, h = ecef_to_geodetic(*geodetic_to_ecef(np.array([45.0, -60.0]), np.array([7.0, 100.0]), 10.0))
    assert (
        np.allclose(lat, [45.0, -60.0], atol=1e-11)
        and np.allclose(lon, [7.0, 100.0])
        and np.allclose(h, 10.0)
    )


def test_enu_axes_and_scale() -> None:
    e, n, u = geodetic_to_enu(48.001, 11.0, 500.0, 48.0, 11.0, 500.0)
    assert abs(e) < 1e-6 and n == pytest.approx(111_200.0 * 1e-3, rel=2e-3) and u < 0  # north, dips below
    e, n, _ = geodetic_to_enu(0.0, 0.001, 0.0, 0.0, 0.0, 0.0)
    assert e == pytest.approx(111.3195, rel=1e-5) and abs(n) < 1e-9  # WGS84 equatorial degree / 1000


# -- radar ----------------------------------------------------------------------------------------
def test_radar_doppler_is_raw_radial_velocity(urban: World) -> None:
    rng = stream_rng(0, "radar_front")
    cfg = dict(QUIET_RADAR, clutter_rate=20.0)
    moving, static = [], []
    for st in range(urban.t0_ns, urban.t_end_ns, 500_000_000):
        scan, truth = simulate_radar_with_truth(urban, st, T_RADAR, cfg, rng)
        e, a = urban.ego_at(st), urban.actors_at(st)
        T_wr = pose2d_to_transform(e.position[0], e.position[1], e.yaw) @ T_RADAR
        p = scan.xyz.astype(np.float64) @ T_wr[:3, :3].T + T_wr[:3, 3]
        arm = T_wr[:3, 3] - e.position
        v_radar = e.velocity + e.yaw_rate * np.array([-arm[1], arm[0], 0.0])
        u = (p - T_wr[:3, 3]) / np.linalg.norm(p - T_wr[:3, 3], axis=1)[:, None]
        for i in range(len(scan)):
            if truth[i] >= 0:
                j = int(np.nonzero(a.ids == truth[i])[0][0])
                r = p[i, :2] - a.centers[j, :2]
                v = a.velocity[j] + a.yaw_rate[j] * np.array([-r[1], r[0], 0.0])
                moving.append((scan.radial_velocity[i], (v - v_radar) @ u[i], np.linalg.norm(a.velocity[j])))
            else:
                assert truth[i] == TRUTH_CLUTTER
                static.append((scan.radial_velocity[i], -v_radar @ u[i]))
    moving, static = np.array(moving), np.array(static)
    assert len(moving) > 20 and (moving[:, 2] > 1.0).sum() > 10
    assert np.abs(moving[:, 0] - moving[:, 1]).max() < 1e-4
    assert len(static) > 20 and np.abs(static[:, 0] - static[:, 1]).max() < 1e-4
    assert np.abs(static[:, 1]).max() > 5.0  # static returns are not ego-compensated


def test_radar_occlusion_fov_and_rcs() -> None:
    # a car right ahead hides a car behind it; a truck to the left is seen; one car is behind the radar
    act = _actors(
        [[20.0, 0.0, 0.75], [40.0, 0.0, 0.75], [30.0, 8.0, 1.6], [-20.0, 0.0, 0.75]],
        [ObjectClass.CAR, ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.CAR],
        [[4.5, 1.8, 1.5], [4.5, 1.6, 1.5], [9.0, 2.5, 3.2], [4.5, 1.8, 1.5]],
        [[5.0, 0.0, 0.0], [8.0, 0.0, 0.0], [-3.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
    )
    w = StubWorld(actors=act)
    seen = np.zeros(5, dtype=int)
    for k in range(50):
        _, truth = simulate_radar_with_truth(w, k * 10**8, T_RADAR, QUIET_RADAR, stream_rng(1, "r"))
        seen += np.bincount(truth, minlength=5)
    assert seen[1] > 0 and seen[3] > 0
    assert seen[2] == 0 and seen[4] == 0
    assert seen[3] / 50 > seen[1] / 50  # the truck (wide, near side) gives more points than the car's back
    assert RCS_DBSM[ObjectClass.TRUCK] > RCS_DBSM[ObjectClass.CAR] > RCS_DBSM[ObjectClass.BICYCLE]
    assert RCS_DBSM[ObjectClass.BICYCLE] > RCS_DBSM[ObjectClass.PEDESTRIAN]


def test_radar_misses_clutter_ghosts_and_determinism() -> None:
    act = _actors(
        [[25.0, -1.75, 0.75], [50.0, 1.75, 1.6]],
        [ObjectClass.CAR, ObjectClass.TRUCK],
        [[4.5, 1.8, 1.5], [9.0, 2.5, 3.2]],
        [[12.0, 0.0, 0.0], [-10.0, 0.0, 0.0]],
    )
    w = StubWorld(yaw_rate=0.05, actors=act)
    r_full, r_half = stream_rng(2, "r"), stream_rng(2, "r")
    full = sum(len(simulate_radar(w, k, T_RADAR, QUIET_RADAR, r_full)) for k in range(200))
    half = sum(
        len(simulate_radar(w, k, T_RADAR, dict(QUIET_RADAR, p_detect=0.5), r_half)) for k in range(200)
    )
    assert 0.4 < half / full < 0.6
    cfg = dict(QUIET_RADAR, clutter_rate=10.0, ghost_rate=3.0)
    rng = stream_rng(3, "radar")
    n_clutter = n_ghost = 0
    for k in range(100):
        scan, truth = simulate_radar_with_truth(w, k, T_RADAR, cfg, rng)
        p = scan.xyz.astype(np.float64) @ T_RADAR[:3, :3].T + T_RADAR[:3, 3]
        cl = truth == TRUTH_CLUTTER
        assert (w.ground.ground_class(p[cl, :2]) == 0).all()  # beside the road, not on it
        n_clutter += int(cl.sum())
        n_ghost += int((truth == TRUTH_GHOST).sum())
        assert np.all(np.linalg.norm(scan.xyz, axis=1) <= cfg["max_range_m"] + 1e-3)
        assert scan.xyz.dtype == np.float32 and scan.frame_id == "radar_front"
    assert 8.0 < n_clutter / 100 <= 10.5 and 1.5 < n_ghost / 100 < 3.5
    a = simulate_radar(w, 7, T_RADAR, BASE["radars"], stream_rng(4, "radar"))
    b = simulate_radar(w, 7, T_RADAR, BASE["radars"], stream_rng(4, "radar"))
    c = simulate_radar(w, 7, T_RADAR, BASE["radars"], stream_rng(5, "radar"))
    assert np.array_equal(a.xyz, b.xyz) and np.array_equal(a.radial_velocity, b.radial_velocity)
    assert a.xyz.shape != c.xyz.shape or not np.array_equal(a.xyz, c.xyz)


# -- IMU ------------------------------------------------------------------------------------------
def test_imu_at_rest_reads_gravity() -> None:
    w = StubWorld(speed=0.0)
    st = np.arange(200) * 5_000_000
    imu = simulate_imu(w, st, T_IMU, QUIET_IMU, stream_rng(0, "imu"))
    assert np.allclose(imu.accel, [0.0, 0.0, STANDARD_GRAVITY], atol=1e-12)
    assert np.allclose(imu.gyro, 0.0) and np.allclose(imu.orientation, [0, 0, 0, 1])
    # an IMU mounted upside down and turned 90 deg sees gravity on -z
    T = make_transform(rpy_to_matrix(np.pi, 0.0, 0.5 * np.pi), [0.0, 0.0, 0.5])
    flipped = simulate_imu(w, st, T, QUIET_IMU, stream_rng(0, "imu"))
    assert np.allclose(flipped.accel, [0.0, 0.0, -STANDARD_GRAVITY], atol=1e-9)


def test_imu_gyro_matches_world_yaw_rate_and_dead_reckons(urban: World) -> None:
    st = urban.t0_ns + np.arange(0, urban.duration_ns, 5_000_000)
    imu = simulate_imu(urban, st, np.eye(4), QUIET_IMU, stream_rng(0, "imu"))
    e = urban.ego_arrays(st)
    assert np.abs(e["yaw_rate"]).max() > 0.05
    assert np.allclose(imu.gyro[:, 2], e["yaw_rate"], atol=1e-12)
    # noise-free strapdown integration (planar) reproduces the trajectory
    dt = 5e-3
    yaw = e["yaw"][0] + np.concatenate([[0.0], np.cumsum(0.5 * (imu.gyro[1:, 2] + imu.gyro[:-1, 2]) * dt)])
    ax = imu.accel[:, 0]
    v = e["speed"][0] + np.concatenate([[0.0], np.cumsum(0.5 * (ax[1:] + ax[:-1]) * dt)])
    vel = np.column_stack([v * np.cos(yaw), v * np.sin(yaw)])
    p = e["position"][0, :2] + np.concatenate(
        [[[0.0, 0.0]], np.cumsum(0.5 * (vel[1:] + vel[:-1]) * dt, axis=0)]
    )
    assert np.abs(p - e["position"][:, :2]).max() < 0.1
    assert np.allclose(imu.accel[:, 1], v * imu.gyro[:, 2], atol=1e-3)  # centripetal
    # a lever arm ahead of the rear axle adds the centripetal term of the offset
    off = simulate_imu(urban, st, make_transform(np.eye(3), [1.5, 0.0, 0.5]), QUIET_IMU, stream_rng(0, "imu"))
    assert np.allclose(off.accel[:, 0], imu.accel[:, 0] - e["yaw_rate"] ** 2 * 1.5, atol=1e-9)


def test_imu_noise_bias_and_determinism() -> None:
    w = StubWorld(speed=0.0)
    st = np.arange(20_000) * 5_000_000  # 200 Hz
    cfg = dict(QUIET_IMU, gyro_noise_density=1e-3, accel_noise_density=2e-2)
    imu = simulate_imu(w, st, np.eye(4), cfg, stream_rng(1, "imu"))
    assert np.std(imu.gyro[:, 0]) == pytest.approx(1e-3 * np.sqrt(200.0), rel=0.03)
    assert np.std(imu.accel[:, 2]) == pytest.approx(2e-2 * np.sqrt(200.0), rel=0.03)
    assert np.allclose(np.diag(imu.gyro_cov), (1e-3 * np.sqrt(200.0)) ** 2)
    rw = dict(QUIET_IMU, gyro_bias_random_walk=1e-3)
    b = simulate_imu(w, st, np.eye(4), rw, stream_rng(1, "imu")).gyro_bias[:, 0]
    # random walk: the bias at time t spreads like sigma * sqrt(t); check the increments
    assert np.std(np.diff(b)) == pytest.approx(1e-3 * np.sqrt(5e-3), rel=0.03)
    a1 = simulate_imu(w, st[:100], np.eye(4), BASE["imu"], stream_rng(2, "imu"))
    a2 = simulate_imu(w, st[:100], np.eye(4), BASE["imu"], stream_rng(2, "imu"))
    a3 = simulate_imu(w, st[:100], np.eye(4), BASE["imu"], stream_rng(3, "imu"))
    assert np.array_equal(a1.accel, a2.accel) and np.array_equal(a1.orientation, a2.orientation)
    assert not np.array_equal(a1.accel, a3.accel)


# -- GNSS -----------------------------------------------------------------------------------------
def test_gps_noise_matches_config_and_converts_exactly() -> None:
    w = StubWorld(speed=0.0)
    st = np.arange(20_000) * 100_000_000
    cfg = dict(BASE["gps"], gnss_model="white", horizontal_std_m=0.8, vertical_std_m=1.5)
    g = simulate_gps(w, st, T_GPS, cfg, stream_rng(0, "gps"))
    d = cfg["datum"]
    enu = np.column_stack(
        geodetic_to_enu(g.latitude, g.longitude, g.altitude, d["lat_deg"], d["lon_deg"], d["alt_m"])
    )
    assert np.abs(enu - g.enu_measured).max() < 1e-3
    assert np.allclose(g.enu_true, [0.0, 0.0, 1.8])  # the antenna is 1.8 m above base_link
    err = enu - g.enu_true
    assert np.std(err, axis=0) == pytest.approx([0.8, 0.8, 1.5], rel=0.03)
    assert np.allclose(g.covariance[0], np.diag([0.64, 0.64, 2.25]))
    assert (g.status == 0).all() and g.fix(3).latitude == g.latitude[3]


def test_gps_correlated_noise_and_outages(urban: World) -> None:
    w = StubWorld(speed=0.0)
    st = np.arange(20_000) * 100_000_000
    cfg = dict(BASE["gps"], gnss_model="white", horizontal_std_m=1.0, correlation_time_s=2.0)
    err = simulate_gps(w, st, np.eye(4), cfg, stream_rng(0, "gps")).enu_measured[:, 0]
    assert np.std(err) == pytest.approx(1.0, rel=0.1)
    assert np.corrcoef(err[1:], err[:-1])[0, 1] == pytest.approx(np.exp(-0.1 / 2.0), abs=0.02)
    cfg = scenario_config("gps_outage", {"world": {"duration_s": 20.0}})
    st = urban.t0_ns + np.arange(0, urban.duration_ns, 200_000_000)
    g = simulate_gps(urban, st, T_GPS, cfg["gps"], stream_rng(0, "gps"))
    t = (g.stamps_ns - urban.t0_ns) * 1e-9
    assert len(g) == len(st) - 50 and not ((t >= 10.0) & (t < 20.0)).any()
    full = simulate_gps(urban, st, T_GPS, dict(cfg["gps"], outages=[]), stream_rng(0, "gps"))
    keep = np.isin(full.stamps_ns, g.stamps_ns)
    assert np.array_equal(full.latitude[keep], g.latitude)  # outages do not shift the noise
