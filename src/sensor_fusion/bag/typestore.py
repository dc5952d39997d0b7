"""A rosbags typestore holding ROS 2 Kilted types plus ``sensor_fusion_msgs`` and ``radar_msgs``.

Bags are read and written with ``rosbags`` (rosbag2 is not on PyPI). Our own
message definitions are registered from the ``.msg`` files: from the installed
interface package when one is on the ament prefix, else from the source tree.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore

MSG_PACKAGE = "sensor_fusion_msgs"
LOCAL_PACKAGES = (MSG_PACKAGE, "radar_msgs")  # interface packages this repository builds


def _msg_dirs(package: str = MSG_PACKAGE) -> list[Path]:
    candidates = []
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    for prefix in prefixes:
        candidates.append(Path(prefix) / "share" / package / "msg")
    # Source checkout: <repo>/src/sensor_fusion/bag/typestore.py -> <repo>/<package>/msg
    candidates.append(Path(__file__).resolve().parents[3] / package / "msg")
    return candidates


def msg_definitions(package: str = MSG_PACKAGE) -> dict[str, str]:
    """Map of ``<package>/msg/Name`` to its .msg text."""
    for d in _msg_dirs(package):
        files = sorted(d.glob("*.msg"))
        if files:
            return {f"{package}/msg/{f.stem}": f.read_text() for f in files}
    raise FileNotFoundError(f"no {package} .msg files found in {[str(d) for d in _msg_dirs(package)]}")


@functools.cache
def typestore():
    """The shared typestore (cached: building it parses every definition)."""
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for package in LOCAL_PACKAGES:
        for name, text in msg_definitions(package).items():
            types.update(get_types_from_msg(text, name))
    store.register(types)
    return store
