"""Boxes between KITTI's rectified camera frame and a z-up tracking frame, and their image projection.

KITTI describes a box by its bottom centre ``(x, y, z)`` in the rectified camera frame (x right,
y down, z forward), its size ``h w l`` and ``rotation_y``, the angle about the camera's y axis with
the object's heading ``(cos ry, 0, -sin ry)``. The tracker works in a z-up frame with boxes as
centre, ``(l, w, h)`` and yaw about z. :class:`BoxFrame` maps one onto the other with a rigid
transform ``T_track_from_rect``:

* :meth:`BoxFrame.camera_ground` (no calibration): x forward = z, y left = -x, z up = -y of the
  camera, the camera's ground plane (x, z) as AB3DMOT tracks in; exact when the camera's y axis is
  vertical (KITTI's is within about a degree);
* :meth:`BoxFrame.velodyne` (a calib file): the inverse of ``R0_rect @ Tr_velo_to_cam``, KITTI's
  LiDAR frame, level by construction;
* any other transform (the exporter uses the world frame at each stamp).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.classes import ObjectClass
from ..core.geometry import wrap_angle
from .formats import CLASS_TO_TYPE, KittiCalib, KittiObjects

# Camera ground plane: rows are the tracking axes in camera coordinates.
_CAMERA_GROUND = np.array(
    [[0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)


@dataclass
class BoxFrame:
    T_track_from_rect: np.ndarray  # (4, 4) rigid

    @classmethod
    def camera_ground(cls) -> BoxFrame:
        return cls(_CAMERA_GROUND.copy())

    @classmethod
    def velodyne(cls, calib: KittiCalib) -> BoxFrame:
        return cls(np.linalg.inv(calib.T_rect_from_velo()))

    def to_track(self, loc: np.ndarray, dims_hwl: np.ndarray, ry: np.ndarray):
        """KITTI boxes -> (centers (N, 3), sizes (N, 3) l w h, yaw (N,)) in the tracking frame."""
        loc = np.asarray(loc, np.float64).reshape(-1, 3)
        d = np.asarray(dims_hwl, np.float64).reshape(-1, 3)
        ry = np.asarray(ry, np.float64).reshape(-1)
        R, t = self.T_track_from_rect[:3, :3], self.T_track_from_rect[:3, 3]
        centre_rect = loc - np.column_stack([np.zeros(len(d)), 0.5 * d[:, 0], np.zeros(len(d))])
        centers = centre_rect @ R.T + t
        heading = np.column_stack([np.cos(ry), np.zeros(len(ry)), -np.sin(ry)]) @ R.T
        yaw = np.arctan2(heading[:, 1], heading[:, 0])
        return centers, d[:, [2, 1, 0]], yaw

    def to_rect(self, centers: np.ndarray, sizes_lwh: np.ndarray, yaw: np.ndarray):
        """Tracking-frame boxes -> (loc (N, 3) bottom centre, dims (N, 3) h w l, rotation_y (N,))."""
        c = np.asarray(centers, np.float64).reshape(-1, 3)
        s = np.asarray(sizes_lwh, np.float64).reshape(-1, 3)
        yaw = np.asarray(yaw, np.float64).reshape(-1)
        R, t = self.T_track_from_rect[:3, :3], self.T_track_from_rect[:3, 3]
        centre_rect = (c - t) @ R  # R^T (c - t)
        loc = centre_rect + np.column_stack([np.zeros(len(s)), 0.5 * s[:, 2], np.zeros(len(s))])
        heading = np.column_stack([np.cos(yaw), np.sin(yaw), np.zeros(len(yaw))]) @ R
        ry = np.arctan2(-heading[:, 2], heading[:, 0])
        return loc, s[:, [2, 1, 0]], ry


def alpha_from(loc: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """KITTI's observation angle: rotation_y minus the bearing of the box seen from the camera."""
    loc = np.asarray(loc, np.float64).reshape(-1, 3)
    return wrap_angle(np.asarray(ry, np.float64) - np.arctan2(loc[:, 0], loc[:, 2]))


def box_corners(loc: np.ndarray, dims_hwl: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """(N, 8, 3) corners in the rectified camera frame (bottom four first)."""
    loc = np.asarray(loc, np.float64).reshape(-1, 3)
    h, w, l = (np.asarray(dims_hwl, np.float64).reshape(-1, 3)[:, k] for k in range(3))
    sx = np.array([1, 1, -1, -1, 1, 1, -1, -1]) * 0.5
    sz = np.array([1, -1, -1, 1, 1, -1, -1, 1]) * 0.5
    up = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    x = l[:, None] * sx
    y = -h[:, None] * up
    z = w[:, None] * sz
    c, s = np.cos(ry)[:, None], np.sin(ry)[:, None]
    return np.stack([c * x + s * z + loc[:, 0:1], y + loc[:, 1:2], -s * x + c * z + loc[:, 2:3]], axis=-1)


def project_boxes(
    P2: np.ndarray,
    loc: np.ndarray,
    dims_hwl: np.ndarray,
    ry: np.ndarray,
    width: int,
    height: int,
    near: float = 0.1,
):
    """2D boxes of 3D boxes in image 2: (boxes (N, 4) clipped to the image, visible (N,) bool,
    truncation (N,) fraction of the unclipped box area outside the image).

    A box with corners behind ``near`` (m) is projected from its corners in front only and counted
    truncated by the fraction of corners behind; a box with none in front, or whose clipped box is
    empty, is not visible.
    """
    corners = box_corners(loc, dims_hwl, ry)
    n = corners.shape[0]
    hom = np.concatenate([corners, np.ones((n, 8, 1))], axis=-1) @ np.asarray(P2, np.float64).T
    front = hom[..., 2] > near
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = hom[..., :2] / hom[..., 2:3]
    uv = np.where(front[..., None], uv, np.nan)
    any_front = front.any(axis=1)
    raw = np.full((n, 4), np.nan)
    if any_front.any():
        raw[any_front] = np.column_stack(
            [
                np.nanmin(uv[any_front, :, 0], axis=1),
                np.nanmin(uv[any_front, :, 1], axis=1),
                np.nanmax(uv[any_front, :, 0], axis=1),
                np.nanmax(uv[any_front, :, 1], axis=1),
            ]
        )
    clipped = np.column_stack(
        [
            np.clip(raw[:, 0], 0, width - 1),
            np.clip(raw[:, 1], 0, height - 1),
            np.clip(raw[:, 2], 0, width - 1),
            np.clip(raw[:, 3], 0, height - 1),
        ]
    )
    area_raw = (raw[:, 2] - raw[:, 0]) * (raw[:, 3] - raw[:, 1])
    area_clip = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    visible = any_front & (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    visible &= (raw[:, 2] > 0) & (raw[:, 0] < width - 1) & (raw[:, 3] > 0) & (raw[:, 1] < height - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        trunc = 1.0 - np.where(area_raw > 0, area_clip / area_raw, 0.0)
    trunc = np.maximum(trunc, 1.0 - front.mean(axis=1))
    return np.where(visible[:, None], clipped, 0.0), visible, np.where(visible, np.clip(trunc, 0.0, 1.0), 1.0)


def kitti_rows(
    frame: int,
    ids: np.ndarray,
    labels: np.ndarray,
    box_frame: BoxFrame,
    centers: np.ndarray,
    sizes: np.ndarray,
    yaw: np.ndarray,
    calib: KittiCalib,
    image_size: tuple[int, int],
    scores: np.ndarray | None = None,
    keep_all: bool = False,
) -> tuple[KittiObjects, np.ndarray, np.ndarray]:
    """KITTI rows of the boxes visible in the image (``keep_all``: of every box, the 2D box -1 where
    none projects), with their truncation fraction and index."""
    loc, dims, ry = box_frame.to_rect(centers, sizes, yaw)
    box2d, visible, trunc = project_boxes(calib.P2, loc, dims, ry, *image_size)
    k = np.arange(len(visible)) if keep_all else np.flatnonzero(visible)
    box2d = np.where(np.isfinite(box2d), box2d, -1.0)
    score = np.full(len(visible), np.nan) if scores is None else np.asarray(scores, np.float64)
    rows = box_rows(frame, np.asarray(ids)[k], labels[k], loc[k], dims[k], ry[k], box2d[k], score[k])
    return rows, trunc[k], k


def box_rows(
    frame: int,
    ids: np.ndarray,
    labels: np.ndarray,
    loc: np.ndarray,
    dims: np.ndarray,
    ry: np.ndarray,
    box2d: np.ndarray,
    score: np.ndarray,
) -> KittiObjects:
    """KITTI rows of one frame's boxes (rectified camera frame): types from the labels, alpha from
    the location, truncation and occlusion unknown (-1)."""
    n = len(ids)
    return KittiObjects(
        frame=np.full(n, frame, np.int64),
        track_id=np.asarray(ids, np.int64),
        type=np.array([CLASS_TO_TYPE.get(ObjectClass(int(c)), "Misc") for c in labels], object),
        truncated=np.full(n, -1.0),
        occluded=np.full(n, -1, np.int64),
        alpha=alpha_from(loc, ry),
        box2d=box2d,
        dims=dims,
        loc=loc,
        ry=ry,
        score=np.asarray(score, np.float64),
    )
