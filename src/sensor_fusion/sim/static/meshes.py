"""Triangle-mesh builders for static scenery, accumulated into one ``MeshBuilder``.

Frames: world x east, y north, z up; an element's local frame has x along its length (``yaw``),
y across it, z up, origin at its footprint centre on the ground. Closed solids (boxes, prisms) have
outward, counter-clockwise triangles; thin things (fence slats, sign faces, leaves) are single
quads or triangles, which a ray tracer hits from either side.

Porous volumes (hedges, tree crowns) are clouds of small randomly oriented triangles. For ``n``
triangles per m^3 of area ``a`` the mean free path is ``2 / (n a)`` (random orientation halves the
projected area), so ``density`` below is chosen per kind for a target transmittance: a hedge
0.8 m deep lets ~20 % of rays through, a crown 5 m across ~30 %, as LiDAR sees real foliage.
"""

from __future__ import annotations

import numpy as np

from .materials import Material, StaticClass

# unit box corners (x, y, z in {-0.5, 0.5}) and outward CCW faces
_BOX_V = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
_BOX_F = np.array(
    [
        [0, 1, 3], [0, 3, 2],  # x = -0.5
        [4, 6, 7], [4, 7, 5],  # x = +0.5
        [0, 4, 5], [0, 5, 1],  # y = -0.5
        [2, 3, 7], [2, 7, 6],  # y = +0.5
        [0, 2, 6], [0, 6, 4],  # z = -0.5
        [1, 5, 7], [1, 7, 3],  # z = +0.5
    ],
    dtype=np.int64,
)  # fmt: skip


def rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class MeshBuilder:
    """Vertices, triangles, per-triangle material and element, and the element list being built."""

    def __init__(self) -> None:
        self._v: list[np.ndarray] = []
        self._f: list[np.ndarray] = []
        self._m: list[np.ndarray] = []
        self._e: list[np.ndarray] = []
        self._nv = 0
        # element list: class, centre (x, y, z of the box centre), size (l, w, h), yaw
        self.cls: list[int] = []
        self.center: list[np.ndarray] = []
        self.size: list[np.ndarray] = []
        self.yaw: list[float] = []

    # -- elements -----------------------------------------------------------------------------
    def element(self, cls: StaticClass, center_xy, yaw: float, size, z0: float = 0.0) -> int:
        """Register an element with its oriented box (footprint centre ``center_xy``, base at ``z0``)."""
        size = np.asarray(size, np.float64)
        self.cls.append(int(cls))
        self.center.append(np.array([center_xy[0], center_xy[1], z0 + 0.5 * size[2]], np.float64))
        self.size.append(size)
        self.yaw.append(float(yaw))
        return len(self.cls) - 1

    def n_elements(self) -> int:
        return len(self.cls)

    # -- geometry -----------------------------------------------------------------------------
    def add(self, v: np.ndarray, f: np.ndarray, material: Material | np.ndarray, element: int) -> None:
        """Append world-frame vertices ``v`` (V, 3) and triangles ``f`` (T, 3) indexing them."""
        v = np.asarray(v, np.float64).reshape(-1, 3)
        f = np.asarray(f, np.int64).reshape(-1, 3)
        self._v.append(v)
        self._f.append(f + self._nv)
        self._m.append(np.broadcast_to(np.asarray(material, np.int32), (f.shape[0],)).copy())
        self._e.append(np.full(f.shape[0], element, np.int32))
        self._nv += v.shape[0]

    def box(self, element: int, material: Material, center, size, yaw: float) -> None:
        """A closed box: ``center`` (3,) its centre, ``size`` (l, w, h), rotated by ``yaw``."""
        v = (_BOX_V * np.asarray(size, np.float64)) @ rot_z(yaw).T + np.asarray(center, np.float64)
        self.add(v, _BOX_F, material, element)

    def boxes(
        self, element: int, material: Material, centers: np.ndarray, sizes: np.ndarray, yaw: float
    ) -> None:
        """Many boxes at one yaw (vectorised)."""
        c = np.asarray(centers, np.float64).reshape(-1, 3)
        s = np.broadcast_to(np.asarray(sizes, np.float64), c.shape)
        if not len(c):
            return
        v = (_BOX_V[None] * s[:, None]) @ rot_z(yaw).T + c[:, None]
        f = _BOX_F[None] + 8 * np.arange(len(c))[:, None, None]
        self.add(v.reshape(-1, 3), f.reshape(-1, 3), material, element)

    def quads(self, element: int, material: Material, corners: np.ndarray) -> None:
        """Quads (Q, 4, 3) with corners in order around the quad (two triangles each)."""
        q = np.asarray(corners, np.float64).reshape(-1, 4, 3)
        if not len(q):
            return
        f = np.array([[0, 1, 2], [0, 2, 3]])[None] + 4 * np.arange(len(q))[:, None, None]
        self.add(q.reshape(-1, 3), f.reshape(-1, 3), material, element)

    def scatter(
        self, element: int, material: Material, rng: np.random.Generator, n: int, center_fn, leaf: float
    ) -> None:
        """``n`` random triangles of edge ~``leaf`` (area ~0.433 leaf^2) at points ``center_fn(rng, n)``."""
        if n <= 0:
            return
        c = center_fn(rng, n)
        # two random unit vectors per triangle span its plane
        a = rng.standard_normal((n, 3))
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        b = np.cross(a, rng.standard_normal((n, 3)))
        b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-9)
        s = leaf / np.sqrt(3.0) * rng.uniform(0.6, 1.4, (n, 1))  # circumradius of an edge-``leaf`` triangle
        v = np.stack([c + s * a, c - 0.5 * s * a + 0.87 * s * b, c - 0.5 * s * a - 0.87 * s * b], 1)
        self.add(v.reshape(-1, 3), np.arange(3 * n).reshape(-1, 3), material, element)

    def prism(
        self, element: int, material: Material, xy, z0: float, z1: float, radius: float, sides: int = 8
    ) -> None:
        """A vertical closed prism (poles, trunks, bollards) with ``sides`` faces."""
        a = 2.0 * np.pi * np.arange(sides) / sides
        ring = np.column_stack([xy[0] + radius * np.cos(a), xy[1] + radius * np.sin(a)])
        v = np.vstack(
            [np.column_stack([ring, np.full(sides, z0)]), np.column_stack([ring, np.full(sides, z1)])]
        )
        v = np.vstack([v, [[xy[0], xy[1], z0], [xy[0], xy[1], z1]]])
        i = np.arange(sides)
        j = (i + 1) % sides
        side = np.concatenate(
            [np.column_stack([i, j, j + sides]), np.column_stack([i, j + sides, i + sides])]
        )
        caps = np.concatenate(
            [
                np.column_stack([np.full(sides, 2 * sides), j, i]),
                np.column_stack([np.full(sides, 2 * sides + 1), i + sides, j + sides]),
            ]
        )
        self.add(v, np.vstack([side, caps]), material, element)

    # -- result -------------------------------------------------------------------------------
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(vertices (V, 3) float32, triangles (T, 3) uint32, material (T,) int32, element (T,) int32)."""
        if not self._f:
            return (
                np.zeros((0, 3), np.float32),
                np.zeros((0, 3), np.uint32),
                np.zeros(0, np.int32),
                np.zeros(0, np.int32),
            )
        return (
            np.concatenate(self._v).astype(np.float32),
            np.concatenate(self._f).astype(np.uint32),
            np.concatenate(self._m),
            np.concatenate(self._e),
        )


# -- pieces of scenery ---------------------------------------------------------------------------
def building(
    mb: MeshBuilder,
    rng: np.random.Generator,
    xy,
    yaw: float,
    length: float,
    depth: float,
    height: float,
    facing: float,
) -> int:
    """A building block whose façade (towards local ``facing`` * y) has recessed glass windows and doors.

    The body is a closed box set back 0.3 m behind the façade plane; piers (between window columns)
    and spandrels (between floors) stand out to the façade plane, so windows are 0.3 m recesses
    whose glass pane (no LiDAR return) sits on the body. Ground-floor bays are doors (some glass).
    """
    e = mb.element(StaticClass.BUILDING, xy, yaw, (length, depth, height))
    R = rot_z(yaw)
    c = np.asarray(xy, np.float64)
    mat = [Material.PLASTER, Material.BRICK, Material.CONCRETE][int(rng.integers(3))]
    rec = 0.3
    # body: depth minus the recess, shifted away from the façade
    off = -facing * 0.5 * rec
    body_c = np.array([c[0], c[1], 0.0]) + R @ np.array([0.0, off, 0.5 * height])
    mb.box(e, mat, body_c, (length, depth - rec, height), yaw)
    floor_h = float(rng.uniform(3.0, 3.6))
    n_floors = max(1, int(height // floor_h))
    bay = float(rng.uniform(2.5, 4.0))
    n_bays = max(1, int(length // bay))
    bay = length / n_bays
    win_w = bay * float(rng.uniform(0.45, 0.7))
    y_face = facing * (0.5 * depth - 0.5 * rec)  # centre line of the façade layer
    # piers: n_bays + 1 vertical strips
    xs = -0.5 * length + bay * np.arange(n_bays + 1)
    pier_w = bay - win_w
    pc = np.column_stack([xs, np.full_like(xs, y_face), np.full_like(xs, 0.5 * height)])
    pc[0, 0] += 0.25 * pier_w
    pc[-1, 0] -= 0.25 * pier_w
    mb.boxes(e, mat, pc @ R.T + [c[0], c[1], 0.0], (0.5 * pier_w, rec, height), yaw)
    # spandrels: a strip at the base of every floor and the parapet
    win_h = floor_h * float(rng.uniform(0.45, 0.6))
    zs = floor_h * np.arange(n_floors)
    span_h = floor_h - win_h
    sc = np.column_stack(
        [np.zeros_like(zs), np.full_like(zs, y_face), zs + 0.5 * span_h + 0.5 * win_h * (zs > 0)]
    )
    sh = np.where(zs > 0, span_h, 0.5 * span_h)
    for k in range(n_floors):  # few floors: a loop over boxes of different heights
        mb.box(e, mat, R @ sc[k] + [c[0], c[1], 0.0], (length, rec, sh[k]), yaw)
    top = n_floors * floor_h
    if height > top:
        mb.box(
            e,
            mat,
            R @ [0.0, y_face, 0.5 * (top + height)] + [c[0], c[1], 0.0],
            (length, rec, height - top),
            yaw,
        )
    # window panes (and doors) on the body face, 2 cm proud of it
    yg = facing * (0.5 * depth - rec - 0.02)
    bx = -0.5 * length + bay * (np.arange(n_bays) + 0.5)
    quads, door_q = [], []
    for f in range(n_floors):
        z_lo = f * floor_h + (span_h if f > 0 else 0.5 * span_h)
        z_hi = (f + 1) * floor_h if f > 0 else floor_h
        z_hi = min(z_hi, z_lo + win_h) if f > 0 else z_hi
        for x in bx:
            q = np.array(
                [
                    [x - 0.5 * win_w, yg, z_lo],
                    [x + 0.5 * win_w, yg, z_lo],
                    [x + 0.5 * win_w, yg, z_hi],
                    [x - 0.5 * win_w, yg, z_hi],
                ]
            )
            if f == 0 and rng.random() < 0.35:
                door_q.append(q)
            else:
                quads.append(q)
    if quads:
        mb.quads(e, Material.GLASS, np.array(quads) @ R.T + [c[0], c[1], 0.0])
    if door_q:
        mb.quads(e, Material.DOOR, np.array(door_q) @ R.T + [c[0], c[1], 0.0])
    return e


def wall(
    mb: MeshBuilder,
    xy,
    yaw: float,
    length: float,
    thickness: float,
    height: float,
    cls=StaticClass.WALL,
    material=Material.CONCRETE,
) -> int:
    e = mb.element(cls, xy, yaw, (length, thickness, height))
    mb.box(e, material, (xy[0], xy[1], 0.5 * height), (length, thickness, height), yaw)
    return e


def fence(
    mb: MeshBuilder, xy, yaw: float, length: float, height: float = 1.6, slat: float = 0.06, gap: float = 0.1
) -> int:
    """Posts every 2.5 m, top and bottom rails, and vertical slats with gaps (rays pass the gaps)."""
    e = mb.element(StaticClass.FENCE, xy, yaw, (length, 0.1, height))
    R = rot_z(yaw)
    c = np.array([xy[0], xy[1], 0.0])
    n_posts = int(length // 2.5) + 1
    px = np.linspace(-0.5 * length, 0.5 * length, n_posts)
    mb.boxes(
        e,
        Material.METAL,
        np.column_stack([px, np.zeros(n_posts), np.full(n_posts, 0.5 * height)]) @ R.T + c,
        (0.08, 0.08, height),
        yaw,
    )
    for z in (0.15, height - 0.1):
        mb.box(e, Material.METAL, R @ [0.0, 0.0, z] + c, (length, 0.04, 0.06), yaw)
    xs = np.arange(-0.5 * length + 0.5 * gap, 0.5 * length, slat + gap)
    q = np.zeros((len(xs), 4, 3))
    q[:, 0] = np.column_stack([xs, np.zeros_like(xs), np.full_like(xs, 0.1)])
    q[:, 1] = q[:, 0] + [slat, 0.0, 0.0]
    q[:, 2] = q[:, 1] + [0.0, 0.0, height - 0.2]
    q[:, 3] = q[:, 0] + [0.0, 0.0, height - 0.2]
    mb.quads(e, Material.FENCE_WIRE, q @ R.T + c)
    return e


def hedge(
    mb: MeshBuilder, rng: np.random.Generator, xy, yaw: float, length: float, depth: float, height: float
) -> int:
    """A porous hedge: leaves scattered in its box (~20 % of rays through 0.8 m)."""
    e = mb.element(StaticClass.VEGETATION, xy, yaw, (length, depth, height))
    R = rot_z(yaw)
    c = np.array([xy[0], xy[1], 0.0])
    leaf = 0.2
    area = 0.433 * leaf**2
    density = 4.0 / area / max(depth, 0.3) * 0.8  # n a L / 2 = 1.6 through 0.8 m  -> T ~ 0.2
    n = int(density * length * depth * height)

    def pts(r, k):
        u = r.uniform(-0.5, 0.5, (k, 3)) * [length, depth, height] + [0.0, 0.0, 0.5 * height]
        return u @ R.T + c

    mb.scatter(e, Material.FOLIAGE, rng, n, pts, leaf)
    return e


def tree(
    mb: MeshBuilder, rng: np.random.Generator, xy, height: float, crown_r: float, trunk_r: float = 0.15
) -> int:
    """Trunk prism and a porous ellipsoidal crown of leaf clumps (~30 % of rays through its width)."""
    e = mb.element(StaticClass.TREE, xy, 0.0, (2 * crown_r, 2 * crown_r, height))
    # crowns start >= 4 m up (street trees are pruned to let trucks and buses pass under)
    crown_h = max(1.5, min(0.6 * height, 2.2 * crown_r, height - 4.0))
    z_c = height - 0.5 * crown_h
    mb.prism(e, Material.BARK, xy, 0.0, z_c, trunk_r, 6)
    leaf = 0.35
    area = 0.433 * leaf**2
    n_a_half = 1.2 / (2.0 * crown_r)  # optical depth 1.2 across the crown -> T ~ 0.3
    vol = 4.0 / 3.0 * np.pi * crown_r * crown_r * 0.5 * crown_h
    n = int(2.0 * n_a_half / area * vol)

    def pts(r, k):
        d = r.standard_normal((k, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        d *= r.random((k, 1)) ** (1.0 / 3.0)
        return d * [crown_r, crown_r, 0.5 * crown_h] + [xy[0], xy[1], z_c]

    mb.scatter(e, Material.FOLIAGE, rng, n, pts, leaf)
    return e


def pole(
    mb: MeshBuilder,
    xy,
    height: float,
    radius: float = 0.1,
    cls=StaticClass.POLE,
    arm_yaw: float | None = None,
    arm: float = 0.0,
) -> int:
    """A pole (street light with an arm over the road when ``arm`` > 0)."""
    e = mb.element(cls, xy, 0.0 if arm_yaw is None else arm_yaw, (2 * radius, 2 * radius, height))
    mb.prism(e, Material.METAL, xy, 0.0, height, radius, 8)
    if arm > 0.0 and arm_yaw is not None:
        d = np.array([np.cos(arm_yaw), np.sin(arm_yaw), 0.0])
        mid = np.array([xy[0], xy[1], height - 0.1]) + 0.5 * arm * d
        mb.box(e, Material.METAL, mid, (arm, 0.08, 0.08), arm_yaw)
        head = np.array([xy[0], xy[1], height - 0.25]) + arm * d
        mb.box(e, Material.LIGHT_HOUSING, head, (0.6, 0.25, 0.15), arm_yaw)
    return e


def sign(mb: MeshBuilder, xy, yaw: float, height: float = 2.6, face: float = 0.7) -> int:
    """A post with a retro-reflective plate facing along ``yaw``."""
    e = mb.element(StaticClass.SIGN, xy, yaw, (0.1, face, height))
    mb.prism(e, Material.METAL, xy, 0.0, height - face, 0.035, 6)
    mb.box(e, Material.SIGN_FACE, (xy[0], xy[1], height - 0.5 * face), (0.03, face, face), yaw)
    return e


def traffic_light(mb: MeshBuilder, xy, arm_yaw: float, arm: float, height: float = 5.5) -> int:
    """A mast with an arm over the road and a signal head at its end (and one on the mast)."""
    e = mb.element(StaticClass.TRAFFIC_LIGHT, xy, arm_yaw, (0.3, 0.3, height))
    mb.prism(e, Material.METAL, xy, 0.0, height, 0.12, 8)
    d = np.array([np.cos(arm_yaw), np.sin(arm_yaw), 0.0])
    mb.box(
        e, Material.METAL, np.array([xy[0], xy[1], height - 0.2]) + 0.5 * arm * d, (arm, 0.1, 0.1), arm_yaw
    )
    mb.box(
        e, Material.LIGHT_HOUSING, np.array([xy[0], xy[1], height - 0.75]) + arm * d, (0.3, 0.3, 0.9), arm_yaw
    )
    mb.box(e, Material.LIGHT_HOUSING, np.array([xy[0], xy[1], 2.8]) + 0.2 * d, (0.3, 0.3, 0.9), arm_yaw)
    return e


def bollard(mb: MeshBuilder, xy) -> int:
    e = mb.element(StaticClass.BOLLARD, xy, 0.0, (0.2, 0.2, 0.9))
    mb.prism(e, Material.METAL, xy, 0.0, 0.9, 0.1, 6)
    return e


def bicycle_stand(mb: MeshBuilder, xy, yaw: float, n: int) -> int:
    """``n`` parked bicycles side by side (thin frames and wheels as flat quads), 0.7 m apart."""
    length = 0.7 * n
    e = mb.element(StaticClass.BICYCLE_STAND, xy, yaw, (length, 1.8, 1.1))
    R = rot_z(yaw)
    c = np.array([xy[0], xy[1], 0.0])
    for k in range(n):
        x = -0.5 * length + 0.7 * (k + 0.5)
        # a bicycle stands across the stand (along local y): two wheel discs and a frame plate
        q = np.array(
            [
                [[x, -0.9, 0.0], [x, -0.2, 0.0], [x, -0.2, 0.7], [x, -0.9, 0.7]],
                [[x, 0.2, 0.0], [x, 0.9, 0.0], [x, 0.9, 0.7], [x, 0.2, 0.7]],
                [[x, -0.55, 0.5], [x, 0.55, 0.5], [x, 0.45, 1.05], [x, -0.4, 0.95]],
            ]
        )
        mb.quads(e, Material.BIKE, q @ R.T + c)
    return e


def guard_rail(mb: MeshBuilder, pts: np.ndarray, headings: np.ndarray, post_every: float = 2.0) -> int:
    """A W-beam guard rail along a polyline ``pts`` (M, 2): posts and a 0.3 m beam at 0.45-0.75 m."""
    seg = np.diff(pts, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    mid = 0.5 * (pts[1:] + pts[:-1])
    total = float(seg_len.sum())
    c0 = pts.mean(axis=0)
    e = mb.element(StaticClass.GUARD_RAIL, c0, float(headings[len(headings) // 2]), (total, 0.3, 0.75))
    for k in range(len(seg)):
        yaw = float(np.arctan2(seg[k, 1], seg[k, 0]))
        mb.box(e, Material.GUARD_RAIL, (mid[k, 0], mid[k, 1], 0.6), (seg_len[k] + 0.02, 0.05, 0.3), yaw)
    s = np.concatenate([[0.0], np.cumsum(seg_len)])
    sp = np.arange(0.0, total, post_every)
    px, py = np.interp(sp, s, pts[:, 0]), np.interp(sp, s, pts[:, 1])
    mb.boxes(
        e,
        Material.METAL,
        np.column_stack([px, py, np.full_like(px, 0.375)]),
        (0.15, 0.1, 0.75),
        float(headings[0]),
    )
    return e


def barrier(mb: MeshBuilder, pts: np.ndarray) -> int:
    """A concrete median barrier (0.5 m wide, 0.8 m tall) along a polyline (M, 2)."""
    seg = np.diff(pts, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    e = mb.element(
        StaticClass.BARRIER,
        pts.mean(axis=0),
        float(np.arctan2(seg[0, 1], seg[0, 0])),
        (float(seg_len.sum()), 0.5, 0.8),
    )
    mid = 0.5 * (pts[1:] + pts[:-1])
    for k in range(len(seg)):
        yaw = float(np.arctan2(seg[k, 1], seg[k, 0]))
        mb.box(e, Material.CONCRETE, (mid[k, 0], mid[k, 1], 0.2), (seg_len[k] + 0.01, 0.5, 0.4), yaw)
        mb.box(e, Material.CONCRETE, (mid[k, 0], mid[k, 1], 0.6), (seg_len[k] + 0.01, 0.25, 0.4), yaw)
    return e


def overhead_sign(mb: MeshBuilder, xy, yaw: float, span: float, clearance: float = 5.5) -> int:
    """A gantry across the road (``yaw`` = road heading): two masts, a truss beam, sign plates."""
    e = mb.element(StaticClass.OVERHEAD_SIGN, xy, yaw, (0.6, span, clearance + 2.5))
    R = rot_z(yaw)
    c = np.array([xy[0], xy[1], 0.0])
    for side in (-0.5, 0.5):
        p = R @ [0.0, side * span, 0.0] + c
        mb.prism(e, Material.METAL, p[:2], 0.0, clearance + 0.8, 0.2, 8)
    mb.box(e, Material.METAL, R @ [0.0, 0.0, clearance + 0.6] + c, (0.4, span, 0.4), yaw)
    n = max(1, int(span // 5.0))
    ys = (np.arange(n) + 0.5) / n * span - 0.5 * span
    pc = np.column_stack([np.full(n, -0.25), ys, np.full(n, clearance + 1.2)]) @ R.T + c
    mb.boxes(e, Material.SIGN_FACE, pc, (0.05, min(4.0, 0.8 * span / n), 2.2), yaw)
    return e


def slab(
    mb: MeshBuilder,
    cls: StaticClass,
    pts_in: np.ndarray,
    pts_out: np.ndarray,
    height: float,
    material=Material.CURB,
) -> int:
    """A raised strip between two polylines (M, 2) (sidewalk with its curb face), ``height`` tall."""
    c0 = 0.5 * (pts_in.mean(axis=0) + pts_out.mean(axis=0))
    d = pts_in[-1] - pts_in[0]
    width = float(np.mean(np.hypot(*(pts_out - pts_in).T)))
    e = mb.element(cls, c0, float(np.arctan2(d[1], d[0])), (float(np.hypot(*d)), width, height))
    M = len(pts_in)
    z = np.full((M, 1), height)
    z0 = np.zeros((M, 1))
    top_i, top_o = np.hstack([pts_in, z]), np.hstack([pts_out, z])
    bot_i, bot_o = np.hstack([pts_in, z0]), np.hstack([pts_out, z0])
    a, b = slice(0, M - 1), slice(1, M)
    quads = [
        np.stack([top_i[a], top_i[b], top_o[b], top_o[a]], 1),  # top
        np.stack([bot_i[a], bot_i[b], top_i[b], top_i[a]], 1),  # curb face
        np.stack([bot_o[a], top_o[a], top_o[b], bot_o[b]], 1),  # back face
    ]
    mb.quads(e, material, np.concatenate(quads))
    return e


def pavement(mb: MeshBuilder, pts_in: np.ndarray, pts_out: np.ndarray, z: float = 0.005) -> int:
    """A paved surface between two polylines (M, 2), 5 mm above the ground plane it covers."""
    c0 = 0.5 * (pts_in.mean(axis=0) + pts_out.mean(axis=0))
    d = pts_in[-1] - pts_in[0]
    width = float(np.mean(np.hypot(*(pts_out - pts_in).T)))
    e = mb.element(StaticClass.PAVEMENT, c0, float(np.arctan2(d[1], d[0])), (float(np.hypot(*d)), width, z))
    zz = np.full((len(pts_in), 1), z)
    a, b = np.hstack([pts_in, zz]), np.hstack([pts_out, zz])
    mb.quads(e, Material.ASPHALT, np.stack([a[:-1], a[1:], b[1:], b[:-1]], 1))
    return e
