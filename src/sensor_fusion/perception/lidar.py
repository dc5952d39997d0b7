"""Classical LiDAR object detector: ground removal, BEV clustering, L-shape boxes.

ROS-free core layer. Input is one sweep already in ``base_link`` (x forward,
y left, z up, ground near z = 0); output is :class:`Detections` in that frame.
The three stages live in ``ground``, ``clustering`` and ``boxfit``, the parameters in
``lidar_config``, the class a box's size says and box completion in ``size_class``; this module
holds the structure rules that judge whole clusters and the output assembly. One detector instance
owns scratch buffers and, given ego poses, the structure memory: use one per thread, sweeps in
time order.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..core.classes import SENSOR_LIDAR, ObjectClass
from ..core.types import Detections
from .boxfit import BODY_WIDTH, CX, CY, GROUND_Z, LENGTH, WIDTH, YAW, Z_MAX, Z_MIN, fit_boxes
from .clustering import group_by_label, label_bev
from .ends import CONTINUES, end_states, sweep_bins
from .ground import GROUND_HIDDEN_MARGIN_M, ground_height, sees_ground, select_above_ground
from .lidar_config import LidarDetectorConfig
from .overhang import column_filter, split_attached_columns
from .people import (
    GROUP_MAX_HEIGHT_M,
    GROUP_MAX_LENGTH_M,
    GROUP_MAX_WIDTH_M,
    PEAK_MIN_M,
    WHEEL_END_MAX_SHARE,
    end_top_share,
    split_groups,
)
from .size_class import (
    COMPLETION_STD_FRACTION,
    UNKNOWN_SCORE,
    classify_shape,
    complete_boxes,
    completion_covariance,
    position_covariance,
    tallest,
)
from .structure import face_extent, split_rows, structure_features, surface_roughness
from .structure_memory import StructureMemory, StructureVotes, cell_centres
from .underside import underside
from .vehicle_end import upper_recession

log = logging.getLogger(__name__)


_GAP_FACTOR = 1.5
_FLAT_TOL_M = 0.25  # cabin roof vs bonnet and boot: 0.4-0.6 m on cars
_VEHICLE_MAX_WIDTH_M = 2.6  # the widest road vehicles (trucks, buses: 2.55-2.6 m without mirrors)
_ROW_MIN_LENGTH_M = 1.0  # shorter clusters cannot hold two bodies of row_body_min_length_m and a gap
# Row profiles are max-filtered over +- this x range x cluster_link_angle / sin(grazing angle) (the
# link angle is ~2 column spacings). The row pass (any cluster, two bodies needed) smooths over +-1
# column spacing, so a dip must outlast two columns: a person's or cyclist's own dips do not cut
# them. The cabin pass (clusters the fence rule would drop whole) smooths over +-half a spacing,
# the least window that holds a whole column wherever it is centred: a far row of parked cars seen
# at a grazing angle shows 2-4 columns per car (urban_clutter, 40-50 m, 6-10 deg), and the wider
# window filled the dips between cars with their cabins.
_ROW_SMOOTH_LINK_FRACTION = 0.5
_CABIN_SMOOTH_LINK_FRACTION = 0.25
# Porosity is judged on boxes wider than a cyclist's or pedestrian's (<= 1.2 m): a bicycle's frame
# and wheels run down the middle of its box.
_POROUS_MIN_WIDTH_M = 1.2
# the narrowest face of a vehicle taller than a car, seen whole (a van's 1.9-2.0 m), less a partial
# view's loss (a column at each edge, an occluder over 0.4 m)
_TALL_VEHICLE_MIN_WIDTH_M = 1.5
# a vehicle's end is wider than a person (shoulders 0.45-0.5 m, arms swinging 0.7 m) or a
# cyclist seen from behind (handlebars 0.6-0.7 m); no taller than a car rule takes (vans 2.0-2.3 m)
_VEHICLE_END_MIN_ACROSS_M = 1.0
_VEHICLE_END_MAX_HEIGHT_M = tallest(ObjectClass.CAR)
_VEHICLE_END_SCORE = 0.5  # the end-on car rule's: a guess from a few rows
_SMALL_OR_UNKNOWN = np.array(
    [int(c) for c in (ObjectClass.PEDESTRIAN, ObjectClass.BICYCLE, ObjectClass.UNKNOWN)]
)
_SIDE_VIEW_MIN_M = 2.5  # wider than a car's rear (<= 2.4 m), whose top is level across (roof): a side in view
_LOW_MIN_BEAMS = 3.0  # beams across a car's height needed to call a cluster lower than a car
# a step of more than this between neighbouring returns of one ring is two surfaces, not one rough
# one: the people of a group stand 0.75 m or more apart, their fronts 0.3-1.4 m apart in depth, where
# one body's surface moves by a few centimetres from column to column
_ROUGH_STEP_M = 0.25
_PERSON_MAX_M = 1.2  # the pedestrian rule's longest box (a person with arms out, a pram)
# a plane's returns spread ~0.1 m in depth (range noise ~2 cm); a torso seen from any side bulges
# by >= 0.1 m more (0.2-0.3 m deep)
_PLATE_MAX_M = 0.15
_LOW_PLATE_MAX_M = 0.1  # stricter where a child is the alternative
# One face in view (I-shape): a car side-on, or a wall, whose top is seen too from a sensor above it
# (garden and boundary walls 0.1-0.35 m thick: one to one and a half bricks, concrete blocks), plus
# range noise. At 0.3 m, a 0.25 m wall measured 0.31-0.33 m wide in about one sweep of five
# (urban_clutter 711), each time a car.
_THIN_M = 0.4
_ROUGH_MIN_SAMPLES = 20  # fewer triples: a far cluster's few columns meet its corners, not its surface
# Of the triples of azimuth neighbours in one elevation bin, a spinning head's returns are one beam
# (share ~1; 1st percentile 0.27-0.29 on urban_clutter dev 711/712, the sweep seam and deskewing);
# a cloud not sampled along rings (random box faces, a non-repetitive pattern, two heads merged) meets
# the one-beam check by coincidence, (2 RING_ELEVATION_TOL_RAD / ROUGH_ELEVATION_BIN_RAD)^2 ~ 0.02
# (0.007-0.030 measured on sim.boxes.sweep faces 5-30 m away). Below this share the rule is not asked.
_RING_MIN_SHARE = 0.25
# facade_pieces: a face's line is followed within 0.3 m (range noise, a façade's relief) plus 1 cm
# per metre along it (the fitted heading's residual after the 0.2 deg refinement, ~0.5 deg); gaps
# between returns along it from 1.5 m (a door, a tree trunk in front) up to 4 m (a shop window)
_FACE_PERP_TOL_M = 0.3
_FACE_PERP_TOL_PER_M = 0.01
_FACE_GAP_MIN_M = 1.5
_FACE_GAP_MAX_M = 4.0
# an end face seen edge-on is not seen (a far truck's fitted heading may be off by 90 deg): what
# lies along its line is the vehicle's own length (highway 301, 47 m: its cab beyond its box)
_END_MIN_SIN_GRAZE = 0.1
_CEILING_TOL_RAD = math.radians(0.1)  # a beam keeps its elevation; finer than any ring spacing
_MIRRORS_MAX_WIDTH_M = 3.2  # 2.55-2.6 m bodies with their mirrors (0.2-0.3 m a side)
_END_GAP_MIN_M = 0.5  # across an end face: two trucks side by side stand >= 1 m apart
# structure memory (structure_memory_s): cells of 0.5 m (a façade's relief and range noise, 0.1-0.3 m,
# stay in one or two cells; a vehicle driving by a wall keeps >= 0.5 m from it); only returns above
# a car's roof mark them (cars and vans 1.4-2.0 m; a car merged with a hedge leaves no mark where it
# stands), and a truck-tall cluster with at least half its returns in marked cells is structure
_MEMORY_CELL_M = 0.5
_MEMORY_MARK_HAG_M = 2.0
_MEMORY_MIN_SHARE = 0.5
# structure_votes: the memory's cells; structure must lead by two sweeps, so one sweep that merged an
# object with a wall (its cluster judged structure once) cannot take its cells
_VOTE_MARGIN = 1
# the shapes whose clusters vote structure: none is what an object merged with structure looks like.
# Not the fence rule (rows of parked cars seen from afar are long and low too), nor "low and wide"
# (a far car whose upper part falls between beams)
_VOTING_SHAPES = ("pole", "post", "sliver", "wall")
# structure_bounded_ends: "just past an end" is 1 deg of azimuth (5-10 columns of common spinning
# heads, 0.1-0.2 deg; 0.3-0.9 m at 20-50 m, inside the >= 1 m gap between two vehicles there), and
# a return more than 1 m off the face's extended line is another surface (a façade's relief, range
# noise and the fitted heading's error over the extension stay within it)
_ENDS_WINDOW_RAD = math.radians(1.0)
_ENDS_MARGIN_M = 1.0


def structure_shapes(
    length: np.ndarray,
    width: np.ndarray,
    height: np.ndarray,
    interior: np.ndarray,
    flat: np.ndarray,
    height_slack_m: np.ndarray | float,
    column_gap_m: np.ndarray | float,
    cfg: LidarDetectorConfig,
    censored: np.ndarray | None = None,
    reach: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per rule, (N,) True for clusters that are static structure by that shape, whatever the box
    rules say (structure: any of them).

    Poles, signs and trunks: short and taller than any person. Plates (sign faces, fence
    panels): person-sized but flat. Low and large: bigger than a person or bicycle, lower than
    a car. Fences, hedges, low walls:
    longer than a car and lower than a truck. Vegetation: porous (``interior`` fraction of low
    points inside the footprint, see ``structure.structure_features``). Walls of car height:
    a level top over their whole length (``flat``), where a car's cabin is higher than its
    bonnet and boot. ``height_slack_m``
    lowers the height minima at range like ``classify_shape``'s. No "lower than" rule applies
    where the height is ``censored`` (:func:`ceiling_clusters`). ``reach`` (default ``height``) is
    the height down to the hidden road where nearer objects hide the cluster's base
    (:func:`_hidden_bottoms`); only the "taller than" rules (poles, slivers) read it, because
    a deeper base can only make them drop more.
    """
    tall = height if reach is None else np.maximum(height, reach)
    pole = (length <= cfg.structure_thin_max_m) & (tall > cfg.structure_tall_min_m)
    # posts: narrower than any person (shoulders >= 0.3 m) would look at that range, where one
    # column spacing (half the link angle) may be lost at the edges
    post = length + column_gap_m < cfg.structure_post_max_m
    # one or two columns, taller than the tallest people: a person seen across is wider
    sliver = (
        (cfg.structure_sliver_min_m > 0.0)
        & (length < cfg.structure_plate_min_m)
        & (width < _PLATE_MAX_M)
        & (tall > cfg.structure_sliver_min_m)
    )
    fence = long_and_low(length, height, height_slack_m, cfg, censored)
    porous = (width >= _POROUS_MIN_WIDTH_M) & (interior > cfg.structure_interior_max)
    # plates: a person seen across at least a torso's width bulges; a sign face or a fence panel
    # does not. Only for person-sized boxes: a car's side may be one plane.
    plate = (
        (length >= cfg.structure_plate_min_m)
        & (length <= _PERSON_MAX_M)
        & (width < cfg.structure_plate_max_m)
    )
    # larger than a person, lower than any car or cyclist: no class fits. Judged only where at
    # least three beams cross a car's height: beyond, one or two beams (the table's gaps near the
    # horizon are wider than its mean) leave a far car 0.5 m tall (open-world urban bag, 65 m)
    low_wide = (
        ((length > _PERSON_MAX_M) | (width > _PERSON_MAX_M))
        & (height + height_slack_m < cfg.structure_low_max_m)
        & (_LOW_MIN_BEAMS * height_slack_m <= cfg.structure_low_max_m)
    )
    low = height + height_slack_m < cfg.structure_long_min_height_m
    wall = (length >= _SIDE_VIEW_MIN_M) & (width <= _THIN_M) & low & (flat > cfg.structure_flat_max)
    if censored is not None:
        low_wide &= ~censored
        wall &= ~censored
    return {
        "pole": pole, "post": post, "sliver": sliver, "plate": plate, "low_wide": low_wide,
        "fence": fence, "porous": porous, "wall": wall,
    }  # fmt: skip


def _any_shape(shapes: dict[str, np.ndarray]) -> np.ndarray:
    """(N,) True for clusters that are structure by any of :func:`structure_shapes`' rules."""
    return np.logical_or.reduce(list(shapes.values()))


def _standing(fit: np.ndarray, top: np.ndarray, cfg: LidarDetectorConfig) -> np.ndarray:
    """(N,) True for clusters tall enough and standing on the ground (not crowns, balconies)."""
    return (top - fit[:, GROUND_Z] >= cfg.min_height_m) & (
        fit[:, Z_MIN] - fit[:, GROUND_Z] <= cfg.max_bottom_clearance_m
    )


def _cluster_shapes(
    fit: np.ndarray,
    bottom: np.ndarray,
    top: np.ndarray,
    slack: np.ndarray,
    rng: np.ndarray,
    interior: np.ndarray,
    flat: np.ndarray,
    censored: np.ndarray | None,
    cfg: LidarDetectorConfig,
    reach_bottom: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """:func:`structure_shapes` of ``boxfit.fit_boxes`` rows: with :func:`_standing`, what every
    cluster meets, and the group split's pieces again. ``reach_bottom``: :func:`_reach_bottom`."""
    col_gap = 0.5 * math.radians(cfg.cluster_link_angle_deg) * rng
    reach = None if reach_bottom is None else top - reach_bottom
    return structure_shapes(
        fit[:, LENGTH], fit[:, WIDTH], top - bottom, interior, flat, slack, col_gap, cfg, censored, reach
    )


def rough_vegetation(
    rough: np.ndarray, n_rough: np.ndarray, n_cand: np.ndarray, cfg: LidarDetectorConfig
) -> np.ndarray:
    """(N,) True for clusters whose returns are as rough along the scan rings as foliage
    (``structure_rough_min_m``; ``structure.surface_roughness``), over enough one-beam triples that
    are most of the candidates (the returns lie on rings: _RING_MIN_SHARE); NaN (no triples) is not.
    The caller judges only clusters longer than a person."""
    return (
        (n_rough >= _ROUGH_MIN_SAMPLES)
        & (n_rough >= _RING_MIN_SHARE * n_cand)
        & (rough > cfg.structure_rough_min_m)
    )


def smooth_groups(
    obj: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    clusters: np.ndarray,
    fit: np.ndarray,
    top: np.ndarray,
    foliage: np.ndarray,
    n_rough: np.ndarray,
    n_cand: np.ndarray,
    cfg: LidarDetectorConfig,
) -> np.ndarray:
    """(N,) True for the ``foliage`` clusters (:func:`rough_vegetation`) of a people group's footprint
    and an adult's height (``people.GROUP_MAX_*``, ``PEAK_MIN_M``) that are smooth between the steps
    of more than ``_ROUGH_STEP_M`` along their rings: people standing together, rough only where one
    body ends and the next begins (at 25-30 m each body is ~5 columns, so the steps are a third of
    the triples). Foliage stays rough between its steps (session 42)."""
    height = top - fit[:, GROUND_Z]
    group = (
        foliage
        & (fit[:, LENGTH] <= GROUP_MAX_LENGTH_M)
        & (fit[:, WIDTH] <= GROUP_MAX_WIDTH_M)
        & (height >= PEAK_MIN_M)
        & (height <= GROUP_MAX_HEIGHT_M)
    )
    out = np.zeros(len(fit), bool)
    if group.any():
        g = np.flatnonzero(group)
        rough, _n, _c = surface_roughness(
            obj, order, starts, counts, clusters[g], float(cfg.sensor_z_m),
            math.radians(cfg.cluster_link_angle_deg), _ROUGH_STEP_M,
        )  # fmt: skip
        # the ring-share test stays the whole cluster's: only the roughness leaves the steps out
        out[g] = ~rough_vegetation(rough, n_rough[g], n_cand[g], cfg)
    return out


def facade_pieces(
    pts: np.ndarray,
    bins: tuple[np.ndarray, np.ndarray, np.ndarray],
    obj: np.ndarray,
    obj_hag: np.ndarray,
    fit: np.ndarray,
    bottom: np.ndarray,
    top: np.ndarray,
    slack: np.ndarray,
    ok: np.ndarray,
    at_ceiling: np.ndarray | None,
    censored: np.ndarray | None,
    cfg: LidarDetectorConfig,
) -> np.ndarray:
    """(N,) True for truck-tall (or ``censored``) clusters whose surface runs on past any vehicle:
    a long face that continues along its line, at truck height, past the longest vehicle
    (``max_length_m``), or an end face (itself included) wider than the widest vehicle with its
    mirrors (``structure.face_extent``). They are pieces of a façade or a long wall that doors,
    windows and what stands in front cut into truck-sized clusters, or a building's corner.
    Where the LiDAR's highest beam is only a few degrees up (KITTI's HDL-64E: +2 deg), a façade
    shows no return above a truck's height closer than ~60 m, so the column rules
    (``structure_tall_fraction``) cannot see it; returns on that beam count as truck-tall
    (``at_ceiling``, :func:`ceiling_points`: the surface is at least as tall as the sensor can
    show there). Within ``structure_blind_gap_range_m`` a long face also runs on across a gap up to
    a shop window's width whose beams show no depth (glass): ``pts`` is the whole sweep,
    sensor-centred, ``bins`` its :func:`ends.sweep_bins`."""
    out = np.zeros(len(fit), bool)
    idx = np.flatnonzero(ok & _truck_tall(fit, bottom, top, slack, censored, cfg))
    if not len(idx):
        return out
    f = fit[idx]
    h_min = cfg.structure_long_min_height_m - slack[idx]
    hag = obj_hag if at_ceiling is None else np.where(at_ceiling, np.inf, obj_hag)
    rng = np.hypot(f[:, CX], f[:, CY])
    link = 2.0 * rng * math.radians(cfg.cluster_link_angle_deg)
    xy = np.ascontiguousarray(obj[:, :2])
    # a long face runs on across a window (blind gaps up to a shop window's width); an end face does
    # not: across it stand vehicles side by side, not windows
    f_l, f_w, f_yaw = f[:, LENGTH], f[:, WIDTH], f[:, YAW]
    long_face = (f_l, f_w, f_yaw, float(cfg.max_length_m), _FACE_GAP_MIN_M, 0.0, _FACE_GAP_MAX_M)
    end_face = (f_w, f_l, f_yaw + 0.5 * np.pi, _MIRRORS_MAX_WIDTH_M, _END_GAP_MIN_M, _END_MIN_SIN_GRAZE, 0.0)
    for along, across, yaw, limit, gap_min, min_sin, blind_max in (long_face, end_face):
        ux, uy = np.cos(yaw), np.sin(yaw)
        nx, ny = -uy, ux
        side = -np.sign(nx * f[:, CX] + ny * f[:, CY])  # the face toward the sensor
        side[side == 0] = 1.0
        mx, my = f[:, CX] + side * nx * 0.5 * across, f[:, CY] + side * ny * 0.5 * across
        hl = 0.5 * along
        faces = np.column_stack([mx - ux * hl, my - uy * hl, mx + ux * hl, my + uy * hl])
        sin_graze = _sin_graze(f, yaw)
        # columns spread along a face seen at a grazing angle: twice the link gap, at least a
        # door's or a trunk's width, at most a shop window's
        gap = np.clip(link / np.maximum(sin_graze, 0.05), gap_min, _FACE_GAP_MAX_M)
        blind = np.where(rng <= cfg.structure_blind_gap_range_m, blind_max, 0.0)
        ext = face_extent(
            xy, hag, faces, h_min, gap, _FACE_PERP_TOL_M, _FACE_PERP_TOL_PER_M, limit, pts, bins, blind,
            _ENDS_MARGIN_M,
        )  # fmt: skip
        out[idx] |= (ext > limit) & (sin_graze >= min_sin)
    return out


def unbounded_clusters(
    pts: np.ndarray,
    bins: tuple[np.ndarray, np.ndarray, np.ndarray],
    kept: np.ndarray,
    labels: np.ndarray,
    obj: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    cand: np.ndarray,
    fit: np.ndarray,
    judge: np.ndarray,
    cfg: LidarDetectorConfig,
    ground: np.ndarray,
    ground_z: np.ndarray,
    obj_hag: np.ndarray,
) -> np.ndarray:
    """(N,) True for the clusters ``judge`` (of ``cand``) that show no end of their own
    (``structure_bounded_ends``; :func:`ends.end_states`): nothing behind either end, something at
    their heights past both, and at least one end where their face runs on within the margin. A
    vehicle's end shows what lies behind it, or nothing where the road beyond is too far to return
    (an HDL-64E sees little ground past 40-60 m) or the end is hidden; a façade piece's runs on into
    the next, staggered, front. Also (``structure_recess_max_m``) those with one such closed end and,
    past the other, no return on the road (``ground``, len(pts)) and one off it within that depth of
    the face's trusted extension: a piece of a front ending at a recess or doorway. A vehicle keeps
    an end of its own: what stands past it deeper, or the road. Also (``structure_solid_base_m``)
    those with one such closed end, no beam passing under them and a solid base over a longer run
    (:func:`underside.underside`): a wall, where a vehicle shows its clearance. Also
    (``structure_hidden_base``) those seen as one face with one such closed end whose base is hidden
    by what stands in front of them over most of their span: a front behind parked cars. ``pts`` is
    the whole sweep, ``bins`` its :func:`ends.sweep_bins`, ``kept`` its returns in ``obj``,
    ``ground_z`` its ground height per return, ``obj_hag`` the height of ``obj`` over it."""
    out = np.zeros(len(cand), bool)
    idx = np.flatnonzero(judge)
    if not len(idx):
        return out
    point_label = np.full(len(pts), -1, np.int64)
    point_label[np.flatnonzero(kept)] = labels
    n_behind, seen, n_ground, nearest = end_states(
        pts, bins, point_label, float(cfg.sensor_z_m), obj, order, starts, counts, cand[idx],
        np.ascontiguousarray(fit[idx]), _ENDS_WINDOW_RAD, _ENDS_MARGIN_M, ground,
    )  # fmt: skip
    closed = (n_behind == 0) & (seen > 0)  # per end: nothing behind it, something at it
    out[idx] = closed.all(axis=1) & ((seen & CONTINUES) > 0).any(axis=1)
    if cfg.structure_recess_max_m > 0.0:
        recess = (n_behind > 0) & (n_ground == 0) & (nearest <= cfg.structure_recess_max_m)
        out[idx] |= (closed & recess[:, ::-1]).any(axis=1)
    if cfg.structure_solid_base_m > 0.0 or cfg.structure_hidden_base > 0.0:
        n_through, run_m, hidden = underside(
            pts, bins, ground_z, float(cfg.sensor_z_m), obj, obj_hag, order, starts, counts, cand[idx],
            np.ascontiguousarray(fit[idx]),
        )  # fmt: skip
        if cfg.structure_solid_base_m > 0.0:
            out[idx] |= closed.any(axis=1) & (n_through == 0) & (run_m > cfg.structure_solid_base_m)
        if cfg.structure_hidden_base > 0.0:
            # one face in view (no end face, which traffic in front leaves visible on a vehicle)
            one_face = fit[idx, WIDTH] < _POROUS_MIN_WIDTH_M
            out[idx] |= closed.any(axis=1) & one_face & (hidden >= cfg.structure_hidden_base)
    return out


def _truck_tall(
    fit: np.ndarray,
    bottom: np.ndarray,
    top: np.ndarray,
    slack: np.ndarray,
    censored: np.ndarray | None,
    cfg: LidarDetectorConfig,
) -> np.ndarray:
    """(N,) clusters that could be a truck's side: longer than a car's rear and at least truck
    height with the beam slack, or cut by the highest beam (``censored``)."""
    tall = top - bottom + slack >= cfg.structure_long_min_height_m
    if censored is not None:
        tall |= censored
    return (fit[:, LENGTH] >= _SIDE_VIEW_MIN_M) & tall


def ceiling_points(pts: np.ndarray, obj: np.ndarray, cfg: LidarDetectorConfig) -> np.ndarray | None:
    """(M,) True for the returns of ``obj`` on the highest beam that hit anything in ``pts`` (the
    whole sweep): there the sensor shows no more of the surface, so its height is censored.
    None where the LiDAR height is unknown or that beam is not above the horizontal: below it the
    highest returns are the tops of things lower than the sensor, not a cut (a head whose beams
    reach 15 deg up shows any building's top floors)."""
    if not math.isfinite(cfg.sensor_z_m) or not len(obj) or not len(pts):
        return None
    up = pts[pts[:, 2] > cfg.sensor_z_m]  # only returns above the sensor can be on such a beam
    r = np.hypot(up[:, 0], up[:, 1])
    far = r > cfg.range_min_m
    if not far.any():
        return None
    tan_top = float(np.max((up[far, 2] - cfg.sensor_z_m) / r[far]))
    thr = math.tan(math.atan(tan_top) - _CEILING_TOL_RAD)
    return (obj[:, 2] - cfg.sensor_z_m) >= thr * np.maximum(np.hypot(obj[:, 0], obj[:, 1]), 1e-3)


def ceiling_clusters(
    at_ceiling: np.ndarray | None, order: np.ndarray, starts: np.ndarray, counts: np.ndarray, cand: np.ndarray
) -> np.ndarray | None:
    """(N,) True for the clusters ``cand`` with a return on the ceiling (:func:`ceiling_points`)."""
    return None if at_ceiling is None else _cluster_sums(at_ceiling, order, starts, counts, cand) > 0


def _cluster_sums(
    values: np.ndarray, order: np.ndarray, starts: np.ndarray, counts: np.ndarray, clusters: np.ndarray
) -> np.ndarray:
    """(N,) sum of per-point ``values`` over each of ``clusters``' points (``group_by_label``'s
    ``order`` / ``starts`` / ``counts``): one cumulative sum over the label groups."""
    cs = np.concatenate([[0.0], np.cumsum(values[order], dtype=np.float64)])
    return cs[starts[clusters] + counts[clusters]] - cs[starts[clusters]]


def _hidden_bottoms(
    obj_hidden: np.ndarray, order: np.ndarray, starts: np.ndarray, counts: np.ndarray, clusters: np.ndarray
) -> np.ndarray:
    """(N,) per cluster, the mean hidden road's continuation under its returns
    (``ground.ground_height``) where more than half of them stand over hidden ground, else inf:
    what nearer objects hide of its base."""
    fin = np.isfinite(obj_hidden)
    n_hid = _cluster_sums(fin.astype(np.float64), order, starts, counts, clusters)
    s_hid = _cluster_sums(np.where(fin, obj_hidden, 0.0), order, starts, counts, clusters)
    over = n_hid > 0.5 * counts[clusters]
    return np.where(over, s_hid / np.maximum(n_hid, 1), np.inf)


def _reach_bottom(bottom: np.ndarray, hidden: np.ndarray | None) -> np.ndarray | None:
    """(N,) each cluster's bottom, or the hidden road under it where that is deeper (``hidden``:
    :func:`_hidden_bottoms`); None where the continuation is off (``hidden`` None). The rules that
    drop what is too tall (poles, slivers) or truck-tall with no end of its own read the height
    down to it: a deeper base only makes them drop more. Those that drop what is too low keep the
    measured height (session 16: the deeper base made hedges and façade bases car-tall)."""
    return None if hidden is None else np.minimum(bottom, hidden)


class StructureMap(NamedTuple):
    """Cells the LiDAR detector holds as static structure (:meth:`LidarDetector.structure_map`)."""

    frame_id: str
    xy: np.ndarray  # (M, 2) cell centres in frame_id
    cell_m: float


class _Groups(NamedTuple):
    """A sweep's clusters as ``group_by_label`` gives them, the candidates ``cand`` among them."""

    labels: np.ndarray  # (P,) per point
    n_labels: int
    order: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    cand: np.ndarray

    def share(self, values: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """Per selected candidate (``sel``: (N,) mask over ``cand``), the mean of per-point ``values``."""
        c = self.cand[sel]
        return _cluster_sums(values, self.order, self.starts, self.counts, c) / self.counts[c]

    def points_of(self, sel: np.ndarray) -> np.ndarray:
        """(P,) True for the points of the selected candidates."""
        in_sel = np.zeros(self.n_labels, bool)
        in_sel[self.cand[sel]] = True
        return in_sel[self.labels]


def long_and_low(
    length: np.ndarray,
    height: np.ndarray,
    height_slack_m: np.ndarray | float,
    cfg: LidarDetectorConfig,
    censored: np.ndarray | None = None,
) -> np.ndarray:
    """(N,) longer than any car and, with the beam slack, lower than a truck: the fence rule of
    :func:`structure_shapes` (fences, hedges, low walls), and the clusters the cabin pass of
    ``structure.split_rows`` looks into (a row of parked cars is long and low too). Not where the
    height is ``censored`` (the top on the highest beam: it is at least what is seen)."""
    out = (length > cfg.structure_long_min_m) & (height + height_slack_m < cfg.structure_long_min_height_m)
    return out if censored is None else out & ~censored


def _bottom_range_slack(
    fit: np.ndarray, cfg: LidarDetectorConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bottom z, range from the sensor, beam slack) per ``boxfit.fit_boxes`` row: faces end at the
    ground, not at z_min_m; the slack is the beam spacing at each cluster's range
    (``class_height_slack_per_m``). One definition for the fence rule and the cabin pass, which
    must take exactly the same clusters."""
    rng = np.hypot(fit[:, CX], fit[:, CY])
    return np.minimum(fit[:, GROUND_Z], fit[:, Z_MIN]), rng, cfg.class_height_slack_per_m * rng


def _sin_graze(fit: np.ndarray, yaw: np.ndarray | None = None) -> np.ndarray:
    """(N,) sine of the angle between the line of sight and each box's long face (or the face
    along ``yaw``). ``fit`` rows are relative to the sensor, so their centres are the lines of
    sight."""
    yaw = fit[:, YAW] if yaw is None else yaw
    los = fit[:, [CX, CY]]
    r = np.maximum(np.hypot(los[:, 0], los[:, 1]), 1e-6)
    return np.abs(los[:, 0] * np.sin(yaw) - los[:, 1] * np.cos(yaw)) / r


def grazing_faces(fit: np.ndarray, labels: np.ndarray, end_on: np.ndarray, max_deg: float) -> np.ndarray:
    """(N,) True for boxes an end-on car or truck rule took (``end_on``, CAR or TRUCK) whose face is
    seen at less than ``max_deg`` to its own plane. ``fit`` rows are relative to the sensor, so
    their centres are the lines of sight; the face runs along the box's length axis."""
    sin_graze = _sin_graze(fit)
    vehicle = (labels == int(ObjectClass.CAR)) | (labels == int(ObjectClass.TRUCK))
    return end_on & vehicle & (sin_graze < math.sin(math.radians(max_deg)))


def flat_plates(fit: np.ndarray, top: np.ndarray, gap: np.ndarray, cfg: LidarDetectorConfig) -> np.ndarray:
    """(N,) True for person-sized flat clusters that are structure while the open world's flat box
    pedestrians (seen down to their feet, 1.6-1.9 m tall, flat only when seen face-on) are not:
    plates over an occluder (a sign face behind parked cars, nothing near the ground), plates
    lower than any adult (fence panels) and plates seen at less than
    ``structure_grazing_face_deg`` to their plane (sign faces, fence pieces along the street).
    ``fit``: ``boxfit.fit_boxes`` rows; ``top``: each cluster's highest point (z); ``gap``: the
    beam spacing at each cluster's range (the class height slack): the lowest beam on a person
    may pass over the knees, the highest under the head."""
    length, width = fit[:, LENGTH], fit[:, WIDTH]
    person_sized = (length >= cfg.structure_plate_min_m) & (length <= _PERSON_MAX_M)
    out = np.zeros(len(fit), bool)
    if cfg.structure_floating_plate_m > 0:
        floating = fit[:, Z_MIN] - fit[:, GROUND_Z] - gap > cfg.structure_floating_plate_m
        out |= person_sized & (width < _PLATE_MAX_M) & floating
    if cfg.structure_low_plate_max_m > 0:
        low = top - fit[:, GROUND_Z] + gap < cfg.structure_low_plate_max_m
        beams = _LOW_MIN_BEAMS * gap <= cfg.structure_low_max_m  # judged where 3 beams cross a car's height
        out |= person_sized & (width < _LOW_PLATE_MAX_M) & low & beams
    if cfg.structure_grazing_face_deg > 0:
        # seen obliquely: a body turns its side to the sensor, a sign face or fence piece stays a
        # line (the open world's flat box pedestrians are flat only face-on)
        oblique = _sin_graze(fit) < math.sin(math.radians(cfg.structure_grazing_face_deg))
        out |= person_sized & (width < _PLATE_MAX_M) & oblique
    return out


def _as_points(xyz: np.ndarray) -> np.ndarray:
    arr = np.asarray(xyz)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"xyz must be an (N, 3) array of x, y, z points, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"xyz must hold real numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


@dataclass(frozen=True)
class SweepGround:
    """The ground model of the last sweep :meth:`LidarDetector.detect` was given, for another
    detector on the same sweep (the BEV road test, ``bev.road_boxes``): its returns centred on the
    sensor's x, y (z as given), the ground under each (NaN: dropped) and whether the sensor sees
    that ground (``ground.ground_height``)."""

    stamp_ns: int
    xyz: np.ndarray
    ground_z: np.ndarray
    seen: np.ndarray


class LidarDetector:
    """Boxes from one LiDAR sweep; per-stage seconds of the last call in ``last_timing``."""

    def __init__(self, config: LidarDetectorConfig | None = None):
        config = (config if config is not None else LidarDetectorConfig()).validate()
        self.config = config.with_sensor_origin((0.0, 0.0))  # origin not derived (no calibration): base
        if not math.isfinite(self.config.sensor_z_m):
            # KITTI-LiDAR dev sweeps judged alone: 3.9-4.1 boxes per sweep matching nothing in the
            # camera's view with the height, 4.6-5.0 without (docs/detection-tracking.md, session 16)
            log.warning(
                "LiDAR height unknown (detector.sensor_z_m, or a calibration with the LiDAR's extrinsic): "
                "the rules that need it (roughness, the highest beam as a ceiling, what lies past an end) "
                "are off"
            )
        ng = math.ceil(2.0 * self.config.range_max_m / self.config.cluster_cell_m)
        # Reused across frames; label_bev leaves it all -1.
        self._grid = np.full(ng * ng, -1, np.int32)
        self._column_counts = np.zeros(ng * ng, np.int32)  # column_filter's scratch, left all 0
        self.last_timing: dict[str, float] = {"ground": 0.0, "cluster": 0.0, "boxfit": 0.0}
        self._swept: tuple[int, np.ndarray, np.ndarray] | None = None  # the last sweep given a pose
        self.last_ground: SweepGround | None = None
        self._memory = (
            StructureMemory(_MEMORY_CELL_M, self.config.structure_memory_s)
            if self.config.structure_memory_s > 0.0
            else None
        )
        self._votes = (
            StructureVotes(_MEMORY_CELL_M, self.config.structure_memory_s, _VOTE_MARGIN)
            if self.config.structure_memory_s > 0.0 and self.config.structure_votes
            else None
        )

    @property
    def structure_cells(self) -> int:
        """Cells the structure memory holds now (0 when it is off or was never given a pose)."""
        return 0 if self._memory is None else len(self._memory)

    def structure_map(self) -> StructureMap | None:
        """What the detector holds as structure now: the structure memory's marked cells and the
        cells small structure holds by its votes; None before a sweep with a pose. For display
        (RViz); the detector asks the grids themselves."""
        grids = [g for g in (self._memory, self._votes) if g is not None and g.frame_id is not None]
        if not grids:
            return None
        keys = np.unique(np.concatenate([g.held_keys() for g in grids]))  # both grids: _MEMORY_CELL_M
        return StructureMap(grids[0].frame_id, cell_centres(keys, _MEMORY_CELL_M), _MEMORY_CELL_M)

    @property
    def structure_vote_cells(self) -> int:
        """Cells holding structure votes now (0 when they are off or no sweep had a pose)."""
        return 0 if self._votes is None else len(self._votes)

    def _in_fixed_frame(
        self, obj: np.ndarray, pose: tuple[np.ndarray, str]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(base_link x-y of the sensor-centred returns ``obj``, their x-y in the pose's fixed
        frame); None where the pose places nothing (a broken estimate): nothing is remembered,
        voted or judged for that sweep."""
        T = np.asarray(pose[0], np.float64)
        if T.shape != (4, 4) or not np.isfinite(T).all():
            return None
        base = obj + np.array([self.config.sensor_x_m, self.config.sensor_y_m, 0.0])
        return base[:, :2].astype(np.float64), (base @ T[:3, :3].T + T[:3, 3])[:, :2]

    def _remembered_structure(
        self,
        base_xy: np.ndarray,
        xy: np.ndarray,
        obj_hag: np.ndarray,
        at_ceiling: np.ndarray | None,
        g: _Groups,
        big: np.ndarray,
        judge: np.ndarray,
        pose: tuple[np.ndarray, str],
        stamp_ns: int,
    ) -> np.ndarray:
        """(N,) True for the ``judge`` clusters with most returns (``xy``: in the fixed frame) where
        earlier sweeps saw structure (:mod:`structure_memory`); then this sweep's ``big`` clusters
        leave their marks."""
        out = np.zeros(len(g.cand), bool)
        mem = self._memory
        mem.start(stamp_ns, pose[1])
        self._swept = (stamp_ns, base_xy, xy)
        if judge.any() and len(mem):
            out[judge] = g.share(mem.marked(xy), judge) >= _MEMORY_MIN_SHARE
        if big.any():
            high = obj_hag >= _MEMORY_MARK_HAG_M
            if at_ceiling is not None:
                high |= at_ceiling
            mem.mark(xy[high & g.points_of(big)], stamp_ns)
        return out

    def _voted_structure(
        self,
        xy: np.ndarray,
        g: _Groups,
        voters: np.ndarray,
        judge: np.ndarray,
        pose: tuple[np.ndarray, str],
        stamp_ns: int,
    ) -> np.ndarray:
        """(N,) True for the ``judge`` clusters with at least half their returns (``xy``: in the fixed
        frame) in cells small structure holds (``structure_votes``); then this sweep votes:
        ``voters`` for structure, the judged clusters kept for objects."""
        out = np.zeros(len(g.cand), bool)
        votes = self._votes
        votes.start(stamp_ns, pose[1])
        if judge.any() and len(votes):
            out[judge] = g.share(votes.structure(xy), judge) >= _MEMORY_MIN_SHARE
        votes.vote(xy[g.points_of(voters)], xy[g.points_of(judge & ~out)], stamp_ns)
        return out

    def on_structure(self, det: Detections) -> np.ndarray:
        """(N,) True for boxes of another detector (``det``: base_link, the stamp of the last sweep
        given a pose) with at least half of the sweep's above-ground returns inside them where the
        structure memory holds structure, this sweep's marks included: a learned detector's
        vehicle box on a façade the LiDAR has seen whole. All False without such a sweep."""
        out = np.zeros(len(det), bool)
        if self._swept is None or self._swept[0] != det.stamp_ns or not len(det):
            return out
        _stamp, base_xy, world_xy = self._swept
        marked = self._memory.marked(world_xy)
        c, s = np.cos(det.yaw), np.sin(det.yaw)
        for i in range(len(det)):
            d = base_xy - det.centers[i, :2]
            inside = (np.abs(d[:, 0] * c[i] + d[:, 1] * s[i]) <= 0.5 * det.sizes[i, 0]) & (
                np.abs(-d[:, 0] * s[i] + d[:, 1] * c[i]) <= 0.5 * det.sizes[i, 1]
            )
            n = int(inside.sum())
            out[i] = n > 0 and marked[inside].sum() >= _MEMORY_MIN_SHARE * n
        return out

    def warm_up(self) -> None:
        """Compile or load the numba kernels now, so the first real frame is not slow."""
        rng = np.random.default_rng(0)
        ground = np.column_stack([rng.uniform(-10, 10, (400, 2)), rng.normal(0.0, 0.02, 400)])
        box = np.column_stack([rng.uniform(5, 6, (200, 2)), rng.uniform(0.0, 1.5, 200)])
        self.detect(np.vstack([ground, box]).astype(np.float32), 0, "base_link")

    def detect(
        self,
        xyz: np.ndarray,
        stamp_ns: int,
        frame_id: str,
        point_time_s: np.ndarray | None = None,
        pose: tuple[np.ndarray, str] | None = None,
    ) -> Detections:
        """Detect objects in an (N, 3) base_link sweep; non-finite points are dropped.

        ``point_time_s`` (N,): each point's capture time minus ``stamp_ns`` (s). With it the
        detections carry ``time_offset_s``, the mean capture time of each box's points: a
        rotating LiDAR sees each object at its azimuth's time (up to a sweep period from the
        stamp), and an object at 30 m/s moves 3 m in a 0.1 s sweep, which deskewing (ego motion
        only) cannot undo; the tracker compares each box with its track at that time.

        ``pose``: (T, frame) with T (4, 4) taking base_link at ``stamp_ns`` into a fixed frame
        (``odom``). With it the detector remembers where it saw structure over the sweeps
        (``structure_memory_s``), so one instance serves one sensor's sweeps in time order; a sweep
        without a pose, a new frame or a stamp going back starts the memory afresh.
        """
        if not isinstance(stamp_ns, (int, np.integer)) or isinstance(stamp_ns, bool):
            raise TypeError(f"stamp_ns must be int nanoseconds, got {type(stamp_ns).__name__}")
        stamp_ns = int(stamp_ns)
        self._swept = None
        self.last_ground = None
        if pose is None:  # a sweep the ego cannot place breaks the chain: odom may restart
            for grid in (self._memory, self._votes):
                if grid is not None:
                    grid.clear()
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
        gz, hidden_gz, seen = ground_height(
            pts,
            float(cfg.range_min_m),
            float(cfg.range_max_m),
            float(cfg.ground_cell_m),
            float(cfg.ground_max_slope),
            int(cfg.ground_reject_lowest),
            float(cfg.sensor_z_m),
            float(cfg.ground_hidden_slope),
            GROUND_HIDDEN_MARGIN_M,
            float(cfg.class_height_slack_per_m),
        )
        if sees_ground(float(cfg.sensor_z_m), float(cfg.ground_hidden_slope)):  # the seen test was made
            self.last_ground = SweepGround(stamp_ns, pts, gz, seen)
        tall = None
        if cfg.overhang_removal:
            # keep returns up to one gap above z_max: enough to tell whether a column goes on
            gap_max = cfg.overhang_gap_m + cfg.class_height_slack_per_m * cfg.range_max_m
            obj, obj_gz, obj_hag, kept = select_above_ground(
                pts, gz, float(cfg.z_min_m), float(cfg.z_max_m + gap_max)
            )
            col_keep, tall = column_filter(
                obj, obj_hag, float(cfg.cluster_cell_m), float(cfg.range_max_m), float(cfg.z_max_m),
                float(cfg.overhang_gap_m), float(cfg.class_height_slack_per_m),
                float(cfg.structure_tall_min_m), self._column_counts,
                round(cfg.structure_tall_spread_m / cfg.cluster_cell_m),
            )  # fmt: skip
            obj, obj_gz, obj_hag, tall = obj[col_keep], obj_gz[col_keep], obj_hag[col_keep], tall[col_keep]
            kept[np.flatnonzero(kept)[~col_keep]] = False
        else:
            obj, obj_gz, obj_hag, kept = select_above_ground(pts, gz, float(cfg.z_min_m), float(cfg.z_max_m))
        obj_hidden = hidden_gz[kept]
        at_ceiling = ceiling_points(pts, obj, cfg)
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

        step, max_fit = math.radians(cfg.fit_angle_step_deg), int(cfg.fit_max_points)
        fit = fit_boxes(obj, obj_gz, order, starts, counts, cand, step, max_fit)

        def regroup(n: int) -> tuple:
            """(order, starts, counts, cand, fit) after a split gave ``labels`` ``n`` labels; the
            splits below refit only when they split something."""
            o, st, co = group_by_label(labels, n)
            ca = np.flatnonzero(co >= cfg.min_points)
            return o, st, co, ca, fit_boxes(obj, obj_gz, o, st, co, ca, step, max_fit)

        if cfg.column_split_margin_m > 0.0 and len(cand):
            n_col = split_attached_columns(
                obj, obj_hag, labels, n_labels, order, starts, counts, cand, float(cfg.cluster_cell_m),
                float(cfg.structure_tall_min_m), float(cfg.column_split_margin_m),
                float(cfg.structure_thin_max_m), fit[:, Z_MAX] - fit[:, GROUND_Z],
            )  # fmt: skip
            if n_col > n_labels:
                n_labels = n_col
                order, starts, counts, cand, fit = regroup(n_labels)
        if cfg.row_split and len(cand):
            row_args = (
                _ROW_MIN_LENGTH_M, float(cfg.row_dip_m), float(cfg.row_body_min_m),
                float(cfg.row_body_min_length_m), math.radians(cfg.cluster_link_angle_deg), _GAP_FACTOR, 0.0,
                0.0, _ROW_SMOOTH_LINK_FRACTION,
            )  # fmt: skip
            n_split = split_rows(obj, obj_hag, labels, n_labels, order, starts, counts, cand, fit, *row_args)
            if n_split > n_labels:
                n_labels = n_split
                order, starts, counts, cand, fit = regroup(n_labels)
            # across: a cluster wider than any road vehicle holds two things side by side (a parked
            # car and a person or hedge beside it, joined by the line-of-sight links of its roof)
            wide = fit[:, WIDTH] > _VEHICLE_MAX_WIDTH_M
            if wide.any():
                across = fit[wide].copy()
                across[:, LENGTH], across[:, WIDTH] = fit[wide, WIDTH], fit[wide, LENGTH]
                across[:, YAW] = fit[wide, YAW] + 0.5 * np.pi
                n_split = split_rows(
                    obj, obj_hag, labels, n_labels, order, starts, counts, cand[wide], across, *row_args
                )
                if n_split > n_labels:
                    n_labels = n_split
                    order, starts, counts, cand, fit = regroup(n_labels)
            if cfg.row_cabin_drop_m > 0.0:
                # what the fence rule would drop, beam slack included (a bus at 70 m reads 2.3 m tall
                # and is not, so it must not be cut at its windows either): a row of parked cars seen
                # from afar, the gaps between them hidden, still shows one cabin per car
                low_end, _, slk = _bottom_range_slack(fit, cfg)
                censored = ceiling_clusters(at_ceiling, order, starts, counts, cand)
                long = long_and_low(fit[:, LENGTH], fit[:, Z_MAX] - low_end, slk, cfg, censored)
                if long.any():
                    # a far car's cabin top falls between beams like any top: the height a cabin
                    # must reach is lowered by the beam spacing at its range
                    cab_args = (
                        *row_args[:-3], float(cfg.row_cabin_drop_m), float(cfg.class_height_slack_per_m),
                        _CABIN_SMOOTH_LINK_FRACTION,
                    )  # fmt: skip
                    n_split = split_rows(
                        obj, obj_hag, labels, n_labels, order, starts, counts, cand[long], fit[long],
                        *cab_args,
                    )  # fmt: skip
                    if n_split > n_labels:
                        n_labels = n_split
                        order, starts, counts, cand, fit = regroup(n_labels)
        _contact, interior, flat = structure_features(
            obj, obj_hag, order, starts, counts, cand, fit, 0.3, float(cfg.structure_low_m),
            float(cfg.structure_inside_m), _FLAT_TOL_M,
        )  # fmt: skip
        n_pts = counts[cand]
        tall_share = np.zeros(len(cand))
        if tall is not None and len(cand):  # share of each cluster's points in too-tall columns
            tall_share = _cluster_sums(tall, order, starts, counts, cand) / np.maximum(counts[cand], 1)
        bottom, rng, slack = _bottom_range_slack(fit, cfg)
        top = fit[:, Z_MAX]
        # larger than any vehicle: never an object, and what the structure memory remembers
        oversize = (
            (fit[:, LENGTH] > cfg.max_length_m)
            | (fit[:, WIDTH] > cfg.max_width_m)
            | (top - fit[:, GROUND_Z] > cfg.max_height_m)
        )
        censored = ceiling_clusters(at_ceiling, order, starts, counts, cand)
        # the hidden road under each candidate (inf where it is not over hidden road), once per
        # grouping: the rules here, a split group's pieces and the kept boxes read it
        hidden_on = cfg.ground_hidden_slope > 0.0
        hidden = _hidden_bottoms(obj_hidden, order, starts, counts, cand) if hidden_on else None
        reach_bottom = _reach_bottom(bottom, hidden)
        shapes = _cluster_shapes(fit, bottom, top, slack, rng, interior, flat, censored, cfg, reach_bottom)
        standing = ~oversize & _standing(fit, top, cfg)
        ok = standing & ~_any_shape(shapes)
        # small structure that votes (structure_votes): shapes no object takes, standing on the ground
        # (a crown or a balcony would vote for the road under it)
        voting = self._votes is not None and pose is not None
        voters = (
            standing & np.logical_or.reduce([shapes[k] for k in _VOTING_SHAPES])
            if voting
            else np.zeros(len(cand), bool)
        )
        if cfg.structure_rough_min_m > 0.0 and math.isfinite(cfg.sensor_z_m):
            longer = fit[:, LENGTH] > _PERSON_MAX_M
            # foliage no wider than a cyclist votes: a hedge alone, not a car merged with one
            narrow = (
                standing & longer & (fit[:, WIDTH] <= _POROUS_MIN_WIDTH_M)
                if voting
                else np.zeros(len(cand), bool)
            )
            judge = np.flatnonzero((ok & longer) | narrow)  # only these can be dropped or vote
            rough, n_rough, n_cand = surface_roughness(
                obj, order, starts, counts, cand[judge], float(cfg.sensor_z_m),
                math.radians(cfg.cluster_link_angle_deg),
            )  # fmt: skip
            foliage = rough_vegetation(rough, n_rough, n_cand, cfg)
            foliage &= ~smooth_groups(
                obj, order, starts, counts, cand[judge], fit[judge], top[judge], foliage, n_rough, n_cand, cfg
            )
            ok[judge] &= ~foliage
            voters[judge] |= foliage & narrow[judge]
        ok &= tall_share <= cfg.structure_tall_fraction
        plates = flat_plates(fit, top, slack, cfg)
        ok &= ~plates
        voters |= plates & standing
        facade = np.zeros(len(cand), bool)
        truck_tall = _truck_tall(fit, bottom, top, slack, censored, cfg)  # what could be a truck's side
        bins = None  # the sweep by azimuth, binned once for the rules that look through gaps and past ends
        if cfg.structure_face_extent and (ok & truck_tall).any():
            bins = sweep_bins(pts)
            facade = facade_pieces(
                pts, bins, obj, obj_hag, fit, bottom, top, slack, ok, at_ceiling, censored, cfg
            )
            ok &= ~facade
        # the ends rules also judge what is truck-tall only down to the hidden road: a façade piece
        # behind parked cars, measured lower, is a truck's rear to the classes below once its box
        # reaches down there (the structure memory below still takes the measured truck_tall)
        reach_tall = (
            truck_tall if reach_bottom is None else _truck_tall(fit, reach_bottom, top, slack, censored, cfg)
        )
        by_ends = ok & reach_tall
        if cfg.structure_bounded_ends and math.isfinite(cfg.sensor_z_m) and by_ends.any():
            if bins is None:
                bins = sweep_bins(pts)
            # the road past a vehicle's end; a return with no ground estimate (out of range) may be road
            on_ground = ~(pts[:, 2] - gz >= cfg.z_min_m)
            ok &= ~unbounded_clusters(
                pts, bins, kept, labels, obj, order, starts, counts, cand, fit, by_ends, cfg, on_ground, gz,
                obj_hag,
            )  # fmt: skip
        remember = self._memory is not None or voting
        placed = self._in_fixed_frame(obj, pose) if pose is not None and remember else None
        if placed is not None:
            base_xy, fixed_xy = placed
            groups = _Groups(labels, n_labels, order, starts, counts, cand)
            if self._memory is not None:
                big = oversize | (tall_share > cfg.structure_tall_fraction) | facade
                ok &= ~self._remembered_structure(
                    base_xy, fixed_xy, obj_hag, at_ceiling, groups, big, ok & truck_tall, pose, stamp_ns
                )
            if voting:
                ok &= ~self._voted_structure(fixed_xy, groups, voters, ok, pose, stamp_ns)
        if cfg.group_split and ok.any():
            # after the structure rules (split before them, a hedge's pieces would escape the rules
            # that judge the whole: roughness, ends); the pieces inherit the whole's verdict, then meet
            # the rules any cluster of their size meets (posts, plates: a wall's pieces are plates;
            # bottom clearance, least height)
            before = labels.copy()
            n_grp = split_groups(
                obj, obj_hag, labels, n_labels, order, starts, counts, cand[ok], fit[ok],
                float(cfg.class_height_slack_per_m), math.radians(cfg.cluster_link_angle_deg), _GAP_FACTOR,
            )  # fmt: skip
            if n_grp > n_labels:
                kept_labels = cand[ok]
                parents = np.unique(before[labels != before])
                order, starts, counts, cand, fit = regroup(n_grp)
                ok = np.isin(cand, kept_labels) | (cand >= n_labels)
                piece = np.flatnonzero(ok & (np.isin(cand, parents) | (cand >= n_labels)))
                n_labels = n_grp
                n_pts = counts[cand]
                bottom, rng, slack = _bottom_range_slack(fit, cfg)
                top = fit[:, Z_MAX]
                hidden = _hidden_bottoms(obj_hidden, order, starts, counts, cand) if hidden_on else None
                _c, interior_p, flat_p = structure_features(
                    obj, obj_hag, order, starts, counts, cand[piece], fit[piece], 0.3,
                    float(cfg.structure_low_m), float(cfg.structure_inside_m), _FLAT_TOL_M,
                )  # fmt: skip
                fp, tp, sp = fit[piece], top[piece], slack[piece]
                censored_p = ceiling_clusters(at_ceiling, order, starts, counts, cand[piece])
                reach_p = _reach_bottom(bottom[piece], None if hidden is None else hidden[piece])
                shapes_p = _cluster_shapes(
                    fp, bottom[piece], tp, sp, rng[piece], interior_p, flat_p, censored_p, cfg, reach_p
                )
                ok[piece] &= _standing(fp, tp, cfg) & ~_any_shape(shapes_p) & ~flat_plates(fp, tp, sp, cfg)
        # kept clusters mostly over ground that nearer objects hide: their lower part is in shadow,
        # so they reach down to the hidden ground's continuation, not to their lowest return. Only
        # classes and boxes change, and above, the "taller than" rules and what the ends rules judge
        # (_reach_bottom): lowering the ground for every rule made hedges and façade bases behind
        # parked cars car-tall (session 16, not kept)
        hidden_bottom = hidden[ok] if hidden is not None else np.full(int(ok.sum()), np.inf)
        fit, bottom, top, n_pts, slack = fit[ok], bottom[ok], top[ok], n_pts[ok], slack[ok]
        n = fit.shape[0]
        t_box = None
        if obj_t is not None:  # mean capture time per box
            t_box = _cluster_sums(obj_t, order, starts, counts, cand[ok]) / np.maximum(counts[cand][ok], 1)
        heights = top - bottom
        lwh = np.column_stack([fit[:, LENGTH], fit[:, WIDTH], heights])
        cls, base, end_on = classify_shape(lwh, slack, fit[:, BODY_WIDTH])
        dropped = np.zeros(n, bool)  # grazing faces, tall slivers
        if cfg.structure_grazing_face_deg > 0.0 and n:
            dropped = grazing_faces(fit, cls, end_on, cfg.structure_grazing_face_deg)
        if np.any(hidden_bottom < bottom):  # the classes of the boxes that reach into the shadow
            bottom = np.minimum(bottom, hidden_bottom)
            heights = top - bottom
            lwh = np.column_stack([fit[:, LENGTH], fit[:, WIDTH], heights])
            cls, base, end_on = classify_shape(lwh, slack, fit[:, BODY_WIDTH])
            if cfg.structure_grazing_face_deg > 0.0 and n:
                # a lone face seen at a grazing angle is no vehicle's end whatever its height;
                # what the measured height dropped stays dropped
                dropped |= grazing_faces(fit, cls, end_on, cfg.structure_grazing_face_deg)
        if cfg.bicycle_wheel_ends and n:
            # a bicycle-sized box whose ends stand as tall as its middle has no wheels there: no
            # cyclist (a parked car's piece, people in a row); UNKNOWN, so a camera that sees the
            # class relabels and completes it (FrameDetector._apply_camera)
            bike = np.flatnonzero(cls == int(ObjectClass.BICYCLE))
            if bike.size:
                share = end_top_share(obj, obj_hag, order, starts, counts, cand[ok][bike], fit[bike])
                flat = bike[share > WHEEL_END_MAX_SHARE]
                cls[flat], base[flat], end_on[flat] = int(ObjectClass.UNKNOWN), UNKNOWN_SCORE, False
        if cfg.structure_tall_unknown_m > 0.0 and n:
            # taller than any person or cyclist, narrower than any vehicle that tall (vans, trucks
            # and buses: 1.9-2.6 m across): a pier between windows, a column, a sign on its post
            dropped |= (
                (cls == int(ObjectClass.UNKNOWN))
                & (heights > cfg.structure_tall_unknown_m)
                & (np.maximum(fit[:, LENGTH], fit[:, WIDTH]) < _TALL_VEHICLE_MIN_WIDTH_M)
            )
        if cfg.vehicle_end_recede_m > 0.0 and n:
            # a far car's end has a person's or a cyclist's footprint, but its upper half stands
            # farther than its lower half (boot lid, rear window; bonnet, windscreen): a car,
            # completed along the line of sight (complete_boxes takes the length along the axis
            # nearer it for a short solid box)
            small = np.flatnonzero(
                np.isin(cls, _SMALL_OR_UNKNOWN) & (heights <= _VEHICLE_END_MAX_HEIGHT_M) & ~dropped
            )
            if small.size:
                recede, across = upper_recession(obj, obj_hag, order, starts, counts, cand[ok][small])
                car = small[(recede >= cfg.vehicle_end_recede_m) & (across >= _VEHICLE_END_MIN_ACROSS_M)]
                cls[car], base[car], end_on[car] = int(ObjectClass.CAR), _VEHICLE_END_SCORE, False
        if dropped.any():  # what the boxes below are built from
            keep = ~dropped
            fit, bottom, top, n_pts, heights = (a[keep] for a in (fit, bottom, top, n_pts, heights))
            cls, base, end_on = cls[keep], base[keep], end_on[keep]
            if t_box is not None:
                t_box = t_box[keep]
            n = fit.shape[0]
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
            pos_cov=position_covariance(xy, n_pts, cfg)
            + completion_covariance(yaw, COMPLETION_STD_FRACTION * grown),
            sensors=np.full(n, SENSOR_LIDAR, np.uint8),
            time_offset_s=t_box,
        )
        timing["boxfit"] = time.perf_counter() - t2
        return det
