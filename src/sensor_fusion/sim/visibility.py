"""What a sensor can see of the world's boxes: occlusion by nearer boxes and field-of-view truncation.

Used by the detection stream (misses grow with occlusion; truth that is hidden is "don't care")
and by the KITTI exporter (occlusion levels of the labels). Boxes stand on the ground (z is the
box centre, world frame; on graded roads the ground's height is in it), seen from a sensor at
``SensorPose``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.geometry import wrap_angle


@dataclass
class SensorPose:
    """Where a sensor is at one stamp, in the world frame, and where its field of view points."""

    xy: np.ndarray  # (2,) m
    height_m: float  # world z (above the ground z = 0; on graded roads, the ego's z plus its mounting)
    axis_yaw: float  # the field of view's centre direction, rad


def sensor_pose(
    ego_xy: np.ndarray, ego_yaw: float, mount_xyz: np.ndarray, axis_offset_rad: float = 0.0
) -> SensorPose:
    """The sensor pose from the vehicle's base_link pose (``ego_xy``: x, y, and z when given) and
    the sensor's mounting in base_link; the field of view's axis is the vehicle's heading plus
    ``axis_offset_rad``."""
    c, s = math.cos(ego_yaw), math.sin(ego_yaw)
    xy = np.asarray(ego_xy[:2], np.float64) + np.array(
        [c * mount_xyz[0] - s * mount_xyz[1], s * mount_xyz[0] + c * mount_xyz[1]]
    )
    z = float(mount_xyz[2])
    if len(ego_xy) > 2:  # graded roads: heights are world z (0 on the plane)
        z += float(ego_xy[2])
    return SensorPose(xy, z, float(ego_yaw + axis_offset_rad))


@dataclass
class Visibility:
    range_m: np.ndarray  # (N,) sensor to box centre (x, y), m
    bearing: np.ndarray  # (N,) centre bearing relative to the field of view's axis, rad
    hidden: np.ndarray  # (N,) fraction of the angular extent hidden by nearer objects
    truncated: np.ndarray  # (N,) fraction outside the field of view
    visible: np.ndarray  # (N,) 1 - fraction hidden or outside
    half_fov: float  # rad

    @property
    def center_in_fov(self) -> np.ndarray:
        return np.abs(self.bearing) <= self.half_fov


def visibility(
    centers: np.ndarray,
    sizes: np.ndarray,
    yaw: np.ndarray,
    pose: SensorPose,
    fov_rad: float = 2.0 * math.pi,
    bins: int = 16,
) -> Visibility:
    """Occlusion and truncation of boxes seen from ``pose`` (vectorised over all pairs).

    Each box's azimuth extent (of its footprint corners) is split into ``bins`` columns. A nearer
    box covering a column hides the fraction of the far box's vertical extent (ground to top, as
    seen from the sensor's height) that lies below the near box's top edge; a column outside
    the field of view is hidden entirely (truncation). Returns fractions per box.
    """
    centers = np.asarray(centers, np.float64).reshape(-1, 3)
    sizes = np.asarray(sizes, np.float64).reshape(-1, 3)
    yaw = np.asarray(yaw, np.float64).reshape(-1)
    n = centers.shape[0]
    rel = centers[:, :2] - pose.xy
    rng = np.hypot(rel[:, 0], rel[:, 1])
    bearing_w = np.arctan2(rel[:, 1], rel[:, 0])
    out = Visibility(
        rng, wrap_angle(bearing_w - pose.axis_yaw), np.zeros(n), np.zeros(n), np.ones(n), 0.5 * fov_rad
    )
    if n == 0:
        return out
    c, s = np.cos(yaw), np.sin(yaw)
    hl, hw = 0.5 * sizes[:, 0], 0.5 * sizes[:, 1]
    sx = np.array([1.0, 1.0, -1.0, -1.0])
    sy = np.array([1.0, -1.0, 1.0, -1.0])
    cx = rel[:, 0:1] + c[:, None] * hl[:, None] * sx - s[:, None] * hw[:, None] * sy  # (N, 4)
    cy = rel[:, 1:2] + s[:, None] * hl[:, None] * sx + c[:, None] * hw[:, None] * sy
    d = wrap_angle(np.arctan2(cy, cx) - bearing_w[:, None])  # corner bearings about the centre's
    inside = (np.abs(rel[:, 0] * c + rel[:, 1] * s) <= hl) & (np.abs(-rel[:, 0] * s + rel[:, 1] * c) <= hw)
    lo = np.where(inside, -math.pi, d.min(axis=1))
    hi = np.where(inside, math.pi, d.max(axis=1))
    # vertical extent of each box as elevation angles from the sensor (near range: its closest point)
    r_near = np.maximum(np.hypot(cx, cy).min(axis=1), 0.1)
    bottom = centers[:, 2] - 0.5 * sizes[:, 2]
    top = centers[:, 2] + 0.5 * sizes[:, 2]
    el_lo = np.arctan2(bottom - pose.height_m, rng)
    el_hi = np.arctan2(top - pose.height_m, rng)
    el_top_near = np.arctan2(top - pose.height_m, r_near)  # an occluder's silhouette top

    frac = (np.arange(bins) + 0.5) / bins
    theta = lo[:, None] + (hi - lo)[:, None] * frac[None, :]  # (N, B) about each centre bearing
    # truncation: columns outside the field of view
    col_fov = wrap_angle(out.bearing[:, None] + theta)
    outside = np.abs(col_fov) > 0.5 * fov_rad if fov_rad < 2.0 * math.pi else np.zeros_like(theta, bool)
    # occlusion: j hides column b of i where it is nearer and covers it
    dij = wrap_angle(bearing_w[None, :] - bearing_w[:, None])  # (i, j) j's bearing about i's
    lo_ij = dij + lo[None, :]
    hi_ij = dij + hi[None, :]
    nearer = rng[None, :] < rng[:, None]
    np.fill_diagonal(nearer, False)
    span = np.maximum(el_hi - el_lo, 1e-6)
    cover_v = np.clip((el_top_near[None, :] - el_lo[:, None]) / span[:, None], 0.0, 1.0)  # (i, j)
    cover_v = np.where(nearer, cover_v, 0.0)
    covers = (theta[:, None, :] >= lo_ij[:, :, None]) & (theta[:, None, :] <= hi_ij[:, :, None])  # (i, j, B)
    hidden_cols = (covers * cover_v[:, :, None]).max(axis=1) if n > 1 else np.zeros_like(theta)
    out.hidden = hidden_cols.mean(axis=1)
    out.truncated = outside.mean(axis=1)
    out.visible = 1.0 - np.where(outside, 1.0, hidden_cols).mean(axis=1)
    return out
