"""ROS message <-> core type conversion (the only place that knows both).

Decoding never loops over points in Python: PointCloud2 goes through
``core.pointfields`` (one structured dtype, ``np.frombuffer``). Errors raise
``DecodeError`` with a message fit for a log line; the node drops the message.
"""

from __future__ import annotations

import array
import uuid

import cv2
import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Quaternion, TwistWithCovarianceStamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu, NavSatFix, PointCloud2, PointField
from unique_identifier_msgs.msg import UUID

from sensor_fusion_msgs.msg import (
    DetectedObject,
    DetectedObjectArray,
    ObjectClassification,
    Shape,
    TrackedObject,
    TrackedObjectArray,
)

from ..core import pointfields as pf
from ..core.classes import ObjectClass
from ..core.geometry import quat_to_yaw, yaw_to_quat
from ..core.imageheader import ImageHeaderError, image_size
from ..core.point_time import point_time_offsets
from ..core.stamps import from_ns, to_ns
from ..core.types import (
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    CameraFrame,
    CameraIntrinsics,
    Detections,
    GnssVelocity,
    GpsFix,
    ImuSample,
    PointCloud,
    RadarScan,
    Tracks,
    WheelOdometry,
    intrinsics_problem,
)
from .cdr import RawCompressedImage, RawImage


class DecodeError(ValueError):
    """The one rejection of every decoder here: the caller logs it, counts it, drops the message."""


def stamp_of(msg) -> int:
    return to_ns(msg.header.stamp.sec, msg.header.stamp.nanosec)


def time_msg(stamp_ns: int) -> Time:
    sec, nsec = from_ns(stamp_ns)
    return Time(sec=sec, nanosec=nsec)


def duration_msg(ns: int) -> Duration:
    sec, nsec = from_ns(max(int(ns), 0))
    return Duration(sec=sec, nanosec=nsec)


def _layout(msg: PointCloud2) -> pf.CloudLayout:
    fields = tuple(pf.Field(f.name, f.offset, f.datatype, f.count) for f in msg.fields)
    return pf.CloudLayout(fields, msg.point_step, msg.row_step, msg.width, msg.height, bool(msg.is_bigendian))


def cloud_points(msg: PointCloud2, max_points: int = 10_000_000) -> np.ndarray:
    n = int(msg.width) * int(msg.height)
    if n > max_points:
        raise DecodeError(f"cloud has {n} points, more than the limit {max_points}")
    try:
        return pf.decode(_layout(msg), msg.data)
    except pf.CloudDecodeError as exc:
        raise DecodeError(str(exc)) from exc


def _finite_rows(*cols: np.ndarray) -> np.ndarray:
    """Rows whose every value is finite. Column by column: ``isfinite(c).all(axis=1)`` reduces
    along a 3-long axis (1.7 ms for 120k points here, against 0.07 ms)."""
    ok = np.ones(cols[0].shape[0], dtype=bool)
    for c in cols:
        for k in range(c.shape[1]) if c.ndim == 2 else ():
            ok &= np.isfinite(c[:, k])
        if c.ndim != 2:
            ok &= np.isfinite(c)
    return ok


def decode_lidar(
    msg: PointCloud2,
    time_field: str = "auto",
    max_points: int = 10_000_000,
    time_unit: str = "auto",
    time_reference: str = "auto",
) -> tuple[PointCloud, int]:
    """PointCloud with non-finite points removed, and how many were removed.

    The per-point time (``time_field``, see ``core.point_time``) becomes float32 seconds after
    the header stamp whatever the driver's layout."""
    pts = cloud_points(msg, max_points)
    stamp = stamp_of(msg)
    try:
        xyz = pf.xyz_f32(pts)
        t = point_time_offsets(pts, time_field, stamp, time_unit, time_reference)
    except pf.CloudDecodeError as exc:
        raise DecodeError(str(exc)) from exc
    names = pts.dtype.names or ()
    intensity = pf.field_f32(pts, "intensity") if "intensity" in names else None
    if intensity is not None and not np.isfinite(intensity).all():
        intensity = np.nan_to_num(intensity, nan=0.0, posinf=0.0, neginf=0.0)
    ring = _ring(pts["ring"]) if "ring" in names else None
    ok = _finite_rows(xyz) if t is None else _finite_rows(xyz, t)
    bad = int(ok.size - np.count_nonzero(ok))
    if bad and bad == ok.size:
        raise DecodeError(f"all {bad} points are NaN/inf")
    if bad:
        xyz = xyz[ok]
        intensity = intensity[ok] if intensity is not None else None
        t = t[ok] if t is not None else None
        ring = ring[ok] if ring is not None else None
    return PointCloud(stamp, msg.header.frame_id, xyz, intensity, t, ring), bad


def _ring(col: np.ndarray) -> np.ndarray | None:
    """Beam index as uint16 (first element of a multi-count field); a float ring is not one."""
    col = col[:, 0] if col.ndim > 1 else col
    return col.astype(np.uint16, copy=False) if col.dtype.kind in "iu" else None


def decode_radar(
    msg: PointCloud2, fields: tuple[str, str, str, str, str] = ("x", "y", "z", "radial_velocity", "rcs")
) -> tuple[RadarScan, int]:
    pts = cloud_points(msg)
    try:
        xyz = pf.xyz_f32(pts, fields[:3])
        vr = pf.field_f32(pts, fields[3])
        rcs = pf.field_f32(pts, fields[4])
    except pf.CloudDecodeError as exc:
        raise DecodeError(str(exc)) from exc
    ok = _finite_rows(xyz, vr, rcs)
    bad = int(ok.size - np.count_nonzero(ok))
    if bad:
        xyz, vr, rcs = xyz[ok], vr[ok], rcs[ok]
    return RadarScan(stamp_of(msg), msg.header.frame_id, xyz, vr, rcs), bad


def decode_radar_scan(msg) -> tuple[RadarScan, int]:
    """``radar_msgs/RadarScan`` (range, azimuth, elevation, Doppler, amplitude per return) as the
    core scan: positions by REP-103 spherical angles (azimuth anticlockwise from x, elevation up),
    Doppler as the radial velocity (positive away), amplitude (dB) as the RCS column."""
    ret = msg.returns
    n = len(ret)
    a = np.empty((n, 5), np.float32)
    for i, r in enumerate(ret):  # a message of Python objects: one pass to an array
        a[i] = (r.range, r.azimuth, r.elevation, r.doppler_velocity, r.amplitude)
    rng, az, el = a[:, 0].astype(np.float64), a[:, 1].astype(np.float64), a[:, 2].astype(np.float64)
    xyz = np.column_stack([rng * np.cos(el) * np.cos(az), rng * np.cos(el) * np.sin(az), rng * np.sin(el)])
    xyz = xyz.astype(np.float32)
    ok = _finite_rows(xyz, a[:, 3], a[:, 4]) & (a[:, 0] >= 0.0)
    bad = int(n - np.count_nonzero(ok))
    scan = RadarScan(stamp_of(msg), msg.header.frame_id, xyz[ok], a[ok, 3].copy(), a[ok, 4].copy())
    return scan, bad


def encode_radar_scan(scan: RadarScan):
    """The core scan as ``radar_msgs/RadarScan`` (inverse of :func:`decode_radar_scan`)."""
    from radar_msgs.msg import RadarReturn
    from radar_msgs.msg import RadarScan as RadarScanMsg

    xyz = np.asarray(scan.xyz, np.float64).reshape(-1, 3)
    rng = np.linalg.norm(xyz, axis=1)
    az = np.arctan2(xyz[:, 1], xyz[:, 0])
    el = np.arcsin(np.divide(xyz[:, 2], rng, out=np.zeros_like(rng), where=rng > 0))
    msg = RadarScanMsg()
    msg.header.stamp = time_msg(scan.stamp_ns)
    msg.header.frame_id = scan.frame_id
    msg.returns = [
        RadarReturn(
            range=float(r),
            azimuth=float(a),
            elevation=float(e),
            doppler_velocity=float(v),
            amplitude=float(c),
        )
        for r, a, e, v, c in zip(rng, az, el, scan.radial_velocity, scan.rcs)
    ]
    return msg


def encode_cloud(stamp_ns: int, frame_id: str, columns: dict[str, np.ndarray]) -> PointCloud2:
    layout, data = pf.encode(columns)
    msg = PointCloud2()
    msg.header.stamp = time_msg(stamp_ns)
    msg.header.frame_id = frame_id
    msg.height, msg.width = layout.height, layout.width
    msg.fields = [
        PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count) for f in layout.fields
    ]
    msg.is_bigendian = False
    msg.point_step, msg.row_step = layout.point_step, layout.row_step
    msg.data = array.array("B", data)  # array.array skips rosidl's per-element checks
    msg.is_dense = True
    return msg


_ENCODINGS = {
    "bgr8": (3, False),
    "rgb8": (3, True),
    "mono8": (1, False),
    "bgra8": (4, False),
    "rgba8": (4, True),
}


def decode_image(msg: Image | CompressedImage | RawImage | RawCompressedImage, camera: str) -> CameraFrame:
    """BGR uint8 image from a raw or compressed message (typed, or viewed in its serialized bytes)."""
    if isinstance(msg, CompressedImage | RawCompressedImage):
        buf = np.frombuffer(msg.data, dtype=np.uint8)
        try:
            fmt, w, h = image_size(buf)
        except ImageHeaderError as exc:
            raise DecodeError(f"compressed image ({buf.size} bytes) does not decode: {exc}") from exc
        if not (0 < w <= MAX_IMAGE_SIDE and 0 < h <= MAX_IMAGE_SIDE and w * h <= MAX_IMAGE_PIXELS):
            raise DecodeError(f"compressed {fmt} header claims {w}x{h} pixels: refused before decoding")
        try:
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
        except cv2.error as exc:  # e.g. a header claiming a huge image
            raise DecodeError(f"compressed image does not decode: {exc}") from exc
        if img is None:
            raise DecodeError(
                f"compressed image ({msg.format or 'unknown format'}, {buf.size} bytes) does not decode"
            )
    else:
        if msg.encoding not in _ENCODINGS:
            raise DecodeError(f"unsupported image encoding '{msg.encoding}'")
        ch, rgb = _ENCODINGS[msg.encoding]
        h, w, step = int(msg.height), int(msg.width), int(msg.step)
        if h <= 0 or w <= 0 or step < w * ch or len(msg.data) < h * step:
            raise DecodeError(f"image {w}x{h} step {step} does not fit its {len(msg.data)}-byte buffer")
        rows = np.frombuffer(msg.data, dtype=np.uint8, count=h * step).reshape(h, step)
        img = rows[:, : w * ch].reshape(h, w, ch)
        if ch == 1:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif ch == 4:
            img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGR if rgb else cv2.COLOR_BGRA2BGR)
        elif rgb:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    return CameraFrame(stamp_of(msg), msg.header.frame_id, camera, img)


def decode_camera_info(msg: CameraInfo) -> CameraIntrinsics:
    K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    D = np.asarray(msg.d, dtype=np.float64).ravel()
    w, h, model = int(msg.width), int(msg.height), msg.distortion_model or "plumb_bob"
    problem = intrinsics_problem(w, h, K, D, model)
    if problem:
        raise DecodeError(f"camera_info has no valid intrinsics: {problem}")
    return CameraIntrinsics(w, h, K, D, model)


def decode_imu(msg: Imu) -> ImuSample:
    w = np.array([msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z])
    a = np.array([msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z])
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(a))):
        raise DecodeError("imu sample has non-finite angular velocity or acceleration")
    if msg.angular_velocity_covariance[0] < 0 or msg.linear_acceleration_covariance[0] < 0:
        # REP 145: covariance[0] = -1 marks the element as not measured (e.g. an AHRS that sends
        # only orientation); the ego filter integrates both, so zeros would be read as data
        raise DecodeError(
            "imu sample marks its angular velocity or acceleration as absent (covariance[0] = -1)"
        )
    q = None
    if msg.orientation_covariance[0] >= 0:  # -1 marks "no orientation" (sensor_msgs/Imu)
        q = np.array([msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w])
        if not np.all(np.abs(q) <= 1.001) or abs(np.linalg.norm(q) - 1.0) > 1e-3:  # NaN fails too
            q = None
    return ImuSample(stamp_of(msg), msg.header.frame_id, w, a, q)


def decode_gps(msg: NavSatFix) -> GpsFix:
    vals = np.array([msg.latitude, msg.longitude, msg.altitude])
    if not np.all(np.isfinite(vals)) or abs(msg.latitude) > 90 or abs(msg.longitude) > 180:
        raise DecodeError(
            f"navsat fix out of range: lat {msg.latitude}, lon {msg.longitude}, alt {msg.altitude}"
        )
    cov = np.asarray(msg.position_covariance, dtype=np.float64).reshape(3, 3)
    kind = msg.position_covariance_type
    if kind == NavSatFix.COVARIANCE_TYPE_DIAGONAL_KNOWN:
        cov = np.diag(np.diag(cov))  # only the variances are known; the rest may be anything
    if kind not in _GPS_COV_TYPES or not _positive_definite(cov):
        # unknown, or one the filter cannot divide by (NaN, zero or negative variance, not PSD):
        # assume a poor fix (5 m horizontal, 10 m vertical)
        cov = np.diag([25.0, 25.0, 100.0])
    return GpsFix(stamp_of(msg), msg.header.frame_id, *vals.tolist(), cov, int(msg.status.status))


def _twist_cov(cov36) -> np.ndarray:
    """The linear (3, 3) block of a 6x6 twist covariance; NaN when absent (all zero, the
    common "not filled in") or not finite, so the filter takes its fallback std."""
    C = np.asarray(cov36, dtype=np.float64)
    if C.size != 36:
        return np.full((3, 3), np.nan)
    C = C.reshape(6, 6)[:3, :3].copy()
    if not np.isfinite(C).all() or not C.any():
        return np.full((3, 3), np.nan)
    return C


def decode_wheel_odometry(msg: Odometry) -> WheelOdometry:
    """The twist of ``nav_msgs/Odometry`` (in child_frame_id); the pose is not read (the wheels'
    integrated pose drifts; the filter integrates the twist itself)."""
    lin, ang = msg.twist.twist.linear, msg.twist.twist.angular
    v = np.array([lin.x, lin.y, lin.z], dtype=np.float64)
    w = np.array([ang.x, ang.y, ang.z], dtype=np.float64)
    if not np.isfinite(v).all():
        raise DecodeError("wheel odometry twist has non-finite linear velocity")
    return WheelOdometry(stamp_of(msg), msg.child_frame_id, v, w, _twist_cov(msg.twist.covariance))


def decode_gnss_velocity(msg: TwistWithCovarianceStamped) -> GnssVelocity:
    """The linear twist of a GNSS receiver's velocity message (ENU, m/s)."""
    lin = msg.twist.twist.linear
    v = np.array([lin.x, lin.y, lin.z], dtype=np.float64)
    if not np.isfinite(v[:2]).all():
        raise DecodeError("gnss velocity has non-finite horizontal components")
    return GnssVelocity(stamp_of(msg), msg.header.frame_id, v, _twist_cov(msg.twist.covariance))


_GPS_COV_TYPES = (
    NavSatFix.COVARIANCE_TYPE_APPROXIMATED,
    NavSatFix.COVARIANCE_TYPE_DIAGONAL_KNOWN,
    NavSatFix.COVARIANCE_TYPE_KNOWN,
)


def _positive_definite(cov: np.ndarray) -> bool:
    if not np.all(np.isfinite(cov)) or not np.allclose(cov, cov.T):
        return False
    return bool(np.linalg.eigvalsh(cov).min() > 0.0)


# -- outputs ---------------------------------------------------------------------------------------


def track_uuid(track_id: int, namespace: bytes) -> bytes:
    """Stable 16-byte UUID per track: integer id big-endian in bytes 0-7, a run namespace after."""
    return int(track_id).to_bytes(8, "big", signed=False) + namespace[:8]


def new_uuid_namespace() -> bytes:
    return uuid.uuid4().bytes


def _classification(label: int, prob: float) -> list[ObjectClassification]:
    out = [ObjectClassification(label=int(label), probability=float(prob))]
    if label != ObjectClass.UNKNOWN and prob < 1.0:
        out.append(ObjectClassification(label=int(ObjectClass.UNKNOWN), probability=float(1.0 - prob)))
    return out


def _shape(size: np.ndarray) -> Shape:
    s = Shape(type=Shape.BOUNDING_BOX)
    s.dimensions.x, s.dimensions.y, s.dimensions.z = (float(v) for v in size)
    return s


def tracks_msg(tracks: Tracks, uuid_ns: bytes, stationary_speed: float = 0.3) -> TrackedObjectArray:
    out = TrackedObjectArray()
    out.header.stamp = time_msg(tracks.stamp_ns)
    out.header.frame_id = tracks.frame_id
    q = yaw_to_quat(tracks.yaw)
    for i in range(len(tracks)):  # message construction is per object by nature (rosidl objects)
        o = TrackedObject()
        o.object_id = UUID(uuid=list(track_uuid(int(tracks.ids[i]), uuid_ns)))
        o.existence_probability = float(tracks.existence[i])
        o.classification = _classification(int(tracks.labels[i]), float(tracks.label_probs[i]))
        k = o.kinematics
        p = k.pose_with_covariance
        p.pose.position = Point(
            x=float(tracks.state[i, 0]), y=float(tracks.state[i, 1]), z=float(tracks.z[i])
        )
        p.pose.orientation = Quaternion(x=q[i, 0], y=q[i, 1], z=q[i, 2], w=q[i, 3])
        cov = np.zeros((6, 6))
        cov[:2, :2] = tracks.cov[i, :2, :2]
        cov[2, 2] = 0.25
        cov[3, 3] = cov[4, 4] = 1e-4
        cov[5, 5] = 0.05
        p.covariance = cov.ravel().tolist()
        k.orientation_availability = k.SIGN_UNKNOWN
        t = k.twist_with_covariance
        t.twist.linear.x, t.twist.linear.y = float(tracks.state[i, 2]), float(tracks.state[i, 3])
        tcov = np.zeros((6, 6))
        tcov[:2, :2] = tracks.cov[i, 2:4, 2:4]
        tcov[2, 2] = 0.01
        tcov[3:, 3:] = np.eye(3) * 0.1
        t.covariance = tcov.ravel().tolist()
        k.acceleration_with_covariance.covariance = (np.eye(6) * 4.0).ravel().tolist()
        k.is_stationary = bool(np.hypot(tracks.state[i, 2], tracks.state[i, 3]) < stationary_speed)
        o.shape = _shape(tracks.sizes[i])
        o.supporting_sensors.mask = int(tracks.sensors[i])
        o.age = duration_msg(int(tracks.age_ns[i]))
        o.hits = int(tracks.hits[i])
        o.coasting = bool(tracks.coasting[i])
        out.objects.append(o)
    return out


def detections_msg(det: Detections) -> DetectedObjectArray:
    out = DetectedObjectArray()
    out.header.stamp = time_msg(det.stamp_ns)
    out.header.frame_id = det.frame_id
    q = yaw_to_quat(det.yaw)
    for i in range(len(det)):
        o = DetectedObject()
        o.existence_probability = float(det.scores[i])
        o.classification = _classification(int(det.labels[i]), float(det.scores[i]))
        k = o.kinematics
        p = k.pose_with_covariance
        c = det.centers[i]
        p.pose.position = Point(x=float(c[0]), y=float(c[1]), z=float(c[2]))
        p.pose.orientation = Quaternion(x=q[i, 0], y=q[i, 1], z=q[i, 2], w=q[i, 3])
        cov = np.zeros((6, 6))
        cov[:2, :2] = det.pos_cov[i]
        p.covariance = cov.ravel().tolist()
        k.has_position_covariance = True
        k.orientation_availability = k.SIGN_UNKNOWN
        v = det.velocity[i]
        if np.all(np.isfinite(v)):
            k.has_twist = True
            k.twist_with_covariance.twist.linear.x, k.twist_with_covariance.twist.linear.y = (
                float(v[0]),
                float(v[1]),
            )
        o.shape = _shape(det.sizes[i])
        o.source.mask = int(det.sensors[i])
        out.objects.append(o)
    return out


def decode_detections(msg: DetectedObjectArray) -> tuple[Detections, int]:
    """Detections from a DetectedObjectArray (the inverse of :func:`detections_msg`), and how many
    objects were dropped for non-finite poses, sizes or scores."""
    objs = msg.objects
    n = len(objs)
    centers, sizes, quat = np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 4))
    labels, scores = np.zeros(n, np.int64), np.zeros(n)
    vel, cov, mask = np.full((n, 2), np.nan), np.zeros((n, 2, 2)), np.zeros(n, np.uint8)
    for i, o in enumerate(objs):  # message fields are per-object Python objects by nature
        p = o.kinematics.pose_with_covariance.pose
        centers[i] = (p.position.x, p.position.y, p.position.z)
        quat[i] = (p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w)
        d = o.shape.dimensions
        sizes[i] = (d.x, d.y, d.z)
        labels[i] = o.classification[0].label if o.classification else int(ObjectClass.UNKNOWN)
        scores[i] = o.existence_probability
        if o.kinematics.has_twist:
            tw = o.kinematics.twist_with_covariance.twist.linear
            vel[i] = (tw.x, tw.y)
        c = np.asarray(o.kinematics.pose_with_covariance.covariance, np.float64).reshape(6, 6)
        cov[i] = c[:2, :2]
        mask[i] = o.source.mask
    det = Detections(
        stamp_ns=stamp_of(msg),
        frame_id=msg.header.frame_id,
        centers=centers,
        sizes=sizes,
        yaw=quat_to_yaw(quat) if n else np.zeros(0),
        labels=labels,
        scores=scores,
        velocity=vel,
        pos_cov=cov,
        sensors=mask,
    )
    ok = _finite_rows(centers, sizes, scores, cov.reshape(n, 4), quat)
    bad = int(n - np.count_nonzero(ok))
    return (det.select(ok) if bad else det), bad


def odometry_msg(stamp_ns: int, fixed_frame: str, base_frame: str, pose) -> Odometry:
    """nav_msgs/Odometry from an ``EgoPose`` (ego/estimator.py)."""
    m = Odometry()
    m.header.stamp = time_msg(stamp_ns)
    m.header.frame_id = fixed_frame
    m.child_frame_id = base_frame
    p = m.pose.pose
    p.position = Point(x=float(pose.position[0]), y=float(pose.position[1]), z=float(pose.position[2]))
    qx, qy, qz, qw = (float(v) for v in pose.quaternion)
    p.orientation = Quaternion(x=qx, y=qy, z=qz, w=qw)
    m.pose.covariance = np.asarray(pose.pose_cov, dtype=np.float64).ravel().tolist()
    R = pose.T_world_base()[:3, :3]
    v_body = R.T @ np.asarray(pose.velocity, dtype=np.float64)  # Odometry twist is in child_frame_id
    m.twist.twist.linear.x, m.twist.twist.linear.y, m.twist.twist.linear.z = (float(v) for v in v_body)
    w = np.asarray(pose.angular_velocity, dtype=np.float64)
    m.twist.twist.angular.x, m.twist.twist.angular.y, m.twist.twist.angular.z = (float(v) for v in w)
    tcov = np.array(pose.twist_cov, dtype=np.float64)  # linear block is over world-frame velocity
    tcov[:3, :3] = R.T @ tcov[:3, :3] @ R
    tcov[:3, 3:] = R.T @ tcov[:3, 3:]
    tcov[3:, :3] = tcov[3:, :3] @ R
    m.twist.covariance = tcov.ravel().tolist()
    return m


def timing_msg(stamp_ns: int, timing: dict[str, float], missing: list[str]) -> DiagnosticStatus:
    """Per-frame stage timings (seconds) and the sensors missing from the frame."""
    st = DiagnosticStatus(name="fusion_node: timing", hardware_id=str(stamp_ns))
    st.values = [KeyValue(key=k, value=repr(float(v))) for k, v in sorted(timing.items())]
    st.values.append(KeyValue(key="missing", value=",".join(missing)))
    return st
