"""TF at the ROS edge: the REP-105 transforms of an ego output, extrinsics from ``/tf_static``.

``tf2_msgs`` has no PyPI wheel; scripts/setup_env.sh builds its messages locally (``tf2_msgs/``
beside ``sensor_fusion_msgs/``) when no ROS install provides them. Without it, :data:`TFMessage`
is None: the node then broadcasts no TF (and says so) and offline runs serialise ``/tf`` with
the rosbags typestore instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
from geometry_msgs.msg import TransformStamped

from ..core.calibration import Calibration
from ..core.geometry import make_transform, matrix_to_quat, quat_to_matrix
from ..ego.odom import EgoOutput
from .convert import time_msg

try:
    from tf2_msgs.msg import TFMessage
except ImportError:  # pragma: no cover - depends on the install
    TFMessage = None

TF_TOPIC = "/tf"
TF_STATIC_TOPIC = "/tf_static"


def transform_msg(stamp_ns: int, parent: str, child: str, T: np.ndarray) -> TransformStamped:
    """geometry_msgs/TransformStamped of ``T`` (4, 4), which takes ``child`` points to ``parent``."""
    m = TransformStamped()
    m.header.stamp = time_msg(stamp_ns)
    m.header.frame_id = parent
    m.child_frame_id = child
    tr = m.transform.translation
    tr.x, tr.y, tr.z = (float(v) for v in T[:3, 3])
    q = m.transform.rotation
    q.x, q.y, q.z, q.w = (float(v) for v in matrix_to_quat(T[:3, :3]))
    return m


def ego_transforms(
    out: EgoOutput,
    map_frame: str,
    odom_frame: str,
    base_frame: str,
    *,
    odom: bool = True,
    map_: bool = True,
) -> list[TransformStamped]:
    """``map -> odom`` and ``odom -> base_link`` at the output's stamp (either left out)."""
    tfs = []
    if map_:
        tfs.append(transform_msg(out.stamp_ns, map_frame, odom_frame, out.T_map_odom))
    if odom:
        tfs.append(transform_msg(out.stamp_ns, odom_frame, base_frame, out.T_odom_base))
    return tfs


def configured_transforms(out: EgoOutput, cfg) -> list[TransformStamped]:
    """:func:`ego_transforms` with the node's frames and ``publish_tf_odom`` / ``publish_tf_map``
    (node, worker process and offline run publish the same)."""
    return ego_transforms(
        out,
        cfg["map_frame"],
        cfg["fixed_frame"],
        cfg["base_frame"],
        odom=cfg["publish_tf_odom"],
        map_=cfg["publish_tf_map"],
    )


def tf_raw(transforms: list[TransformStamped]) -> bytes:
    """CDR bytes of a tf2_msgs/TFMessage, through the rosbags typestore (no rclpy tf2_msgs)."""
    from ..bag.typestore import typestore

    ts = typestore()
    T = ts.types
    Time, Hdr = T["builtin_interfaces/msg/Time"], T["std_msgs/msg/Header"]
    V3, Q = T["geometry_msgs/msg/Vector3"], T["geometry_msgs/msg/Quaternion"]
    Tr, TS = T["geometry_msgs/msg/Transform"], T["geometry_msgs/msg/TransformStamped"]
    items = []
    for m in transforms:
        t, r = m.transform.translation, m.transform.rotation
        stamp = Time(sec=m.header.stamp.sec, nanosec=m.header.stamp.nanosec)
        hdr = Hdr(stamp=stamp, frame_id=m.header.frame_id)
        tr = Tr(translation=V3(x=t.x, y=t.y, z=t.z), rotation=Q(x=r.x, y=r.y, z=r.z, w=r.w))
        items.append(TS(header=hdr, child_frame_id=m.child_frame_id, transform=tr))
    msg = T["tf2_msgs/msg/TFMessage"](transforms=items)
    return bytes(ts.serialize_cdr(msg, "tf2_msgs/msg/TFMessage"))


def transform_matrix(m: TransformStamped) -> np.ndarray:
    """(4, 4) of a TransformStamped (child -> parent)."""
    t, r = m.transform.translation, m.transform.rotation
    q = np.array([r.x, r.y, r.z, r.w], dtype=np.float64)
    n = float(np.linalg.norm(q))
    if not np.isfinite(n) or n < 1e-9:
        raise ValueError(f"{m.header.frame_id} -> {m.child_frame_id}: invalid rotation")
    return make_transform(quat_to_matrix(q / n), np.array([t.x, t.y, t.z], dtype=np.float64))


def calibration_from_tf(
    transforms: Iterable[TransformStamped], calibration: Calibration, frames: Iterable[str]
) -> tuple[Calibration, list[str]]:
    """``calibration`` with the extrinsics of ``frames`` taken from static transforms where
    they connect the frame to the base frame; the names of the frames taken from TF.

    Intrinsics stay (they come from CameraInfo or the calibration file). A frame whose TF
    chain does not reach the base frame keeps its calibration-file extrinsic.
    """
    edges: dict[str, tuple[str, np.ndarray]] = {}
    for m in transforms:
        try:
            edges[m.child_frame_id] = (m.header.frame_id, transform_matrix(m))
        except ValueError:
            continue
    tf_cal = Calibration(calibration.base_frame, edges)
    out = dict(calibration.frames)
    taken = []
    for f in frames:
        if f and f != calibration.base_frame and tf_cal.has_frame(f):
            out[f] = (calibration.base_frame, tf_cal.T_base_from(f))
            taken.append(f)
    return replace(calibration, frames=out), taken
