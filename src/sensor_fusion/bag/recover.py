"""Read what a killed recorder or a full disk leaves: an MCAP bag cut at any byte.

rosbags needs the MCAP summary section and ``metadata.yaml``, both written only when a
writer closes; a bag cut short has neither and rosbags refuses it whole (``File end magic
is invalid``). This module reads the MCAP records front to back instead (framing from
https://mcap.dev/spec: magic, then records of ``opcode u8 | length u64 LE | body``) and keeps
everything up to the last complete chunk; the first record that runs past the end of the
file, or a chunk whose checksum or compression fails, ends the read.

Scanning decompresses every chunk once (to find channels, counts and the time span) but keeps
only offsets; :func:`messages` decompresses chunk by chunk again, so memory stays bounded by a
few chunks whatever the bag's size.
"""

from __future__ import annotations

import heapq
import mmap
import os
import struct
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"\x89MCAP0\r\n"
OP_FOOTER, OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK = 0x02, 0x03, 0x04, 0x05, 0x06
_U16, _U32, _U64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")


class TruncatedBagError(ValueError):
    """Nothing could be recovered (not an MCAP file, or cut before its first complete chunk)."""


@dataclass(frozen=True)
class ChunkRef:
    """Where a chunk's records lie in the file; ``compression`` None: top-level (unchunked) records."""

    offset: int
    size: int
    compression: str | None
    uncompressed_size: int
    crc: int
    start_ns: int


@dataclass
class Recovered:
    """What :func:`scan` found in one MCAP file."""

    path: Path
    file_bytes: int
    good_bytes: int = 0  # the file up to the end of the last complete record
    channels: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (topic, msgtype)
    counts: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    chunks: list[ChunkRef] = field(default_factory=list)
    start_ns: int | None = None
    end_ns: int | None = None
    stop_reason: str = "end of file"

    @property
    def message_count(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        span = (self.end_ns - self.start_ns) / 1e9 if self.start_ns is not None else 0.0
        return (
            f"recovered {self.message_count} messages over {span:.1f} s "
            f"({self.good_bytes} of {self.file_bytes} bytes; stopped at: {self.stop_reason})"
        )


def _string(buf: memoryview, pos: int) -> tuple[str, int]:
    (n,) = _U32.unpack_from(buf, pos)
    pos += 4
    if pos + n > len(buf):
        raise ValueError("string runs past its record")
    return bytes(buf[pos : pos + n]).decode(), pos + n


def _decompress(data: bytes, compression: str, size: int, crc: int) -> bytes:
    if compression == "":
        out = data
    elif compression == "zstd":
        try:
            from compression import zstd  # type: ignore[import-not-found]
        except ImportError:
            from backports import zstd  # type: ignore[import-not-found,no-redef]
        out = zstd.decompress(data)
    elif compression == "lz4":
        from lz4.frame import decompress

        out = decompress(data)
    else:
        raise ValueError(f"unsupported chunk compression {compression!r}")
    if len(out) != size:
        raise ValueError(f"chunk decompressed to {len(out)} bytes, header says {size}")
    if crc and zlib.crc32(out) != crc:
        raise ValueError("chunk checksum mismatch")
    return out


def _records(buf: memoryview, pos: int = 0) -> Iterator[tuple[int, int, int]]:
    """(opcode, body start, body end) of each complete record from ``pos``; stops at a cut one."""
    n = len(buf)
    while pos + 9 <= n:
        op = buf[pos]
        (length,) = _U64.unpack_from(buf, pos + 1)
        start = pos + 9
        if start + length > n:
            return
        yield op, start, start + length
        pos = start + length


def _chunk_body(buf: memoryview, start: int, end: int) -> tuple[int, int, int, str, int, int]:
    """(message start ns, uncompressed size, crc, compression, data offset, data size) of a chunk."""
    t_start, _t_end, usize = struct.unpack_from("<QQQ", buf, start)
    (crc,) = _U32.unpack_from(buf, start + 24)
    compression, pos = _string(buf, start + 28)
    (csize,) = _U64.unpack_from(buf, pos)
    pos += 8
    if pos + csize > end:
        raise ValueError("chunk data runs past its record")
    return t_start, usize, crc, compression, pos, csize


class _Scanner:
    def __init__(self, rec: Recovered):
        self.rec = rec
        self.schemas: dict[int, str] = {}

    def inner(self, buf: memoryview, records: Iterable[tuple[int, int, int]]) -> None:
        """Schemas, channels and message counts of ``records`` (opcode, body start, body end)."""
        rec = self.rec
        for op, s, _e in records:
            if op == OP_SCHEMA:
                (sid,) = _U16.unpack_from(buf, s)
                self.schemas[sid], _ = _string(buf, s + 2)
            elif op == OP_CHANNEL:
                cid, sid = struct.unpack_from("<HH", buf, s)
                topic, _ = _string(buf, s + 4)
                rec.channels[cid] = (topic, self.schemas.get(sid, ""))
            elif op == OP_MESSAGE:
                (cid,) = _U16.unpack_from(buf, s)
                (t,) = _U64.unpack_from(buf, s + 6)
                rec.counts[cid] += 1
                rec.start_ns = t if rec.start_ns is None else min(rec.start_ns, t)
                rec.end_ns = t if rec.end_ns is None else max(rec.end_ns, t)


def scan(path: str | Path) -> Recovered:
    """Index every complete record of the MCAP file ``path`` (memory-mapped: not read into memory)."""
    path = Path(path)
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < len(MAGIC) or f.read(len(MAGIC)) != MAGIC:
            raise TruncatedBagError(f"{path}: not an MCAP file (no start magic)")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            buf = memoryview(mm)
            try:
                return _scan(path, buf)
            finally:
                buf.release()


def _scan(path: Path, buf: memoryview) -> Recovered:
    rec = Recovered(path, len(buf))
    data = buf
    sc = _Scanner(rec)
    top: list[tuple[int, int, int]] = []
    rec.good_bytes = len(MAGIC)
    for op, s, e in _records(buf, len(MAGIC)):
        if op == OP_CHUNK:
            try:
                t0, usize, crc, comp, off, csize = _chunk_body(buf, s, e)
                inner = memoryview(_decompress(bytes(buf[off : off + csize]), comp, usize, crc))
                sc.inner(inner, list(_records(inner)))
            except (ValueError, struct.error) as exc:
                rec.stop_reason = f"bad chunk at byte {s - 9}: {exc}"
                break
            rec.chunks.append(ChunkRef(off, csize, comp, usize, crc, t0))
        elif op == OP_FOOTER and bytes(data[e:]) == MAGIC:  # a complete file
            rec.good_bytes = len(data)
            break
        elif op in (OP_SCHEMA, OP_CHANNEL, OP_MESSAGE):
            sc.inner(buf, [(op, s, e)])
            if op == OP_MESSAGE:
                top.append((op, s, e))
        rec.good_bytes = e
    else:
        if rec.good_bytes < len(data):
            rec.stop_reason = f"record cut at byte {rec.good_bytes}"
    if top:  # unchunked messages: one pseudo-chunk spanning them
        first, last = top[0][1] - 9, top[-1][2]
        rec.chunks.append(ChunkRef(first, last - first, None, last - first, 0, 0))
    return rec


def _chunk_messages(rec: Recovered, ref: ChunkRef, cids: set[int], f) -> Iterator[tuple[int, int, bytes]]:
    """(log ns, channel id, payload) of a chunk's wanted messages, sorted by time; the first item is
    a placeholder at the chunk's start time so a merge opens chunks only when it reaches them."""
    yield ref.start_ns, -1, b""
    f.seek(ref.offset)
    raw = f.read(ref.size)
    if ref.compression is not None:
        raw = _decompress(raw, ref.compression, ref.uncompressed_size, ref.crc)
    data = memoryview(raw)
    out = []
    for op, s, e in _records(data):
        if op == OP_MESSAGE:
            (cid,) = _U16.unpack_from(data, s)
            if cid in cids:
                (t,) = _U64.unpack_from(data, s + 6)
                out.append((t, cid, bytes(data[s + 22 : e])))
    out.sort(key=lambda m: m[0])
    yield from out


def messages(rec: Recovered, topics: Iterable[str] | None = None) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, msgtype, log ns, CDR bytes) of the recovered messages in log-time order."""
    wanted = set(topics) if topics is not None else None
    cids = {c for c, (t, _) in rec.channels.items() if wanted is None or t in wanted}
    with rec.path.open("rb") as f:
        streams = [_chunk_messages(rec, ref, cids, f) for ref in rec.chunks]
        for t, cid, payload in heapq.merge(*streams, key=lambda m: m[0]):
            if cid >= 0:
                topic, msgtype = rec.channels[cid]
                yield topic, msgtype, t, payload


def mcap_files(bag: str | Path) -> list[Path]:
    """The MCAP file(s) of a bag directory (or the file itself)."""
    bag = Path(bag)
    if bag.is_file():
        return [bag]
    return sorted(bag.glob("*.mcap"))
