"""A generated bag as a KITTI tracking sequence (``sensor-fusion export-kitti``).

Layout (KITTI's tracking training layout, one sequence ``<seq>``)::

    velodyne/<seq>/<frame:06d>.bin   float32 x y z reflectance (LiDAR frame; reflectance = intensity/255)
    image_02/<seq>/<frame:06d>.png   the front camera, undistorted (KITTI images are rectified)
    calib/<seq>.txt                  P0-P3 = [K | 0], R0_rect = I, Tr_velo_to_cam, Tr_imu_to_velo
    label_02/<seq>.txt               truth with track ids, DontCare rows
    det/<seq>.txt                    detections in label_02 format with a score column
    evaluate_tracking.seqmap.training

Frames are the truth's stamps (the LiDAR's, 10 Hz); the image of a frame is the camera's at
the same stamp (within 50 ms), the calibration the bag's own (``/calibration``). The rectified
camera frame is the camera's optical frame (one camera, so R0_rect is the identity).

Labels: every truth object whose projected 3D box overlaps the image. ``truncated`` is 0, 1, 2
for under 15 %, under 50 %, more of the box's image area outside the image; ``occluded`` 0, 1, 2
for under 10 %, under 50 %, more of its angular extent hidden by nearer objects as seen from the
camera (sim/visibility.py). An object without LiDAR points inside its box
(or, for a bag without LiDAR, with less than the stream's ``care_min_visible`` visible) is a
``DontCare`` row: KITTI labels objects an annotator can see in the point cloud.

Detections (``det``): ``lidar`` runs the pipeline's classical LiDAR detector per frame (the
parameters file's ``detector`` block); ``stream`` takes the bag's ``/detections/stream``
(``simulate --detection-stream``); both keep boxes whose projection overlaps the image.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.geometry import invert_transform, pose2d_to_transform
from ..core.types import Detections
from .coords import BoxFrame, kitti_rows
from .detect import lidar_detector
from .formats import DONT_CARE, KittiCalib, KittiObjects, write_calib, write_tracking_file

log = logging.getLogger(__name__)

DET_SOURCES = ("lidar", "stream", "none")
IMAGE_TOLERANCE_NS = 50_000_000
POINT_MARGIN_M = 0.3  # box growth for counting points: a moving object's points are skewed by the sweep
GROUND_CLEARANCE_M = 0.2  # points this close to the box bottom are ground, not object


@dataclass
class ExportSummary:
    frames: int
    labels: int
    dont_care: int
    detections: int
    images: int
    clouds: int


def _level(frac: np.ndarray, edges: tuple[float, float]) -> np.ndarray:
    return np.digitize(frac, edges).astype(np.int64)


def points_in_boxes(xyz: np.ndarray, centers: np.ndarray, sizes: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(N,) number of points inside each box (all in one frame), grown by ``POINT_MARGIN_M``
    horizontally and starting ``GROUND_CLEARANCE_M`` above the box bottom."""
    out = np.zeros(len(centers), np.int64)
    if not len(xyz):
        return out
    for i in range(len(centers)):  # a few dozen boxes; each test is vectorised over the points
        d = xyz[:, :2] - centers[i, :2]
        reach = 0.5 * math.hypot(sizes[i, 0], sizes[i, 1]) + POINT_MARGIN_M
        near = np.flatnonzero((np.abs(d[:, 0]) < reach) & (np.abs(d[:, 1]) < reach))
        if not near.size:
            continue
        c, s = math.cos(yaw[i]), math.sin(yaw[i])
        lx = d[near, 0] * c + d[near, 1] * s
        ly = -d[near, 0] * s + d[near, 1] * c
        z = xyz[near, 2] - (centers[i, 2] - 0.5 * sizes[i, 2])
        inside = (np.abs(lx) <= 0.5 * sizes[i, 0] + POINT_MARGIN_M) & (
            np.abs(ly) <= 0.5 * sizes[i, 1] + POINT_MARGIN_M
        )
        inside &= (z >= GROUND_CLEARANCE_M) & (z <= sizes[i, 2] + POINT_MARGIN_M)
        out[i] = int(inside.sum())
    return out


def export_bag(
    bag: str | Path,
    out: str | Path,
    seq: str = "0000",
    det_source: str = "lidar",
    camera: str = "camera_front",
    params_file: str | Path | None = None,
    images: bool = True,
    clouds: bool = True,
) -> ExportSummary:
    """Write ``bag`` as KITTI sequence ``seq`` under ``out`` (see the module docstring)."""
    import cv2

    from ..bag.io import bag_topics, read_messages
    from ..eval.bags import GT_ODOM, objects_frame, odometry_poses
    from ..eval.tf import tilted_pose_at
    from ..ros import convert
    from ..sim.detection_stream import DetectionStreamConfig
    from ..sim.recorder import (
        GT_OBJECTS,
        STREAM_TOPIC,
        calibration_from_bag,
        scenario_from_bag,
        stream_meta_from_bag,
    )
    from ..sim.visibility import SensorPose, visibility

    if det_source not in DET_SOURCES:
        raise ValueError(f"det_source must be one of {DET_SOURCES}, got {det_source!r}")
    bag, out = Path(bag), Path(out)
    cal = calibration_from_bag(bag)
    scenario = scenario_from_bag(bag)
    if cal is None or scenario is None:
        raise ValueError(f"{bag}: not a generated bag (no /calibration or /scenario)")
    if camera not in cal.intrinsics:
        raise ValueError(f"{bag}: calibration has no camera '{camera}' (has {sorted(cal.intrinsics)})")
    lidar_frame = scenario["config"]["lidar"]["frame"]
    topics = bag_topics(bag)
    lidar_topic = "/sensors/lidar/points"
    img_topic = next(
        (t for t in (f"/sensors/{camera}/image/compressed", f"/sensors/{camera}/image") if t in topics), None
    )
    has_lidar = lidar_topic in topics
    if det_source == "stream" and STREAM_TOPIC not in topics:
        raise ValueError(f"{bag}: no {STREAM_TOPIC}; generate it with 'simulate --detection-stream'")
    if det_source == "lidar" and not has_lidar:
        raise ValueError(f"{bag}: no LiDAR data to detect in; use det_source 'stream' or 'none'")

    intr = cal.intrinsics[camera]
    T_base_cam = cal.T_base_from(camera)
    T_base_lidar = cal.T_base_from(lidar_frame)
    T_base_imu = cal.T_base_from("imu_link") if cal.has_frame("imu_link") else T_base_lidar
    P = np.zeros((3, 4))
    P[:, :3] = intr.K
    calib = KittiCalib(
        P2=P,
        Tr_velo_to_cam=(invert_transform(T_base_cam) @ T_base_lidar)[:3],
        Tr_imu_to_velo=(invert_transform(T_base_lidar) @ T_base_imu)[:3],
    )
    size = (int(intr.width), int(intr.height))
    stream_cfg = DetectionStreamConfig.from_dict((stream_meta_from_bag(bag) or {}).get("config"))

    wanted = [GT_OBJECTS, GT_ODOM]
    if det_source == "stream":
        wanted.append(STREAM_TOPIC)
    msgs: dict[str, list] = {t: [] for t in wanted}
    for topic, _mt, _t, m in read_messages(bag, wanted):
        msgs[topic].append(m)
    truth = sorted((objects_frame(m) for m in msgs[GT_OBJECTS]), key=lambda f: f.stamp_ns)
    poses = odometry_poses(msgs[GT_ODOM])
    if not truth or poses is None:
        raise ValueError(f"{bag}: no {GT_OBJECTS} or {GT_ODOM}: not a generated bag")
    stamps = np.array([f.stamp_ns for f in truth], np.int64)
    yaw_u = np.unwrap(poses.yaw)
    stream = {}
    if det_source == "stream":
        for m in msgs[STREAM_TOPIC]:
            d = convert.decode_detections(m)[0]
            stream[d.stamp_ns] = d

    detector = None
    if det_source == "lidar":
        detector = lidar_detector(params_file, cal.T_base_from(lidar_frame)[:3, 3])

    for sub in ("calib", "label_02", "det"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    if clouds and has_lidar:
        (out / "velodyne" / seq).mkdir(parents=True, exist_ok=True)
    if images and img_topic:
        (out / "image_02" / seq).mkdir(parents=True, exist_ok=True)
    write_calib(out / "calib" / f"{seq}.txt", calib)

    # truth rows per frame (DontCare decided once the frame's cloud has been seen)
    frames = []  # (rows, visible fraction, box centres in base_link, sizes, yaw in base_link)
    T_world_cams = []
    tilted = tilted_pose_at(msgs[GT_ODOM])  # graded roads (sim/terrain.py): the body's 3D pose
    for k, f in enumerate(truth):
        st = int(stamps[k])
        x, y = np.interp(st, poses.stamp_ns, poses.x), np.interp(st, poses.stamp_ns, poses.y)
        yaw = float(np.interp(st, poses.stamp_ns, yaw_u))
        T_world_base = pose2d_to_transform(float(x), float(y), yaw) if tilted is None else tilted(st)
        T_world_cam = T_world_base @ T_base_cam
        T_world_cams.append(T_world_cam)
        objs, trunc, idx = kitti_rows(
            k, f.ids, f.labels, BoxFrame(T_world_cam), f.centers, f.sizes, f.yaw, calib, size
        )
        # occlusion as seen from the camera (full circle: truncation comes from the image)
        pose = SensorPose(T_world_cam[:2, 3], float(T_world_cam[2, 3]), yaw)
        vis = visibility(f.centers, f.sizes, f.yaw, pose)
        objs.occluded = _level(vis.hidden[idx], (0.1, 0.5))
        objs.truncated = _level(trunc, (0.15, 0.5)).astype(np.float64)
        T_base_world = invert_transform(T_world_base)
        c_base = f.centers[idx] @ T_base_world[:3, :3].T + T_base_world[:3, 3]
        frames.append((objs, vis.visible[idx], c_base, f.sizes[idx], f.yaw[idx] - yaw))

    # sensor data in log order, each message to the frame of its header stamp
    n_points: dict[int, np.ndarray] = {}  # frame -> LiDAR points inside each label box
    det_of: dict[int, Detections] = {}
    n_img = n_cloud = 0
    sensor_topics = [t for t in (lidar_topic if has_lidar else None, img_topic) if t]
    for topic, _mt, _t, m in read_messages(bag, sensor_topics) if sensor_topics else []:
        st = convert.stamp_of(m)
        k = int(np.argmin(np.abs(stamps - st)))
        if abs(int(stamps[k]) - st) > IMAGE_TOLERANCE_NS:
            continue
        try:
            item = convert.decode_lidar(m)[0] if topic == lidar_topic else convert.decode_image(m, camera)
        except (convert.DecodeError, ValueError) as exc:
            log.warning("%s at %d ns: malformed message skipped: %s", topic, st, exc)
            continue
        if topic == lidar_topic:
            if st != int(stamps[k]):
                continue
            xyz = item.xyz
            if clouds:
                refl = (item.intensity if item.intensity is not None else np.zeros(len(xyz))) / 255.0
                np.column_stack([xyz, refl]).astype(np.float32).tofile(
                    out / "velodyne" / seq / f"{k:06d}.bin"
                )
                n_cloud += 1
            pts_base = xyz.astype(np.float64) @ T_base_lidar[:3, :3].T + T_base_lidar[:3, 3]
            _objs, _vis, c_base, sizes, yaw_base = frames[k]
            n_points[k] = points_in_boxes(pts_base, c_base, sizes, yaw_base)
            if detector is not None:
                det_of[k] = detector.detect(pts_base.astype(np.float32), st, "base_link", item.time_offset)
        elif images:
            img = cv2.undistort(item.image, intr.K, intr.D)
            cv2.imwrite(str(out / "image_02" / seq / f"{k:06d}.png"), img)
            n_img += 1

    labels_out, dets_out = [], []
    for k, (objs, visible, _c, _s, _y) in enumerate(frames):
        dc = n_points[k] == 0 if k in n_points else visible < stream_cfg.care_min_visible
        _mark_dont_care(objs, dc)
        labels_out.append(objs)
        st = int(stamps[k])
        det = None
        if det_source == "lidar" and k in det_of:
            det, T_det_cam = det_of.pop(k), T_base_cam
        elif det_source == "stream" and st in stream:
            det, T_det_cam = stream[st], T_world_cams[k]
        if det is not None and len(det):
            ids = np.full(len(det), -1)
            box_frame = BoxFrame(T_det_cam)
            rows = kitti_rows(
                k, ids, det.labels, box_frame, det.centers, det.sizes, det.yaw, calib, size, det.scores
            )
            dets_out.append(rows[0])

    labels_all = KittiObjects.concat(labels_out)
    write_tracking_file(out / "label_02" / f"{seq}.txt", labels_all, with_score=False)
    dets_all = KittiObjects.concat(dets_out)
    if det_source != "none":
        write_tracking_file(out / "det" / f"{seq}.txt", dets_all)
    _add_to_seqmap(out / "evaluate_tracking.seqmap.training", seq, len(truth))
    return ExportSummary(
        len(truth), len(labels_all), int(labels_all.dont_care.sum()), len(dets_all), n_img, n_cloud
    )


def _mark_dont_care(objs: KittiObjects, dc: np.ndarray) -> None:
    """Turn rows into KITTI's DontCare rows (2D box kept, the rest placeholders)."""
    objs.type[dc] = DONT_CARE
    objs.track_id[dc] = -1
    objs.truncated[dc] = -1.0
    objs.occluded[dc] = -1
    objs.alpha[dc] = -10.0
    objs.dims[dc] = -1.0
    objs.loc[dc] = -1000.0
    objs.ry[dc] = -10.0


def _add_to_seqmap(path: Path, seq: str, n_frames: int) -> None:
    lines = [ln for ln in (path.read_text().splitlines() if path.exists() else []) if ln.split()[:1] != [seq]]
    lines.append(f"{seq} empty 000000 {n_frames:06d}")
    path.write_text("\n".join(sorted(lines)) + "\n")
