"""Evaluation region, don't-care truth and static false positives, as real datasets score.

* Region (``--region``): ``all``; ``range:R``, objects whose BEV centre lies within R m of the
  ego (base_link, from the truth odometry at the frame's stamp), as nuScenes' class ranges;
  ``fov:CAMERA``, objects whose centre lies in front of that camera and inside its horizontal
  field of view (pinhole ``K``, image width), as KITTI scores only what the camera sees. Truth
  and estimates are filtered by the same rule.
* Don't-care: a truth object with no LiDAR point and no radar return (the truth bag's
  annotations, :mod:`sensor_fusion.sim.annotation`) is removed, and so is an estimate whose
  nearest truth within the matching distance is such an object (KITTI's DontCare). Frames
  without annotations (old bags, LiDAR outages) keep all their truth.
* Static false positives: detections matched to no truth object (class-agnostic greedy by
  score within the matching distance) whose box overlaps a static element's box (footprints and
  heights; walls, vegetation, poles, ...; ground-like slabs excluded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .frames import FrameObjects, FramePair
from .mot import bev_distance2

RADAR_WINDOW_NS = 100_000_000  # radar scans within one LiDAR period (10 Hz) of a truth frame count


@dataclass(frozen=True)
class Region:
    kind: str  # "all" | "range" | "fov"
    range_m: float = 0.0
    camera: str = ""

    def __str__(self) -> str:
        if self.kind == "range":
            return f"range:{self.range_m:g}"
        return f"fov:{self.camera}" if self.kind == "fov" else "all"


def parse_region(text: str) -> Region:
    """``all``, ``range:R`` (m, > 0) or ``fov:CAMERA``; ValueError with the accepted forms."""
    t = (text or "all").strip()
    if t == "all":
        return Region("all")
    kind, _, arg = t.partition(":")
    if kind == "range":
        try:
            r = float(arg)
        except ValueError:
            r = -1.0
        if r > 0 and np.isfinite(r):
            return Region("range", range_m=r)
    elif kind == "fov" and arg:
        return Region("fov", camera=arg)
    raise ValueError(f"region '{text}': want all, range:R (metres > 0) or fov:CAMERA")


@dataclass(frozen=True)
class CameraView:
    """What ``fov:CAMERA`` needs: the camera pose in base_link and its pinhole."""

    T_base_cam: np.ndarray  # (4, 4)
    K: np.ndarray  # (3, 3)
    width: int


def region_mask(
    f: FrameObjects,
    region: Region,
    ego_xy_yaw: tuple[float, float, float] | None,
    camera: CameraView | None = None,
) -> np.ndarray:
    """(N,) True for objects of ``f`` (world frame) inside ``region`` seen from the ego pose."""
    n = len(f)
    if region.kind == "all" or n == 0:
        return np.ones(n, bool)
    if ego_xy_yaw is None:
        raise ValueError(f"region {region} needs the ego pose (the truth bag's /ground_truth/odom)")
    x, y, yaw = ego_xy_yaw
    d = f.centers[:, :2] - np.array([x, y])
    if region.kind == "range":
        return np.einsum("ij,ij->i", d, d) <= region.range_m**2
    if camera is None:
        raise ValueError(f"region {region}: the truth bag has no calibration for that camera")
    c, s = np.cos(yaw), np.sin(yaw)
    base = np.column_stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], f.centers[:, 2]])
    T_cb = np.linalg.inv(camera.T_base_cam)
    pc = base @ T_cb[:3, :3].T + T_cb[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = camera.K[0, 0] * pc[:, 0] / pc[:, 2] + camera.K[0, 2]
    return (pc[:, 2] > 0.0) & (u >= 0.0) & (u < camera.width)


@dataclass
class Annotations:
    """Per-frame LiDAR annotations and radar counts, keyed by stamp (from the truth bag)."""

    lidar: dict[int, dict]  # stamp -> {"ids", "num_points", "visibility", "visibility_level"}
    radar_stamps: np.ndarray  # (M,) int64, sorted
    radar: list[dict]  # in radar_stamps order: {"ids", "num_points"}

    @classmethod
    def from_json(cls, docs: Sequence[dict]) -> Annotations:
        lidar = {int(d["stamp_ns"]): d for d in docs if d.get("sensor") == "lidar"}
        radar = sorted((d for d in docs if d.get("sensor") != "lidar"), key=lambda d: int(d["stamp_ns"]))
        return cls(lidar, np.array([int(d["stamp_ns"]) for d in radar], np.int64), radar)

    def care_mask(self, f: FrameObjects) -> np.ndarray:
        """(N,) False for truth objects with no LiDAR point in this frame's sweep and no radar return
        within ``RADAR_WINDOW_NS``; all True for a frame without a LiDAR annotation."""
        ann = self.lidar.get(int(f.stamp_ns))
        if ann is None or len(f) == 0:
            return np.ones(len(f), bool)
        hits = _counts(f.ids, ann)
        lo, hi = np.searchsorted(
            self.radar_stamps, [f.stamp_ns - RADAR_WINDOW_NS, f.stamp_ns + RADAR_WINDOW_NS + 1]
        )
        for d in self.radar[lo:hi]:
            hits = hits + _counts(f.ids, d)
        return hits > 0

    def lidar_points(self, f: FrameObjects) -> np.ndarray | None:
        ann = self.lidar.get(int(f.stamp_ns))
        return None if ann is None else _counts(f.ids, ann)


def _counts(ids: np.ndarray, ann: dict) -> np.ndarray:
    a_ids = np.asarray(ann["ids"], np.int64)
    a_n = np.asarray(ann["num_points"], np.int64)
    if a_ids.size == 0:
        return np.zeros(len(ids), np.int64)
    order = np.argsort(a_ids)
    pos = np.clip(np.searchsorted(a_ids[order], ids), 0, a_ids.size - 1)
    return np.where(a_ids[order][pos] == ids, a_n[order][pos], 0)


def restrict_pairs(
    pairs: Sequence[FramePair],
    region: Region,
    ego_at,
    camera: CameraView | None,
    annotations: Annotations | None,
    max_distance_m: float,
) -> tuple[list[FramePair], int]:
    """Pairs restricted to ``region`` with don't-care truth (and estimates on it) removed; also the
    number of don't-care truth objects dropped. ``ego_at(stamp_ns)`` gives (x, y, yaw) or None."""
    out: list[FramePair] = []
    n_dc = 0
    max_d2 = max_distance_m**2
    for t, e in pairs:
        pose = ego_at(t.stamp_ns) if region.kind != "all" else None
        t = t.select(region_mask(t, region, pose, camera))
        e = e.select(region_mask(e, region, pose, camera))
        if annotations is not None and len(t):
            care = annotations.care_mask(t)
            if not care.all():
                n_dc += int((~care).sum())
                if len(e):
                    d2 = bev_distance2(t, e)  # (n_truth, n_est)
                    near = np.argmin(d2, axis=0)
                    on_dc = (~care[near]) & (d2[near, np.arange(len(e))] <= max_d2)
                    e = e.select(~on_dc)
                t = t.select(care)
        out.append((t, e))
    return out, n_dc


# the generator's ground-like classes (sim/static/materials.py GROUND_LIKE; a test holds them equal):
# not structure (a sidewalk slab, a paved parking strip)
GROUND_LIKE_CLASSES = frozenset({"sidewalk", "pavement"})


@dataclass(frozen=True)
class StaticBoxes:
    """Static elements as oriented boxes (world frame): footprint centres (E, 2), l x w (E, 2),
    yaw (E,), and their vertical extent [z_lo, z_hi] (E,) (an overhead sign's box spans the road
    above the traffic, so a detection under it does not lie on it)."""

    center: np.ndarray
    size: np.ndarray
    yaw: np.ndarray
    z_lo: np.ndarray
    z_hi: np.ndarray
    classes: tuple[str, ...] = ()
    # graded ground: elements that follow it are asked [lo, hi] over the ground at the detection
    rel_z: np.ndarray | None = None  # (E, 2), NaN for elements asked by their box
    ground: Callable[[np.ndarray], np.ndarray] | None = None  # (N, 2) xy -> (N,) ground height

    @classmethod
    def from_json(cls, d: dict) -> StaticBoxes:
        """From the truth bag's element list (``classes``, ``center``, ``size``, ``yaw``); ground-like
        classes (sidewalk slabs) are left out. Elements marked ``follows_ground`` (on graded roads:
        a pavement or fence whose box spans the ground's rise along it) are asked their height over
        the ground (``ground_relative_z``) at the detection's place, from the bag's ground grid, so
        the test means on a grade what it means on the plane."""
        names = [str(n) for n in d.get("classes", [])]
        keep = np.array([n.lower() not in GROUND_LIKE_CLASSES for n in names], bool)
        c = np.asarray(d.get("center", []), np.float64).reshape(-1, 3)[keep]
        s = np.asarray(d.get("size", []), np.float64).reshape(-1, 3)[keep]
        y = np.asarray(d.get("yaw", []), np.float64).reshape(-1)[keep]
        kept = tuple(n for n, k in zip(names, keep) if k)
        z_lo, z_hi = c[:, 2] - 0.5 * s[:, 2], c[:, 2] + 0.5 * s[:, 2]
        rel = ground = None
        if "follows_ground" in d:
            from ..sim.terrain import Terrain

            fg = np.asarray(d["follows_ground"], bool).reshape(-1)[keep]
            rel = np.asarray(d["ground_relative_z"], np.float64).reshape(-1, 2)[keep]
            rel[~fg] = np.nan
            ground = Terrain.from_dict(d["ground"]).height
        return cls(c[:, :2], s[:, :2], y, z_lo, z_hi, kept, rel, ground)

    @classmethod
    def empty(cls) -> StaticBoxes:
        z = np.zeros(0)
        return cls(np.zeros((0, 2)), np.zeros((0, 2)), z, z, z)

    def __len__(self) -> int:
        return int(self.center.shape[0])


def _corners(center: np.ndarray, size: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(N, 4, 2) footprint corners."""
    c, s = np.cos(yaw), np.sin(yaw)
    hl, hw = 0.5 * size[:, 0], 0.5 * size[:, 1]
    sx = np.array([1.0, -1.0, -1.0, 1.0])
    sy = np.array([1.0, 1.0, -1.0, -1.0])
    x = center[:, 0:1] + sx * hl[:, None] * c[:, None] - sy * hw[:, None] * s[:, None]
    y = center[:, 1:2] + sx * hl[:, None] * s[:, None] + sy * hw[:, None] * c[:, None]
    return np.stack([x, y], -1)


def _overlap_paired(a_c, a_s, a_y, b_c, b_s, b_y) -> np.ndarray:
    """(K,) True where rectangle k of A overlaps rectangle k of B (separating-axis test)."""
    ca, cb = _corners(a_c, a_s, a_y), _corners(b_c, b_s, b_y)  # (K, 4, 2)
    axes = np.stack(
        [
            np.stack([np.cos(a_y), np.sin(a_y)], -1),
            np.stack([-np.sin(a_y), np.cos(a_y)], -1),
            np.stack([np.cos(b_y), np.sin(b_y)], -1),
            np.stack([-np.sin(b_y), np.cos(b_y)], -1),
        ],
        axis=1,
    )  # (K, 4 axes, 2)
    pa = np.einsum("kad,kcd->kac", axes, ca)  # (K, 4 axes, 4 corners)
    pb = np.einsum("kad,kcd->kac", axes, cb)
    sep = (pa.max(-1) < pb.min(-1)) | (pb.max(-1) < pa.min(-1))
    return ~sep.any(-1)


def overlapping_pairs(a_c, a_s, a_y, b_c, b_s, b_y, a_z=None, b_z=None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ia, ib) of every rectangle of A (centre (2,), size l x w, yaw) that overlaps one of
    B (and, given ``a_z`` (A, 2) and ``b_z`` (B, 2) as [lo, hi], whose heights overlap too);
    bounding circles prune the pairs before the exact separating-axis test."""
    a_c, a_s, a_y = (np.asarray(v, np.float64) for v in (a_c, a_s, a_y))
    b_c, b_s, b_y = (np.asarray(v, np.float64) for v in (b_c, b_s, b_y))
    if a_c.shape[0] == 0 or b_c.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ra = 0.5 * np.hypot(a_s[:, 0], a_s[:, 1])
    rb = 0.5 * np.hypot(b_s[:, 0], b_s[:, 1])
    d = np.hypot(a_c[:, None, 0] - b_c[None, :, 0], a_c[:, None, 1] - b_c[None, :, 1])
    near = d <= ra[:, None] + rb[None, :]
    if a_z is not None and b_z is not None:
        az, bz = np.asarray(a_z, np.float64), np.asarray(b_z, np.float64)
        near &= (az[:, None, 0] <= bz[None, :, 1]) & (bz[None, :, 0] <= az[:, None, 1])
    ia, ib = np.nonzero(near)
    if ia.size:
        ov = _overlap_paired(a_c[ia], a_s[ia], a_y[ia], b_c[ib], b_s[ib], b_y[ib])
        ia, ib = ia[ov], ib[ov]
    return ia, ib


def boxes_overlap(a_c, a_s, a_y, b_c, b_s, b_y, a_z=None, b_z=None) -> np.ndarray:
    """(A,) True where rectangle a overlaps any rectangle of B (see :func:`overlapping_pairs`)."""
    out = np.zeros(np.asarray(a_c).shape[0], bool)
    out[overlapping_pairs(a_c, a_s, a_y, b_c, b_s, b_y, a_z, b_z)[0]] = True
    return out


def static_false_positives(pairs: Sequence[FramePair], static: StaticBoxes, max_distance_m: float) -> dict:
    """Detections matched to no truth (class-agnostic, greedy by score within ``max_distance_m``)
    whose box overlaps a static element's (footprint and height); total, per frame, and by the
    class of the element each lies on."""
    n = 0
    by_class: dict[str, int] = {}
    max_d2 = max_distance_m**2
    for t, e in pairs:
        if len(e) == 0 or len(static) == 0:
            continue
        matched = np.zeros(len(e), bool)
        if len(t):
            d2 = bev_distance2(t, e)  # (n_truth, n_est)
            taken = np.zeros(len(t), bool)
            for j in np.argsort(-e.scores, kind="stable"):
                row = np.where(taken, np.inf, d2[:, j])
                i = int(np.argmin(row))
                if row[i] <= max_d2:
                    taken[i] = matched[j] = True
        fp = ~matched
        if fp.any():
            ez = np.column_stack(
                [e.centers[fp, 2] - 0.5 * e.sizes[fp, 2], e.centers[fp, 2] + 0.5 * e.sizes[fp, 2]]
            )
            ia, ib = overlapping_pairs(
                e.centers[fp, :2], e.sizes[fp, :2], e.yaw[fp], static.center, static.size, static.yaw
            )
            if ia.size:  # heights: the element's box, or its height over the ground at the detection
                lo, hi = static.z_lo[ib], static.z_hi[ib]
                if static.rel_z is not None:
                    g = static.ground(e.centers[fp, :2][ia])
                    rel = static.rel_z[ib]
                    on = ~np.isnan(rel[:, 0])
                    lo, hi = np.where(on, g + rel[:, 0], lo), np.where(on, g + rel[:, 1], hi)
                keep = (ez[ia, 0] <= hi) & (lo <= ez[ia, 1])
                ia, ib = ia[keep], ib[keep]
            if ia.size:
                # each detection once, named by the nearest element it overlaps
                dist = np.hypot(*(e.centers[fp, :2][ia] - static.center[ib]).T)
                order = np.lexsort((dist, ia))
                first = order[np.r_[True, ia[order][1:] != ia[order][:-1]]]
                n += first.size
                for j in ib[first]:
                    name = static.classes[j] if j < len(static.classes) else "static"
                    by_class[name] = by_class.get(name, 0) + 1
    frames = len(pairs)
    return {
        "static_false_positives": n,
        "static_false_positives_per_frame": n / frames if frames else float("nan"),
        "static_false_positives_by_element": dict(sorted(by_class.items(), key=lambda kv: -kv[1])),
    }
