#!/usr/bin/env python3
"""How often the classical LiDAR detector finds people standing together, against people alone
(development aid, issue 13).

    .venv/bin/python scripts/lidar_detector_eval.py cache BAG         # decode once
    .venv/bin/python scripts/people_groups_eval.py BAG [--step 2] [--range 30] [--near 1.2] [-v]

Every ``--step``-th cached sweep alone (no pose, as ``LIDAR_EVAL_ISOLATED``), truth at the sweep's
stamp: each truth pedestrian within ``--range`` m of the vehicle, in any direction, is *found* when a
PEDESTRIAN box lies within 1 m of it, and *in a group* when another truth pedestrian stands within
``--near`` m. Prints found / all for both kinds and, for the missed people in groups, the class of
the nearest box and whether it lies within 1.5 m (a BICYCLE box over three shoulder to shoulder, a CAR
box over a ring of four, nothing: dropped). ``-v`` lists them (sweep, truth x y, range, nearest
neighbour, nearest box's class, distance and size). Session 42: regenerated ``urban_clutter`` 711 /
713, shipped LiDAR: in groups 52 % / 52 %, alone 75 % / 92 %; with ``lidar.smooth_groups`` (groups
no longer foliage) in groups 53 % / 57 %.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections import Counter
from pathlib import Path

import numpy as np

import sensor_fusion.perception.lidar as L
from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.eval.bags import GT_OBJECTS, objects_frame

sys.path.insert(0, str(Path(__file__).parent))
from lidar_detector_eval import CACHE, _with_origin

_FOUND_M = 1.0  # a PEDESTRIAN box this close to the person: the person is found
_NEAR_BOX_M = 1.5  # the nearest box over a missed person "covers" them within this


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bag")
    ap.add_argument("--step", type=int, default=2, help="every n-th sweep")
    ap.add_argument("--range", type=float, default=30.0, help="people within this of the vehicle (m)")
    ap.add_argument("--near", type=float, default=1.2, help="another person this close: a group (m)")
    ap.add_argument("-v", action="store_true", help="list the missed people in groups")
    args = ap.parse_args()
    name = Path(args.bag).name
    z = np.load(CACHE / f"{name}.npz")
    with open(CACHE / f"{name}.truth.pkl", "rb") as f:
        truth = pickle.load(f)
    det = L.LidarDetector(_with_origin(L.LidarDetectorConfig(), truth))
    frames = {int(t.stamp_ns): t for t in (objects_frame(m) for m in truth[GT_OBJECTS])}
    stamps = np.array(sorted(frames))
    ped = int(ObjectClass.PEDESTRIAN)
    counts: Counter = Counter()
    missed = []
    for k in range(0, int(z["n"]), args.step):
        xyz, stamp, T = z[f"xyz_{k}"], int(z[f"stamp_{k}"]), z[f"pose_{k}"]
        t = frames[int(stamps[np.argmin(np.abs(stamps - stamp))])]
        Ti = np.linalg.inv(T)
        tc = t.centers @ Ti[:3, :3].T + Ti[:3, 3]  # truth in base_link
        d = det.detect(xyz, stamp, "base_link")
        people = np.flatnonzero(t.labels == ped)
        for i in people:
            r = float(np.hypot(*tc[i, :2]))
            if r > args.range:
                continue
            others = people[people != i]
            nn = float(np.hypot(*(tc[others, :2] - tc[i, :2]).T).min()) if len(others) else np.inf
            grouped = nn < args.near
            dist = np.hypot(*(d.centers[:, :2] - tc[i, :2]).T) if len(d) else np.zeros(0)
            found = bool(((dist < _FOUND_M) & (d.labels == ped)).any()) if len(d) else False
            counts[(grouped, found)] += 1
            if grouped and not found:
                j = int(np.argmin(dist)) if len(d) else -1
                cls = ObjectClass(int(d.labels[j])).name if j >= 0 else "none"
                near = bool(j >= 0 and dist[j] < _NEAR_BOX_M)
                missed.append((k, *np.round(tc[i, :2], 1), round(r, 1), round(nn, 2), cls, near,
                               round(float(dist[j]), 2) if j >= 0 else None,
                               np.round(d.sizes[j], 2).tolist() if j >= 0 else None))  # fmt: skip
    for grouped, label in ((True, "in groups"), (False, "alone")):
        n_found, n_all = counts[(grouped, True)], counts[(grouped, True)] + counts[(grouped, False)]
        share = n_found / n_all if n_all else float("nan")
        print(f"{name} people {label} within {args.range:g} m: {n_found}/{n_all} = {share:.2f}")
    print(f"{name} missed in groups, nearest box (class, within {_NEAR_BOX_M} m):",
          Counter((m[5], m[6]) for m in missed).most_common())  # fmt: skip
    if args.v:
        for m in missed:
            print(*m)


if __name__ == "__main__":
    main()
