#!/usr/bin/env python3
"""Split the RPE of a replay into along-track and across-track parts: which one dominates says
whether the odometry's drift is a speed (scale, slip) or a heading problem.

    .venv/bin/python scripts/ego_replay.py --config config/robot.yaml --dump out/d BAG
    .venv/bin/python scripts/ego_rpe_split.py out/d/*.npz

For every truth pose pair ``delta`` seconds apart (the estimate interpolated to the truth, as
``evaluate``'s RPE): the error of the relative displacement in the earlier pose's frame (evo's
RPE), its component along the true displacement and across it, the mean along-track error per
metre driven (a scale error), and the relative heading error over the pair. Rows: ``odom``
(the continuous REP-105 frame) and ``map`` (the filter).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def split(truth: np.ndarray, est: np.ndarray, delta_s: float) -> dict[str, float]:
    """``truth``/``est`` rows (t_ns, x, y, yaw); see the module docstring."""
    t = truth[:, 0]
    sel = (t >= est[0, 0]) & (t <= est[-1, 0])
    tr, t = truth[sel], t[sel]
    ex, ey = np.interp(t, est[:, 0], est[:, 1]), np.interp(t, est[:, 0], est[:, 2])
    eyaw, tyaw = np.interp(t, est[:, 0], np.unwrap(est[:, 3])), np.unwrap(tr[:, 3])
    k = int(round(delta_s * 1e9 / np.median(np.diff(t))))
    i = np.arange(len(t) - k)
    j = i + k

    def local(x, y, yaw):
        dx, dy, c, s = x[j] - x[i], y[j] - y[i], np.cos(yaw[i]), np.sin(yaw[i])
        return np.stack([c * dx + s * dy, -s * dx + c * dy], 1)

    dT, e = local(tr[:, 1], tr[:, 2], tyaw), local(ex, ey, eyaw) - local(tr[:, 1], tr[:, 2], tyaw)
    dist = np.linalg.norm(dT, axis=1)
    u = dT / np.maximum(dist, 1e-9)[:, None]
    along, across = (e * u).sum(1), u[:, 0] * e[:, 1] - u[:, 1] * e[:, 0]
    mv = dist > 1.0
    dpsi = (eyaw[j] - eyaw[i]) - (tyaw[j] - tyaw[i])
    return {
        "rpe_m": float(np.sqrt(np.mean((e**2).sum(1)))),
        "along_m": float(np.sqrt(np.mean(along**2))),
        "across_m": float(np.sqrt(np.mean(across**2))),
        "along_per_m": float(np.mean(along[mv] / dist[mv])) if mv.any() else float("nan"),
        "dyaw_rms_deg": float(np.degrees(np.sqrt(np.mean(dpsi**2)))),
        "mean_dist_m": float(dist.mean()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dumps", nargs="+", help=".npz files from scripts/ego_replay.py --dump")
    ap.add_argument("--delta", type=float, default=10.0, help="pair spacing, s")
    a = ap.parse_args()
    for f in a.dumps:
        z = np.load(f)
        filt = z["poses"][z["poses"][:, 4] > 0][:, :4]
        for name, est in (("odom", z["odom"]), ("map", filt)):
            r = split(z["truth"], est, a.delta)
            print(Path(f).stem, name, " ".join(f"{k}={v:.3f}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
