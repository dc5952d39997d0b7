"""Real-time factor of ``sensor-fusion run`` on a 60 s generated bag, shipped config, per detector.

The bag (``urban``, seed 1, 60 s: 64-beam LiDAR at 10 Hz, two cameras, radar, IMU, GPS) is made
once and cached under ``out/bench/``. Each mode runs the whole offline path in this process (bag
reading, decoding, the pipeline, output messages, the MCAP writer) as ``sensor-fusion run`` does.
Real-time factor = bag duration / wall time: above 1 the stack keeps up with the sensors on this
machine with nothing else to do (the live node also pays for DDS; see docs/benchmarks.md).

    .venv/bin/python bench/bench_run.py [--duration 60] [--modes classical,both]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from benchutil import Figures

from sensor_fusion.bag.offline import run_bag
from sensor_fusion.config import from_flat, load_params_file
from sensor_fusion.sim.recorder import calibration_from_bag, record, scenario_from_bag

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of generated drive")
    ap.add_argument("--modes", default="classical,both", help="detection modes to time")
    a = ap.parse_args()
    bag = REPO / "out" / "bench" / "bags" / f"urban_s1_{a.duration:g}s"
    if not bag.exists():
        print(f"generating {bag} (once)")
        record("urban", 1, a.duration, bag)
    base = load_params_file(REPO / "config" / "fusion.yaml")
    d = scenario_from_bag(bag)["config"]["gps"]["datum"]
    cal = calibration_from_bag(bag)
    fig = Figures("run")
    fig.add("bag_duration_s", a.duration)
    print(f"sensor-fusion run on {bag.name} ({a.duration:g} s of urban, seed 1)")
    print(f"{'mode':>10} {'frames':>7} {'wall s':>8} {'cpu s':>8} {'ms/frame':>9} {'real-time factor':>17}")
    for mode in a.modes.split(","):
        cfg = from_flat({**base, "detection_mode": mode})
        cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
        out = Path(tempfile.mkdtemp()) / "out"
        t0, c0 = time.perf_counter(), time.process_time()
        summary = run_bag(bag, cfg, cal, out)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        shutil.rmtree(out.parent, ignore_errors=True)
        rtf = a.duration / wall
        per_frame = 1e3 * wall / max(summary.frames, 1)
        print(f"{mode:>10} {summary.frames:>7} {wall:>8.1f} {cpu:>8.1f} {per_frame:>9.1f} {rtf:>16.2f}x")
        fig.add(f"{mode}_frames", summary.frames)
        fig.add(f"{mode}_wall_s", wall)
        fig.add(f"{mode}_cpu_s", cpu)
        fig.add(f"{mode}_ms_per_frame", per_frame)
        fig.add(f"{mode}_real_time_factor_x", rtf)
    fig.write()


if __name__ == "__main__":
    main()
