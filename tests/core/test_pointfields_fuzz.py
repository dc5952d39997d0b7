"""Fuzz the PointCloud2 payload codec (core, no ROS): any layout and any bytes either decode into
a structured array that matches the layout, or raise ``CloudDecodeError``; nothing else."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sensor_fusion.core import pointfields as pf
from tests.fuzzing import fuzz_settings, no_hang

pytestmark = pytest.mark.fuzz

U32 = 2**32 - 1
NAMES = ["x", "y", "z", "intensity", "t", "ring", "radial_velocity", "rcs", "", "x ", "é", "\x00"]


@st.composite
def fields(draw):
    n = draw(st.integers(0, 6))
    out = []
    for _ in range(n):
        name = draw(st.sampled_from(NAMES) | st.text(max_size=8))
        offset = draw(st.integers(0, 40) | st.integers(0, U32))
        datatype = draw(st.integers(0, 10) | st.integers(0, 255))
        count = draw(st.integers(0, 4) | st.integers(0, U32))
        out.append(pf.Field(name, offset, datatype, count))
    return tuple(out)


@st.composite
def layouts(draw):
    """Mostly plausible layouts with one or more lies (sizes, steps, counts, endianness)."""
    flds = draw(fields())
    ends = [
        f.offset + pf.np.dtype(pf.DATATYPES.get(f.datatype, "u1")).itemsize * max(f.count, 1) for f in flds
    ]
    natural = max(ends, default=1)
    point_step = draw(st.sampled_from([natural, natural + 4, max(natural - 1, 0), 0]) | st.integers(0, U32))
    width = draw(st.integers(0, 8) | st.integers(0, U32))
    height = draw(st.integers(0, 3) | st.integers(0, U32))
    row_step = draw(st.sampled_from([width * point_step, width * point_step + 3, 0]) | st.integers(0, U32))
    return pf.CloudLayout(flds, point_step, row_step % (U32 + 1), width, height, draw(st.booleans()))


def _check(layout: pf.CloudLayout, data: bytes) -> None:
    with no_hang():
        try:
            pts = pf.decode(layout, data)
        except pf.CloudDecodeError:
            return
        assert pts.ndim == 1 and pts.shape[0] == layout.width * layout.height
        for name in pts.dtype.names or ():
            try:
                pf.field_f32(pts, name)
            except pf.CloudDecodeError:
                pass
        try:
            xyz = pf.xyz_f32(pts)
        except pf.CloudDecodeError:
            return
        assert xyz.shape == (pts.shape[0], 3) and xyz.dtype == np.float32


@fuzz_settings(200, long_share=0.25)  # PointCloud2 entry point: 4 properties share the long count
@given(layouts(), st.binary(max_size=512))
@example(pf.CloudLayout((), 2**32 - 1, 0, 0, 1), b"")  # empty cloud with a 4 GiB point_step
@example(pf.CloudLayout((pf.Field("x", 0, 7, 2**32 - 1),), 16, 16, 1, 1), bytes(16))  # huge count
@example(pf.CloudLayout((pf.Field("", 0, 7),), 4, 4, 1, 1), bytes(4))  # empty field name
def test_decode_any_layout(layout, data):
    _check(layout, data)


@fuzz_settings(100, long_share=0.25)  # PointCloud2 entry point: 4 properties share the long count
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=30),
    st.booleans(),
    st.integers(0, 8),
)
def test_decode_valid_layouts_with_nan_and_padding(values, big, pad):
    """A consistent (possibly big-endian, padded) layout of x y z decodes exactly, NaN and inf kept."""
    n = len(values) // 3
    order = ">" if big else "<"
    dt = np.dtype(
        {"names": ["x", "y", "z"], "formats": [order + "f4"] * 3, "offsets": [0, 4, 8], "itemsize": 12 + pad}
    )
    pts = np.zeros(n, dtype=dt)
    arr = np.asarray(values[: 3 * n], np.float32).reshape(n, 3)
    pts["x"], pts["y"], pts["z"] = arr[:, 0], arr[:, 1], arr[:, 2]
    layout = pf.CloudLayout(
        (pf.Field("x", 0, 7), pf.Field("y", 4, 7), pf.Field("z", 8, 7)), 12 + pad, (12 + pad) * n, n, 1, big
    )
    with no_hang():
        out = pf.xyz_f32(pf.decode(layout, pts.tobytes()))
    np.testing.assert_array_equal(out, arr)
