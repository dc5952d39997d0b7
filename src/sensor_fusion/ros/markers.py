"""RViz markers for tracks: boxes coloured by class, id/class/speed labels, velocity arrows."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from ..core.classes import ObjectClass
from ..core.geometry import yaw_to_quat
from ..core.types import Tracks
from .convert import duration_msg, time_msg

CLASS_RGB = {
    ObjectClass.UNKNOWN: (0.7, 0.7, 0.7),
    ObjectClass.CAR: (0.1, 0.6, 1.0),
    ObjectClass.TRUCK: (1.0, 0.55, 0.0),
    ObjectClass.BUS: (1.0, 0.85, 0.0),
    ObjectClass.TRAILER: (0.8, 0.5, 0.2),
    ObjectClass.MOTORCYCLE: (0.8, 0.2, 0.8),
    ObjectClass.BICYCLE: (0.2, 0.9, 0.3),
    ObjectClass.PEDESTRIAN: (1.0, 0.2, 0.2),
}


def _color(label: int, alpha: float) -> ColorRGBA:
    r, g, b = CLASS_RGB.get(
        ObjectClass(label) if label in ObjectClass._value2member_map_ else 0, (0.7, 0.7, 0.7)
    )
    return ColorRGBA(r=r, g=g, b=b, a=alpha)


def track_markers(tracks: Tracks, lifetime_s: float = 0.5) -> MarkerArray:
    """DELETEALL then one box, label and arrow per track (ids reused so RViz updates in place)."""
    out = MarkerArray()
    clear = Marker(action=Marker.DELETEALL)
    clear.header.frame_id = tracks.frame_id
    out.markers.append(clear)
    stamp = time_msg(tracks.stamp_ns)
    q = yaw_to_quat(tracks.yaw)
    life = duration_msg(int(lifetime_s * 1e9))
    for i in range(len(tracks)):
        tid = int(tracks.ids[i]) % (2**31 - 1)
        x, y, z = float(tracks.state[i, 0]), float(tracks.state[i, 1]), float(tracks.z[i])
        vx, vy = float(tracks.state[i, 2]), float(tracks.state[i, 3])
        label = int(tracks.labels[i])
        box = Marker(ns="tracks/boxes", id=tid, type=Marker.CUBE, action=Marker.ADD, lifetime=life)
        box.header.stamp, box.header.frame_id = stamp, tracks.frame_id
        box.pose.position = Point(x=x, y=y, z=z)
        box.pose.orientation.z, box.pose.orientation.w = float(q[i, 2]), float(q[i, 3])
        box.scale.x, box.scale.y, box.scale.z = (max(float(v), 0.05) for v in tracks.sizes[i])
        box.color = _color(label, 0.45)
        text = Marker(
            ns="tracks/labels", id=tid, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, lifetime=life
        )
        text.header = box.header
        text.pose.position = Point(x=x, y=y, z=z + 0.5 * float(tracks.sizes[i, 2]) + 0.6)
        text.scale.z = 0.8
        text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        name = ObjectClass(label).name.lower() if label in ObjectClass._value2member_map_ else "?"
        text.text = f"#{int(tracks.ids[i])} {name} {np.hypot(vx, vy):.1f} m/s"
        arrow = Marker(ns="tracks/velocity", id=tid, type=Marker.ARROW, action=Marker.ADD, lifetime=life)
        arrow.header = box.header
        arrow.points = [Point(x=x, y=y, z=z), Point(x=x + vx, y=y + vy, z=z)]
        arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.15, 0.4, 0.4
        arrow.color = _color(label, 1.0)
        out.markers.extend((box, text, arrow))
    return out
