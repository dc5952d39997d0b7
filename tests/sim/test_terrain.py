"""sim/terrain.py: road grade and crossfall, and what stands, drives and is seen on them."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.sim.camera import camera_rays, render_camera_labels
from sensor_fusion.sim.inertial import simulate_imu
from sensor_fusion.sim.lidar import simulate_lidar
from sensor_fusion.sim.raycast import HIT_GROUND, HIT_NONE, alloc_hits
from sensor_fusion.sim.road import Road
from sensor_fusion.sim.scenarios import scenario_config
from sensor_fusion.sim.state import ego_transform
from sensor_fusion.sim.static.materials import BENDS_WITH_GROUND, Material, StaticClass
from sensor_fusion.sim.static.meshes import MeshBuilder
from sensor_fusion.sim.static.overlay import overlay_static
from sensor_fusion.sim.static.world import StaticWorld
from sensor_fusion.sim.terrain import Terrain, drape, draw_terrain, overlay_terrain
from sensor_fusion.sim.world import World
from tests.sim.test_static_world import CAL, LIDAR16


def _plane(a: float, b: float, c: float = 0.0, half: float = 300.0) -> Terrain:
    """z = a x + b y + c on a 1 m grid over [-half, half]^2 (bilinear is exact on a plane)."""
    x = np.arange(-half, half + 1.0)
    X, Y = np.meshgrid(x, x)
    return Terrain(a * X + b * Y + c, -half, -half, 1.0)


def test_rays_meet_a_tilted_plane_where_geometry_says() -> None:
    a, b = 0.06, -0.02
    t = _plane(a, b)
    rng = np.random.default_rng(1)
    n = 4000
    d = rng.normal(size=(n, 3))
    d[:, 2] = -np.abs(d[:, 2]) * rng.uniform(0.01, 1.0, n)  # down, many of them grazing
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    o = np.column_stack([rng.uniform(-50, 50, (n, 2)), np.full(n, 2.0)])
    o[:, 2] += a * o[:, 0] + b * o[:, 1]  # 2 m over the plane
    # exact: o_z + t d_z = a (o_x + t d_x) + b (o_y + t d_y) + c
    t_true = (a * o[:, 0] + b * o[:, 1] - o[:, 2]) / (d[:, 2] - a * d[:, 0] - b * d[:, 1])
    t_true[t_true < 0] = np.inf
    got = t.intersect(np.column_stack([o, d]), 250.0)
    ok = np.isfinite(t_true) & (t_true < 240.0)
    assert ok.sum() > 3000
    # within the tolerance in height, i.e. TOL / sin(grazing angle) along the ray
    h_err = np.abs(got[ok] - t_true[ok]) * np.abs(d[ok, 2] - a * d[ok, 0] - b * d[ok, 1])
    assert h_err.max() < 1.5e-3
    assert np.all(np.isinf(got[np.isfinite(t_true) & (t_true > 260.0)]))  # past the limit: no hit
    up = np.column_stack([o, -d])  # the same rays turned upwards (the plane is below them)
    assert np.isinf(t.intersect(up, 250.0)[np.abs(d[:, 2]) > 0.1]).all()


def test_a_ray_is_stopped_by_a_crest_before_the_far_slope() -> None:
    """A ridge between the sensor and lower ground: the ray meets the ridge, not what lies beyond."""
    x = np.arange(-100.0, 101.0)
    X, _Y = np.meshgrid(x, x)
    H = np.maximum(0.0, 3.0 - np.abs(X - 40.0) * 0.3)  # a 3 m ridge centred at x = 40, 0.3 slope
    t = Terrain(H, -100.0, -100.0, 1.0)
    ray = np.array([[0.0, 0.0, 2.0, 1.0, 0.0, 0.0]])  # level, 2 m up: meets the ridge's near slope
    hit = t.intersect(ray, 200.0)[0]
    np.testing.assert_allclose(hit, 40.0 - (3.0 - 2.0) / 0.3, atol=0.01)


def test_no_ground_is_seen_through_glass() -> None:
    """A LiDAR ray through a window onto the ground behind it returns nothing (the order the sweep
    uses: the static mesh, then the terrain up to what the mesh stopped)."""
    mb = MeshBuilder()
    e = mb.element(StaticClass.WALL, (20.15, 0.0), np.pi / 2, (20.0, 0.3, 4.0))
    mb.box(e, Material.GLASS, (20.15, 0.0, 2.0), (20.0, 0.3, 4.0), np.pi / 2)
    ground = _plane(0.0, 0.0)
    n = 32
    d = np.column_stack([np.ones(n), np.linspace(-0.3, 0.3, n), np.full(n, -0.04)])  # the ground at 25 m
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    rays = np.hstack([np.tile([0.0, 0.0, 1.0], (n, 1)), d]).astype(np.float32)
    for static in (StaticWorld(mb), None):
        hits = alloc_hits(n)
        hits.dist[:], hits.part[:] = np.inf, HIT_NONE
        if static is not None:
            overlay_static(static, hits, rays, 100.0, lidar=True)
        overlay_terrain(ground, hits, rays, 100.0)
        seen = hits.part == HIT_GROUND
        assert not seen.any() if static is not None else seen.all()  # without the pane: the ground


def _straight_road(length: float = 400.0, hw_lanes: int = 2) -> Road:
    xy = np.column_stack([np.linspace(-200.0, length - 200.0, 9), np.zeros(9)])
    return Road.from_polyline(xy, hw_lanes, 3.5, shoulder=0.5)


def test_crossfall_crowns_the_carriageway_and_the_grade_stays_within_its_peak() -> None:
    road = _straight_road()
    ego = np.column_stack([np.linspace(-50, 50, 11), np.full(11, -1.75)])
    sc = {"max_grade": 0.06, "grade_wavelength_m": [250.0, 600.0], "crossfall": 0.02}
    t = draw_terrain(sc, [road], ego, np.random.default_rng(3))
    assert t is not None and 0.015 <= t.peak_grade <= 0.06
    assert abs(float(t.height(ego[:1])[0])) < 1e-9  # zero under the ego's start
    # the crown alone (no grade): 2 % x 7.5 m over the paved edge, level beyond, symmetric
    c = draw_terrain({**sc, "max_grade": 0.0}, [road], ego, np.random.default_rng(3))
    h = c.height(np.column_stack([np.full(5, 10.0), [0.0, 7.5, -7.5, 12.0, -12.0]]))
    # the ridge and the edge are each rounded within a 1 m cell (<= 1 cm each)
    np.testing.assert_allclose(h[0] - h[1], 0.02 * 7.5, atol=0.021)
    np.testing.assert_allclose(h[1:], h[1], atol=0.011)
    # slopes: no steeper than the peak grade plus the crossfall (the waves add up to at most the peak)
    g = t.gradient(np.column_stack([np.random.default_rng(0).uniform(-150, 150, (2000, 2))]))
    assert np.hypot(g[:, 0], g[:, 1]).max() <= t.peak_grade + 0.02 + 0.005
    assert (
        draw_terrain({**sc, "max_grade": 0.0, "crossfall": 0.0}, [road], ego, np.random.default_rng(3))
        is None
    )


def test_drape_splits_long_triangles_and_lifts_every_vertex() -> None:
    t = _plane(0.05, 0.0)
    v = np.array([[0.0, 0, 0], [40.0, 0, 0], [40.0, 0, 3.0], [0.0, 0, 3.0]])  # a 40 m wall face
    f = np.array([[0, 1, 2], [0, 2, 3]])
    V, F, src, lift = drape(v, f, t, max_edge_m=4.0)  # (the default is 8 m)
    e = np.stack([V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 1]], V[F[:, 0]] - V[F[:, 2]]], 1)
    assert np.hypot(e[..., 0], e[..., 1]).max() <= 4.0 + 1e-9
    assert set(src.tolist()) == {0, 1}
    np.testing.assert_allclose(lift, 0.05 * V[:, 0], atol=1e-12)  # each vertex rose by the ground
    z0 = V[:, 2] - 0.05 * V[:, 0]  # each vertex's height over the ground: the mesh's own z
    assert (z0 > -1e-9).all() and (z0 < 3.0 + 1e-9).all()
    assert np.isclose(z0, 0.0).sum() >= 10  # the bottom edge follows the ground in 4 m steps
    assert np.isclose(z0, 3.0).sum() >= 10


@pytest.fixture(scope="module")
def graded() -> World:
    cfg = scenario_config("urban_clutter")
    cfg["world"]["duration_s"] = 4.0
    cfg["world"]["static"]["max_grade"] = 0.06
    return World(cfg, seed=5)


def test_the_world_stands_on_its_terrain(graded: World) -> None:
    w, tr = graded, graded.terrain
    assert tr is not None and w.static.terrain is tr
    st = w.stamps_ns[::50]
    e = w.ego_arrays(st)
    np.testing.assert_allclose(e["position"][:, 2], tr.height(e["position"][:, :2]), atol=1e-6)
    # the body's x axis climbs with the road (pitch from the axles, smoothed over 0.15 s)
    fwd = e["R_world_base"][:, :, 0]
    g = tr.gradient(e["position"][:, :2] + 0.5 * w.wheelbase * fwd[:, :2])
    slope_ahead = np.einsum("ij,ij->i", g, fwd[:, :2] / np.linalg.norm(fwd[:, :2], axis=1, keepdims=True))
    np.testing.assert_allclose(fwd[:, 2], slope_ahead, atol=0.004)
    assert np.abs(fwd[:, 2]).max() > 0.003  # not a flat stretch: the test would then prove nothing
    # moving actors and parked cars stand on the ground (their box bottoms, curbs aside)
    a = w.actors_at(int(st[10]))
    bottom = a.centers[:, 2] - 0.5 * a.sizes[:, 2]
    lift = bottom - tr.height(a.centers[:, :2])
    assert np.all((np.abs(lift) < 1e-6) | (np.abs(lift - 0.15) < 1e-6))
    # static elements stand on the ground: nothing floats (curbs aside), and a rigid one (a
    # building, a pole) sinks at most by the slope across its footprint
    el = w.static.elements
    bottom, h_c = el.center[:, 2] - 0.5 * el.size[:, 2], tr.height(el.center[:, :2])
    assert (bottom <= h_c + 0.16).all()
    rigid = ~np.isin(el.cls, [int(c) for c in BENDS_WITH_GROUND])
    reach = tr.max_slope * 0.5 * np.hypot(el.size[:, 0], el.size[:, 1]) + 0.01
    assert (bottom[rigid] >= h_c[rigid] - reach[rigid]).all() and rigid.sum() > 20
    # a bent element's box spans the ground under it (what "on static structure" is asked against)
    st_w = w.static
    v_el = np.full(st_w.vertices.shape[0], -1)
    v_el[st_w.triangles.ravel()] = np.repeat(st_w.element, 3)
    # (a hedge's leaves dip below its box by design)
    bent = np.flatnonzero(~rigid & (el.cls != int(StaticClass.VEGETATION)))
    assert len(bent) >= 5  # sidewalks, pavement, fences
    for e_ in bent:
        vz = st_w.vertices[v_el == e_, 2]
        assert bottom[e_] - 1e-3 <= vz.min() and vz.max() <= el.center[e_, 2] + 0.5 * el.size[e_, 2] + 1e-3
    d = el.to_dict()  # what /ground_truth/static says: which boxes are to be asked by footprint
    np.testing.assert_array_equal(d["follows_ground"], ~rigid)
    np.testing.assert_array_equal(type(el).from_dict(d).follows_ground, ~rigid)
    # and each building's mesh keeps its shape: its lowest vertex on the lowest ground under it
    b = int(np.flatnonzero(el.cls == int(StaticClass.BUILDING))[0])
    vb = np.unique(st_w.triangles[st_w.element == b].ravel())
    V = st_w.vertices[vb].astype(np.float64)
    np.testing.assert_allclose(V[:, 2].min(), tr.height(V[:, :2]).min(), atol=1e-3)
    ego0 = w.ego_at(int(st[0]))
    assert ego0.orientation is not None


def test_lidar_returns_lie_on_the_ground_never_under_it(graded: World) -> None:
    w = graded
    T_bl = CAL.T_base_from("lidar_top")
    stamp = int(w.stamps_ns[100])
    s = simulate_lidar(w, stamp, T_bl, {**LIDAR16, "range_noise_std_m": 0.0}, np.random.default_rng(0))
    # each point is in the LiDAR's frame at its own time: back to the world with the pose then
    e = w.ego_arrays(stamp + np.round(s["time_offset"].astype(np.float64) * 1e9).astype(np.int64))
    q = s["xyz"].astype(np.float64) @ T_bl[:3, :3].T + T_bl[:3, 3]
    P = e["position"] + np.einsum("nij,nj->ni", e["R_world_base"], q)
    d = P[:, 2] - w.terrain.height(P[:, :2])
    near = np.hypot(s["xyz"][:, 0], s["xyz"][:, 1]) < 30.0
    road = w.ground.ground_class(P[:, :2]) != 0  # the carriageway: no slab of the scenery on it
    ground = near & road & (s["actor_id"] == -1) & (np.abs(d) < 0.05)
    assert ground.sum() > 1000
    assert np.quantile(np.abs(d[ground]), 0.99) < 0.003  # 1 mm tolerance, float32 points
    assert d.min() > -0.003  # nothing seen under the ground


def test_camera_ground_pixels_lie_on_the_terrain(graded: World) -> None:
    w = graded
    intr = CAL.intrinsics["camera_front"]
    T_bc = CAL.T_base_from("camera_front")
    stamp = int(w.stamps_ns[100])
    r = render_camera_labels(w, stamp, T_bc, intr, np.random.default_rng(0))
    rays = camera_rays(intr)
    gnd = (r.actor_id == -1).reshape(-1) & np.isfinite(r.depth_m.reshape(-1)) & (r.depth_m.reshape(-1) < 60.0)
    assert gnd.sum() > 20_000
    d = rays.dirs[gnd].astype(np.float64)
    p_cam = d * (r.depth_m.reshape(-1)[gnd] / d[:, 2])[:, None]
    T = ego_transform(w.ego_at(stamp)) @ T_bc
    P = p_cam @ T[:3, :3].T + T[:3, 3]
    err = P[:, 2] - w.terrain.height(P[:, :2])
    assert np.quantile(np.abs(err), 0.99) < 0.01  # float32 depth at up to 60 m


def test_imu_feels_the_grade(graded: World) -> None:
    """The accelerometer's x axis reads the vehicle's acceleration plus g times the road's slope
    ahead (gravity along the pitched body): what an estimator must not take for acceleration."""
    w = graded
    noise = ("gyro_noise_density", "accel_noise_density", "gyro_bias_init_std", "accel_bias_init_std",
             "gyro_bias_random_walk", "accel_bias_random_walk")  # fmt: skip
    cfg = {**scenario_config("urban_clutter")["imu"], **{k: 0.0 for k in noise}}
    imu = simulate_imu(w, w.stamps_ns[5:-5:20], np.eye(4), cfg, np.random.default_rng(0))
    e = w.ego_arrays(imu.stamps_ns)
    fwd = e["R_world_base"][:, :, 0]
    u = fwd[:, :2] / np.linalg.norm(fwd[:, :2], axis=1, keepdims=True)
    slope = np.einsum("ij,ij->i", w.terrain.gradient(e["position"][:, :2] + 0.5 * w.wheelbase * u), u)
    np.testing.assert_allclose(imu.accel[:, 0] - e["accel_body"][:, 0], 9.80665 * slope, atol=0.04)
    assert np.abs(slope).max() > 0.003


def test_flat_config_keeps_the_plane() -> None:
    cfg = scenario_config("urban_clutter")
    cfg["world"]["duration_s"] = 2.0
    cfg["world"]["static"].update(max_grade=0.0, crossfall=0.0)
    w = World(cfg, seed=5)
    assert w.terrain is None and w.static.terrain is None
    e = w.ego_at(int(w.stamps_ns[10]))
    assert e.orientation is None and e.position[2] == 0.0
    assert "follows_ground" not in w.static.elements.to_dict()  # boxes on the plane are exact
    mb = MeshBuilder()
    el = mb.element(StaticClass.WALL, (0.0, 5.0), 0.0, (40.0, 0.3, 3.0))
    mb.box(el, Material.BRICK, (0.0, 5.0, 1.5), (40.0, 0.3, 3.0), 0.0)
    assert StaticWorld(mb).n_triangles == 12  # not draped without a terrain
