"""rosbag2 (MCAP) reading and writing.

``rosbags`` handles the container (rosbag2 is not on PyPI); messages are built
and (de)serialised with rclpy's own CDR code, so the bag edge and the live node
share one set of message builders and decoders (``ros/convert.py``). The
typestore supplies each topic's message definition for the bag's schema.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.rosbag2.errors import ReaderError
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from . import recover
from .typestore import LOCAL_PACKAGES, typestore

log = logging.getLogger(__name__)

# What a SIGKILL can lose is the chunk being filled (closed chunks are handed to the OS at once,
# so they survive the process; not a power cut, which would need an fsync per chunk).
# rosbags closes a chunk at 1 MiB of records (fixed in its MCAP writer); we also close it at the
# first write FLUSH_INTERVAL_S (wall time) after the chunk's first message. So a kill loses
# about min(1 MiB, 1 s) of output: ~1 s of a slow output stream (tracks at 10 Hz: 10 frames),
# a few sensor messages of a fast one (a 16-beam sweep is ~0.5 MB). 1 s matches the node's
# slowest regular output (GPS, 1-10 Hz) and costs one ~100-byte chunk index record per second.
CHUNK_BYTES = 2**20
FLUSH_INTERVAL_S = 1.0


def msgtype_of(msg) -> str:
    """``pkg/msg/Name`` of an rclpy message instance."""
    cls = type(msg)
    return f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"


def message_class(msgtype: str):
    pkg, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


class BagWriter:
    """Write rclpy messages into a new MCAP rosbag2; topics are added on first use.

    Chunks are closed at ``CHUNK_BYTES`` (rosbags) or ``flush_s`` after the chunk's first message,
    whichever comes first, and flushed to the OS at once: a killed writer leaves an MCAP file that
    :mod:`.recover` reads up to that chunk. ``__exit__`` closes the file properly on any exception
    (the CLI turns SIGINT and SIGTERM into one), writing the summary and ``metadata.yaml``.
    """

    def __init__(self, path: str | Path, flush_s: float = FLUSH_INTERVAL_S):
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(
                f"{self.path} exists; rosbag2 bags are directories and are never overwritten"
            )
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._conns: dict[str, object] = {}
        self._store = typestore()
        self.flush_s = flush_s
        self._chunk_t0: float | None = None  # wall time of the open chunk's first message
        self._nchunks = 0
        self._previous: dict[int, Callable] = {}  # the SIGINT/SIGTERM handlers we defer
        self._writing = False
        self._pending: tuple[int, object] | None = None

    def __enter__(self) -> BagWriter:
        self._writer.open()
        self._defer_signals()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._writer.close()
        finally:
            for sig, prev in self._previous.items():
                if signal.getsignal(sig) == self._on_signal:
                    signal.signal(sig, prev)
            self._previous = {}

    def _defer_signals(self) -> None:
        """Hold SIGINT/SIGTERM (raised as exceptions by their Python handlers) while a message is
        written. rosbags stores a message before it counts it: an interrupt between the two closed
        the bag with ``metadata.yaml`` one message short of the file (seen in tests/bag/test_kill).
        Only the main thread can set handlers; elsewhere nothing is deferred. Nor is it while
        rclpy is initialised: its handlers sit below Python's, and setting one would replace them."""
        if threading.current_thread() is not threading.main_thread():
            return
        rclpy = sys.modules.get("rclpy")
        if rclpy is not None and rclpy.ok():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            prev = signal.getsignal(sig)
            if callable(prev):  # SIG_DFL/SIG_IGN stay: they raise nothing in Python
                self._previous[sig] = prev
                signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame) -> None:
        if self._writing:
            self._pending = (signum, frame)
        else:
            self._previous[signum](signum, frame)

    def _write(self, conn, log_time_ns: int, data: bytes) -> None:
        self._writing = True
        try:
            self._writer.write(conn, log_time_ns, data)
            self._after_write()
        finally:
            self._writing = False
        if self._pending is not None:
            (signum, frame), self._pending = self._pending, None
            self._previous[signum](signum, frame)

    def _after_write(self) -> None:
        """Close the open chunk when it is ``flush_s`` old; push closed chunks to the OS."""
        storage = self._writer.storage  # rosbags' McapWriter: close_chunk(), chunks, bio
        now = time.monotonic()
        if self._chunk_t0 is None:
            self._chunk_t0 = now
        elif now - self._chunk_t0 >= self.flush_s:
            storage.close_chunk()
        if len(storage.chunks) != self._nchunks:  # a chunk was closed (here or at 1 MiB)
            self._nchunks = len(storage.chunks)
            storage.bio.flush()
            self._chunk_t0 = None

    def write(self, topic: str, msg, log_time_ns: int) -> None:
        conn = self._conns.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype_of(msg), typestore=self._store)
            self._conns[topic] = conn
        self._write(conn, int(log_time_ns), serialize_message(msg))

    def write_raw(self, topic: str, msgtype: str, data: bytes, log_time_ns: int) -> None:
        """Write CDR bytes serialised elsewhere (types without an rclpy package here, e.g. tf2_msgs)."""
        conn = self._conns.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=self._store)
            self._conns[topic] = conn
        self._write(conn, int(log_time_ns), data)


def importable(msgtype: str) -> bool:
    """Whether this Python has the message package (tf2_msgs, for one, has no PyPI wheel)."""
    try:
        message_class(msgtype)
    except (ImportError, AttributeError):
        return False
    return True


_recovered: dict[tuple[str, int, int], recover.Recovered] = {}


def _salvage(path: str | Path, exc: Exception) -> recover.Recovered | None:
    """The readable part of a bag rosbags refused (cut short: no summary, no metadata.yaml), or None
    when there is nothing to salvage. Warns once per file, saying how much was recovered."""
    files = recover.mcap_files(path) if Path(path).exists() else []
    if len(files) != 1:
        return None
    st = files[0].stat()
    key = (str(files[0].resolve()), st.st_size, st.st_mtime_ns)
    if key not in _recovered:
        try:
            rec = recover.scan(files[0])
        except recover.TruncatedBagError:
            return None
        if not rec.channels:
            return None
        _recovered[key] = rec
        log.warning("%s is incomplete (%s): %s", path, str(exc).rstrip("."), rec.summary())
    return _recovered[key]


def _open(path: str | Path) -> Reader | recover.Recovered:
    """A rosbags reader, or the salvaged part of a bag cut short."""
    if not Path(path).exists():
        raise FileNotFoundError(f"bag {path} does not exist")
    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, FileNotFoundError) as exc:
        rec = _salvage(path, exc)
        if rec is None:
            raise ReaderError(f"cannot read bag {path}: {str(exc).rstrip('.')}") from exc
        return rec
    return reader


def bag_topics(path: str | Path) -> dict[str, tuple[str, int]]:
    """Topic -> (msgtype, message count)."""
    src = _open(path)
    if isinstance(src, recover.Recovered):
        return {topic: (mt, src.counts.get(cid, 0)) for cid, (topic, mt) in src.channels.items()}
    try:
        return {c.topic: (c.msgtype, c.msgcount) for c in src.connections}
    finally:
        src.close()


def read_raw_messages(
    path: str | Path, topics: Iterable[str] | None = None
) -> Iterator[tuple[str, str, int, bytes]]:
    """Yield (topic, msgtype, log_time_ns, serialized CDR bytes) in log-time order, for topics whose
    message package is importable (what a publisher can send as it is: the replay needs no
    deserialising and re-serialising of 1.5 MB clouds)."""
    wanted = set(topics) if topics is not None else None
    src = _open(path)
    if isinstance(src, recover.Recovered):
        names = {t for t, mt in src.channels.values() if (wanted is None or t in wanted) and importable(mt)}
        for topic, mt, t, raw in recover.messages(src, names):
            yield topic, mt, t, bytes(raw)
        return
    try:
        conns = [
            c for c in src.connections if (wanted is None or c.topic in wanted) and importable(c.msgtype)
        ]
        for conn, t, raw in src.messages(connections=conns):
            yield conn.topic, conn.msgtype, t, bytes(raw)
    finally:
        src.close()


def older_definitions(path: str | Path):
    """A typestore of the bag's own definitions of this repository's message types, when the bag
    was written with definitions that differ from today's (a field added since: rclpy's CDR
    reader would misread every later byte); None when they agree or the bag does not say."""
    src = _open(path)
    if isinstance(src, recover.Recovered):
        return None
    try:
        current, older = typestore().fielddefs, {}
        for conn in src.connections:
            if not conn.msgtype.startswith(LOCAL_PACKAGES) or not getattr(conn.msgdef, "data", ""):
                continue
            types = get_types_from_msg(conn.msgdef.data, conn.msgtype)
            if any(n.startswith(LOCAL_PACKAGES) and current.get(n) != f for n, f in types.items()):
                older.update(types)
    finally:
        src.close()
    if not older:
        return None
    store = get_typestore(Stores.ROS2_KILTED)
    store.register({k: v for k, v in older.items() if k.startswith(LOCAL_PACKAGES)})
    log.info("%s was written with older definitions of %s: read with the bag's own, new fields at "
             "their defaults", path, sorted(k for k in older if k.startswith(LOCAL_PACKAGES)))  # fmt: skip
    return store


def _to_rclpy(obj, cls):
    """A rosbags message (the bag's definition) as today's rclpy class: fields matched by name,
    fields the bag lacks keep their defaults."""
    msg = cls()
    for name, kind in cls.get_fields_and_field_types().items():
        if not hasattr(obj, name):
            continue
        value = getattr(obj, name)
        base = kind.split("<")[-1].rstrip(">").split("[")[0]
        if "/" in base:  # nested message(s)
            sub = message_class(base.replace("/", "/msg/", 1))
            is_seq = kind.startswith("sequence") or "[" in kind
            value = [_to_rclpy(v, sub) for v in value] if is_seq else _to_rclpy(value, sub)
        elif hasattr(value, "tolist"):
            value = value.tolist()
        setattr(msg, name, value)
    return msg


def read_messages(
    path: str | Path, topics: Iterable[str] | None = None
) -> Iterator[tuple[str, str, int, object]]:
    """Yield (topic, msgtype, log_time_ns, rclpy message) in log-time order. A bag written with
    older definitions of this repository's messages is read with its own definitions."""
    classes: dict[str, type] = {}
    older = older_definitions(path)
    for topic, mt, t, raw in read_raw_messages(path, topics):
        cls = classes.get(mt)
        if cls is None:
            cls = classes[mt] = message_class(mt)
        if older is not None and mt in older.fielddefs:
            yield topic, mt, t, _to_rclpy(older.deserialize_cdr(raw, mt), cls)
        else:
            yield topic, mt, t, deserialize_message(raw, cls)
