"""sim/static/raster.py: the camera's z-buffer view of the static mesh against Embree's ray cast."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sensor_fusion.core.types import CameraIntrinsics
from sensor_fusion.sim import camera as cam_mod
from sensor_fusion.sim.camera import STATIC_ID, camera_rays, render_camera_labels
from sensor_fusion.sim.recorder import _ordered
from sensor_fusion.sim.scenarios import scenario_config
from sensor_fusion.sim.static import Material, StaticClass, StaticWorld
from sensor_fusion.sim.static.meshes import MeshBuilder
from sensor_fusion.sim.world import World
from tests.sim.test_static_world import CAL, _StaticBench, _wall_world

T_CAM = CAL.T_base_from("camera_front")
INTR = CAL.intrinsics["camera_front"]


def _both(world, intr: CameraIntrinsics, monkeypatch, stamp_ns: int = 0, T=T_CAM):
    """(raster render, Embree render) of the same frame."""
    rays = camera_rays(intr)
    assert rays.raster is not None
    key = next(k for k, v in cam_mod._RAY_CACHE.items() if v is rays)
    a = render_camera_labels(world, stamp_ns, T, intr, np.random.default_rng(0))
    monkeypatch.setitem(cam_mod._RAY_CACHE, key, dataclasses.replace(rays, raster=None))
    b = render_camera_labels(world, stamp_ns, T, intr, np.random.default_rng(0))
    monkeypatch.setitem(cam_mod._RAY_CACHE, key, rays)
    return a, b


def test_wall_depth_is_exact(monkeypatch) -> None:
    """A wall face 20 m ahead (camera 1.6 m forward of base): every pixel on it at depth 18.4 m."""
    a, b = _both(_StaticBench(_wall_world()), INTR, monkeypatch)
    on_a, on_b = a.actor_id == STATIC_ID, b.actor_id == STATIC_ID
    assert on_a.sum() > 10_000
    np.testing.assert_allclose(a.depth_m[on_a], 18.4, atol=2e-3)  # float32 distances at 18 m
    # the outline agrees with the ray cast to within a pixel: only the wall's border pixels differ
    assert (on_a != on_b).sum() < 2 * (on_a.shape[0] + on_a.shape[1])
    rows, cols = np.nonzero(on_a), np.nonzero(on_b)  # no shift: edge pixels differ both ways
    for k in (0, 1):
        assert abs(rows[k].mean() - cols[k].mean()) < 0.1
    np.testing.assert_array_equal(a.image[on_a & on_b], b.image[on_a & on_b])  # same shading


def test_wall_through_the_near_plane(monkeypatch) -> None:
    """A wall beside the road from 30 m behind to 60 m ahead: clipped at the camera, not lost."""
    mb = MeshBuilder()
    e = mb.element(StaticClass.WALL, (15.0, 3.15), 0.0, (90.0, 0.3, 4.0))
    mb.box(e, Material.BRICK, (15.0, 3.15, 2.0), (90.0, 0.3, 4.0), 0.0)
    a, b = _both(_StaticBench(StaticWorld(mb)), INTR, monkeypatch)
    on_a, on_b = a.actor_id == STATIC_ID, b.actor_id == STATIC_ID
    assert on_a[:, :100].mean() > 0.5  # the wall fills the left edge of the image (+y is left)
    assert (on_a != on_b).mean() < 0.01
    both = on_a & on_b
    rel = np.abs(a.depth_m[both] - b.depth_m[both]) / b.depth_m[both]
    assert np.median(rel) < 1e-5 and np.quantile(rel, 0.99) < 1e-4


def test_street_matches_the_ray_cast(monkeypatch) -> None:
    """A whole ``urban_clutter`` street: differences only at edges (about 2 % of pixels measured)."""
    w = World(scenario_config("urban_clutter", {"world": {"duration_s": 4.0}}), 5)
    for T in (T_CAM, CAL.T_base_from("camera_rear")):
        a, b = _both(w, INTR, monkeypatch, w.t0_ns + 2_000_000_000, T)
        st_a, st_b = a.actor_id == STATIC_ID, b.actor_id == STATIC_ID
        assert 0.15 < st_b.mean() < 0.8
        assert (st_a != st_b).mean() < 0.02
        finite = np.isfinite(a.depth_m) & np.isfinite(b.depth_m)
        assert (np.abs(a.depth_m[finite] - b.depth_m[finite]) > 0.05).mean() < 0.04
        diff = np.abs(a.image.astype(int) - b.image.astype(int)).max(axis=2)
        assert (diff > 12).mean() < 0.04
        assert ((a.actor_id >= 0) != (b.actor_id >= 0)).mean() < 0.005  # actors keep their pixels


def test_fisheye_beyond_90_degrees_falls_back_to_ray_casting() -> None:
    fish = CameraIntrinsics(
        width=640,
        height=384,
        K=np.array([[250.0, 0, 320], [0, 250.0, 192], [0, 0, 1]]),
        D=np.zeros(4),
        distortion_model="equidistant",
    )
    assert camera_rays(fish).raster is None  # the corners look 85 deg off the axis
    assert camera_rays(INTR).raster is not None
    r = render_camera_labels(_StaticBench(_wall_world()), 0, T_CAM, fish, np.random.default_rng(0))
    assert r.actor_id[192, 320] == STATIC_ID


@pytest.mark.parametrize("n", [0, 1, 7, 40])
def test_prefetched_stream_keeps_its_order(n: int) -> None:
    """The recorder's camera thread: same items in the same write order as without it."""
    rng = np.random.default_rng(n)
    stamps = np.arange(n, dtype=np.int64) * 100
    delays = rng.integers(0, 250, n)

    def make(k: int):
        yield "/a", (k, float(np.random.default_rng(k).normal()))
        yield "/b", k

    with ThreadPoolExecutor(1) as pool:
        assert list(_ordered(stamps, delays, make, pool)) == list(_ordered(stamps, delays, make))


def test_prefetched_stream_raises_the_workers_error() -> None:
    def make(k: int):
        if k == 3:
            raise RuntimeError("frame 3")
        yield "/a", k

    with ThreadPoolExecutor(1) as pool, pytest.raises(RuntimeError, match="frame 3"):
        list(_ordered(np.arange(6, dtype=np.int64), np.zeros(6, np.int64), make, pool))
