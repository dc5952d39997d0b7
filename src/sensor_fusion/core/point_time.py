"""Per-point capture time of a LiDAR cloud, in the layouts real drivers publish.

The core carries each point's time as float32 seconds after the cloud's header stamp
(``PointCloud.time_offset``). Drivers disagree on name, type, unit and reference:

==============  ==============  =======  ==========================  ============================
driver          field           type     unit                        reference
==============  ==============  =======  ==========================  ============================
Velodyne        ``time``        float32  s                           the header stamp
Ouster          ``t``           uint32   ns                          the header stamp (scan start)
Livox           ``offset_time`` uint32   ns                          the header stamp
Hesai           ``timestamp``   float64  s                           absolute (Unix epoch)
RoboSense       ``timestamp``   float64  s                           absolute (Unix epoch)
this generator  ``t``           float32  s                           the header stamp
==============  ==============  =======  ==========================  ============================

``unit="auto"`` takes integer fields as nanoseconds and float fields as seconds (every
layout above), except float epoch times of ms/us/ns magnitude (livox_ros_driver2's float64
``timestamp`` in epoch ns); ``reference="auto"`` takes values beyond ``ABSOLUTE_MIN_S`` (a
day) as absolute epoch times. Reading an Ouster ``t`` as seconds would put points 50 million
seconds after the stamp, so a result outside ``MAX_SPAN_S`` of the stamp is refused
with a message that names the field, its type and the unit used.
"""

from __future__ import annotations

import numpy as np

from .pointfields import CloudDecodeError

# Searched in this order when the time field is "auto" (first present wins).
TIME_FIELDS = ("t", "time", "offset_time", "timestamp", "time_stamp")
UNITS_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
UNIT_CHOICES = ("auto", *UNITS_S)
REFERENCE_CHOICES = ("auto", "stamp", "absolute")
ABSOLUTE_MIN_S = 86_400.0  # relative offsets are below a sweep period; epoch times are ~1.7e9 s
MAX_SPAN_S = 1.0  # |offset| beyond this (at 1 Hz the slowest spinning LiDAR) is not a sweep


def time_field_name(names: tuple[str, ...], field: str) -> str | None:
    """The field to read: ``field`` itself, the first of ``TIME_FIELDS`` present for "auto",
    None when ``field`` is empty or absent."""
    if field == "auto":
        return next((n for n in TIME_FIELDS if n in names), None)
    return field if field and field in names else None


def _epoch_unit(magnitude: float) -> str:
    """Unit of a float time field from its size: epoch times (1.7e9 s today) written in ms, us or
    ns (livox_ros_driver2's float64 ``timestamp`` holds epoch ns) are 1e3..1e9 times larger, and
    stay distinguishable for centuries; offsets within a sweep are seconds."""
    for unit, above in (("ns", 1e17), ("us", 1e14), ("ms", 1e11)):
        if magnitude > above:
            return unit
    return "s"


def point_time_offsets(
    points: np.ndarray,
    field: str,
    stamp_ns: int,
    unit: str = "auto",
    reference: str = "auto",
) -> np.ndarray | None:
    """Seconds after ``stamp_ns`` (float32, (N,)) of each point of a decoded structured cloud.

    ``field``: a field name, "auto" (see ``TIME_FIELDS``) or "" (none: returns None, as
    for a cloud without the field). Raises ``CloudDecodeError`` for an unknown unit or
    reference, or when the offsets do not fit one sweep (``MAX_SPAN_S``).
    """
    if unit not in UNIT_CHOICES:
        raise CloudDecodeError(f"time unit '{unit}' is not one of {UNIT_CHOICES}")
    if reference not in REFERENCE_CHOICES:
        raise CloudDecodeError(f"time reference '{reference}' is not one of {REFERENCE_CHOICES}")
    name = time_field_name(points.dtype.names or (), field)
    if name is None:
        return None
    col = points[name]
    if col.ndim != 1:
        col = col[:, 0]
    kind = col.dtype.kind
    if col.size == 0:
        return np.zeros(0, np.float32)
    finite = col[np.isfinite(col)] if kind == "f" else col
    mid_raw = abs(float(np.median(finite))) if finite.size else 0.0
    if unit == "auto":
        unit = "ns" if kind in "iu" else _epoch_unit(mid_raw)
    scale = UNITS_S[unit]
    if reference == "auto":
        reference = "absolute" if mid_raw * scale > ABSOLUTE_MIN_S else "stamp"
    if reference == "absolute":
        # float64 keeps 0.2 us at 1.7e9 s; subtract the stamp's whole seconds first to keep that
        sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
        if kind == "f":
            off = col.astype(np.float64) * scale - sec - nsec * 1e-9
        else:  # integer ticks: subtract whole seconds in integers before going to float
            per_s = int(round(1.0 / scale))
            off = (col.astype(np.int64) - np.int64(sec) * per_s) * scale - nsec * 1e-9
    else:
        off = col.astype(np.float64) * scale if scale != 1.0 else col
    off = np.asarray(off).astype(np.float32, copy=False)
    finite = off[np.isfinite(off)]
    if finite.size and float(np.max(np.abs(finite))) > MAX_SPAN_S:
        raise CloudDecodeError(
            f"per-point time '{name}' ({col.dtype}, read as {unit} from the {reference}) spans "
            f"[{float(finite.min()):.6g}, {float(finite.max()):.6g}] s from the stamp, not one sweep; "
            "set lidar.time_unit / lidar.time_reference"
        )
    return off
