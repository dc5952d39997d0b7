"""Geometric camera-to-BEV lift: where each BEV cell, at a few heights, falls in each image.

Every BEV cell centre is placed at each of ``grid.lift_heights_m`` in ``base_link``, moved
into the camera's optical frame with the calibration's extrinsic and projected with the
camera's own lens model (``cv2.projectPoints``, distortion included). The result is a
``grid_sample`` grid in normalised image coordinates (-1..1 across the image, whatever its
resolution) and a validity mask (in front of the camera, inside the image). The network
samples its image features there, so the rig (camera count, mounting, lenses) is data read
from the calibration, never code: a new rig needs no code change, and one model can run on
images resized to any network input size.
"""

from __future__ import annotations

import numpy as np

from ..core.geometry import invert_transform
from ..core.types import CameraIntrinsics
from ..perception.camera_model import camera_model, project_normalised
from .grid import BevGrid

MIN_DEPTH_M = 0.5  # points closer to the image plane than this are not sampled


def camera_lift_grid(
    grid: BevGrid, T_base_cam: np.ndarray, intr: CameraIntrinsics
) -> tuple[np.ndarray, np.ndarray]:
    """Sampling grid ``(K*H, W, 2)`` (x = column, y = row, in -1..1) and validity ``(K*H, W)``.

    Row ``k * H + r`` holds height ``k`` of BEV row ``r`` (see :func:`sample_to_bev` in model.py).
    """
    xs, ys = grid.cell_centres()
    H, W = xs.shape
    heights = np.asarray(grid.lift_heights_m, np.float64)
    K = heights.size
    pts = np.empty((K, H, W, 3))
    pts[..., 0] = xs[None]
    pts[..., 1] = ys[None]
    pts[..., 2] = heights[:, None, None]
    T_cam_base = invert_transform(np.asarray(T_base_cam, np.float64))
    p = pts.reshape(-1, 3) @ T_cam_base[:3, :3].T + T_cam_base[:3, 3]
    model = camera_model(T_base_cam, intr, 0.0)
    front = p[:, 2] > MIN_DEPTH_M
    xn = np.zeros((p.shape[0], 2))
    xn[front] = p[front, :2] / p[front, 2:3]
    valid = front & model.inside(xn)  # inside the image by the lens model (no fold-back)
    uv = np.full((p.shape[0], 2), -2.0)
    uv[valid] = project_normalised(xn[valid], model)
    out = np.full((p.shape[0], 2), -2.0, np.float32)  # outside -> zeros with padding_mode="zeros"
    out[valid, 0] = (uv[valid, 0] + 0.5) / intr.width * 2.0 - 1.0  # align_corners=False convention
    out[valid, 1] = (uv[valid, 1] + 0.5) / intr.height * 2.0 - 1.0
    return out.reshape(K * H, W, 2), valid.reshape(K * H, W).astype(np.float32)


def rig_lift_grids(
    grid: BevGrid, cameras: list[tuple[np.ndarray, CameraIntrinsics]]
) -> tuple[np.ndarray, np.ndarray]:
    """Stacked grids ``(Nc, K*H, W, 2)`` and masks ``(Nc, K*H, W)`` for (T_base_cam, intrinsics) pairs."""
    K = len(grid.lift_heights_m)
    H, W = grid.shape
    if not cameras:
        return np.zeros((0, K * H, W, 2), np.float32), np.zeros((0, K * H, W), np.float32)
    g, v = zip(*(camera_lift_grid(grid, T, intr) for T, intr in cameras))
    return np.stack(g), np.stack(v)
