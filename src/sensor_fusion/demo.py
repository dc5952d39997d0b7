"""The end-to-end demo: generate -> fusion_node + replay over DDS -> record -> evaluate -> plot -> report.

Everything runs as a user would run it: ``fusion_node`` and ``sensor-fusion
replay`` are separate processes talking DDS (own domain, localhost only), and
this process records the node's outputs into a bag that ``evaluate`` scores.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TRACKS_TOPIC = "/fusion_node/tracked_objects"
RECORD_TOPICS = {
    "/fusion_node/tracked_objects": ("sensor_fusion_msgs.msg", "TrackedObjectArray"),
    "/fusion_node/detections/lidar": ("sensor_fusion_msgs.msg", "DetectedObjectArray"),
    "/fusion_node/detections/bev": ("sensor_fusion_msgs.msg", "DetectedObjectArray"),
    "/fusion_node/ego_odom": ("nav_msgs.msg", "Odometry"),
    "/fusion_node/timing": ("diagnostic_msgs.msg", "DiagnosticStatus"),
    # map -> odom: tracks are published in odom, and evaluate brings them into the truth's world
    # frame through it. Without it they are scored as if odom were map (the demo printed MOTA
    # -0.52 where the offline run of the same bag scores 0.54).
    "/tf": ("tf2_msgs.msg", "TFMessage"),
}


def record_topics(radar_names: list[str]) -> dict[str, tuple[str, str]]:
    """The node outputs the demo records: the fixed set plus each radar's detections."""
    topics = dict(RECORD_TOPICS)
    for name in radar_names:
        topics[f"/fusion_node/detections/{name}"] = ("sensor_fusion_msgs.msg", "DetectedObjectArray")
    return topics


def _stamp_ns(msg) -> int:
    """The data stamp a recorded output is filed under (a TFMessage: its first transform's; a
    DiagnosticStatus, which has no header: the stamp in its hardware_id)."""
    from .ros.convert import stamp_of

    if getattr(msg, "transforms", None):
        return stamp_of(msg.transforms[0])
    return stamp_of(msg) if hasattr(msg, "header") else int(msg.hardware_id)


def stop_process(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGINT (a ROS node shuts down cleanly on it), then kill if it has not exited in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _record_until_done(
    out_bag: Path,
    start_replay: Callable[[], subprocess.Popen],
    node: subprocess.Popen,
    idle_s: float = 3.0,
    on_frame: Callable[[], None] | None = None,
    topics: dict[str, tuple[str, str]] | None = None,
    match_timeout_s: float = 60.0,
) -> int:
    """Record the node's outputs until the replay has ended and the outputs have stopped.

    The replay is started only once the recorder has discovered the node's publishers: started
    together, the first 1.3 s of outputs went out before discovery and were lost (a classical run
    starts fast)."""
    import importlib

    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from .bag.io import BagWriter

    rclpy.init()
    rec = rclpy.create_node("demo_recorder")
    count = {"n": 0, "last": time.monotonic()}
    qos = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
    with BagWriter(out_bag) as writer:

        def cb(topic, msg):
            writer.write(topic, msg, _stamp_ns(msg))
            count["n"] += 1
            count["last"] = time.monotonic()
            if on_frame is not None and topic == TRACKS_TOPIC:
                on_frame()

        for topic, (mod, name) in (topics or RECORD_TOPICS).items():
            try:
                cls = getattr(importlib.import_module(mod), name)
            except ImportError:
                print(f"[demo] not recording {topic}: {mod} is not importable", file=sys.stderr)
                continue
            rec.create_subscription(cls, topic, lambda m, t=topic: cb(t, m), qos)
        try:
            deadline = time.monotonic() + match_timeout_s
            while rclpy.ok() and rec.count_publishers(TRACKS_TOPIC) == 0 and node.poll() is None:
                if time.monotonic() > deadline:
                    print(
                        f"[demo] no publisher of {TRACKS_TOPIC} after {match_timeout_s:.0f} s",
                        file=sys.stderr,
                    )
                    break
                rclpy.spin_once(rec, timeout_sec=0.05)
            # Discovery is two-way: give the node's side a moment to match this subscriber too.
            t_grace = time.monotonic() + 0.5
            while rclpy.ok() and time.monotonic() < t_grace:
                rclpy.spin_once(rec, timeout_sec=0.05)
            replay = start_replay()
            count["last"] = time.monotonic()
            while rclpy.ok():
                rclpy.spin_once(rec, timeout_sec=0.05)
                if node.poll() is not None:
                    print(f"fusion_node exited with {node.returncode}", file=sys.stderr)
                    break
                if replay.poll() is not None and time.monotonic() - count["last"] > idle_s:
                    break
        finally:
            rec.destroy_node()
            rclpy.shutdown()
    return count["n"]


def _stat(path: str) -> list[str] | None:
    try:
        return Path(path).read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu_s(pid: int, tid: int | None = None) -> float:
    """User + system CPU seconds of a running process and its running child processes (the node's
    ``worker: process``), or of its thread ``tid`` alone (Linux /proc); NaN when unreadable."""
    tick = os.sysconf("SC_CLK_TCK")
    f = _stat(f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat")
    if f is None:
        return float("nan")
    total = (int(f[11]) + int(f[12])) / tick
    if tid is None:
        for d in os.listdir("/proc"):
            c = _stat(f"/proc/{d}/stat") if d.isdigit() else None
            if c is not None and c[1] == str(pid):
                total += (int(c[11]) + int(c[12])) / tick
    return total


@dataclass
class LiveRun:
    outputs: int  # output messages recorded
    node_cpu_s: float  # the fusion node's CPU seconds (user + system) until it was stopped
    wall_s: float  # from starting the processes to the end of recording
    replay_cpu_s: float = float("nan")  # the replay process's CPU seconds (and the node's shutdown)
    recorder_cpu_s: float = float("nan")  # this process's (the recorder's) CPU seconds meanwhile
    # from the node's first output on (start-up, imports and the warm-up run on the main thread):
    node_running_cpu_s: float = float("nan")  # the whole node
    node_main_thread_cpu_s: float = float("nan")  # its executor thread (callbacks, timers)
    frames: int = 0  # track messages received: one per processed frame


def run_live(
    bag: Path,
    out_bag: Path,
    node_log: Path,
    detector: str,
    rate: float,
    params: list[str] | None = None,
    on_frame: Callable[[], None] | None = None,
    rig_cpus: set[int] | None = None,
) -> LiveRun:
    """``fusion_node`` and ``sensor-fusion replay`` of ``bag`` as separate processes over DDS (own
    domain, localhost), this process recording the node's outputs into ``out_bag``: the live path
    exactly as a user runs it (the demo, and bench/bench_live.py against the offline run).

    ``rig_cpus``: run the replay and this recorder on those CPUs only (Linux affinity), as sensor
    drivers and a logger would run beside the node on a vehicle's other cores; the node is left
    to the scheduler."""
    from .sim.recorder import scenario_from_bag

    config = scenario_from_bag(bag)["config"]
    datum = config["gps"]["datum"]
    if out_bag.exists():
        shutil.rmtree(out_bag)
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(random.randint(10, 99)))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    print(
        f"[demo] ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}: starting fusion_node (detection_mode {detector}) "
        f"and replay (rate {rate})"
    )
    t0 = time.monotonic()
    self0, children0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    log = open(node_log, "w")
    node = subprocess.Popen(
        [
            _bin("fusion_node"),
            "--ros-args",
            "-p",
            "use_sim_time:=true",
            "-p",  # reliable: best-effort delivery of 1.5 MB clouds loses fragments on a loaded host
            "lidar.qos:=reliable",
            "-p",
            f"ego.datum:=[{datum['lat_deg']}, {datum['lon_deg']}, {datum['alt_m']}]",
            "-p",
            f"detection_mode:={detector}",
            *[arg for p in params or [] for arg in ("-p", p)],
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )

    started: list[subprocess.Popen] = []

    def start_replay() -> subprocess.Popen:
        started.append(
            subprocess.Popen(
                [
                    _bin("sensor-fusion"),
                    "replay",
                    str(bag),
                    "--rate",
                    str(rate),
                    "--wait-for",
                    "/sensors/lidar/points,/sensors/imu",
                    "--wait-timeout",
                    "60",
                ],
                env=env,
                preexec_fn=(lambda: os.sched_setaffinity(0, rig_cpus)) if rig_cpus else None,
            )
        )
        return started[-1]

    cpu = main_cpu = float("nan")
    at_first: list[float] = []  # the node's CPU (process, executor thread) at its first output

    tracks = [0]

    def frame() -> None:
        tracks[0] += 1
        if not at_first:
            at_first.extend((_cpu_s(node.pid), _cpu_s(node.pid, node.pid)))
        if on_frame is not None:
            on_frame()

    affinity = os.sched_getaffinity(0)
    try:
        if rig_cpus:  # this thread, and the DDS threads rclpy.init starts from it
            os.sched_setaffinity(0, rig_cpus)
        topics = record_topics(list(config.get("radars", {}).get("names", [])))
        n = _record_until_done(out_bag, start_replay, node, on_frame=frame, topics=topics)
        cpu, main_cpu = _cpu_s(node.pid), _cpu_s(node.pid, node.pid)
    finally:
        os.sched_setaffinity(0, affinity)
        for proc in (*started, node):
            stop_process(proc)
        log.close()
    self1, children1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)

    def used(a, b) -> float:
        return (b.ru_utime + b.ru_stime) - (a.ru_utime + a.ru_stime)

    replay_cpu = used(children0, children1) - cpu  # (plus the node's shutdown, a fraction of a second)
    c0, m0 = at_first or (float("nan"), float("nan"))
    return LiveRun(
        n, cpu, time.monotonic() - t0, replay_cpu, used(self0, self1), cpu - c0, main_cpu - m0, tracks[0]
    )


def run_demo(a: argparse.Namespace) -> int:
    from .bag.io import bag_topics
    from .eval.bags import EVAL_STAGES, evaluate_bags
    from .eval.report import format_table
    from .progress import progress, stage_progress
    from .report.page import write_report
    from .sim.recorder import GT_OBJECTS, record, scenario_from_bag

    if a.rate is None:  # full rate whatever the detector (issue 16); the end says if frames were lost
        a.rate = 1.0
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    model = getattr(a, "lidar_model", None)
    bag = work / f"{a.scenario}_seed{a.seed}_{a.duration:g}s{'_' + model if model else ''}"
    if bag.exists() and (scenario_from_bag(bag) is None):
        shutil.rmtree(bag)
    if bag.exists():
        print(f"[demo] reusing {bag}")
    else:
        print(f"[demo] generating scenario '{a.scenario}' (seed {a.seed}, {a.duration:g} s) -> {bag}")
        with progress("simulate", a.duration, "s of data") as p:
            formats = {"lidar.model": model} if model else None
            info = record(
                a.scenario, a.seed, a.duration, bag, on_progress=p.update_to, sensor_formats=formats
            )
        print(info.summary())
    out_bag = work / "fusion_output"
    frames = bag_topics(bag).get(GT_OBJECTS, ("", None))[1]  # one truth message per LiDAR sweep
    with progress("replay", frames, "frames") as p:
        run = run_live(bag, out_bag, work / "fusion_node.log", a.detector, a.rate, a.param, on_frame=p.update)
    n = run.outputs
    print(f"[demo] recorded {n} output messages -> {out_bag} (node log: {work / 'fusion_node.log'})")
    if frames:
        print(
            f"[demo] the node processed {run.frames} of {frames} LiDAR sweeps at rate {a.rate:g} (node CPU "
            f"{run.node_running_cpu_s:.1f} s while running; load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} cores)"
            + ("" if run.frames >= frames else ": frames were lost (a busy host? see the latency table)")
        )
    if n == 0:
        print("[demo] the node produced no output; see its log", file=sys.stderr)
        return 1
    png = work / "bev.png"
    with stage_progress("evaluate", EVAL_STAGES) as on_stage:
        result = evaluate_bags(bag, out_bag, plot=png, on_stage=on_stage)
    print(format_table(result))
    print(f"[demo] BEV plot of ground truth vs tracks: {png}")
    with stage_progress("report", ("report data", "figures")) as on_stage:
        report = write_report(bag, out_bag, work / "report", result=result, on_stage=on_stage)
    print(f"[demo] HTML report: {report}")
    return 0
