#!/usr/bin/env python3
"""Where the classical LiDAR detector's false positives and missed cars come from (development aid).

    .venv/bin/python scripts/lidar_detector_diag.py BAG [lidar_param=value ...]

Runs on the sweeps cached by ``scripts/lidar_detector_eval.py cache`` (truth odometry). For
every candidate cluster of every sweep it records the box fit, the structure features and which
rule dropped it, then prints (region range:50, don't-care truth applied):

- false positives (no truth within 2 m), grouped by the static element they lie on, with their
  sizes, class, range and features;
- missed cars: the candidate clusters within 2 m of each and why they were dropped or mislabelled.
"""

from __future__ import annotations

import json
import pickle
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import yaml
from numba import njit

import sensor_fusion.perception.lidar as L
from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.eval.bags import ANNOTATIONS, GT_OBJECTS, STATIC, objects_frame, pair_restrictor
from sensor_fusion.eval.frames import match_frames
from sensor_fusion.eval.regions import Annotations, StaticBoxes, overlapping_pairs, parse_region

sys.path.insert(0, str(Path(__file__).parent))
from lidar_detector_eval import CACHE, _with_origin, detection_frame


@njit(cache=True)
def column_depth_spread(
    xyz: np.ndarray,
    hag: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    clusters: np.ndarray,
    band_lo_m: float,
    band_hi_m: float,
    column_rad: float,
    spread_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(porous_fraction, n_columns) per cluster: of the LiDAR columns (azimuth bins of
    ``column_rad``) holding two returns or more between ``band_lo_m`` and ``band_hi_m`` above
    ground, the fraction whose horizontal ranges spread over more than ``spread_m``.

    A solid face returns every beam of a column at nearly one range (a vertical face exactly;
    a car's door or bumper within its few-centimetre curvature); foliage, slatted fences and
    bicycle wheels let beams through to returns at random depths. Points are in the sensor-centred
    frame.
    """
    nc = clusters.shape[0]
    frac = np.zeros(nc)
    ncol = np.zeros(nc, np.int64)
    for ci in range(nc):
        k = clusters[ci]
        s0, n = starts[k], counts[k]
        m = 0
        az = np.empty(n)
        rr = np.empty(n)
        for t in range(n):
            p = order[s0 + t]
            h = hag[p]
            if h < band_lo_m or h > band_hi_m:
                continue
            x, y = np.float64(xyz[p, 0]), np.float64(xyz[p, 1])
            az[m] = np.arctan2(y, x)
            rr[m] = np.hypot(x, y)
            m += 1
        if m < 2:
            continue
        # unwrap around the cluster's first azimuth so a cluster behind the sensor stays contiguous
        a0 = az[0]
        for t in range(m):
            d = az[t] - a0
            az[t] = a0 + (d + np.pi) % (2.0 * np.pi) - np.pi
        srt = np.argsort(az[:m])
        n_col = 0
        n_por = 0
        t = 0
        while t < m:
            b = np.floor(az[srt[t]] / column_rad)
            lo = rr[srt[t]]
            hi = lo
            cnt = 0
            while t < m and np.floor(az[srt[t]] / column_rad) == b:
                lo = min(lo, rr[srt[t]])
                hi = max(hi, rr[srt[t]])
                cnt += 1
                t += 1
            if cnt >= 2:
                n_col += 1
                if hi - lo > spread_m:
                    n_por += 1
        ncol[ci] = n_col
        frac[ci] = n_por / max(n_col, 1)
    return frac, ncol


_last: dict = {}
_fit_boxes = L.fit_boxes
_structure_shapes = L.structure_shapes
_structure_features = L.structure_features
_classify = L.classify_shape


def _sf_spy(obj, hag, order, starts, counts, cand, fit, *a):
    out = _structure_features(obj, hag, order, starts, counts, cand, fit, *a)
    if "extra" in _last:  # the pieces of a split group, judged again: keep the candidates' pass
        return out
    por, ncol = column_depth_spread(obj, hag, order, starts, counts, cand, 0.3, 4.5, np.radians(0.2), 0.25)
    por2, ncol2 = column_depth_spread(obj, hag, order, starts, counts, cand, 0.3, 0.8, np.radians(0.2), 0.25)
    _, inter2, _ = _structure_features(obj, hag, order, starts, counts, cand, fit, 0.3, 0.7, 0.2, 0.25)
    _last["extra"] = np.column_stack([por, ncol, por2, ncol2, np.hypot(fit[:, 0], fit[:, 1]), out[1]])
    return out


def _classify_spy(sizes, *a, **k):
    _last["kept_lwh"] = sizes.copy()
    return _classify(sizes, *a, **k)


def _fit_spy(*a, **k):
    out = _fit_boxes(*a, **k)
    if "feat" not in _last:  # the fit the structure rules judge, not the refit after a group split
        _last["fit"] = out
    return out


def _structure_shapes_spy(
    length, width, height, interior, flat, slack, colgap, cfg, censored=None, reach=None
):
    out = _structure_shapes(length, width, height, interior, flat, slack, colgap, cfg, censored, reach)
    if "feat" not in _last:  # the candidates' pass; a split group's pieces are judged again after it
        _last["feat"] = np.column_stack([length, width, height, interior, flat])
        _last["struct"] = L._any_shape(out)
    return out


L.fit_boxes = _fit_spy
L.structure_features = _sf_spy
L.classify_shape = _classify_spy
L.structure_shapes = _structure_shapes_spy


def _q(fx):
    if len(fx) == 0:
        return
    names = ["por", "ncol", "porlo", "ncollo", "range", "inter", "l", "w", "h", "flat"]
    print(
        "      ",
        "  ".join(
            f"{n}:{np.round(np.nanpercentile(fx[:, i], [10, 50, 90]), 2)}" for i, n in enumerate(names)
        ),
    )


def main() -> None:
    bag, *kv = sys.argv[1:]
    cfg = L.LidarDetectorConfig()
    dump = "--dump" in kv
    for a in kv:
        if a == "--dump":
            continue
        k, v = a.split("=", 1)
        setattr(cfg, k, type(getattr(cfg, k))(yaml.safe_load(v)))
    name = Path(bag).name
    z = np.load(CACHE / f"{name}.npz")
    with open(CACHE / f"{name}.truth.pkl", "rb") as f:
        truth = pickle.load(f)
    static = StaticBoxes.from_json(json.loads(truth[STATIC][0].data))
    det = L.LidarDetector(_with_origin(cfg, truth))  # the LiDAR origin as the pipeline places it
    gt = [objects_frame(m) for m in truth[GT_OBJECTS]]
    frames, cands = [], []
    det_extra: dict = {}
    tp_rows = []
    tpp_rows = []
    for k in range(int(z["n"])):
        xyz, stamp, T = z[f"xyz_{k}"], int(z[f"stamp_{k}"]), z[f"pose_{k}"]
        _last.clear()
        d = det.detect(xyz, stamp, "base_link").transform(T, "odom")
        frames.append(detection_frame(d, stamp))
        fit = _last["fit"]
        xy = fit[:, :2] @ T[:2, :2].T + T[:2, 3]
        cands.append((stamp, xy, _last["feat"], _last["struct"], np.hypot(fit[:, 0], fit[:, 1])))
        kl, ft = _last["kept_lwh"], _last["feat"]
        ex = np.full((len(kl), 10), np.nan)
        for j in range(len(kl)):
            q = np.flatnonzero((ft[:, 0] == kl[j, 0]) & (ft[:, 1] == kl[j, 1]))
            if q.size:
                ex[j] = np.r_[_last["extra"][q[0]], kl[j, 0], kl[j, 1], kl[j, 2], ft[q[0], 4]]
        det_extra[stamp] = ex
    restrict = pair_restrictor(truth, parse_region("range:50"), True, 2.0)
    pairs, _ = restrict(match_frames(gt, frames, 20_000_000))
    cand_by = {c[0]: c for c in cands}
    ann = Annotations.from_json([json.loads(m.data) for m in truth[ANNOTATIONS]])
    ego_xy = {int(z[f"stamp_{k}"]): z[f"pose_{k}"][:2, 3] for k in range(int(z["n"]))}
    miss_cat: Counter = Counter()
    fp_rows, miss_rows = [], []
    for t, e in pairs:
        # class-agnostic nearest truth
        if len(e):
            d_te = (
                np.hypot(*(t.centers[:, None, :2] - e.centers[None, :, :2]).transpose(2, 0, 1))
                if len(t)
                else np.full((0, len(e)), np.inf)
            )
            near = d_te.min(0) if len(t) else np.full(len(e), np.inf)
            ex = det_extra[e.stamp_ns]
            for j in np.flatnonzero(near <= 2.0):
                i = int(np.argmin(d_te[:, j]))
                if t.labels[i] == int(ObjectClass.CAR) and e.labels[j] == int(ObjectClass.CAR):
                    tp_rows.append(ex[e.ids[j]])
                if t.labels[i] == int(ObjectClass.PEDESTRIAN) and e.labels[j] == int(ObjectClass.PEDESTRIAN):
                    tpp_rows.append(ex[e.ids[j]])
            for j in np.flatnonzero(near > 2.0):
                ez = [[e.centers[j, 2] - 0.5 * e.sizes[j, 2], e.centers[j, 2] + 0.5 * e.sizes[j, 2]]]
                ia, ib = overlapping_pairs(
                    e.centers[j : j + 1, :2],
                    e.sizes[j : j + 1, :2],
                    e.yaw[j : j + 1],
                    static.center,
                    static.size,
                    static.yaw,
                    ez,
                    np.column_stack([static.z_lo, static.z_hi]),
                )
                el = "none"
                if ib.size:
                    jj = ib[np.argmin(np.hypot(*(static.center[ib] - e.centers[j, :2]).T))]
                    el = f"{static.classes[jj]}({static.size[jj, 0]:.1f}x{static.size[jj, 1]:.1f})"
                fp_rows.append(
                    (el.split("(")[0], el, ObjectClass(int(e.labels[j])).name, *e.sizes[j], ex[e.ids[j]])
                )
        c = cand_by.get(t.stamp_ns)
        npts = ann.lidar_points(t)
        for i in np.flatnonzero(t.labels == int(ObjectClass.CAR)):
            ok = (
                len(e)
                and (
                    (np.hypot(*(e.centers[:, :2] - t.centers[i, :2]).T) <= 2.0)
                    & (e.labels == int(ObjectClass.CAR))
                ).any()
            )
            if ok:
                continue
            dc = np.hypot(*(c[1] - t.centers[i, :2]).T)
            near = np.flatnonzero(dc <= 3.0)
            desc = []
            for q in near[np.argsort(dc[near])][:3]:
                lwh = c[2][q]
                desc.append(
                    f"d={dc[q]:.1f} l={lwh[0]:.1f} w={lwh[1]:.1f} h={lwh[2]:.1f} flat={lwh[4]:.2f} "
                    f"S={int(c[3][q])}"
                )
            ed = ""
            if len(e):
                de = np.hypot(*(e.centers[:, :2] - t.centers[i, :2]).T)
                j = int(np.argmin(de))
                lab = ObjectClass(int(e.labels[j])).name
                ed = f" nearest det {lab} d={de[j]:.1f} {np.round(e.sizes[j], 1)}"
            npt = int(npts[i]) if npts is not None else -1
            rng_i = float(np.hypot(*(t.centers[i, :2] - ego_xy[t.stamp_ns])))
            de = np.hypot(*(e.centers[:, :2] - t.centers[i, :2]).T) if len(e) else np.zeros(0)
            if 0 <= npt < 10:
                cat = "few points (<10)"
            elif (de <= 2.0).any():
                cat = "labelled " + ObjectClass(int(e.labels[np.argmin(de)])).name
            elif ((de <= 4.0) & (e.labels == int(ObjectClass.CAR))).any():
                cat = "car box 2-4 m off"
            elif (dc <= 2.5).any() and c[3][dc <= 2.5].any():
                cat = "structure rule"
            elif (dc <= 2.5).any():
                cat = "box or tall-column rule"  # not structure: dropped by the box rules or tall_share
            else:
                cat = "no cluster"
            miss_cat[cat] += 1
            miss_rows.append(
                f"{cat:>18s} r={rng_i:4.1f} n={npt:4d} truth {np.round(t.sizes[i], 1)} | "
                + "; ".join(desc)
                + ed
            )
    print(f"{name}: {len(pairs)} frames, FPs {len(fp_rows)}, missed cars {len(miss_rows)}")
    by = defaultdict(list)
    for r in fp_rows:
        by[(r[0], r[2])].append(r)
    for key, rows in sorted(by.items(), key=lambda kv: -len(kv[1])):
        a = np.array([r[3:6] for r in rows])
        fx = np.array([r[6] for r in rows])
        print(
            f"  FP {key[0]:>12s} {key[1]:>10s} n={len(rows):4d}  l/w/h median {np.round(np.median(a, 0), 2)}"
            f" min {np.round(a.min(0), 1)} max {np.round(a.max(0), 1)}",
            Counter(r[1] for r in rows).most_common(2),
        )
        _q(fx)
    print("TP cars")
    _q(np.array(tp_rows))
    print("TP pedestrians")
    _q(np.array(tpp_rows))
    if dump:
        np.save(f"out/diag_{name}.npy", np.array(tp_rows))
    print("missed cars by cause:", dict(miss_cat.most_common()))
    print("missed cars (sample):")
    rs = np.random.default_rng(0)
    for r in rs.choice(miss_rows, min(40, len(miss_rows)), replace=False) if miss_rows else []:
        print("  ", r)


if __name__ == "__main__":
    main()
