"""A pipeline output as the messages the node publishes and offline runs record.

The one place outputs become messages: :func:`output_messages` gives ``(topic, message)``
pairs with topics relative to the node (``tracked_objects``, ``detections/<source>``, ...);
the node publishes them on ``~/<topic>``, offline runs write them to ``/fusion_node/<topic>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ego.odom import EgoOutput
from ..pipeline import PipelineOutput
from . import convert
from .markers import track_markers
from .tf import TF_TOPIC, TFMessage, configured_transforms

TRACKS = "tracked_objects"
MARKERS = "markers"
ODOMETRY = "ego_odom"
TIMING = "timing"
DETECTIONS_PREFIX = "detections/"


def detections_topic(source: str) -> str:
    """Relative topic of one detection source (``lidar``, a radar name, ``bev``)."""
    return f"{DETECTIONS_PREFIX}{source}"


def output_messages(
    out: PipelineOutput,
    uuid_ns: bytes,
    fixed_frame: str,
    base_frame: str,
    *,
    markers: bool = False,
    detections: bool = True,
) -> list[tuple[str, Any]]:
    """``(topic, message)`` for one frame: tracks, RViz ``markers`` if asked, each source's
    ``detections`` if asked, the stage timings. The odometry has its own rate:
    :func:`odometry_messages`.

    ``uuid_ns`` makes the track UUIDs (see :func:`convert.track_uuid`).
    """
    msgs: list[tuple[str, Any]] = [(TRACKS, convert.tracks_msg(out.tracks, uuid_ns))]
    if markers:
        # the structure cells lie in the tracking frame; drawn flat at the vehicle's height there
        ground_z = float(out.ego.position[2]) if out.ego is not None else 0.0
        msgs.append((MARKERS, track_markers(out.tracks, structure=out.structure, ground_z=ground_z)))
    if detections:
        msgs += [(detections_topic(src), convert.detections_msg(det)) for src, det in out.detections.items()]
    msgs.append((TIMING, convert.timing_msg(out.stamp_ns, out.timing, out.missing)))
    return msgs


def odometry_message(out: EgoOutput, map_frame: str, base_frame: str) -> tuple[str, Any]:
    """``(ODOMETRY, nav_msgs/Odometry)`` of one ego output: the filter's pose in ``map_frame``
    (GNSS-referenced, its best estimate); the continuous odom pose goes out as TF."""
    return ODOMETRY, convert.odometry_msg(out.stamp_ns, map_frame, base_frame, out.pose)


def frame_messages(
    out: PipelineOutput, uuid_ns: bytes, cfg, wanted: Callable[[str], bool]
) -> list[tuple[str, Any]]:
    """:func:`output_messages` with the node's settings: markers and detections only where
    ``wanted(topic)`` (someone subscribes; on the fusion thread they cost about half as much CPU as
    the frame itself, py-spy on 128-beam sweeps)."""
    detections = cfg["publish_detections"] and any(wanted(detections_topic(src)) for src in out.detections)
    return output_messages(
        out,
        uuid_ns,
        cfg["fixed_frame"],
        cfg["base_frame"],
        markers=cfg["publish_markers"] and wanted(MARKERS),
        detections=detections,
    )


def ego_messages(out: EgoOutput, cfg, tf: bool) -> list[tuple[str, Any]]:
    """Odometry (``map``) and, with ``tf``, ``/tf`` (map -> odom -> base_link as configured) of one
    ego output."""
    msgs = [odometry_message(out, cfg["map_frame"], cfg["base_frame"])]
    if tf:
        msgs.append((TF_TOPIC, TFMessage(transforms=configured_transforms(out, cfg))))
    return msgs
