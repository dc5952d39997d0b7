"""Views of serialized (CDR) PointCloud2, Image and CompressedImage messages, without copying the payload.

Why our own parser: a typed rclpy subscription turns the ``uint8[] data`` of a 230k-point cloud into
Python objects before our callback runs (about 9 ms, most of a frame's decode budget), and
``rosbags``' CDR deserializer copies the payload too. A raw subscription (``raw=True``) hands us the
serialized bytes; these messages are a short header and one big octet sequence, so reading the
header by hand and viewing ``data`` in place costs microseconds. Only these three large types are
parsed here; small messages keep the typed path.

The wire format is XCDR1 as ROS 2's middlewares write it: a 4-byte encapsulation header (``00 01``
little endian, ``00 00`` big endian), then each primitive aligned to its size relative to the end
of that header; strings are a uint32 length that counts a trailing NUL, sequences a uint32 count.

The bytes are untrusted (anything on the network can publish): every length is checked against
the buffer and against sane limits before it is used, and any inconsistency raises
:class:`CdrError` (the caller counts the message as malformed and drops it). Nothing here trusts
a length to allocate memory: the payload is a ``memoryview`` slice of the input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAX_STRING = 4096  # frame ids, field names, encodings: far below this in every driver
MAX_FIELDS = 256  # PointField entries; real drivers publish fewer than 20


class CdrError(ValueError):
    """Serialized bytes that are not a well-formed message of the expected type."""


@dataclass(frozen=True)
class Stamp:
    sec: int
    nanosec: int


@dataclass(frozen=True)
class Header:
    stamp: Stamp
    frame_id: str


@dataclass(frozen=True)
class PointField:
    name: str
    offset: int
    datatype: int
    count: int


@dataclass(frozen=True)
class RawPointCloud2:
    """The fields of ``sensor_msgs/PointCloud2`` that decoding reads; ``data`` views the input."""

    header: Header
    height: int
    width: int
    fields: tuple[PointField, ...]
    is_bigendian: bool
    point_step: int
    row_step: int
    data: memoryview
    is_dense: bool


@dataclass(frozen=True)
class RawImage:
    header: Header
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: memoryview


@dataclass(frozen=True)
class RawCompressedImage:
    header: Header
    format: str
    data: memoryview


class _Reader:
    """Sequential XCDR1 reads with alignment and bounds checks."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        buf = memoryview(data).cast("B") if not isinstance(data, memoryview) else data.cast("B")
        if len(buf) < 4:
            raise CdrError(f"{len(buf)} bytes: shorter than the encapsulation header")
        kind = bytes(buf[:2])
        if kind == b"\x00\x01":
            self.e = "<"
        elif kind == b"\x00\x00":
            self.e = ">"
        else:
            raise CdrError(f"unsupported encapsulation {kind.hex()} (expected XCDR1: 0000 or 0001)")
        self.buf = buf[4:]
        self.pos = 0

    def _take(self, size: int, align: int) -> int:
        self.pos += -self.pos % align
        start = self.pos
        if start + size > len(self.buf):
            raise CdrError(f"truncated: needs {start + size} bytes after the header, has {len(self.buf)}")
        self.pos = start + size
        return start

    def u8(self) -> int:
        return self.buf[self._take(1, 1)]

    def u32(self) -> int:
        return struct.unpack_from(self.e + "I", self.buf, self._take(4, 4))[0]

    def i32(self) -> int:
        return struct.unpack_from(self.e + "i", self.buf, self._take(4, 4))[0]

    def string(self) -> str:
        n = self.u32()
        if n > MAX_STRING:
            raise CdrError(f"string of {n} bytes (limit {MAX_STRING})")
        if n == 0:  # not what a conforming writer emits (it counts the NUL), but harmless
            return ""
        start = self._take(n, 1)
        raw = bytes(self.buf[start : start + n])
        if raw[-1] != 0:
            raise CdrError("string is not NUL-terminated")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CdrError(f"string is not UTF-8: {exc}") from None

    def octets(self) -> memoryview:
        n = self.u32()
        start = self._take(n, 1)
        return self.buf[start : start + n]

    def header(self) -> Header:
        sec = self.i32()
        nanosec = self.u32()
        if nanosec >= 1_000_000_000:
            raise CdrError(f"stamp nanosec {nanosec} >= 1e9")
        return Header(Stamp(sec, nanosec), self.string())


def parse_pointcloud2(data: bytes | bytearray | memoryview) -> RawPointCloud2:
    """``sensor_msgs/PointCloud2`` from its serialized bytes; ``data`` is a view, not a copy."""
    r = _Reader(data)
    header = r.header()
    height, width = r.u32(), r.u32()
    n_fields = r.u32()
    if n_fields > MAX_FIELDS:
        raise CdrError(f"{n_fields} point fields (limit {MAX_FIELDS})")
    fields = []
    for _ in range(n_fields):
        name = r.string()
        offset = r.u32()
        datatype = r.u8()
        fields.append(PointField(name, offset, datatype, r.u32()))
    is_bigendian = bool(r.u8())
    point_step, row_step = r.u32(), r.u32()
    payload = r.octets()
    is_dense = bool(r.u8())
    return RawPointCloud2(
        header, height, width, tuple(fields), is_bigendian, point_step, row_step, payload, is_dense
    )


def parse_image(data: bytes | bytearray | memoryview) -> RawImage:
    """``sensor_msgs/Image`` from its serialized bytes; ``data`` is a view, not a copy."""
    r = _Reader(data)
    header = r.header()
    height, width = r.u32(), r.u32()
    encoding = r.string()
    is_bigendian = r.u8()
    step = r.u32()
    return RawImage(header, height, width, encoding, is_bigendian, step, r.octets())


def parse_compressed_image(data: bytes | bytearray | memoryview) -> RawCompressedImage:
    """``sensor_msgs/CompressedImage`` from its serialized bytes; ``data`` is a view, not a copy."""
    r = _Reader(data)
    header = r.header()
    fmt = r.string()
    return RawCompressedImage(header, fmt, r.octets())
