"""Scenario configs, road geometry/ground map, and the simulated world (ego + traffic)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.sim.road import (
    GROUND_ASPHALT,
    GROUND_MARKING,
    GROUND_OFFROAD,
    Path,
    RoadMap,
    crossing_roads,
    curved_road,
    straight_road,
)
from sensor_fusion.sim.scenarios import (
    BASE,
    latency_ns,
    scenario_config,
    scenario_names,
    stream_rng,
    window_mask,
)
from sensor_fusion.sim.world import World


def boxes_overlap(c: np.ndarray, size: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Pairwise overlap of 2D oriented boxes by the separating-axis test: (N, N) bool."""
    axes = np.stack([np.stack([np.cos(yaw), np.sin(yaw)], -1), np.stack([-np.sin(yaw), np.cos(yaw)], -1)], 1)
    half = 0.5 * size[:, :2]
    d = c[None, :, :2] - c[:, None, :2]
    n = len(c)
    ov = np.ones((n, n), dtype=bool)
    for owner in range(2):
        for k in range(2):
            A = axes[:, None, k, :] if owner == 0 else axes[None, :, k, :]
            A = np.broadcast_to(A, (n, n, 2))
            ri = sum(half[:, m, None] * np.abs(np.einsum("ik,ijk->ij", axes[:, m], A)) for m in range(2))
            rj = sum(half[None, :, m] * np.abs(np.einsum("jk,ijk->ij", axes[:, m], A)) for m in range(2))
            ov &= np.abs(np.einsum("ijk,ijk->ij", d, A)) <= ri + rj
    np.fill_diagonal(ov, False)
    return ov


def test_boxes_overlap_helper() -> None:
    c = np.array([[0.0, 0.0], [4.0, 0.0], [5.0, 2.5]])
    s = np.array([[4.5, 1.8, 1.5]] * 3)
    ov = boxes_overlap(c, s, np.array([0.0, 0.0, np.pi / 2]))
    assert ov[0, 1] and ov[1, 0] and ov[1, 2] and not ov[0, 2]


# -- scenarios ------------------------------------------------------------------------------------
def test_all_scenarios_load() -> None:
    names = scenario_names()
    for n in (
        "highway",
        "urban",
        "intersection",
        "gps_outage",
        "camera_dropout",
        "radar_clutter",
        "dense_traffic",
        "robot",
    ):
        assert n in names
        cfg = scenario_config(n)
        assert cfg["name"] == n and set(cfg) == set(BASE)
    gps = scenario_config("gps_outage")
    (t0, t1), dur = gps["gps"]["outages"][0], gps["world"]["duration_s"]
    assert t1 - t0 == pytest.approx(10.0) and t0 > 0 and t1 < dur
    assert scenario_config("camera_dropout")["cameras"]["dropout"] == {"camera_front": [[0.0, None]]}
    assert scenario_config("radar_clutter")["radars"]["clutter_rate"] > 5 * BASE["radars"]["clutter_rate"]
    assert (
        scenario_config("dense_traffic")["world"]["actors"]["cars"]
        > 2 * scenario_config("urban")["world"]["actors"]["cars"]
    )


def test_overrides_merge_deeply_and_do_not_leak() -> None:
    cfg = scenario_config(
        "highway", {"world": {"ego": {"speed_mps": 20.0}}, "radars": {"names": ["radar_front", "radar_rear"]}}
    )
    assert cfg["world"]["ego"]["speed_mps"] == 20.0
    assert cfg["world"]["ego"]["lane"] == 2  # the scenario's own value survives
    assert cfg["world"]["road"]["lanes_per_direction"] == 3
    assert cfg["radars"]["names"] == ["radar_front", "radar_rear"]
    cfg["world"]["ego"]["lane"] = 99
    assert scenario_config("highway")["world"]["ego"]["lane"] == 2
    assert BASE["world"]["ego"]["speed_mps"] == 12.0


def test_overrides_from_yaml(tmp_path) -> None:
    p = tmp_path / "o.yaml"
    p.write_text("world:\n  duration_s: 7.5\ngps:\n  outages: [[1.0, 2.0]]\n")
    cfg = scenario_config("urban", p)
    assert cfg["world"]["duration_s"] == 7.5 and cfg["gps"]["outages"] == [[1.0, 2.0]]


def test_bad_configs_are_rejected_with_names() -> None:
    with pytest.raises(ValueError, match="urban") as e:
        scenario_config("suburbia")
    assert "highway" in str(e.value)
    with pytest.raises(ValueError) as e:
        scenario_config("urban", {"world": {"ego": {"sped": 3}}, "lidarr": {}})
    assert "world.ego.sped" in str(e.value) and "lidarr" in str(e.value)
    with pytest.raises(ValueError, match="lidar.beams"):
        scenario_config("urban", {"lidar": {"beams": 8}})
    with pytest.raises(ValueError, match="imu.rate_hz"):
        scenario_config("urban", {"imu": {"rate_hz": 5}})
    with pytest.raises(ValueError, match="camera_side"):
        scenario_config("urban", {"cameras": {"dropout": {"camera_side": [[0, 1]]}}})
    with pytest.raises(ValueError, match="expected a number"):
        scenario_config("urban", {"world": {"duration_s": "long"}})
    with pytest.raises(ValueError, match="window"):
        scenario_config("urban", {"gps": {"outages": [[5.0, 1.0]]}})


def test_helpers_windows_latency_streams() -> None:
    st = 1000 + np.array([0, 1, 2, 3, 4]) * 1_000_000_000
    assert window_mask(st, 1000, [[1.0, 3.0]]).tolist() == [False, True, True, False, False]
    assert window_mask(st, 1000, [[3.0, None]]).tolist() == [False, False, False, True, True]
    d = latency_ns(10_000, {"latency_ms": 40.0, "jitter_ms": 5.0}, stream_rng(0, "x"))
    assert d.dtype == np.int64 and d.min() >= 0 and abs(d.mean() * 1e-6 - 40.0) < 0.3
    a, b = stream_rng(3, "lidar").random(4), stream_rng(3, "lidar").random(4)
    assert np.array_equal(a, b) and not np.array_equal(a, stream_rng(3, "radar").random(4))


# -- roads ----------------------------------------------------------------------------------------
def test_ground_map_classes_and_speed() -> None:
    r = straight_road((0.0, 0.0), 0.0, 200.0, lanes_per_direction=2, lane_width=3.5, shoulder=1.0)
    m = RoadMap([r], resolution=0.05)
    q = lambda x, y: int(m.ground_class(np.array([[x, y]]))[0])  # noqa: E731
    assert q(50.0, -1.75) == GROUND_ASPHALT  # lane centre
    assert q(50.0, 7.0) == GROUND_MARKING and q(50.0, -7.0) == GROUND_MARKING  # solid edge lines
    assert q(50.0, 7.8) == GROUND_ASPHALT  # shoulder
    assert q(50.0, 9.0) == GROUND_OFFROAD and q(-5.0, 0.0) == GROUND_OFFROAD
    # solid centre line (two lanes each way), dashed separators: 3 m on, 6 m off
    xs = np.arange(20.0, 110.0, 0.1)
    sep = m.ground_class(np.column_stack([xs, np.full_like(xs, 3.5)])) == GROUND_MARKING
    assert 0.25 < sep.mean() < 0.42
    assert (m.ground_class(np.column_stack([xs, np.zeros_like(xs)])) == GROUND_MARKING).all()
    # NaN / far away is off-road; 250k lookups are cheap
    assert m.ground_class(np.array([[np.nan, 0.0], [1e6, 1e6]])).tolist() == [0, 0]
    pts = np.random.default_rng(0).uniform([0, -20], [200, 20], (250_000, 2))
    m.ground_class(pts)
    t = time.perf_counter()
    m.ground_class(pts)
    assert time.perf_counter() - t < 0.1


def test_intersection_has_no_markings_inside() -> None:
    a, b = crossing_roads((0.0, 0.0), 0.0, 60.0, 60.0, 60.0, lanes_per_direction=1, shoulder=1.0)
    m = RoadMap([a, b], resolution=0.1)
    g = np.mgrid[-4.4:4.4:0.1, -4.4:4.4:0.1].reshape(2, -1).T
    assert (m.ground_class(g) == GROUND_ASPHALT).all()
    assert int(m.ground_class(np.array([[20.0, 3.5]]))[0]) == GROUND_MARKING


def test_paths_offsets_and_curvature() -> None:
    r = curved_road((0.0, 0.0), 0.0, 400.0, radius=50.0, bend_deg=90.0, first_straight=20.0)
    lane = r.lane_path(1)
    s = np.linspace(0.0, lane.length, 500)
    xy, h, k = lane.pose_at(s)
    s_c, lat = r.centre.project(xy)
    assert np.allclose(lat, -1.75, atol=2e-3)
    # curvature is the derivative of heading along the path's own arc length
    assert np.allclose(np.gradient(h, s), k, atol=2e-3)
    assert np.allclose(np.hypot(*np.diff(xy, axis=0).T), np.diff(s), rtol=1e-3)
    back = r.lane_path(-1)
    assert np.allclose(back.pose_at(0.0)[0], r.pose_at(r.centre.length, 1.75)[0], atol=1e-6)
    poly = Path.from_polyline(np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]), 0.5)
    assert poly.length == pytest.approx(20.0)


# -- world ----------------------------------------------------------------------------------------
def _short(name: str, duration: float = 8.0, **world) -> dict:
    return scenario_config(name, {"world": {"duration_s": duration, **world}})


@pytest.fixture(scope="module")
def urban() -> World:
    return World(scenario_config("urban"), seed=0)


@pytest.fixture(scope="module")
def junction() -> World:
    return World(scenario_config("intersection"), seed=0)


def test_world_is_deterministic_per_seed() -> None:
    cfg = _short("urban")
    w1, w2, w3 = World(cfg, 5), World(cfg, 5), World(cfg, 6)
    st = w1.t0_ns + np.arange(0, w1.duration_ns, 37_000_000)
    e1, e2 = w1.ego_arrays(st), w2.ego_arrays(st)
    for k in e1:
        assert np.array_equal(e1[k], e2[k])
    a1, a2, a3 = (w.actors_at(int(st[50])) for w in (w1, w2, w3))
    assert np.array_equal(a1.centers, a2.centers) and np.array_equal(a1.sizes, a2.sizes)
    assert a1.centers.shape != a3.centers.shape or not np.allclose(a1.centers, a3.centers)


def test_actor_classes_and_sizes(urban: World) -> None:
    a = urban.actors_at(urban.t0_ns)
    labels = set(a.labels.tolist())
    assert {ObjectClass.CAR, ObjectClass.BICYCLE, ObjectClass.PEDESTRIAN} <= labels
    for lab, (lo, hi) in {ObjectClass.CAR: (4.0, 5.0), ObjectClass.PEDESTRIAN: (0.4, 0.8)}.items():
        assert np.all((a.sizes[a.labels == lab, 0] > lo) & (a.sizes[a.labels == lab, 0] < hi))
    assert np.allclose(a.centers[:, 2], 0.5 * a.sizes[:, 2])
    assert len(np.unique(a.ids)) == len(a)


@pytest.mark.parametrize(
    "name,seed", [("urban", 0), ("intersection", 0), ("dense_traffic", 1), ("highway", 2)]
)
def test_no_overlaps_and_ego_on_road(name: str, seed: int, urban: World, junction: World) -> None:
    w = {("urban", 0): urban, ("intersection", 0): junction}.get((name, seed)) or World(
        scenario_config(name), seed
    )
    n_near = []
    for st in range(w.t0_ns, w.t_end_ns, 100_000_000):
        a = w.actors_at(st)
        c, s, y = w.ego_box_at(st)
        ov = boxes_overlap(np.vstack([a.centers, c]), np.vstack([a.sizes, s]), np.append(a.yaw, y))
        assert not ov.any(), f"{name}: boxes {np.argwhere(ov)[0]} overlap at t={(st - w.t0_ns) * 1e-9:.1f}s"
        corners = c[:2] + np.array(
            [[sx * s[0], sy * s[1]] for sx in (-0.5, 0.5) for sy in (-0.5, 0.5)]
        ) @ np.array([[np.cos(y), np.sin(y)], [-np.sin(y), np.cos(y)]])
        assert (w.ground.ground_class(corners) != GROUND_OFFROAD).all(), f"{name}: ego off road"
        e = w.ego_at(st)
        n_near.append(int((np.hypot(*(a.centers[:, :2] - e.position[:2]).T) < 60.0).sum()))
    _, lat = w.ego_route.project(w.ego_arrays(w.stamps_ns)["position"][:, :2])
    assert np.abs(lat).max() < 0.5
    assert np.mean(np.array(n_near) >= 2) > 0.8


def test_ego_kinematics_are_consistent(urban: World) -> None:
    """Integrating yaw_rate and accel_body reproduces yaw, speed and position (the IMU relies on it)."""
    st = urban.t0_ns + np.arange(0, urban.duration_ns, 1_000_000)
    e = urban.ego_arrays(st)
    dt = 1e-3
    yaw = e["yaw"][0] + np.concatenate(
        [[0.0], np.cumsum(0.5 * (e["yaw_rate"][1:] + e["yaw_rate"][:-1]) * dt)]
    )
    assert np.abs(np.angle(np.exp(1j * (yaw - e["yaw"])))).max() < 1e-4
    a = e["accel_body"][:, 0]
    v = e["speed"][0] + np.concatenate([[0.0], np.cumsum(0.5 * (a[1:] + a[:-1]) * dt)])
    assert np.abs(v - e["speed"]).max() < 1e-3
    assert np.allclose(e["accel_body"][:, 1], e["speed"] * e["yaw_rate"])
    p = e["position"][0, :2] + np.cumsum(e["velocity"][:-1, :2] * dt, axis=0)
    assert np.abs(p[-1] - e["position"][-1, :2]).max() < 0.05
    assert np.abs(e["yaw_rate"]).max() > 0.05  # the road bends


def test_actor_yaw_rate_matches_motion(urban: World) -> None:
    t = urban.t0_ns + 6_000_000_000
    a0, a1 = urban.actors_at(t), urban.actors_at(t + 10_000_000)
    dyaw = np.angle(np.exp(1j * (a1.yaw - a0.yaw))) / 0.01
    assert np.allclose(dyaw, 0.5 * (a0.yaw_rate + a1.yaw_rate), atol=0.02)
    dp = (a1.centers - a0.centers) / 0.01
    assert np.allclose(dp[:, :2], 0.5 * (a0.velocity + a1.velocity)[:, :2], atol=0.05)


def test_intersection_ego_waits_for_red_then_turns(junction: World) -> None:
    st = junction.stamps_ns
    e = junction.ego_arrays(st)
    red = np.array([junction.signal_red(0, int(s)) for s in st[::20]])
    stopped = e["speed"][::20] < 0.2
    assert (stopped & red).any()  # waited at the red light
    assert not (stopped & ~red).all()
    assert abs(np.angle(np.exp(1j * (e["yaw"][-1] + np.pi / 2)))) < 0.1  # turned right, heading south
    assert e["speed"][-1] > 5.0


def test_crossing_pedestrian_crosses_in_front_of_ego(urban: World) -> None:
    ped = [i for i, a in enumerate(urban.scene.agents[1:]) if a.cross >= 0]
    assert ped
    r = urban.roads[0]
    sides = []
    for st in range(urban.t0_ns, urban.t_end_ns, 250_000_000):
        a = urban.actors_at(st)
        _, lat = r.centre.project(a.centers[ped, :2])
        sides.append(np.sign(lat))
    sides = np.array(sides)
    assert (sides[0] != sides[-1]).any()  # walked from one side of the road to the other
    assert urban.ego_arrays(urban.stamps_ns)["speed"].min() < 3.0  # and the ego slowed down for it


def test_stamps_are_clamped(urban: World) -> None:
    a = urban.ego_at(urban.t0_ns - 10**9)
    b = urban.ego_at(urban.t0_ns)
    assert np.array_equal(a.position, b.position)
    assert len(urban.actors_at(urban.t_end_ns + 10**9)) == len(urban.actor_ids)
