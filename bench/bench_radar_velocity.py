"""Benchmark the radar ego velocity (``ego/radar_velocity.py``) on simulated scans.

Run: ``.venv/bin/python bench/bench_radar_velocity.py [--runs N] [--scans M]``. Simulates M scans
of the ``radar_clutter`` scenario (rich static clutter, the most returns per scan) with the true
actor boxes as the detector output, and times ``radar_ego_velocity`` per scan (median over scans
of the median of N runs) with the shipped consensus by places (``consensus_cell_m`` 8) against the
baseline in the same process, the same function counting returns (``consensus_cell_m`` 0).
"""

from __future__ import annotations

import argparse

import numpy as np
from benchutil import Figures, median_time

from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.ego.radar_velocity import ObjectBoxes, RadarEgoVelocityConfig, radar_ego_velocity
from sensor_fusion.sim.radar import simulate_radar_with_truth
from sensor_fusion.sim.scenarios import scenario_config
from sensor_fusion.sim.world import World


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--scans", type=int, default=20)
    args = ap.parse_args()

    T = load_calibration("config/calibration.yaml").T_base_from("radar_front")
    cfg = scenario_config("radar_clutter")
    world = World(cfg, seed=0)
    rng = np.random.default_rng(0)
    scans = []
    for k in range(args.scans):
        stamp = world.t0_ns + int(k * 0.5e9)
        scan, _ = simulate_radar_with_truth(world, stamp, T, cfg["radars"], rng)
        ego = world.ego_at(stamp)
        boxes = ObjectBoxes(*world.actor_boxes_in_base(stamp))
        scans.append((scan, ego.yaw_rate, boxes))

    def time_config(conf: RadarEgoVelocityConfig) -> list[float]:
        return [
            median_time(
                lambda s=s, w=w, b=b: radar_ego_velocity(
                    s.xyz, s.radial_velocity, T, w, conf, np.random.default_rng(0), b
                ),
                args.runs,
            )
            for s, w, b in scans
        ]

    places = time_config(RadarEgoVelocityConfig())
    returns = time_config(RadarEgoVelocityConfig(consensus_cell_m=0.0))
    n_ret = [len(s) for s, _, _ in scans]
    p_ms, r_ms = 1e3 * float(np.median(places)), 1e3 * float(np.median(returns))
    print(f"{len(scans)} radar_clutter scans: returns median {np.median(n_ret):.0f} (max {max(n_ret)})")
    print(f"radar_ego_velocity, consensus by places (shipped): median {p_ms:.3f} ms")
    print(f"radar_ego_velocity, consensus by returns (baseline): median {r_ms:.3f} ms ({p_ms / r_ms:.2f}x)")
    fig = Figures("radar_velocity")
    fig.add("returns_per_scan_median", float(np.median(n_ret)))
    fig.add("places_median_ms", p_ms)
    fig.add("returns_baseline_median_ms", r_ms)
    fig.add("places_over_returns_x", p_ms / r_ms)
    fig.write()


if __name__ == "__main__":
    main()
