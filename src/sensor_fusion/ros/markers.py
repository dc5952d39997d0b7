"""RViz markers for tracks: boxes coloured by class, id/class/speed labels, velocity arrows; and the
LiDAR detector's static structure cells (why a hedge or a wall yields no box)."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from ..core.classes import ObjectClass
from ..core.geometry import yaw_to_quat
from ..core.types import Tracks
from ..perception.lidar import StructureMap
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


STRUCTURE_RGBA = (0.55, 0.45, 0.35, 0.5)  # a muted brown: background, not an object class
STRUCTURE_HEIGHT_M = 0.05  # flat squares on the ground under the vehicle


# The points of the last map drawn: the pipeline takes a new map once a second (a new object), and
# one Point per cell costs ~1.7 us (25 ms for 15k cells), too much to repeat on every frame
_drawn: list = [None, []]


def structure_marker(structure: StructureMap, stamp_ns: int, ground_z: float) -> Marker:
    """One CUBE_LIST of the cells the LiDAR detector holds as structure, flat at ``ground_z`` (the
    marker's pose; the cell points at z = 0 are built once per map)."""
    if _drawn[0] is not structure:
        _drawn[:] = [structure, [Point(x=float(x), y=float(y), z=0.0) for x, y in structure.xy]]
    m = Marker(ns="structure/cells", id=0, type=Marker.CUBE_LIST, action=Marker.ADD)
    m.header.stamp, m.header.frame_id = time_msg(stamp_ns), structure.frame_id
    m.pose.position.z = float(ground_z)
    m.pose.orientation.w = 1.0
    m.scale.x = m.scale.y = float(structure.cell_m)
    m.scale.z = STRUCTURE_HEIGHT_M
    r, g, b, a = STRUCTURE_RGBA
    m.color = ColorRGBA(r=r, g=g, b=b, a=a)
    m.points = _drawn[1]
    return m


def track_markers(
    tracks: Tracks,
    lifetime_s: float = 0.5,
    structure: StructureMap | None = None,
    ground_z: float = 0.0,
) -> MarkerArray:
    """DELETEALL then one box, label and arrow per track (ids reused so RViz updates in place),
    and the ``structure`` cells (in their own frame) at ``ground_z`` when given."""
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
    if structure is not None and len(structure.xy):
        out.markers.append(structure_marker(structure, tracks.stamp_ns, ground_z))
    return out
