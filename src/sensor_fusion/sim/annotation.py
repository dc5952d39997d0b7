"""Annotations a real dataset carries beside its boxes, written into the truth bag.

* ``/ground_truth/annotations`` (``std_msgs/String``, JSON, one per LiDAR sweep and one per
  radar scan, header-less so the stamp is in the payload): per truth object the number of
  LiDAR points (or radar returns) it produced in that sweep (scan), and for the LiDAR its
  visibility, the fraction of its silhouette seen from the LiDAR (box occlusion by nearer
  objects, ``visibility.visibility``), binned as nuScenes does: level 1 = 0-40 %,
  2 = 40-60 %, 3 = 60-80 %, 4 = 80-100 %. Evaluation treats an object with neither LiDAR
  points nor radar returns as don't-care, as nuScenes drops boxes without points.
* The static elements (walls, vegetation, poles, ...) are on ``/ground_truth/static``
  (the recorder, with a static world only); evaluation counts detections matched to no object
  that overlap one (static false positives).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .visibility import sensor_pose, visibility

ANNOTATIONS_TOPIC = "/ground_truth/annotations"
VISIBILITY_BINS = (0.4, 0.6, 0.8)  # nuScenes: v1 0-40 %, v2 40-60 %, v3 60-80 %, v4 80-100 %


def visibility_level(fraction: np.ndarray) -> np.ndarray:
    """nuScenes visibility token (1..4) of visible fractions in [0, 1]."""
    return np.digitize(np.asarray(fraction, np.float64), VISIBILITY_BINS, right=True) + 1


def count_per_id(ids: np.ndarray, point_ids: np.ndarray) -> np.ndarray:
    """How many entries of ``point_ids`` equal each of ``ids`` (vectorised)."""
    ids = np.asarray(ids, np.int64).reshape(-1)
    u, c = np.unique(np.asarray(point_ids, np.int64), return_counts=True)
    if u.size == 0:
        return np.zeros(ids.size, np.int64)
    pos = np.clip(np.searchsorted(u, ids), 0, u.size - 1)
    return np.where(u[pos] == ids, c[pos], 0)


_SAMPLE = np.stack(  # 27 interior points per box, in units of its half sizes
    np.meshgrid(*([np.array([-0.6, 0.0, 0.6])] * 3), indexing="ij"), -1
).reshape(-1, 3)


def static_unblocked(
    static: Any, origin: np.ndarray, centers: np.ndarray, sizes: np.ndarray, yaw: np.ndarray
):
    """(N,) fraction of 27 interior points of each box that the static world (``static.cast``) does not
    hide from ``origin``: buildings hide, porous vegetation hides in part, glass counts as hiding."""
    n = centers.shape[0]
    if n == 0:
        return np.ones(0)
    c, s = np.cos(yaw), np.sin(yaw)
    local = _SAMPLE[None] * (0.5 * sizes)[:, None]  # (N, 27, 3)
    pts = np.empty_like(local)
    pts[..., 0] = centers[:, None, 0] + c[:, None] * local[..., 0] - s[:, None] * local[..., 1]
    pts[..., 1] = centers[:, None, 1] + s[:, None] * local[..., 0] + c[:, None] * local[..., 1]
    pts[..., 2] = centers[:, None, 2] + local[..., 2]
    d = pts.reshape(-1, 3) - origin
    dist = np.linalg.norm(d, axis=1)
    hit = static.cast(origin, d / np.maximum(dist, 1e-6)[:, None]).dist
    return (hit >= dist - 0.05).reshape(n, -1).mean(axis=1)


def lidar_annotation(world: Any, stamp_ns: int, point_actor: np.ndarray, mount_xyz: np.ndarray) -> str:
    """JSON annotation of the truth objects at ``stamp_ns`` for one sweep whose points came from
    ``point_actor`` (per-point actor id, -1 for ground or static). Visibility: the part of each box
    not hidden by nearer boxes (``visibility.visibility``) times the part of its interior the
    static world does not hide from the LiDAR (when the world has one)."""
    a = world.actors_at(stamp_ns)
    e = world.ego_at(stamp_ns)
    pose = sensor_pose(np.asarray(e.position), float(e.yaw), mount_xyz)
    vis = visibility(a.centers, a.sizes, a.yaw, pose)
    static = getattr(world, "static", None)
    if static is not None and len(a):
        origin = np.array([*pose.xy, float(np.asarray(e.position)[2]) + float(mount_xyz[2])])
        vis.visible = vis.visible * static_unblocked(static, origin, a.centers, a.sizes, a.yaw)
    return json.dumps(
        {
            "sensor": "lidar",
            "stamp_ns": int(stamp_ns),
            "ids": [int(v) for v in a.ids],
            "num_points": [int(v) for v in count_per_id(a.ids, point_actor)],
            "visibility": [round(float(v), 4) for v in vis.visible],
            "visibility_level": [int(v) for v in visibility_level(vis.visible)],
        }
    )


def radar_annotation(world: Any, sensor: str, stamp_ns: int, point_actor: np.ndarray) -> str:
    """JSON count of radar returns per truth object of one scan (clutter and ghosts excluded)."""
    a = world.actors_at(stamp_ns)
    return json.dumps(
        {
            "sensor": sensor,
            "stamp_ns": int(stamp_ns),
            "ids": [int(v) for v in a.ids],
            "num_points": [int(v) for v in count_per_id(a.ids, point_actor)],
        }
    )
