"""Local ground height under each LiDAR point, from a coarse BEV grid.

Each grid cell keeps its few lowest z values; the cell's estimate is the
``reject_lowest + 1``-th lowest (one isolated low return, e.g. multipath, does
not drag the ground down). Cells whose lowest return is an object (a car body
filling the cell) are then pulled down to a slope-limited lower envelope of
their neighbours: ``h[i] = min_j(est[j] + max_slope * dist(i, j))``, computed
exactly like a chamfer distance transform in two raster passes. That bounds the
ground under an object by the visible ground around it, follows any slope up
to ``max_slope`` without fitting a model, and costs O(points + cells).

Where nearer objects hide the ground (a queue of cars, rows of parked cars), the cell's lowest
return is an object's visible bottom and the envelope from visible ground metres away lets the
estimate climb to it. ``ground_height`` also returns, for such cells, the nearest ground seen
continued at a gentle grade (:func:`_hidden_ground`): the detector uses it for the class and size of what it
kept there, not for the ground cut itself.

Chosen over a RANSAC plane because a single plane fails on crowned roads and
slope changes, and over per-ring (scan-line) methods because the input here is
an unordered cloud without ring indices.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MAX_REJECT_LOWEST = 3  # bounds the per-cell sorted buffer
# what stands this far over the ground is an object whose shadow can hide ground, and how far a
# hidden cell's estimate must stand over the visible ground continued to count as hidden (session
# 13's parking-lot analysis: the lowest returns of hidden cells sit 0.3-0.8 m up on car bodies)
GROUND_HIDDEN_MARGIN_M = 0.3


@njit(cache=True)
def sees_ground(sensor_z_m: float, hidden_slope: float) -> bool:
    """Whether :func:`ground_height` makes the seen test (and the hidden ground's continuation):
    it needs the LiDAR's height and the continuation on."""
    return np.isfinite(sensor_z_m) and hidden_slope > 0.0


@njit(cache=True)
def ground_height(
    xyz: np.ndarray,
    range_min_m: float,
    range_max_m: float,
    cell_m: float,
    max_slope: float,
    reject_lowest: int,
    sensor_z_m: float,
    hidden_slope: float,
    hidden_margin_m: float,
    beam_gap_per_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground z (float32, metres) under each point, NaN where the point is dropped; the hidden
    ground's continuation under each point (float32), NaN where the ground is not hidden: see
    :func:`_hidden_ground` (``hidden_slope``, ``hidden_margin_m``, ``beam_gap_per_m``), all NaN where
    ``sensor_z_m`` (the LiDAR's z in the same frame) is not finite or ``hidden_slope`` is 0; and
    whether each point's cell's ground is seen (:func:`ground_seen`'s test, made on the way to the
    continuation; all False where that is not computed). The classical detector computes it once
    per sweep, and the BEV detector's road test reads it instead of computing the ground again
    (``bev.road_boxes``).

    Dropped: any non-finite coordinate, or horizontal range outside
    ``[range_min_m, range_max_m)``. The grid is a square of side
    ``2 * range_max_m`` centred on the sensor origin.
    """
    if sees_ground(sensor_z_m, hidden_slope):
        cell_of, h0, h, line, fixed = _seen_grid(
            xyz, range_min_m, range_max_m, cell_m, max_slope, reject_lowest, sensor_z_m, hidden_margin_m,
            beam_gap_per_m,
        )  # fmt: skip
        hz = np.full(h.shape, np.nan)
        feet = _stack_feet(xyz, cell_of, h0, fixed, hidden_margin_m, beam_gap_per_m)
        _hidden_ground(h, line, fixed & ~feet, hz, cell_m, hidden_slope, hidden_margin_m)
        return _at_points(cell_of, h, hz, fixed)
    cell_of, _h0, h = _ground_grid(xyz, range_min_m, range_max_m, cell_m, max_slope, reject_lowest)
    return _at_points(cell_of, h, np.full(h.shape, np.nan), np.zeros(h.shape, np.bool_))


@njit(cache=True)
def _seen_grid(
    xyz: np.ndarray,
    range_min_m: float,
    range_max_m: float,
    cell_m: float,
    max_slope: float,
    reject_lowest: int,
    sensor_z_m: float,
    margin_m: float,
    beam_gap_per_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cell of each point, each cell's lowest return, the ground envelope, the objects' shadow
    line and the cells whose ground is seen (:func:`_seen_cells`): what :func:`ground_height` and
    :func:`ground_seen` share."""
    cell_of, h0, h = _ground_grid(xyz, range_min_m, range_max_m, cell_m, max_slope, reject_lowest)
    line = _shadow_line(xyz, cell_of, h, range_max_m, cell_m, sensor_z_m, margin_m, beam_gap_per_m)
    fixed = _seen_cells(h0, h, line, range_max_m, cell_m, margin_m, beam_gap_per_m)
    return cell_of, h0, h, line, fixed


@njit(cache=True)
def _stack_feet(
    xyz: np.ndarray,
    cell_of: np.ndarray,
    h0: np.ndarray,
    fixed: np.ndarray,
    margin_m: float,
    beam_gap_per_m: float,
) -> np.ndarray:
    """Per cell: is the lowest return ``h0`` of a seen (``fixed``) cell the foot of a face? A return
    of a higher beam in the same cell stands over it by more than ``margin_m`` and at most two beam
    gaps more (``beam_gap_per_m`` x range). Past a few metres ground is never that steep (the next
    beam up lands range^2 x spacing / height farther out), so such a cell holds a face: its lowest
    return may be the ground at the face's base, or the face's own lowest return over a glass
    ground floor that returned nothing (a "seen" road 1.9 m up, 70 m away, on KITTI-LiDAR sweeps).
    One sweep cannot tell them apart, so neither starts the hidden road's continuation
    (:func:`_hidden_ground`); the seen test itself is unchanged."""
    ng = h0.shape[0]
    feet = np.zeros((ng, ng), np.bool_)
    for i in range(xyz.shape[0]):
        c = cell_of[i]
        if c < 0:
            continue
        ix, iy = c // ng, c % ng
        if not fixed[ix, iy] or feet[ix, iy]:
            continue
        dz = np.float64(xyz[i, 2]) - h0[ix, iy]
        if dz <= margin_m:
            continue  # the ground's own returns (most of a seen cell's)
        x, y = np.float64(xyz[i, 0]), np.float64(xyz[i, 1])
        if dz <= margin_m + 2.0 * beam_gap_per_m * np.sqrt(x * x + y * y):
            feet[ix, iy] = True
    return feet


@njit(cache=True, inline="always")
def _at_points(
    cell_of: np.ndarray, h: np.ndarray, hz: np.ndarray, fixed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point, its cell's ground ``h``, continuation ``hz`` and seen flag ``fixed`` (NaN, NaN and
    False for points without a cell, -1). One pass: three cost 0.6 ms more on a 120k sweep."""
    n = cell_of.shape[0]
    ng = h.shape[0]
    out = np.full(n, np.nan, np.float32)
    hid = np.full(n, np.nan, np.float32)
    seen = np.zeros(n, np.bool_)
    for i in range(n):
        c = cell_of[i]
        if c >= 0:
            ix, iy = c // ng, c % ng
            out[i] = h[ix, iy]
            hid[i] = hz[ix, iy]
            seen[i] = fixed[ix, iy]
    return out, hid, seen


@njit(cache=True)
def _ground_grid(
    xyz: np.ndarray,
    range_min_m: float,
    range_max_m: float,
    cell_m: float,
    max_slope: float,
    reject_lowest: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cell of each point (-1: dropped), each cell's own ``reject_lowest + 1``-th lowest return
    (inf: empty) and its slope-limited lower envelope (:func:`ground_height`)."""
    n = xyz.shape[0]
    ng = int(np.ceil(2.0 * range_max_m / cell_m))
    k = reject_lowest + 1
    low = np.full((ng * ng, k), np.inf)
    cnt = np.zeros(ng * ng, np.int32)
    cell_of = np.full(n, -1, np.int64)
    rmin2 = range_min_m * range_min_m
    rmax2 = range_max_m * range_max_m
    inv = 1.0 / cell_m
    for i in range(n):
        x = np.float64(xyz[i, 0])
        y = np.float64(xyz[i, 1])
        z = np.float64(xyz[i, 2])
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)):
            continue
        r2 = x * x + y * y
        if r2 < rmin2 or r2 >= rmax2:
            continue
        ix = min(max(int((x + range_max_m) * inv), 0), ng - 1)
        iy = min(max(int((y + range_max_m) * inv), 0), ng - 1)
        c = ix * ng + iy
        cell_of[i] = c
        cnt[c] += 1
        if z < low[c, k - 1]:  # insertion into the k lowest, kept sorted
            j = k - 1
            while j > 0 and low[c, j - 1] > z:
                low[c, j] = low[c, j - 1]
                j -= 1
            low[c, j] = z

    h0 = np.full((ng, ng), np.inf)
    for c in range(ng * ng):
        if cnt[c] > 0:
            h0[c // ng, c % ng] = low[c, min(cnt[c], k) - 1]
    h = h0.copy()
    _chamfer(h, max_slope * cell_m)
    return cell_of, h0, h


@njit(cache=True)
def ground_seen(
    xyz: np.ndarray,
    range_max_m: float,
    cell_m: float,
    max_slope: float,
    reject_lowest: int,
    sensor_z_m: float,
    margin_m: float,
    beam_gap_per_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Ground z under each point (float32, NaN where dropped, as :func:`ground_height`) and whether
    its cell's ground is *seen*: its lowest returns are the ground, and no nearer object's shadow
    reaches up to them (the test :func:`_hidden_ground` makes). ``xyz`` is centred on the sensor,
    ``sensor_z_m`` its height; a cell in a shadow, or whose lowest return is a body, is not seen."""
    cell_of, _h0, h, _line, fixed = _seen_grid(
        xyz, 0.0, range_max_m, cell_m, max_slope, reject_lowest, sensor_z_m, margin_m, beam_gap_per_m
    )
    out, _hid, seen = _at_points(cell_of, h, np.full(h.shape, np.nan), fixed)
    return out, seen


AZ_BINS = 1440  # 0.16-0.32 deg (diamond angle): finer than a car at 50 m (2 deg)


@njit(cache=True, inline="always")
def az_bin(x: float, y: float) -> int:
    """Azimuth bin of (x, y) by the diamond angle (monotonic in the azimuth, [0, 4)): no arctan2
    in a loop over every return."""
    s = abs(x) + abs(y)
    if s == 0.0:
        return 0
    if y >= 0.0:
        a = y / s if x >= 0.0 else 2.0 - y / s
    else:
        a = 2.0 - y / s if x < 0.0 else 4.0 + y / s
    return min(int(a * (AZ_BINS / 4.0)), AZ_BINS - 1)


@njit(cache=True, inline="always")
def _cell_centre(ix: int, iy: int, cell_m: float, range_max_m: float) -> tuple[float, float, float]:
    """x, y and horizontal range of a ground cell's centre (sensor-centred)."""
    xc = (ix + 0.5) * cell_m - range_max_m
    yc = (iy + 0.5) * cell_m - range_max_m
    return xc, yc, np.sqrt(xc * xc + yc * yc)


@njit(cache=True)
def _seen_cells(
    h0: np.ndarray,
    h: np.ndarray,
    line: np.ndarray,
    range_max_m: float,
    cell_m: float,
    margin_m: float,
    beam_gap_per_m: float,
) -> np.ndarray:
    """Per cell: is its ground seen? Its lowest returns ``h0`` are the ground (within ``margin_m`` of
    the envelope ``h``, not a body over it), and no nearer object's shadow ``line`` reaches up to
    them (by ``margin_m`` plus a beam gap, ``beam_gap_per_m`` x range)."""
    ng = h.shape[0]
    seen = np.zeros((ng, ng), np.bool_)
    for ix in range(ng):
        for iy in range(ng):
            if not np.isfinite(h[ix, iy]):
                continue
            rc = _cell_centre(ix, iy, cell_m, range_max_m)[2]
            low = h0[ix, iy]
            seen[ix, iy] = low <= h[ix, iy] + margin_m and line[ix, iy] < low - margin_m - beam_gap_per_m * rc
    return seen


@njit(cache=True)
def _shadow_line(
    xyz: np.ndarray,
    cell_of: np.ndarray,
    h: np.ndarray,
    range_max_m: float,
    cell_m: float,
    sensor_z_m: float,
    margin_m: float,
    beam_gap_per_m: float,
) -> np.ndarray:
    """Per cell (-inf: none): the lowest height the sensor sees there past the objects nearer along
    its azimuth (returns standing more than ``margin_m`` over their ground ``h``); ``xyz`` centred
    on the sensor, ``sensor_z_m`` its height.

    An object standing on the ground hides everything under its top. One with air under it (a
    tree crown over the road, an overhead sign, a trailer's bed) hides only the band between its
    lowest and highest returns: the beams under it reach the road beyond. A cell's objects have air
    under them when their lowest return stands over the ground by more than ``margin_m`` and a
    beam gap (``beam_gap_per_m`` x range: a beam passed under it). Without that, on a tree-lined
    street every cell past the first crown over the road was in shadow, and the road seen there
    was taken for something standing on hidden ground (docs/bev.md, session 37)."""
    n = xyz.shape[0]
    ng = h.shape[0]
    # each cell's lowest return standing over its ground: does the object there stand on it?
    bottom = np.full(ng * ng, np.inf)
    for i in range(n):
        c = cell_of[i]
        if c < 0:
            continue
        z = np.float64(xyz[i, 2])
        if z - h[c // ng, c % ng] > margin_m:
            bottom[c] = min(bottom[c], z)
    # the objects' shadow line: per azimuth bin and range bin of one cell, the highest elevation
    # tangent of the returns standing over their ground, then its running maximum outwards (a
    # polar grid: O(points + bins), where sorting the returns by azimuth and range cost 10 ms a sweep);
    # objects with air under them kept apart, as the band [lowest, highest] of their tangents
    nr = int(range_max_m / cell_m) + 1
    shadow = np.full((AZ_BINS, nr), -np.inf)
    band_lo = np.full((AZ_BINS, nr), np.inf)
    band_hi = np.full((AZ_BINS, nr), -np.inf)
    for i in range(n):
        c = cell_of[i]
        if c < 0:
            continue
        z = np.float64(xyz[i, 2])
        g = h[c // ng, c % ng]
        if z - g <= margin_m:
            continue  # ground returns cast no shadow on the ground
        x, y = np.float64(xyz[i, 0]), np.float64(xyz[i, 1])
        r = np.sqrt(x * x + y * y)
        b = az_bin(x, y)
        rb = min(int(r / cell_m), nr - 1)
        t = (z - sensor_z_m) / max(r, 1e-3)
        if bottom[c] - g > margin_m + beam_gap_per_m * r:  # air under it: a band
            band_lo[b, rb] = min(band_lo[b, rb], (bottom[c] - sensor_z_m) / max(r, 1e-3))
            band_hi[b, rb] = max(band_hi[b, rb], t)
        else:
            shadow[b, rb] = max(shadow[b, rb], t)
    for b in range(AZ_BINS):
        for rb in range(1, nr):
            shadow[b, rb] = max(shadow[b, rb], shadow[b, rb - 1])
            # the bands merged outwards into one (conservative: the gaps between them count as hidden)
            band_lo[b, rb] = min(band_lo[b, rb], band_lo[b, rb - 1])
            band_hi[b, rb] = max(band_hi[b, rb], band_hi[b, rb - 1])
    # the shadow line's height at each cell (the objects nearer by a cell or more); the bins either
    # side too: near the axes a bin is narrower than a column spacing and may hold no return. A band
    # counts where its lowest edge comes down to the cell's ground (within the margin and a beam gap)
    line = np.full((ng, ng), -np.inf)
    for ix in range(ng):
        for iy in range(ng):
            if not np.isfinite(h[ix, iy]):
                continue
            xc, yc, rc = _cell_centre(ix, iy, cell_m, range_max_m)
            j = min(int((rc - cell_m) / cell_m) - 1, nr - 1)
            if j >= 0:
                b = az_bin(xc, yc)
                t = -np.inf
                for bb in ((b - 1) % AZ_BINS, b, (b + 1) % AZ_BINS):
                    t = max(t, shadow[bb, j])
                    if sensor_z_m + band_lo[bb, j] * rc <= h[ix, iy] + margin_m + beam_gap_per_m * rc:
                        t = max(t, band_hi[bb, j])
                if np.isfinite(t):
                    line[ix, iy] = sensor_z_m + t * rc
    return line


@njit(cache=True)
def _hidden_ground(
    h: np.ndarray,
    line: np.ndarray,
    fixed: np.ndarray,
    hz: np.ndarray,
    cell_m: float,
    hidden_slope: float,
    margin_m: float,
) -> None:
    """Write into ``hz`` (NaN elsewhere) the ground continuation of the cells where the ground is
    hidden; ``h`` is the slope-limited envelope of the cells' lowest returns, ``fixed`` the cells
    whose ground is seen (:func:`_seen_cells`).

    Behind a queue of cars or two rows of parked cars in, a cell's lowest returns are car bodies;
    the envelope of ``max_slope`` from visible ground metres away may then sit 0.8-1.5 m up (issue
    13: parking lots, a truck's rear 76 m away over two cars), and what stands there looks too low
    to be what it is.

    The shadow line at a cell is the lowest height the sensor sees there past the objects nearer
    along its azimuth (returns standing more than ``margin_m`` over their ground). A cell's ground
    is *seen* where its lowest returns are ground (within ``margin_m`` of its envelope) and that
    line passes more than ``margin_m`` plus a beam gap (``beam_gap_per_m`` x range: the next beam
    up may be that far over the line) under them. Cells with no return, or with a body's, are not
    seen.

    The continuation at a cell not seen is the ground of the nearest cell seen (``fixed``: the caller
    leaves out the cells that hold a face, :func:`_stack_feet`), raised by
    ``hidden_slope`` x the distance: the highest a road climbing at that grade from there could
    stand. It is not the lowest continuation from anywhere: on a visible grade, the road before
    the shadow, or one low return metres away, would pull that metres down. A cell not seen whose
    envelope stands more than ``margin_m`` over its continuation, and whose shadow line passes over
    it, is hidden: the continuation is written there. The continuation bounds the road from above,
    so a line over it is over the road, however little (a margin there too left far cells, where
    the continuation has risen tens of centimetres, unhidden: session 44). Where the road climbs
    behind the objects more steeply than ``hidden_slope`` and only the road before them is seen,
    the continuation lies under it."""
    ng = h.shape[0]
    g = np.where(fixed, h, np.inf)
    dist = np.where(fixed, 0.0, np.inf)
    _nearest(dist, g, fixed, cell_m)
    for ix in range(ng):
        for iy in range(ng):
            if fixed[ix, iy] or not np.isfinite(dist[ix, iy]):
                continue
            gc = g[ix, iy] + hidden_slope * dist[ix, iy]
            if h[ix, iy] > gc + margin_m and line[ix, iy] > gc:
                hz[ix, iy] = gc


@njit(cache=True)
def _nearest(dist: np.ndarray, value: np.ndarray, fixed: np.ndarray, cell_m: float) -> None:
    """In place, for the cells not ``fixed``: ``dist`` to the nearest fixed cell (two-pass chamfer,
    8-neighbour metric) and ``value`` of that cell."""
    ng = dist.shape[0]
    a, b = cell_m, cell_m * np.sqrt(2.0)
    for sweep in range(2):
        rng_i = range(ng) if sweep == 0 else range(ng - 1, -1, -1)
        sgn = -1 if sweep == 0 else 1
        for i in rng_i:
            for jj in range(ng):
                j = jj if sweep == 0 else ng - 1 - jj
                if fixed[i, j]:
                    continue
                for di, dj, step in ((sgn, 0, a), (sgn, -1, b), (sgn, 1, b), (0, sgn, a)):
                    p, q = i + di, j + dj
                    if 0 <= p < ng and 0 <= q < ng and dist[p, q] + step < dist[i, j]:
                        dist[i, j] = dist[p, q] + step
                        value[i, j] = value[p, q]


@njit(cache=True)
def _chamfer(h: np.ndarray, a: float) -> None:
    """In place: ``h[i] = min_j(h[j] + slope * dist(i, j))``, ``a`` = slope x cell (two-pass
    chamfer, 8-neighbour metric)."""
    ng = h.shape[0]
    b = a * np.sqrt(2.0)
    for i in range(ng):
        for j in range(ng):
            v = h[i, j]
            if i > 0:
                v = min(v, h[i - 1, j] + a)
                if j > 0:
                    v = min(v, h[i - 1, j - 1] + b)
                if j < ng - 1:
                    v = min(v, h[i - 1, j + 1] + b)
            if j > 0:
                v = min(v, h[i, j - 1] + a)
            h[i, j] = v
    for i in range(ng - 1, -1, -1):
        for j in range(ng - 1, -1, -1):
            v = h[i, j]
            if i < ng - 1:
                v = min(v, h[i + 1, j] + a)
                if j < ng - 1:
                    v = min(v, h[i + 1, j + 1] + b)
                if j > 0:
                    v = min(v, h[i + 1, j - 1] + b)
            if j < ng - 1:
                v = min(v, h[i, j + 1] + a)
            h[i, j] = v


@njit(cache=True)
def select_above_ground(
    xyz: np.ndarray, ground_z: np.ndarray, z_min_m: float, z_max_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points with ``z_min_m < z - ground <= z_max_m``: (xyz, ground z, height above ground,
    the (N,) mask of the input points kept, for per-point attributes such as times).

    One fused pass instead of numpy's masks and fancy-index copies (three
    temporaries the size of the cloud); NaN ground (dropped points) fails both tests.
    """
    n = xyz.shape[0]
    keep = np.zeros(n, np.bool_)
    m = 0
    for i in range(n):
        h = xyz[i, 2] - ground_z[i]
        if h > z_min_m and h <= z_max_m:
            keep[i] = True
            m += 1
    out = np.empty((m, 3), np.float32)
    gz = np.empty(m, np.float32)
    hag = np.empty(m, np.float32)
    j = 0
    for i in range(n):
        if keep[i]:
            out[j, 0] = xyz[i, 0]
            out[j, 1] = xyz[i, 1]
            out[j, 2] = xyz[i, 2]
            gz[j] = ground_z[i]
            hag[j] = xyz[i, 2] - ground_z[i]
            j += 1
    return out, gz, hag, keep
