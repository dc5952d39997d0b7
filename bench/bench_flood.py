"""Floods and slow consumers, measured on a live ``fusion_node`` over DDS (issue 17 item 4).

The node runs as its own process (LiDAR only, shipped parameters otherwise). This script publishes
synthetic sweeps (~10k points, three moving boxes) and measures, per output message, the latency
from the sweep's stamp (wall clock at publication) to its tracks arriving here:

1. normal: 10 Hz for ``--normal`` s (the baseline);
2. flood: 10x the rate (100 Hz) for ``--flood`` s;
3. normal again: how long until the latency is back (recovery: the first instant after which every
   output for a second is within 2x the baseline p99, and never above 50 ms more);
4. a burst of 1,000 sweeps back to back, then normal again (same recovery measure).

Throughout, a second subscriber to the node's tracks never reads (it is never spun): DDS must not
let it hold the node back or grow its memory. The node's resident memory is sampled every 0.25 s
from /proc; its own drop counters come from /diagnostics. Figures also go to
``out/bench/flood.json``.

    .venv/bin/python bench/bench_flood.py [--normal 10] [--flood 30] [--after 10]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from benchutil import Figures

REPO = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--normal", type=float, default=10.0, help="seconds at 10 Hz before the flood")
    ap.add_argument("--flood", type=float, default=30.0, help="seconds at 100 Hz")
    ap.add_argument("--after", type=float, default=10.0, help="seconds at 10 Hz after each flood")
    ap.add_argument("--burst", type=int, default=1000, help="sweeps sent back to back")
    a = ap.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(10, 99)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import PointCloud2

    from sensor_fusion.demo import stop_process
    from sensor_fusion.ros.convert import encode_cloud, time_msg
    from sensor_fusion.sim.boxes import MovingBox, sweep
    from sensor_fusion_msgs.msg import TrackedObjectArray

    params = {
        "cameras": {"names": [""]},
        "radars": {"names": [""]},
        "imu": {"enabled": False},
        "gps": {"enabled": False},
        "diagnostics_period_s": 0.5,
        "calibration_file": str(REPO / "config" / "calibration.yaml"),
    }
    tmp = Path(tempfile.mkdtemp())
    (tmp / "p.yaml").write_text(yaml.safe_dump({"fusion_node": {"ros__parameters": params}}))
    log = open(tmp / "node.log", "w+")
    node_bin = Path(sys.executable).parent / "fusion_node"
    proc = subprocess.Popen(
        [str(node_bin), "--ros-args", "--params-file", str(tmp / "p.yaml")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    rclpy.init()
    h = Node("flood_bench")
    pub = h.create_publisher(PointCloud2, "/sensors/lidar/points", qos_profile_sensor_data)
    got: list[tuple[float, float]] = []  # (receive time, latency s)
    diags: list[DiagnosticArray] = []

    def on_tracks(m) -> None:
        now = time.time()
        got.append((now, now - (m.header.stamp.sec + m.header.stamp.nanosec * 1e-9)))

    h.create_subscription(TrackedObjectArray, "/fusion_node/tracked_objects", on_tracks, 1000)
    h.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 100)
    lazy = Node("never_reads")  # never spun: its reader's history fills and stays full
    lazy.create_subscription(TrackedObjectArray, "/fusion_node/tracked_objects", lambda m: None, 10)

    boxes = [
        MovingBox((12.0, -6.0, 0.75), (4.5, 1.8, 1.5), (0.0, 3.0)),
        MovingBox((20.0, 4.0, 0.75), (4.5, 1.8, 1.5), (-4.0, 0.0)),
        MovingBox((-15.0, -3.5, 1.6), (9.0, 2.5, 3.2), (2.0, 0.0)),
    ]
    rng = np.random.default_rng(0)
    clouds = []
    for k in range(50):
        xyz = sweep(boxes, k * 0.1, rng)
        clouds.append(encode_cloud(1, "lidar_top", {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]}))
    rss: list[tuple[float, float]] = []
    k = 0

    def spin_until(t_end: float) -> None:
        while time.time() < t_end:
            rclpy.spin_once(h, timeout_sec=0.002)

    def publish_for(seconds: float, rate_hz: float) -> None:
        nonlocal k
        t_next, t_end = time.time(), time.time() + seconds
        while time.time() < t_end:
            m = clouds[k % len(clouds)]
            m.header.stamp = time_msg(time.time_ns())
            pub.publish(m)
            k += 1
            if not rss or time.time() - rss[-1][0] > 0.25:
                rss.append((time.time(), rss_mb(proc.pid)))
            t_next += 1.0 / rate_hz
            spin_until(t_next)

    try:
        deadline = time.time() + 180
        while pub.get_subscription_count() == 0 and time.time() < deadline:
            rclpy.spin_once(h, timeout_sec=0.1)
        if pub.get_subscription_count() == 0:
            print("fusion_node never subscribed", file=sys.stderr)
            return 1
        publish_for(3.0, 10.0)  # warm-up (kernels, discovery of the outputs)
        marks = {"normal": time.time()}
        publish_for(a.normal, 10.0)
        marks["flood"] = time.time()
        publish_for(a.flood, 100.0)
        marks["after_flood"] = time.time()
        publish_for(a.after, 10.0)
        marks["burst"] = time.time()
        for _ in range(a.burst):
            m = clouds[k % len(clouds)]
            m.header.stamp = time_msg(time.time_ns())
            pub.publish(m)
            k += 1
        rss.append((time.time(), rss_mb(proc.pid)))
        marks["after_burst"] = time.time()
        publish_for(a.after, 10.0)
        marks["end"] = time.time()
        spin_until(time.time() + 2.0)
    finally:
        h.destroy_node()
        lazy.destroy_node()
        rclpy.shutdown()
        stop_process(proc)

    t = np.array([g[0] for g in got])
    lat = np.array([g[1] for g in got]) * 1e3

    def phase(a_: str, b_: str) -> np.ndarray:
        return lat[(t >= marks[a_]) & (t < marks[b_])]

    base = phase("normal", "flood")
    base_p50, base_p99 = float(np.percentile(base, 50)), float(np.percentile(base, 99))
    ok_ms = max(2.0 * base_p99, base_p99 + 50.0)

    def recovery(start: str, end: str) -> float:
        """Seconds from ``start`` until every output for the next second is within ok_ms."""
        sel = (t >= marks[start]) & (t < marks[end])
        ts, ls = t[sel], lat[sel]
        for i in range(len(ts)):
            win = (ts >= ts[i]) & (ts < ts[i] + 1.0)
            if ts[i] + 1.0 <= marks[end] and (ls[win] <= ok_ms).all():
                return float(ts[i] - marks[start])
        return float("nan")

    def rss_in(a_: str, b_: str) -> np.ndarray:
        return np.array([r for tt, r in rss if marks[a_] <= tt < marks[b_]])

    flood = phase("flood", "after_flood")
    lidar = {}
    for d in diags[-5:]:
        for s in d.status:
            if s.name.endswith(": lidar") or s.name.endswith(": pipeline"):
                lidar.update({kv.key: kv.value for kv in s.values})
    fig = Figures("flood")
    fig.add("baseline_latency_p50_ms", base_p50)
    fig.add("baseline_latency_p99_ms", base_p99)
    fig.add("flood_rate_hz", 100.0)
    fig.add("flood_s", a.flood)
    fig.add("flood_outputs_per_s", len(flood) / a.flood)
    fig.add("flood_latency_p50_ms", float(np.percentile(flood, 50)) if len(flood) else float("nan"))
    fig.add("flood_latency_p99_ms", float(np.percentile(flood, 99)) if len(flood) else float("nan"))
    fig.add("recovery_after_flood_s", recovery("after_flood", "burst"))
    fig.add("burst_messages", a.burst)
    fig.add("recovery_after_burst_s", recovery("after_burst", "end"))
    fig.add("rss_mb_baseline_median", float(np.median(rss_in("normal", "flood"))))
    fig.add("rss_mb_flood_peak", float(np.max(rss_in("flood", "after_flood"))))
    fig.add("rss_mb_end", rss[-1][1])
    for key in ("dropped_overflow", "dropped_late_anchor", "decode_errors", "worker_queue_drops", "received"):
        if key in lidar:
            fig.add(f"node_{key}", int(float(lidar[key])))
    fig.add("published", k)
    fig.add("outputs_received", len(got))
    for key, v in fig.values.items():
        print(f"{key:32s} {v}")
    fig.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
