#!/usr/bin/env python3
"""Print the dead-sensor matrix (docs/node.md): what the pipeline publishes for each of the 31
subsets of {LiDAR, radar, cameras, IMU, GPS}, silent from the start and dying mid-run.

    .venv/bin/python scripts/sensor_matrix.py [--scenario urban] [--seed 3] [--duration 4] [--die-at 1.5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from sensor_fusion.bag.sensor_matrix import markdown, run_matrix
from sensor_fusion.config import default_share_dir, from_flat, load_params_file
from sensor_fusion.sim.recorder import calibration_from_bag, record, scenario_from_bag


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="urban")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--die-at", type=float, default=1.5, help="seconds after the start the others die")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / "bag"
        record(a.scenario, a.seed, a.duration, bag)
        cfg = from_flat(load_params_file(default_share_dir() / "config" / "fusion.yaml"))
        d = scenario_from_bag(bag)["config"]["gps"]["datum"]
        cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
        cal = calibration_from_bag(bag)
        for die, title in ((None, "silent from the start"), (a.die_at, f"dying {a.die_at:g} s into the run")):
            print(f"\n### Other sensors {title} ({a.scenario}, seed {a.seed}, {a.duration:g} s)\n")
            print(markdown(run_matrix(bag, cfg, cal, die)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
