"""PointCloud2 columns of a simulated sweep in the layouts real LiDAR drivers publish.

The scenario key ``lidar.point_layout`` picks one; ``sim`` (the default) is this project's own
layout and keeps old bags byte-identical. Field names, types and time conventions follow the
drivers' point types (see ``core.point_time`` for how the node reads them back):

* ``velodyne`` (velodyne_pointcloud ``PointXYZIRT``): x y z intensity f32, ring u16,
  ``time`` f32 s after the header stamp.
* ``ouster`` (ouster-ros ``PointOS``): x y z intensity f32, ``t`` u32 ns after the header
  stamp, reflectivity u16, ring u16, ambient u16, range u32 mm.
* ``livox`` (livox_ros_driver2 custom points flattened): x y z intensity f32, tag u8, line u8,
  ``offset_time`` u32 ns after the header stamp.
* ``hesai`` (HesaiLidar_ROS_2.0 ``PointXYZIT``): x y z intensity f32, ``timestamp`` f64
  absolute epoch s, ring u16.
* ``robosense`` (rslidar_sdk ``PointXYZIRT``): x y z intensity f32, ring u16, ``timestamp``
  f64 absolute epoch s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.stamps import NS_PER_S

POINT_LAYOUTS = ("sim", "velodyne", "ouster", "livox", "hesai", "robosense")


def lidar_columns(sweep: dict[str, Any], layout: str = "sim") -> dict[str, np.ndarray]:
    """Named 1-D columns (encode order) of ``sweep`` (``simulate_lidar`` output) in ``layout``."""
    xyz, inten, ring = sweep["xyz"], sweep["intensity"], sweep["ring"]
    t_off = sweep["time_offset"]  # float32 s after the stamp
    base = {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "intensity": inten}
    if layout == "sim":
        return {**base, "t": t_off, "ring": ring}
    # integer ns and absolute seconds are derived from the same float32 offsets, so every
    # layout carries exactly the same instants (to the type's resolution)
    off_ns = np.round(t_off.astype(np.float64) * NS_PER_S).astype(np.int64)
    if layout == "velodyne":
        return {**base, "ring": ring, "time": t_off}
    if layout == "ouster":
        rng_mm = np.round(np.linalg.norm(xyz.astype(np.float64), axis=1) * 1000.0).astype(np.uint32)
        return {
            **base,
            "t": off_ns.astype(np.uint32),
            "reflectivity": np.clip(inten, 0, 65535).astype(np.uint16),
            "ring": ring,
            "ambient": np.zeros(ring.shape[0], np.uint16),
            "range": rng_mm,
        }
    if layout == "livox":
        n = ring.shape[0]
        return {
            **base,
            "tag": np.zeros(n, np.uint8),
            "line": (ring % 256).astype(np.uint8),
            "offset_time": off_ns.astype(np.uint32),
        }
    if layout in ("hesai", "robosense"):
        sec, nsec = divmod(int(sweep["stamp_ns"]), NS_PER_S)
        ts = sec + (nsec + off_ns) * 1e-9  # float64 epoch seconds
        if layout == "hesai":
            return {**base, "timestamp": ts, "ring": ring}
        return {**base, "ring": ring, "timestamp": ts}
    raise ValueError(f"lidar.point_layout '{layout}' is not one of {POINT_LAYOUTS}")
