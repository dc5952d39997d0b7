"""Benchmark the classical LiDAR detector on ray-cast synthetic sweeps.

Run: ``.venv/bin/python bench/bench_lidar.py [--runs N]``. Builds three sweeps
(~30k, ~120k, ~230k points: sloped noisy ground, ~30 objects, two building
walls), times ``LidarDetector.detect`` and its stages (median of N runs after
warm-up), and at 30k times Open3D's ``cluster_dbscan`` on the detector's own
non-ground points as the baseline, in this process. Also prints a crude
detection recall/precision against the ray-cast ground truth.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from benchutil import Figures, median_time

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.perception.clustering import group_by_label, label_bev
from sensor_fusion.perception.ground import GROUND_HIDDEN_MARGIN_M, ground_height, select_above_ground
from sensor_fusion.perception.lidar import LidarDetector, LidarDetectorConfig
from sensor_fusion.sim.boxes import spinning_scan

SENSOR_HEIGHT_M = 1.8
GROUND = (math.tan(math.radians(1.0)), -math.tan(math.radians(0.5)), 0.05)  # z = a x + b y + c
# (label, length, width, height) templates, m
TEMPLATES = {
    ObjectClass.CAR: (4.5, 1.8, 1.5),
    ObjectClass.TRUCK: (9.0, 2.5, 3.5),
    ObjectClass.PEDESTRIAN: (0.5, 0.5, 1.75),
    ObjectClass.BICYCLE: (1.8, 0.6, 1.7),
}
MIX = (
    [ObjectClass.CAR] * 16
    + [ObjectClass.TRUCK] * 4
    + [ObjectClass.PEDESTRIAN] * 6
    + [ObjectClass.BICYCLE] * 4
)
# Sweep resolutions: (beams, columns) giving ~30k, ~120k, ~230k returns.
SWEEPS = {"30k": (32, 1100), "60k": (64, 1100), "120k": (64, 2200), "230k": (128, 2100)}


def make_scene(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(boxes (M, 6) cx, cy, l, w, h, yaw; labels (M,)) non-overlapping, 5-60 m, plus two walls."""
    rng = np.random.default_rng(seed)
    boxes, labels = [], []
    while len(boxes) < len(MIX):
        label = MIX[len(boxes)]
        l, w, h = TEMPLATES[label]
        r, az = rng.uniform(6.0, 60.0), rng.uniform(-np.pi, np.pi)
        c = np.array([r * np.cos(az), r * np.sin(az)])
        if (
            boxes
            and np.min(np.hypot(*(np.array(boxes)[:, :2] - c).T) - 0.5 * np.array(boxes)[:, 2])
            < 0.5 * l + 2.0
        ):
            continue
        boxes.append([c[0], c[1], l, w, h, rng.uniform(-np.pi, np.pi)])
        labels.append(int(label))
    walls = [[0.0, 70.0, 60.0, 1.0, 8.0, 0.0], [-65.0, -10.0, 0.5, 40.0, 6.0, 0.1]]
    boxes += walls
    labels += [-1, -1]
    return np.array(boxes), np.array(labels)


def raycast(boxes: np.ndarray, n_beams: int, n_cols: int, seed: int = 0) -> np.ndarray:
    """First-hit returns of a spinning LiDAR at (0, 0, 1.8 m); Gaussian range noise 2 cm."""
    return spinning_scan(
        boxes, sensor_height_m=SENSOR_HEIGHT_M, ground=GROUND, n_beams=n_beams, n_cols=n_cols, seed=seed
    )


def non_ground(pts: np.ndarray, cfg) -> tuple[np.ndarray, np.ndarray]:
    """The detector's own ground stage: (non-ground xyz, height above ground)."""
    gz = ground_height(
        pts,
        cfg.range_min_m,
        cfg.range_max_m,
        cfg.ground_cell_m,
        cfg.ground_max_slope,
        cfg.ground_reject_lowest,
        cfg.sensor_z_m,
        cfg.ground_hidden_slope,
        GROUND_HIDDEN_MARGIN_M,
        cfg.class_height_slack_per_m,
    )[0]
    obj, _, hag, _ = select_above_ground(pts, gz, cfg.z_min_m, cfg.z_max_m)
    return obj, hag


def visible_points(pts: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Returns per box that lie on it above 0.25 m (ground truth visibility)."""
    a, b, c = GROUND
    out = np.zeros(len(boxes), np.int64)
    for i, (cx, cy, l, w, h, yaw) in enumerate(boxes):
        cs, sn = math.cos(yaw), math.sin(yaw)
        dx, dy = pts[:, 0] - cx, pts[:, 1] - cy
        u, v = dx * cs + dy * sn, -dx * sn + dy * cs
        z = pts[:, 2] - (a * cx + b * cy + c)
        out[i] = np.sum((np.abs(u) < l / 2 + 0.1) & (np.abs(v) < w / 2 + 0.1) & (z > 0.25) & (z < h + 0.1))
    return out


def score(det, pts: np.ndarray, boxes: np.ndarray, labels: np.ndarray, max_range: float) -> str:
    """Recall/precision within 1 m of a visible (>= 10 returns) ground-truth centre; label accuracy."""
    vis = visible_points(pts, boxes)
    sel = (labels >= 0) & (np.hypot(boxes[:, 0], boxes[:, 1]) < max_range) & (vis >= 10)
    gt, gl = boxes[sel], labels[sel]
    if len(det) == 0:
        return f"recall 0/{len(gt)}"
    dist = np.hypot(gt[:, None, 0] - det.centers[None, :, 0], gt[:, None, 1] - det.centers[None, :, 1])
    j = dist.argmin(axis=1)
    hit = dist[np.arange(len(gt)), j] < 1.0
    used = np.unique(j[hit])
    ok_label = np.sum(det.labels[j[hit]] == gl[hit])
    return (
        f"recall {hit.sum()}/{len(gt)} visible objects, precision {len(used)}/{len(det)}, "
        f"label ok {ok_label}/{hit.sum()}"
    )


def with_without(
    fig: Figures, key: str, base: str, what: str, t_with: float, t_without: float, note: str = ""
) -> None:
    """Print one A/B timing and add ``{key}_ms`` and ``{key}_over_{base}_x`` to the figures."""
    print(f"{what}: {1e3 * t_with:.2f} ms against {1e3 * t_without:.2f} ms ({t_with / t_without:.3f}x{note})")
    fig.add(f"{key}_ms", 1e3 * t_with)
    fig.add(f"{key}_over_{base}_x", t_with / t_without)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30, help="timed runs per measurement (median reported)")
    args = ap.parse_args()

    fig = Figures("lidar")
    boxes, labels = make_scene()
    # the LiDAR height, as the pipeline takes it from the calibration (the opt-in roughness rule needs it)
    det = LidarDetector(LidarDetectorConfig(sensor_z_m=SENSOR_HEIGHT_M))
    det.warm_up()
    cfg = det.config
    print(f"scene: {int(np.sum(labels >= 0))} objects + 2 walls, ground slope 1.0/0.5 deg, 2 cm range noise")
    cols = ("cloud", "points", "non-gnd", "dets", "total ms", "ground", "cluster", "boxfit")
    print(" ".join(f"{c:>{w}}" for c, w in zip(cols, (6, 7, 7, 4, 9, 7, 8, 7))))
    clouds = {}
    for name, (beams, cols) in SWEEPS.items():
        pts = raycast(boxes, beams, cols)
        clouds[name] = pts
        for _ in range(2):  # warm-up
            d = det.detect(pts, 0, "base_link")
        stages: dict[str, list[float]] = {"total": []}
        for _ in range(args.runs):  # total and stages from the same runs
            t0 = time.perf_counter()
            d = det.detect(pts, 0, "base_link")
            stages["total"].append(time.perf_counter() - t0)
            for k, v in det.last_timing.items():
                stages.setdefault(k, []).append(v)
        n_obj = len(non_ground(pts, cfg)[0])
        med = {k: 1e3 * float(np.median(v)) for k, v in stages.items()}
        print(
            f"{name:>6} {len(pts):>7} {n_obj:>7} {len(d):>4} {med['total']:>9.2f} "
            f"{med['ground']:>7.2f} {med['cluster']:>8.2f} {med['boxfit']:>7.2f}"
        )
        print(f"{'':>6} {score(d, pts, boxes, labels, cfg.range_max_m)}")
        fig.add(f"detect_{name}_points", len(pts))
        for k in ("total", "ground", "cluster", "boxfit"):
            fig.add(f"detect_{name}_{k}_ms", med[k])

    # The structure memory (given the ego pose): the same 120k sweep at advancing stamps, so the
    # walls' cells are marked and looked up on every call; baseline: the same detector without a pose.
    pts = clouds["120k"]
    mem_det = LidarDetector(LidarDetectorConfig(sensor_z_m=SENSOR_HEIGHT_M))
    stamp = iter(range(0, 10**15, 100_000_000))
    pose = (np.eye(4), "odom")
    for _ in range(2):
        mem_det.detect(pts, next(stamp), "base_link", pose=pose)
    t_mem = median_time(lambda: mem_det.detect(pts, next(stamp), "base_link", pose=pose), args.runs)
    t_plain = median_time(lambda: det.detect(pts, 0, "base_link"), args.runs)
    print()
    with_without(
        fig, "detect_120k_memory", "plain", "structure memory, 120k sweep (with / without the pose)", t_mem,
        t_plain, f"; {mem_det.structure_cells} cells remembered",
    )  # fmt: skip
    # The structure votes (structure_votes, also given the pose): every cluster's cells voted and
    # every kept cluster looked up; baseline: the same posed detector with the votes off
    no_votes = LidarDetector(LidarDetectorConfig(sensor_z_m=SENSOR_HEIGHT_M, structure_votes=False))
    for _ in range(2):
        no_votes.detect(pts, next(stamp), "base_link", pose=pose)
    t_no_votes = median_time(lambda: no_votes.detect(pts, next(stamp), "base_link", pose=pose), args.runs)
    with_without(
        fig, "detect_120k_votes", "off", "structure votes, 120k sweep with the pose (on / off)", t_mem,
        t_no_votes, f"; {mem_det.structure_vote_cells} cells voted",
    )  # fmt: skip

    def rule_off(key: str, what: str, base: str = "off", **off) -> None:
        """The shipped detector against the same one with a rule's setting ``off`` (the baseline,
        named ``base`` in the figures), 120k sweep."""
        alt = LidarDetector(LidarDetectorConfig(sensor_z_m=SENSOR_HEIGHT_M, **off))
        alt.detect(pts, 0, "base_link")
        t_alt = median_time(lambda: alt.detect(pts, 0, "base_link"), args.runs)
        with_without(fig, f"detect_120k_{key}", base, what, t_plain, t_alt)

    # What lies past the ends of truck-tall clusters (structure_bounded_ends: one azimuth binning of the
    # whole sweep, then a few bins per end)
    rule_off(
        "bounded_ends",
        "ends of truck-tall clusters, 120k sweep (rule on / off)",
        structure_bounded_ends=False,
    )
    # The beams below truck-tall clusters (structure_solid_base_m: a second azimuth binning of the
    # whole sweep, then the bins under each judged cluster)
    rule_off(
        "solid_base",
        "beams below truck-tall clusters, 120k sweep (rule on / off)",
        structure_solid_base_m=0.0,
    )
    # Gaps in a truck-tall face crossed where they show no depth (structure_blind_gap_range_m: the sweep's
    # returns in the azimuths of each gap wider than the usual one, up to 4 m)
    rule_off(
        "blind_gap",
        "blind gaps along truck-tall faces, 120k sweep (rule on / off)",
        structure_blind_gap_range_m=0.0,
    )
    # How much of their base something nearer hides (structure_hidden_base: the same pass, the beam
    # below every bin of a judged cluster, not only the low ones)
    rule_off(
        "hidden_base",
        "base hidden in front of truck-tall clusters, 120k sweep (rule on / off)",
        structure_hidden_base=0.0,
    )
    # A far car's end (vehicle_end_recede_m: one pass over the points of the boxes the shape rules
    # call a person, a cyclist or UNKNOWN)
    rule_off(
        "vehicle_end", "car ends among the small boxes, 120k sweep (rule on / off)", vehicle_end_recede_m=0.0
    )
    # People side by side (group_split: one top profile per cyclist-sized cluster that passed the
    # structure rules, a refit only where it splits)
    rule_off("group_split", "people side by side, 120k sweep (split on / off)", group_split=False)
    # Columns judged with their neighbouring cells (structure_tall_spread_m: a second walk over the
    # cells not tall alone that have returns above z_max beside them); baseline: each cell alone
    rule_off(
        "tall_spread",
        "columns with their neighbours, 120k sweep (spread / alone)",
        "alone",
        structure_tall_spread_m=0.0,
    )

    # The hidden road's continuation (ground_hidden_slope: the objects' shadow line on a polar grid);
    # baseline: the same ground stage without it
    g_args = (
        cfg.range_min_m, cfg.range_max_m, cfg.ground_cell_m, cfg.ground_max_slope, cfg.ground_reject_lowest,
        cfg.sensor_z_m,
    )  # fmt: skip
    h_args = (GROUND_HIDDEN_MARGIN_M, cfg.class_height_slack_per_m)
    t_hid = median_time(lambda: ground_height(pts, *g_args, cfg.ground_hidden_slope, *h_args), args.runs)
    t_gnd = median_time(lambda: ground_height(pts, *g_args, 0.0, *h_args), args.runs)
    print(
        f"ground stage, 120k sweep: {1e3 * t_hid:.2f} ms with the hidden road's continuation, "
        f"{1e3 * t_gnd:.2f} ms without ({t_hid / t_gnd:.2f}x)"
    )
    fig.add("ground_120k_hidden_ms", 1e3 * t_hid)
    fig.add("ground_120k_hidden_over_plain_x", t_hid / t_gnd)

    # Baseline: Open3D DBSCAN on the same non-ground points of the 30k sweep.
    import open3d as o3d

    pts = clouds["30k"]
    obj, obj_hag = non_ground(pts, cfg)
    grid = np.full(math.ceil(2 * cfg.range_max_m / cfg.cluster_cell_m) ** 2, -1, np.int32)

    def ours() -> int:
        lab, n = label_bev(
            obj[:, 0],
            obj[:, 1],
            obj_hag,
            cfg.cluster_cell_m,
            cfg.range_max_m,
            math.radians(cfg.cluster_link_angle_deg),
            cfg.cluster_radial_link_per_m,
            cfg.cluster_radial_link_max_m,
            cfg.cluster_elevated_min_m,
            cfg.cluster_elevated_link_m,
            cfg.max_length_m,
            grid,
        )
        group_by_label(lab, n)
        return n

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(obj.astype(np.float64)))
    eps, min_pts = 0.5, 3  # eps ~ our 8-neighbour reach at 0.2 m cells (0.2-0.57 m)

    def o3d_dbscan() -> int:
        return int(np.asarray(pcd.cluster_dbscan(eps=eps, min_points=min_pts)).max()) + 1

    runs_o3d = max(5, args.runs // 3)
    t_ours = median_time(ours, args.runs)
    t_o3d = median_time(o3d_dbscan, runs_o3d, warmup=1)
    t_full = median_time(lambda: det.detect(pts, 0, "base_link"), args.runs)
    print(f"\nclustering {len(obj)} non-ground points of the 30k sweep:")
    print(f"  ours label_bev+group (BEV union-find, numba): {1e3 * t_ours:8.2f} ms  ({ours()} clusters)")
    n_o3d = o3d_dbscan()
    print(
        f"  open3d cluster_dbscan eps={eps} min_points={min_pts}: {1e3 * t_o3d:8.2f} ms  ({n_o3d} clusters)"
    )
    print(f"  ratio open3d / ours (clustering):       {t_o3d / t_ours:8.1f}x")
    print(f"  ratio open3d / ours (full detect() on the whole 30k sweep): {t_o3d / t_full:8.1f}x")
    fig.add("cluster_30k_ours_ms", 1e3 * t_ours)
    fig.add("cluster_30k_open3d_dbscan_ms", 1e3 * t_o3d)
    fig.add("cluster_open3d_over_ours_x", t_o3d / t_ours)
    fig.write()


if __name__ == "__main__":
    main()
