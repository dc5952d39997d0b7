"""Live vs offline per-frame pipeline time on the same bag (issue 16: ``live_over_offline_p50`` <= 1.2).

Offline: ``sensor-fusion run`` on the bag (its own process: the pipeline alone, as fast as it goes),
and again with ``--rate`` (the same, messages handed over at the bag's rate: the idle gaps between
frames a live node has, without DDS; ``live_over_paced_offline_p50`` is what DDS, the callbacks
and the GIL add on top).
Live: ``fusion_node`` fed by ``sensor-fusion replay`` over DDS at ``--rate`` (default 1), outputs
recorded as the demo does (``sensor_fusion.demo.run_live``). Both write the pipeline's per-frame
stage times on ``/fusion_node/timing`` (``FusionPipeline.process`` -> ``StageTimer``); the figure is
the ratio of the two medians of ``total`` (wall time from the frame's first stage to its last).
The node's and the offline run's CPU seconds and the host's load average go beside the wall-clock
figures: on a loaded host the live wall time includes waiting for a core.

The bag (``urban``, seed 1, ``--duration`` s, ``--lidar-model``) is generated once under
``out/bench/bags/``.

    .venv/bin/python bench/bench_live.py [--duration 20] [--detector classical] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchutil import Figures

from sensor_fusion.demo import run_live
from sensor_fusion.eval.bags import read_topics
from sensor_fusion.host_latency import hold_cpu_latency
from sensor_fusion.sim.recorder import record

REPO = Path(__file__).resolve().parents[1]
TIMING = "/fusion_node/timing"


def frame_times(out_bag: Path) -> dict[str, np.ndarray]:
    """Stage -> seconds per frame, from the timing messages of an output bag."""
    samples: dict[str, list[float]] = {}
    for st in read_topics(out_bag, [TIMING])[TIMING]:
        for kv in st.values:
            if kv.key != "missing":
                samples.setdefault(kv.key, []).append(float(kv.value))
    return {k: np.asarray(v) for k, v in samples.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of generated drive")
    ap.add_argument("--detector", default="classical", choices=("classical", "bev", "both"))
    ap.add_argument("--lidar-model", default="ideal", help="sim/lidar_models.py key (os1_128: 128 beams)")
    ap.add_argument("--rate", type=float, default=1.0, help="replay rate of the live run")
    ap.add_argument("--param", action="append", help="extra node parameter NAME:=VALUE (live run)")
    ap.add_argument("--bag", help="use this generated bag instead (its own scenario, seed, LiDAR)")
    ap.add_argument("--repeat", type=int, default=1, help="offline/live pairs, alternated")
    ap.add_argument("--name", default="live", help="figures file out/bench/<name>.json")
    ap.add_argument(
        "--rig-cpus",
        help="CPU ids (e.g. 0) for the replay and the recorder of the live run; the node is not pinned",
    )
    ap.add_argument(
        "--cpu-dma-latency",
        type=int,
        default=-1,
        help="hold this CPU wake-up latency request (us, PM QoS) through every run, offline and live "
        "alike (host_latency.py; needs root); -1: the host as it is",
    )
    a = ap.parse_args()
    latency = hold_cpu_latency(a.cpu_dma_latency) if a.cpu_dma_latency >= 0 else None
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(10, 99)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    bag = (
        Path(a.bag)
        if a.bag
        else REPO / "out" / "bench" / "bags" / f"urban_s1_{a.duration:g}s_{a.lidar_model}"
    )
    if not bag.exists():
        print(f"generating {bag} (once)")
        record("urban", 1, a.duration, bag, sensor_formats={"lidar.model": a.lidar_model})
    fig = Figures(a.name)
    fig.add("bag", bag.name if a.bag else f"urban seed 1, {a.duration:g} s, lidar {a.lidar_model}")
    fig.add("detector", a.detector)
    fig.add("repeats", a.repeat)
    fig.add("rig_cpus", a.rig_cpus or "all")
    fig.add("cpu_dma_latency_us", a.cpu_dma_latency)
    pairs: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = []
    cpu: dict[str, list[float]] = {
        k: [] for k in ("offline_cpu_s", "offline_wall_s", "live_node_cpu_s", "live_wall_s", "load")
    }
    cpu.update(
        live_replay_cpu_s=[],
        live_recorder_cpu_s=[],
        live_node_executor_thread_cpu_s=[],
        live_node_running_cpu_s=[],
    )
    paced_times: list[dict[str, np.ndarray]] = []
    for _ in range(a.repeat):  # alternated, so a change in the host's load hits both sides alike
        tmp = Path(tempfile.mkdtemp(prefix="bench_live_"))
        try:
            c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            sf = str(Path(sys.executable).parent / "sensor-fusion")
            cmd = [sf, "run", "--bag", str(bag), "--detector", a.detector]
            subprocess.run([*cmd, "--out", str(tmp / "offline")], check=True, stdout=subprocess.DEVNULL)
            cpu["offline_wall_s"].append(time.perf_counter() - t0)
            c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu["offline_cpu_s"].append((c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime))
            # the same pipeline alone, messages handed over at the bag's rate: the idle gaps between
            # frames that a live node has (cold caches, idle vCPUs), without DDS, callbacks or a GIL
            paced = [*cmd, "--out", str(tmp / "paced"), "--rate", str(a.rate)]
            subprocess.run(paced, check=True, stdout=subprocess.DEVNULL)
            rig = {int(c) for c in a.rig_cpus.split(",")} if a.rig_cpus else None
            run = run_live(bag, tmp / "live", tmp / "node.log", a.detector, a.rate, a.param, rig_cpus=rig)
            cpu["live_node_cpu_s"].append(run.node_cpu_s)
            cpu["live_wall_s"].append(run.wall_s)
            cpu["live_replay_cpu_s"].append(run.replay_cpu_s)
            cpu["live_recorder_cpu_s"].append(run.recorder_cpu_s)
            cpu["live_node_executor_thread_cpu_s"].append(run.node_main_thread_cpu_s)
            cpu["live_node_running_cpu_s"].append(run.node_running_cpu_s)
            cpu["load"].append(os.getloadavg()[0])
            pairs.append((frame_times(tmp / "offline"), frame_times(tmp / "live")))
            paced_times.append(frame_times(tmp / "paced"))
        finally:
            if os.environ.get("SF_BENCH_KEEP"):
                print(f"outputs kept in {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
        if "total" not in pairs[-1][1] or "total" not in pairs[-1][0]:
            print("no timing from one of the runs (see the node log)", file=sys.stderr)
            return 1
    t_off = {k: np.concatenate([p[0][k] for p in pairs if k in p[0]]) for k in pairs[0][0]}
    t_live = {k: np.concatenate([p[1][k] for p in pairs if k in p[1]]) for k in pairs[0][1]}
    stages = sorted(set(t_off) & set(t_live), key=lambda k: (not k.startswith("total"), k))
    n_off, n_live = len(t_off["total"]), len(t_live["total"])
    print(f"{a.detector} on {bag.name}, {a.repeat} run(s) each: offline {n_off} frames, live {n_live}")
    print(f"{'stage':>22} {'off p50':>8} {'live p50':>8} {'off p99':>8} {'live p99':>8}  ms")
    for k in stages:
        o, li = np.percentile(t_off[k], [50, 99]) * 1e3, np.percentile(t_live[k], [50, 99]) * 1e3
        print(f"{k:>22} {o[0]:8.1f} {li[0]:8.1f} {o[1]:8.1f} {li[1]:8.1f}")
        fig.add(f"offline_{k}_p50_ms", o[0])
        fig.add(f"live_{k}_p50_ms", li[0])
        if k.startswith("total"):
            fig.add(f"offline_{k}_p99_ms", o[1])
            fig.add(f"live_{k}_p99_ms", li[1])
    # the figure: median over the alternated pairs of (live p50 / offline p50) of the frame's wall time
    ratios = [float(np.median(li["total"]) / np.median(o["total"])) for o, li in pairs]
    fig.add("live_over_offline_p50", float(np.median(ratios)))
    if "total_cpu" in t_off and "total_cpu" in t_live:  # CPU per frame: the work, without the waiting
        fig.add(
            "live_over_offline_cpu_p50", float(np.median(t_live["total_cpu"]) / np.median(t_off["total_cpu"]))
        )
    # live against the same pipeline paced at the bag's rate: what DDS, callbacks and the GIL add
    paced_ratios = [
        float(np.median(li["total"]) / np.median(pc["total"])) for (_o, li), pc in zip(pairs, paced_times)
    ]
    fig.add(
        "paced_offline_total_p50_ms",
        float(np.median(np.concatenate([p["total"] for p in paced_times]))) * 1e3,
    )
    fig.add("live_over_paced_offline_p50", float(np.median(paced_ratios)))
    fig.add("offline_frames_per_run", n_off / a.repeat)
    fig.add("live_frames_per_run", n_live / a.repeat)
    for k, v in cpu.items():
        fig.add(f"{k}_median" if k != "load" else "load_avg_1min_median", float(np.median(v)))
    print(
        f"live_over_offline_p50 = {np.median(ratios):.2f} (per run: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(
        f"live_over_paced_offline_p50 = {np.median(paced_ratios):.2f} "
        f"(per run: {', '.join(f'{r:.2f}' for r in paced_ratios)}; paced offline p50 "
        f"{np.median(np.concatenate([p['total'] for p in paced_times])) * 1e3:.1f} ms)"
    )
    fig.write()
    if latency is not None:
        latency.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
