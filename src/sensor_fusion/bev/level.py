"""The road surface under a sweep, so the network's height slices start at the road, not at z = 0.

The LiDAR raster slices heights in base_link with the ground at z = 0 (``grid.BevGrid``), and every
network shipped so far was trained on flat roads. On a 6 % grade the road 40 m ahead is 2.4 m above
that plane or below it: uphill its returns fill the slices where bodies are and the network boxes
the road (development bag ``urban_clutter`` 713, graded, 10 s: 7 false tracks per frame against
0.4 on the same street flat); downhill the bodies sink under the lowest slice. Heights over a
surface fitted to the road bring the input back to what the network knows without retraining
(``bev.level_road``, opt-in: docs/bev.md, session 34).

:func:`road_surface` fits ``z = a + b x + c y + d x^2 + e x y + f y^2`` (x, y over 50 m) to the
lowest return of each 2 m cell within ``range_m``, dropping cells that stand more than
``_KEEP_M`` over the fit (bodies, walls seen above parked cars, the underside of a car) and
refitting. A quadratic holds a grade, a vertical curve and a crowned cross-section; its curvature
is pulled toward zero, which a street seen between façades constrains least. :func:`level` takes
off only the part of the fitted height beyond ``LEVEL_DEADBAND_M``, about the fit's own error:
where the road is that close to z = 0 the input stays what the network was trained on.
"""

from __future__ import annotations

import numba
import numpy as np

_CELL_M = 2.0
_SCALE_M = 50.0  # x, y are divided by this: coefficients of one magnitude
_MIN_RETURNS = 3  # a cell's lowest of fewer returns is noise more than road
_MIN_CELLS = 30  # fewer road cells than this: no fit (the plane z = 0, as trained)
_KEEP_M = (1.0, 0.5, 0.25)  # each refit keeps the cells this close over the last fit (and under)
_MAX_ABS_M = 6.0  # the correction is clipped: 6 % of 100 m
# curvature is what a street seen between façades constrains least (a 20 m wide strip of road
# fixes the cross terms badly: unregularised, the fit bent up to 2.7 m off the truth terrain behind
# the kerbs of a development bag): the quadratic terms are pulled toward zero, the plane is not
_CURVATURE_RIDGE = 0.1
_RIDGE = np.diag([0.0, 0.0, 0.0, _CURVATURE_RIDGE, _CURVATURE_RIDGE, _CURVATURE_RIDGE])
# the fit's error against the truth terrain at a sweep's returns: 0.07-0.16 m RMS on the graded
# development bags; less than this off z = 0 is left as it is
LEVEL_DEADBAND_M = 0.1


def road_surface(xyz: np.ndarray, range_m: float = 50.0) -> np.ndarray | None:
    """(6,) coefficients of the road's quadratic surface in base_link, or None where too little road
    is seen (the flat plane z = 0 then stands, as the network was trained)."""
    if xyz is None or len(xyz) == 0:
        return None
    n = int(np.ceil(2.0 * range_m / _CELL_M))
    low, count = _cell_lows(np.ascontiguousarray(xyz, np.float32), float(range_m), _CELL_M, n)
    ok = count >= _MIN_RETURNS
    if ok.sum() < _MIN_CELLS:
        return None
    k = np.flatnonzero(ok)
    cx = ((k // n) + 0.5) * _CELL_M - range_m
    cy = ((k % n) + 0.5) * _CELL_M - range_m
    A = _design(cx, cy)
    z = low[k]
    use = np.ones(len(k), bool)
    coef = np.zeros(6)
    for keep_m in _KEEP_M:
        n_use = int(use.sum())
        if n_use < _MIN_CELLS:
            return None
        Au = A[use]
        coef = np.linalg.solve(Au.T @ Au + n_use * _RIDGE, Au.T @ z[use])
        use = z - A @ coef <= keep_m
    return coef


def surface_height(
    coef: np.ndarray | None, x: np.ndarray, y: np.ndarray, deadband_m: float = 0.0
) -> np.ndarray:
    """The correction :func:`level` takes off at (x, y), base_link: the fitted road's height less
    ``deadband_m`` toward zero (0 without a fit), clipped to +-6 m."""
    x = np.asarray(x, np.float64)
    if coef is None:
        return np.zeros(x.shape)
    y = np.broadcast_to(np.asarray(y, np.float64), x.shape)
    g = _corrections(x.ravel(), y.ravel(), np.asarray(coef, np.float64), _SCALE_M, _MAX_ABS_M, deadband_m)
    return g.reshape(x.shape)


def level(xyz: np.ndarray, coef: np.ndarray | None, deadband_m: float = 0.0) -> np.ndarray:
    """``xyz`` with each return's height taken over the fitted road where that is more than
    ``deadband_m`` off z = 0 (by the excess; a float32 copy; the input as is without a fit). The
    network saw roads within its lowest slice of z = 0 (a body's pitch and roll, kerbs): there its
    input stays what it was trained on."""
    if coef is None or xyz is None or len(xyz) == 0:
        return xyz
    xyz = np.ascontiguousarray(xyz, np.float32)
    return _level(xyz, np.asarray(coef, np.float64), _SCALE_M, _MAX_ABS_M, float(deadband_m))


# numba: one pass over a sweep's 100-250k returns (np.minimum.at took 10 ms for 125k)
@numba.njit(cache=True, nogil=True)
def _cell_lows(xyz, range_m, cell_m, n):
    low = np.full(n * n, np.inf)
    count = np.zeros(n * n, np.int64)
    r2 = range_m * range_m
    for i in range(xyz.shape[0]):
        x, y, z = xyz[i, 0], xyz[i, 1], xyz[i, 2]
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)) or x * x + y * y >= r2:
            continue
        ix = min(max(int((x + range_m) / cell_m), 0), n - 1)
        iy = min(max(int((y + range_m) / cell_m), 0), n - 1)
        c = ix * n + iy
        count[c] += 1
        if z < low[c]:
            low[c] = z
    return low, count


@numba.njit(cache=True, nogil=True)
def _correction(x, y, coef, scale_m, max_abs_m, deadband_m):
    """The surface's height at (x, y), clipped to +-``max_abs_m``, less ``deadband_m`` toward 0
    (NaN where x or y is): the one evaluation :func:`level` and :func:`surface_height` share."""
    u, v = x / scale_m, y / scale_m
    g = coef[0] + coef[1] * u + coef[2] * v + coef[3] * u * u + coef[4] * u * v + coef[5] * v * v
    g = min(max(g, -max_abs_m), max_abs_m)
    if g > deadband_m:
        return g - deadband_m
    if g < -deadband_m:
        return g + deadband_m
    return g if g != g else 0.0  # NaN stays NaN


@numba.njit(cache=True, nogil=True)
def _corrections(x, y, coef, scale_m, max_abs_m, deadband_m):
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = _correction(x[i], y[i], coef, scale_m, max_abs_m, deadband_m)
    return out


@numba.njit(cache=True, nogil=True)
def _level(xyz, coef, scale_m, max_abs_m, deadband_m):
    out = xyz.copy()
    for i in range(xyz.shape[0]):
        g = _correction(np.float64(xyz[i, 0]), np.float64(xyz[i, 1]), coef, scale_m, max_abs_m, deadband_m)
        if g != 0.0 and g == g:  # no correction, or no place to take it at: the height as it was
            out[i, 2] = xyz[i, 2] - g
    return out


def _design(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    u, v = x / _SCALE_M, y / _SCALE_M
    return np.column_stack([np.ones_like(u), u, v, u * u, u * v, v * v])
