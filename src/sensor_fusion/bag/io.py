"""rosbag2 (MCAP) reading and writing.

``rosbags`` handles the container (rosbag2 is not on PyPI); messages are built
and (de)serialised with rclpy's own CDR code, so the bag edge and the live node
share one set of message builders and decoders (``ros/convert.py``). The
typestore supplies each topic's message definition for the bag's schema.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from .typestore import typestore


def msgtype_of(msg) -> str:
    """``pkg/msg/Name`` of an rclpy message instance."""
    cls = type(msg)
    return f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"


def message_class(msgtype: str):
    pkg, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


class BagWriter:
    """Write rclpy messages into a new MCAP rosbag2; topics are added on first use."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(
                f"{self.path} exists; rosbag2 bags are directories and are never overwritten"
            )
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._conns: dict[str, object] = {}
        self._store = typestore()

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc) -> None:
        self._writer.close()

    def write(self, topic: str, msg, log_time_ns: int) -> None:
        conn = self._conns.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype_of(msg), typestore=self._store)
            self._conns[topic] = conn
        self._writer.write(conn, int(log_time_ns), serialize_message(msg))

    def write_raw(self, topic: str, msgtype: str, data: bytes, log_time_ns: int) -> None:
        """Write CDR bytes serialised elsewhere (types without an rclpy package here, e.g. tf2_msgs)."""
        conn = self._conns.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=self._store)
            self._conns[topic] = conn
        self._writer.write(conn, int(log_time_ns), data)


def importable(msgtype: str) -> bool:
    """Whether this Python has the message package (tf2_msgs, for one, has no PyPI wheel)."""
    try:
        message_class(msgtype)
    except (ImportError, AttributeError):
        return False
    return True


def bag_topics(path: str | Path) -> dict[str, tuple[str, int]]:
    """Topic -> (msgtype, message count)."""
    with Reader(path) as reader:
        return {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}


def read_messages(
    path: str | Path, topics: Iterable[str] | None = None
) -> Iterator[tuple[str, str, int, object]]:
    """Yield (topic, msgtype, log_time_ns, rclpy message) in log-time order."""
    wanted = set(topics) if topics is not None else None
    with Reader(path) as reader:
        conns = [
            c for c in reader.connections if (wanted is None or c.topic in wanted) and importable(c.msgtype)
        ]
        classes = {c.msgtype: message_class(c.msgtype) for c in conns}
        for conn, t, raw in reader.messages(connections=conns):
            yield conn.topic, conn.msgtype, t, deserialize_message(bytes(raw), classes[conn.msgtype])
