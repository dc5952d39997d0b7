"""The xyz fast path (one numba pass over packed float32 x, y, z) gives exactly what the
field-by-field copy gives, for every layout it takes, and steps aside for every other one."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core import pointfields as pf


def _cloud(formats: list[tuple[str, str, int]], n: int, itemsize: int) -> np.ndarray:
    names = [f[0] for f in formats]
    dtype = np.dtype({"names": names, "formats": [f[1] for f in formats], "offsets": [f[2] for f in formats],
                      "itemsize": itemsize})  # fmt: skip
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, n * itemsize, dtype=np.uint8).tobytes()
    pts = np.frombuffer(raw, dtype=dtype).copy()
    for name in ("x", "y", "z"):
        pts[name] = rng.normal(0, 30, n)
    return pts


def _by_field(pts: np.ndarray) -> np.ndarray:
    return np.column_stack([pts[k].astype(np.float32) for k in "xyz"])


LAYOUTS = {
    "velodyne 22 B": ([("x", "<f4", 0), ("y", "<f4", 4), ("z", "<f4", 8), ("intensity", "<f4", 12)], 22),
    "ouster 48 B padded": ([("x", "<f4", 0), ("y", "<f4", 4), ("z", "<f4", 8), ("t", "<u4", 20)], 48),
    "xyz after a field": ([("ring", "<u2", 0), ("x", "<f4", 2), ("y", "<f4", 6), ("z", "<f4", 10)], 14),
}
FALLBACKS = {
    "xyz not adjacent": ([("x", "<f4", 0), ("y", "<f4", 8), ("z", "<f4", 4)], 16),
    "float64 xyz": ([("x", "<f8", 0), ("y", "<f8", 8), ("z", "<f8", 16)], 24),
    "big-endian": ([("x", ">f4", 0), ("y", ">f4", 4), ("z", ">f4", 8)], 12),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_fast_path_matches_the_field_copy(name):
    formats, itemsize = LAYOUTS[name]
    pts = _cloud(formats, 1001, itemsize)
    assert pf._packed_xyz_offset(pts, ("x", "y", "z")) == {f[0]: f[2] for f in formats}["x"]
    out = pf.xyz_f32(pts)
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape == (1001, 3)
    np.testing.assert_array_equal(out.view(np.uint32), _by_field(pts).view(np.uint32))


@pytest.mark.parametrize("name", list(FALLBACKS))
def test_other_layouts_take_the_field_copy(name):
    formats, itemsize = FALLBACKS[name]
    pts = _cloud(formats, 257, itemsize)
    assert pf._packed_xyz_offset(pts, ("x", "y", "z")) is None
    np.testing.assert_array_equal(pf.xyz_f32(pts), _by_field(pts))


def test_strided_and_empty_clouds():
    formats, itemsize = LAYOUTS["velodyne 22 B"]
    pts = _cloud(formats, 100, itemsize)
    every_other = pts[::2]  # not contiguous: the fast path must not read the skipped points
    assert pf._packed_xyz_offset(every_other, ("x", "y", "z")) is None
    np.testing.assert_array_equal(pf.xyz_f32(every_other), _by_field(every_other))
    assert pf.xyz_f32(pts[:0]).shape == (0, 3)
