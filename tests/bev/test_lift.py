"""bev/lift.py: the geometric camera lift puts an image feature in the right BEV cell."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from sensor_fusion.bev.grid import BevGrid
from sensor_fusion.bev.lift import camera_lift_grid
from sensor_fusion.bev.model import OUTPUT_STRIDE, sample_to_bev

GRID = BevGrid()
HEAD = GRID.coarse(OUTPUT_STRIDE)


def test_feature_at_a_known_pixel_lands_in_the_right_bev_cell(calibration):
    """Project a chosen BEV cell (at one lift height) with cv2 into the front camera, put a
    feature peak at that pixel, lift: the brightest BEV cell at that height is the chosen one."""
    intr = calibration.intrinsics["camera_front"]
    T = calibration.T_base_from("camera_front")
    grid, valid = camera_lift_grid(HEAD, T, intr)
    H, W = HEAD.shape
    xs, ys = HEAD.cell_centres()
    for (row, col), k in (((45, 36), 1), ((50, 28), 2), ((40, 34), 0)):
        p_base = np.array([xs[row, col], ys[row, col], HEAD.lift_heights_m[k], 1.0])
        p_cam = np.linalg.inv(T) @ p_base
        uv, _ = cv2.projectPoints(p_cam[None, :3], np.zeros(3), np.zeros(3), intr.K, intr.D)
        u, v = uv.ravel()
        assert 0 <= u < intr.width and 0 <= v < intr.height
        # a smooth peak at the pixel: the cell whose centre projects closest to it samples the most
        vv, uu = np.mgrid[0 : intr.height, 0 : intr.width].astype(np.float32)
        feat = np.exp(-((uu - u) ** 2 + (vv - v) ** 2) / (2 * 2.0**2))[None, None].astype(np.float32)
        out = sample_to_bev(
            torch.from_numpy(feat), torch.from_numpy(grid[None]), torch.from_numpy(valid[None, None]), 4
        )  # (1, 1*K, H, W): channel k is height k
        lit = out[0, k].numpy()
        assert np.unravel_index(lit.argmax(), lit.shape) == (row, col)
        assert lit[row, col] > 0.9
    # cells behind the front camera are never valid
    assert not valid.reshape(4, H, W)[:, : H // 2 - 2].any()
