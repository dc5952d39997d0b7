"""report/pictures.py: boxes land where the camera model says, the top view and camera PNGs are
written for a real run (truth, detections and tracks drawn), and the command says what it wrote."""

from __future__ import annotations

import cv2
import numpy as np

from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.core.geometry import invert_transform
from sensor_fusion.eval.frames import FrameObjects
from sensor_fusion.report.pictures import (
    Boxes,
    box_corners,
    boxes_to_base,
    draw_camera,
    load_moment,
    write_pictures,
)
from tests.conftest import run_cli


def test_box_corners_and_world_to_base():
    b = Boxes(np.array([[10.0, 2.0, 1.0]]), np.array([[4.0, 2.0, 2.0]]), np.array([np.pi / 2]))
    c = box_corners(b)[0]
    np.testing.assert_allclose(c.min(0), [9.0, 0.0, 0.0], atol=1e-9)  # yaw 90 deg: length along y
    np.testing.assert_allclose(c.max(0), [11.0, 4.0, 2.0], atol=1e-9)
    # an object 5 m ahead of an ego at (100, 50) facing +y is at x = 5 in base_link, yaw 0 there
    T = np.eye(4)
    T[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    T[:3, 3] = (100.0, 50.0, 0.0)
    f = FrameObjects(0, np.array([1]), np.array([1]), np.array([[100.0, 55.0, 0.8]]), np.ones((1, 3)),
                     np.array([np.pi / 2]), np.zeros((1, 2)), np.ones(1))  # fmt: skip
    out = boxes_to_base(f, T)
    np.testing.assert_allclose(out.centers[0], [5.0, 0.0, 0.8], atol=1e-9)
    np.testing.assert_allclose(out.yaw[0], 0.0, atol=1e-9)


def test_projected_box_lands_on_projectpoints_pixels(repo):
    cal = load_calibration(repo / "config" / "calibration.yaml")
    intr = cal.intrinsics["camera_front"]
    img = np.zeros((intr.height, intr.width, 3), np.uint8)
    b = Boxes(np.array([[15.0, 0.0, 0.8]]), np.array([[4.5, 1.8, 1.6]]), np.zeros(1))
    drawn = draw_camera(img, cal, "camera_front", [(b, (0, 255, 0))])
    T = invert_transform(cal.T_base_from("camera_front"))
    corners = box_corners(b)[0] @ T[:3, :3].T + T[:3, 3]
    px, _ = cv2.projectPoints(corners, np.zeros(3), np.zeros(3), intr.K, intr.D)
    for u, v in px.reshape(-1, 2).round().astype(int):
        assert drawn[max(v - 1, 0) : v + 2, max(u - 1, 0) : u + 2, 1].max() > 0, (u, v)
    # a box behind the camera draws nothing
    behind = Boxes(np.array([[-15.0, 0.0, 0.8]]), np.array([[4.5, 1.8, 1.6]]), np.zeros(1))
    assert not draw_camera(img, cal, "camera_front", [(behind, (0, 255, 0))]).any()


def test_pictures_of_a_run(fleet, fusion_batch, tmp_path, venv_bin):
    truth, tracks = fleet / "urban_s1", fusion_batch[0] / "tracks" / "urban_s1"
    m = load_moment(truth, tracks, 2.0)
    assert abs(m.t_rel_s - 2.0) <= 0.1 and len(m.points) > 1000 and len(m.truth) > 0
    assert {"lidar", "tracks"} <= set(m.outputs) and set(m.images) == {"camera_front", "camera_rear"}
    # the truth cars near the ego have LiDAR points inside their boxes in base_link
    near = np.hypot(*m.truth.centers[:, :2].T) < 30
    inside = [
        np.sum(np.all(np.abs((m.points - c)[:, :2] @ [[np.cos(y), -np.sin(y)], [np.sin(y), np.cos(y)]])
                      < s[:2] / 2 + 0.2, axis=1))
        for c, s, y in zip(m.truth.centers[near], m.truth.sizes[near], m.truth.yaw[near])
    ]  # fmt: skip
    assert inside and np.median(inside) > 5, inside
    paths = write_pictures(truth, tmp_path / "pics", tracks, 2.0)
    assert [p.name for p in paths] == ["topview.png", "camera_camera_front.png", "camera_camera_rear.png"]
    assert all(cv2.imread(str(p)) is not None for p in paths)
    r = run_cli(venv_bin, "pictures", "--bag", str(truth), "--out", str(tmp_path / "cli"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("picture: ") == 3 and (tmp_path / "cli" / "topview.png").exists()
