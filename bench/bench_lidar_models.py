"""Benchmark the LiDAR beam tables against the ideal sensor (not a unit test).

One ``urban`` world (seed 1), 20 sweeps spread over its first 10 s, cast with each model of
``sim/lidar_models.py``; prints per model the median wall and CPU time per sweep, the ratio to
the ideal sensor (the baseline, same process), points per sweep, the farthest ground return and
the mean intensity. CPU time is the steadier number on a shared machine.

    .venv/bin/python bench/bench_lidar_models.py [--sweeps 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sensor_fusion.config import default_share_dir
from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.sim.lidar import simulate_lidar
from sensor_fusion.sim.lidar_models import LIDAR_MODELS
from sensor_fusion.sim.scenarios import model_params, scenario_config, stream_rng
from sensor_fusion.sim.world import World


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweeps", type=int, default=20)
    a = ap.parse_args()
    cfg = scenario_config("urban", {"world": {"duration_s": 12.0}})
    world = World(cfg, 1)
    cal = load_calibration(default_share_dir() / "config" / "calibration.yaml")
    T_bl = cal.T_base_from(cfg["lidar"]["frame"])
    base = {k: v for k, v in model_params(cfg["lidar"]).items()}
    stamps = world.t0_ns + np.linspace(0, 10e9, a.sweeps).astype(np.int64)
    rows = []
    for name in ("ideal", *LIDAR_MODELS):
        lc = {**base, "model": name}
        simulate_lidar(world, int(stamps[0]), T_bl, lc, stream_rng(1, "lidar", 0))  # warm-up (numba, cache)
        wall, cpu, pts, reach, inten = [], [], [], [], []
        for k, st in enumerate(stamps):
            t0, c0 = time.perf_counter(), time.thread_time()
            s = simulate_lidar(world, int(st), T_bl, lc, stream_rng(1, "lidar", k))
            wall.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
            ground = s["actor_id"] < 0
            pts.append(len(s["xyz"]))
            reach.append(float(np.hypot(s["xyz"][ground, 0], s["xyz"][ground, 1]).max()))
            inten.append(float(s["intensity"].mean()))
        rows.append(
            (name, np.median(wall), np.median(cpu), np.median(pts), np.median(reach), np.median(inten))
        )
    c0 = rows[0][2]
    print(f"urban seed 1, {a.sweeps} sweeps over 10 s; medians")
    head = ("model", "wall ms", "cpu ms", "x ideal", "points", "ground m", "intens")
    print(f"{head[0]:14s} " + " ".join(f"{h:>8s}" for h in head[1:]))
    for name, w, c, p, r, i in rows:
        print(f"{name:14s} {1e3 * w:8.1f} {1e3 * c:8.1f} {c / c0:8.2f} {p:8.0f} {r:8.1f} {i:8.1f}")


if __name__ == "__main__":
    main()
