"""The static world: mesh builders, Open3D ray casting, sensors, the open-world flag, scenarios."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sensor_fusion.bag.io import read_messages
from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.sim.camera import STATIC_ID, render_camera_labels
from sensor_fusion.sim.lidar import simulate_lidar
from sensor_fusion.sim.radar import TRUTH_GHOST, simulate_radar_with_truth
from sensor_fusion.sim.raycast import HIT_GROUND, HIT_NONE, alloc_hits
from sensor_fusion.sim.scenarios import model_params, scenario_config
from sensor_fusion.sim.state import ActorStates, EgoState
from sensor_fusion.sim.static import Material, StaticClass, StaticWorld
from sensor_fusion.sim.static import meshes as m
from sensor_fusion.sim.static.meshes import MeshBuilder
from sensor_fusion.sim.static.overlay import HIT_STATIC, overlay_static
from sensor_fusion.sim.static.radar_static import TRUTH_STATIC
from sensor_fusion.sim.world import World

CAL = load_calibration("config/calibration.yaml")
LIDAR16 = {"beams": 16, "vfov_deg": [-15.0, 15.0], "azimuth_resolution_deg": 0.4, "dropout_prob": 0.0}


def _closed_and_outward(v: np.ndarray, f: np.ndarray) -> tuple[bool, float]:
    """Every edge shared by exactly two triangles in opposite directions; signed volume."""
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    fwd = {tuple(e) for e in edges.tolist()}
    closed = len(fwd) == len(edges) and all((b, a) in fwd for a, b in fwd)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    vol = float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)
    return closed, vol


def test_box_and_prism_are_closed_and_outward() -> None:
    for build, vol_expected in (
        (lambda mb: mb.box(0, Material.CONCRETE, (1.0, 2.0, 1.5), (4.0, 2.0, 3.0), 0.7), 24.0),
        (
            lambda mb: mb.prism(0, Material.METAL, (3.0, -1.0), 0.0, 5.0, 0.1, 8),
            5.0 * 8 * 0.5 * 0.01 * np.sin(np.pi / 4),
        ),
    ):
        mb = MeshBuilder()
        mb.element(StaticClass.WALL, (0, 0), 0.0, (1, 1, 1))
        build(mb)
        v, f, mat, ele = mb.arrays()
        closed, vol = _closed_and_outward(v.astype(np.float64), f.astype(np.int64))
        assert closed
        assert vol == pytest.approx(vol_expected, rel=1e-4)  # positive: normals point out
        assert (ele == 0).all() and len(mat) == len(f)


def test_builders_register_classes_and_materials() -> None:
    rng = np.random.default_rng(0)
    mb = MeshBuilder()
    m.building(mb, rng, (0.0, 20.0), 0.0, 20.0, 10.0, 12.0, facing=-1.0)
    m.tree(mb, rng, (5.0, 5.0), 8.0, 2.5)
    m.hedge(mb, rng, (-5.0, 5.0), 0.0, 6.0, 0.8, 1.2)
    m.pole(mb, (0.0, 4.0), 7.0, arm_yaw=-np.pi / 2, arm=2.0)
    m.guard_rail(mb, np.array([[0.0, -5.0], [10.0, -5.0], [20.0, -5.0]]), np.zeros(3))
    st = StaticWorld(mb)
    el = st.elements
    S = StaticClass
    assert [S(k) for k in el.cls] == [S.BUILDING, S.TREE, S.VEGETATION, S.POLE, S.GUARD_RAIL]
    assert el.is_structure.all()
    # every triangle belongs to an element, and the building has glass and a solid body
    assert set(np.unique(st.element)) == set(range(5))
    bmat = set(st.material[st.element == 0].tolist())
    assert Material.GLASS in bmat and len(bmat & {Material.PLASTER, Material.BRICK, Material.CONCRETE}) == 1
    # element boxes hold their triangles (footprint corners around the vertices)
    corners = el.corners()
    for e in range(len(el)):
        vv = st.vertices[st.triangles[st.element == e].ravel()]
        lo, hi = corners[e].min(0) - 0.3, corners[e].max(0) + 0.3
        if StaticClass(el.cls[e]) in (StaticClass.POLE,):  # its arm reaches over the road
            continue
        assert (vv[:, :2] >= lo).all() and (vv[:, :2] <= hi).all(), StaticClass(el.cls[e])


def _wall_world(material: Material = Material.CONCRETE) -> StaticWorld:
    mb = MeshBuilder()
    e = mb.element(StaticClass.WALL, (20.15, 0.0), np.pi / 2, (20.0, 0.3, 4.0))
    mb.box(e, material, (20.15, 0.0, 2.0), (20.0, 0.3, 4.0), np.pi / 2)  # near face at x = 20
    return StaticWorld(mb)


def _lidar_hits(st: StaticWorld, n: int = 64):
    az = np.linspace(-0.3, 0.3, n)
    d = np.column_stack([np.cos(az), np.sin(az), np.zeros(n)])
    hits = alloc_hits(n)
    hits.dist[:] = np.inf
    hits.part[:] = HIT_NONE
    rays = np.hstack([np.tile([0.0, 0.0, 1.0], (n, 1)), d]).astype(np.float32)
    overlay_static(st, hits, rays, 100.0, lidar=True)
    return az, hits


def test_ray_cast_hits_wall_at_its_range() -> None:
    az, hits = _lidar_hits(_wall_world())
    assert (hits.part == HIT_STATIC - Material.CONCRETE).all()
    np.testing.assert_allclose(hits.dist, 20.0 / np.cos(az), rtol=1e-5)
    np.testing.assert_allclose(hits.point[:, 0], 20.0, atol=1e-4)
    np.testing.assert_allclose(hits.normal[:, 0], -1.0, atol=1e-6)  # faces the sensor
    np.testing.assert_allclose(hits.cos_incidence, np.cos(az), atol=1e-5)


def test_glass_returns_nothing() -> None:
    """Glass takes the ray and returns nothing; the pane's distance is kept, so that the graded
    ground overlaid next (sim/terrain.py) is not seen behind it."""
    az, hits = _lidar_hits(_wall_world(Material.GLASS))
    assert (hits.part == HIT_NONE).all()
    np.testing.assert_allclose(hits.dist, 20.0 / np.cos(az), rtol=1e-5)


def test_nearer_box_hit_wins_over_static() -> None:
    st = _wall_world()
    hits = alloc_hits(1)
    hits.dist[:] = 10.0
    hits.part[:] = 3
    rays = np.array([[0, 0, 1, 1, 0, 0]], np.float32)
    assert overlay_static(st, hits, rays, 100.0, lidar=True) == 0
    assert hits.part[0] == 3 and hits.dist[0] == 10.0


@pytest.mark.parametrize("kind", ["hedge", "tree"])
def test_porous_vegetation_lets_some_rays_through(kind: str) -> None:
    rng = np.random.default_rng(1)
    mb = MeshBuilder()
    if kind == "hedge":
        m.hedge(mb, rng, (10.0, 0.0), np.pi / 2, 20.0, 0.8, 2.0)  # 0.8 m deep across the rays
        z = 1.0
    else:
        m.tree(mb, rng, (10.0, 0.0), 8.0, 2.5)
        z = 8.0 - 0.5 * 4.0  # crown from 4 m to the 8 m top
    st = StaticWorld(mb)
    n = 2000
    az = np.linspace(-0.08, 0.08, n)
    d = np.column_stack([np.cos(az), np.sin(az), np.zeros(n)])
    h = st.cast(np.array([0.0, 0.0, z]), d, 100.0)
    through = float(np.isinf(h.dist).mean())
    assert 0.05 < through < 0.6  # partly penetrating: some returns, some rays pass
    hit = np.isfinite(h.dist)
    assert (h.material[hit] == Material.FOLIAGE).all()
    # scattered depth: returns spread through the volume, not one surface
    assert np.std(h.dist[hit]) > 0.1


class _StaticBench:
    """A fixed ego at the origin heading +x, no actors, a wall 20 m ahead, flat asphalt."""

    class _Ground:
        def ground_class(self, xy):
            return np.ones(len(xy), np.uint8)

    def __init__(self, static: StaticWorld | None) -> None:
        self.static = static
        self.ground = self._Ground()

    def ego_at(self, stamp_ns: int) -> EgoState:
        return EgoState(int(stamp_ns), np.zeros(3), 0.0, np.array([5.0, 0, 0]), 0.0, np.zeros(3), 5.0)

    def actors_at(self, stamp_ns: int) -> ActorStates:
        z = np.zeros((0, 3))
        return ActorStates(np.zeros(0, np.int64), np.zeros(0, np.int64), z, z, np.zeros(0), z, np.zeros(0))


def test_lidar_camera_radar_see_the_wall() -> None:
    w = _StaticBench(_wall_world())
    T_bl = CAL.T_base_from("lidar_top")
    s = simulate_lidar(w, 0, T_bl, LIDAR16, np.random.default_rng(0))
    x_world = s["xyz"][:, 0] + T_bl[0, 3]
    ahead = np.abs(np.arctan2(s["xyz"][:, 1], s["xyz"][:, 0])) < 0.2
    wall = ahead & (s["xyz"][:, 2] > -0.5)
    assert wall.sum() > 50
    np.testing.assert_allclose(x_world[wall], 20.0, atol=0.15)  # range noise 2 cm
    assert (s["actor_id"][wall] == -1).all()
    # without the static world the same rays see nothing there
    s0 = simulate_lidar(_StaticBench(None), 0, T_bl, LIDAR16, np.random.default_rng(0))
    assert not (np.abs(np.arctan2(s0["xyz"][:, 1], s0["xyz"][:, 0])) < 0.2)[s0["xyz"][:, 2] > -0.5].any()
    cam = render_camera_labels(
        w, 0, CAL.T_base_from("camera_front"), CAL.intrinsics["camera_front"], np.random.default_rng(0)
    )
    H, W = cam.actor_id.shape
    assert cam.actor_id[H // 2 - 20, W // 2] == STATIC_ID
    scan, truth = simulate_radar_with_truth(
        w, 0, CAL.T_base_from("radar_front"), {"rcs_noise_db": 0.0}, np.random.default_rng(0)
    )
    st = truth == TRUTH_STATIC
    assert st.sum() >= 3
    # stationary: Doppler = -v_ego . u (ego drives at 5 m/s towards the wall)
    u = scan.xyz[st] / np.linalg.norm(scan.xyz[st], axis=1)[:, None]
    np.testing.assert_allclose(scan.radial_velocity[st], -5.0 * u[:, 0], atol=0.5)


def test_radar_multipath_ghost_behind_guard_rail() -> None:
    mb = MeshBuilder()
    xs = np.linspace(-10.0, 80.0, 46)
    m.guard_rail(mb, np.column_stack([xs, np.full_like(xs, -4.0)]), np.zeros(len(xs)))
    w = _StaticBench(StaticWorld(mb))
    car = ActorStates(
        np.array([7]), np.array([int(ObjectClass.CAR)]), np.array([[30.0, -2.0, 0.75]]),
        np.array([[4.5, 1.9, 1.5]]), np.zeros(1), np.array([[10.0, 0.0, 0.0]]), np.zeros(1),
    )  # fmt: skip
    w.actors_at = lambda stamp_ns: car
    n_ghost, behind = 0, 0
    for k in range(20):
        scan, truth = simulate_radar_with_truth(
            w,
            0,
            CAL.T_base_from("radar_front"),
            {"ghost_rate": 0.0, "clutter_rate": 0.0},
            np.random.default_rng(k),
        )
        g = truth == TRUTH_GHOST
        n_ghost += int(g.sum())
        behind += int((scan.xyz[g, 1] < -4.0).sum())  # radar frame ~ base frame laterally
    assert n_ghost > 0 and behind == n_ghost


def test_open_world_flag_is_identical() -> None:
    """world.static.enabled false builds nothing and leaves every stream as it was."""
    cfg = scenario_config("urban", {"world": {"duration_s": 2.0}})
    assert cfg["world"]["static"]["enabled"] is False
    w = World(cfg, 3)
    assert w.static is None and len(w.actors_at(w.t0_ns)) == w.n_moving
    on = World(scenario_config("urban", {"world": {"duration_s": 2.0, "static": {"enabled": True}}}), 3)
    assert on.static is not None and on.static.n_triangles > 1000
    # the moving actors are the same in both worlds; the static one adds structure only
    a0, a1 = w.actors_at(w.t0_ns + 10**9), on.actors_at(on.t0_ns + 10**9)
    np.testing.assert_array_equal(a0.centers[:, :2], a1.centers[: len(a0), :2])  # z: walkers on the curb
    np.testing.assert_array_equal(a0.ids, a1.ids[: len(a0)])


@pytest.mark.filterwarnings("ignore:could not place")
@pytest.mark.parametrize("name", ["urban_clutter", "parking_lot"])
def test_scenario_smoke(name: str) -> None:
    cfg = scenario_config(name, {"world": {"duration_s": 2.0}, "lidar": {"beams": 16}})
    w = World(cfg, 2)
    el = w.static.elements
    classes = {StaticClass(k) for k in el.cls}
    assert {StaticClass.BUILDING, StaticClass.POLE} <= classes
    a = w.actors_at(w.t0_ns + 10**9)
    still = np.arange(len(a)) >= w.n_moving
    parked = still & (a.labels == ObjectClass.CAR)
    assert parked.sum() >= (10 if name == "urban_clutter" else 30)
    assert np.isin(a.labels[still], [ObjectClass.CAR, ObjectClass.PEDESTRIAN]).all()
    assert (a.velocity[still] == 0.0).all()
    # parked cars stand clear of each other and of the static structure's footprints
    T_bl = CAL.T_base_from("lidar_top")
    s = simulate_lidar(w, w.t0_ns, T_bl, model_params(cfg["lidar"]) | LIDAR16, np.random.default_rng(0))
    static_pts = (s["actor_id"] == -1) & (s["xyz"][:, 2] > -1.0)
    assert static_pts.mean() > 0.2  # a street canyon: much of the sweep is scenery
    assert np.isin(s["actor_id"], w.actor_ids[parked]).sum() > 100
    if name == "urban_clutter":
        assert StaticClass.TREE in classes and StaticClass.SIDEWALK in classes
        # walkers stand on the raised sidewalk (curb 0.15 m over the graded ground): their boxes sit on it
        ped = a.labels == ObjectClass.PEDESTRIAN
        lift = a.centers[ped, 2] - 0.5 * a.sizes[ped, 2] - w.terrain.height(a.centers[ped, :2])
        assert ped.any() and np.isclose(lift, cfg["world"]["static"]["curb_height_m"]).sum() >= ped.sum() - 3
        standing = still & ped
        assert standing.sum() >= 2  # people standing in groups by the façades


def test_highway_static_has_guard_rails_and_gantries() -> None:
    w = World(scenario_config("highway", {"world": {"duration_s": 2.0, "static": {"enabled": True}}}), 1)
    classes = [StaticClass(k) for k in w.static.elements.cls]
    assert StaticClass.GUARD_RAIL in classes and StaticClass.OVERHEAD_SIGN in classes
    assert StaticClass.BARRIER in classes and StaticClass.BUILDING not in classes


def test_ground_hit_code_untouched() -> None:
    assert HIT_GROUND == -1 and HIT_NONE == -2 and HIT_STATIC == -3


@pytest.mark.filterwarnings("ignore:could not place")
def test_bag_carries_static_elements_and_flag_off_restores_open_world(tmp_path) -> None:
    from sensor_fusion.sim.recorder import STATIC_TOPIC, record, scenario_from_bag, static_elements_from_bag

    ov = tmp_path / "ov.yaml"
    ov.write_text("lidar: {beams: 16}\ncameras: {names: [camera_front], rate_hz: 2.0}\n")
    record("urban_clutter", 5, 1.0, tmp_path / "on", overrides_file=str(ov))
    el = static_elements_from_bag(tmp_path / "on")
    w = World(scenario_from_bag(tmp_path / "on")["config"], 5)
    assert el is not None and len(el) == len(w.static.elements)
    np.testing.assert_array_equal(el.cls, w.static.elements.cls)
    np.testing.assert_allclose(el.center, w.static.elements.center, atol=1e-3)
    doc = json.loads(next(iter(read_messages(tmp_path / "on", [STATIC_TOPIC])))[3].data)
    assert doc["wind"]["speed_mps"] == w.wind.speed_mps and 0.0 <= w.wind.speed_mps <= 8.0
    # the graded ground travels with it, and scoring reads it back (eval.regions.StaticBoxes)
    from sensor_fusion.eval.regions import StaticBoxes

    sb = StaticBoxes.from_json(doc)
    xy = w.static.elements.center[:, :2]
    np.testing.assert_allclose(sb.ground(xy), w.terrain.height(xy), atol=0.03)  # a 2 m grid
    assert doc["ground"]["peak_grade"] == round(w.terrain.peak_grade, 5)
    info = record("urban_clutter", 5, 1.0, tmp_path / "off", overrides_file=str(ov), static_world=False)
    assert static_elements_from_bag(tmp_path / "off") is None and STATIC_TOPIC not in info.counts
    assert scenario_from_bag(tmp_path / "off")["config"]["world"]["static"]["enabled"] is False


def test_articulated_walker_swings_inside_its_box() -> None:
    from sensor_fusion.sim.shapes import actor_parts, gait

    ped = ActorStates(
        np.array([11, 12, 13]), np.array([int(ObjectClass.PEDESTRIAN)] * 2 + [int(ObjectClass.BICYCLE)]),
        np.array([[0.0, 0.0, 0.9], [5.0, 0.0, 0.9], [9.0, 0.0, 0.85]]),
        np.array([[0.7, 0.6, 1.8]] * 2 + [[1.8, 0.6, 1.7]]), np.array([0.3, 0.0, 1.0]),
        np.array([[1.4, 0.0, 0.0], [0.0, 0.0, 0.0], [3.0, 4.0, 0.0]]), np.zeros(3),
    )  # fmt: skip
    plain = actor_parts(ped)
    assert len(plain) == 9  # legs, torso, head each; frame, rider, head
    xs = []
    for t in np.linspace(0.0, 1.2, 13):
        p = actor_parts(ped, t_s=float(t))
        assert len(p) == 19  # two legs, torso, two arms, head each; wheels, frame, legs, torso, head
        for k in range(3):  # every part inside the actor's box at every phase
            sel = p.actor_index == k
            c, s = np.cos(ped.yaw[k]), np.sin(ped.yaw[k])
            rel = p.centers[sel] - ped.centers[k]
            lx, ly = c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1]
            assert (np.abs(lx) + p.half_sizes[sel, 0] <= 0.5 * ped.sizes[k, 0] + 1e-9).all()
            assert (np.abs(ly) + p.half_sizes[sel, 1] <= 0.5 * ped.sizes[k, 1] + 1e-9).all()
            assert (np.abs(rel[:, 2]) + p.half_sizes[sel, 2] <= 0.5 * ped.sizes[k, 2] + 1e-9).all()
        xs.append(p.centers[p.actor_index == 0][0, :2].copy())
    travel = np.ptp(np.array(xs), axis=0)
    assert np.hypot(*travel) > 0.3  # the walker's leg swings about +-0.25 m
    g = gait(ped.ids, ped.velocity, np.linspace(0.0, 2.0, 50))
    assert np.abs(g[:, 1]).max() == 0.0 and np.abs(g[:, 0]).max() > 0.9  # standing still: no swing


def test_instance_colours_do_not_tell_the_class() -> None:
    from sensor_fusion.sim.shapes import part_layout

    n = 200
    ids = np.arange(n)
    sizes = np.tile([4.5, 1.9, 1.5], (n, 1))
    by_class = {}
    for cls, k in ((ObjectClass.CAR, 0), (ObjectClass.PEDESTRIAN, 1)):  # car body, walker torso
        lay = part_layout(ids, np.full(n, int(cls)), sizes, instance_colors=True)
        first = np.flatnonzero(np.r_[True, np.diff(lay.actor_index) > 0]) + k
        by_class[cls] = lay.color_bgr[first].astype(float)
        plain = part_layout(ids, np.full(n, int(cls)), sizes)
        assert np.ptp(plain.color_bgr[first].astype(float), axis=0).max() < 80  # one hue per class
        assert np.ptp(by_class[cls], axis=0).max() > 100  # light to dark across instances
    # the two classes span the same colours: their mean colours are close
    assert np.abs(by_class[ObjectClass.CAR].mean(0) - by_class[ObjectClass.PEDESTRIAN].mean(0)).max() < 40


@pytest.mark.parametrize("seed", [1, 2, 702])
def test_people_standing_in_groups_stand_apart(seed: int) -> None:
    """Standing people are drawn on rings of 0.7 m; the draws alone put 2-7 pairs a street within
    0.3 m of each other (one body inside another, which no detector can count as two). They stand
    at least the group spacing apart, and nothing else in the world moves for it."""
    from scipy.spatial.distance import pdist

    from sensor_fusion.sim.static.layout import _GROUP_MIN_SPACING_M, _spread_apart

    w = World(scenario_config("urban_clutter", {"world": {"duration_s": 2.0}}), seed)
    a = w.actors_at(w.t0_ns + 10**9)
    standing = (np.arange(len(a)) >= w.n_moving) & (a.labels == ObjectClass.PEDESTRIAN)
    assert standing.sum() >= 10
    assert pdist(a.centers[standing, :2]).min() >= _GROUP_MIN_SPACING_M - 1e-6
    drawn = np.array([[0.7, 0.0], [0.69, 0.05], [-0.7, 0.0]])  # two drawn 5 cm apart
    spread = _spread_apart(drawn, _GROUP_MIN_SPACING_M)
    assert pdist(spread).min() >= _GROUP_MIN_SPACING_M - 1e-6
    assert np.allclose(spread[2], drawn[2])  # the one already clear stays
