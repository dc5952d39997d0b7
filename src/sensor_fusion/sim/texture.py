"""Procedural camera textures and the hash they are made of (numba, used by ``camera._shade``).

A texture is a relative brightness change at a surface point, from hashed cells fixed to the
surface (the world for static scenery, the part's own frame for actors), so it never swims from
frame to frame and needs no image files. Each fades out where its cell spans less than about a
pixel, so distant surfaces do not sparkle (the renderer samples one ray per pixel).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# kinds (the per-material table: static/materials.py TEXTURE)
TEX_NONE, TEX_ACTOR, TEX_NOISE, TEX_BRICK, TEX_LEAVES, TEX_PANES = 0, 1, 2, 3, 4, 5
# actors' paint in static worlds: panels, dirt and reflections as +-6 % brightness in 0.3 m cells
ACTOR_TEXTURE = (float(TEX_ACTOR), 0.3, 0.06)
BRICK_LENGTH_M = 0.24  # with 0.075 m courses (the cell): a common European brick face
MORTAR_FRACTION = (0.15, 0.05)  # of a course's height and of a brick's length


@njit(cache=True)
def mix64(x: np.uint64) -> np.uint64:
    """splitmix64 finaliser: deterministic 64 random bits from a counter."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True)
def hash3(i: np.int64, j: np.int64, k: np.int64) -> float:
    """Uniform [0, 1) from three integer cell coordinates."""
    h = mix64(np.uint64(i * 73856093) ^ np.uint64(j * 19349663) ^ np.uint64(k * 83492791))
    return float(h & np.uint64(0xFFFF)) / 65536.0


@njit(cache=True)
def _fade(cell: float, px_m: float) -> float:
    """1 where a cell spans 3 pixels or more, 0 at a pixel and below."""
    return min(1.0, max(0.0, (cell / px_m - 1.0) * 0.5))


@njit(cache=True)
def texture(kind: int, cell: float, amp: float, x: float, y: float, z: float, px_m: float) -> float:
    """Relative brightness change of a surface of texture ``kind`` at (x, y, z) m in its texture
    frame; ``cell`` m, amplitude ``amp``; ``px_m`` metres per pixel at that distance."""
    fade = _fade(cell, px_m)
    if kind == TEX_NONE or amp == 0.0 or fade == 0.0:
        return 0.0
    if kind == TEX_BRICK:  # courses of height ``cell``, half bond, lighter mortar
        fz = z / cell
        course = np.int64(np.floor(fz))
        fu = (x + y) / BRICK_LENGTH_M + 0.5 * (course & 1)  # along a wall of any heading
        brick = np.int64(np.floor(fu))
        if fz - course < MORTAR_FRACTION[0] or fu - brick < MORTAR_FRACTION[1]:
            return 0.6 * amp * fade
        return (hash3(brick, course, 7) - 0.5) * 2.0 * amp * fade
    ix, iy, iz = np.int64(np.floor(x / cell)), np.int64(np.floor(y / cell)), np.int64(np.floor(z / cell))
    v = (hash3(ix, iy, iz) - 0.5) * 2.0 * amp
    if kind == TEX_NOISE:  # stains six cells wide on top of the grain (they stay where it fades)
        c6 = 6.0 * cell
        ix, iy, iz = np.int64(np.floor(x / c6)), np.int64(np.floor(y / c6)), np.int64(np.floor(z / c6))
        s6 = hash3(ix, iy, iz) - 0.5
        return v * fade + s6 * 2.0 * amp * _fade(c6, px_m)
    return v * fade  # TEX_ACTOR, TEX_LEAVES, TEX_PANES: one octave (their cells differ)
