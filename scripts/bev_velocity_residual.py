"""The BEV network's velocity residual per class, split along and across the radar's line of sight.

Doppler measures a velocity along the line of sight only; the pipeline keeps a network velocity
where a return on the box reads its radial component (``bev.velocity_gate_sigma``), so what the
head answers across that line is never checked. This prints, on cached samples (every second
frame, all modalities), the RMS velocity error of the boxes matched to truth (same class, within
2 m) whose truth box has at least one radar return, along and across the line from the radar
(docs/bev.md, session 38). The detector's covariances are the isotropic residual of
``average_weights.py``; this is a diagnostic, not a calibration.

    .venv/bin/python scripts/bev_velocity_residual.py WEIGHTS out/bevgr38/cache/urban_s201.npz ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sensor_fusion.bev.dataset import SampleSet
from sensor_fusion.bev.detector import load_model
from sensor_fusion.bev.model import BEV_CLASSES
from sensor_fusion.bev.train import frame_pairs, truth_rows

CLASSES = [int(c) for c in BEV_CLASSES]


def residuals(weights: str, files: list[Path], radar_xy: np.ndarray, every: int) -> dict[str, np.ndarray]:
    """Per class name, (N, 3): error along and across the line of sight, true speed."""
    net, _meta = load_model(weights)
    net.eval()
    data = SampleSet(files)
    out: dict[str, list] = {c.name: [] for c in BEV_CLASSES}
    for i, (truth, est) in zip(range(0, len(data), every), frame_pairs(net, data, (1, 1, 1), every)):
        if not len(truth) or not len(est):
            continue
        radar_pts = data.boxes(i)["radar_pts"][truth_rows(data, i)]  # frame_pairs' truth rows
        d = np.linalg.norm(truth.centers[:, None, :2] - est.centers[None, :, :2], axis=2)
        d = np.where(truth.labels[:, None] == est.labels[None, :], d, np.inf)
        j = d.argmin(axis=1)
        for k in np.nonzero((d[np.arange(len(truth)), j] < 2.0) & (radar_pts > 0))[0]:
            u = truth.centers[k, :2] - radar_xy
            u = u / np.linalg.norm(u)
            e = est.velocity[j[k]] - truth.velocity[k]
            name = BEV_CLASSES[CLASSES.index(int(truth.labels[k]))].name
            out[name].append((e @ u, e @ np.array([-u[1], u[0]]), np.hypot(*truth.velocity[k])))
    return {k: np.array(v).reshape(-1, 3) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("samples", nargs="+", type=Path, help="cached sample files (.npz)")
    ap.add_argument("--radar-xy", type=float, nargs=2, default=(3.6, 0.0), help="radar in base_link (m)")
    ap.add_argument("--every", type=int, default=2)
    a = ap.parse_args()
    res = residuals(a.weights, a.samples, np.array(a.radar_xy), a.every)
    print(f"{'class':<11} {'boxes':>6} {'along':>7} {'across':>7}  (RMS, m/s)")
    for name, r in res.items():
        if len(r) < 10:
            print(f"{name:<11} {len(r):>6}   (fewer than 10)")
            continue
        along, across = np.sqrt(np.mean(np.square(r[:, :2]), axis=0))
        print(f"{name:<11} {len(r):>6} {along:7.2f} {across:7.2f}")


if __name__ == "__main__":
    main()
