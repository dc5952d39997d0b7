"""KITTI camera boxes <-> tracking-frame boxes, and image projection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_fusion.core.geometry import invert_transform, make_transform, rpy_to_matrix
from sensor_fusion.kitti.coords import BoxFrame, alpha_from, project_boxes
from sensor_fusion.kitti.formats import KittiCalib

P2 = np.array(
    [[721.5377, 0.0, 609.5593, 44.85728], [0.0, 721.5377, 172.854, 0.2163791], [0.0, 0.0, 1.0, 0.002745884]]
)


def random_boxes(n=40, seed=0):
    rng = np.random.default_rng(seed)
    loc = np.column_stack([rng.uniform(-15, 15, n), rng.uniform(1.0, 2.0, n), rng.uniform(3, 70, n)])
    dims = np.column_stack([rng.uniform(1.4, 3.5, n), rng.uniform(0.5, 2.5, n), rng.uniform(0.5, 10, n)])
    return loc, dims, rng.uniform(-math.pi, math.pi, n)


def test_camera_ground_plane_axes():
    # a car 10 m ahead, 2 m right, bottom 1.65 m below the camera, driving away (ry = -pi/2)
    c, s, y = BoxFrame.camera_ground().to_track([[2.0, 1.65, 10.0]], [[1.5, 1.8, 4.0]], [-math.pi / 2])
    np.testing.assert_allclose(c, [[10.0, -2.0, -1.65 + 0.75]])
    np.testing.assert_allclose(s, [[4.0, 1.8, 1.5]])  # l w h
    assert y[0] == pytest.approx(0.0, abs=1e-12)
    # ry = 0 faces along camera +x (right): yaw -pi/2 in the z-up frame
    _, _, y = BoxFrame.camera_ground().to_track([[0.0, 1.65, 10.0]], [[1.5, 1.8, 4.0]], [0.0])
    assert y[0] == pytest.approx(-math.pi / 2)


@pytest.mark.parametrize(
    "frame",
    [
        BoxFrame.camera_ground(),
        BoxFrame.velodyne(
            KittiCalib(
                P2=P2,
                R0_rect=rpy_to_matrix(0.01, -0.008, 0.004),
                Tr_velo_to_cam=invert_transform(  # the camera's pose in the LiDAR frame, inverted
                    make_transform(
                        rpy_to_matrix(-math.pi / 2, 0.0, -math.pi / 2), np.array([0.27, -0.08, -0.004])
                    )
                )[:3],
            )
        ),
    ],
    ids=["camera_ground", "velodyne"],
)
def test_round_trip_is_exact(frame):
    loc, dims, ry = random_boxes()
    c, s, y = frame.to_track(loc, dims, ry)
    loc2, dims2, ry2 = frame.to_rect(c, s, y)
    np.testing.assert_allclose(loc2, loc, atol=2e-3)  # small R0_rect tilts: within mm
    np.testing.assert_allclose(dims2, dims, atol=1e-12)
    np.testing.assert_allclose(np.angle(np.exp(1j * (ry2 - ry))), 0.0, atol=2e-2)


def test_alpha_is_ry_minus_bearing():
    assert alpha_from(np.array([[0.0, 1.0, 10.0]]), np.array([0.3]))[0] == pytest.approx(0.3)
    assert alpha_from(np.array([[10.0, 1.0, 10.0]]), np.array([0.0]))[0] == pytest.approx(-math.pi / 4)


def test_projection_ahead_behind_and_truncated():
    w, h = 1242, 375
    boxes, vis, trunc = project_boxes(
        P2,
        np.array([[0.0, 1.65, 20.0], [0.0, 1.65, -10.0], [-16.9, 1.65, 20.0]]),
        np.array([[1.5, 1.8, 4.0]] * 3),
        np.array([-math.pi / 2] * 3),
        w,
        h,
    )
    assert list(vis) == [True, False, True]
    b = boxes[0]
    assert b[0] < 611.0 < b[2] and b[1] < 200.0 < b[3]  # about the principal point, below the horizon
    assert trunc[0] == 0.0 and trunc[1] == 1.0
    assert 0.2 < trunc[2] < 0.8 and boxes[2, 0] == 0.0  # cut by the image's left edge
