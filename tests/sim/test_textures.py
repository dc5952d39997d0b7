"""Camera textures in static worlds: present up close, faded below a pixel, absent in the open world."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.sim.camera import STATIC_ID, render_camera_labels
from sensor_fusion.sim.static import Material, StaticClass, StaticWorld
from sensor_fusion.sim.static.materials import TEXTURE
from sensor_fusion.sim.static.meshes import MeshBuilder
from sensor_fusion.sim.texture import TEX_BRICK, TEX_LEAVES, TEX_NOISE
from sensor_fusion.sim.texture import texture as _texture
from tests.sim.test_static_world import CAL, _StaticBench

T_CAM = CAL.T_base_from("camera_front")
INTR = CAL.intrinsics["camera_front"]


def _wall(x: float, material: Material) -> StaticWorld:
    mb = MeshBuilder()
    e = mb.element(StaticClass.WALL, (x + 0.15, 0.0), np.pi / 2, (60.0, 0.3, 30.0))
    mb.box(e, material, (x + 0.15, 0.0, 15.0), (60.0, 0.3, 30.0), np.pi / 2)
    return StaticWorld(mb)


def _wall_grey(x: float, material: Material, flat: bool = False) -> np.ndarray:
    st = _wall(x, material)
    if flat:
        st.look_texture[:] = 0.0
    r = render_camera_labels(_StaticBench(st), 0, T_CAM, INTR, np.random.default_rng(0))
    on = r.actor_id == STATIC_ID
    assert on.mean() > 0.3
    return r.image[on].astype(float).mean(axis=1)


@pytest.mark.parametrize("material", [Material.PLASTER, Material.BRICK, Material.CONCRETE])
def test_near_walls_are_textured(material: Material) -> None:
    """8 m away the texture's cells span pixels: brightness varies well beyond the sensor noise."""
    textured, flat = _wall_grey(8.0, material), _wall_grey(8.0, material, flat=True)
    assert np.std(flat) < 2.5  # sensor noise only (triangular, +-4 levels)
    assert np.std(textured) > 2.0 * np.std(flat)
    assert abs(np.mean(textured) - np.mean(flat)) < 0.05 * np.mean(flat)  # texture, not a new colour


def test_texture_fades_below_a_pixel() -> None:
    rng = np.random.default_rng(0)
    x, y, z = rng.uniform(-50, 50, (3, 2000))
    for kind, cell, amp in TEXTURE[[int(Material.PLASTER), int(Material.FOLIAGE), int(Material.BRICK)]]:
        near = np.array([_texture(int(kind), cell, amp, a, b, c, 0.01) for a, b, c in zip(x, y, z)])
        assert 0.3 * amp < np.std(near) < amp and np.abs(near).max() <= 2.0 * amp
        # cells (and the stains, 6 cells) smaller than a pixel: nothing left to alias
        far = [_texture(int(kind), cell, amp, a, b, c, 6.0 * cell) for a, b, c in zip(x, y, z)]
        assert np.all(np.asarray(far) == 0.0)
    assert {int(k) for k in TEXTURE[:, 0]} >= {TEX_NOISE, TEX_BRICK, TEX_LEAVES}


def test_texture_is_fixed_to_the_surface() -> None:
    """A cell keeps its brightness (it is hashed from its coordinates, not drawn per frame)."""
    a = _texture(TEX_NOISE, 0.15, 0.06, 3.2, -4.4, 1.7, 0.01)
    assert a == _texture(TEX_NOISE, 0.15, 0.06, 3.2, -4.4, 1.7, 0.01)
    assert a == _texture(TEX_NOISE, 0.15, 0.06, 3.21, -4.41, 1.71, 0.01)  # the same cell
    assert a != _texture(TEX_NOISE, 0.15, 0.06, 3.5, -4.4, 1.7, 0.01)  # the next one
