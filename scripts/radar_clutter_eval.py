#!/usr/bin/env python3
"""The radar detector alone on simulated scans with per-return truth: static clutter, ghosts, NEES.

    .venv/bin/python scripts/radar_clutter_eval.py --scenario urban_clutter --seeds 601 602 --duration 10
    .venv/bin/python scripts/radar_clutter_eval.py --scenario highway --static-world off --json

Scans are generated exactly as ``sensor-fusion simulate`` writes them (same world, same per-scan
random streams), with each return's source (an actor id, clutter, ghost, or the static world);
the detector gets the true ego velocity plus Gaussian noise of ``--ego-std`` per axis (and that
covariance), as from an ego filter. Printed per run (JSON with ``--json``):

* ``static_leak``: stationary returns (static world, clutter) called moving, fraction;
* ``mover_loss``: returns of actors faster than 0.5 m/s called stationary, fraction;
* ``ghost_returns``: ghost returns; ``ghost_in_detections``: of them, in a reported detection;
  ``ghost_rejected_clusters``: clusters rejected as ghosts (all rules), ``ghost_mirror``: by the
  reflector-mirror rule;
* detections by the source of most of their returns: a moving actor (a true positive, once per
  actor and scan), a parked or standing actor, the static world or clutter (``static_fp``), a ghost;
  ``precision`` = true positives / detections, ``recall`` = moving actors (> 0.5 m/s) with a
  return in the scan that got a detection;
* ``nees``: mean of e^T P^-1 e (2 dof: 2.0 when the position covariance is right) of true
  positives against the actor's box centre, and the fraction inside the 95 % gate (5.99).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from sensor_fusion.config import default_share_dir
from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.perception.radar import RadarDetector, RadarDetectorConfig
from sensor_fusion.sim.radar import simulate_radar_with_truth
from sensor_fusion.sim.recorder import make_world
from sensor_fusion.sim.scenarios import scenario_config, stream_rng

MOVING_MPS = 0.5


def run(
    scenario: str, seed: int, duration: float, static_world: str, ego_std: float, det: RadarDetector
) -> dict:
    ov: dict = {"world": {"duration_s": float(duration)}}
    if static_world != "default":
        ov["world"]["static"] = {"enabled": static_world == "on"}
    cfg = scenario_config(scenario, ov)
    cal = load_calibration(default_share_dir() / "config" / (cfg["calibration"] or "calibration.yaml"))
    world = make_world(cfg, seed)
    rc = cfg["radars"]
    rad = rc["names"][0]
    T_br = cal.T_base_from(rad)
    stamps = np.arange(world.t0_ns, world.t_end_ns, int(1e9 / rc["rate_hz"]))
    rng_e = np.random.default_rng(seed + 17)
    c = dict.fromkeys(
        ("static_returns", "static_leak", "mover_returns", "mover_loss", "ghost_returns",
         "ghost_in_detections", "ghost_rejected_clusters", "ghost_mirror", "reflectors", "detections",
         "tp", "dup", "parked_fp",
         "static_fp", "ghost_fp", "movers_visible", "nees_n", "scans"), 0)  # fmt: skip
    nees = []
    for k, st in enumerate(stamps):
        st = int(st)
        scan, truth = simulate_radar_with_truth(world, st, T_br, rc, stream_rng(seed, rad, k), rad)
        ego = world.ego_at(st)
        cy, sy = np.cos(ego.yaw), np.sin(ego.yaw)
        R = np.array([[cy, -sy], [sy, cy]])
        v_b = R.T @ ego.velocity[:2] + ego_std * rng_e.standard_normal(2)
        d = det.detect(scan, T_br, v_b, ego.yaw_rate, "base_link", ego_std**2 * np.eye(2), 0.0)
        lab = det.last_point_labels
        s = det.last_stats
        acts = world.actors_at(st)
        speed = dict(zip(acts.ids.tolist(), np.hypot(acts.velocity[:, 0], acts.velocity[:, 1]).tolist()))
        moving_actor = np.array([t >= 0 and speed.get(int(t), 0.0) > MOVING_MPS for t in truth], bool)
        stat = (truth == -1) | (truth == -3)
        c["scans"] += 1
        c["static_returns"] += int(stat.sum())
        c["static_leak"] += int((stat & (lab != -2) & (lab != -1)).sum())
        c["mover_returns"] += int(moving_actor.sum())
        c["mover_loss"] += int((moving_actor & (lab == -2)).sum())
        c["ghost_returns"] += int((truth == -2).sum())
        c["ghost_in_detections"] += int(((truth == -2) & (lab >= 0)).sum())
        c["ghost_rejected_clusters"] += s["rejected_ghost"]
        c["ghost_mirror"] += s.get("rejected_ghost_mirror", 0)
        c["reflectors"] += s.get("reflectors", 0)
        c["detections"] += len(d)
        seen: set[int] = set()
        for i in range(len(d)):
            src = truth[lab == i]
            vals, cnt = np.unique(src, return_counts=True)
            t = int(vals[np.argmax(cnt)])
            if t >= 0 and speed.get(t, 0.0) > MOVING_MPS:
                if t in seen:
                    c["dup"] += 1
                    continue
                seen.add(t)
                c["tp"] += 1
                j = int(np.flatnonzero(acts.ids == t)[0])
                ctr = R.T @ (acts.centers[j, :2] - ego.position[:2])
                e = d.centers[i, :2] - ctr
                P = d.pos_cov[i]
                nees.append(float(e @ np.linalg.solve(P, e)))
            elif t >= 0:
                c["parked_fp"] += 1
            elif t == -2:
                c["ghost_fp"] += 1
            else:
                c["static_fp"] += 1
        c["movers_visible"] += len({int(t) for t in truth[moving_actor]})
    out = {"scenario": scenario, "seed": seed, "duration_s": duration, "static_world": static_world, **c}
    out["static_leak_frac"] = c["static_leak"] / max(c["static_returns"], 1)
    out["mover_loss_frac"] = c["mover_loss"] / max(c["mover_returns"], 1)
    out["precision"] = c["tp"] / max(c["detections"], 1)
    out["recall"] = c["tp"] / max(c["movers_visible"], 1)
    out["static_fp_per_scan"] = c["static_fp"] / max(c["scans"], 1)
    nees_a = np.array(nees)
    out["nees_mean"] = float(nees_a.mean()) if len(nees_a) else float("nan")
    out["nees_median"] = float(np.median(nees_a)) if len(nees_a) else float("nan")
    out["nees_in_95"] = float((nees_a <= 5.991).mean()) if len(nees_a) else float("nan")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="urban_clutter")
    ap.add_argument("--seeds", type=int, nargs="+", default=[601])
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--static-world", choices=["on", "off", "default"], default="on")
    ap.add_argument("--ego-std", type=float, default=0.05, help="ego velocity noise per axis, m/s")
    ap.add_argument("--set", action="append", default=[], help="radar_detector key=value")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    kw = {}
    for kv in a.set:
        k, v = kv.split("=", 1)
        kw[k] = type(getattr(RadarDetectorConfig(), k))(v)
    det = RadarDetector(RadarDetectorConfig(**kw))
    rows = [run(a.scenario, s, a.duration, a.static_world, a.ego_std, det) for s in a.seeds]
    if a.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    keys = ("seed", "precision", "recall", "static_fp_per_scan", "static_leak_frac", "mover_loss_frac",
            "ghost_returns", "ghost_in_detections", "ghost_rejected_clusters", "ghost_mirror", "ghost_fp",
            "parked_fp", "dup", "nees_mean", "nees_median", "nees_in_95")  # fmt: skip
    print(f"{a.scenario} static world {a.static_world}, {a.duration:g} s")
    for r in rows:
        print("  " + ", ".join(f"{k} {r[k]:.3f}" if isinstance(r[k], float) else f"{k} {r[k]}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
