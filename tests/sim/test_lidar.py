"""sim/lidar.py: ranges, ground hits, time offsets, motion skew, noise, dropout, scan pattern, against
analytic answers on a fake world (tests/sim/common.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.core.geometry import make_transform, rpy_to_matrix, transform_points
from sensor_fusion.sim.lidar import LidarConfig, scan_pattern, simulate_lidar
from sensor_fusion.sim.state import ActorStates
from tests.sim.common import LIDAR_CFG, T_BASE_LIDAR, FakeWorld, box


def _ranges(out):
    return np.linalg.norm(out["xyz"].astype(np.float64), axis=1)


def test_lidar_box_face_range_is_analytic():
    # near face at world x = 11 -> LiDAR-frame x = 10 (LiDAR 1 m ahead of base_link)
    world = FakeWorld([box(5, (11.25, 0.0, 3.0), (0.5, 10.0, 6.0))])
    out = simulate_lidar(world, 0, T_BASE_LIDAR, LIDAR_CFG, np.random.default_rng(0))
    on = out["actor_id"] == 5
    xyz = out["xyz"][on].astype(np.float64)
    np.testing.assert_allclose(xyz[:, 0], 10.0, atol=2e-4)
    elev = np.deg2rad(np.linspace(-15, 15, 31))[out["ring"][on]]
    az = np.arctan2(xyz[:, 1], xyz[:, 0])
    np.testing.assert_allclose(_ranges(out)[on], 10.0 / (np.cos(elev) * np.cos(az)), rtol=1e-5)
    # the horizontal ring sees the wall over exactly |az| < atan(5 / 10)
    h = out["ring"][on] == 15
    assert abs(h.sum() - 2 * np.degrees(np.arctan(0.5)) / 0.5) <= 2
    assert out["xyz"].dtype == np.float32 and out["intensity"].dtype == np.float32
    assert out["ring"].dtype == np.uint16 and out["time_offset"].dtype == np.float32


def test_lidar_ground_hits_lie_on_z0_in_base_frame_even_when_tilted_and_moving():
    T = make_transform(rpy_to_matrix(0.03, -0.06, 0.4), np.array([1.0, 0.2, 1.9]))
    world = FakeWorld([], ego_velocity=(8.0, 3.0), ego_yaw=0.7, yaw_rate=0.5)
    cfg = {**LIDAR_CFG, "vfov_deg": [-25.0, 2.0], "beams": 28}
    out = simulate_lidar(world, 10**9, T, cfg, np.random.default_rng(0))
    assert len(out["xyz"]) > 10000 and np.all(out["actor_id"] == -1)
    base = transform_points(T, out["xyz"].astype(np.float64))
    np.testing.assert_allclose(base[:, 2], 0.0, atol=2e-3)
    # untilted mount: lowest ring range is h / sin(-elev)
    out = simulate_lidar(world, 0, T_BASE_LIDAR, cfg, np.random.default_rng(0))
    low = out["ring"] == 0
    np.testing.assert_allclose(_ranges(out)[low], 1.9 / np.sin(np.deg2rad(25.0)), rtol=1e-4)


def test_lidar_time_offsets_cover_the_sweep():
    world = FakeWorld([])
    out = simulate_lidar(
        world, 5 * 10**8, T_BASE_LIDAR, {**LIDAR_CFG, "rate_hz": 20.0}, np.random.default_rng(0)
    )
    t = out["time_offset"]
    assert t.min() >= 0.0 and t.max() < 1.0 / 20.0
    assert t.max() > 0.95 / 20.0
    assert np.all(np.diff(t) >= 0)  # ordered by firing time
    # azimuth advances with time, counter-clockwise from -pi
    az = np.arctan2(out["xyz"][:, 1], out["xyz"][:, 0])
    expected = -np.pi + 2 * np.pi * t * 20.0
    np.testing.assert_allclose(np.angle(np.exp(1j * (az - expected))), 0.0, atol=1e-3)


def _front_wall_fit(world):
    wall = box(9, (20.5, 0.0, 4.0), (1.0, 80.0, 8.0))  # face at world x = 20
    world.boxes = [wall]
    out = simulate_lidar(world, 0, T_BASE_LIDAR, LIDAR_CFG, np.random.default_rng(0))
    m = out["actor_id"] == 9
    t = out["time_offset"][m].astype(np.float64)
    x = out["xyz"][m, 0].astype(np.float64)
    slope, icpt = np.polyfit(t, x, 1)
    return t, x, slope, icpt


def test_lidar_ego_motion_skews_a_static_wall():
    t, x, slope, icpt = _front_wall_fit(FakeWorld([], ego_velocity=(10.0, 0.0)))
    # x_lidar(t) = 20 - 1 - 10 t: the wall recedes at ego speed while the head sweeps across it
    assert slope == pytest.approx(-10.0, abs=0.05)
    assert icpt == pytest.approx(19.0, abs=0.01)
    np.testing.assert_allclose(x, 19.0 - 10.0 * t, atol=0.01)
    assert x.max() - x.min() == pytest.approx(10.0 * (t.max() - t.min()), abs=0.02)
    assert 0.03 < t.mean() < 0.07  # the front is swept mid-sweep (scan starts pointing backwards)
    # and without ego motion there is no skew
    _, x0, slope0, _ = _front_wall_fit(FakeWorld([]))
    assert abs(slope0) < 1e-3 and np.ptp(x0) < 1e-3


def test_lidar_actor_motion_is_sampled_at_each_points_time():
    # box 1 is swept early (behind-right), box 2 late (behind-left); both move at 15 m/s along x
    v = 15.0
    boxes = [
        box(1, (-14.0, -6.0, 1.0), (4.0, 2.0, 2.0), velocity=(v, 0.0)),
        box(2, (-14.0, 6.0, 1.0), (4.0, 2.0, 2.0), velocity=(v, 0.0)),
    ]
    world = FakeWorld(boxes)
    cfg = {**LIDAR_CFG, "sectors": 64}
    out = simulate_lidar(world, 0, T_BASE_LIDAR, cfg, np.random.default_rng(0))
    t_mean = {}
    for b in boxes:
        m = out["actor_id"] == b["id"]
        assert m.sum() > 50
        t = out["time_offset"][m].astype(np.float64)
        t_mean[b["id"]] = t.mean()
        p = transform_points(T_BASE_LIDAR, out["xyz"][m].astype(np.float64))  # static ego: base == world
        cx = b["center"][0] + v * t
        # every point lies on the box surface at its own time (to within the sector quantisation):
        # the front face (x = cx + 2, facing the sensor) or the inner side face (|y| = 5)
        tol = v * 1.0 / (10.0 * 64) + 1e-3
        front = (np.abs(p[:, 0] - (cx + 2.0)) < tol) & (np.abs(np.abs(p[:, 1]) - 6.0) <= 1.0 + 1e-3)
        side = (np.abs(np.abs(p[:, 1]) - 5.0) < 1e-3) & (np.abs(p[:, 0] - cx) <= 2.0 + tol)
        assert np.all(front | side) and front.sum() > 20
    assert t_mean[1] < 0.03 and t_mean[2] > 0.07  # swept at clearly different times


class SpawningWorld(FakeWorld):
    """Actor 2 and 4 exist only from t = 50 ms on, actor 3 only before."""

    def actors_at(self, stamp_ns: int) -> ActorStates:
        a = super().actors_at(stamp_ns)
        keep = np.isin(a.ids, [3] if stamp_ns < 50_000_000 else [2, 4])
        return ActorStates(*(np.asarray(getattr(a, f))[keep] for f in a.__dataclass_fields__))


def test_lidar_handles_actors_appearing_and_vanishing_mid_sweep():
    # left (+y) is swept at ~75 ms, right (-y) at ~25 ms
    world = SpawningWorld(
        [
            box(2, (1.0, 10.0, 1.0), (4.0, 2.0, 2.0)),
            box(3, (1.0, -10.0, 1.0), (4.0, 2.0, 2.0)),
            box(4, (1.0, -15.0, 3.0), (4.0, 2.0, 6.0)),
        ]
    )
    out = simulate_lidar(world, 0, T_BASE_LIDAR, LIDAR_CFG, np.random.default_rng(0))
    ids, t = out["actor_id"], out["time_offset"]
    assert np.sum(ids == 2) > 20 and np.sum(ids == 3) > 20 and not np.any(ids == 4)
    assert t[ids == 2].min() > 0.05 and t[ids == 3].max() < 0.05


def test_lidar_noise_dropout_and_validation():
    world = FakeWorld([box(5, (11.25, 0.0, 3.0), (0.5, 10.0, 6.0), label=ObjectClass.CAR)])
    base = simulate_lidar(world, 0, T_BASE_LIDAR, LIDAR_CFG, np.random.default_rng(0))
    noisy = simulate_lidar(
        world,
        0,
        T_BASE_LIDAR,
        {**LIDAR_CFG, "range_noise_std_m": 0.05, "dropout_prob": 0.2},
        np.random.default_rng(0),
    )
    assert 0.75 < len(noisy["xyz"]) / len(base["xyz"]) < 0.85
    on = noisy["actor_id"] == 5
    assert 0.03 < np.std(noisy["xyz"][on, 0] - 10.0) < 0.07
    assert np.all(noisy["label"][on] == int(ObjectClass.CAR)) and np.all(noisy["label"][~on] == -1)
    # intensity by material: marking > vehicle > asphalt
    gx = base["xyz"].astype(np.float64) + np.array([1.0, 0.0, 1.9])
    ground = base["actor_id"] == -1
    marking = ground & (np.abs(gx[:, 1]) < 0.1)
    asphalt = ground & (np.abs(gx[:, 1]) > 0.5) & (np.abs(gx[:, 1]) < 5.5)
    assert marking.sum() > 5
    im = base["intensity"]
    assert np.median(im[marking]) > np.median(im[base["actor_id"] == 5]) > np.median(im[asphalt])
    for bad in ({"beams": 0}, {"vfov_deg": [10, -10]}, {"rate_hz": -1}, {"dropout_prob": 1.0}, {"bogus": 1}):
        with pytest.raises(ValueError, match="lidar cfg"):
            simulate_lidar(world, 0, T_BASE_LIDAR, {**LIDAR_CFG, **bad}, np.random.default_rng(0))


def test_lidar_scan_pattern_groups_are_consistent():
    sp = scan_pattern(
        LidarConfig.from_dict(
            {**LIDAR_CFG, "beams": 64, "vfov_deg": [-25, 15], "azimuth_resolution_deg": 0.2}
        )
    )
    assert sp.dirs.shape == (1800 * 64, 3)
    np.testing.assert_array_equal(np.sort(sp.ray_ids), np.arange(1800 * 64))
    np.testing.assert_allclose(sp.perm_dirs, sp.dirs[sp.ray_ids])
    # every ray lies inside its group's cone
    g = np.repeat(np.arange(len(sp.group_start) - 1), np.diff(sp.group_start))
    cosang = np.sum(sp.perm_dirs * sp.group_axis[g], axis=1)
    assert np.all(cosang >= sp.group_cos[g] - 1e-6)
