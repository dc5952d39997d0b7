"""Simulated LiDAR and camera: geometry against analytic answers and cv2.projectPoints.

A tiny fake world (flat ground, constant-velocity ego and boxes) stands in for
sim/world.py so these tests pin the sensors' own maths.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.core.geometry import invert_transform, make_transform, rpy_to_matrix, transform_points
from sensor_fusion.core.types import CameraIntrinsics
from sensor_fusion.sim.camera import camera_rays, encode_jpeg, render_camera, render_camera_labels
from sensor_fusion.sim.lidar import LidarConfig, scan_pattern, simulate_lidar
from sensor_fusion.sim.raycast import HIT_GROUND, HIT_NONE, cast_from_origin
from sensor_fusion.sim.shapes import CLASS_COLOR_BGR, actor_parts
from sensor_fusion.sim.state import ActorStates, EgoState

T_BASE_LIDAR = make_transform(np.eye(3), np.array([1.0, 0.0, 1.9]))
T_BASE_CAM = make_transform(rpy_to_matrix(-np.pi / 2, 0.0, -np.pi / 2), np.array([1.6, 0.0, 1.5]))
INTR = CameraIntrinsics(
    640, 384, np.array([[400.0, 0, 320], [0, 400, 192], [0, 0, 1]]), np.array([-0.05, 0.01, 0.0, 0.0, 0.0])
)
LIDAR_CFG = {
    "beams": 31,
    "vfov_deg": [-15.0, 15.0],  # 1 deg steps, ring 15 horizontal
    "rate_hz": 10.0,
    "azimuth_resolution_deg": 0.5,
    "max_range_m": 100.0,
    "range_noise_std_m": 0.0,
    "dropout_prob": 0.0,
}


class FlatGround:
    """Asphalt for |y| < 6 m with a 0.3 m marking at y = 0, off-road elsewhere."""

    def ground_class(self, xy: np.ndarray) -> np.ndarray:
        y = np.asarray(xy)[:, 1]
        out = np.where(np.abs(y) < 6.0, 1, 0).astype(np.uint8)
        out[np.abs(y) < 0.15] = 2
        return out


class FakeWorld:
    """Constant-velocity ego (from the origin at t = 0) and constant-velocity boxes."""

    def __init__(
        self, boxes: list[dict], ego_velocity=(0.0, 0.0), ego_yaw: float = 0.0, yaw_rate: float = 0.0
    ):
        self.ground = FlatGround()
        self.boxes = boxes
        self.v = np.array([*ego_velocity, 0.0])
        self.yaw0 = ego_yaw
        self.yaw_rate = yaw_rate

    def ego_at(self, stamp_ns: int) -> EgoState:
        t = stamp_ns * 1e-9
        return EgoState(
            stamp_ns,
            self.v * t,
            self.yaw0 + self.yaw_rate * t,
            self.v.copy(),
            self.yaw_rate,
            np.zeros(3),
            float(np.linalg.norm(self.v)),
        )

    def actors_at(self, stamp_ns: int) -> ActorStates:
        t = stamp_ns * 1e-9
        n = len(self.boxes)
        vel = np.array([[*b.get("velocity", (0.0, 0.0)), 0.0] for b in self.boxes]).reshape(n, 3)
        return ActorStates(
            ids=np.array([b["id"] for b in self.boxes], np.int64),
            labels=np.array([int(b.get("label", ObjectClass.UNKNOWN)) for b in self.boxes], np.int64),
            centers=np.array([b["center"] for b in self.boxes], np.float64).reshape(n, 3) + vel * t,
            sizes=np.array([b["size"] for b in self.boxes], np.float64).reshape(n, 3),
            yaw=np.array([b.get("yaw", 0.0) for b in self.boxes], np.float64),
            velocity=vel,
            yaw_rate=np.zeros(n),
        )


def box(id_: int, center, size, yaw: float = 0.0, label=ObjectClass.UNKNOWN, velocity=(0.0, 0.0)) -> dict:
    return {"id": id_, "center": center, "size": size, "yaw": yaw, "label": label, "velocity": velocity}


# ---------------------------------------------------------------- shapes


@settings(max_examples=40, deadline=None)
@given(
    label=st.sampled_from(list(ObjectClass)),
    size=st.tuples(st.floats(0.3, 15.0), st.floats(0.3, 4.0), st.floats(0.5, 4.5)),
    yaw=st.floats(-4.0, 4.0),
    center=st.tuples(st.floats(-100, 100), st.floats(-100, 100), st.floats(0.0, 3.0)),
)
def test_parts_stay_inside_and_touch_every_face_of_the_gt_box(label, size, yaw, center):
    actors = ActorStates(
        np.array([7]),
        np.array([int(label)]),
        np.array([center], float),
        np.array([size], float),
        np.array([yaw]),
        np.zeros((1, 3)),
        np.zeros(1),
    )
    p = actor_parts(actors)
    assert len(p) >= 1 and np.all(p.actor_index == 0)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    corners = []
    for k in range(len(p)):
        c, s = np.cos(p.yaw[k] - yaw), np.sin(p.yaw[k] - yaw)  # part yaw relative to the actor
        local = signs * p.half_sizes[k]
        rel = p.centers[k] - np.array(center)
        ca, sa = np.cos(-yaw), np.sin(-yaw)
        rel = np.array([ca * rel[0] - sa * rel[1], sa * rel[0] + ca * rel[1], rel[2]])
        corners.append(
            np.column_stack(
                [
                    rel[0] + c * local[:, 0] - s * local[:, 1],
                    rel[1] + s * local[:, 0] + c * local[:, 1],
                    rel[2] + local[:, 2],
                ]
            )
        )
    pts = np.concatenate(corners)
    half = np.array(size) / 2
    tol = 1e-9 * (1 + np.abs(center).max())
    assert np.all(np.abs(pts) <= half + 1e-7 + tol)
    np.testing.assert_allclose(pts.max(axis=0), half, atol=1e-7)
    np.testing.assert_allclose(pts.min(axis=0), -half, atol=1e-7)


def test_parts_have_class_specific_shapes_and_hues():
    n_parts = {}
    for label in (
        ObjectClass.CAR,
        ObjectClass.TRUCK,
        ObjectClass.BUS,
        ObjectClass.BICYCLE,
        ObjectClass.PEDESTRIAN,
    ):
        a = ActorStates(
            np.array([1]),
            np.array([int(label)]),
            np.zeros((1, 3)),
            np.array([[4.0, 2.0, 2.0]]),
            np.zeros(1),
            np.zeros((1, 3)),
            np.zeros(1),
        )
        n_parts[label] = len(actor_parts(a))
    assert n_parts[ObjectClass.BUS] == 1
    assert (
        n_parts[ObjectClass.CAR] >= 2
        and n_parts[ObjectClass.PEDESTRIAN] >= 3
        and n_parts[ObjectClass.BICYCLE] >= 2
    )
    hues = cv2.cvtColor(CLASS_COLOR_BGR[1:].astype(np.uint8)[None], cv2.COLOR_BGR2HSV)[0, :, 0].astype(int)
    d = np.abs(hues[:, None] - hues[None, :])
    d = np.minimum(d, 180 - d) + np.eye(len(hues), dtype=int) * 999
    assert d.min() >= 8, hues  # every class has its own hue
    # colour is a pure function of the id: same id, same colour; different ids differ a little
    ids = np.arange(30)
    a = ActorStates(
        ids,
        np.full(30, int(ObjectClass.CAR)),
        np.zeros((30, 3)),
        np.tile([4.5, 1.9, 1.5], (30, 1)),
        np.zeros(30),
        np.zeros((30, 3)),
        np.zeros(30),
    )
    p1, p2 = actor_parts(a), actor_parts(a)
    np.testing.assert_array_equal(p1.color_bgr, p2.color_bgr)
    body = p1.color_bgr[::4].astype(float)
    assert len(np.unique(body, axis=0)) > 20
    assert np.abs(body - CLASS_COLOR_BGR[ObjectClass.CAR]).max() < 50


# ---------------------------------------------------------------- ray casting kernel


def _reference_cast(origin, dirs, centers, half, yaw, t_max):
    """Brute-force numpy slab test, no culling, for cross-checking the kernel."""
    best = np.full(len(dirs), np.inf)
    hit = np.full(len(dirs), HIT_NONE)
    t = np.where(dirs[:, 2] < 0, -origin[2] / np.where(dirs[:, 2] < 0, dirs[:, 2], -1.0), np.inf)
    ok = (t > 1e-4) & (t < t_max)
    best[ok], hit[ok] = t[ok], HIT_GROUND
    for p in range(len(centers)):
        c, s = np.cos(yaw[p]), np.sin(yaw[p])
        Rt = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]])
        o = Rt @ (origin - centers[p])
        d = dirs @ Rt.T
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (-half[p] - o) / d
            t2 = (half[p] - o) / d
        tn = np.nanmax(np.minimum(t1, t2), axis=1)
        tf = np.nanmin(np.maximum(t1, t2), axis=1)
        m = (tn <= tf) & (tn > 1e-4) & (tn < best) & (tn < t_max)
        best[m], hit[m] = tn[m], p
    return best, hit


def test_kernel_matches_brute_force_reference():
    rng = np.random.default_rng(3)
    P = 60
    centers = np.column_stack([rng.uniform(-40, 40, P), rng.uniform(-40, 40, P), rng.uniform(0.5, 3, P)])
    half = rng.uniform(0.1, 3.0, (P, 3))
    yaw = rng.uniform(-np.pi, np.pi, P)
    origin = np.array([0.3, -0.2, 1.7])
    # coherent bundles (like tiles) plus random rays, to exercise tight and loose cones
    az = np.repeat(rng.uniform(-np.pi, np.pi, 200), 50) + rng.normal(0, 0.02, 10000)
    el = np.repeat(rng.uniform(-0.4, 0.3, 200), 50) + rng.normal(0, 0.02, 10000)
    d = np.column_stack([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])
    d = np.concatenate([d, rng.normal(size=(2000, 3))])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d = d.astype(np.float32)
    ref_t, ref_hit = _reference_cast(origin, d.astype(np.float64), centers, half, yaw, 200.0)
    h = cast_from_origin(origin, d, centers, half, yaw, t_max=200.0)
    finite = np.isfinite(ref_t)
    np.testing.assert_array_equal(np.isfinite(h.dist), finite)
    np.testing.assert_allclose(h.dist[finite], ref_t[finite], rtol=1e-5, atol=1e-4)
    assert np.mean(h.part == ref_hit) > 0.999  # ties at shared edges may differ
    assert np.sum(h.part >= 0) > 500 and np.sum(h.part == HIT_GROUND) > 500  # the test really tests boxes
    # normals are unit, face the ray, and hit points lie at origin + t d
    m = h.part != HIT_NONE
    np.testing.assert_allclose(np.linalg.norm(h.normal[m], axis=1), 1.0, atol=1e-5)
    assert np.all(np.sum(h.normal[m] * d[m], axis=1) < 0)
    np.testing.assert_allclose(h.point[m], origin + h.dist[m, None] * d[m], atol=1e-3)
    np.testing.assert_allclose(h.cos_incidence[m], -np.sum(h.normal[m] * d[m], axis=1), atol=1e-5)


# ---------------------------------------------------------------- LiDAR


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


# ---------------------------------------------------------------- camera


def test_camera_rays_reproject_to_their_pixels():
    rays = camera_rays(INTR)
    uv, _ = cv2.projectPoints(
        rays.dirs.astype(np.float64).reshape(-1, 1, 3), np.zeros(3), np.zeros(3), INTR.K, INTR.D
    )
    u, v = np.meshgrid(np.arange(640), np.arange(384))
    np.testing.assert_allclose(uv.reshape(-1, 2), np.column_stack([u.ravel(), v.ravel()]), atol=0.01)


def _project_box_corners(b: dict, T_world_base: np.ndarray) -> np.ndarray:
    L, W, H = b["size"]
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    c, s = np.cos(b["yaw"]), np.sin(b["yaw"])
    loc = signs * np.array([L, W, H]) / 2
    pw = (
        np.column_stack([c * loc[:, 0] - s * loc[:, 1], s * loc[:, 0] + c * loc[:, 1], loc[:, 2]])
        + b["center"]
    )
    T_cam_world = invert_transform(T_world_base @ T_BASE_CAM)
    rvec, _ = cv2.Rodrigues(T_cam_world[:3, :3])
    uv, _ = cv2.projectPoints(pw.reshape(-1, 1, 3), rvec, T_cam_world[:3, 3], INTR.K, INTR.D)
    return uv.reshape(-1, 2)


def _hue(bgr) -> int:
    return int(cv2.cvtColor(np.asarray(bgr, np.uint8).reshape(1, 1, 3), cv2.COLOR_BGR2HSV)[0, 0, 0])


@pytest.mark.parametrize("ego_yaw", [0.0, 0.5])
def test_camera_box_corners_land_on_projectpoints_pixels(ego_yaw):
    # ego moved and turned: exercises the world -> base -> optical chain, and lens distortion
    stamp = 2 * 10**9
    world = FakeWorld([], ego_velocity=(3.0, 1.0), ego_yaw=ego_yaw)
    ego = world.ego_at(stamp)
    T_wb = make_transform(rpy_to_matrix(0, 0, ego.yaw), ego.position)
    ahead = T_wb[:3, :3] @ np.array([14.0, -2.5, 0.0]) + ego.position
    bus = box(42, (ahead[0], ahead[1], 1.6), (5.0, 2.5, 3.2), yaw=ego_yaw + 0.6, label=ObjectClass.BUS)
    world.boxes = [bus]
    r = render_camera_labels(world, stamp, T_BASE_CAM, INTR, np.random.default_rng(1))
    uv = _project_box_corners(bus, T_wb)
    hull = cv2.convexHull(uv.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    centroid = hull.mean(axis=0)
    bus_hue = _hue(CLASS_COLOR_BGR[ObjectClass.BUS])
    # the rendered silhouette's extent equals the projected box's
    vv, uu = np.nonzero(r.actor_id == 42)
    assert abs(uu.min() - hull[:, 0].min()) <= 1.0 and abs(uu.max() - hull[:, 0].max()) <= 1.0
    assert abs(vv.min() - hull[:, 1].min()) <= 1.0 and abs(vv.max() - hull[:, 1].max()) <= 1.0
    checked = 0
    for corner in hull:
        if not (6 <= corner[0] < 634 and 6 <= corner[1] < 378):
            continue
        inward = (centroid - corner) / np.linalg.norm(centroid - corner)
        ui, vi = np.rint(corner + 4.0 * inward).astype(int)
        uo, vo = np.rint(corner - 4.0 * inward).astype(int)
        assert r.actor_id[vi, ui] == 42 and r.actor_id[vo, uo] != 42
        hin, hout = _hue(r.image[vi, ui]), _hue(r.image[vo, uo])
        assert min(abs(hin - bus_hue), 180 - abs(hin - bus_hue)) <= 4, (hin, bus_hue)
        assert min(abs(hout - bus_hue), 180 - abs(hout - bus_hue)) > 10 or r.image[vo, uo].std() < 12
        checked += 1
    assert checked >= 4
    assert np.array_equal(r.image, render_camera(world, stamp, T_BASE_CAM, INTR, np.random.default_rng(1)))


def test_camera_and_lidar_occlusion_nearest_wins():
    near = box(1, (10.0, 0.0, 1.5), (2.0, 2.0, 3.0))
    far = box(2, (25.0, 0.0, 3.0), (3.0, 12.0, 6.0))
    world = FakeWorld([far, near])
    r = render_camera_labels(world, 0, T_BASE_CAM, INTR, np.random.default_rng(0))
    # the camera looks straight at the near box: its centre pixel shows the near one at its depth
    assert r.actor_id[192 + 10, 320] == 1
    assert r.depth_m[192 + 10, 320] == pytest.approx(9.0 - 1.6, abs=0.05)
    assert np.any(r.actor_id == 2)
    # the far box is hidden exactly where the near box's silhouette is
    near_px = r.actor_id == 1
    world_far_only = FakeWorld([far])
    r2 = render_camera_labels(world_far_only, 0, T_BASE_CAM, INTR, np.random.default_rng(0))
    assert np.sum(near_px & (r2.actor_id == 2)) > 500
    assert np.all(r.actor_id[(r2.actor_id == 2) & ~near_px] == 2)
    out = simulate_lidar(world, 0, T_BASE_LIDAR, LIDAR_CFG, np.random.default_rng(0))
    xyz = out["xyz"]
    ahead = (out["ring"] == 15) & (np.abs(np.arctan2(xyz[:, 1], xyz[:, 0])) < 0.02)
    assert ahead.sum() >= 3 and np.all(out["actor_id"][ahead] == 1)
    np.testing.assert_allclose(xyz[ahead, 0], 8.0, atol=1e-3)


def test_camera_background_sky_ground_and_markings():
    r = render_camera_labels(FakeWorld([]), 0, T_BASE_CAM, INTR, np.random.default_rng(0))
    img = r.image.astype(int)
    sky, road = img[5, 320], img[380, 200]
    assert sky[0] > sky[2] + 40  # blue sky (BGR)
    assert np.all(r.actor_id[:150] == -2) and np.all(r.actor_id[250:] == -1)
    assert abs(road[0] - road[2]) < 15 and road.mean() < 110  # dark grey asphalt
    # the lane marking at y = 0 straight ahead is bright
    assert img[300, 318:323].mean() > 180
    # haze: asphalt 150 m away is lighter than asphalt nearby
    assert r.depth_m[196, 325] > 100 and img[196, 325].mean() > img[383, 250].mean() + 30


def test_renders_are_deterministic_given_the_rng():
    world = FakeWorld(
        [
            box(1, (12.0, 1.0, 0.8), (4.5, 1.9, 1.6), 0.3, ObjectClass.CAR, (2.0, 0.0)),
            box(2, (-9.0, -3.0, 0.9), (0.6, 0.7, 1.8), 0.0, ObjectClass.PEDESTRIAN, (0.0, 1.0)),
        ],
        ego_velocity=(5.0, 0.0),
    )
    cfg = {**LIDAR_CFG, "range_noise_std_m": 0.02, "dropout_prob": 0.05}
    a = simulate_lidar(world, 10**8, T_BASE_LIDAR, cfg, np.random.default_rng(7))
    b = simulate_lidar(world, 10**8, T_BASE_LIDAR, cfg, np.random.default_rng(7))
    c = simulate_lidar(world, 10**8, T_BASE_LIDAR, cfg, np.random.default_rng(8))
    for k in ("xyz", "intensity", "time_offset", "ring", "actor_id"):
        np.testing.assert_array_equal(a[k], b[k])
    assert len(a["xyz"]) != len(c["xyz"]) or not np.array_equal(a["xyz"], c["xyz"])
    i1 = render_camera(world, 10**8, T_BASE_CAM, INTR, np.random.default_rng(7))
    i2 = render_camera(world, 10**8, T_BASE_CAM, INTR, np.random.default_rng(7))
    i3 = render_camera(world, 10**8, T_BASE_CAM, INTR, np.random.default_rng(8))
    np.testing.assert_array_equal(i1, i2)
    d = i1.astype(int) - i3.astype(int)
    assert np.any(d != 0) and np.abs(d).max() <= 2 * 4 + 1  # only the sensor noise differs


def test_encode_jpeg_round_trip():
    img = render_camera(FakeWorld([]), 0, T_BASE_CAM, INTR, np.random.default_rng(0))
    data = encode_jpeg(img, 90)
    assert data[:2] == b"\xff\xd8"
    back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert back.shape == img.shape and np.abs(back.astype(int) - img).mean() < 4
    with pytest.raises(ValueError):
        encode_jpeg(img, 101)
