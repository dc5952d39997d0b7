#!/usr/bin/env python3
"""A many-seed sweep whose pipeline runs are kept, so the tracker can be re-scored in seconds.

``record`` generates each (scenario, seed) bag (as ``scripts/compare.py`` does) and runs the
pipeline once per variant with ``scripts/tracker_replay.py record`` (the tracker's inputs kept);
``score`` replays the current tracker over every recording (``tracker_replay.replay``) and prints,
per scenario and variant, the median and the worst seed of the scores (``compare.py``'s
``median_worst_table``). The tracker does not feed back into detection or ego, so a tracker
change is measured on the whole sweep without running the pipeline again:

    .venv/bin/python scripts/replay_sweep.py record --scenarios urban,highway,intersection,radar_clutter \
        --seeds 1-20 --variants full,baseline --duration 10 --workdir out/rsweep
    .venv/bin/python scripts/replay_sweep.py score --workdir out/rsweep
    .venv/bin/python scripts/replay_sweep.py score --workdir out/rsweep --variants full \
        --set tracker.velocity_gate=false --out scores_gate_off.json

``--first`` puts some (scenario:seed) jobs ahead of the seed-major order (a sweep cut short still
holds the bags one is analysing).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare
import tracker_replay

from sensor_fusion.sim.recorder import record

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"full": REPO / "config" / "fusion.yaml", "baseline": REPO / "config" / "baseline.yaml"}
FLAT = {"full": {}, "baseline": {}, "both": {"detection_mode": "both"}}


def _jobs(a: argparse.Namespace) -> list[tuple[str, int]]:
    seeds = compare._seeds(a.seeds)
    jobs = [(sc, s) for s in seeds for sc in a.scenarios.split(",")]  # seed-major
    first = [(f.split(":")[0], int(f.split(":")[1])) for f in (a.first.split(",") if a.first else [])]
    return [j for j in first if j in jobs] + [j for j in jobs if j not in first]


def do_record(a: argparse.Namespace) -> None:
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    for scen, seed in _jobs(a):
        bag = work / "bags" / f"{scen}_seed{seed}_{a.duration:g}s"
        for var in a.variants.split(","):
            dest = work / "replay" / f"{scen}_{seed}_{var}"
            if (dest / "calls.pkl").exists():
                continue
            if not bag.exists():
                print(record(scen, seed, a.duration, bag).summary().splitlines()[0], flush=True)
            cfg = CONFIGS.get(var, CONFIGS["full"])
            res = tracker_replay.record(bag, dest, cfg, FLAT[var])
            (dest / "recorded.json").write_text(json.dumps(res, default=float))
            print(f"{scen} seed {seed} {var} (recorded): {tracker_replay._line(res)}", flush=True)


def do_score(a: argparse.Namespace) -> None:
    work = Path(a.workdir)
    results: dict = {}
    for dest in sorted((work / "replay").glob("*/calls.pkl")):
        scen, seed, var = dest.parent.name.rsplit("_", 2)
        if scen not in a.scenarios.split(",") or var not in a.variants.split(","):
            continue
        r = tracker_replay.replay(dest.parent, tracker_replay._sets(a.set), rev=a.tracker_rev, frame=a.frame)
        row = {"seed": int(seed), **{k: r.get(k) for k in compare.METRICS}}
        results.setdefault(scen, {}).setdefault(var, []).append(row)
        if a.verbose:
            print(f"{scen} seed {seed} {var}: {tracker_replay._line(r)}", flush=True)
    (work / (a.out or "scores.json")).write_text(json.dumps(results, indent=1, default=float))
    print(compare.median_worst_table(results))
    for scen, by_var in results.items():  # which seed is the worst
        for var, rows in by_var.items():
            w = max(rows, key=lambda r: r["velocity_rmse"] or 0.0)
            print(f"{scen} {var}: worst velocity_rmse seed {w['seed']} ({w['velocity_rmse']:.3f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("record", "score"))
    ap.add_argument("--scenarios", default="urban,highway,intersection,radar_clutter")
    ap.add_argument("--seeds", default="1-20")
    ap.add_argument("--variants", default="full,baseline")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--workdir", default="out/rsweep")
    ap.add_argument("--first", help="scenario:seed,... recorded first")
    ap.add_argument("--set", action="append", help="score: tracker.KEY=VALUE for the replays")
    ap.add_argument("--tracker-rev", help="score: replay with this commit's tracking/ package")
    ap.add_argument(
        "--frame", choices=("world", "ego"), default="world", help="score: scoring frame (evaluate --frame)"
    )
    ap.add_argument("--out", help="score: results file in the workdir (default scores.json)")
    ap.add_argument("--verbose", action="store_true", help="score: print every recording's scores")
    a = ap.parse_args()
    (do_record if a.action == "record" else do_score)(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
