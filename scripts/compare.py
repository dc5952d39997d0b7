#!/usr/bin/env python3
"""Score configurations against each other on generated scenarios (the README's comparison tables).

    .venv/bin/python scripts/compare.py --scenarios urban,highway,intersection,radar_clutter \
        --seeds 1,2,3 --variants full,baseline --duration 20 --workdir out/compare

Variants: ``full`` (config/fusion.yaml), ``baseline`` (config/baseline.yaml, AB3DMOT-style),
``no_radar`` / ``no_camera`` / ``lidar_only`` (full config with modalities withheld), ``bev``
(the BEV network's detections feed the tracker), ``bev_lidar_only`` (the network on LiDAR
alone), ``both`` (classical and BEV detections together).
Bags are generated once and cached in the work directory; prints a markdown table of
means over seeds per scenario and variant, and writes all results as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from sensor_fusion.bag.offline import run_bag
from sensor_fusion.config import from_flat, load_params_file
from sensor_fusion.eval.bags import evaluate_bags
from sensor_fusion.progress import progress
from sensor_fusion.sim.recorder import calibration_from_bag, record, scenario_from_bag

REPO = Path(__file__).resolve().parents[1]
# name -> (config file, modalities withheld, parameter overrides)
VARIANTS = {
    "full": ("fusion.yaml", set(), {}),
    "baseline": ("baseline.yaml", set(), {}),
    "no_radar": ("fusion.yaml", {"radar"}, {}),
    "no_camera": ("fusion.yaml", {"camera"}, {}),
    "lidar_only": ("fusion.yaml", {"radar", "camera"}, {}),
    "bev": ("fusion.yaml", set(), {"detection_mode": "bev"}),
    "bev_lidar_only": ("fusion.yaml", {"radar", "camera"}, {"detection_mode": "bev"}),
    "both": ("fusion.yaml", set(), {"detection_mode": "both"}),
}
METRICS = (
    "mota",
    "hota",
    "idsw",
    "velocity_rmse",
    "det_precision",
    "det_recall",
    "det_ap",
    "ego_position_rmse",
)


def run_one(bag: Path, variant: str, work: Path) -> dict:
    cfg_file, withhold, overrides = VARIANTS[variant]
    cfg = from_flat({**load_params_file(REPO / "config" / cfg_file), **overrides})
    d = scenario_from_bag(bag)["config"]["gps"]["datum"]
    if not cfg.ego.has_datum:
        cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
    out = work / f"{bag.name}__{variant}"
    if out.exists():
        shutil.rmtree(out)
    run_bag(bag, cfg, calibration_from_bag(bag), out, withhold=withhold)
    res = evaluate_bags(bag, out)
    shutil.rmtree(out)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="urban,highway,intersection,radar_clutter")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--variants", default="full,baseline")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--workdir", default="out/compare")
    a = ap.parse_args()
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    seeds = [int(s) for s in a.seeds.split(",")]
    variants = a.variants.split(",")
    jobs = [(scen, seed) for scen in a.scenarios.split(",") for seed in seeds]
    with progress("compare", len(jobs) * len(variants), "runs") as p:
        for scen, seed in jobs:
            bag = work / f"{scen}_seed{seed}_{a.duration:g}s"
            if not bag.exists():
                p.set_note(f"simulating {bag.name}")
                p.write(record(scen, seed, a.duration, bag).summary().splitlines()[0])
            for var in variants:
                p.set_note(f"{scen} seed {seed} {var}")
                r = run_one(bag, var, work)
                results.setdefault(scen, {}).setdefault(var, []).append({k: r.get(k) for k in METRICS})
                p.write(f"{scen} seed {seed} {var}: " + ", ".join(f"{k} {r.get(k)}" for k in METRICS))
                p.update()
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print("\n| scenario | variant | " + " | ".join(METRICS) + " |")
    print("|---|---|" + "---|" * len(METRICS))
    for scen, by_var in results.items():
        for var, rows in by_var.items():
            cells = []
            for k in METRICS:
                vals = [r[k] for r in rows if r[k] is not None]
                cells.append(f"{np.mean(vals):.3f}" if vals else "-")
            print(f"| {scen} | {var} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
