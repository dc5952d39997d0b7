"""Estimates recorded in ``odom`` brought into the world frame of the truth through ``/tf``.

Tracks live in REP-105's ``odom``, which is continuous and drifts from the GNSS-referenced
``map`` (the world frame of a generated bag: ``sensor-fusion run`` puts the filter's datum at
the world origin). An output bag records ``map -> odom`` on ``/tf`` at the odometry rate;
scoring moves each estimate frame through it at its stamp (linear in translation and yaw
between records, the nearest record outside them), so the scores measure the objects, not
the odom drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.geometry import quat_to_yaw
from ..core.stamps import to_ns
from .frames import FrameObjects

TF = "/tf"


@dataclass
class PlanarTransforms:
    """``parent <- child`` over time: stamps (N,) ns, translation (N, 3) m, yaw (N,) rad (unwrapped)."""

    parent: str
    child: str
    stamps_ns: np.ndarray
    translation: np.ndarray
    yaw: np.ndarray

    def at(self, stamp_ns: int) -> tuple[np.ndarray, float]:
        # in ns since the first stamp: float64 holds those exactly (integers below 2^53, 104 days);
        # absolute stamps (1.7e18 ns) it rounds to 256 ns
        t, st = self._since_first(stamp_ns)
        tr = np.array([np.interp(t, st, self.translation[:, k]) for k in range(3)])
        return tr, float(np.interp(t, st, self.yaw))

    def _since_first(self, stamp_ns: int) -> tuple[float, np.ndarray]:
        """``stamp_ns`` and the stamps as float64 ns since the first stamp."""
        t0 = int(self.stamps_ns[0])
        return float(int(stamp_ns) - t0), (self.stamps_ns - t0).astype(np.float64)

    def apply(self, f: FrameObjects) -> FrameObjects:
        """``f`` (in ``child``) in ``parent`` at its stamp."""
        if len(f) == 0:
            return f
        tr, yaw = self.at(f.stamp_ns)
        c, s = np.cos(yaw), np.sin(yaw)
        R = np.array([[c, -s], [s, c]])
        centers = f.centers.copy()
        centers[:, :2] = f.centers[:, :2] @ R.T + tr[:2]
        centers[:, 2] += tr[2]
        vel = f.velocity @ R.T
        return FrameObjects(f.stamp_ns, f.ids, f.labels, centers, f.sizes, f.yaw + yaw, vel, f.scores)


class MovingFrame(PlanarTransforms):
    """A moving child frame (``base_link``) whose estimates carry velocities *relative* to it: they
    come out in ``parent`` as absolute velocities, the frame's own velocity and rotation added
    (:math:`R v + v_0 + \\omega \\times R x`), both from the poses' finite differences."""

    def __init__(self, poses: PlanarTransforms):
        super().__init__(poses.parent, poses.child, poses.stamps_ns, poses.translation, poses.yaw)
        t = (poses.stamps_ns - (poses.stamps_ns[0] if poses.stamps_ns.size else 0)).astype(np.float64) / 1e9
        one = t.size < 2
        self._v = np.zeros((t.size, 2)) if one else np.gradient(poses.translation[:, :2], t, axis=0)
        self._w = np.zeros(t.size) if one else np.gradient(poses.yaw, t)

    def apply(self, f: FrameObjects) -> FrameObjects:
        out = super().apply(f)
        if len(out) == 0:
            return out
        t, st = self._since_first(f.stamp_ns)
        v0 = np.array([np.interp(t, st, self._v[:, k]) for k in range(2)])
        w = float(np.interp(t, st, self._w))
        tr, _ = self.at(f.stamp_ns)
        r = out.centers[:, :2] - tr[:2]
        out.velocity = out.velocity + v0 + w * np.column_stack([-r[:, 1], r[:, 0]])
        return out


def parent_transforms(tf_msgs, child: str) -> PlanarTransforms | None:
    """The recorded transforms whose child frame is ``child`` (e.g. ``map -> odom``), or None."""
    stamps: list[int] = []
    rows: list[tuple[float, float, float, float]] = []
    parent = None
    for msg in tf_msgs:
        for t in msg.transforms:
            if t.child_frame_id != child:
                continue
            parent = t.header.frame_id
            r, p = t.transform.rotation, t.transform.translation
            stamps.append(to_ns(t.header.stamp.sec, t.header.stamp.nanosec))
            rows.append((p.x, p.y, p.z, float(quat_to_yaw(np.array([r.x, r.y, r.z, r.w])))))
    if not rows:
        return None
    st = np.array(stamps, dtype=np.int64)  # int64 ns: a float64 stamp near 1.7e18 rounds to 256 ns
    order = np.argsort(st, kind="stable")
    a = np.array(rows, dtype=np.float64)[order]
    return PlanarTransforms(parent, child, st[order], a[:, :3], np.unwrap(a[:, 3]))


def odometry_attitude(odom_msgs) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Stamps (N,) int64 ns, positions (N, 3) m and orientations (N, 4) x, y, z, w of
    nav_msgs/Odometry messages, sorted by stamp (stable); None if there are none. The one parser of
    the truth's and the node's odometry (:func:`odometry_arrays`, :func:`tilted_pose_at`)."""
    if not odom_msgs:
        return None
    st = np.array([to_ns(m.header.stamp.sec, m.header.stamp.nanosec) for m in odom_msgs], np.int64)
    p = np.array(
        [[m.pose.pose.position.x, m.pose.pose.position.y, m.pose.pose.position.z] for m in odom_msgs]
    )
    o = [m.pose.pose.orientation for m in odom_msgs]
    q = np.array([[r.x, r.y, r.z, r.w] for r in o])
    order = np.argsort(st, kind="stable")
    return st[order], p[order], q[order]


def tilted_pose_at(odom_msgs) -> Callable[[int], np.ndarray] | None:
    """``stamp -> (4, 4) world <- base_link`` from nav_msgs/Odometry messages on graded roads
    (``sim/terrain.py``): positions interpolated, orientations slerped, clamped to the recorded
    span. None when every pose is planar (on z = 0, no roll or pitch), so planar odometry keeps its
    users' planar path bit for bit (the KITTI export's labels, the BEV network's)."""
    from scipy.spatial.transform import Rotation, Slerp

    arrays = odometry_attitude(odom_msgs)
    if arrays is None:
        return None
    st, p, q = arrays
    if not (np.any(np.abs(q[:, :2]) > 1e-9) or np.any(p[:, 2] != 0.0)):
        return None
    keep = np.concatenate([[True], np.diff(st) > 0])
    st, p, q = st[keep], p[keep], q[keep]
    slerp = Slerp(st.astype(np.float64), Rotation.from_quat(q))

    def at(stamp_ns: int) -> np.ndarray:
        t = float(np.clip(stamp_ns, st[0], st[-1]))
        T = np.eye(4)
        T[:3, :3] = slerp([t]).as_matrix()[0]
        T[:3, 3] = [np.interp(t, st, p[:, k]) for k in range(3)]
        return T

    return at


def odometry_arrays(odom_msgs) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Stamps (N,) int64 ns, positions (N, 3) m and yaw (N,) rad in (-pi, pi] of nav_msgs/Odometry
    messages, sorted by stamp (stable); None if there are none: the planar poses scoring uses
    (``eval.bags.odometry_poses``, :func:`odometry_transforms`)."""
    arrays = odometry_attitude(odom_msgs)
    if arrays is None:
        return None
    st, p, q = arrays
    return st, p, quat_to_yaw(q)


def odometry_transforms(odom_msgs) -> PlanarTransforms | None:
    """``frame <- child`` of nav_msgs/Odometry messages (the truth's world pose of base_link)."""
    arrays = odometry_arrays(odom_msgs)
    if arrays is None:
        return None
    st, p, yaw = arrays
    first = odom_msgs[0]
    return PlanarTransforms(first.header.frame_id, first.child_frame_id, st, p, np.unwrap(yaw))


class EgoRelative(PlanarTransforms):
    """``world <- odom`` as the vehicle sees it: the truth's ``world <- base_link`` composed with the
    inverse of the node's own ``odom <- base_link`` at each stamp.

    An object the node places 10 m ahead of itself scores where the truth vehicle has 10 m ahead,
    so the ego filter's error in the world (GNSS multipath, a late heading) is not charged to
    detection and tracking; what a planner acts on is the object relative to the vehicle. The ego
    filter is scored on its own (``ego_*``, ``odom_rpe_*``).
    """

    def __init__(self, truth_base: PlanarTransforms, odom_base: PlanarTransforms):
        super().__init__(
            truth_base.parent, odom_base.parent, odom_base.stamps_ns, odom_base.translation, odom_base.yaw
        )
        self.truth_base, self.odom_base = truth_base, odom_base

    def at(self, stamp_ns: int) -> tuple[np.ndarray, float]:
        tt, yt = self.truth_base.at(stamp_ns)
        te, ye = self.odom_base.at(stamp_ns)
        yaw = yt - ye
        c, s = np.cos(yaw), np.sin(yaw)
        tr = tt.copy()
        tr[:2] -= np.array([[c, -s], [s, c]]) @ te[:2]
        tr[2] -= te[2]
        return tr, yaw


class WorldFrames:
    """Estimate messages as :class:`FrameObjects` in the truth's world frame, for scoring.

    A message in a frame whose parent on ``/tf`` is the root (``odom`` under ``map``) is moved
    through the recorded transform; one in the truth's own frame (bags without ``/tf``) is
    taken as it is; any other (``base_link`` before the heading is known) scores as empty, except
    relative to the vehicle (``truth_base`` given), where ``base_link`` goes through the truth pose.
    ``to_frame(msg, with_ids)`` reads a message (``eval.bags.objects_frame``).
    """

    def __init__(
        self,
        tf_msgs,
        truth_frame: str,
        to_frame: Callable[..., FrameObjects],
        truth_base: PlanarTransforms | None = None,
    ):
        """``truth_base``: the truth's ``world <- base_link``; when given, the root frame's
        estimates are placed relative to the vehicle (:class:`EgoRelative`), not through ``map``."""
        self._tf = tf_msgs
        self.truth_frame = truth_frame
        self._to_frame = to_frame
        self._truth_base = truth_base
        self._up: dict[str, PlanarTransforms | None] = {}

    def _transform(self, frame: str) -> PlanarTransforms | None:
        if frame not in self._up and self._truth_base is not None and frame == self._truth_base.child:
            # base_link itself (the node publishes there until its heading is known): as the vehicle
            # sees it, through the truth pose alone; its velocities are relative to the vehicle
            self._up[frame] = MovingFrame(self._truth_base)
        if frame not in self._up:
            up = parent_transforms(self._tf, frame)
            root = up is not None and parent_transforms(self._tf, up.parent) is None
            self._up[frame] = up if root else None
            if root and self._truth_base is not None:
                odom_base = parent_transforms(self._tf, self._truth_base.child)  # odom -> base_link
                ok = odom_base is not None and odom_base.parent == frame
                self._up[frame] = EgoRelative(self._truth_base, odom_base) if ok else None
        return self._up[frame]

    def scored(self, frame: str) -> bool:
        """Whether estimates in ``frame`` are scored (not taken as empty)."""
        return frame == self.truth_frame or self._transform(frame) is not None

    def __call__(self, msg, with_ids: bool = True) -> FrameObjects:
        f = self._to_frame(msg, with_ids)
        up = self._transform(msg.header.frame_id)
        if up is not None:  # odom, continuous: into the GNSS-referenced world frame
            return up.apply(f)
        return f if msg.header.frame_id == self.truth_frame else FrameObjects.empty(f.stamp_ns)
