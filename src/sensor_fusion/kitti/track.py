"""Track a KITTI sequence's detections with the tracker library and write KITTI results.

Per frame (10 Hz, KITTI's LiDAR rate: ``stamp = frame / rate_hz``) the detections become
:class:`~sensor_fusion.core.types.Detections` in a z-up frame (:class:`~.coords.BoxFrame`: the
camera's ground plane without a calib file, as AB3DMOT tracks; KITTI's LiDAR frame with one).
No ego-motion compensation: like AB3DMOT, the tracker sees the scene move as the car drives.

* **Scores.** The tracker expects detection scores in [0, 1] (existence grows by the score per
  hit). ``score_map``: ``sigmoid`` for logits (AB3DMOT's PointRCNN CSVs), ``identity`` for
  probabilities, ``auto`` (default) sigmoid for files in AB3DMOT's CSV format, identity for
  label_02-format files. Identity clips scores outside [0, 1] and says so.
* **Position covariance.** KITTI detections carry none; ``pos_std_m + pos_std_per_m * range``
  (isotropic; range from the sensor), by default a LiDAR detector's car-centre error: about
  0.15 m close, 0.4 m at 50 m (sim/detection_stream.py's sources).
* **Output.** Every track the tracker publishes, in label_02 format with its id, the type of its
  class, its 3D box converted back, and the 2D box and score of the detection that updated it this
  frame (matched by centre distance among the tracks whose ``hits`` grew). A track published
  without an update this frame gets its box projected with the calib's ``P2`` when a calib file
  is given, else it keeps its last detection's 2D box; its score is its last detection's.
* **What the detector could see** (``camera_view``, off by default). With a calib file the
  tracker can be told the detector's view each frame (:func:`camera_view`: image 2's horizontal
  field of view from ``P2`` and the image width, out to the LiDAR's range), where KITTI's
  detections and labels exist: a miss there costs ``log(1 - Pd)`` (Pd by range, occlusion and
  repeated misses, as in the node) and a track outside it is not charged. Off, every miss costs
  the flat ``existence_miss_logodds_per_s``. Measured on exported stream sequences (docs/evaluation.md):
  cars gain a little, pedestrians lose recall (Pd is one value for every class), so it is opt-in.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..core.classes import SENSOR_LIDAR
from ..core.types import Detections
from ..tracking.coverage import SensorView
from ..tracking.tracker import Tracker, TrackerConfig
from .coords import BoxFrame, box_rows, project_boxes
from .formats import KittiCalib, KittiObjects, read_calib, read_tracking_file, sequence_files

log = logging.getLogger(__name__)

SCORE_MAPS = ("auto", "sigmoid", "identity")
_NS = 1_000_000_000
_CARRY_GATE_M = 3.0  # an updated track lies within this of its detection (pulled onto it by the update)


@dataclass
class TrackOptions:
    score_map: str = "auto"
    rate_hz: float = 10.0
    pos_std_m: float = 0.15
    pos_std_per_m: float = 0.005
    image_size: tuple[int, int] = (1242, 375)  # KITTI's image 2 (width, height), for projections
    camera_view: bool = False  # with a calib file, tell the tracker what image 2 sees (camera_view)
    view_range_m: float = 120.0  # KITTI's HDL-64E range (datasheet); detection_range50_m does the falloff


@dataclass
class SequenceResult:
    results: KittiObjects
    frames: int
    detections: int
    tracking_s: float  # wall time inside Tracker.step
    score_map: str


def map_scores(scores: np.ndarray, mode: str, source: str = "") -> np.ndarray:
    """Detection scores -> [0, 1] (see the module docstring); ``mode`` sigmoid or identity."""
    s = np.asarray(scores, np.float64)
    if mode == "sigmoid":
        return 1.0 / (1.0 + np.exp(-s))
    if mode != "identity":
        raise ValueError(f"score map must be one of {SCORE_MAPS[1:]}, got {mode!r}")
    outside = (s < 0.0) | (s > 1.0)
    if outside.any():
        log.warning(
            "%s: %d scores outside [0, 1] (e.g. %.3f) clipped; logits need --score-map sigmoid",
            source or "detections",
            int(outside.sum()),
            float(s[outside][0]),
        )
    return np.clip(s, 0.0, 1.0)


def camera_view(
    calib: KittiCalib, frame: BoxFrame, image_size: tuple[int, int], range_m: float
) -> SensorView:
    """Image 2's horizontal field of view in the tracking frame, as a LiDAR-detection view (the
    boxes come from a LiDAR detector but are kept, and labelled, only inside that image)."""
    P = np.asarray(calib.P2, np.float64)
    fx, cx = P[0, 0], P[0, 2]
    left, right = np.arctan(cx / fx), np.arctan((image_size[0] - cx) / fx)  # angles off the optical axis
    centre = 0.5 * (right - left)  # the view's axis, to the right of the optical axis (rect x)
    origin_rect = -np.linalg.solve(P[:, :3], P[:, 3])  # camera 2's centre in the rectified frame
    R, t = frame.T_track_from_rect[:3, :3], frame.T_track_from_rect[:3, 3]
    origin = R @ origin_rect + t
    axis = R @ np.array([np.sin(centre), 0.0, np.cos(centre)])
    return SensorView(
        SENSOR_LIDAR,
        (float(origin[0]), float(origin[1])),
        float(np.arctan2(axis[1], axis[0])),
        float(0.5 * (left + right)),
        float(range_m),
    )


def track_sequence(
    dets: KittiObjects,
    config: TrackerConfig,
    frame: BoxFrame,
    options: TrackOptions,
    score_map: str,
    calib: KittiCalib | None = None,
    n_frames: int | None = None,
    source: str = "",
) -> SequenceResult:
    """Track one sequence; ``score_map`` sigmoid or identity (resolved by the caller for ``auto``)."""
    dets = dets.select(~dets.dont_care)
    scores01 = map_scores(dets.score, score_map, source) if len(dets) else np.zeros(0)
    missing = np.isnan(dets.score)
    if missing.any():
        log.warning("%s: %d detections without a score column count as score 1", source, int(missing.sum()))
        scores01 = np.where(missing, 1.0, scores01)
    centers, sizes, yaw = frame.to_track(dets.loc, dets.dims, dets.ry)
    labels = dets.labels
    n_frames = int(n_frames if n_frames is not None else (dets.frame.max() + 1 if len(dets) else 0))
    order = np.argsort(dets.frame, kind="stable")
    bounds = np.searchsorted(dets.frame[order], np.arange(n_frames + 1))
    tracker = Tracker(config)
    views = (
        [camera_view(calib, frame, options.image_size, options.view_range_m)]
        if calib is not None and options.camera_view
        else None
    )
    last_hits: dict[int, int] = {}
    carried: dict[int, tuple[np.ndarray, float]] = {}  # track id -> (2D box, raw score)
    out: list[KittiObjects] = []
    wall = 0.0
    for k in range(n_frames):
        idx = order[bounds[k] : bounds[k + 1]]
        r = np.hypot(
            centers[idx, 0] - frame.T_track_from_rect[0, 3], centers[idx, 1] - frame.T_track_from_rect[1, 3]
        )
        std = options.pos_std_m + options.pos_std_per_m * r
        det = Detections(
            stamp_ns=int(round(k * _NS / options.rate_hz)),
            frame_id=config.frame_id,
            centers=centers[idx],
            sizes=sizes[idx],
            yaw=yaw[idx],
            labels=labels[idx],
            scores=scores01[idx],
            velocity=np.full((idx.size, 2), np.nan),
            pos_cov=(std**2)[:, None, None] * np.eye(2),
            sensors=np.full(idx.size, SENSOR_LIDAR, np.uint8),
        )
        t0 = time.perf_counter()
        tracks = tracker.step(det.stamp_ns, det, views)
        wall += time.perf_counter() - t0
        if not len(tracks):
            continue
        ids = tracks.ids.tolist()
        updated = np.array([tracks.hits[i] > last_hits.get(tid, 0) for i, tid in enumerate(ids)], bool)
        last_hits = {tid: int(h) for tid, h in zip(ids, tracks.hits)}
        up = np.flatnonzero(updated)
        if up.size and idx.size:
            d = np.hypot(
                tracks.centers[up, None, 0] - det.centers[None, :, 0],
                tracks.centers[up, None, 1] - det.centers[None, :, 1],
            )
            cost = np.where(d <= _CARRY_GATE_M, d, 1e9)
            rr, cc = linear_sum_assignment(cost)
            for a, b in zip(rr, cc):
                if cost[a, b] < 1e9:
                    carried[ids[up[a]]] = (dets.box2d[idx[b]].copy(), float(dets.score[idx[b]]))
        loc, dims, ry = frame.to_rect(tracks.centers, tracks.sizes, tracks.yaw)
        box2d = np.zeros((len(tracks), 4))
        score = np.zeros(len(tracks))
        keep = np.ones(len(tracks), bool)
        projected = None
        if calib is not None:
            projected = project_boxes(calib.P2, loc, dims, ry, *options.image_size)
        for i, tid in enumerate(ids):
            box, s = carried.get(tid, (None, np.nan))
            fresh = updated[i] and box is not None
            if projected is not None and not fresh:
                box = projected[0][i] if projected[1][i] else None
            if box is None:
                keep[i] = False  # no 2D box to report (never matched, or outside the image)
                continue
            box2d[i], score[i] = box, s
        ids_k, labels_k = tracks.ids[keep], tracks.labels[keep]
        out.append(box_rows(k, ids_k, labels_k, loc[keep], dims[keep], ry[keep], box2d[keep], score[keep]))
    return SequenceResult(KittiObjects.concat(out), n_frames, len(dets), wall, score_map)


def track_directory(
    dets_dir: str | Path,
    out_dir: str | Path,
    config: TrackerConfig,
    options: TrackOptions,
    calib_dir: str | Path | None = None,
) -> dict[str, SequenceResult]:
    """Track every sequence file in ``dets_dir`` and write ``out_dir/<sequence>.txt``."""
    from .formats import write_tracking_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for seq, path in sequence_files(dets_dir).items():
        read = read_tracking_file(path)
        mode = options.score_map
        if mode == "auto":
            mode = "sigmoid" if read.ab3dmot_rows > len(read.objects) // 2 else "identity"
        calib = None
        frame = BoxFrame.camera_ground()
        if calib_dir is not None:
            cpath = Path(calib_dir) / f"{seq}.txt"
            if cpath.exists():
                calib = read_calib(cpath)
                frame = BoxFrame.velodyne(calib)
            else:
                log.warning("%s: no calib file; tracking in the camera's ground plane", cpath)
        res = track_sequence(read.objects, config, frame, options, mode, calib, source=str(path))
        write_tracking_file(out_dir / f"{seq}.txt", res.results)
        results[seq] = res
    return results
