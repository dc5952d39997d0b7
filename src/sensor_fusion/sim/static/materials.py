"""Materials of static triangles and classes of static elements.

Every triangle carries a ``Material``; every element (one building, one tree, one guard-rail run)
a ``StaticClass``. The material sets what the sensors see (LiDAR reflectivity, radar RCS per
scattering point, camera colour, whether a LiDAR return comes back at all); the class is what
evaluation asks about ("does this false detection lie on a wall, vegetation, a pole?").

Reflectivities are Lambertian fractions at 905 nm from published material surveys (concrete and
plaster 0.3-0.5, dark paint 0.05-0.1, foliage 0.4-0.6 in the near infrared, retro-reflective sign
sheeting well above 1 in the Lambertian-equivalent sense, clipped to 1 here). Radar RCS values are
typical 77 GHz figures per scattering centre: poles and guard-rail posts 5-10 dBsm, a flat wall
section seen near normal incidence 10-20 dBsm, foliage weak (-10 dBsm).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from ..texture import TEX_BRICK, TEX_LEAVES, TEX_NOISE, TEX_NONE, TEX_PANES


class StaticClass(IntEnum):
    """What a static element is (the element list's ``cls``)."""

    BUILDING = 0
    WALL = 1
    FENCE = 2
    VEGETATION = 3  # hedges and bushes
    TREE = 4
    POLE = 5
    SIGN = 6
    TRAFFIC_LIGHT = 7
    BOLLARD = 8
    GUARD_RAIL = 9
    BARRIER = 10
    OVERHEAD_SIGN = 11
    SIDEWALK = 12  # raised sidewalk slab with its curb (ground-like, not an obstacle)
    BICYCLE_STAND = 13  # parked bicycles in a stand
    PAVEMENT = 14  # paved parking strips and lots at road level (ground-like)


# classes that are ground-like (a detection over them is not "on static structure")
GROUND_LIKE = frozenset({StaticClass.SIDEWALK, StaticClass.PAVEMENT})
# classes whose meshes bend with a graded ground (long, thin, laid along it: terrain.drape); the
# others (buildings, poles, trees, signs, ...) stand rigidly on the lowest ground under them
BENDS_WITH_GROUND = frozenset(
    {StaticClass.WALL, StaticClass.FENCE, StaticClass.VEGETATION, StaticClass.GUARD_RAIL, StaticClass.BARRIER}
    | GROUND_LIKE
)


class Material(IntEnum):
    """What a triangle is made of (index into the tables below)."""

    CONCRETE = 0
    PLASTER = 1
    BRICK = 2
    GLASS = 3  # LiDAR: specular, no return; camera: dark reflective
    DOOR = 4
    METAL = 5  # poles, posts, gantries
    GUARD_RAIL = 6  # galvanised steel W-beam
    SIGN_FACE = 7  # retro-reflective sheeting
    FOLIAGE = 8
    BARK = 9
    CURB = 10  # curb stone and sidewalk paving
    LIGHT_HOUSING = 11
    FENCE_WIRE = 12
    BIKE = 13
    ASPHALT = 14  # parking strips and lots (as the road's asphalt)


#                         refl   RCS dBsm  B    G    R
_TABLE = {
    Material.CONCRETE: (0.35, 12.0, (150, 155, 160)),
    Material.PLASTER: (0.45, 10.0, (170, 190, 205)),
    Material.BRICK: (0.30, 10.0, (60, 80, 150)),
    Material.GLASS: (0.00, 5.0, (95, 80, 60)),
    Material.DOOR: (0.10, 8.0, (40, 50, 70)),
    Material.METAL: (0.25, 8.0, (110, 110, 105)),
    Material.GUARD_RAIL: (0.40, 10.0, (175, 180, 180)),
    Material.SIGN_FACE: (1.00, 10.0, (160, 110, 30)),
    Material.FOLIAGE: (0.50, -10.0, (50, 110, 60)),
    Material.BARK: (0.20, -5.0, (40, 60, 85)),
    Material.CURB: (0.30, -10.0, (140, 145, 150)),
    Material.LIGHT_HOUSING: (0.08, 5.0, (30, 35, 35)),
    Material.FENCE_WIRE: (0.30, 0.0, (120, 125, 120)),
    Material.BIKE: (0.20, 0.0, (70, 70, 75)),
    Material.ASPHALT: (0.08, -20.0, (74, 72, 70)),
}
N_MATERIALS = len(Material)
REFLECTIVITY = np.array([_TABLE[Material(i)][0] for i in range(N_MATERIALS)], np.float32)
RCS_DBSM = np.array([_TABLE[Material(i)][1] for i in range(N_MATERIALS)], np.float64)
COLOR_BGR = np.array([_TABLE[Material(i)][2] for i in range(N_MATERIALS)], np.float64)
# materials whose LiDAR return never comes back (specular reflection away from the sensor)
NO_LIDAR_RETURN = np.array([Material(i) == Material.GLASS for i in range(N_MATERIALS)], np.bool_)

# Camera texture per material: (kind, cell m, amplitude), evaluated at the hit point in the world
# (static scenery does not move; see ``sim/texture.py``). Kinds: 0 none, 2 two-octave noise
# (render, concrete, asphalt: fine grain plus 6x larger stains), 3 brick courses (0.24 x 0.075 m
# bricks, half-bond, lighter mortar), 4 leaves (fine, strong: a crown is light and shadow), 5 panes
# (glass reflects different sky per pane). Amplitudes are relative brightness, a few per cent for
# dull surfaces after the look of real façades; the renderer fades each texture where its cell
# falls below about a pixel, so far scenery does not sparkle.
_TEXTURE = {
    Material.CONCRETE: (TEX_NOISE, 0.12, 0.08),
    Material.PLASTER: (TEX_NOISE, 0.15, 0.06),
    Material.BRICK: (TEX_BRICK, 0.075, 0.12),
    Material.GLASS: (TEX_PANES, 1.2, 0.18),
    Material.DOOR: (TEX_NOISE, 0.2, 0.05),
    Material.METAL: (TEX_NOISE, 0.2, 0.05),
    Material.GUARD_RAIL: (TEX_NOISE, 0.3, 0.05),
    Material.SIGN_FACE: (TEX_NONE, 1.0, 0.0),
    Material.FOLIAGE: (TEX_LEAVES, 0.06, 0.30),
    Material.BARK: (TEX_NOISE, 0.05, 0.15),
    Material.CURB: (TEX_NOISE, 0.1, 0.06),
    Material.LIGHT_HOUSING: (TEX_NONE, 1.0, 0.0),
    Material.FENCE_WIRE: (TEX_NOISE, 0.1, 0.08),
    Material.BIKE: (TEX_NOISE, 0.1, 0.08),
    Material.ASPHALT: (TEX_NOISE, 0.25, 0.08),
}
TEXTURE = np.array([_TEXTURE[Material(i)] for i in range(N_MATERIALS)], np.float64)  # (M, 3)
