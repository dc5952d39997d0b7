"""Read truth and fusion-output bags into evaluation frames, and score them.

Truth bags come from ``sensor-fusion simulate`` (``/ground_truth/objects``,
``/ground_truth/odom``, raw ``/sensors/gps/fix``); output bags from
``sensor-fusion run`` or a recording of the node (``/fusion_node/...``). Keys
whose inputs a bag lacks come back as None.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from ..bag.io import bag_topics, read_messages
from ..bev.config import BevDetectorConfig
from ..core.calibration import calibration_from_dict
from ..core.geometry import quat_to_yaw
from ..core.stamps import to_ns
from .detection import evaluate_detection_ap
from .ego import (
    EgoPoses,
    ego_coverage,
    ego_errors,
    ego_trajectory_metrics,
    gps_average_bound,
    gps_correlated_rmse,
    odom_max_jump,
    position_rmse,
    relative_pose_errors,
)
from .frames import FrameObjects, match_frames
from .latency import latency_percentiles
from .mot import evaluate_tracking
from .regions import (
    Annotations,
    CameraView,
    Region,
    StaticBoxes,
    parse_region,
    restrict_pairs,
    static_false_positives,
)
from .report import bev_plot, merge_results
from .tf import TF, WorldFrames, odometry_arrays, odometry_transforms, parent_transforms

TRACKS = "/fusion_node/tracked_objects"
DETECTIONS = "/fusion_node/detections/{source}"
ODOM = "/fusion_node/ego_odom"
TIMING = "/fusion_node/timing"
GT_OBJECTS = "/ground_truth/objects"
GT_ODOM = "/ground_truth/odom"
GPS = "/sensors/gps/fix"
GT_GPS_ERROR = "/ground_truth/gps_error"
GT_GPS_MULTIPATH = "/ground_truth/gps_multipath"
SCENARIO = "/scenario"
ANNOTATIONS = "/ground_truth/annotations"
STATIC = "/ground_truth/static"  # the static world's elements (sim/recorder.py)
CALIBRATION = "/calibration"
DET_MATCH_M = 2.0  # the detection P/R matching distance (evaluate_detection_ap's pr_threshold_m)
MATCH_TOLERANCE_NS = 20_000_000
EVAL_STAGES = ("read truth", "read tracks", "tracking", "detection", "ego", "plot")

KEYS = (
    "mota",
    "motp",
    "idsw",
    "frag",
    "hota",
    "det_precision",
    "det_recall",
    "velocity_rmse",
    "ego_position_rmse",
    "ego_yaw_rmse_deg",
    "gps_position_rmse",
    "gps_bound_position_rmse",
    "ego_ate_m",
    "ego_rpe_1s_m",
    "ego_rpe_10s_m",
    "ego_rpe_1s_world_m",
    "ego_rpe_10s_world_m",
    "odom_max_jump_m",
    "odom_rpe_1s_m",
    "odom_rpe_10s_m",
    "ego_coverage",
    "gps_correlated_rmse_m",
    "gps_multipath_fixes",
    "det_ap",
    "per_class",
    "latency_ms",
    "static_false_positives_per_frame",
)


def objects_frame(msg, with_ids: bool = True) -> FrameObjects:
    """FrameObjects from a TrackedObjectArray or DetectedObjectArray."""
    objs = msg.objects
    n = len(objs)
    ids = np.zeros(n, np.int64)
    labels = np.zeros(n, np.int64)
    centers, sizes, vel = np.zeros((n, 3)), np.zeros((n, 3)), np.full((n, 2), np.nan)
    yaw, scores = np.zeros(n), np.ones(n)
    for i, o in enumerate(objs):  # message fields are per-object Python objects by nature
        if with_ids:
            ids[i] = int.from_bytes(bytes(o.object_id.uuid[:8]), "big") & 0x7FFF_FFFF_FFFF_FFFF
        else:
            ids[i] = i
        labels[i] = o.classification[0].label if o.classification else 0
        p = o.kinematics.pose_with_covariance.pose
        centers[i] = (p.position.x, p.position.y, p.position.z)
        yaw[i] = quat_to_yaw(np.array([p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w]))
        d = o.shape.dimensions
        sizes[i] = (d.x, d.y, d.z)
        tw = o.kinematics.twist_with_covariance.twist.linear
        if not hasattr(o.kinematics, "has_twist") or o.kinematics.has_twist:
            vel[i] = (tw.x, tw.y)
        scores[i] = o.existence_probability
    return FrameObjects(
        to_ns(msg.header.stamp.sec, msg.header.stamp.nanosec), ids, labels, centers, sizes, yaw, vel, scores
    )


def odometry_poses(msgs) -> EgoPoses | None:
    """Planar poses (x, y, yaw) sorted by stamp from nav_msgs/Odometry messages; None if none."""
    arrays = odometry_arrays(msgs)
    if arrays is None:
        return None
    st, p, yaw = arrays
    return EgoPoses(st, p[:, 0], p[:, 1], yaw)


def odom_base_poses(tf_msgs, odom_msgs) -> EgoPoses | None:
    """base_link in REP-105's continuous ``odom``, from the output bag's ``/tf``, for ``odom_max_jump``.

    The published odometry is the filter's ``map`` pose, which steps with every fix by design; the
    frame that must not jump is ``odom -> base_link``. A bag without that transform on ``/tf``
    (older recordings, or the node's odom TF turned off) falls back to the odometry messages.
    """
    up = _odom_base_transforms(tf_msgs, odom_msgs)
    if up is None:
        return odometry_poses(odom_msgs)  # no continuous frame recorded: the map pose is all there is
    return EgoPoses(up.stamps_ns, up.translation[:, 0], up.translation[:, 1], up.yaw)


def _odom_base_transforms(tf_msgs, odom_msgs):
    """The recorded ``odom -> base_link`` transforms (a parent other than the odometry's frame), or None."""
    base = odom_msgs[0].child_frame_id if odom_msgs and odom_msgs[0].child_frame_id else "base_link"
    up = parent_transforms(tf_msgs, base) if tf_msgs else None
    if up is None or (odom_msgs and up.parent == odom_msgs[0].header.frame_id):
        return None
    return up


def has_odom_frame(tf_msgs, odom_msgs) -> bool:
    """Whether the bag's ``/tf`` carries a continuous frame for base_link apart from the odometry's."""
    return _odom_base_transforms(tf_msgs, odom_msgs) is not None


def read_topics(bag: str | Path, topics: list[str]) -> dict[str, list]:
    """Messages of ``topics`` in ``bag`` (empty lists for topics the bag lacks)."""
    have = bag_topics(bag)
    out: dict[str, list] = {t: [] for t in topics}
    wanted = [t for t in topics if t in have]
    if wanted:
        for topic, _mt, _t, msg in read_messages(bag, wanted):
            out[topic].append(msg)
    return out


def _gps_errors(gps_msgs, truth: EgoPoses | None, scenario: dict | None):
    """(stamps (N,), planar errors (N, 2) m) of the raw fixes inside the truth span, or None."""
    if not gps_msgs or truth is None or scenario is None:
        return None
    from ..core.geodesy import geodetic_to_enu

    d = scenario["config"]["gps"]["datum"]
    lat = np.array([m.latitude for m in gps_msgs])
    lon = np.array([m.longitude for m in gps_msgs])
    alt = np.array([m.altitude for m in gps_msgs])
    e, n, _u = geodetic_to_enu(lat, lon, alt, d["lat_deg"], d["lon_deg"], d["alt_m"])
    st = np.array([to_ns(m.header.stamp.sec, m.header.stamp.nanosec) for m in gps_msgs], np.int64)
    inside = (st >= truth.stamp_ns[0]) & (st <= truth.stamp_ns[-1])
    if not inside.any():
        return None
    tx = np.interp(st[inside], truth.stamp_ns, truth.x)
    ty = np.interp(st[inside], truth.stamp_ns, truth.y)
    # the antenna sits on the vertical through base_link in the shipped calibration (lever arm in x/y: 0)
    return st[inside], np.column_stack([e[inside] - tx, n[inside] - ty])


def _ego_at(poses: EgoPoses | None) -> Callable[[int], tuple[float, float, float] | None]:
    """(x, y, yaw) of base_link at a stamp, interpolated in the truth odometry (None without it)."""
    if poses is None:
        return lambda _st: None
    yaw = np.unwrap(poses.yaw)

    def at(stamp_ns: int) -> tuple[float, float, float]:
        st = float(stamp_ns)
        return (
            float(np.interp(st, poses.stamp_ns, poses.x)),
            float(np.interp(st, poses.stamp_ns, poses.y)),
            float(np.interp(st, poses.stamp_ns, yaw)),
        )

    return at


def _camera_view(cal_msgs: list, region: Region) -> CameraView | None:
    """The camera of a ``fov:`` region from the truth bag's calibration."""
    if region.kind != "fov":
        return None
    if not cal_msgs:
        raise ValueError(f"region {region}: the truth bag has no /calibration")
    cal = calibration_from_dict(yaml.safe_load(cal_msgs[0].data))
    if region.camera not in cal.intrinsics:
        raise ValueError(f"region {region}: no camera '{region.camera}' (cameras: {sorted(cal.intrinsics)})")
    intr = cal.intrinsics[region.camera]
    return CameraView(cal.T_base_from(region.camera), np.asarray(intr.K, np.float64), int(intr.width))


def pair_restrictor(truth: dict[str, list], region: Region, dont_care: bool, max_distance_m: float):
    """``pairs -> (pairs, n_dont_care)`` as ``evaluate`` scores them: ``region`` and don't-care
    truth applied; ``truth`` holds the truth bag's GT_ODOM, ANNOTATIONS and CALIBRATION messages.
    The HTML report uses the same, so its counts are evaluate's."""
    annotations = (
        Annotations.from_json([json.loads(m.data) for m in truth.get(ANNOTATIONS, [])])
        if truth.get(ANNOTATIONS) and dont_care
        else None
    )
    camera = _camera_view(truth.get(CALIBRATION, []), region)
    ego_at = _ego_at(odometry_poses(truth.get(GT_ODOM, [])))

    def restrict(pairs):
        return restrict_pairs(pairs, region, ego_at, camera, annotations, max_distance_m)

    return restrict


def evaluate_bags(
    truth_bag: str | Path,
    tracks_bag: str | Path,
    max_distance_m: float = 2.0,
    plot: str | Path | None = None,
    detections: str | None = None,
    on_stage: Callable[[str], None] | None = None,
    region: str | Region = "all",
    dont_care: bool = True,
    frame: str = "world",
    det_min_score: float | None = None,
) -> dict:
    """Scores of ``tracks_bag`` against ``truth_bag``; detection AP for the ``detections`` source
    (a detector name: lidar, bev, radar_front; default bev when the bag has it, else lidar).
    Detection precision / recall and the static false positives count the boxes scoring at least
    ``det_min_score`` (AP every box): by default the BEV network's ``track_min_score``, the boxes
    the tracker takes (the node publishes them from the lower ``score_threshold`` for AP), and
    every box of the other detectors, which all reach the tracker.
    ``region`` (``all``, ``range:R``, ``fov:CAMERA``, see ``eval.regions``) limits which truth and
    estimates count; truth with no LiDAR point and no radar return is don't-care when the truth
    bag has annotations (``dont_care`` false scores them as before annotations existed).
    ``frame``: ``world`` places the estimates through the node's ``map -> odom`` (its ego error in
    the world moves every object); ``ego`` places them relative to the vehicle
    (``eval.tf.EgoRelative``), which scores perception apart from localisation.
    ``on_stage`` is called with the name of each of the ``EVAL_STAGES`` as it starts (progress)."""
    stage = on_stage or (lambda _name: None)
    reg = region if isinstance(region, Region) else parse_region(region)
    stage("read truth")
    truth = read_topics(
        truth_bag,
        [GT_OBJECTS, GT_ODOM, GPS, SCENARIO, GT_GPS_ERROR, GT_GPS_MULTIPATH]
        + [ANNOTATIONS, STATIC, CALIBRATION],
    )
    if detections is None:
        detections = "bev" if DETECTIONS.format(source="bev") in bag_topics(tracks_bag) else "lidar"
    if det_min_score is None:
        det_min_score = BevDetectorConfig().track_min_score if detections == "bev" else 0.0
    det_topic = DETECTIONS.format(source=detections)
    stage("read tracks")
    est = read_topics(tracks_bag, [TRACKS, det_topic, ODOM, TIMING, TF])
    if not truth[GT_OBJECTS]:
        raise ValueError(f"{truth_bag} has no {GT_OBJECTS}: not a ground-truth bag")
    scenario = json.loads(truth[SCENARIO][0].data) if truth[SCENARIO] else None
    gt_frames = [objects_frame(m) for m in truth[GT_OBJECTS]]
    truth_frame = truth[GT_OBJECTS][0].header.frame_id

    if frame not in ("world", "ego"):
        raise ValueError(f"frame must be world or ego, got {frame!r}")
    # odom estimates via the node's map -> odom (world), or relative to the vehicle (ego)
    truth_base = odometry_transforms(truth[GT_ODOM]) if frame == "ego" else None
    if frame == "ego" and truth_base is None:
        raise ValueError(f"{truth_bag} has no {GT_ODOM}: ego-relative scoring needs the truth pose")
    in_truth_frame = WorldFrames(est[TF], truth_frame, objects_frame, truth_base)

    truth_poses = odometry_poses(truth[GT_ODOM])
    restrict = pair_restrictor(truth, reg, dont_care, max_distance_m)
    # a bag with annotations but no element list comes from the open world: nothing static to hit
    static = StaticBoxes.from_json(json.loads(truth[STATIC][0].data)) if truth[STATIC] else None
    if static is None and truth[ANNOTATIONS]:
        static = StaticBoxes.empty()

    result: dict = dict.fromkeys(KEYS)
    result["region"] = str(reg)
    track_frames: list[FrameObjects] = []
    stage("tracking")
    if est[TRACKS]:
        track_frames = [in_truth_frame(m) for m in est[TRACKS]]
        pairs, n_dc = restrict(match_frames(gt_frames, track_frames, MATCH_TOLERANCE_NS))
        result.update(evaluate_tracking(pairs, max_distance_m=max_distance_m))
        result["num_dont_care"] = n_dc
    stage("detection")
    if est[det_topic]:
        det_frames = [in_truth_frame(m, with_ids=False) for m in est[det_topic]]
        det_pairs, n_dc = restrict(match_frames(gt_frames, det_frames, MATCH_TOLERANCE_NS))
        det = evaluate_detection_ap(det_pairs, pr_min_score=det_min_score)
        result = merge_results(result, det)
        result["det_source"] = detections
        result["det_min_score"] = det_min_score
        result["num_dont_care"] = n_dc
        if static is not None:
            operating = [(t, e.select(e.scores >= det_min_score)) for t, e in det_pairs]
            result.update(static_false_positives(operating, static, DET_MATCH_M))
    stage("ego")
    est_poses = odometry_poses(est[ODOM])
    if truth_poses is not None and est_poses is not None:
        result.update(ego_errors(truth_poses, est_poses))
        # errors cover only the time odometry was published (none before the heading is known),
        # counted from the first motion (eval.ego.ego_coverage)
        result["ego_coverage"] = ego_coverage(
            truth_poses, int(est_poses.stamp_ns[0]), int(est_poses.stamp_ns[-1])
        )
        result.update(ego_trajectory_metrics(truth_poses, est_poses))
        # on the continuous odom -> base_link (/tf), not the map pose the odometry carries
        odom_poses = odom_base_poses(est[TF], est[ODOM])
        if odom_poses is not None:
            result["odom_max_jump_m"] = odom_max_jump(truth_poses, odom_poses)
            if has_odom_frame(est[TF], est[ODOM]):
                # the local motion REP-105's continuous frame carries (docs/ego.md, "What RPE measures")
                # (no world-frame twin: odom's orientation against the world is arbitrary by REP-105)
                odom_rpe = relative_pose_errors(truth_poses, odom_poses, prefix="odom")
                result.update({k: v for k, v in odom_rpe.items() if not k.endswith("_world_m")})
    if truth[GT_GPS_ERROR]:
        st = np.array(
            [to_ns(m.header.stamp.sec, m.header.stamp.nanosec) for m in truth[GT_GPS_ERROR]], np.int64
        )
        exy = np.array([[m.vector.x, m.vector.y] for m in truth[GT_GPS_ERROR]])
        lo, hi = (
            (int(est_poses.stamp_ns.min()), int(est_poses.stamp_ns.max()))
            if est_poses is not None
            else (int(st.min()), int(st.max()))
        )
        result["gps_correlated_rmse_m"] = gps_correlated_rmse(st, exy, lo, hi)
        result["gps_multipath_fixes"] = int(
            sum(1 for m in truth[GT_GPS_MULTIPATH] if m.vector.x != 0.0 or m.vector.y != 0.0)
        )
    gps = _gps_errors(truth[GPS], truth_poses, scenario)
    if gps is not None:
        result["gps_position_rmse"] = position_rmse(np.zeros_like(gps[1]), gps[1])
        if est_poses is not None:
            result["gps_bound_position_rmse"] = gps_average_bound(
                gps[0], gps[1], int(est_poses.stamp_ns.min()), int(est_poses.stamp_ns.max())
            )
    if est[TIMING]:
        samples: dict[str, list[float]] = {}
        for st in est[TIMING]:
            for kv in st.values:
                if kv.key != "missing":
                    samples.setdefault(kv.key, []).append(float(kv.value))
        result["latency_ms"] = latency_percentiles(samples)
    if scenario is not None:
        result["scenario"] = {"name": scenario["scenario"], "seed": scenario["seed"]}
    result = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in result.items()}
    if plot:
        stage("plot")
        ego_xy = np.column_stack([truth_poses.x, truth_poses.y]) if truth_poses is not None else None
        bev_plot(
            gt_frames,
            track_frames,
            plot,
            ego_xy=ego_xy,
            metrics=result,
            title=f"{Path(truth_bag).name} vs {Path(tracks_bag).name}",
        )
    return result
