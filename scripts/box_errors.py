#!/usr/bin/env python3
"""Where two detector versions put the same LiDAR box, against the truth: the boxes of two
``scripts/tracker_replay.py record`` runs of one bag that differ (same frame and sensor mask,
centres 0.3-6 m apart), each box's distance to the nearest truth object, grouped by what changed.

    .venv/bin/python scripts/box_errors.py out/replay/highway_302_before out/replay/highway_302

Both runs' boxes and the truth are taken to base_link at the frame stamp (boxes in ``odom`` by
that run's own ``/fusion_node/ego_odom``, the truth by ``/ground_truth/odom``), so the node's ego
error cancels and what remains is where the detector put each box relative to the vehicle.
Groups: ``flip`` (the length axis turned by more than 45 degrees) or ``same axis``, by the
label before and after. Why: a tracker score mixes every box; this says, box by box, whether a
detector change moved boxes towards their objects.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

from sensor_fusion.core.classes import SENSOR_LIDAR, ObjectClass
from sensor_fusion.core.geometry import invert_transform, pose2d_to_transform, transform_points
from sensor_fusion.eval.bags import GT_OBJECTS, GT_ODOM, ODOM, objects_frame, read_topics
from sensor_fusion.eval.tf import odometry_arrays

MOVED_M = (0.3, 6.0)  # a box counts as the same box, moved, between these distances


def _poses(msgs) -> tuple[np.ndarray, np.ndarray]:
    """Stamps (N,) ns and planar poses (N, 3) x, y, yaw of nav_msgs/Odometry messages."""
    st, p, yaw = odometry_arrays(msgs)
    return st, np.column_stack([p[:, :2], yaw])


def _at(poses: tuple[np.ndarray, np.ndarray], stamp: int) -> np.ndarray:
    st, P = poses
    return P[int(np.argmin(np.abs(st - stamp)))]


def _to_base(xy: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """(N, 2) points of the fixed frame in base_link at planar ``pose`` (x, y, yaw)."""
    T = invert_transform(pose2d_to_transform(pose[0], pose[1], pose[2]))
    pts = np.column_stack([np.asarray(xy, dtype=np.float64), np.zeros(len(xy))])
    return transform_points(T, pts)[:, :2]


def _in_base(d, row: int, ego: tuple[np.ndarray, np.ndarray], stamp: int) -> np.ndarray:
    """(2,) box ``row`` of ``d`` in base_link at ``stamp`` (through the run's own odometry)."""
    xy = d.centers[row : row + 1, :2]
    return (xy if d.frame_id == "base_link" else _to_base(xy, _at(ego, stamp)))[0]


def _row(name: str, e: np.ndarray) -> str:
    return (
        f"| {name} | {len(e)} | {np.median(e[:, 0]):.2f} | {np.median(e[:, 1]):.2f} | "
        f"{np.mean(e[:, 1] < e[:, 0]):.2f} | {np.mean(e[:, 0] < 2):.2f} | {np.mean(e[:, 1] < 2):.2f} |"
    )


def _steps(run: Path) -> tuple[str, list]:
    with open(run / "calls.pkl", "rb") as f:
        rec = pickle.load(f)
    return rec["bag"], [c for c in rec["calls"] if c[0] == "step"]


def compare(before: Path, after: Path) -> dict[str, np.ndarray]:
    """Per group, (N, 2) distances to the nearest truth object (before, after), metres."""
    bag, sb = _steps(before)
    _, sa = _steps(after)
    truth = read_topics(bag, [GT_OBJECTS, GT_ODOM])
    frames = [objects_frame(m) for m in truth[GT_OBJECTS]]
    fst = np.array([f.stamp_ns for f in frames], np.int64)
    tpose = _poses(truth[GT_ODOM])
    ego = {r: _poses(read_topics(r / "outputs", [ODOM])[ODOM]) for r in (before, after)}
    out: dict[str, list] = {}
    for (_, stamp, db, _), (_, _, da, _) in zip(sb, sa):
        f = frames[int(np.argmin(np.abs(fst - stamp)))]
        if len(f) == 0:
            continue
        tb = _to_base(np.asarray(f.centers)[:, :2], _at(tpose, stamp))

        for j in np.flatnonzero(da.sensors & SENSOR_LIDAR):
            same = db.sensors == da.sensors[j]
            if not same.any():
                continue
            dist = np.hypot(*(db.centers[:, :2] - da.centers[j, :2]).T) + np.where(same, 0.0, np.inf)
            i = int(np.argmin(dist))
            if not MOVED_M[0] <= dist[i] <= MOVED_M[1]:
                continue
            turn = abs((da.yaw[j] - db.yaw[i] + np.pi / 2) % np.pi - np.pi / 2)
            kind = "flip" if turn > np.pi / 4 else "same axis"
            names = (ObjectClass(int(db.labels[i])).name.lower(), ObjectClass(int(da.labels[j])).name.lower())
            group = f"{names[0]} -> {names[1]}, {kind}"
            eb = np.min(np.hypot(*(tb - _in_base(db, i, ego[before], stamp)).T))
            ea = np.min(np.hypot(*(tb - _in_base(da, j, ego[after], stamp)).T))
            out.setdefault(group, []).append((eb, ea))
    return {k: np.array(v) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=Path, help="tracker_replay recording (the reference)")
    ap.add_argument("after", type=Path, help="tracker_replay recording of the same bag")
    a = ap.parse_args()
    groups = compare(a.before, a.after)
    print("| group | boxes | median error before | after | after nearer | within 2 m before | after |")
    print("|---|---|---|---|---|---|---|")
    for k, e in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(_row(k, e))
    if groups:
        print(_row("all", np.concatenate(list(groups.values()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
