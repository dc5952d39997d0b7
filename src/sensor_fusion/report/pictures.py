"""Pictures of one moment of a run: each camera frame with the truth and the detections projected
into it, and a top view of the LiDAR sweep with the static world, the truth and the detections.

People judge a perception stack by looking at where it fails; these two views answer "what did it
see there, and what was there" for a chosen instant of a generated bag (``sensor-fusion pictures``).
Everything is drawn in ``base_link`` at the LiDAR sweep's stamp: truth and static elements (in
``odom``) through the true ego pose, detections and tracks (published in the tracking frame)
through the pipeline's own pose estimate, which is how the node placed them. Boxes are projected
into the cameras with the calibration's extrinsics and OpenCV's lens model (``cv2.projectPoints``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..bag.io import bag_topics, read_messages
from ..core.calibration import Calibration
from ..core.classes import ObjectClass
from ..core.geometry import invert_transform, quat_to_matrix
from ..core.stamps import to_ns
from ..eval.bags import DETECTIONS, GT_ODOM, ODOM, TRACKS, objects_frame
from ..eval.frames import FrameObjects

STATIC = "/ground_truth/static"  # the static world (sim/recorder.py), absent in the open world
GT_OBJECTS = "/ground_truth/objects"
LIDAR = "/sensors/lidar/points"
NEAREST_TOLERANCE_NS = 60_000_000  # outputs and truth within this of the sweep belong to it
TRUTH_BGR = (60, 200, 60)
SOURCE_BGR = {"lidar": (40, 40, 230), "bev": (230, 120, 30), "tracks": (200, 60, 200)}
RADAR_BGR = (30, 170, 230)


@dataclass
class Boxes:
    """Oriented 3D boxes in ``base_link``: centres (N, 3), sizes (N, 3) l, w, h, yaw (N,), labels."""

    centers: np.ndarray
    sizes: np.ndarray
    yaw: np.ndarray
    labels: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.centers.shape[0])


@dataclass
class Moment:
    """What the pictures show: one sweep, the camera frames nearest it, and the boxes around it."""

    stamp_ns: int
    t_rel_s: float  # seconds after the bag's first LiDAR sweep
    points: np.ndarray  # (N, 3) base_link
    images: dict[str, np.ndarray]
    truth: Boxes
    static: Boxes
    outputs: dict[str, Boxes]  # source (lidar, bev, radar names, tracks) -> boxes


def _pose(msg) -> np.ndarray:
    """4x4 world <- base from a nav_msgs/Odometry."""
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    T = np.eye(4)
    T[:3, :3] = quat_to_matrix(np.array([q.x, q.y, q.z, q.w]))
    T[:3, 3] = (p.x, p.y, p.z)
    return T


def _stamp(msg) -> int:
    return to_ns(msg.header.stamp.sec, msg.header.stamp.nanosec)


def _nearest(msgs: Sequence, stamp_ns: int, tol_ns: int = NEAREST_TOLERANCE_NS):
    if not msgs:
        return None
    best = min(msgs, key=lambda m: abs(_stamp(m) - stamp_ns))
    return best if abs(_stamp(best) - stamp_ns) <= tol_ns else None


def boxes_to_base(f: FrameObjects, T_world_base: np.ndarray | None) -> Boxes:
    """FrameObjects (in the world frame, or already in base_link when ``T_world_base`` is None)."""
    c, yaw = f.centers.astype(np.float64), f.yaw.astype(np.float64)
    if T_world_base is not None:
        T = invert_transform(T_world_base)
        c = c @ T[:3, :3].T + T[:3, 3]
        yaw = yaw - np.arctan2(T_world_base[1, 0], T_world_base[0, 0])
    names = [
        ObjectClass(int(v)).name.lower() if int(v) in ObjectClass._value2member_map_ else "?"
        for v in f.labels
    ]
    return Boxes(c, f.sizes.astype(np.float64), yaw, names)


def static_boxes(text: str, T_world_base: np.ndarray) -> Boxes:
    """The ``/ground_truth/static`` JSON (class, oriented box in ``odom``) in ``base_link``."""
    d = json.loads(text)
    c = np.asarray(d.get("center", []), np.float64).reshape(-1, 3)
    s = np.asarray(d.get("size", []), np.float64).reshape(-1, 3)
    y = np.asarray(d.get("yaw", []), np.float64).reshape(-1)
    f = FrameObjects(
        0, np.arange(len(c)), np.zeros(len(c), np.int64), c, s, y, np.zeros((len(c), 2)), np.ones(len(c))
    )
    b = boxes_to_base(f, T_world_base)
    b.labels = [str(n) for n in d.get("classes", [])]
    return b


def _log_stamps(bag: str | Path, topic: str) -> list[int]:
    """Log times of ``topic``'s messages without deserialising them (clouds are megabytes)."""
    from rosbags.rosbag2 import Reader

    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return [t for _c, t, _raw in reader.messages(connections=conns)]


def load_moment(truth_bag: str | Path, tracks_bag: str | Path | None, time_s: float | None) -> Moment:
    """The LiDAR sweep nearest ``time_s`` after the bag's first sweep (default: the middle one)."""
    from ..ros.convert import decode_image, decode_lidar
    from ..sim.recorder import calibration_from_bag

    topics = bag_topics(truth_bag)
    if LIDAR not in topics or GT_ODOM not in topics:
        raise ValueError(f"{truth_bag}: needs {LIDAR} and {GT_ODOM} (a bag from sensor-fusion simulate)")
    stamps = _log_stamps(truth_bag, LIDAR)
    if not stamps:
        raise ValueError(f"{truth_bag}: no LiDAR sweep")
    want = stamps[len(stamps) // 2] if time_s is None else stamps[0] + int(time_s * 1e9)
    t_rec = min(stamps, key=lambda s: abs(s - want))
    cloud_msg = next(m for _t, _mt, ts, m in read_messages(truth_bag, [LIDAR]) if ts == t_rec)
    cloud, _ = decode_lidar(cloud_msg)
    stamp = cloud.stamp_ns
    cal: Calibration = calibration_from_bag(truth_bag)
    points = cloud.xyz.astype(np.float64) @ cal.T_base_from(cloud.frame_id)[:3, :3].T
    points += cal.T_base_from(cloud.frame_id)[:3, 3]

    cam_topics = [t for t in topics if t.startswith("/sensors/") and "/image" in t]
    window = (stamp - NEAREST_TOLERANCE_NS, stamp + NEAREST_TOLERANCE_NS)
    near: dict[str, list] = {}
    for topic, _mt, ts, msg in read_messages(truth_bag, [GT_ODOM, GT_OBJECTS, STATIC, *cam_topics]):
        if topic == STATIC or window[0] <= ts <= window[1]:
            near.setdefault(topic, []).append(msg)
    odom = _nearest(near.get(GT_ODOM, []), stamp)
    if odom is None:
        raise ValueError(f"{truth_bag}: no ground-truth pose near the sweep at {stamp} ns")
    T_true = _pose(odom)
    gt = _nearest(near.get(GT_OBJECTS, []), stamp)
    truth = boxes_to_base(objects_frame(gt), T_true) if gt is not None else Boxes(*np.zeros((3, 0, 3)))
    static = static_boxes(near[STATIC][0].data, T_true) if near.get(STATIC) else Boxes(*np.zeros((3, 0, 3)))
    images = {}
    for t in cam_topics:
        m = _nearest(near.get(t, []), stamp)
        if m is not None:
            name = t.split("/")[2]
            images[name] = decode_image(m, name).image
    outputs: dict[str, Boxes] = {}
    if tracks_bag is not None:
        out_topics = bag_topics(tracks_bag)
        det_topics = [t for t in out_topics if t.startswith(DETECTIONS.format(source=""))]
        want_topics = [t for t in (TRACKS, ODOM, *det_topics) if t in out_topics]
        got: dict[str, list] = {}
        for topic, _mt, ts, msg in read_messages(tracks_bag, want_topics):
            if window[0] <= ts <= window[1]:
                got.setdefault(topic, []).append(msg)
        est = _nearest(got.get(ODOM, []), stamp)
        for topic in [*det_topics, TRACKS]:
            m = _nearest(got.get(topic, []), stamp)
            if m is None:
                continue
            in_base = m.header.frame_id in ("base_link", cloud_msg.header.frame_id)
            if not in_base and est is None:
                continue  # world-frame boxes before the ego estimate exists cannot be placed
            src = "tracks" if topic == TRACKS else topic.rsplit("/", 1)[1]
            outputs[src] = boxes_to_base(objects_frame(m, with_ids=False), None if in_base else _pose(est))
    return Moment(stamp, (t_rec - stamps[0]) / 1e9, points, images, truth, static, outputs)


def box_corners(b: Boxes) -> np.ndarray:
    """(N, 8, 3) corners: the bottom face, then the top face."""
    sx = np.array([1, 1, -1, -1, 1, 1, -1, -1]) * 0.5
    sy = np.array([1, -1, -1, 1, 1, -1, -1, 1]) * 0.5
    sz = np.array([-1, -1, -1, -1, 1, 1, 1, 1]) * 0.5
    local = np.stack([sx[None] * b.sizes[:, :1], sy[None] * b.sizes[:, 1:2], sz[None] * b.sizes[:, 2:3]], -1)
    c, s = np.cos(b.yaw)[:, None], np.sin(b.yaw)[:, None]
    x = c * local[..., 0] - s * local[..., 1]
    y = s * local[..., 0] + c * local[..., 1]
    return np.stack([x, y, local[..., 2]], -1) + b.centers[:, None, :]


_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7))


def draw_camera(
    image: np.ndarray, cal: Calibration, camera: str, layers: Sequence[tuple[Boxes, tuple]]
) -> np.ndarray:
    """The frame with each layer's boxes as wireframes; boxes behind the camera are skipped."""
    out = image.copy()
    intr = cal.intrinsics[camera]
    T_cam_base = invert_transform(cal.T_base_from(camera))
    for boxes, bgr in layers:
        if not len(boxes):
            continue
        corners = box_corners(boxes).reshape(-1, 3) @ T_cam_base[:3, :3].T + T_cam_base[:3, 3]
        corners = corners.reshape(-1, 8, 3)
        for k in range(len(corners)):
            if (corners[k, :, 2] < 0.5).any():  # behind or beside the lens: no sensible projection
                continue
            px, _ = cv2.projectPoints(corners[k], np.zeros(3), np.zeros(3), intr.K, intr.D)
            px = px.reshape(-1, 2)
            if not np.isfinite(px).all() or np.abs(px).max() > 1e5:
                continue
            for a, b in _EDGES:
                cv2.line(out, tuple(int(v) for v in px[a]), tuple(int(v) for v in px[b]), bgr, 1, cv2.LINE_AA)
    return out


def draw_top_view(m: Moment, path: Path, extent_m: float = 60.0) -> None:
    """Top view PNG: points by height, static elements filled grey, truth, each output source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Polygon

    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    p = m.points
    keep = (np.abs(p[:, 0]) < extent_m) & (np.abs(p[:, 1]) < extent_m)
    low = keep & (p[:, 2] < 0.3)  # ground and kerbs light, anything taller dark: objects stand out
    ax.scatter(p[low, 0], p[low, 1], s=0.2, c="0.8", lw=0)
    high = keep & ~low
    ax.scatter(p[high, 0], p[high, 1], s=0.8, c=np.clip(p[high, 2], 0.3, 4.0), cmap="viridis", lw=0)
    handles = []

    def polys(b: Boxes, face, edge, label, lw=1.2, ls="-"):
        if not len(b):
            return
        for c in box_corners(b)[:, :4, :2]:
            ax.add_patch(Polygon(c, closed=True, facecolor=face, edgecolor=edge, lw=lw, ls=ls))
        handles.append(
            Patch(facecolor=face if face != "none" else "white", edgecolor=edge, label=f"{label} ({len(b)})")
        )

    polys(m.static, "0.8", "0.55", "static world")
    polys(m.truth, "none", np.array(TRUTH_BGR[::-1]) / 255, "truth", lw=2.0)
    for src, b in m.outputs.items():
        bgr = SOURCE_BGR.get(src, RADAR_BGR)
        polys(b, "none", np.array(bgr[::-1]) / 255, src, lw=1.2, ls="--" if src == "tracks" else "-")
    ax.plot([0], [0], marker=(3, 0, -90), ms=12, color="k")
    ax.set_xlim(-extent_m, extent_m)
    ax.set_ylim(-extent_m, extent_m)
    ax.set_aspect("equal")
    ax.set_xlabel("x forward (m)")
    ax.set_ylabel("y left (m)")
    ax.set_title(f"t = {m.t_rel_s:.1f} s, base_link: {len(m.points)} LiDAR points (colour: height > 0.3 m)")
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_pictures(
    truth_bag: str | Path,
    out_dir: str | Path,
    tracks_bag: str | Path | None = None,
    time_s: float | None = None,
) -> list[Path]:
    """Write ``topview.png`` and ``camera_<name>.png`` per camera into ``out_dir``; their paths."""
    from ..sim.recorder import calibration_from_bag

    m = load_moment(truth_bag, tracks_bag, time_s)
    cal = calibration_from_bag(truth_bag)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "topview.png"]
    draw_top_view(m, written[0])
    layers = [(m.truth, TRUTH_BGR)] + [
        (b, SOURCE_BGR.get(s, RADAR_BGR)) for s, b in m.outputs.items() if s != "tracks"
    ]
    for name, img in sorted(m.images.items()):
        if name not in cal.intrinsics:
            continue
        path = out / f"camera_{name}.png"
        cv2.imwrite(str(path), draw_camera(img, cal, name, layers))
        written.append(path)
    return written
