"""``sensor-fusion``: one command with subcommands (also ``python -m sensor_fusion``).

simulate   write a synthetic multi-sensor scenario with ground truth as a rosbag2 (MCAP)
replay     publish a bag over DDS with its original timing and /clock
run        run the fusion pipeline offline over a bag, write its outputs to a bag
evaluate   score tracks against ground truth (MOTA, HOTA, AP, velocity and ego errors)
soak       loop a generated drive through the pipeline for N minutes: frames, drops, memory, fds, threads
train      train the BEV fusion network on generator bags (made on demand)
evaluate-bev  AP of the BEV network on held-out seeds for every modality subset
export-onnx   export the BEV network to ONNX and check it against torch
params     print (--write, --check) the reference parameters file generated from the schema
demo       simulate -> fusion_node + replay over DDS -> record -> evaluate -> BEV plot -> report
report     one self-contained HTML page of a run (trajectories, scores by class and range, latency, ego)
pictures   PNGs of one instant: camera frames with truth and detections, a top view of the LiDAR sweep
batch      run + evaluate over many bags on a process pool or Ray; per-bag JSON, summary, HTML
batch-compare  what got better or worse between two batch runs; non-zero exit on a regression
track-kitti     track KITTI-format detections, write KITTI tracking results
export-kitti    write a generated bag as a KITTI tracking sequence
evaluate-kitti  CLEAR MOT, HOTA and IDF1 of KITTI tracking results (TrackEval)
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path


def _config(path: str | None, overrides: dict | None = None):
    """The params file at ``path`` (default: the package's config/fusion.yaml) with flat
    ``overrides``, validated."""
    from .config import default_share_dir, from_flat, load_params_file

    p = Path(path) if path else default_share_dir() / "config" / "fusion.yaml"
    return from_flat({**load_params_file(p), **(overrides or {})})


def cmd_simulate(a: argparse.Namespace) -> int:
    from .progress import progress
    from .sim.recorder import record

    stream = None
    if a.detection_stream or a.detections_only or a.stream_config:
        import yaml

        from .sim.detection_stream import DetectionStreamConfig

        d = yaml.safe_load(Path(a.stream_config).read_text()) if a.stream_config else None
        stream = DetectionStreamConfig.from_dict(d)
    with progress("simulate", a.duration, "s of data") as p:
        info = record(
            a.scenario,
            a.seed,
            a.duration,
            a.out,
            overrides_file=a.config,
            on_progress=p.update_to,
            detection_stream=stream,
            sensors=not a.detections_only,
            static_world=None if a.static_world is None else a.static_world == "on",
            sensor_formats={
                k: v
                for k, v in (
                    ("lidar.model", a.lidar_model),
                    ("lidar.point_layout", a.point_layout),
                    ("radars.format", a.radar_format),
                )
                if v is not None
            },
        )
    print(info.summary())
    return 0


def cmd_replay(a: argparse.Namespace) -> int:
    import rclpy

    from .bag.replay import BagPlayer

    rclpy.init()
    node = rclpy.create_node("bag_replay")
    try:
        topics = a.topics.split(",") if a.topics else None
        player = BagPlayer(node, a.bag, topics, a.rate, a.start, publish_clock=not a.no_clock)
        if a.wait_for:
            player.wait_for_subscribers(a.wait_for.split(","), a.wait_timeout)
        stats = player.play(loop=a.loop)
        print(
            f"published {stats.published} messages in {stats.wall_s:.1f} s wall ({stats.bag_s:.1f} s of bag, "
            f"rate {a.rate}, worst lag {stats.max_lag_s * 1e3:.1f} ms)"
        )
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


def cmd_run(a: argparse.Namespace) -> int:
    from .bag.offline import expected_frames, run_bag
    from .core.calibration import load_calibration
    from .progress import progress
    from .sim.recorder import calibration_from_bag, scenario_from_bag

    overrides = {"detection_mode": a.detector} if a.detector else {}
    if a.weights:
        overrides["bev.weights"] = a.weights
    cfg = _config(a.config, overrides)
    scenario = scenario_from_bag(a.bag)
    if scenario is not None and not cfg.ego.has_datum:
        d = scenario["config"]["gps"]["datum"]  # a generated bag: put map at the world origin
        cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
    cal = calibration_from_bag(a.bag) if not a.calibration else None
    if cal is None:
        from .config import resolve_calibration_path

        cal = load_calibration(a.calibration or resolve_calibration_path(cfg))
    kinds = {"lidar", "camera", "radar"}
    keep = set(a.modalities.split(",")) if a.modalities else kinds
    bad = keep - kinds
    if bad:
        raise SystemExit(f"--modalities: unknown {sorted(bad)}; choose from lidar,camera,radar")
    with progress("run", expected_frames(a.bag, cfg, kinds - keep), "frames") as p:
        s = run_bag(a.bag, cfg, cal, a.out, withhold=kinds - keep, on_frame=p.update_to, rate=a.rate)
    fps = s.frames / s.wall_s if s.wall_s else float("nan")
    print(
        f"{s.frames} frames and {s.odometry} odometry outputs from {s.messages} messages in "
        f"{s.wall_s:.1f} s ({fps:.1f} frames/s) -> {a.out}"
    )
    if s.decode_errors:
        print(f"decode errors: {dict(s.decode_errors)}")
    ego = (s.diagnostics or {}).get("ego") or {}
    keys = ("yaw_aligned", "yaw_aligned_track", "yaw_aligned_gnss_velocity", "gps_rejected_gate")
    keys += ("gps_multipath_gated", "gps_reinit", "wheel_accepted", "wheel_rejected", "gnss_vel_accepted")
    keys += ("imu_yaw_rejected",)
    shown = {k: ego[k] for k in keys if ego.get(k)}
    if shown:  # what the ego filter aligned from, gated and re-initialised (all counters: /diagnostics)
        print("ego: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    for name, counts in ((s.diagnostics or {}).get("radar") or {}).items():  # also in /diagnostics
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    # the network's velocities the Doppler on their boxes contradicted, its boxes on the road
    bev = {k: v for k, v in ((s.diagnostics or {}).get("bev") or {}).items() if v}
    if bev:
        print("bev: " + ", ".join(f"{k} {v}" for k, v in bev.items()))
    return 0


def cmd_soak(a: argparse.Namespace) -> int:
    from .core.calibration import load_calibration
    from .sim.recorder import calibration_from_bag, scenario_from_bag
    from .soak import fd_targets, soak, source_bag, thread_names

    if a.minutes <= 0:
        raise SystemExit("--minutes must be > 0")
    cfg = _config(a.config)
    bag = Path(a.bag) if a.bag else source_bag(a.workdir, a.scenario, a.seed, a.duration)
    scenario = scenario_from_bag(bag)
    if scenario is not None and not cfg.ego.has_datum:
        d = scenario["config"]["gps"]["datum"]
        cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
    cal = calibration_from_bag(bag)
    if cal is None:
        from .config import resolve_calibration_path

        cal = load_calibration(resolve_calibration_path(cfg))
    r = soak(bag, cfg, cal, a.minutes)
    if a.json:
        keys = ("frames", "dropped", "rss_mb_after_1min", "rss_mb_end", "fds_start", "fds_end")
        keys += ("threads_start", "threads_end")
        out = {k: getattr(r, k) for k in keys} | r.to_json()
        print(json.dumps(out, default=float))
    else:
        print(
            f"soak over {bag}: {r.wall_s / 60:.1f} min wall ({r.cpu_s / 60:.1f} min CPU), {r.passes} passes, "
            f"{r.frames} frames, {r.dropped} messages dropped {r.drop_reasons or ''}\n"
            f"  RSS {r.rss_mb_after_1min:.1f} MiB after {r.baseline_s:.0f} s"
            f" -> {r.rss_mb_end:.1f} MiB at the end; "
            f"fds {r.fds_start} -> {r.fds_end}; threads {r.threads_start} -> {r.threads_end}"
        )
    for f in r.failures:
        print(f"soak FAILED: {f}", file=sys.stderr)
    if r.threads_end > r.threads_start:
        print(f"  threads at the end: {thread_names()}", file=sys.stderr)
    if r.fds_end > r.fds_start:
        print(f"  open files at the end: {fd_targets()}", file=sys.stderr)
    return 1 if r.failures else 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from .eval.bags import EVAL_STAGES, evaluate_bags
    from .eval.report import format_table
    from .progress import stage_progress

    with stage_progress("evaluate", EVAL_STAGES if a.plot else EVAL_STAGES[:-1]) as on_stage:
        result = evaluate_bags(
            a.truth,
            a.tracks,
            max_distance_m=a.max_distance,
            plot=a.plot,
            detections=a.detections,
            on_stage=on_stage,
            region=a.region,
            dont_care=not a.no_dont_care,
            frame=a.frame,
            det_min_score=a.det_min_score,
        )
    if a.json:
        print(json.dumps(result, indent=None if a.compact else 2, default=float))
    else:
        print(format_table(result))
        if a.plot:
            print(f"BEV plot: {a.plot}")
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    from .bev_training import run_train

    return run_train(a)


def cmd_evaluate_bev(a: argparse.Namespace) -> int:
    from .bev_training import run_evaluate

    return run_evaluate(a)


def cmd_export_onnx(a: argparse.Namespace) -> int:
    from .bev.export import export_onnx

    res = export_onnx(a.weights, a.out, opset=a.opset)
    print(f"wrote {a.out}; max |onnx - torch| = {res['max_abs_diff']:.2e} ({res['checked_with']})")
    return 0


def cmd_params(a: argparse.Namespace) -> int:
    from .params_reference import reference_yaml

    text = reference_yaml()
    if a.check:
        same = Path(a.check).read_text() == text
        verdict = "matches the schema" if same else "differs from the schema; regenerate with --write"
        print(f"{a.check}: {verdict}")
        return 0 if same else 1
    if a.write:
        Path(a.write).write_text(text)
        print(f"wrote {a.write}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(a)


def cmd_report(a: argparse.Namespace) -> int:
    import json as _json

    from .eval.bags import EVAL_STAGES
    from .progress import stage_progress
    from .report.page import write_report

    diagnostics = _json.loads(Path(a.diagnostics).read_text()) if a.diagnostics else None
    with stage_progress("report", (*EVAL_STAGES[:-1], "report data", "figures")) as on_stage:
        path = write_report(
            a.truth,
            a.tracks,
            a.out,
            max_distance_m=a.max_distance,
            detections=a.detections,
            diagnostics=diagnostics,
            on_stage=on_stage,
        )
    print(f"report: {path}")
    return 0


def cmd_pictures(a: argparse.Namespace) -> int:
    from .report.pictures import write_pictures

    for path in write_pictures(a.bag, a.out, a.tracks, a.time):
        print(f"picture: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sensor-fusion", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("simulate", help="generate a scenario bag with ground truth")
    s.add_argument("--scenario", default="urban")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument(
        "--lidar-model",
        choices=("ideal", "vlp16", "hdl64e_kitti", "os1_128"),
        help="LiDAR beam table and receiver (default: the scenario's, ideal)",
    )
    s.add_argument(
        "--point-layout",
        choices=("sim", "velodyne", "ouster", "livox", "hesai", "robosense"),
        help="PointCloud2 fields of that driver (default: the scenario's, sim)",
    )
    s.add_argument(
        "--radar-format",
        choices=("pointcloud2", "radar_scan"),
        help="radar as PointCloud2 (/sensors/<name>/points) or radar_msgs/RadarScan (/sensors/<name>/scan)",
    )
    s.add_argument("--duration", type=float, default=20.0, help="seconds")
    s.add_argument("--out", required=True, help="output bag directory (must not exist)")
    s.add_argument("--config", help="YAML file of scenario overrides")
    s.add_argument(
        "--detection-stream",
        action="store_true",
        help="also write a realistic detector's output on /detections/stream (sim/detection_stream.py)",
    )
    s.add_argument(
        "--detections-only", action="store_true", help="write truth and the detection stream, no sensor data"
    )
    s.add_argument("--stream-config", help="YAML of DetectionStreamConfig overrides (implies the stream)")
    s.add_argument(
        "--static-world",
        choices=("on", "off"),
        help="buildings, vegetation, furniture, parked cars (world.static.enabled); off = the open world "
        "of earlier versions; default: the scenario's setting (on for urban_clutter and parking_lot)",
    )
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("replay", help="publish a bag over DDS with original timing")
    s.add_argument("bag")
    s.add_argument("--rate", type=float, default=1.0)
    s.add_argument("--loop", action="store_true")
    s.add_argument("--start", type=float, default=0.0, help="skip this many seconds of the bag")
    s.add_argument("--topics", help="comma-separated topics (default: all)")
    s.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    s.add_argument("--wait-for", help="comma-separated topics to wait for a subscriber on before playing")
    s.add_argument("--wait-timeout", type=float, default=20.0)
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser("run", help="run the fusion pipeline offline over a bag")
    s.add_argument("--bag", required=True)
    s.add_argument("--out", required=True, help="output bag directory (must not exist)")
    s.add_argument("--config", help="fusion parameters YAML (default: the package's config/fusion.yaml)")
    s.add_argument("--calibration", help="calibration YAML (default: the one recorded in the bag)")
    s.add_argument("--modalities", help="comma-separated subset of lidar,camera,radar to use")
    s.add_argument(
        "--detector", choices=["classical", "bev", "both"], help="override the config's detection_mode"
    )
    s.add_argument("--weights", help="BEV network weights (default: the shipped model)")
    s.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="hand messages over at this multiple of their recorded rate (1: as the sensors did, with "
        "a live node's idle gaps; stage times then compare with a live run's); 0: as fast as it goes",
    )
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("soak", help="loop a generated drive through the pipeline for N minutes; resources")
    s.add_argument("--minutes", type=float, required=True, help="wall-clock minutes to run")
    s.add_argument("--json", action="store_true", help="print one JSON line")
    s.add_argument("--scenario", default="urban")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--duration", type=float, default=20.0, help="seconds of the generated drive looped")
    s.add_argument("--bag", help="loop this bag instead of a generated one")
    s.add_argument("--workdir", default="out/soak", help="where the generated drive is kept")
    s.add_argument("--config", help="fusion parameters YAML (default: the package's config/fusion.yaml)")
    s.set_defaults(func=cmd_soak)

    s = sub.add_parser("evaluate", help="score tracks against ground truth")
    s.add_argument("--truth", required=True, help="bag with /ground_truth/objects (and /ground_truth/odom)")
    s.add_argument("--tracks", required=True, help="bag with the fusion outputs")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument("--compact", action="store_true", help="JSON on one line")
    s.add_argument("--max-distance", type=float, default=2.0, help="matching distance, m")
    s.add_argument("--plot", help="write a BEV plot of truth vs tracks to this PNG")
    s.add_argument(
        "--detections",
        help="detector whose output AP scores: lidar, bev, <radar name> (default: bev if present)",
    )
    s.add_argument(
        "--region",
        default="all",
        help="evaluation region: all, range:R (m from the ego), fov:CAMERA (its horizontal view)",
    )
    s.add_argument(
        "--no-dont-care",
        action="store_true",
        help="score objects without LiDAR points or radar returns too (as before truth annotations)",
    )
    s.add_argument(
        "--frame",
        choices=("world", "ego"),
        default="world",
        help="place tracks through the node's map -> odom (world) or relative to the vehicle (ego: "
        "its localisation error is not charged to detection and tracking)",
    )
    s.add_argument(
        "--det-min-score",
        type=float,
        help="detection precision / recall and static false positives count boxes from this score "
        "(default: the BEV network's track_min_score for bev, every box for the other detectors)",
    )
    s.set_defaults(func=cmd_evaluate)

    scen = "urban,highway,intersection,radar_clutter,dense_traffic"
    s = sub.add_parser("train", help="train the BEV fusion network (bags and samples made on demand)")
    s.add_argument("--workdir", default="out/bev", help="bags, samples, checkpoint and log")
    s.add_argument(
        "--scenarios",
        default=scen,
        help="NAME[+static|+open][+LIDAR_MODEL] or NAME+dr (static world, LiDAR model drawn per seed)",
    )
    s.add_argument("--train-seeds", default="101-106")
    s.add_argument("--val-seeds", default="201-202", help="held out; must not overlap the training seeds")
    s.add_argument("--val-scenarios", help="scenario entries of the validation set (default: --scenarios)")
    s.add_argument("--duration", type=float, default=15.0, help="seconds per bag")
    s.add_argument("--epochs", type=int, default=7)
    s.add_argument("--batch-size", type=int, default=4)
    s.add_argument("--lr", type=float, default=2e-3)
    s.add_argument(
        "--init-weights", help="fine-tune: start from these weights (e.g. the shipped model), not at random"
    )
    s.add_argument(
        "--intensity-drop", type=float, default=0.0, help="share of samples trained without LiDAR intensity"
    )
    s.add_argument(
        "--intensity-gain",
        type=float,
        default=0.0,
        help="share of samples with their LiDAR intensity scaled by a log-uniform gain in [1/3, 3]",
    )
    s.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    s.add_argument(
        "--seed", type=int, default=0, help="initialisation, batch order and augmentation draws (spread runs)"
    )
    s.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    s.add_argument("--out", default="out/bev/bev_fusion.pt", help="weights file to write")
    s.add_argument("--workers", type=int, default=1, help="make missing bags/samples on N processes")
    s.add_argument("--ray", metavar="ADDRESS", help="make them as Ray tasks ('local' or a cluster)")
    s.add_argument("--drop-bags", action="store_true", help="delete each bag once its samples are cached")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate-bev", help="BEV network AP per modality subset on held-out seeds")
    s.add_argument("--workdir", default="out/bev")
    s.add_argument("--scenarios", default=scen)
    s.add_argument("--seeds", default="201-202")
    s.add_argument("--duration", type=float, default=15.0)
    s.add_argument("--weights", default=str(Path(__file__).resolve().parent / "models" / "bev_fusion.pt"))
    s.add_argument("--every", type=int, default=1, help="score every n-th frame")
    s.add_argument(
        "--subsets", help="only these modality subsets, e.g. lidar+camera+radar,lidar (default: all 7)"
    )
    s.add_argument("--json", help="also write the results to this JSON file")
    s.add_argument("--workers", type=int, default=1, help="make missing bags/samples on N processes")
    s.add_argument("--ray", metavar="ADDRESS", help="make them as Ray tasks ('local' or a cluster)")
    s.add_argument("--drop-bags", action="store_true", help="delete each bag once its samples are cached")
    s.set_defaults(func=cmd_evaluate_bev)

    s = sub.add_parser("export-onnx", help="export the BEV network to ONNX (checked against torch)")
    s.add_argument("--weights", default=str(Path(__file__).resolve().parent / "models" / "bev_fusion.pt"))
    s.add_argument("--out", default="out/bev_fusion.onnx")
    s.add_argument("--opset", type=int, default=18)
    s.set_defaults(func=cmd_export_onnx)

    s = sub.add_parser("params", help="the reference parameters file, generated from the schema")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--write", metavar="PATH", help="write it here (config/fusion.yaml) instead of stdout")
    g.add_argument("--check", metavar="PATH", help="exit 1 unless PATH equals it")
    s.set_defaults(func=cmd_params)

    s = sub.add_parser("demo", help="end-to-end demo over DDS with scoring and a plot")
    s.add_argument("--scenario", default="urban")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--duration", type=float, default=20.0)
    s.add_argument("--rate", type=float, help="replay rate (default 1: the sensors' own rate)")
    s.add_argument(
        "--detector", choices=["classical", "bev", "both"], default="both", help="the node's detection_mode"
    )
    s.add_argument("--param", action="append", help="extra node parameter NAME:=VALUE (repeatable)")
    s.add_argument(
        "--lidar-model",
        choices=("ideal", "vlp16", "hdl64e_kitti", "os1_128"),
        help="LiDAR of the generated drive (default: the scenario's; os1_128: ~120k points per sweep)",
    )
    s.add_argument("--workdir", default="out/demo")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("report", help="write a self-contained HTML report of a run")
    s.add_argument("--truth", required=True, help="bag with /ground_truth/objects (and /ground_truth/odom)")
    s.add_argument("--tracks", required=True, help="bag with the fusion outputs")
    s.add_argument("--out", required=True, help="directory for report.html")
    s.add_argument("--max-distance", type=float, default=2.0, help="matching distance, m")
    s.add_argument("--detections", help="detector whose precision-recall is drawn (default: as evaluate)")
    s.add_argument("--diagnostics", help="JSON of the run's pipeline counters (batch writes them per bag)")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser(
        "pictures", help="camera frames and a LiDAR top view of one instant, with truth and detections"
    )
    s.add_argument("--bag", required=True, help="generated bag (sensors, /ground_truth/*)")
    s.add_argument("--tracks", help="the run's output bag: its detections and tracks are drawn too")
    s.add_argument(
        "--time", type=float, help="seconds after the first LiDAR sweep (default: the middle sweep)"
    )
    s.add_argument("--out", required=True, help="directory for topview.png and camera_<name>.png")
    s.set_defaults(func=cmd_pictures)

    from .batch.cli import add_batch_parsers

    add_batch_parsers(sub)

    from .kitti.cli import register as register_kitti

    register_kitti(sub)
    return p


class Interrupted(KeyboardInterrupt):
    """SIGTERM, raised like SIGINT's KeyboardInterrupt so every ``with`` (bag writers) closes."""


def _on_sigterm(signum: int, _frame) -> None:
    raise Interrupted(signum)


def _interrupt_in(exc: BaseException) -> KeyboardInterrupt | None:
    """The SIGINT/SIGTERM behind ``exc``. A signal's handler can run inside C code (a numba
    dispatcher, say) that then returns as if nothing happened; Python reports that as a
    SystemError caused by the handler's exception (seen in tests/bag/test_kill, SIGTERM)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def error_line(exc: BaseException) -> str:
    """One line for ``exc``: multi-line messages (a ConfigError's list of problems) joined by '; '."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return f"{lines[0]} {'; '.join(lines[1:])}"
    return "; ".join(lines)


def _input_errors() -> tuple[type[BaseException], ...]:
    """What a user's input causes (exit 2): bad config values, missing or unreadable files, bags."""
    import yaml
    from rosbags.rosbag2.errors import ReaderError

    from .config import ConfigError

    return ConfigError, OSError, ReaderError, yaml.YAMLError, ValueError, KeyError


def main(argv: list[str] | None = None) -> None:
    """Run one subcommand. Every error ends as one line on stderr and a non-zero exit: 2 for usage,
    config and input errors, 1 for anything unexpected, 128 + signal on SIGINT/SIGTERM; with
    ``-v`` the traceback is shown instead."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    prefix = f"sensor-fusion {args.cmd}"
    try:
        try:
            code = args.func(args)
        except SystemError as exc:
            interrupt = _interrupt_in(exc)
            if interrupt is None:
                raise
            raise interrupt from exc
    except KeyboardInterrupt as exc:
        if args.verbose:
            raise
        sig = exc.args[0] if isinstance(exc, Interrupted) else signal.SIGINT
        print(f"{prefix}: interrupted by {signal.Signals(sig).name}; outputs closed", file=sys.stderr)
        code = 128 + int(sig)
    except SystemExit as exc:
        if not isinstance(exc.code, str):
            raise
        print(f"{prefix}: error: {exc.code}", file=sys.stderr)  # raise SystemExit("usage message")
        code = 2
    except Exception as exc:
        if args.verbose:
            raise
        if isinstance(exc, _input_errors()):
            print(f"{prefix}: error: {error_line(exc)}", file=sys.stderr)
            code = 2
        else:
            print(
                f"{prefix}: internal error: {type(exc).__name__}: {error_line(exc)} (-v for the traceback)",
                file=sys.stderr,
            )
            code = 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(code)
