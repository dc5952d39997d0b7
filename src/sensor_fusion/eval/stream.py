"""Score tracker configurations on a bag's realistic detection stream (``simulate --detection-stream``).

The stream's boxes go straight into the tracker library (no sensors, no ego filter): this
measures the tracker alone on what a deployed detector outputs. Truth comes from the bag's
``/ground_truth/objects``, restricted as a public benchmark restricts its labels: objects whose
centre is outside the stream's field of view or range, or that are hidden (less than
``care_min_visible`` of their extent visible from the sensor: a real labeller sees no points on
them) are "don't care". As in KITTI's evaluation, a track matched (within the matching distance,
one-to-one) to a don't-care object is removed rather than counted as a false positive, and so is
an unmatched track whose centre lies outside the field of view or beyond the range.

``outside="fp"`` scores as a camera-view benchmark does instead: truth outside the field of view
does not exist (it has no labels), so a track of an object that left the view, still published
while it coasts, is a false positive; hidden objects inside the view stay don't-care.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.classes import SENSOR_LIDAR
from ..core.types import Detections
from ..sim.detection_stream import DetectionStreamConfig, care_mask
from ..sim.visibility import sensor_pose, visibility
from ..tracking.tracker import SensorView, Tracker, TrackerConfig
from .frames import FrameObjects, FramePair, match_frames
from .mot import bev_matches, evaluate_tracking

MATCH_TOLERANCE_NS = 20_000_000


@dataclass
class StreamData:
    """A stream bag's detections and truth, with which truth counts and which region is scored."""

    detections: list[Detections]  # in stamp order
    truth: list[FrameObjects]
    care: list[np.ndarray]  # per truth frame: (N,) bool
    in_region: list  # per truth frame: function (M, 2) world xy -> (M,) bool
    config: DetectionStreamConfig
    # per detection frame: the stream's field of view and range, for the tracker's existence
    views: list[list[SensorView]] | None = None


def read_stream_bag(bag: str | Path) -> StreamData:
    """Load ``/detections/stream`` and the truth of a bag written with a detection stream."""
    import json

    # ROS messages only here: the rest of this module runs without ROS
    from ..ros.convert import decode_detections
    from ..sim.recorder import GT_OBJECTS, STREAM_CONFIG_TOPIC, STREAM_TOPIC
    from .bags import GT_ODOM, objects_frame, odometry_poses, read_topics

    msgs = read_topics(bag, [STREAM_TOPIC, STREAM_CONFIG_TOPIC, GT_OBJECTS, GT_ODOM])
    if not msgs[STREAM_CONFIG_TOPIC] or not msgs[STREAM_TOPIC]:
        raise ValueError(f"{bag} has no detection stream: write it with 'simulate --detection-stream'")
    if not msgs[GT_OBJECTS] or not msgs[GT_ODOM]:
        raise ValueError(f"{bag} has no {GT_OBJECTS} and {GT_ODOM}: not a generated bag")
    meta = json.loads(msgs[STREAM_CONFIG_TOPIC][0].data)
    cfg = DetectionStreamConfig.from_dict(meta["config"])
    mount = np.asarray(meta["mount_xyz"], np.float64)
    dets = sorted((decode_detections(m)[0] for m in msgs[STREAM_TOPIC]), key=lambda d: d.stamp_ns)
    truth = [objects_frame(m) for m in msgs[GT_OBJECTS]]
    poses = odometry_poses(msgs[GT_ODOM])
    yaw_u = np.unwrap(poses.yaw)
    fov = math.radians(cfg.fov_deg)
    care, regions = [], []
    for f in truth:
        xy = np.array(
            [np.interp(f.stamp_ns, poses.stamp_ns, poses.x), np.interp(f.stamp_ns, poses.stamp_ns, poses.y)]
        )
        yaw = float(np.interp(f.stamp_ns, poses.stamp_ns, yaw_u))
        pose = sensor_pose(xy, yaw, mount, math.radians(cfg.fov_center_deg))
        care.append(care_mask(visibility(f.centers, f.sizes, f.yaw, pose, fov), cfg))
        regions.append(_region(pose, cfg))
    views = []
    for d in dets:
        xy = np.array(
            [np.interp(d.stamp_ns, poses.stamp_ns, poses.x), np.interp(d.stamp_ns, poses.stamp_ns, poses.y)]
        )
        pose = sensor_pose(
            xy, float(np.interp(d.stamp_ns, poses.stamp_ns, yaw_u)), mount, math.radians(cfg.fov_center_deg)
        )
        views.append([stream_view(pose, cfg)])
    return StreamData(dets, truth, care, regions, cfg, views)


def stream_view(pose, cfg: DetectionStreamConfig) -> SensorView:
    """The stream's coverage at ``pose`` as the tracker takes it (a LiDAR detector's sector)."""
    return SensorView(
        SENSOR_LIDAR,
        (float(pose.xy[0]), float(pose.xy[1])),
        float(pose.axis_yaw),
        0.5 * math.radians(cfg.fov_deg),
        float(cfg.max_range_m),
        float(cfg.min_range_m),
    )


def _region(pose, cfg: DetectionStreamConfig):
    half = 0.5 * math.radians(cfg.fov_deg)

    def inside(xy: np.ndarray) -> np.ndarray:
        rel = np.asarray(xy, np.float64).reshape(-1, 2) - pose.xy
        r = np.hypot(rel[:, 0], rel[:, 1])
        b = np.angle(np.exp(1j * (np.arctan2(rel[:, 1], rel[:, 0]) - pose.axis_yaw)))
        return (np.abs(b) <= half) & (r <= cfg.max_range_m)

    return inside


OUTSIDE_MODES = ("dontcare", "fp")


def restrict_to_care(
    pairs: list[FramePair],
    care: list[np.ndarray],
    in_region: list,
    max_distance_m: float,
    outside: str = "dontcare",
) -> list[FramePair]:
    """Don't-care handling per frame (see the module docstring for the two ``outside`` modes)."""
    if outside not in OUTSIDE_MODES:
        raise ValueError(f"outside must be one of {OUTSIDE_MODES}, got {outside!r}")
    out = []
    for (t, e), c, inside in zip(pairs, care, in_region):
        if outside == "fp":  # truth outside the view is not labelled at all; tracks there are kept
            keep_t = inside(t.centers[:, :2]) if len(t) else np.zeros(0, bool)
            t, c = t.select(keep_t), c[keep_t]
            drop = np.zeros(len(e), bool)
        else:
            drop = ~inside(e.centers[:, :2]) if len(e) else np.zeros(0, bool)
        rows, cols = bev_matches(t, e, max_distance_m)
        drop[cols] = ~c[rows]  # matched to don't-care truth: removed; matched to cared truth: kept
        out.append((t.select(c), e.select(~drop)))
    return out


def tracker_config(params_file: str | Path, frame_id: str = "odom") -> TrackerConfig:
    """The tracker block of a fusion parameters file (``config/fusion.yaml``, ``config/baseline.yaml``)."""
    from ..config import from_flat, load_params_file

    return replace(from_flat(load_params_file(params_file)).tracker, frame_id=frame_id)


def run_tracker(data: StreamData, config: TrackerConfig) -> tuple[list[FrameObjects], float]:
    """Track the stream with a fresh tracker; returns its output frames and the tracking wall time (s)."""
    tracker = Tracker(config)
    out = []
    wall = 0.0
    views = data.views if data.views is not None else [None] * len(data.detections)
    for det, view in zip(data.detections, views):
        t0 = time.perf_counter()
        tracks = tracker.step(det.stamp_ns, det, view)
        wall += time.perf_counter() - t0
        out.append(FrameObjects.from_tracks(tracks))
    return out, wall


def score_stream(
    data: StreamData, config: TrackerConfig, max_distance_m: float = 2.0, outside: str = "dontcare"
) -> dict:
    """Tracking metrics (``evaluate_tracking``'s keys) of ``config`` on the stream, plus ``frames_per_s``."""
    frames, wall = run_tracker(data, config)
    pairs = match_frames(data.truth, frames, MATCH_TOLERANCE_NS)
    pairs = restrict_to_care(pairs, data.care, data.in_region, max_distance_m, outside)
    res = evaluate_tracking(pairs, max_distance_m=max_distance_m)
    res["frames_per_s"] = len(frames) / wall if wall > 0 else float("nan")
    return res


def score_detections(data: StreamData, max_distance_m: float = 2.0, min_score: float = 0.0) -> dict:
    """Precision and recall of the raw stream itself (every box a one-frame 'track')."""
    est = [FrameObjects.from_detections(d.select(d.scores >= min_score)) for d in data.detections]
    pairs = restrict_to_care(
        match_frames(data.truth, est, MATCH_TOLERANCE_NS), data.care, data.in_region, max_distance_m
    )
    n_t = sum(len(t) for t, _ in pairs)
    n_e = sum(len(e) for _, e in pairs)
    tp = sum(len(bev_matches(t, e, max_distance_m)[0]) for t, e in pairs)
    return {
        "precision": tp / n_e if n_e else float("nan"),
        "recall": tp / n_t if n_t else float("nan"),
        "truth": n_t,
        "detections": n_e,
    }
