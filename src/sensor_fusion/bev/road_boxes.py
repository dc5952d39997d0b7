"""Boxes the LiDAR shows to be road: no return in or near the footprint stands clear of the road seen.

The network slices LiDAR heights over base_link's z = 0 (``grid.BevGrid``). Where the street rises
ahead (a sag curve, an uphill grade) road returns fill the slices where bodies are, and the
network boxes the road: on development bag ``urban_clutter`` 713 (graded, 10 s) it held boxes 40 m
ahead for seconds, tracked at the vehicle's own speed (docs/bev.md, session 36). Levelling the
input (``bev.level_road``) changes what the network sees everywhere; this test only removes boxes
that the returns around them refute, and leaves the input as trained.

The ground is the classical detector's (``perception.ground``): each cell's lowest returns,
bounded by a slope-limited lower envelope of its neighbours. It follows a sag or a grade without a
model (a quadratic fitted to the whole sweep, ``level.road_surface``, lags a sag by 0.4 m at 42 m
on 713). Where the ground is hidden the envelope climbs to the lowest body: behind a first row of
parked cars the second row's roofs are the lowest returns within 8 m (1.3 m up on ``parking_lot``
722), and over that envelope they stand less than 0.5 m (a first form of this rule dropped 1053
boxes on parked cars in 99 frames there). So the ground must also be *seen*: a cell's lowest
returns are that ground, and no nearer object's shadow reaches up to them (``ground.ground_seen``;
the shadow needs the LiDAR's position, and without it the test is off). An object with air under
it (a tree crown over the road) shades only the band it fills: the beams under it reach the road.

A box is dropped when its footprint, grown by the network's centre error (``GROW_M``), holds at
least ``MIN_RETURNS`` returns (of those up to ``CEILING_M`` over the ground: a crown over the road
says nothing about what stands on it), at least half of them on seen ground, and its highest
return stands less than ``min_height_m`` both over its own cell's ground and over the lowest
ground seen in the grown footprint. Over the lowest ground seen too: a far car behind the
vehicle, seen by a ring or two, has body returns whose own cells' ground has climbed to them
(three such cars stood under 0.5 m over it on ``highway`` 731; two of them stand higher over the
road seen beside them). At least half on seen ground: in a parked row most of a roof's returns
lie in the first row's shadow, but a roof seen through a gap can pass the shadow test over an
envelope that has climbed to it. Half, not all: a car or a walker on the road ahead shadows part
of a footprint 40 m away.

Every class the network boxes stands about 1 m or more (a child, a bicycle's saddle, a car's
bonnet); a kerb is 0.1-0.2 m, so 0.5 m lies between them. A box with fewer returns, or no ground
seen near it (far, hidden, seen by camera or radar only), is kept: an absence of returns refutes
nothing.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..core.types import Detections
from ..perception.ground import GROUND_HIDDEN_MARGIN_M, ground_seen
from ..perception.lidar import LidarDetectorConfig, SweepGround

MIN_RETURNS = 3  # fewer returns in a footprint are too thin a look to call it road
# the footprint is grown by the network's centre error: within 2 m of their object, its boxes at
# the tracker's score lie 0.71 (pedestrians), 0.82 (bicycles), 0.96 m (cars) off it at the 95th
# percentile on development bags urban_clutter 711, 713, 715, 716. A box beside a walker on a
# pavement holds only pavement; the walker stands within this of it
GROW_M = 1.0
_CELL_M = 0.5  # a footprint is the 0.5 m cells whose centres it covers (the ground model's cell)
# returns higher than this over their ground are left out: the test asks whether anything stands
# 0.5 m over the road in the footprint, and every road user shows returns between 0.5 and 2.5 m
# where it stands (people, cyclists and cars are 1.0-2.0 m tall; a truck's or bus's body and wheels
# are there too) unless something nearer hides that band, and then the ground behind is hidden
# too and the box is kept. Over it hang tree crowns, signs and balconies: on the tree-lined
# development street 713 a box on the road under a crown held the crown's returns, 4-13 m up, and
# was kept as standing (docs/bev.md, session 37)
CEILING_M = 2.5


def road_boxes(
    det: Detections,
    xyz: np.ndarray | None,
    min_height_m: float,
    half_m: float,
    ground: LidarDetectorConfig | None = None,
    sweep: SweepGround | None = None,
) -> np.ndarray:
    """(N,) bool: the boxes of ``det`` (base_link) whose footprint grown by ``GROW_M`` holds at least
    ``MIN_RETURNS`` of the returns ``xyz`` (base_link) within ``half_m`` of the origin and
    ``CEILING_M`` of their ground, at least half on seen ground, none ``min_height_m`` over its own
    cell's ground nor over the lowest ground seen there. ``ground``: the classical detector's
    settings, with the LiDAR's position (``sensor_x/y/z_m``); None or no position: nothing is
    dropped. ``sweep``: that detector's ground model of this same sweep (``LidarDetector.
    last_ground``, made with ``ground``), used instead of ``xyz`` and a ground computed again: in
    ``both`` mode with one LiDAR it saves most of this test's time."""
    out = np.zeros(len(det), bool)
    if min_height_m <= 0.0 or len(det) == 0 or ground is None:
        return out
    if sweep is None and (xyz is None or len(xyz) == 0):
        return out
    origin = np.array([ground.sensor_x_m, ground.sensor_y_m, ground.sensor_z_m], np.float64)
    if not np.isfinite(origin).all():
        return out
    if sweep is not None:
        pts, gz, seen = sweep.xyz, sweep.ground_z, sweep.seen
    else:
        # the ground model works around the sensor (ranges, shadows): shift there, bin back in base_link
        pts = np.ascontiguousarray(xyz, np.float32) - np.array([origin[0], origin[1], 0.0], np.float32)
        # the ground out to the farthest grown box from the sensor, not to the grid's corners: the cost
        # grows with its cells (road_boxes_ms in bench/bench_bev.py)
        c = det.centers[:, :2] - origin[:2]
        reach = np.hypot(c[:, 0], c[:, 1]) + 0.5 * np.hypot(det.sizes[:, 0], det.sizes[:, 1]) + GROW_M
        corners = half_m * math.sqrt(2.0) + float(np.hypot(origin[0], origin[1]))
        reach = reach[np.isfinite(reach)]
        range_m = float(min(reach.max() + _CELL_M, corners)) if len(reach) else corners
        # whole cells, so the grid's cells are the classical detector's (its shipped range is whole cells):
        # otherwise a box's verdict would move with the farthest box's distance
        cell = float(ground.ground_cell_m)
        gz, seen = ground_seen(
            pts,
            math.ceil(range_m / cell) * cell,
            cell,
            float(ground.ground_max_slope),
            int(ground.ground_reject_lowest),
            float(origin[2]),
            GROUND_HIDDEN_MARGIN_M,
            float(ground.class_height_slack_per_m),
        )
    n = int(np.ceil(2.0 * half_m / _CELL_M))
    cells = _cells(pts, gz, seen, float(half_m), origin[0], origin[1], _CELL_M, n, CEILING_M)
    returns, unseen, over_own, over_seen = _box_heights(
        *cells,
        np.ascontiguousarray(det.centers[:, :2], np.float64),
        np.ascontiguousarray(det.sizes[:, :2], np.float64),
        np.ascontiguousarray(det.yaw, np.float64),
        float(half_m),
        _CELL_M,
        GROW_M,
    )
    flat = (over_own < min_height_m) & (over_seen < min_height_m)
    return (returns >= MIN_RETURNS) & (2 * unseen <= returns) & flat


@numba.njit(cache=True, nogil=True)
def _cells(xyz, ground, seen, half_m, x0, y0, cell_m, n, ceiling_m):
    """Per cell of an n x n grid over [-half_m, half_m)^2 (``xyz`` shifted by -(x0, y0)), of the
    returns at most ``ceiling_m`` over their ground: the count, how many are not on seen ground, the
    highest height over each return's own ground, the highest z, and the lowest ground the sensor
    sees there (inf: none)."""
    count = np.zeros((n, n), np.int32)
    unseen = np.zeros((n, n), np.int32)
    over = np.full((n, n), -np.inf)
    top = np.full((n, n), -np.inf)
    road = np.full((n, n), np.inf)
    for i in range(xyz.shape[0]):
        z = np.float64(xyz[i, 2])
        g = np.float64(ground[i])
        if not (np.isfinite(z) and np.isfinite(g)) or z - g > ceiling_m:
            continue
        ix = int(np.floor((xyz[i, 0] + x0 + half_m) / cell_m))
        iy = int(np.floor((xyz[i, 1] + y0 + half_m) / cell_m))
        if 0 <= ix < n and 0 <= iy < n:
            count[ix, iy] += 1
            over[ix, iy] = max(over[ix, iy], z - g)
            top[ix, iy] = max(top[ix, iy], z)
            if seen[i]:
                road[ix, iy] = min(road[ix, iy], g)
            else:
                unseen[ix, iy] += 1
    return count, unseen, over, top, road


@numba.njit(cache=True, nogil=True)
def _box_heights(count, unseen, over, top, road, centers, lw, yaw, half_m, cell_m, grow_m):
    """Per box, over the cells whose centres its footprint grown by ``grow_m`` covers: the returns,
    how many are not on seen ground, the highest's height over its own cell's ground, and the
    highest z over the lowest ground seen there (inf: no ground seen, or a malformed box: nothing to
    judge by)."""
    n = count.shape[0]
    m = centers.shape[0]
    returns = np.zeros(m, np.int64)
    off_ground = np.zeros(m, np.int64)
    over_own = np.full(m, np.inf)
    over_seen = np.full(m, np.inf)
    for b in range(m):
        box = (centers[b, 0], centers[b, 1], lw[b, 0], lw[b, 1], yaw[b])
        if not np.isfinite(np.array(box)).all():
            continue  # a malformed box is not judged (kept)
        c, s = np.cos(yaw[b]), np.sin(yaw[b])
        hl, hw = 0.5 * lw[b, 0] + grow_m, 0.5 * lw[b, 1] + grow_m
        r = np.sqrt(hl * hl + hw * hw)
        i0 = max(int(np.floor((centers[b, 0] - r + half_m) / cell_m)), 0)
        i1 = min(int(np.floor((centers[b, 0] + r + half_m) / cell_m)), n - 1)
        j0 = max(int(np.floor((centers[b, 1] - r + half_m) / cell_m)), 0)
        j1 = min(int(np.floor((centers[b, 1] + r + half_m) / cell_m)), n - 1)
        own, highest, lowest = -np.inf, -np.inf, np.inf
        for i in range(i0, i1 + 1):
            dx = (i + 0.5) * cell_m - half_m - centers[b, 0]
            for j in range(j0, j1 + 1):
                if count[i, j] == 0:
                    continue
                dy = (j + 0.5) * cell_m - half_m - centers[b, 1]
                if abs(c * dx + s * dy) <= hl and abs(-s * dx + c * dy) <= hw:
                    returns[b] += count[i, j]
                    off_ground[b] += unseen[i, j]
                    own = max(own, over[i, j])
                    highest = max(highest, top[i, j])
                    lowest = min(lowest, road[i, j])
        if returns[b] > 0:
            over_own[b] = own
        if np.isfinite(lowest):
            over_seen[b] = highest - lowest
    return returns, off_ground, over_own, over_seen
