"""Classical LiDAR object detector: ground removal, BEV clustering, L-shape boxes.

ROS-free core layer. Input is one sweep already in ``base_link`` (x forward,
y left, z up, ground near z = 0); output is :class:`Detections` in that frame.
The three stages live in ``ground``, ``clustering`` and ``boxfit``; this
module holds the configuration, the shape-based class guess and the output
assembly. One detector instance owns scratch buffers: use one per thread.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..core.classes import SENSOR_LIDAR, ObjectClass
from ..core.configs import strict_from_dict
from ..core.types import Detections
from .boxfit import BODY_WIDTH, CX, CY, GROUND_Z, LENGTH, WIDTH, YAW, Z_MAX, Z_MIN, fit_boxes
from .clustering import group_by_label, label_bev
from .ground import MAX_REJECT_LOWEST, ground_height, select_above_ground

_MAX_GRID_CELLS = 16_000_000  # 64 MiB of int32 clustering scratch

_INT_FIELDS = ("ground_reject_lowest", "min_points", "fit_max_points")


@dataclass
class LidarDetectorConfig:
    """Detector parameters; heights are relative to the local ground estimate."""

    # LiDAR origin in base_link (e.g. from the calibration's lidar translation): ranges, lines of
    # sight (clustering, box completion, covariance) and the grids are measured from it.
    sensor_x_m: float = 0.0
    sensor_y_m: float = 0.0
    # Region of interest (horizontal range from the sensor origin).
    range_min_m: float = 1.5  # closer returns are the ego vehicle itself
    range_max_m: float = 80.0
    z_min_m: float = 0.2  # points lower than this above local ground are ground
    z_max_m: float = 4.5  # points higher than this above ground are dropped (foliage, bridges)
    # Ground estimate.
    ground_cell_m: float = 0.5
    # m/m; ground rises at most this much per metre between cells (10 % grade). Larger follows
    # steeper terrain but lets the estimate climb faster into occlusion shadows, eating low objects.
    ground_max_slope: float = 0.1
    ground_reject_lowest: int = 1  # count of lowest returns per cell ignored as outliers (0..3)
    # Clustering.
    cluster_cell_m: float = 0.2  # BEV cell, m; objects >= 2 cells apart across the line of sight stay apart
    cluster_link_angle_deg: float = 0.4  # deg; at range cells link across gaps up to range * this (columns)
    # Line-of-sight link length per metre of range (m/m): a surface at grazing angle g returns points
    # range * column_spacing / sin(g) apart; 0.1 ~ 0.2 deg columns down to g = 2 deg.
    cluster_radial_link_per_m: float = 0.1
    cluster_radial_link_max_m: float = 2.5  # cap on the line-of-sight link length
    # Cells whose lowest point is this high above ground (roof, bonnet seen from above) cannot stand
    # alone; they link along the line of sight up to cluster_elevated_link_m.
    cluster_elevated_min_m: float = 0.8
    cluster_elevated_link_m: float = 3.0
    min_points: int = 5  # clusters with fewer points are dropped
    # Box acceptance.
    min_height_m: float = 0.3  # cluster top must be at least this above ground (curbs, debris)
    max_length_m: float = 16.0  # longer clusters are walls/buildings
    max_width_m: float = 4.0
    # Taller clusters are structures (walls, poles, trees), even when fragmented; must be < z_max_m.
    max_height_m: float = 4.3
    max_bottom_clearance_m: float = 1.5  # lowest point higher than this above ground: canopy/sign
    # Box fitting.
    fit_angle_step_deg: float = 2.0  # coarse heading sweep step; refined to a tenth of it
    fit_max_points: int = 512  # cluster subsample size for the heading search
    # m of height per m of range: box tops fall between beams at range, so class height minima are
    # lowered by this times the range. ~ vertical beam spacing in rad (64 beams over 40 deg: 0.011).
    class_height_slack_per_m: float = 0.011
    # Grow vehicle boxes seen from one side to their class's typical size, away from the sensor.
    shape_completion: bool = True
    # Uncertainty and confidence.
    pos_std_min_m: float = 0.15  # centre std at zero range with many points
    pos_std_radial_per_m: float = 0.005  # added std along the line of sight, m per m of range
    pos_std_tangential_per_m: float = 0.0035  # added std across the line of sight, m per m of range
    cov_ref_points: float = 20.0  # count; variance scales by (1 + cov_ref_points / n_points)
    score_ref_points: float = 15.0  # count; score scales by 1 - exp(-n_points / score_ref_points)

    def validate(self) -> None:
        """Raise ValueError naming the first bad parameter."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "shape_completion":
                if not isinstance(v, (bool, np.bool_)):
                    raise ValueError(f"{f.name} must be true or false, got {v!r}")
            elif f.name in _INT_FIELDS:
                if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                    raise ValueError(f"{f.name} must be an integer, got {v!r}")
            elif not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
                raise ValueError(f"{f.name} must be a number, got {v!r}")
            elif not math.isfinite(v):
                raise ValueError(f"{f.name} must be finite, got {v!r}")
        positive = (
            "range_max_m",
            "z_max_m",
            "ground_cell_m",
            "cluster_cell_m",
            "max_length_m",
            "max_width_m",
            "max_height_m",
            "fit_angle_step_deg",
            "pos_std_min_m",
            "cov_ref_points",
            "score_ref_points",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        non_negative = (
            "range_min_m",
            "z_min_m",
            "ground_max_slope",
            "cluster_link_angle_deg",
            "cluster_elevated_min_m",
            "cluster_elevated_link_m",
            "cluster_radial_link_per_m",
            "cluster_radial_link_max_m",
            "min_height_m",
            "max_bottom_clearance_m",
            "pos_std_radial_per_m",
            "pos_std_tangential_per_m",
            "class_height_slack_per_m",
        )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.range_min_m >= self.range_max_m:
            raise ValueError(f"range_min_m ({self.range_min_m}) must be < range_max_m ({self.range_max_m})")
        if self.z_min_m >= self.z_max_m:
            raise ValueError(f"z_min_m ({self.z_min_m}) must be < z_max_m ({self.z_max_m})")
        if not self.z_min_m < self.max_height_m < self.z_max_m:
            raise ValueError(
                f"max_height_m ({self.max_height_m}) must lie between z_min_m ({self.z_min_m}) and "
                f"z_max_m ({self.z_max_m}): taller structures are recognised by points above it"
            )
        if not 0 <= self.ground_reject_lowest <= MAX_REJECT_LOWEST:
            raise ValueError(
                f"ground_reject_lowest must be in [0, {MAX_REJECT_LOWEST}], got {self.ground_reject_lowest}"
            )
        if self.min_points < 2:
            raise ValueError(f"min_points must be >= 2, got {self.min_points}")
        if self.fit_max_points < 8:
            raise ValueError(f"fit_max_points must be >= 8, got {self.fit_max_points}")
        if self.fit_angle_step_deg > 45.0:
            raise ValueError(f"fit_angle_step_deg must be <= 45, got {self.fit_angle_step_deg}")
        for name in ("cluster_cell_m", "ground_cell_m"):
            ng = math.ceil(2.0 * self.range_max_m / getattr(self, name))
            if ng * ng > _MAX_GRID_CELLS:
                raise ValueError(
                    f"{name}={getattr(self, name)} with range_max_m={self.range_max_m} needs a "
                    f"{ng}x{ng} grid (> {_MAX_GRID_CELLS} cells); use a larger cell or smaller range"
                )

    @classmethod
    def from_dict(cls, d: dict) -> LidarDetectorConfig:
        """Build from a parameter mapping (e.g. YAML); unknown keys are an error, not ignored."""
        return strict_from_dict(cls, d)


class _ShapeRule(NamedTuple):
    label: ObjectClass
    length_m: tuple[float, float]
    width_m: tuple[float, float]
    height_m: tuple[float, float]
    score: float  # base confidence of the guess
    end_on: bool  # the measured long side is the object's *width* (only its rear or front seen)
    slack: bool  # height minimum is a plausibility bound (lowered at range), not a class split
    body: bool = False  # test the width of the body (below the roof band) instead of the box width


# First match wins. Boxes cover only the visible faces, so width minima are 0 (a
# side-on car is an I-shape). A side-on bicycle and an end-on car (rear face
# only) share a footprint: a body depth >= 0.4 m (a roof seen from above does
# not count) or a rider's height (>= 1.6 m, above most car roofs) says bicycle,
# otherwise car; scores are low. A car's side, once visible at all, is visible
# whole (convex box), so a short (< 2.5 m) but wide (>= 1.2 m) L-shape is a
# car whose far side was sparse.
_SHAPE_RULES: tuple[_ShapeRule, ...] = (
    _ShapeRule(ObjectClass.PEDESTRIAN, (0.0, 1.2), (0.0, 1.2), (1.0, 2.2), 0.7, False, True),
    _ShapeRule(ObjectClass.BICYCLE, (1.2, 2.3), (0.4, 1.2), (1.0, 2.2), 0.6, False, True, body=True),
    _ShapeRule(ObjectClass.BICYCLE, (1.2, 2.3), (0.0, 1.2), (1.6, 2.2), 0.5, False, False),
    _ShapeRule(ObjectClass.CAR, (2.5, 6.0), (0.0, 2.4), (1.0, 2.3), 0.9, False, True),
    _ShapeRule(ObjectClass.CAR, (1.2, 2.5), (1.2, 2.4), (1.0, 2.3), 0.6, False, True),
    _ShapeRule(ObjectClass.CAR, (1.2, 2.5), (0.0, 0.4), (1.0, 1.6), 0.5, True, True, body=True),
    _ShapeRule(ObjectClass.TRUCK, (6.0, 16.0), (0.0, 3.2), (1.8, 4.6), 0.85, False, True),
    _ShapeRule(ObjectClass.TRUCK, (3.2, 6.0), (0.0, 3.2), (2.3, 4.6), 0.7, False, False),  # cab, short box
    _ShapeRule(
        ObjectClass.TRUCK, (1.8, 3.2), (1.8, 3.2), (2.3, 4.6), 0.6, False, False
    ),  # front + bit of side
    _ShapeRule(ObjectClass.TRUCK, (1.8, 3.2), (0.0, 1.2), (2.3, 4.6), 0.6, True, False),
)
_UNKNOWN_SCORE = 0.3

# Typical (length, width) in m per class, to complete boxes whose far side is hidden.
_TYPICAL_LW = {ObjectClass.CAR: (4.5, 1.8), ObjectClass.TRUCK: (8.0, 2.5), ObjectClass.BICYCLE: (1.8, 0.6)}
_UNSEEN_FRACTION = 0.6  # an extent below this fraction of typical counts as not observed
_COMPLETION_STD_FRACTION = 0.2  # centre std added per metre of hypothesised extent


def classify_shape(
    sizes: np.ndarray, height_slack_m: np.ndarray | float = 0.0, body_width: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 3) l, w, h -> (labels int64, base scores, end_on bool) from the rules above.

    ``height_slack_m`` (scalar or per box) lowers the height minima, for tops
    missed between beams at range; ``body_width`` (default: the box width) is
    the width below the roof band, see ``boxfit.fit_boxes``.
    """
    l, w, h = sizes[:, 0], sizes[:, 1], sizes[:, 2]
    bw = w if body_width is None else body_width
    h_slack = h + height_slack_m
    labels = np.full(len(sizes), int(ObjectClass.UNKNOWN), np.int64)
    base = np.full(len(sizes), _UNKNOWN_SCORE)
    end_on = np.zeros(len(sizes), bool)
    free = np.ones(len(sizes), bool)
    for r in _SHAPE_RULES:
        h_lo = h_slack if r.slack else h
        wr = bw if r.body else w
        hit = free & (l >= r.length_m[0]) & (l <= r.length_m[1]) & (wr >= r.width_m[0]) & (wr <= r.width_m[1])
        hit &= (h_lo >= r.height_m[0]) & (h <= r.height_m[1])
        labels[hit] = int(r.label)
        base[hit] = r.score
        end_on[hit] = r.end_on
        free &= ~hit
    return labels, base, end_on


def complete_boxes(
    centers_xy: np.ndarray, lw: np.ndarray, yaw: np.ndarray, labels: np.ndarray, end_on: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grow partially seen vehicle boxes to typical size, keeping the visible faces in place.

    The box fit only spans the visible faces, so an end-on car is a 0.1 m
    slab whose centre is ~2 m short of the true one. An extent that is below
    ``_UNSEEN_FRACTION`` of its class's typical value is replaced by the
    typical value and the centre moves half the difference *away from the
    sensor* (the hidden side). Returns (centers_xy, lw, yaw, grown) with
    ``grown`` (N, 2) the metres added along the (long, short) axes.
    """
    c = np.array(centers_xy, dtype=np.float64).reshape(-1, 2)
    l = np.where(end_on, lw[:, 1], lw[:, 0]).astype(np.float64)
    w = np.where(end_on, lw[:, 0], lw[:, 1]).astype(np.float64)
    yaw = np.where(end_on, yaw + 0.5 * np.pi, yaw).astype(np.float64)
    typ = np.full((len(c), 2), np.nan)
    for label, lw_typ in _TYPICAL_LW.items():
        typ[labels == int(label)] = lw_typ
    with np.errstate(invalid="ignore"):
        grow_l = np.where(l < _UNSEEN_FRACTION * typ[:, 0], typ[:, 0] - l, 0.0)
        grow_w = np.where(w < _UNSEEN_FRACTION * typ[:, 1], typ[:, 1] - w, 0.0)
    ax_l = np.column_stack([np.cos(yaw), np.sin(yaw)])
    ax_w = np.column_stack([-np.sin(yaw), np.cos(yaw)])
    away_l = np.where(np.sum(ax_l * c, axis=1) >= 0.0, 1.0, -1.0)
    away_w = np.where(np.sum(ax_w * c, axis=1) >= 0.0, 1.0, -1.0)
    c = c + ax_l * (0.5 * away_l * grow_l)[:, None] + ax_w * (0.5 * away_w * grow_w)[:, None]
    l = l + grow_l
    w = w + grow_w
    swap = w > l
    l, w = np.where(swap, w, l), np.where(swap, l, w)
    yaw = np.where(swap, yaw + 0.5 * np.pi, yaw)
    grown = np.column_stack([np.where(swap, grow_w, grow_l), np.where(swap, grow_l, grow_w)])
    yaw = (yaw + 0.5 * np.pi) % np.pi - 0.5 * np.pi
    return c, np.column_stack([l, w]), yaw, grown


def _completion_covariance(yaw: np.ndarray, grown: np.ndarray) -> np.ndarray:
    """(N, 2, 2) extra centre covariance along the axes a box was grown on."""
    ax_l = np.column_stack([np.cos(yaw), np.sin(yaw)])
    ax_w = np.column_stack([-np.sin(yaw), np.cos(yaw)])
    var = (_COMPLETION_STD_FRACTION * grown) ** 2
    return var[:, 0, None, None] * (ax_l[:, :, None] * ax_l[:, None, :]) + var[:, 1, None, None] * (
        ax_w[:, :, None] * ax_w[:, None, :]
    )


def position_covariance(
    centers_xy: np.ndarray, n_points: np.ndarray, config: LidarDetectorConfig
) -> np.ndarray:
    """(N, 2, 2) centre covariance: radial/tangential stds grow with range, shrink with support.

    Radial is larger because a box seen from one side hides its far extent
    along the line of sight; tangential follows the beams' angular spacing.
    """
    xy = np.asarray(centers_xy, dtype=np.float64).reshape(-1, 2)
    r = np.hypot(xy[:, 0], xy[:, 1])
    safe = np.where(r > 1e-6, r, 1.0)
    u = np.where((r > 1e-6)[:, None], xy / safe[:, None], np.array([1.0, 0.0]))
    v = np.column_stack([-u[:, 1], u[:, 0]])
    f = 1.0 + config.cov_ref_points / np.maximum(np.asarray(n_points, dtype=np.float64), 1.0)
    var_r = (config.pos_std_min_m + config.pos_std_radial_per_m * r) ** 2 * f
    var_t = (config.pos_std_min_m + config.pos_std_tangential_per_m * r) ** 2 * f
    return var_r[:, None, None] * (u[:, :, None] * u[:, None, :]) + var_t[:, None, None] * (
        v[:, :, None] * v[:, None, :]
    )


def _as_points(xyz: np.ndarray) -> np.ndarray:
    arr = np.asarray(xyz)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"xyz must be an (N, 3) array of x, y, z points, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"xyz must hold real numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


class LidarDetector:
    """Boxes from one LiDAR sweep; per-stage seconds of the last call in ``last_timing``."""

    def __init__(self, config: LidarDetectorConfig | None = None):
        self.config = config if config is not None else LidarDetectorConfig()
        self.config.validate()
        ng = math.ceil(2.0 * self.config.range_max_m / self.config.cluster_cell_m)
        # Reused across frames; label_bev leaves it all -1.
        self._grid = np.full(ng * ng, -1, np.int32)
        self.last_timing: dict[str, float] = {"ground": 0.0, "cluster": 0.0, "boxfit": 0.0}

    def warm_up(self) -> None:
        """Compile or load the numba kernels now, so the first real frame is not slow."""
        rng = np.random.default_rng(0)
        ground = np.column_stack([rng.uniform(-10, 10, (400, 2)), rng.normal(0.0, 0.02, 400)])
        box = np.column_stack([rng.uniform(5, 6, (200, 2)), rng.uniform(0.0, 1.5, 200)])
        self.detect(np.vstack([ground, box]).astype(np.float32), 0, "base_link")

    def detect(
        self, xyz: np.ndarray, stamp_ns: int, frame_id: str, point_time_s: np.ndarray | None = None
    ) -> Detections:
        """Detect objects in an (N, 3) base_link sweep; non-finite points are dropped.

        ``point_time_s`` (N,): each point's capture time minus ``stamp_ns`` (s). With it the
        detections carry ``time_offset_s``, the mean capture time of each box's points: a
        rotating LiDAR sees each object at its azimuth's time (up to a sweep period from the
        stamp), and an object at 30 m/s moves 3 m in a 0.1 s sweep, which deskewing (ego motion
        only) cannot undo; the tracker compares each box with its track at that time.
        """
        if not isinstance(stamp_ns, (int, np.integer)) or isinstance(stamp_ns, bool):
            raise TypeError(f"stamp_ns must be int nanoseconds, got {type(stamp_ns).__name__}")
        stamp_ns = int(stamp_ns)
        cfg = self.config
        pts = _as_points(xyz)
        timing = {"ground": 0.0, "cluster": 0.0, "boxfit": 0.0}
        self.last_timing = timing

        t0 = time.perf_counter()
        if pts.shape[0] == 0:
            return Detections.empty(stamp_ns, frame_id)
        origin = np.array([cfg.sensor_x_m, cfg.sensor_y_m], np.float64)
        if origin.any():  # work in a sensor-centred frame; centres are shifted back at the end
            pts = pts - np.array([origin[0], origin[1], 0.0], np.float32)
        gz = ground_height(
            pts,
            float(cfg.range_min_m),
            float(cfg.range_max_m),
            float(cfg.ground_cell_m),
            float(cfg.ground_max_slope),
            int(cfg.ground_reject_lowest),
        )
        obj, obj_gz, obj_hag, kept = select_above_ground(pts, gz, float(cfg.z_min_m), float(cfg.z_max_m))
        obj_t = None
        if point_time_s is not None and len(point_time_s) == len(pts):
            obj_t = np.asarray(point_time_s, np.float64)[kept]
        t1 = time.perf_counter()
        timing["ground"] = t1 - t0
        if obj.shape[0] == 0:
            return Detections.empty(stamp_ns, frame_id)

        labels, n_labels = label_bev(
            obj[:, 0],
            obj[:, 1],
            obj_hag,
            float(cfg.cluster_cell_m),
            float(cfg.range_max_m),
            math.radians(cfg.cluster_link_angle_deg),
            float(cfg.cluster_radial_link_per_m),
            float(cfg.cluster_radial_link_max_m),
            float(cfg.cluster_elevated_min_m),
            float(cfg.cluster_elevated_link_m),
            float(cfg.max_length_m),  # line-of-sight links never grow a component past a box
            self._grid,
        )
        order, starts, counts = group_by_label(labels, n_labels)
        cand = np.flatnonzero(counts >= cfg.min_points)
        t2 = time.perf_counter()
        timing["cluster"] = t2 - t1

        fit = fit_boxes(
            obj,
            obj_gz,
            order,
            starts,
            counts,
            cand,
            math.radians(cfg.fit_angle_step_deg),
            int(cfg.fit_max_points),
        )
        n_pts = counts[cand]
        bottom = np.minimum(fit[:, GROUND_Z], fit[:, Z_MIN])  # faces end at the ground, not at z_min_m
        top = fit[:, Z_MAX]
        ok = (
            (fit[:, LENGTH] <= cfg.max_length_m)
            & (fit[:, WIDTH] <= cfg.max_width_m)
            & (top - fit[:, GROUND_Z] >= cfg.min_height_m)
            & (top - fit[:, GROUND_Z] <= cfg.max_height_m)
            & (fit[:, Z_MIN] - fit[:, GROUND_Z] <= cfg.max_bottom_clearance_m)
        )
        fit, bottom, top, n_pts = fit[ok], bottom[ok], top[ok], n_pts[ok]
        n = fit.shape[0]
        t_box = None
        if obj_t is not None:  # mean capture time per box: cumulative sums over the label groups
            cs = np.concatenate([[0.0], np.cumsum(obj_t[order])])
            st, cn = starts[cand][ok], counts[cand][ok]
            t_box = (cs[st + cn] - cs[st]) / np.maximum(cn, 1)
        heights = top - bottom
        slack = cfg.class_height_slack_per_m * np.hypot(fit[:, CX], fit[:, CY])
        lwh = np.column_stack([fit[:, LENGTH], fit[:, WIDTH], heights])
        cls, base, end_on = classify_shape(lwh, slack, fit[:, BODY_WIDTH])
        xy, lw, yaw = fit[:, [CX, CY]], fit[:, [LENGTH, WIDTH]], fit[:, YAW]
        grown = np.zeros((n, 2))
        if cfg.shape_completion:
            xy, lw, yaw, grown = complete_boxes(xy, lw, yaw, cls, end_on)
        scores = np.clip(base * (1.0 - np.exp(-n_pts / cfg.score_ref_points)), 0.0, 1.0)
        det = Detections(
            stamp_ns=stamp_ns,
            frame_id=frame_id,
            centers=np.column_stack([xy + origin, 0.5 * (bottom + top)]),
            sizes=np.column_stack([lw, heights]),
            yaw=np.ascontiguousarray(yaw),
            labels=cls,
            scores=scores,
            velocity=np.full((n, 2), np.nan),
            pos_cov=position_covariance(xy, n_pts, cfg) + _completion_covariance(yaw, grown),
            sensors=np.full(n, SENSOR_LIDAR, np.uint8),
            time_offset_s=t_box,
        )
        timing["boxfit"] = time.perf_counter() - t2
        return det
