"""PointCloud2 payload codec on raw bytes, without ROS.

``PointCloud2`` carries a packed binary buffer described by its ``fields``.
Decoding builds one numpy structured dtype from the fields and views the buffer
with ``np.frombuffer`` (zero copy, no per-point Python); encoding is the inverse.
The ROS edge (``ros/convert.py``) and the bag edge both call these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

# sensor_msgs/PointField datatype constants -> numpy type codes
DATATYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
# Bytes per point: real drivers use 16-64; numpy cannot make a dtype past 2**31, and anything near
# this limit is a corrupt header, not a point layout.
MAX_POINT_STEP = 1 << 16
DATATYPE_OF = {np.dtype(v).newbyteorder("=").str[1:]: k for k, v in DATATYPES.items()}


class CloudDecodeError(ValueError):
    """A PointCloud2 whose layout contradicts its buffer; the message is dropped."""


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    datatype: int
    count: int = 1


@dataclass(frozen=True)
class CloudLayout:
    fields: tuple[Field, ...]
    point_step: int
    row_step: int
    width: int
    height: int
    is_bigendian: bool = False


def layout_dtype(layout: CloudLayout) -> np.dtype:
    """Structured dtype of one point, padded to ``point_step``; validates every field."""
    if not 0 < layout.point_step <= MAX_POINT_STEP:
        raise CloudDecodeError(f"point_step must be in (0, {MAX_POINT_STEP}], got {layout.point_step}")
    order = ">" if layout.is_bigendian else "<"
    names, formats, offsets = [], [], []
    for f in layout.fields:
        if f.datatype not in DATATYPES:
            raise CloudDecodeError(f"field '{f.name}' has unknown datatype {f.datatype}")
        if f.count < 1:
            continue  # zero-count fields carry no data (seen in some drivers)
        base = np.dtype(order + DATATYPES[f.datatype])
        size = base.itemsize * int(f.count)  # checked before numpy builds a (count,) sub-array
        if f.offset < 0 or f.offset + size > layout.point_step:
            raise CloudDecodeError(
                f"field '{f.name}' (offset {f.offset}, {size} bytes) exceeds point_step {layout.point_step}"
            )
        if not f.name or f.name in names:
            raise CloudDecodeError(f"empty or duplicate field name '{f.name}'")
        names.append(f.name)
        formats.append(base if f.count == 1 else np.dtype((base, (f.count,))))
        offsets.append(f.offset)
    try:
        return np.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": layout.point_step}
        )
    except (ValueError, TypeError) as exc:  # what numpy refuses (e.g. field names it cannot hold)
        raise CloudDecodeError(f"fields do not form a point layout: {exc}") from exc


def decode(layout: CloudLayout, data: bytes | bytearray | memoryview) -> np.ndarray:
    """View ``data`` as a flat structured array of ``width * height`` points.

    Raises CloudDecodeError when the buffer is shorter than the layout claims or
    the layout is inconsistent. Row padding (``row_step > width * point_step``) is
    handled by a strided view.
    """
    dtype = layout_dtype(layout)
    w, h = int(layout.width), int(layout.height)
    if w < 0 or h < 0:
        raise CloudDecodeError(f"negative cloud size {w}x{h}")
    n = w * h
    if n == 0:
        return np.zeros(0, dtype=dtype)
    if layout.row_step < w * layout.point_step:
        raise CloudDecodeError(f"row_step {layout.row_step} < width {w} * point_step {layout.point_step}")
    buf = memoryview(data).cast("B") if not isinstance(data, np.ndarray) else data.view(np.uint8).ravel()
    need = (h - 1) * layout.row_step + w * layout.point_step
    if len(buf) < need:
        raise CloudDecodeError(f"buffer has {len(buf)} bytes, layout needs {need} ({w}x{h} points)")
    if layout.row_step == w * layout.point_step:
        return np.frombuffer(buf, dtype=dtype, count=n)
    raw = np.frombuffer(buf, dtype=np.uint8, count=need)
    rows = np.lib.stride_tricks.as_strided(
        raw, shape=(h, w * layout.point_step), strides=(layout.row_step, 1)
    )
    return np.ascontiguousarray(rows).view(dtype).reshape(n)


def field_f32(points: np.ndarray, name: str) -> np.ndarray:
    """One scalar field as float32 (copy only when the stored type differs)."""
    if name not in (points.dtype.names or ()):
        raise CloudDecodeError(f"cloud has no field '{name}' (fields: {list(points.dtype.names or ())})")
    col = points[name]
    if col.ndim != 1:
        col = col[:, 0]
    return col.astype(np.float32, copy=False)


@njit(cache=True, nogil=True)
def _gather_xyz(src: np.ndarray, step: int, offset: int, n: int, out: np.ndarray) -> None:
    # One pass over the cloud copying x, y, z (12 bytes, a constant so the copy unrolls) per
    # point: numpy's three strided column copies walk the buffer three times (bench_decode.py
    # measures both), and the raw subscription path is budgeted at 1 ms for 230k points.
    for i in range(n):
        b = i * step + offset
        o = i * 12
        for j in range(12):
            out[o + j] = src[b + j]


def _packed_xyz_offset(points: np.ndarray, names: tuple[str, str, str]) -> int | None:
    """Offset of x when x, y, z are consecutive native float32 fields of a contiguous array."""
    fields = points.dtype.fields or {}
    if not points.flags.c_contiguous or any(n not in fields for n in names):
        return None
    f32 = np.dtype("=f4")
    (dx, ox), (dy, oy), (dz, oz) = (fields[n][:2] for n in names)
    if dx == dy == dz == f32 and oy == ox + 4 and oz == ox + 8:
        return int(ox)
    return None


def xyz_f32(points: np.ndarray, names: tuple[str, str, str] = ("x", "y", "z")) -> np.ndarray:
    """(N, 3) contiguous float32 positions from the named fields."""
    n = points.shape[0]
    out = np.empty((n, 3), dtype=np.float32)
    off = _packed_xyz_offset(points, names) if n else None
    if off is not None:
        src = points.view(np.uint8).reshape(-1)
        _gather_xyz(src, points.dtype.itemsize, off, n, out.reshape(-1).view(np.uint8))
        return out
    for i, name in enumerate(names):
        out[:, i] = field_f32(points, name)
    return out


def encode(columns: dict[str, np.ndarray]) -> tuple[CloudLayout, bytes]:
    """Pack named 1-D columns of equal length into an unorganised cloud (height 1).

    Column dtypes map to PointField datatypes; fields are laid out in the given
    order without padding.
    """
    names = list(columns)
    arrays = [np.asarray(columns[k]) for k in names]
    n = arrays[0].shape[0] if arrays else 0
    fields, formats, offset = [], [], 0
    for name, arr in zip(names, arrays):
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ValueError(f"column '{name}' must be 1-D with {n} entries, got shape {arr.shape}")
        code = arr.dtype.newbyteorder("=").str[1:]
        if code not in DATATYPE_OF:
            raise ValueError(f"column '{name}' has unsupported dtype {arr.dtype}")
        fields.append(Field(name, offset, DATATYPE_OF[code], 1))
        formats.append("<" + code)
        offset += arr.dtype.itemsize
    dtype = np.dtype(
        {"names": names, "formats": formats, "offsets": [f.offset for f in fields], "itemsize": offset}
    )
    packed = np.empty(n, dtype=dtype)
    for name, arr in zip(names, arrays):
        packed[name] = arr
    layout = CloudLayout(tuple(fields), offset, offset * n, n, 1, False)
    return layout, packed.tobytes()
