"""sim/camera.py: rays, box corners against cv2.projectPoints, occlusion, background, determinism, JPEG."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.core.geometry import invert_transform, make_transform, rpy_to_matrix
from sensor_fusion.sim.camera import camera_rays, encode_jpeg, render_camera, render_camera_labels
from sensor_fusion.sim.lidar import simulate_lidar
from sensor_fusion.sim.shapes import CLASS_COLOR_BGR
from tests.sim.common import INTR, LIDAR_CFG, T_BASE_CAM, T_BASE_LIDAR, FakeWorld, box


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
