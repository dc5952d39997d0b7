"""Benchmark ``CameraEvidence.annotate`` (30 boxes, 2 cameras) against a per-box loop.

Run: ``.venv/bin/python bench/bench_camera.py [--boxes 30] [--repeat 200]``.

Scene: a ``dense_traffic`` world rendered by both calibrated cameras; the boxes are
the actors nearest the ego plus random boxes on the ground (so some are behind,
some outside the image, some occluded), in the fixed frame with ``T_world_base``.

* ``annotate`` (geometry + class cue) and ``extract`` with ``class_cue=False``
  (geometry, occlusion and features only) of ``CameraEvidence``;
* ``loop``: the straightforward implementation of the same steps for
  comparison, one ``cv2.projectPoints`` call per box and camera, whole-patch
  ``cv2.cvtColor`` and histogram per box, occlusion by pairwise rectangle tests in
  Python. It produces no comparable output; it only shows what vectorising over
  boxes and sampling a fixed grid per patch buys.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from benchutil import Figures, median_time

from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.core.geometry import invert_transform, pose2d_to_transform
from sensor_fusion.core.types import CameraFrame, Detections
from sensor_fusion.perception.camera import CameraEvidence, CameraEvidenceConfig
from sensor_fusion.perception.camera_model import box_corners
from sensor_fusion.sim.camera import render_camera_labels
from sensor_fusion.sim.scenarios import scenario_config
from sensor_fusion.sim.world import World

REPO = Path(__file__).resolve().parents[1]


def scene(n_boxes: int, seed: int = 4):
    cal = load_calibration(REPO / "config" / "calibration.yaml")
    world = World(scenario_config("dense_traffic", {"world": {"duration_s": 6.0}}), seed=seed)
    stamp = world.t0_ns + 3 * 10**9
    ego = world.ego_at(stamp)
    T_wb = pose2d_to_transform(float(ego.position[0]), float(ego.position[1]), float(ego.yaw))
    rng = np.random.default_rng(seed)
    frames = {}
    for cam in ("camera_front", "camera_rear"):
        r = render_camera_labels(world, stamp, cal.T_base_from(cam), cal.intrinsics[cam], rng, labels=False)
        frames[cam] = CameraFrame(stamp, cam, cam, r.image)
    a = world.actors_at(stamp)
    order = np.argsort(np.linalg.norm(a.centers[:, :2] - ego.position[:2], axis=1))[:n_boxes]
    c, s, y = a.centers[order], a.sizes[order], a.yaw[order]
    m = n_boxes - len(order)
    if m > 0:
        pb = np.column_stack([rng.uniform(-50, 50, m), rng.uniform(-20, 20, m), np.full(m, 0.8)])
        c = np.vstack([c, pb @ T_wb[:3, :3].T + T_wb[:3, 3]])
        s = np.vstack([s, np.tile([4.5, 1.9, 1.6], (m, 1))])
        y = np.r_[y, rng.uniform(-np.pi, np.pi, m)]
    n = len(c)
    det = Detections(
        stamp, "odom", c, s, y, np.zeros(n, np.int64), np.ones(n), np.full((n, 2), np.nan),
        np.tile(np.eye(2), (n, 1, 1)), np.zeros(n, np.uint8),
    )  # fmt: skip
    return cal, det, frames, T_wb


def loop_annotate(cal, det: Detections, frames: dict[str, CameraFrame], T_wb: np.ndarray) -> list:
    """Per-box, per-camera reference loop (see module docstring)."""
    T_bw = invert_transform(T_wb)
    corners = box_corners(det.centers, det.sizes, det.yaw)
    out = []
    for i in range(len(det)):
        best = (0.0, None, None)
        for name, f in frames.items():
            intr = cal.intrinsics[f.frame_id]
            T = invert_transform(cal.T_base_from(f.frame_id)) @ T_bw
            pc = corners[i] @ T[:3, :3].T + T[:3, 3]
            front = pc[:, 2] > 0.1
            if not front.any():
                continue
            rvec, _ = cv2.Rodrigues(np.eye(3))
            uv, _ = cv2.projectPoints(pc[front].reshape(-1, 1, 3), rvec, np.zeros(3), intr.K, intr.D)
            uv = uv.reshape(-1, 2)
            x0, y0 = uv.min(0)
            x1, y1 = uv.max(0)
            area = (x1 - x0) * (y1 - y0)
            cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, intr.width - 1), min(y1, intr.height - 1)
            if cx1 <= cx0 or cy1 <= cy0 or area <= 0:
                continue
            vis = (cx1 - cx0) * (cy1 - cy0) / area
            if vis > best[0]:
                best = (vis, name, (cx0, cy0, cx1, cy1))
        out.append(best)
    result: list = []
    for i, (vis, name, box) in enumerate(out):  # occlusion: nearer boxes overlapping, one pair at a time
        if name is None:
            result.append((0.0, None, None, None))
            continue
        for j, (_, name_j, box_j) in enumerate(out):
            if (
                j != i
                and name_j == name
                and np.linalg.norm(det.centers[j] - T_wb[:3, 3])
                < np.linalg.norm(det.centers[i] - T_wb[:3, 3])
            ):
                w = min(box[2], box_j[2]) - max(box[0], box_j[0])
                h = min(box[3], box_j[3]) - max(box[1], box_j[1])
                if w > 0 and h > 0:
                    vis *= 1.0 - w * h / ((box[2] - box[0]) * (box[3] - box[1]))
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        patch = frames[name].image[y0 : y1 + 1, x0 : x1 + 1]
        hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)
        hist = np.bincount((hsv[..., 0].ravel() // 10), minlength=18)
        result.append((vis, name, box, hist / max(hist.sum(), 1)))
    return result


def median_ms(fn, repeat: int) -> float:
    return 1e3 * median_time(fn, repeat, warmup=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--boxes", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=200)
    a = ap.parse_args()
    cal, det, frames, T_wb = scene(a.boxes)
    full = CameraEvidence(cal)
    geo = CameraEvidence(cal, CameraEvidenceConfig(class_cue=False))
    cues = full.annotate(det, frames, T_wb)
    print(
        f"{len(det)} boxes, {len(frames)} cameras ({next(iter(frames.values())).image.shape[1]}x"
        f"{next(iter(frames.values())).image.shape[0]}): {int(cues.visible.sum())} visible, "
        f"{int(np.sum((cues.visibility > 0) & (cues.visibility < 0.99)))} partly hidden or cut"
    )
    t_full = median_ms(lambda: full.annotate(det, frames, T_wb), a.repeat)
    t_geo = median_ms(lambda: geo.extract(det, frames, T_wb), a.repeat)
    t_loop = median_ms(lambda: loop_annotate(cal, det, frames, T_wb), a.repeat)
    print(f"annotate (geometry + occlusion + class cue): {t_full:.2f} ms median")
    print(f"extract, class_cue=False (no MLP):           {t_geo:.2f} ms median")
    print(f"per-box loop baseline (same process):        {t_loop:.2f} ms median")
    print(f"ratio loop / annotate: {t_loop / t_full:.1f}x")
    fig = Figures("camera")
    fig.add("boxes", len(det))
    fig.add("annotate_ms", t_full)
    fig.add("extract_no_class_cue_ms", t_geo)
    fig.add("per_box_loop_baseline_ms", t_loop)
    fig.add("loop_over_annotate_x", t_loop / t_full)
    fig.write()


if __name__ == "__main__":
    main()
