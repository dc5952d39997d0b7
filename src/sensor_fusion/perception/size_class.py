"""What class a box's size says, and boxes completed to their class.

The classical LiDAR detector (:mod:`.lidar`) boxes what it sees: a cluster's box covers its
visible faces only. These rules give it a class from its length, width and height (first match
wins; heights with the beam slack at range), say which classes a camera may relabel it to, and
grow a vehicle's box to its class's typical size where its far faces were not observed, with the
centre's uncertainty that adds. ROS-free, numpy only.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..core.classes import ObjectClass
from ..core.types import Detections
from .lidar_config import LidarDetectorConfig


class _ShapeRule(NamedTuple):
    label: ObjectClass
    length_m: tuple[float, float]
    width_m: tuple[float, float]
    height_m: tuple[float, float]
    score: float  # base confidence of the guess
    end_on: bool  # the measured long side is the object's *width* (only its rear or front seen)
    slack: bool  # height minimum is a plausibility bound (lowered at range), not a class split
    body: bool = False  # test the width of the body (below the roof band) instead of the box width
    min_measured_h: float = 0.0  # the measured height must reach this too (slack or not)


# A measured top is never above the true one: a box measured taller than any car's roof (1.8 m:
# SUVs and minivans 1.7-1.9 m) whose height with the beam slack reaches a truck's is a truck's rear,
# even where beam gaps cut it below the 2.3 m that splits trucks from vans near by (a truck 67-82 m
# away with KITTI's LiDAR: 2.3 x 2.3 m, 1.9-2.2 m tall, was a car box 2.3 m short of it).
_CAR_MAX_HEIGHT_M = 1.8

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
    # a far truck's rear and the start of its side
    _ShapeRule(
        ObjectClass.TRUCK, (1.8, 3.2), (1.8, 3.2), (2.3, 4.6), 0.6, False, True, False, _CAR_MAX_HEIGHT_M
    ),
    _ShapeRule(ObjectClass.CAR, (2.5, 6.0), (0.0, 2.4), (1.0, 2.3), 0.9, False, True),
    _ShapeRule(ObjectClass.CAR, (1.2, 2.5), (1.2, 2.4), (1.0, 2.3), 0.6, False, True),
    _ShapeRule(ObjectClass.CAR, (1.2, 2.5), (0.0, 0.4), (1.0, 1.6), 0.5, True, True, body=True),
    _ShapeRule(ObjectClass.TRUCK, (6.0, 16.0), (0.0, 3.2), (1.8, 4.6), 0.85, False, True),
    _ShapeRule(ObjectClass.TRUCK, (3.2, 6.0), (0.0, 3.2), (2.3, 4.6), 0.7, False, False),  # cab, short box
    _ShapeRule(
        ObjectClass.TRUCK, (1.8, 3.2), (1.8, 3.2), (2.3, 4.6), 0.6, False, False
    ),  # front + bit of side
    _ShapeRule(ObjectClass.TRUCK, (1.8, 3.2), (0.0, 1.2), (2.3, 4.6), 0.6, True, False),
    # a far truck's rear alone, its lower part hidden by the car ahead: the same height test as the
    # far rear with its side above (a face seen over a car 20 m ahead, 0.8-2.8 m up at 66 m, was an
    # UNKNOWN plate boxed 4.4 m short of the truck's centre)
    _ShapeRule(
        ObjectClass.TRUCK, (1.8, 3.2), (0.0, 1.2), (2.3, 4.6), 0.6, True, True, False, _CAR_MAX_HEIGHT_M
    ),
)
UNKNOWN_SCORE = 0.3

# Typical (length, width) in m per class, to complete boxes whose far side is hidden.
# Bus: a rigid city bus or coach, 12 m (the EU rigid-vehicle limit, 96/53/EC) by 2.55 m (the width
# limit); the LiDAR rules never say bus, the camera does (``complete_relabelled``).
_TYPICAL_LW = {
    ObjectClass.CAR: (4.5, 1.8),
    ObjectClass.TRUCK: (8.0, 2.5),
    ObjectClass.BUS: (12.0, 2.55),
    ObjectClass.BICYCLE: (1.8, 0.6),
}
_UNSEEN_FRACTION = 0.6  # an extent below this fraction of typical counts as not observed
# classes whose faces are solid panels, so a face at grazing incidence thins out before one across
# the line of sight (a bicycle's frame is open from every side: its measured long side is its length)
_SOLID_FACED = (int(ObjectClass.CAR), int(ObjectClass.TRUCK), int(ObjectClass.BUS))
COMPLETION_STD_FRACTION = 0.2  # centre std added per metre of hypothesised extent


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
    base = np.full(len(sizes), UNKNOWN_SCORE)
    end_on = np.zeros(len(sizes), bool)
    free = np.ones(len(sizes), bool)
    for r in _SHAPE_RULES:
        h_lo = h_slack if r.slack else h
        wr = bw if r.body else w
        hit = free & (l >= r.length_m[0]) & (l <= r.length_m[1]) & (wr >= r.width_m[0]) & (wr <= r.width_m[1])
        hit &= (h_lo >= r.height_m[0]) & (h <= r.height_m[1]) & (h >= r.min_measured_h)
        labels[hit] = int(r.label)
        base[hit] = r.score
        end_on[hit] = r.end_on
        free &= ~hit
    return labels, base, end_on


# an empty run splits a row when longer than 1.5 x range x cluster_link_angle / sin(grazing angle):
# ~3 LiDAR columns (the link angle is ~2 column spacings), so a missed column or two does not split


def _class_extents() -> dict[int, tuple[float, float, float]]:
    """Per class the shape rules' (longest, tallest, lowest-minimum) box: what a relabel must fit."""
    out: dict[int, tuple[float, float, float]] = {}
    for r in _SHAPE_RULES:
        lo = out.get(int(r.label), (0.0, 0.0, np.inf))
        out[int(r.label)] = (max(lo[0], r.length_m[1]), max(lo[1], r.height_m[1]), min(lo[2], r.height_m[0]))
    out[int(ObjectClass.BUS)] = out[int(ObjectClass.TRUCK)]  # buses: the truck rules' boxes
    return out


_CLASS_EXTENTS = _class_extents()


def tallest(label: ObjectClass) -> float:
    """The tallest box any of ``label``'s shape rules takes, in metres."""
    return _CLASS_EXTENTS[int(label)][1]


_ROAD_VEHICLES = np.array(
    [int(c) for c in (ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.BUS, ObjectClass.TRAILER)]
)
_FRAGMENT_MIN_M = 1.0  # the longer side a vehicle's visible part must reach to take a vehicle class


def relabel_plausible(new_labels: np.ndarray, sizes: np.ndarray, height_slack_m: np.ndarray) -> np.ndarray:
    """(N,) True where a box of ``sizes`` (l, w, h as detected) may take ``new_labels`` from a camera.

    A camera's class cue sees colour and texture, not size, and a cue trained on one world's
    appearance can be confidently wrong in another (urban_clutter: parked cars relabelled truck or
    unknown). LiDAR measures size: a box longer or taller than every box of a class's shape rules
    is not of that class (a 4.5 m car is no pedestrian), nor is one lower than the class's lowest
    rule less the beam slack (a 1.5 m car is no truck). Smaller boxes may grow a class (a car's
    fragment seen 1.7 m long, labelled bicycle), but not into a road vehicle from under 1 m long
    (a person), and nothing becomes unknown: the camera's "cannot tell" does not overrule a
    LiDAR class.
    """
    ok = np.zeros(len(new_labels), bool)
    for label, (l_max, h_max, h_min) in _CLASS_EXTENTS.items():
        m = new_labels == label
        ok[m] = (sizes[m, 0] <= l_max) & (sizes[m, 2] <= h_max) & (sizes[m, 2] + height_slack_m[m] >= h_min)
    # a road vehicle shows at least one face as wide as the vehicle (>= 1.5 m) unless something hides
    # most of it; a box shorter than _FRAGMENT_MIN_M on both sides at a vehicle's height is a person
    # or a post, and a colour guess does not make it a car (urban_clutter dev seed 712: 613 boxes of
    # 0.56 x 0.38 x 1.58 m, pedestrians, became cars)
    vehicle = np.isin(new_labels, _ROAD_VEHICLES)
    ok[vehicle] &= sizes[vehicle, 0] >= _FRAGMENT_MIN_M
    return ok


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

    Which measured side is the length: ``end_on`` says the long side is the width. A box whose
    long side is itself short of the class's length (a rear face and the start of a side,
    1.8 x 1.5 m for a car, 2.5 x 1.5 m for a truck) does not say which side is which; the
    length of a car or truck is then taken along the axis nearer the line of sight, because the
    face that runs along it is seen at grazing incidence, where returns thin out first, and is
    the one the fit cut short (a solid face across the line of sight is seen whole).
    ``centers_xy`` are relative to the sensor, so they are also the lines of sight.
    """
    c = np.array(centers_xy, dtype=np.float64).reshape(-1, 2)
    typ = np.full((len(c), 2), np.nan)
    for label, lw_typ in _TYPICAL_LW.items():
        typ[labels == int(label)] = lw_typ
    a = np.asarray(yaw, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        short = np.asarray(lw[:, 0], dtype=np.float64) < _UNSEEN_FRACTION * typ[:, 0]
    along_l = np.abs(c[:, 0] * np.cos(a) + c[:, 1] * np.sin(a))
    along_w = np.abs(-c[:, 0] * np.sin(a) + c[:, 1] * np.cos(a))
    solid = np.isin(labels, _SOLID_FACED)
    end_on = np.asarray(end_on, bool) | (short & solid & (along_w > along_l))
    l = np.where(end_on, lw[:, 1], lw[:, 0]).astype(np.float64)
    w = np.where(end_on, lw[:, 0], lw[:, 1]).astype(np.float64)
    yaw = np.where(end_on, a + 0.5 * np.pi, a)
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


def completion_covariance(yaw: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(N, 2, 2) extra centre covariance with ``std`` (N, 2) m along each box's (long, short) axes."""
    ax_l = np.column_stack([np.cos(yaw), np.sin(yaw)])
    ax_w = np.column_stack([-np.sin(yaw), np.cos(yaw)])
    var = std**2
    return var[:, 0, None, None] * (ax_l[:, :, None] * ax_l[:, None, :]) + var[:, 1, None, None] * (
        ax_w[:, :, None] * ax_w[:, None, :]
    )


def complete_relabelled(
    det: Detections, rows: np.ndarray, origin_xy: tuple[float, float], move: np.ndarray | None = None
) -> None:
    """Complete boxes ``rows`` of ``det`` for the labels they have now, in place.

    The detector completes a box for the class its shape gave; a box the camera relabels (an
    unknown 2.5 x 1.5 m block that the image says is a truck's rear) is completed again for the
    new class, or its centre stays on the visible faces, metres short of the object's, while its
    covariance claims decimetres. ``origin_xy``: the LiDAR in base_link (lines of sight).

    ``move`` (per row, default all): rows that are moved and resized. The others keep their
    measured box and only take the uncertainty of the hidden extent: the centre lies anywhere
    within it (a fragment's place on the object is unknown), a uniform spread of std
    ``grown / sqrt(12)`` along each grown axis.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return
    move = np.ones(rows.size, bool) if move is None else np.asarray(move, bool)
    o = np.asarray(origin_xy, dtype=np.float64)
    xy, lw, yaw, grown = complete_boxes(
        det.centers[rows, :2] - o,
        det.sizes[rows, :2],
        det.yaw[rows],
        det.labels[rows],
        np.zeros(rows.size, bool),
    )
    m = rows[move]
    det.centers[m, :2] = xy[move] + o
    det.sizes[m, :2] = lw[move]
    det.yaw[m] = yaw[move]
    det.pos_cov[m] = det.pos_cov[m] + completion_covariance(yaw[move], COMPLETION_STD_FRACTION * grown[move])
    k = rows[~move]
    det.pos_cov[k] = det.pos_cov[k] + completion_covariance(yaw[~move], grown[~move] / math.sqrt(12.0))


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
