"""The camera's lens model and box geometry for camera evidence (:mod:`.camera`): a calibrated
camera as a projection with its image border tabulated on the normalised plane, so that
"inside the image" respects the distortion, and yaw-rotated 3D boxes as corners and edges."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from ..core.geometry import invert_transform
from ..core.types import CameraIntrinsics

log = logging.getLogger(__name__)

# Corner sign pattern (x, y, z in {-1/2, +1/2}) and the 12 edges (corner pairs differing in one axis).
_SIGNS = 0.5 * np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], np.float64)
EDGES = np.array([(i, j) for i in range(8) for j in range(i + 1, 8) if np.sum(_SIGNS[i] != _SIGNS[j]) == 1])
_FISHEYE = ("equidistant", "fisheye")


@dataclass(frozen=True)
class CameraModel:
    """Per-camera constants derived once from extrinsics and intrinsics."""

    T_cam_base: np.ndarray  # (4, 4)
    K: np.ndarray
    D: np.ndarray
    fisheye: bool
    width: int
    height: int
    image_n: np.ndarray  # (4,) x0, y0, x1, y1: bounding box of the image in the normalised plane
    clamp_n: np.ndarray  # (4,) clamp region in the normalised plane
    # image border on the normalised plane, each edge as a function: left/right x(y), top/bottom y(x)
    border: tuple[np.ndarray, ...]  # (left_y, left_x, right_y, right_x, top_x, top_y, bottom_x, bottom_y)

    def inside(self, xn: np.ndarray) -> np.ndarray:
        """Which normalised points (M, 2) project inside the image (the lens model, tabulated)."""
        ly, lx, ry, rx, tx, ty, bx, by = self.border
        x, y = xn[:, 0], xn[:, 1]
        return (
            (x >= np.interp(y, ly, lx))
            & (x <= np.interp(y, ry, rx))
            & (y >= np.interp(x, tx, ty))
            & (y <= np.interp(x, bx, by))
        )


def box_corners(centers: np.ndarray, sizes: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(N, 8, 3) corners of yaw-rotated boxes (centre, l/w/h) in their own frame."""
    local = _SIGNS[None, :, :] * np.asarray(sizes, np.float64)[:, None, :]
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    out = np.empty_like(local)
    out[..., 0] = c * local[..., 0] - s * local[..., 1]
    out[..., 1] = s * local[..., 0] + c * local[..., 1]
    out[..., 2] = local[..., 2]
    return out + np.asarray(centers, np.float64)[:, None, :]


def project_normalised(xy: np.ndarray, model: CameraModel) -> np.ndarray:
    """Pixels (M, 2) of normalised-plane points (M, 2) through the lens model (cv2.projectPoints)."""
    if xy.shape[0] == 0:
        return np.zeros((0, 2))
    pts = np.column_stack([xy, np.ones(xy.shape[0])]).reshape(-1, 1, 3)
    if model.fisheye:
        uv, _ = cv2.fisheye.projectPoints(pts, np.zeros((3, 1)), np.zeros((3, 1)), model.K, model.D[:4])
    else:
        uv, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), model.K, model.D)
    return uv.reshape(-1, 2)


def _undistort(uv: np.ndarray, K: np.ndarray, D: np.ndarray, fisheye: bool) -> np.ndarray:
    pix = np.asarray(uv, np.float64).reshape(-1, 1, 2)
    if fisheye:
        return cv2.fisheye.undistortPoints(pix, K, D[:4]).reshape(-1, 2)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    return cv2.undistortPoints(pix, K, D, None, None, None, crit).reshape(-1, 2)


def camera_model(T_base_cam: np.ndarray, intr: CameraIntrinsics, margin: float) -> CameraModel:
    K = np.asarray(intr.K, np.float64).reshape(3, 3)
    D = np.asarray(intr.D, np.float64).ravel()
    fisheye = intr.distortion_model in _FISHEYE
    W, H = int(intr.width), int(intr.height)
    # image border (pixel centres are integers, so the image spans [-0.5, W - 0.5]) undistorted
    t = np.linspace(0.0, 1.0, 129)
    left = _undistort(np.column_stack([np.full_like(t, -0.5), -0.5 + t * H]), K, D, fisheye)
    right = _undistort(np.column_stack([np.full_like(t, W - 0.5), -0.5 + t * H]), K, D, fisheye)
    top = _undistort(np.column_stack([-0.5 + t * W, np.full_like(t, -0.5)]), K, D, fisheye)
    bottom = _undistort(np.column_stack([-0.5 + t * W, np.full_like(t, H - 0.5)]), K, D, fisheye)
    image_n = np.array([left[:, 0].min(), top[:, 1].min(), right[:, 0].max(), bottom[:, 1].max()])
    centre = 0.5 * (image_n[:2] + image_n[2:])
    half = 0.5 * (image_n[2:] - image_n[:2])
    border = (
        left[:, 1],
        left[:, 0],
        right[:, 1],
        right[:, 0],
        top[:, 0],
        top[:, 1],
        bottom[:, 0],
        bottom[:, 1],
    )
    model = CameraModel(invert_transform(T_base_cam), K, D, fisheye, W, H, image_n, image_n, border)
    # largest margin (halving) on which every ray from the principal point to the clamp region's
    # corners and edge midpoints projects monotonically outwards
    m = float(margin)
    while m > 1e-3:
        ext = half * (1.0 + m)
        dirs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1], [1, 0], [-1, 0], [0, 1], [0, -1]]) * ext
        s = np.linspace(0.0, 1.0, 200)[:, None, None]
        pts = (centre + s * dirs[None]).reshape(-1, 2)
        uv = project_normalised(pts, model).reshape(200, -1, 2)
        r = np.linalg.norm(uv - uv[:1], axis=2)
        if np.all(np.diff(r, axis=0) > 0):
            break
        m *= 0.5
    else:
        m = 0.0
    if m < margin:
        log.warning("lens model is not monotonic beyond %.0f %% outside the image: clamp shrunk", 100 * m)
    clamp_n = np.r_[centre - half * (1.0 + m), centre + half * (1.0 + m)]
    return dataclasses.replace(model, clamp_n=clamp_n)
