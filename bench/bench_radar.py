"""Benchmark the radar detector on simulated scans.

Run: ``.venv/bin/python bench/bench_radar.py [--runs N] [--scans M]``. Simulates M
scans of the ``dense_traffic`` scenario with more clutter and ghosts (~70-110
returns each), times ``RadarDetector.detect`` and its stages (median over
scans of the median of N runs, after warm-up), and compares the clustering
stage with two baselines on the same moving returns, in this process:
``scipy.cluster.hierarchy`` single linkage cut at 1 on the normalised link
distance (the same partition, checked), and a per-point Python breadth-first
search. ``detect()`` is also timed with the
scipy clustering swapped in.
"""

from __future__ import annotations

import argparse

import numpy as np
from benchutil import Figures, median_time
from scipy.cluster.hierarchy import fcluster, linkage

import sensor_fusion.perception.radar as radar_mod
from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.perception.radar import RadarDetector, RadarDetectorConfig
from sensor_fusion.perception.radar_fit import cluster_radar
from sensor_fusion.sim.radar import simulate_radar
from sensor_fusion.sim.scenarios import scenario_config, stream_rng
from sensor_fusion.sim.world import World

OVERRIDES = {"radars": {"clutter_rate": 120.0, "ghost_rate": 4.0, "max_points_per_object": 12}}


def scipy_cluster(x, y, r, ux, uy, eps_along, eps_across, eps_r):
    """Single linkage cut at 1 on the normalised link distance (vectorised numpy): our graph."""
    n = len(x)
    if n < 2:
        return np.zeros(n, np.int64), n
    i, j = np.triu_indices(n, 1)  # pdist order
    dx, dy, mx, my = x[j] - x[i], y[j] - y[i], ux[j] + ux[i], uy[j] + uy[i]
    m = np.hypot(mx, my)
    q = np.hypot((dx * mx + dy * my) / (m * eps_along), (dx * my - dy * mx) / (m * eps_across))
    d = np.maximum(q, np.abs(r[j] - r[i]) / eps_r)
    lab = fcluster(linkage(d, "single"), 1.0, "distance") - 1
    return lab.astype(np.int64), int(lab.max()) + 1


def python_cluster(x, y, r, ux, uy, eps_along, eps_across, eps_r):
    """Per-point Python BFS over the same links (the straightforward baseline)."""
    n = len(x)
    lab = [-1] * n
    c = 0
    for i in range(n):
        if lab[i] >= 0:
            continue
        lab[i] = c
        stack = [i]
        while stack:
            j = stack.pop()
            for k in range(n):
                if lab[k] >= 0 or abs(r[k] - r[j]) > eps_r:
                    continue
                dx, dy, mx, my = x[k] - x[j], y[k] - y[j], ux[k] + ux[j], uy[k] + uy[j]
                m2 = mx * mx + my * my
                along, across = dx * mx + dy * my, dx * my - dy * mx
                if (along / eps_along) ** 2 + (across / eps_across) ** 2 <= m2:
                    lab[k] = c
                    stack.append(k)
        c += 1
    return np.array(lab, np.int64), c


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = np.unique(np.column_stack([a, b]), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--scans", type=int, default=20)
    args = ap.parse_args()

    T = load_calibration("config/calibration.yaml").T_base_from("radar_front")
    cfg_sc = scenario_config("dense_traffic", OVERRIDES)
    world = World(cfg_sc, seed=0)
    scans = []
    for k in range(args.scans):
        stamp = world.t0_ns + k * 900_000_000
        ego = world.ego_at(stamp)
        c, s = np.cos(ego.yaw), np.sin(ego.yaw)
        v_base = np.array([[c, s], [-s, c]]) @ ego.velocity[:2]
        scan = simulate_radar(world, stamp, T, cfg_sc["radars"], stream_rng(0, "radar_front", k))
        scans.append((scan, v_base, ego.yaw_rate))

    cfg = RadarDetectorConfig()
    det = RadarDetector(cfg)
    det.warm_up()
    totals, stages, moving = [], {}, []
    n_pts, n_det = [], []
    for scan, v, w in scans:
        totals.append(median_time(lambda scan=scan, v=v, w=w: det.detect(scan, T, v, w), args.runs))
        out = det.detect(scan, T, v, w)
        for key, val in det.last_timing.items():
            stages.setdefault(key, []).append(val)
        n_pts.append(len(scan))
        n_det.append(len(out))
        # the moving returns the clustering stage sees
        stats = dict.fromkeys(radar_mod._STAT_KEYS, 0)
        pts, mask, _ = det._compensate(scan, T, np.asarray(v), float(w), np.zeros((3, 3)), 0.0, stats)
        uh = pts.u[mask, :2] / np.hypot(pts.u[mask, 0], pts.u[mask, 1])[:, None]
        moving.append(tuple(np.ascontiguousarray(a) for a in (*pts.p[mask, :2].T, pts.comp[mask], *uh.T)))

    n_mov = [len(m[0]) for m in moving]
    print(
        f"{len(scans)} dense_traffic scans (+clutter, ghosts): returns median {np.median(n_pts):.0f} "
        f"(min {min(n_pts)}, max {max(n_pts)}), moving median {np.median(n_mov):.0f}, "
        f"detections median {np.median(n_det):.0f}"
    )
    t_med, t_p90 = 1e3 * np.median(totals), 1e3 * np.percentile(totals, 90)
    print(f"detect() median {t_med:.3f} ms (p90 over scans {t_p90:.3f} ms)")
    for key, val in stages.items():
        print(f"  {key:<11} {1e3 * np.median(val):.3f} ms")

    eps = (cfg.cluster_eps_along_m, cfg.cluster_eps_across_m, cfg.cluster_eps_doppler_mps)
    t_ours, t_scipy, t_py = [], [], []
    for m in moving:
        a = cluster_radar(*m, *eps)[0]
        assert same_partition(a, scipy_cluster(*m, *eps)[0])
        assert same_partition(a, python_cluster(*m, *eps)[0])
        t_ours.append(median_time(lambda m=m: cluster_radar(*m, *eps), args.runs))
        t_scipy.append(median_time(lambda m=m: scipy_cluster(*m, *eps), args.runs))
        t_py.append(median_time(lambda m=m: python_cluster(*m, *eps), args.runs))
    mo, ms, mp = (1e6 * float(np.median(t)) for t in (t_ours, t_scipy, t_py))
    print("\nclustering the moving returns (same partition checked), median over scans:")
    print(f"  ours cluster_radar (numba BFS):            {mo:9.1f} us")
    print(f"  scipy.cluster.hierarchy single linkage:    {ms:9.1f} us  ({ms / mo:6.1f}x ours)")
    print(f"  per-point Python BFS:                      {mp:9.1f} us  ({mp / mo:6.1f}x ours)")

    saved = radar_mod.cluster_radar
    radar_mod.cluster_radar = scipy_cluster
    try:
        base = [median_time(lambda s=s, v=v, w=w: det.detect(s, T, v, w), args.runs) for s, v, w in scans]
    finally:
        radar_mod.cluster_radar = saved
    print(
        f"\ndetect() with scipy clustering: median {1e3 * np.median(base):.3f} ms "
        f"({np.median(base) / np.median(totals):.2f}x ours)"
    )
    fig = Figures("radar")
    fig.add("returns_per_scan_median", float(np.median(n_pts)))
    fig.add("detect_median_ms", t_med)
    fig.add("detect_p90_ms", t_p90)
    fig.add("cluster_ours_us", mo)
    fig.add("cluster_scipy_baseline_us", ms)
    fig.add("cluster_python_baseline_us", mp)
    fig.add("cluster_scipy_over_ours_x", ms / mo)
    fig.add("detect_with_scipy_cluster_ms", 1e3 * float(np.median(base)))
    fig.write()


if __name__ == "__main__":
    main()
