"""Actors as a few class-specific oriented boxes ("parts") inside their GT box.

A single box per actor would make every class look the same to the LiDAR and the
camera; a handful of parts (car body + cabin + axles, pedestrian legs/torso/head,
...) gives detectors shape cues while staying cheap to ray-cast. For every class
the union of its parts lies inside the GT box and touches all six faces, so the
ground-truth box (centre, size, yaw) remains the exact tight box of what sensors see.

Colours are BGR (OpenCV order): one distinct hue per class, with a small
per-actor variation derived from the actor id, so an actor keeps its colour
over time independently of any random generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.classes import ObjectClass
from .state import ActorStates

# Part extents as fractions of (length, width, height) in the actor frame
# (x forward, y left, z up, origin at the box centre, so the box is [-0.5, 0.5]^3),
# then a colour tone multiplier (windows/wheels darker) and a LiDAR reflectivity in [0, 1].
# Columns: xmin, xmax, ymin, ymax, zmin, zmax, tone, reflectivity
BODY_REFLECTIVITY = 0.45  # vehicle body paint
_BODY = (1.0, BODY_REFLECTIVITY)
_GLASS = (0.55, 0.25)
_WHEEL = (0.18, 0.06)
_TEMPLATES: dict[int, list[tuple[float, ...]]] = {
    ObjectClass.UNKNOWN: [(-0.5, 0.5, -0.5, 0.5, -0.5, 0.5, 1.0, 0.35)],
    ObjectClass.CAR: [
        (-0.5, 0.5, -0.5, 0.5, -0.37, 0.05, *_BODY),  # lower body above ground clearance
        (-0.32, 0.2, -0.42, 0.42, 0.05, 0.5, *_GLASS),  # narrower, shorter cabin
        (0.2, 0.36, -0.47, 0.47, -0.5, -0.25, *_WHEEL),  # front axle / wheels
        (-0.38, -0.22, -0.47, 0.47, -0.5, -0.25, *_WHEEL),  # rear axle / wheels
    ],
    ObjectClass.TRUCK: [
        (-0.5, 0.22, -0.5, 0.5, -0.36, 0.5, *_BODY),  # tall cargo box
        (0.25, 0.5, -0.47, 0.47, -0.38, 0.12, 0.8, 0.45),  # lower cab
        (-0.42, -0.2, -0.47, 0.47, -0.5, -0.3, *_WHEEL),  # rear axles
        (0.3, 0.42, -0.47, 0.47, -0.5, -0.3, *_WHEEL),  # front axle
    ],
    ObjectClass.BUS: [(-0.5, 0.5, -0.5, 0.5, -0.5, 0.5, *_BODY)],
    ObjectClass.TRAILER: [
        (-0.5, 0.5, -0.5, 0.5, -0.3, 0.5, *_BODY),
        (-0.42, -0.15, -0.47, 0.47, -0.5, -0.25, *_WHEEL),
        (0.3, 0.38, -0.3, 0.3, -0.5, -0.28, *_WHEEL),  # landing gear
    ],
    ObjectClass.MOTORCYCLE: [
        (-0.5, 0.5, -0.2, 0.2, -0.5, 0.0, 0.9, 0.4),  # bike
        (-0.25, 0.1, -0.5, 0.5, 0.0, 0.32, 0.7, 0.3),  # rider torso
        (-0.18, 0.04, -0.22, 0.22, 0.32, 0.5, 0.5, 0.3),  # helmet
    ],
    ObjectClass.BICYCLE: [
        (-0.5, 0.5, -0.08, 0.08, -0.5, -0.05, 0.9, 0.3),  # thin frame + wheels
        (-0.25, 0.1, -0.5, 0.5, -0.05, 0.36, 0.8, 0.25),  # rider torso
        (-0.14, 0.06, -0.2, 0.2, 0.36, 0.5, 0.7, 0.25),  # head
    ],
    ObjectClass.PEDESTRIAN: [
        (-0.5, 0.5, -0.28, 0.28, -0.5, -0.04, 0.55, 0.25),  # legs (stride spans the length)
        (-0.3, 0.3, -0.5, 0.5, -0.04, 0.34, 1.0, 0.25),  # torso (shoulders span the width)
        (-0.18, 0.18, -0.18, 0.18, 0.34, 0.5, 0.85, 0.2),  # head
    ],
}

# Base colour per class (BGR); indexes by ObjectClass value.
CLASS_COLOR_BGR = np.array(
    [
        (140, 140, 140),  # UNKNOWN grey
        (45, 45, 200),  # CAR red
        (30, 130, 240),  # TRUCK orange
        (30, 210, 230),  # BUS yellow
        (180, 60, 120),  # TRAILER purple
        (200, 190, 40),  # MOTORCYCLE cyan
        (60, 190, 50),  # BICYCLE green
        (200, 60, 200),  # PEDESTRIAN magenta
    ],
    dtype=np.float64,
)


# Articulated walker (static worlds): two legs and two arms that swing in opposite phase along x.
# Columns as above plus a swing amplitude (fraction of the length; sign = phase). At full swing a
# leg reaches the box's front or back face, so the parts stay inside the GT box.
_WALKER: list[tuple[float, ...]] = [
    (-0.15, 0.15, 0.02, 0.28, -0.5, -0.04, 0.55, 0.25, 0.35),  # left leg
    (-0.15, 0.15, -0.28, -0.02, -0.5, -0.04, 0.55, 0.25, -0.35),  # right leg
    (-0.3, 0.3, -0.36, 0.36, -0.04, 0.34, 1.0, 0.25, 0.0),  # torso
    (-0.1, 0.1, 0.37, 0.5, -0.02, 0.3, 0.9, 0.25, -0.25),  # left arm (against the left leg)
    (-0.1, 0.1, -0.5, -0.37, -0.02, 0.3, 0.9, 0.25, 0.25),  # right arm
    (-0.18, 0.18, -0.18, 0.18, 0.34, 0.5, 0.85, 0.2, 0.0),  # head
]
# Articulated cyclist: two wheels (thin discs as slabs), frame, pedalling legs, torso, head.
_RIDER: list[tuple[float, ...]] = [
    (-0.5, -0.12, -0.04, 0.04, -0.5, -0.1, 0.3, 0.2, 0.0),  # rear wheel
    (0.12, 0.5, -0.04, 0.04, -0.5, -0.1, 0.3, 0.2, 0.0),  # front wheel
    (-0.3, 0.3, -0.05, 0.05, -0.25, -0.05, 0.9, 0.3, 0.0),  # frame
    (-0.1, 0.1, 0.06, 0.22, -0.35, 0.02, 0.55, 0.25, 0.1),  # left leg (pedalling)
    (-0.1, 0.1, -0.22, -0.06, -0.35, 0.02, 0.55, 0.25, -0.1),  # right leg
    (-0.22, 0.08, -0.5, 0.5, 0.02, 0.36, 0.8, 0.25, 0.0),  # torso (shoulders span the width)
    (-0.14, 0.06, -0.2, 0.2, 0.36, 0.5, 0.7, 0.25, 0.0),  # head
]
# City bus (static worlds): 0.3 m ground clearance between two axles (wheels 1 m across, the
# front axle 2.6 m behind the front, the rear one 3.4 m ahead of the rear: a 12 m low-floor bus),
# a window band set 1.5 cm in from the sides, and the roof; fractions of a 12 x 2.55 x 3.2 m box.
_BUS: list[tuple[float, ...]] = [
    (-0.5, 0.5, -0.5, 0.5, -0.406, 0.02, *_BODY),  # lower body above the clearance
    (-0.49, 0.49, -0.494, 0.494, 0.02, 0.4, *_GLASS),  # window band
    (-0.5, 0.5, -0.5, 0.5, 0.4, 0.5, *_BODY),  # roof
    (0.242, 0.325, -0.47, 0.47, -0.5, -0.19, *_WHEEL),  # front axle
    (-0.258, -0.175, -0.47, 0.47, -0.5, -0.19, *_WHEEL),  # rear axle
]
WALKER_ROW = len(ObjectClass)  # template index of the articulated walker
RIDER_ROW = len(ObjectClass) + 1  # and of the articulated cyclist
BUS_ROW = len(ObjectClass) + 2  # and of the static worlds' bus
GAIT_HZ = 0.9  # stride frequency of a walker at ~1.3 m/s (two steps per cycle)
GAIT_FULL_MPS = 1.2  # at and above this speed the limbs swing fully


def _build_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_cls = len(ObjectClass)
    rows, start, count = [], np.zeros(n_cls + 3, np.int64), np.zeros(n_cls + 3, np.int64)
    extra = {WALKER_ROW: _WALKER, RIDER_ROW: _RIDER, BUS_ROW: _BUS}
    for c in range(n_cls + 3):
        tmpl = extra[c] if c in extra else _TEMPLATES.get(c, _TEMPLATES[ObjectClass.UNKNOWN])
        start[c], count[c] = len(rows), len(tmpl)
        rows.extend(tuple(r) + (0.0,) * (9 - len(r)) for r in tmpl)
    t = np.array(rows, dtype=np.float64)
    table = np.empty((t.shape[0], 9))
    table[:, 0:3] = 0.5 * (t[:, [0, 2, 4]] + t[:, [1, 3, 5]])  # centre fraction
    table[:, 3:6] = 0.5 * (t[:, [1, 3, 5]] - t[:, [0, 2, 4]])  # half-size fraction
    table[:, 6:9] = t[:, 6:9]
    return table, start, count


_TABLE, _START, _COUNT = _build_table()


@dataclass
class Parts:
    """Oriented boxes in the world frame (structure-of-arrays, P parts)."""

    centers: np.ndarray  # (P, 3) float64 m
    half_sizes: np.ndarray  # (P, 3) float64 m
    yaw: np.ndarray  # (P,) float64 rad
    actor_index: np.ndarray  # (P,) int64 row in the ActorStates they came from
    color_bgr: np.ndarray  # (P, 3) uint8
    reflectivity: np.ndarray  # (P,) float32 in [0, 1], for LiDAR intensity

    def __len__(self) -> int:
        return int(self.centers.shape[0])


@dataclass
class PartLayout:
    """Actor-relative parts; constant while an actor set's ids, labels and sizes are.

    Splitting layout from placement lets the LiDAR place the same parts at many
    instants (one per azimuth sector) with one vectorised call.
    """

    actor_index: np.ndarray  # (P,) int64
    local: np.ndarray  # (P, 3) part centre in the actor frame, m
    half_sizes: np.ndarray  # (P, 3) m
    color_bgr: np.ndarray  # (P, 3) uint8
    reflectivity: np.ndarray  # (P,) float32
    swing: np.ndarray | None = None  # (P,) m of fore-aft limb swing at full gait (articulated walkers)


# Instance colours (BGR) independent of class, for worlds where colour must not give the class
# away: common car paints, which are also common clothing colours.
INSTANCE_PALETTE_BGR = np.array(
    [
        (235, 235, 235),  # white
        (35, 35, 35),  # black
        (178, 180, 176),  # silver
        (110, 110, 112),  # grey
        (100, 45, 20),  # dark blue
        (40, 40, 170),  # red
        (170, 95, 40),  # blue
        (60, 105, 55),  # green
        (150, 180, 205),  # beige
        (40, 70, 110),  # brown
        (30, 120, 225),  # orange
        (40, 195, 225),  # yellow
        (115, 50, 105),  # purple
    ],
    dtype=np.float64,
)


def gait(ids: np.ndarray, velocity: np.ndarray, t_s: float | np.ndarray) -> np.ndarray:
    """(..., N) limb swing in [-1, 1] at times ``t_s``: a per-actor phase, scaled down when slow."""
    offset = 0.5 * (_id_variation(np.asarray(ids).reshape(-1))[:, 0] + 1.0)
    ph = 2.0 * np.pi * (GAIT_HZ * np.asarray(t_s, np.float64)[..., None] + offset)
    speed = np.hypot(velocity[..., 0], velocity[..., 1])
    return np.sin(ph) * np.clip(speed / GAIT_FULL_MPS, 0.0, 1.0)


def _id_variation(ids: np.ndarray) -> np.ndarray:
    """Deterministic (N, 2) values in [-1, 1) from actor ids (splitmix64)."""
    x = ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    out = np.empty((ids.shape[0], 2))
    for k in range(2):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        out[:, k] = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53) * 2.0 - 1.0
    return out


def part_layout(
    ids: np.ndarray,
    labels: np.ndarray,
    sizes: np.ndarray,
    instance_colors: bool = False,
    articulated: bool = False,
) -> PartLayout:
    """Class templates scaled to each actor's size (vectorised, no per-actor Python).

    ``instance_colors``: each actor's base colour comes from ``INSTANCE_PALETTE_BGR`` by its id
    instead of its class (the static world's cameras, where colour must not tell the class);
    ``articulated``: pedestrians get swinging legs and arms, cyclists wheels and pedalling legs
    (``PartLayout.swing``, see ``gait``), buses ground clearance, wheels and windows (static worlds).
    """
    labels = np.asarray(labels, np.int64).reshape(-1)
    n = labels.shape[0]
    cls = np.where((labels >= 0) & (labels < len(ObjectClass)), labels, int(ObjectClass.UNKNOWN))
    row_cls = cls
    if articulated:
        row_cls = np.where(cls == int(ObjectClass.PEDESTRIAN), WALKER_ROW, cls)
        row_cls = np.where(cls == int(ObjectClass.BICYCLE), RIDER_ROW, row_cls)
        row_cls = np.where(cls == int(ObjectClass.BUS), BUS_ROW, row_cls)
    counts = _COUNT[row_cls]
    actor_index = np.repeat(np.arange(n, dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    rows = _START[row_cls][actor_index] + (np.arange(actor_index.shape[0]) - first[actor_index])
    t = _TABLE[rows]
    size = np.asarray(sizes, np.float64).reshape(-1, 3)[actor_index]
    var = _id_variation(np.asarray(ids).reshape(-1))[actor_index]
    base = CLASS_COLOR_BGR[cls][actor_index]
    if instance_colors:
        pick = (0.5 * (var[:, 0] + 1.0) * 7919.0).astype(np.int64) % len(INSTANCE_PALETTE_BGR)
        base = INSTANCE_PALETTE_BGR[pick]
    # +-15 % brightness per actor plus a slight tint, keeping each class's hue
    col = base * (t[:, 6:7] * (1.0 + 0.15 * var[:, 0:1])) + 8.0 * var[:, 1:2] * np.array([1.0, -0.5, -0.5])
    return PartLayout(
        actor_index=actor_index,
        local=t[:, 0:3] * size,
        half_sizes=t[:, 3:6] * size,
        color_bgr=np.clip(np.rint(col), 0, 255).astype(np.uint8),
        reflectivity=t[:, 7].astype(np.float32),
        swing=t[:, 8] * size[:, 0] if articulated else None,
    )


def place_parts(
    layout: PartLayout, centers: np.ndarray, yaw: np.ndarray, gait_swing: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """World part centres (..., P, 3) and yaws (..., P) for actor poses (..., N, 3) / (..., N).

    ``gait_swing`` (..., N) in [-1, 1] (``gait``) moves articulated limbs fore and aft.
    """
    ai = layout.actor_index
    c0 = np.asarray(centers, np.float64)[..., ai, :]
    y = np.asarray(yaw, np.float64)[..., ai]
    c, s = np.cos(y), np.sin(y)
    lx, ly, lz = layout.local[:, 0], layout.local[:, 1], layout.local[:, 2]
    if layout.swing is not None and gait_swing is not None:
        lx = lx + layout.swing * np.asarray(gait_swing, np.float64)[..., ai]
    out = np.empty(c0.shape)
    out[..., 0] = c0[..., 0] + c * lx - s * ly
    out[..., 1] = c0[..., 1] + s * lx + c * ly
    out[..., 2] = c0[..., 2] + lz
    return out, y


def actor_parts(actors: ActorStates, instance_colors: bool = False, t_s: float | None = None) -> Parts:
    """Expand N actors into their class-specific parts in the world frame.

    ``t_s`` (scenario seconds) given: pedestrians are articulated walkers in that gait phase.
    """
    lay = part_layout(actors.ids, actors.labels, actors.sizes, instance_colors, articulated=t_s is not None)
    g = None if t_s is None else gait(actors.ids, np.asarray(actors.velocity).reshape(-1, 3), t_s)
    centers, yaw = place_parts(
        lay, np.asarray(actors.centers, np.float64).reshape(-1, 3), np.asarray(actors.yaw).reshape(-1), g
    )
    return Parts(centers, lay.half_sizes, yaw, lay.actor_index, lay.color_bgr, lay.reflectivity)
