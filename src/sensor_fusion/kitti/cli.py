"""The KITTI subcommands of ``sensor-fusion``: detect-kitti, track-kitti, export-kitti, evaluate-kitti."""

from __future__ import annotations

import argparse
import json
import time

from .detect import KITTI_LIDAR_HEIGHT_M


def cmd_detect_kitti(a: argparse.Namespace) -> int:
    from .detect import detect_directory

    s = detect_directory(
        a.velodyne,
        a.calib,
        a.out,
        params_file=a.config,
        sensor_height_m=a.sensor_height,
        image_size=(a.image_width, a.image_height),
        keep_all=a.all,
    )
    if not s.sweeps:
        raise SystemExit(f"{a.velodyne}: no readable .bin sweeps (velodyne/*.bin or velodyne/<seq>/*.bin)")
    print(
        f"{s.sweeps} sweeps ({s.skipped} skipped) -> {a.out}: {s.boxes} boxes "
        f"({s.boxes / s.sweeps:.1f} per sweep{'' if a.all else ' in image 2'}), "
        f"{1e3 * s.detect_s / s.sweeps:.1f} ms per sweep"
    )
    return 0


def cmd_track_kitti(a: argparse.Namespace) -> int:
    from ..tracking.tracker import TrackerConfig
    from .track import TrackOptions, track_directory

    if a.config:
        from ..eval.stream import tracker_config

        cfg = tracker_config(a.config, frame_id="kitti")
    else:
        cfg = TrackerConfig(frame_id="kitti")
    opts = TrackOptions(
        score_map=a.score_map,
        rate_hz=a.rate_hz,
        pos_std_m=a.pos_std,
        pos_std_per_m=a.pos_std_per_m,
        image_size=(a.image_width, a.image_height),
        camera_view=a.view,
    )
    t0 = time.perf_counter()
    res = track_directory(a.dets, a.out, cfg, opts, a.calib)
    wall = time.perf_counter() - t0
    if not res:
        raise SystemExit(f"{a.dets}: no detection files (<seq>.txt or <seq>.csv)")
    frames = sum(r.frames for r in res.values())
    track_s = sum(r.tracking_s for r in res.values())
    for seq, r in res.items():
        print(
            f"{seq}: {r.frames} frames, {r.detections} detections, {len(r.results)} result rows, "
            f"scores {r.score_map}"
        )
    print(
        f"{len(res)} sequences, {frames} frames -> {a.out}: {frames / track_s:.0f} frames/s tracking "
        f"({track_s:.2f} s), {frames / wall:.0f} frames/s with file I/O ({wall:.2f} s)"
    )
    return 0


def cmd_export_kitti(a: argparse.Namespace) -> int:
    from .export import export_bag

    s = export_bag(
        a.bag,
        a.out,
        seq=a.seq,
        det_source=a.det,
        camera=a.camera,
        params_file=a.config,
        images=not a.no_images,
    )
    print(
        f"{a.out}: sequence {a.seq}, {s.frames} frames, {s.labels} label rows ({s.dont_care} DontCare), "
        f"{s.detections} detections ({a.det}), {s.images} images, {s.clouds} clouds"
    )
    return 0


def cmd_evaluate_kitti(a: argparse.Namespace) -> int:
    from .evaluate import evaluate_kitti

    res = evaluate_kitti(
        a.labels, a.results, similarity=a.similarity, gate_m=a.gate, classes=tuple(a.classes.split(","))
    )
    if a.json:
        print(json.dumps(res))
        return 0
    keys = (
        "hota",
        "deta",
        "assa",
        "mota",
        "motp",
        "idsw",
        "idf1",
        "precision",
        "recall",
        "num_gt",
        "num_tracks",
    )
    print(
        f"similarity: {a.similarity}" + (f" (gate {a.gate} m)" if a.similarity == "bev" else " (IoU >= 0.5)")
    )
    print("| class | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for cls, r in res.items():
        cells = [str(r[k]) if isinstance(r[k], int) else f"{r[k]:.3f}" for k in keys]
        print(f"| {cls} | " + " | ".join(cells) + " |")
    return 0


def register(sub) -> None:
    """Add the four subcommands to ``sensor-fusion``'s subparsers."""
    s = sub.add_parser(
        "detect-kitti", help="the classical LiDAR detector on KITTI velodyne sweeps, KITTI-format results"
    )
    s.add_argument(
        "--velodyne", required=True, help="directory of <frame>.bin (object layout) or <seq>/<frame>.bin"
    )
    s.add_argument("--calib", required=True, help="calib directory (<frame>.txt or <seq>.txt) or one file")
    s.add_argument("--out", required=True, help="results: <frame>.txt (object format) or <seq>.txt")
    s.add_argument("--config", help="parameters file for the LiDAR detector (default: config/fusion.yaml)")
    s.add_argument(
        "--sensor-height",
        type=float,
        default=KITTI_LIDAR_HEIGHT_M,
        help="LiDAR above the road, m (KITTI's HDL-64E: 1.73)",
    )
    s.add_argument("--all", action="store_true", help="keep boxes outside image 2 too")
    s.add_argument("--image-width", type=int, default=1242)
    s.add_argument("--image-height", type=int, default=375)
    s.set_defaults(func=cmd_detect_kitti)

    s = sub.add_parser("track-kitti", help="track KITTI-format detections, write KITTI tracking results")
    s.add_argument(
        "--dets", required=True, help="directory of <seq>.txt (label_02 + score) or AB3DMOT <seq>.csv/.txt"
    )
    s.add_argument("--out", required=True, help="results directory (<seq>.txt, label_02 format)")
    s.add_argument(
        "--config", help="parameters file whose tracker block to use (default: the library defaults)"
    )
    s.add_argument(
        "--calib", help="calib directory (<seq>.txt): track in KITTI's LiDAR frame, project coasting boxes"
    )
    s.add_argument(
        "--score-map",
        choices=["auto", "sigmoid", "identity"],
        default="auto",
        help="detection scores to [0, 1]: sigmoid for logits (AB3DMOT's PointRCNN), identity for "
        "probabilities; auto: sigmoid for AB3DMOT CSV files, identity for label_02 files",
    )
    s.add_argument("--rate-hz", type=float, default=10.0, help="frame rate (KITTI: 10)")
    s.add_argument("--pos-std", type=float, default=0.15, help="detection centre std at 0 m, m")
    s.add_argument("--pos-std-per-m", type=float, default=0.005, help="its growth per metre of range")
    s.add_argument("--image-width", type=int, default=1242)
    s.add_argument("--image-height", type=int, default=375)
    s.add_argument(
        "--view",
        action="store_true",
        help="with --calib: tell the tracker image 2's field of view, so misses there count and "
        "silence outside it does not (docs/evaluation.md)",
    )
    s.set_defaults(func=cmd_track_kitti)

    s = sub.add_parser("export-kitti", help="write a generated bag as a KITTI tracking sequence")
    s.add_argument("--bag", required=True)
    s.add_argument("--out", required=True, help="output directory (KITTI tracking layout)")
    s.add_argument("--seq", default="0000", help="sequence name")
    s.add_argument(
        "--det",
        choices=["lidar", "stream", "none"],
        default="lidar",
        help="det/: classical LiDAR detector or the stream",
    )
    s.add_argument("--camera", default="camera_front")
    s.add_argument("--config", help="parameters file for the LiDAR detector (default: config/fusion.yaml)")
    s.add_argument("--no-images", action="store_true", help="skip image_02")
    s.set_defaults(func=cmd_export_kitti)

    s = sub.add_parser("evaluate-kitti", help="CLEAR MOT, HOTA, IDF1 of KITTI tracking results (TrackEval)")
    s.add_argument("--labels", required=True, help="directory with label_02/<seq>.txt (or <seq>.txt)")
    s.add_argument("--results", required=True, help="directory with <seq>.txt results")
    s.add_argument(
        "--similarity", choices=["iou2d", "bev"], default="iou2d", help="iou2d: KITTI's official 2D IoU"
    )
    s.add_argument("--gate", type=float, default=2.0, help="bev: centre distance for a match, m")
    s.add_argument("--classes", default="car,pedestrian")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_evaluate_kitti)
