#!/usr/bin/env python3
"""Are a detector's boxes where their objects were at the frame stamp, or where the rotating
LiDAR saw them? For every box matched to a moving truth object (same class, within 2.5 m,
faster than 2 m/s), the residual along the object's velocity against the lag the sweep would
give it, ``speed * dt(azimuth)``:

    .venv/bin/python scripts/capture_lag.py out/m15/highway_seed301_15s RUN --detections bev

``RUN``: a ``sensor-fusion run`` of that bag. Slope 1 means the boxes sit at the capture time
(give them ``time_offset_s``, as the classical LiDAR boxes have), slope 0 at the stamp. The lag
model is the generator's sensor (``sim/lidar.py``): a 10 Hz head at base_link's yaw, sweeping
counter-clockwise from azimuth -pi at the frame stamp; azimuths come from the truth poses.
Why: the network is trained on the sweep as captured against truth at the stamp, and whether
it learned that shift decides which time its boxes are measurements of.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import linear_sum_assignment

from sensor_fusion.eval.bags import (
    DETECTIONS,
    GT_OBJECTS,
    GT_ODOM,
    objects_frame,
    odometry_poses,
    read_topics,
)
from sensor_fusion.eval.tf import TF, WorldFrames

SWEEP_S = 0.1  # the generator's LiDAR period
MIN_SPEED_MPS = 2.0
MATCH_M = 2.5


def residuals(truth_bag: str, run_bag: str, source: str) -> np.ndarray:
    """(N, 3): predicted lag speed*dt (m), residual along the truth velocity (m), dt (s)."""
    topic = DETECTIONS.format(source=source)
    T = read_topics(truth_bag, [GT_OBJECTS, GT_ODOM])
    E = read_topics(run_bag, [topic, TF])
    gt = {f.stamp_ns: f for f in (objects_frame(m) for m in T[GT_OBJECTS])}
    stamps = np.array(sorted(gt), np.int64)
    to_truth = WorldFrames(E[TF], T[GT_OBJECTS][0].header.frame_id, objects_frame)
    ego = odometry_poses(T[GT_ODOM])
    rows = []
    for m in E[topic]:
        e = to_truth(m, with_ids=False)
        if e is None or not len(e) or not stamps.size:
            continue
        k = int(stamps[np.argmin(np.abs(stamps - e.stamp_ns))])
        t = gt[k]
        if abs(k - e.stamp_ns) > 5_000_000 or not len(t):
            continue
        d = np.hypot(*(t.centers[:, None, :2] - e.centers[None, :, :2]).transpose(2, 0, 1))
        d = np.where(t.labels[:, None] == e.labels[None, :], d, np.inf)
        r, c = linear_sum_assignment(np.where(d <= MATCH_M, d, 1e6))
        ok = d[r, c] <= MATCH_M
        j = int(np.argmin(np.abs(ego.stamp_ns - k)))
        for a, b in zip(r[ok], c[ok]):
            v = t.velocity[a]
            speed = float(np.hypot(*v))
            if not np.isfinite(speed) or speed < MIN_SPEED_MPS:
                continue
            rel = t.centers[a, :2] - (ego.x[j], ego.y[j])
            phi = np.arctan2(rel[1], rel[0]) - ego.yaw[j]
            dt = ((phi + np.pi) % (2 * np.pi)) / (2 * np.pi) * SWEEP_S
            rows.append((speed * dt, float((e.centers[b, :2] - t.centers[a, :2]) @ v) / speed, dt))
    return np.array(rows).reshape(-1, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("truth")
    ap.add_argument("run")
    ap.add_argument("--detections", default="bev", help="bev, lidar or a radar name")
    a = ap.parse_args()
    A = residuals(a.truth, a.run, a.detections)
    if len(A) < 2:
        raise SystemExit("fewer than two matched moving objects")
    slope, offset = np.linalg.lstsq(np.column_stack([A[:, 0], np.ones(len(A))]), A[:, 1], rcond=None)[0]
    print(f"{len(A)} matched boxes of moving objects; along = {slope:.2f} * speed*dt {offset:+.2f} m")
    rms_stamp, rms_capture = np.sqrt(np.mean(A[:, 1] ** 2)), np.sqrt(np.mean((A[:, 1] - A[:, 0]) ** 2))
    print(f"RMS along the velocity: {rms_stamp:.2f} m at the stamp, {rms_capture:.2f} m at capture time")


if __name__ == "__main__":
    main()
