#!/usr/bin/env python3
"""The radar ego velocity alone, on the generator's scans, when the detector misses objects.

For each scenario and seed, every second radar scan of the first 10 s is simulated with its truth
(``simulate_radar_with_truth``) and handed to ``radar_ego_velocity`` three ways: with every actor's
true box as the detector output, with one actor within 60 m ahead left out (the detector missed
it), and with no boxes. Each way runs with every ``--cells`` value of ``consensus_cell_m`` (0:
count returns, as before places were counted). It prints, per case, the fraction of scans that
gave a speed, how many of those are off by more than 0.3 m/s (the RANSAC inlier threshold) and
the 95th percentile of the error:

    .venv/bin/python scripts/radar_velocity_eval.py --scenarios urban,highway,intersection --seeds 0-2

A wrong speed reaches the ego filter (its chi-square gate is all that stands between them); no
speed only leaves the filter to the IMU and GNSS for that scan.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.ego.radar_velocity import ObjectBoxes, RadarEgoVelocityConfig, radar_ego_velocity
from sensor_fusion.sim.radar import simulate_radar_with_truth
from sensor_fusion.sim.scenarios import scenario_config
from sensor_fusion.sim.world import World

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # scripts/compare.py: the seed-list syntax the sweep scripts share

REPO = Path(__file__).resolve().parents[1]
SCANS_PER_S = 13  # the generator's radar rate


def _boxes(centers: np.ndarray, sizes: np.ndarray, yaw: np.ndarray) -> ObjectBoxes:
    return ObjectBoxes(centers, sizes, yaw)


def evaluate(scenarios: list[str], seeds: list[int], cells: list[float]) -> dict[tuple, np.ndarray]:
    """{(scenario, case, cell_m): speed errors, NaN where the scan gave none}."""
    T = load_calibration(REPO / "config" / "calibration.yaml").T_base_from("radar_front")
    errors: dict[tuple, list[float]] = {}
    for scen in scenarios:
        cfg = scenario_config(scen)
        for seed in seeds:
            world = World(cfg, seed=seed)
            rng = np.random.default_rng(seed)
            for k in range(0, 10 * SCANS_PER_S, 2):
                stamp = world.t0_ns + int(k * 1e9 / SCANS_PER_S)
                scan, _ = simulate_radar_with_truth(world, stamp, T, cfg["radars"], rng)
                ego = world.ego_at(stamp)
                cen, lw, yaw = world.actor_boxes_in_base(stamp)
                ahead = np.flatnonzero((np.hypot(cen[:, 0], cen[:, 1]) < 60.0) & (cen[:, 0] > 0.0))
                keep = np.ones(len(cen), bool)
                if ahead.size:
                    keep[rng.choice(ahead)] = False
                cases = {
                    "true boxes": _boxes(cen, lw, yaw),
                    "one missed": _boxes(cen[keep], lw[keep], yaw[keep]),
                    "no boxes": _boxes(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)),
                }
                for case, boxes in cases.items():
                    for cell in cells:
                        conf = RadarEgoVelocityConfig(consensus_cell_m=cell)
                        r = np.random.default_rng(k)
                        w = ego.yaw_rate
                        est = radar_ego_velocity(scan.xyz, scan.radial_velocity, T, w, conf, r, boxes)
                        err = np.nan if est is None else float(est[0][0] - ego.speed)
                        errors.setdefault((scen, case, cell), []).append(err)
    return {k: np.array(v) for k, v in errors.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="urban,highway,intersection,radar_clutter,urban_clutter")
    ap.add_argument("--seeds", default="0-2", help="e.g. 0-2 or 0,5,7")
    ap.add_argument("--cells", default="0,8", help="consensus_cell_m values, m (0: count returns)")
    a = ap.parse_args()
    cells = [float(c) for c in a.cells.split(",")]
    res = evaluate(a.scenarios.split(","), compare._seeds(a.seeds), cells)
    print("| scenario | detector boxes | consensus_cell_m | scans | with a speed | off > 0.3 m/s | p95 |")
    print("|---|---|---|---|---|---|---|")
    for (scen, case, cell), e in res.items():
        ok = np.isfinite(e)
        p95 = f"{np.percentile(np.abs(e[ok]), 95):.2f}" if ok.any() else "-"
        wrong = int((np.abs(e[ok]) > 0.3).sum())
        print(f"| {scen} | {case} | {cell:g} | {len(e)} | {ok.mean():.2f} | {wrong} | {p95} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
