"""Wind in the static world's foliage: leaves that move by centimetres (ROS-free).

Why: hedges and tree crowns are never still. From sweep to sweep a LiDAR's returns from foliage
move by centimetres, and a radar sees foliage with a Doppler spread of a few tenths of a metre per
second in a breeze (windblown-vegetation clutter: Billingsley, *Low-Angle Radar Land Clutter*,
2002, ch. 3, where the spectrum widens with wind speed). Frozen vegetation lets a detector call
every return with zero ground-relative Doppler static and a map of the static world rely on
exact repeats.

The model (one per world, drawn from the world's ``wind`` stream: a mean wind speed ``U``
uniform in ``world.static.wind_mps`` and a direction):

* *sway*: foliage at height ``z`` moves along the wind by ``A min(z / SWAY_FULL_HEIGHT_M, 1)
  sin(2 pi f t - k . p)``, with ``A = SWAY_COEFF U^2`` (the drag grows as ``U^2``: 5 cm at 5 m/s,
  13 cm at 8 m/s), ``f = SWAY_HZ`` (crowns and hedges sway at 0.3-1 Hz) and a gust front that
  travels with the wind (``k = 2 pi f / U`` along it), so neighbouring bushes move together;
* *flutter*: every leaf (a ``LEAF_CELL_M`` cell of space) on top of that, along a direction of
  its own, by ``FLUTTER_COEFF U`` (3 cm at 8 m/s) at 2-4 Hz, its phase a hash of the cell: the
  same leaf moves the same way in every sensor and every run, with no random draw.

The LiDAR takes the motion along each ray (the range to the leaf changes; which leaf a ray hits
is not re-cast). The radar's foliage returns get the radial part of the sway's velocity (a
resolution cell averages many leaves, so their flutter mostly cancels) plus
``FLUTTER_DOPPLER_COEFF U`` of residual spread, 1 sigma. The camera does not see it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SWAY_COEFF = 0.002  # s^2/m: sway amplitude per U^2 at full height
SWAY_HZ = 0.5
SWAY_FULL_HEIGHT_M = 3.0  # foliage this high and above sways fully; lower, in proportion
FLUTTER_COEFF = 0.004  # s: leaf flutter amplitude per m/s of wind
FLUTTER_HZ = (2.0, 4.0)
LEAF_CELL_M = 0.1
FLUTTER_DOPPLER_COEFF = 0.01  # s: residual Doppler spread of a foliage return per m/s of wind


@dataclass(frozen=True)
class Wind:
    """A world's wind: mean speed (m/s) and the unit direction it blows towards (ENU, 2-D)."""

    speed_mps: float
    direction: tuple[float, float] = (1.0, 0.0)

    @classmethod
    def draw(cls, speed_range: tuple[float, float], rng: np.random.Generator) -> Wind:
        lo, hi = float(speed_range[0]), float(speed_range[1])
        u = float(rng.uniform(lo, hi)) if hi > lo else lo
        a = float(rng.uniform(-math.pi, math.pi))
        return cls(u, (math.cos(a), math.sin(a)))

    @property
    def calm(self) -> bool:
        return self.speed_mps <= 0.0

    def _sway(self, points: np.ndarray, t_s: np.ndarray | float):
        """(points (M, 3), times (M,), amplitude at each point, phase, unit direction (3,)) of the
        sway; None when calm or empty."""
        p = np.asarray(points, np.float64).reshape(-1, 3)
        if self.calm or not len(p):
            return None
        t = np.broadcast_to(np.asarray(t_s, np.float64), (len(p),))
        w = np.array([self.direction[0], self.direction[1], 0.0])
        amp = SWAY_COEFF * self.speed_mps**2 * np.clip(p[:, 2] / SWAY_FULL_HEIGHT_M, 0.0, 1.0)
        k = 2.0 * math.pi * SWAY_HZ / max(self.speed_mps, 1e-6)
        return p, t, amp, 2.0 * math.pi * SWAY_HZ * t - k * (p @ w), w

    def displacement(self, points: np.ndarray, t_s: np.ndarray | float) -> np.ndarray:
        """(M, 3) displacement (m) of the foliage at ``points`` (M, 3) world at times ``t_s`` (s)."""
        sw = self._sway(points, t_s)
        if sw is None:
            return np.zeros((np.asarray(points).reshape(-1, 3).shape[0], 3))
        p, t, amp, phase, w = sw
        out = (amp * np.sin(phase))[:, None] * w[None]
        f, ph, d = _leaf(p)
        out += (FLUTTER_COEFF * self.speed_mps * np.sin(2.0 * math.pi * f * t + ph))[:, None] * d
        return out

    def sway_velocity(self, points: np.ndarray, t_s: np.ndarray | float) -> np.ndarray:
        """(M, 3) velocity (m/s) of the sway alone at ``points`` and ``t_s`` (what a radar cell sees)."""
        sw = self._sway(points, t_s)
        if sw is None:
            return np.zeros((np.asarray(points).reshape(-1, 3).shape[0], 3))
        _p, _t, amp, phase, w = sw
        return (amp * 2.0 * math.pi * SWAY_HZ * np.cos(phase))[:, None] * w[None]

    def doppler_spread_mps(self) -> float:
        """1-sigma residual Doppler spread of one foliage radar return (m/s)."""
        return FLUTTER_DOPPLER_COEFF * self.speed_mps


def _leaf(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: its leaf's flutter frequency (Hz), phase (rad) and unit direction (M, 3), from a
    hash of the ``LEAF_CELL_M`` cell it lies in (deterministic, no random stream)."""
    q = np.floor(p / LEAF_CELL_M).astype(np.int64)
    h = (q[:, 0] * 73856093) ^ (q[:, 1] * 19349663) ^ (q[:, 2] * 83492791)
    h = (h * 2654435761) & 0xFFFFFFFF
    u1 = (h & 0xFFFF) / 65536.0
    u2 = ((h >> 16) & 0xFFFF) / 65536.0
    g = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    u3 = (g & 0xFFFF) / 65536.0
    u4 = ((g >> 16) & 0xFFFF) / 65536.0
    f = FLUTTER_HZ[0] + (FLUTTER_HZ[1] - FLUTTER_HZ[0]) * u1
    az, cz = 2.0 * math.pi * u2, 2.0 * u3 - 1.0
    sz = np.sqrt(1.0 - cz * cz)
    d = np.column_stack([sz * np.cos(az), sz * np.sin(az), cz])
    return f, 2.0 * math.pi * u4, d
