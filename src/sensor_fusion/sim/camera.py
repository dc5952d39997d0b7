"""Ray-cast camera renderer through the distorted pinhole model (BGR uint8).

Each pixel centre (OpenCV convention: integer coordinates are pixel centres) is
un-distorted once per camera with ``cv2.undistortPoints`` into a unit ray in the
optical frame (z forward, x right, y down), so rendered geometry lines up with
``cv2.projectPoints`` including lens distortion. Pixels are cast in 16x16 tiles
(one culling cone each) against the actors' parts and the ground plane; the nearest
hit gives exact occlusion. Shading is deliberately simple but informative for a
CNN: sky gradient, ground by ``GroundMap.ground_class`` with a faint world-fixed
texture, Lambert-shaded objects in their class colour, distance fog, sensor noise. With a static
world (``world.static``) its meshes are drawn too (z-buffer, ``static/raster.py``), with textures
by material (brick courses, leaves, grain and stains, panes); actors take per-instance colours
from a palette shared by all classes and a faint texture in their own frame, the sun stands where
the world says (``World.sun_dir``), and each frame gets its own exposure gain.
The image is a global-shutter exposure at ``stamp_ns``.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from numba import njit

from ..core.types import CameraIntrinsics
from .raycast import HIT_GROUND, HIT_NONE, Hits, alloc_hits, cast_rays, cone_bounds, ground_hits
from .shapes import actor_parts
from .state import WorldView, ego_transform, scenario_seconds
from .static.overlay import overlay_static, pack_group_rays
from .static.raster import RasterGrid, overlay_static_raster, raster_grid
from .terrain import overlay_terrain_camera
from .texture import ACTOR_TEXTURE, TEX_ACTOR, mix64, texture

STATIC_ID = -3  # actor_id of pixels showing static scenery
EXPOSURE_RANGE = (0.75, 1.25)  # image gain per frame in static worlds (auto-exposure, lighting)
TILE = 16  # pixels per side of a culling tile
MAX_RANGE_M = 1500.0  # rays beyond this (far ground) show the horizon haze
FOG_DIST_M = 200.0  # e-folding distance of the haze
NOISE_LEVELS = 4.0  # half-width of the triangular per-channel noise, grey levels
SUN_DIR = np.array([0.35, 0.45, 0.82]) / np.linalg.norm([0.35, 0.45, 0.82])  # world, towards the sun
AMBIENT, DIFFUSE = 0.45, 0.55

# BGR colours
SKY_ZENITH = np.array([190.0, 135.0, 85.0])
SKY_HORIZON = np.array([215.0, 205.0, 195.0])  # also the fog colour
GROUND_BGR = np.array(
    [
        [85.0, 118.0, 98.0],  # 0 off-road: greenish grey
        [80.0, 78.0, 76.0],  # 1 asphalt: dark grey
        [228.0, 228.0, 228.0],  # 2 lane marking: white
    ]
)


@dataclass(frozen=True)
class CameraRays:
    """Per-camera constants: pixel rays (optical frame) and their tile grouping."""

    width: int
    height: int
    dirs: np.ndarray  # (H*W, 3) float32 unit rays, row-major pixel order
    perm_dirs: np.ndarray  # (H*W, 3) float32 rays in tile order
    pixel: np.ndarray  # (H*W,) int64 pixel index (v * W + u) of each tile-ordered ray
    seq: np.ndarray  # (H*W,) int64 0..R-1: cast outputs stay in tile order (scattered writes are slow)
    group_start: np.ndarray  # (G + 1,) int64
    group_axis: np.ndarray  # (G, 3)
    group_cos: np.ndarray  # (G,)
    raster: RasterGrid | None = None  # the static mesh's z-buffer grid (None: Embree ray casting)


_SCRATCH = threading.local()  # per thread: reused cast outputs by ray count (see camera_scratch)


def camera_scratch(n_rays: int) -> Hits:
    """This thread's reusable cast outputs for ``n_rays`` rays: allocating ~12 MB per frame costs
    more than the cast, and one buffer per thread lets frames render in parallel."""
    d = getattr(_SCRATCH, "hits", None)
    if d is None:
        d = _SCRATCH.hits = {}
    h = d.get(n_rays)
    if h is None:
        h = d[n_rays] = alloc_hits(n_rays)
    return h


_RAY_CACHE: dict[tuple, CameraRays] = {}


def cast_camera_boxes(
    rays: CameraRays, T_wc: np.ndarray, parts, out: Hits, cull: bool = True, ground: bool = True
) -> Hits:
    """The camera's rays (world pose ``T_wc``) against the actors' ``parts`` and (``ground``) the
    plane z = 0, written into ``out`` (the box caster, ``raycast.cast_rays``, one tile per culling cone)."""
    G = rays.group_start.shape[0] - 1
    return cast_rays(
        rays.perm_dirs,
        rays.seq,
        rays.group_start,
        rays.group_axis,
        rays.group_cos,
        np.broadcast_to(T_wc[:3, 3], (G, 3)),
        np.broadcast_to(T_wc[:3, :3], (G, 3, 3)),
        np.zeros(G, np.int64),
        np.full(G, len(parts), np.int64),
        parts.centers,
        parts.half_sizes,
        parts.yaw,
        t_min=1e-3,
        t_max=MAX_RANGE_M,
        ground=ground,
        cull=cull,
        out=out,
    )


def camera_rays(intr: CameraIntrinsics) -> CameraRays:
    """Unit ray per pixel centre through the distorted model, cached per camera model."""
    K = np.asarray(intr.K, np.float64).reshape(3, 3)
    D = np.asarray(intr.D, np.float64).ravel()
    key = (int(intr.width), int(intr.height), K.tobytes(), D.tobytes(), intr.distortion_model)
    hit = _RAY_CACHE.get(key)
    if hit is not None:
        return hit
    W, H = int(intr.width), int(intr.height)
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    pix = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
    if intr.distortion_model in ("equidistant", "fisheye"):
        xy = cv2.fisheye.undistortPoints(pix, K, D[:4])
    else:  # plumb_bob / rational_polynomial: OpenCV order, any length
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
        xy = cv2.undistortPoints(pix, K, D, None, None, None, crit)
    xy = xy.reshape(-1, 2)
    d = np.column_stack([xy, np.ones(xy.shape[0])])
    dirs = (d / np.linalg.norm(d, axis=1, keepdims=True)).astype(np.float32)
    # the iterative inverse can fail for strong distortion near the corners: say so once
    if intr.distortion_model in ("equidistant", "fisheye"):
        back = cv2.fisheye.projectPoints(d.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, D[:4])[0]
    else:
        back = cv2.projectPoints(d.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, D)[0]
    err = float(np.max(np.abs(back.reshape(-1, 2) - pix.reshape(-1, 2))))
    if not err < 0.05:
        warnings.warn(f"camera rays reproject with up to {err:.3f} px error (distortion {D})", stacklevel=2)

    tx, ty = (W + TILE - 1) // TILE, (H + TILE - 1) // TILE
    tile = (v.ravel().astype(np.int64) // TILE) * tx + (u.ravel().astype(np.int64) // TILE)
    order = np.argsort(tile, kind="stable")
    counts = np.bincount(tile, minlength=tx * ty)
    group_start = np.r_[0, np.cumsum(counts)].astype(np.int64)
    perm = np.ascontiguousarray(dirs[order])
    axis, cos_half = cone_bounds(perm, group_start)
    rays = CameraRays(
        W,
        H,
        dirs,
        perm,
        order.astype(np.int64),
        np.arange(dirs.shape[0], dtype=np.int64),
        group_start,
        axis,
        cos_half,
        raster_grid(perm, W, H, dirs),
    )
    if len(_RAY_CACHE) > 16:
        _RAY_CACHE.clear()
    _RAY_CACHE[key] = rays
    return rays


@njit(cache=True, nogil=True)
def _shade(
    dirs: np.ndarray,  # (R, 3) float32 optical-frame rays, tile order (as the hits)
    pixel: np.ndarray,  # (R,) int64 pixel index of each ray
    R_wc: np.ndarray,  # (3, 3) world <- camera
    part: np.ndarray,  # (R,) int32
    dist: np.ndarray,  # (R,) float32
    normal: np.ndarray,  # (R, 3) float32 world
    point: np.ndarray,  # (R, 3) float64 world
    gcls: np.ndarray,  # (n_ground,) ground class of the ground hits, in ray order
    part_bgr: np.ndarray,  # (P, 3) float64
    part_tex: np.ndarray,  # (P, 3) float64 texture kind, cell m, amplitude (kind 0: flat)
    part_pose: np.ndarray,  # (P, 4) float64 centre xyz and yaw of the parts textured in their frame
    px_per_m: float,  # focal length in pixels: a surface at d m has d / px_per_m metres per pixel
    sun: np.ndarray,  # (3,)
    sky_zenith: np.ndarray,
    sky_horizon: np.ndarray,
    ground_bgr: np.ndarray,  # (3, 3)
    seed: np.uint64,
    img: np.ndarray,  # (H, W, 3) uint8 output
) -> None:
    W = img.shape[1]
    m16 = np.uint64(0xFFFF)
    inv16 = 1.0 / 65535.0
    m10 = np.uint64(0x3FF)
    inv10 = 1.0 / 1023.0
    ground_shade = AMBIENT + DIFFUSE * max(0.0, sun[2])
    k = 0  # next entry of gcls
    for i in range(dirs.shape[0]):
        h = part[i]
        b = 0.0
        g = 0.0
        r = 0.0
        if h == HIT_NONE:
            wz = R_wc[2, 0] * dirs[i, 0] + R_wc[2, 1] * dirs[i, 1] + R_wc[2, 2] * dirs[i, 2]
            t = min(1.0, max(0.0, wz) * 2.5)
            t = t * (2.0 - t)  # ease-out: quick brightening just above the horizon
            b = sky_horizon[0] + t * (sky_zenith[0] - sky_horizon[0])
            g = sky_horizon[1] + t * (sky_zenith[1] - sky_horizon[1])
            r = sky_horizon[2] + t * (sky_zenith[2] - sky_horizon[2])
        else:
            d = dist[i]
            if h == HIT_GROUND:
                c = min(max(int(gcls[k]), 0), 2)
                k += 1
                # faint world-fixed texture (0.25 m cells), faded with distance against aliasing
                cx = np.int64(np.floor(point[i, 0] * 4.0))
                cy = np.int64(np.floor(point[i, 1] * 4.0))
                hv = mix64(np.uint64(cx * 73856093) ^ np.uint64(cy * 19349663))
                tex = ((hv & m16) * inv16 - 0.5) * 0.12 * max(0.0, 1.0 - d / 40.0)
                s = ground_shade * (1.0 + tex)
                b = ground_bgr[c, 0] * s
                g = ground_bgr[c, 1] * s
                r = ground_bgr[c, 2] * s
            else:
                lam = normal[i, 0] * sun[0] + normal[i, 1] * sun[1] + normal[i, 2] * sun[2]
                s = AMBIENT + DIFFUSE * max(0.0, lam)
                kind = np.int64(part_tex[h, 0])
                if kind != 0:
                    x, y, z = point[i, 0], point[i, 1], point[i, 2]
                    if kind == TEX_ACTOR:  # an actor's part: in its own frame, so the pattern moves with it
                        dx, dy = x - part_pose[h, 0], y - part_pose[h, 1]
                        c, sn = np.cos(part_pose[h, 3]), np.sin(part_pose[h, 3])
                        x, y, z = c * dx + sn * dy, c * dy - sn * dx, z - part_pose[h, 2]
                    s *= 1.0 + texture(kind, part_tex[h, 1], part_tex[h, 2], x, y, z, d / px_per_m)
                b = part_bgr[h, 0] * s
                g = part_bgr[h, 1] * s
                r = part_bgr[h, 2] * s
            f = 1.0 - np.exp(-d / FOG_DIST_M)
            b += f * (sky_horizon[0] - b)
            g += f * (sky_horizon[1] - g)
            r += f * (sky_horizon[2] - r)
        # triangular noise per channel: six 10-bit uniforms from one hash per pixel
        hn = mix64(seed ^ np.uint64(i))
        nb = (((hn & m10) + ((hn >> np.uint64(10)) & m10)) * inv10 - 1.0) * NOISE_LEVELS
        ng = ((((hn >> np.uint64(20)) & m10) + ((hn >> np.uint64(30)) & m10)) * inv10 - 1.0) * NOISE_LEVELS
        nr = ((((hn >> np.uint64(40)) & m10) + ((hn >> np.uint64(50)) & m10)) * inv10 - 1.0) * NOISE_LEVELS
        v = pixel[i] // W
        u = pixel[i] - v * W
        img[v, u, 0] = np.uint8(min(255.0, max(0.0, b + nb + 0.5)))
        img[v, u, 1] = np.uint8(min(255.0, max(0.0, g + ng + 0.5)))
        img[v, u, 2] = np.uint8(min(255.0, max(0.0, r + nr + 0.5)))


@dataclass
class CameraRender:
    """Image plus per-pixel ground truth (useful as CNN labels and for tests)."""

    image: np.ndarray  # (H, W, 3) uint8 BGR
    actor_id: np.ndarray | None = None  # (H, W) int64: actor id, -1 ground, -2 sky/nothing, -3 static scenery
    depth_m: np.ndarray | None = None  # (H, W) float32 optical-axis depth, inf where nothing


def render_camera_labels(
    world: WorldView,
    stamp_ns: int,
    T_base_cam: np.ndarray,
    intrinsics: CameraIntrinsics,
    rng: np.random.Generator,
    labels: bool = True,
) -> CameraRender:
    """Render the view of the camera ``T_base_cam`` (optical frame) at ``stamp_ns``."""
    rays = camera_rays(intrinsics)
    ego = world.ego_at(int(stamp_ns))
    T_wc = ego_transform(ego) @ np.asarray(T_base_cam, np.float64)
    actors = world.actors_at(int(stamp_ns))
    static = getattr(world, "static", None)
    t_s = None  # articulated walkers (static worlds) in their gait phase at this stamp
    if getattr(world, "animate_people", False):
        t_s = scenario_seconds(world, stamp_ns)
    parts = actor_parts(actors, instance_colors=static is not None, t_s=t_s)
    P = len(parts)
    seed = np.uint64(rng.integers(0, np.iinfo(np.int64).max, dtype=np.int64))
    img = np.empty((rays.height, rays.width, 3), np.uint8)
    terrain = getattr(static, "terrain", None)  # graded ground replaces the plane z = 0
    hits = cast_camera_boxes(
        rays, T_wc, parts, camera_scratch(rays.perm_dirs.shape[0]), ground=terrain is None
    )
    part_bgr = parts.color_bgr.astype(np.float64).reshape(-1, 3)
    part_tex = np.zeros((P, 3))  # the open world: flat paint, as before
    part_pose = np.zeros((P, 4))
    if static is not None:  # static meshes: nearer hit wins; their colours follow the parts'
        if rays.raster is not None:  # z-buffer (static/raster.py: 3x less CPU, no GIL)
            overlay_static_raster(static, rays.raster, rays.perm_dirs, T_wc, MAX_RANGE_M, hits, P)
        else:  # a camera too wide for one image plane: Embree
            wr = pack_group_rays(
                rays.perm_dirs, rays.seq, rays.group_start[[0, -1]], T_wc[None, :3, 3], T_wc[None, :3, :3]
            )
            overlay_static(static, hits, wr, MAX_RANGE_M, lidar=False, part_offset=P)
        part_bgr = np.vstack([part_bgr, static.look_bgr])
        part_tex[:] = ACTOR_TEXTURE
        part_tex = np.vstack([part_tex, static.look_texture])
        part_pose[:, :3] = parts.centers
        part_pose[:, 3] = parts.yaw
        part_pose = np.vstack([part_pose, np.zeros((len(static.look_texture), 4))])
    if terrain is not None:  # graded, crowned ground where nothing nearer is (the camera sees glass)
        overlay_terrain_camera(terrain, hits, rays.perm_dirs, T_wc, MAX_RANGE_M)
    g_idx, g_xy = ground_hits(hits.part, hits.point)
    gcls = np.zeros(0, np.uint8)
    if g_idx.shape[0]:
        gcls = np.ascontiguousarray(world.ground.ground_class(g_xy), np.uint8).reshape(-1)
        if gcls.shape[0] != g_idx.shape[0]:
            raise ValueError("GroundMap.ground_class must return one class per point")
    _shade(
        rays.perm_dirs,
        rays.pixel,
        np.ascontiguousarray(T_wc[:3, :3]),
        hits.part,
        hits.dist,
        hits.normal,
        hits.point,
        gcls,
        part_bgr,
        part_tex,
        part_pose,
        float(np.asarray(intrinsics.K, np.float64).reshape(3, 3)[0, 0]),
        SUN_DIR if static is None else getattr(world, "sun_dir", SUN_DIR),
        SKY_ZENITH,
        SKY_HORIZON,
        GROUND_BGR,
        seed,
        img,
    )
    if static is not None:  # auto-exposure differs frame to frame and camera to camera
        gain = (
            EXPOSURE_RANGE[0]
            + (EXPOSURE_RANGE[1] - EXPOSURE_RANGE[0]) * float((int(seed) >> 11) % 1024) / 1023.0
        )
        img = np.clip(img.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)
    out = CameraRender(img)
    if labels:
        aid = np.where(hits.part == HIT_GROUND, -1, -2).astype(np.int64)
        aid[hits.part >= P] = STATIC_ID
        obj = (hits.part >= 0) & (hits.part < P)
        aid[obj] = np.asarray(actors.ids, np.int64).reshape(-1)[parts.actor_index[hits.part[obj]]]
        aid_img = np.empty(aid.shape[0], np.int64)
        aid_img[rays.pixel] = aid
        depth = np.empty(aid.shape[0], np.float32)
        depth[rays.pixel] = hits.dist * rays.perm_dirs[:, 2]
        out.actor_id = aid_img.reshape(rays.height, rays.width)
        out.depth_m = depth.reshape(rays.height, rays.width)
    return out


def render_camera(
    world: WorldView,
    stamp_ns: int,
    T_base_cam: np.ndarray,
    intrinsics: CameraIntrinsics,
    rng: np.random.Generator,
) -> np.ndarray:
    """HxWx3 uint8 BGR image of ``world`` at ``stamp_ns`` seen by the camera at ``T_base_cam``."""
    return render_camera_labels(world, stamp_ns, T_base_cam, intrinsics, rng, labels=False).image


def encode_jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes for ``sensor_msgs/CompressedImage`` (format "bgr8; jpeg compressed bgr8")."""
    if not 0 <= int(quality) <= 100:
        raise ValueError(f"jpeg quality must be in [0, 100], got {quality}")
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode JPEG")
    return buf.tobytes()
