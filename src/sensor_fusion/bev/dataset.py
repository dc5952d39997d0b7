"""Training samples of the BEV network: truth in base_link, visibility, and the in-memory set.

Samples are recorded from generator bags by ``sensor_fusion.bev_training.extract_bag`` (it drives
the fusion pipeline, a higher layer); this module holds what needs no pipeline. One ``.npz`` per
bag: rasters float16, images uint8, truth boxes with their frame index.

Each truth box records what could see it: LiDAR points inside it, radar returns within 1 m of
it, and whether a camera looks at it. Training targets for a modality subset are the boxes one
of the present modalities could see; evaluation uses nuScenes' rule (at least one LiDAR or radar
return) for every subset, so rows of the AP table are scored on the same truth.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from ..core.calibration import calibration_from_dict
from ..core.classes import ObjectClass
from ..core.geometry import wrap_angle
from .grid import BevGrid
from .lift import rig_lift_grids
from .model import OUTPUT_STRIDE

CACHE_VERSION = 1
GT_MAX_DT_NS = 60_000_000  # truth frames farther than this from a sample stamp are not used
RADAR_MARGIN_M = 1.0
CAMERA_MAX_RANGE_M = 60.0


@numba.njit(cache=True)
def count_in_boxes(xyz, centers, sizes, yaw, bottom_margin):
    """Points inside each yaw-rotated box (ignoring the ``bottom_margin`` above its floor: ground)."""
    n_box = centers.shape[0]
    out = np.zeros(n_box, np.int64)
    for b in range(n_box):
        c, s = np.cos(yaw[b]), np.sin(yaw[b])
        hl, hw, hh = sizes[b, 0] / 2, sizes[b, 1] / 2, sizes[b, 2] / 2
        reach = hl + hw
        for i in range(xyz.shape[0]):
            dx = xyz[i, 0] - centers[b, 0]
            dy = xyz[i, 1] - centers[b, 1]
            if abs(dx) > reach or abs(dy) > reach:
                continue
            lx = c * dx + s * dy
            ly = -s * dx + c * dy
            dz = xyz[i, 2] - centers[b, 2]
            if abs(lx) <= hl and abs(ly) <= hw and -hh + bottom_margin <= dz <= hh:
                out[b] += 1
    return out


@dataclass
class TruthBoxes:
    """Truth boxes in base_link at one sample stamp (labels are ObjectClass values)."""

    centers: np.ndarray
    sizes: np.ndarray
    yaw: np.ndarray
    labels: np.ndarray
    velocity: np.ndarray


def truth_in_base(
    gt_frames, gt_stamps, poses, stamp_ns: int, pose_at: Callable[[int], np.ndarray] | None = None
) -> TruthBoxes | None:
    """Truth objects at ``stamp_ns`` in base_link (nearest truth frame, moved by its velocity).
    ``pose_at`` (graded worlds, ``eval.tf.tilted_pose_at``): the truth's 3D pose, so box centres
    are where the LiDAR's points of them are (a car 50 m up a 4 % grade is 2 m above a planar
    transform's); boxes stay yaw-only, as the network predicts them."""
    k = int(np.argmin(np.abs(gt_stamps - stamp_ns)))
    if abs(int(gt_stamps[k]) - stamp_ns) > GT_MAX_DT_NS or not (
        poses.stamp_ns[0] <= stamp_ns <= poses.stamp_ns[-1]
    ):
        return None
    f = gt_frames[k]
    dt = (stamp_ns - f.stamp_ns) * 1e-9
    vel = np.nan_to_num(f.velocity)
    cw = f.centers.copy()
    cw[:, :2] += vel * dt
    ex = np.interp(stamp_ns, poses.stamp_ns, poses.x)
    ey = np.interp(stamp_ns, poses.stamp_ns, poses.y)
    eyaw = float(np.interp(stamp_ns, poses.stamp_ns, np.unwrap(poses.yaw)))
    c, s = np.cos(eyaw), np.sin(eyaw)
    Rt = np.array([[c, s], [-s, c]])  # world -> base rotation (planar)
    centers = cw.copy()
    if pose_at is None:
        centers[:, :2] = (cw[:, :2] - [ex, ey]) @ Rt.T
    else:
        T = pose_at(stamp_ns)
        centers = (cw - T[:3, 3]) @ T[:3, :3]  # rows: R^T (c - p)
    yaw = wrap_angle(f.yaw - eyaw)
    return TruthBoxes(centers, f.sizes.copy(), yaw, f.labels.copy(), vel @ Rt.T)


class SampleSet:
    """All samples of some cache files in memory, with per-frame box slices."""

    def __init__(self, files: list[Path]):
        if not files:
            raise ValueError("no sample files")
        parts = [dict(np.load(f)) for f in files]
        metas = [json.loads(str(p.pop("meta"))) for p in parts]
        m0 = metas[0]
        for f, m in zip(files, metas):
            if m["version"] != CACHE_VERSION:
                raise ValueError(f"{f}: cache version {m['version']}, expected {CACHE_VERSION}: re-extract")
            if (m["grid"], m["image_wh"], m["camera_slots"]) != (
                m0["grid"],
                m0["image_wh"],
                m0["camera_slots"],
            ):
                raise ValueError(f"{f}: grid, image size or camera slots differ from {files[0]}")
        self.meta = m0
        self.grid = BevGrid.from_dict(m0["grid"])
        self.head_grid = self.grid.coarse(OUTPUT_STRIDE)
        self.files = [str(f) for f in files]
        offset = 0
        frames = []
        for p in parts:
            frames.append(p["box_frame"] + offset)
            offset += len(p["stamp"])
        self.data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "box_frame"}
        self.data["box_frame"] = np.concatenate(frames)
        order = np.argsort(self.data["box_frame"], kind="stable")
        for k in [k for k in self.data if k.startswith("box_")]:
            self.data[k] = self.data[k][order]
        self.starts = np.searchsorted(self.data["box_frame"], np.arange(len(self) + 1))
        cal = calibration_from_dict(m0["calibration"])
        slots = m0["camera_slots"]
        self.cam_grid, self.cam_valid = rig_lift_grids(
            self.head_grid, [(cal.T_base_from(s), cal.intrinsics[s]) for s in slots]
        )

    def __len__(self) -> int:
        return int(self.data["stamp"].shape[0])

    def boxes(self, i: int) -> dict[str, np.ndarray]:
        sl = slice(self.starts[i], self.starts[i + 1])
        return {k[4:]: v[sl] for k, v in self.data.items() if k.startswith("box_")}


def eval_truth_mask(b: dict[str, np.ndarray]) -> np.ndarray:
    """nuScenes' rule: a truth box counts when at least one LiDAR or radar return hits it."""
    return ((b["lidar_pts"] > 0) | (b["radar_pts"] > 0)) & (b["labels"] != int(ObjectClass.UNKNOWN))


def target_mask(b: dict[str, np.ndarray], present: np.ndarray) -> np.ndarray:
    """Boxes one of the present modalities (lidar, camera, radar flags) could see."""
    seen_by_any = (b["lidar_pts"] > 0) | (b["radar_pts"] > 0)
    return (
        (present[0] > 0) & (b["lidar_pts"] > 0)
        | (present[2] > 0) & (b["radar_pts"] > 0)
        | (present[1] > 0) & b["cam"] & seen_by_any
    )
