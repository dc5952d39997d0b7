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

``--detection-stream`` scores the tracker library alone on a realistic detector's output
(``sensor-fusion simulate --detections-only``, sim/detection_stream.py) instead of running the
pipeline: each variant's tracker block (``full``: config/fusion.yaml, ``baseline``:
config/baseline.yaml, or any parameters file given as a path) tracks the stream's boxes, truth
outside the stream's field of view is don't-care (``dontcare``) or unlabelled, so that tracks
published there are false positives as on a camera-view benchmark (``fp``; ``--outside`` picks,
both by default; see eval/stream.py); prints per scenario, variant and mode the
median and the worst seed of MOTA, HOTA, ID switches, IDF1, precision, recall and velocity RMSE:

    .venv/bin/python scripts/compare.py --detection-stream --scenarios urban,highway \
        --seeds 401-405 --variants full,baseline --duration 20 --workdir out/compare_stream
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
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


STREAM_METRICS = ("mota", "hota", "idsw", "idf1", "precision", "recall", "velocity_rmse")
WORST = {"idsw": max, "velocity_rmse": max}  # the worst seed: the highest error; the lowest score otherwise


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def stream_main(a: argparse.Namespace) -> None:
    from sensor_fusion.eval.stream import read_stream_bag, score_stream, tracker_config
    from sensor_fusion.sim.detection_stream import DetectionStreamConfig

    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    configs = {}
    for var in a.variants.split(","):
        path = REPO / "config" / VARIANTS[var][0] if var in VARIANTS else Path(var)
        configs[var] = tracker_config(path)
    results: dict = {}
    for scen in a.scenarios.split(","):
        for seed in _seeds(a.seeds):
            bag = work / f"{scen}_seed{seed}_{a.duration:g}s_stream"
            if not bag.exists():
                info = record(
                    scen, seed, a.duration, bag, detection_stream=DetectionStreamConfig(), sensors=False
                )
                print(info.summary().splitlines()[0], flush=True)
            data = read_stream_bag(bag)
            for var, cfg in configs.items():
                for mode in a.outside.split(","):
                    r = score_stream(data, cfg, outside=mode)
                    results.setdefault(scen, {}).setdefault(f"{var} [{mode}]", []).append(
                        {k: r[k] for k in STREAM_METRICS}
                    )
                    line = ", ".join(f"{k} {r[k]:.3f}" for k in STREAM_METRICS)
                    print(f"{scen} seed {seed} {var} [{mode}]: {line}", flush=True)
    (work / "results_stream.json").write_text(json.dumps(results, indent=1))
    cols = " | ".join(f"{k} median (worst)" for k in STREAM_METRICS)
    print(f"\n| scenario | variant [outside] | {cols} |")
    print("|---|---|" + "---|" * len(STREAM_METRICS))
    for scen, by_var in results.items():
        for var, rows in by_var.items():
            cells = []
            for k in STREAM_METRICS:
                vals = np.array([r[k] for r in rows], np.float64)
                worst = WORST.get(k, min)(vals)
                fmt = "{:.0f}" if k == "idsw" else "{:.3f}"
                cells.append(f"{fmt.format(np.median(vals))} ({fmt.format(worst)})")
            print(f"| {scen} | {var} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="urban,highway,intersection,radar_clutter")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--variants", default="full,baseline")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--workdir", default="out/compare")
    ap.add_argument("--detection-stream", action="store_true", help="score trackers on the detection stream")
    ap.add_argument(
        "--outside", default="dontcare,fp", help="stream mode: truth outside the view is dontcare and/or fp"
    )
    ap.add_argument("--workers", type=int, default=1, help="bags run in parallel (processes)")
    ap.add_argument("--drop-bags", action="store_true", help="delete each generated bag once scored (disk)")
    ap.add_argument("--seed-major", action="store_true", help="run seed by seed across scenarios")
    a = ap.parse_args()
    if a.detection_stream:
        stream_main(a)
        return
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    variants = a.variants.split(",")
    jobs = [
        (scen, seed, a.duration, variants, str(work), a.drop_bags)
        for scen in a.scenarios.split(",")
        for seed in _seeds(a.seeds)
    ]
    if a.seed_major:  # every scenario's first seed first: a sweep cut short still covers all
        order = {s: i for i, s in enumerate(_seeds(a.seeds))}
        jobs.sort(key=lambda j: order[j[1]])
    with (
        progress("compare", len(jobs), "bags") as p,
        multiprocessing.get_context("spawn").Pool(a.workers) as pool,
    ):
        for scen, seed, rows in pool.imap_unordered(_bag_job, jobs):
            for var, r in rows.items():
                results.setdefault(scen, {}).setdefault(var, []).append({"seed": seed, **r})
                p.write(f"{scen} seed {seed} {var}: " + ", ".join(f"{k} {r.get(k)}" for k in METRICS))
            (work / "results.json").write_text(json.dumps(results, indent=1))  # after every bag
            p.update()
    print("\n| scenario | variant | seeds | " + " | ".join(f"{k} mean" for k in METRICS) + " |")
    print("|---|---|---|" + "---|" * len(METRICS))
    for scen, by_var in results.items():
        for var, rows in by_var.items():
            cells = []
            for k in METRICS:
                vals = [r[k] for r in rows if r[k] is not None]
                cells.append(f"{np.mean(vals):.3f}" if vals else "-")
            print(f"| {scen} | {var} | {len(rows)} | " + " | ".join(cells) + " |")
    print(median_worst_table(results))


def _bag_job(job: tuple) -> tuple[str, int, dict]:
    """One (scenario, seed): the bag (generated unless cached), every variant's scores."""
    scen, seed, duration, variants, work, drop = job
    work = Path(work)
    bag = work / f"{scen}_seed{seed}_{duration:g}s"
    if not bag.exists():
        print(record(scen, seed, duration, bag).summary().splitlines()[0], flush=True)
    rows = {}
    for var in variants:
        r = run_one(bag, var, work)
        rows[var] = {k: r.get(k) for k in METRICS}
    if drop:
        shutil.rmtree(bag)
    return scen, seed, rows


def median_worst_table(
    results: dict, metrics: tuple[str, ...] = ("mota", "hota", "idsw", "velocity_rmse")
) -> str:
    """Markdown: per scenario and variant, the median and the worst seed of ``metrics``."""
    lines = [
        "| scenario | variant | seeds | " + " | ".join(f"{k} median (worst)" for k in metrics) + " |",
        "|---|---|---|" + "---|" * len(metrics),
    ]
    for scen, by_var in results.items():
        for var, rows in by_var.items():
            cells = []
            for k in metrics:
                vals = np.array([r[k] for r in rows if r.get(k) is not None], np.float64)
                fmt = "{:.0f}" if k == "idsw" else "{:.3f}"
                worst = WORST.get(k, min)(vals) if len(vals) else np.nan
                cells.append(f"{fmt.format(np.median(vals))} ({fmt.format(worst)})" if len(vals) else "-")
            lines.append(f"| {scen} | {var} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
