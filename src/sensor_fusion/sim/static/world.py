"""The static world of one scenario: triangle mesh, element list, Open3D ray casting.

Why Open3D's ``RaycastingScene`` (Embree BVH): the box ray caster in ``raycast.py`` culls per ray
group against a handful of oriented boxes, which is right for ~100 actor parts but not for tens of
thousands of façade, foliage and rail triangles. Moving actors stay with the box caster; the static
mesh is cast separately and the nearer hit wins per ray. Casting both and merging was measured
against rebuilding an Embree scene with the actors' boxes every sweep (``bench/bench_sim.py``):
the rebuild of a 60k-triangle BVH alone costs about as much as a whole cast, so the merge is used.
Cameras rasterise the mesh instead (``raster.py``: a third of the CPU for one viewpoint's rays).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..terrain import Terrain, drape
from .materials import (
    BENDS_WITH_GROUND,
    COLOR_BGR,
    GROUND_LIKE,
    NO_LIDAR_RETURN,
    RCS_DBSM,
    REFLECTIVITY,
    TEXTURE,
    StaticClass,
)
from .meshes import MeshBuilder

if TYPE_CHECKING:  # raster imports overlay, which imports this module
    from .raster import RasterMesh


@dataclass(frozen=True)
class StaticElements:
    """Every static element (one building, tree, pole, guard-rail run, ...) as an oriented box.

    ``center`` is the box centre (z included), ``size`` (length along ``yaw``, width, height).
    This is what evaluation asks "does a detection lie on static structure?" against.
    """

    cls: np.ndarray  # (E,) int64 StaticClass
    center: np.ndarray  # (E, 3) m
    size: np.ndarray  # (E, 3) m
    yaw: np.ndarray  # (E,) rad
    # on graded ground only (None on the plane): (E,) bool, the element follows the ground (a
    # pavement, a fence), so its box spans the ground's rise along it; (E, 2) its [lo, hi] over the
    # ground under it; and the ground as a coarse grid (``terrain.Terrain.to_dict``) to ask it
    follows_ground: np.ndarray | None = None
    ground_relative_z: np.ndarray | None = None
    ground: dict | None = None

    def __len__(self) -> int:
        return int(self.cls.shape[0])

    @property
    def is_structure(self) -> np.ndarray:
        """(E,) True for obstacles (not ground-like slabs such as sidewalks)."""
        return ~np.isin(self.cls, [int(c) for c in GROUND_LIKE])

    def corners(self) -> np.ndarray:
        """(E, 4, 2) footprint corners (counter-clockwise) in the world frame."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        hl, hw = 0.5 * self.size[:, 0], 0.5 * self.size[:, 1]
        sx = np.array([1.0, -1.0, -1.0, 1.0])
        sy = np.array([1.0, 1.0, -1.0, -1.0])
        x = self.center[:, 0:1] + sx * hl[:, None] * c[:, None] - sy * hw[:, None] * s[:, None]
        y = self.center[:, 1:2] + sx * hl[:, None] * s[:, None] + sy * hw[:, None] * c[:, None]
        return np.stack([x, y], -1)

    def names(self) -> list[str]:
        return [StaticClass(int(k)).name.lower() for k in self.cls]

    def to_dict(self) -> dict:
        """JSON-ready (what a bag carries on ``/ground_truth/static``), world frame = odom."""
        return {
            "frame": "odom",
            "classes": self.names(),
            "center": np.round(self.center, 4).tolist(),
            "size": np.round(self.size, 4).tolist(),
            "yaw": np.round(self.yaw, 6).tolist(),
        } | ({} if self.follows_ground is None else {
            "follows_ground": self.follows_ground.tolist(),
            "ground_relative_z": np.round(self.ground_relative_z, 4).tolist(),
            "ground": self.ground,
        })  # fmt: skip

    @staticmethod
    def from_dict(d: dict) -> StaticElements:
        n = len(d["classes"])
        return StaticElements(
            np.array([int(StaticClass[c.upper()]) for c in d["classes"]], np.int64).reshape(n),
            np.array(d["center"], np.float64).reshape(n, 3),
            np.array(d["size"], np.float64).reshape(n, 3),
            np.array(d["yaw"], np.float64).reshape(n),
            np.array(d["follows_ground"], bool).reshape(n) if "follows_ground" in d else None,
            np.array(d["ground_relative_z"], np.float64).reshape(n, 2) if "ground_relative_z" in d else None,
            d.get("ground"),
        )


class StaticHits:
    """Nearest static hit per ray: distance (inf on miss), triangle's material and element, normal."""

    __slots__ = ("dist", "material", "element", "normal", "look")

    def __init__(
        self,
        dist: np.ndarray,
        material: np.ndarray,
        element: np.ndarray,
        normal: np.ndarray,
        look: np.ndarray,
    ) -> None:
        self.dist = dist  # (R,) float32
        self.material = material  # (R,) int32, -1 on miss
        self.element = element  # (R,) int32, -1 on miss
        self.normal = normal  # (R, 3) float32, facing against the ray
        self.look = look  # (R,) int32 row of StaticWorld.look_bgr (camera colour), -1 on miss


def _vertex_elements(triangles: np.ndarray, element: np.ndarray, n_vertices: int) -> np.ndarray:
    """(V,) the element each vertex belongs to (-1: in no triangle); a vertex is never shared
    between elements (``MeshBuilder.add``)."""
    v_el = np.full(n_vertices, -1, np.int64)
    v_el[np.asarray(triangles, np.int64).ravel()] = np.repeat(np.asarray(element, np.int64), 3)
    return v_el


class StaticWorld:
    """A built static world (see module docstring); ``cast`` is thread-safe (Embree)."""

    def __init__(self, mb: MeshBuilder, terrain: Terrain | None = None) -> None:
        self.vertices, self.triangles, self.material, self.element = mb.arrays()
        n = mb.n_elements()
        center = np.array(mb.center, np.float64).reshape(n, 3)
        size = np.array(mb.size, np.float64).reshape(n, 3)
        self.terrain = terrain  # road grade and crossfall (sim/terrain.py); None: the plane z = 0
        cls = np.asarray(mb.cls, np.int64).reshape(n)
        follows = rel = ground = None
        if terrain is not None:  # everything stands on the ground; each box still bounds its element
            follows = np.isin(cls, [int(c) for c in BENDS_WITH_GROUND])
            rel = np.column_stack([center[:, 2] - 0.5 * size[:, 2], center[:, 2] + 0.5 * size[:, 2]])
            lo, hi = self._stand(terrain, ~follows, center)
            z_lo, z_hi = rel[:, 0] + lo, rel[:, 1] + hi
            center[:, 2], size[:, 2] = 0.5 * (z_lo + z_hi), z_hi - z_lo
            ground = terrain.to_dict()
        yaw = np.array(mb.yaw, np.float64).reshape(n)
        self.elements = StaticElements(cls, center, size, yaw, follows, rel, ground)
        # per-element colour tone, so no two buildings (or trees) share one exact colour
        tone = 0.75 + 0.5 * ((np.arange(n) * 0.6180339887) % 1.0)
        self.element_tone = tone.astype(np.float64)
        # one camera colour per (element, material) pair: the rows the renderer indexes
        pair = self.element.astype(np.int64) * 64 + self.material
        uniq, self.tri_look = np.unique(pair, return_inverse=True)
        self.tri_look = self.tri_look.astype(np.int32).reshape(-1)
        self.look_bgr = COLOR_BGR[uniq % 64] * self.element_tone[uniq // 64][:, None]
        self.look_texture = TEXTURE[uniq % 64]  # (looks, 3) kind, cell m, amplitude
        self.lidar_code = (-3 - self.material).astype(np.int32)  # overlay.HIT_STATIC - material
        self.no_lidar_return_tri = NO_LIDAR_RETURN[self.material]
        self._scene = None
        self._raster_mesh = None

    def _stand(
        self, terrain: Terrain, rigid: np.ndarray, center: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Drape the mesh on ``terrain`` (``terrain.drape``): the ``rigid`` (E,) elements, compact and
        boxy, on the lowest ground under their footprint, the others (long, ground-following) bent
        with it. Returns how far each element's bottom and top rise (E,), (E,): the same for a rigid
        one, the lowest and highest ground under a bent one (a 100 m pavement on a grade spans
        metres)."""
        g = terrain.height(center[:, :2])
        if not self.triangles.shape[0]:
            return g, g
        v_el = _vertex_elements(self.triangles, self.element, self.vertices.shape[0])
        on = v_el >= 0
        foot = on & (self.vertices[:, 2] <= 0.3)  # where it meets the ground (not a lamp's arm)
        low = np.full(len(rigid), np.inf)  # the lowest ground under each element's footprint
        np.minimum.at(low, v_el[foot], terrain.height(self.vertices[foot, :2].astype(np.float64)))
        low = np.where(np.isfinite(low), low, g)
        v_lift = np.full(self.vertices.shape[0], np.nan)
        rv = on & rigid[np.maximum(v_el, 0)]
        v_lift[rv] = low[v_el[rv]]
        v, f, src, lift = drape(self.vertices, self.triangles, terrain, v_lift)
        self.vertices, self.triangles = v.astype(np.float32), f.astype(np.uint32)
        self.material, self.element = self.material[src], self.element[src]
        # a bent element's lift ranges over the ground under its (split) vertices
        v_el = _vertex_elements(f, self.element, v.shape[0])
        on = v_el >= 0
        g_lo, g_hi = np.full(len(rigid), np.inf), np.full(len(rigid), -np.inf)
        np.minimum.at(g_lo, v_el[on], lift[on])
        np.maximum.at(g_hi, v_el[on], lift[on])
        has = np.isfinite(g_lo)
        lo = np.where(rigid, low, np.where(has, g_lo, g))
        hi = np.where(rigid, low, np.where(has, g_hi, g))
        return lo, hi

    def raster_mesh(self) -> RasterMesh:
        """The mesh as the camera's rasteriser reads it (:func:`.raster.raster_mesh`, built once)."""
        if self._raster_mesh is None:
            from .raster import raster_mesh

            self._raster_mesh = raster_mesh(self.vertices, self.triangles, self.tri_look)
        return self._raster_mesh

    def ground_z(self, xy: np.ndarray) -> np.ndarray:
        """(N,) ground height under (N, 2) world points: the terrain's, or zeros on flat ground."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return np.zeros(xy.shape[0]) if self.terrain is None else self.terrain.height(xy)

    @property
    def n_triangles(self) -> int:
        return int(self.triangles.shape[0])

    def _raycasting_scene(self):
        if self._scene is None:
            import open3d as o3d  # heavy import: only worlds with static scenery pay it

            sc = o3d.t.geometry.RaycastingScene()
            if self.n_triangles:
                sc.add_triangles(o3d.core.Tensor(self.vertices), o3d.core.Tensor(self.triangles))
            self._scene = sc
        return self._scene

    def cast_raw(self, rays: np.ndarray) -> dict:
        """Open3D's answer for (R, 6) float32 rays (origin, unit direction), world frame."""
        import open3d as o3d

        return self._raycasting_scene().cast_rays(o3d.core.Tensor(np.ascontiguousarray(rays, np.float32)))

    def cast(self, origins: np.ndarray, dirs: np.ndarray, t_max: float = np.inf) -> StaticHits:
        """Cast rays (world frame, unit ``dirs``); hits beyond ``t_max`` count as misses."""
        o = np.asarray(origins, np.float32).reshape(-1, 3)
        d = np.asarray(dirs, np.float32).reshape(-1, 3)
        R = d.shape[0]
        o = np.broadcast_to(o, (R, 3))
        if R == 0 or self.n_triangles == 0:
            return StaticHits(
                np.full(R, np.inf, np.float32),
                np.full(R, -1, np.int32),
                np.full(R, -1, np.int32),
                np.zeros((R, 3), np.float32),
            )
        import open3d as o3d

        rays = np.empty((R, 6), np.float32)
        rays[:, :3] = o
        rays[:, 3:] = d
        ans = self._raycasting_scene().cast_rays(o3d.core.Tensor(rays))
        t = ans["t_hit"].numpy()
        idx = np.flatnonzero(np.isfinite(t) & (t <= t_max))
        tri = ans["primitive_ids"].numpy()[idx].astype(np.int64)
        dist = np.full(R, np.inf, np.float32)
        dist[idx] = t[idx]
        mat = np.full(R, -1, np.int32)
        mat[idx] = self.material[tri]
        ele = np.full(R, -1, np.int32)
        ele[idx] = self.element[tri]
        look = np.full(R, -1, np.int32)
        look[idx] = self.tri_look[tri]
        n = np.zeros((R, 3), np.float32)
        nh = ans["primitive_normals"].numpy()[idx]
        flip = np.einsum("ij,ij->i", nh, d[idx]) > 0.0
        nh[flip] *= -1.0
        n[idx] = nh
        return StaticHits(dist, mat, ele, n, look)

    # -- material lookups for the sensors --------------------------------------------------------
    reflectivity = REFLECTIVITY
    rcs_dbsm = RCS_DBSM
    no_lidar_return = NO_LIDAR_RETURN
