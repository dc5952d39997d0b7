"""Fuzz every sensor-message decoder the node and the bag runner use (``ros/convert.py``).

Property, for each: the decoder returns a valid core object (finite where the pipeline needs
finite, shapes consistent) or raises ``DecodeError`` (the node counts it in ``decode_errors``
on /diagnostics and drops the message); never another exception, never a hang.
"""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu, NavSatFix, PointCloud2, PointField

from sensor_fusion.core.types import DISTORTION_SIZES, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE
from sensor_fusion.ros import convert
from tests.fuzzing import fuzz_settings, no_hang

pytestmark = pytest.mark.fuzz

U32 = 2**32 - 1
FIELD_NAMES = ["x", "y", "z", "intensity", "t", "ring", "radial_velocity", "rcs", "", "X"]
finite_or_not = st.floats(allow_nan=True, allow_infinity=True)


# -- PointCloud2 (LiDAR and radar) ---------------------------------------------------------------
def _cloud_msg(fields, point_step, row_step, width, height, big, data, stamp=(1, 0)) -> PointCloud2:
    m = PointCloud2()
    m.header.stamp.sec, m.header.stamp.nanosec = stamp
    m.header.frame_id = "lidar_top"
    m.fields = [PointField(name=n, offset=o, datatype=d, count=c) for n, o, d, c in fields]
    m.point_step, m.row_step, m.width, m.height = point_step, row_step, width, height
    m.is_bigendian = big
    m.data = array.array("B", data)
    return m


@st.composite
def clouds(draw, names=FIELD_NAMES):
    """A plausible x/y/z(+extras) layout, then lies: wrong types, offsets, counts, steps, sizes,
    endianness, short or long data, NaN/inf values, empty."""
    chosen = draw(st.lists(st.sampled_from(names), min_size=0, max_size=7, unique=True))
    fields, off = [], 0
    for name in chosen:
        dt = draw(st.sampled_from([7, 7, 7, 8, 2, 4, 1, 3, 5, 6]) | st.integers(0, 255))
        count = draw(st.sampled_from([1, 1, 1, 0, 2, 3]) | st.integers(0, U32))
        size = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 8: 8}.get(dt, 4)
        o = draw(st.just(off) | st.integers(0, 64) | st.integers(0, U32))
        fields.append((name, o, dt, count))
        off += size * max(min(count, 4), 1)
    natural = max(off, 1)
    point_step = draw(st.sampled_from([natural, natural + 4, natural - 1, 0]) | st.integers(0, U32))
    point_step = max(point_step, 0)
    width = draw(st.integers(0, 40) | st.integers(0, U32))
    height = draw(st.sampled_from([1, 1, 1, 0, 2, 3]) | st.integers(0, U32))
    row_step = draw(st.sampled_from([width * point_step, width * point_step + 7, 0]) | st.integers(0, U32))
    row_step = min(row_step, U32)
    need = width * height * point_step if width * height * point_step <= 1024 else 0
    body = draw(st.sampled_from(["exact", "short", "long", "random"]))
    if body == "random":
        data = draw(st.binary(max_size=2048))
    else:
        vals = draw(
            st.lists(
                st.floats(width=32, allow_nan=True, allow_infinity=True),
                min_size=need // 4,
                max_size=need // 4,
            )
        )
        data = np.asarray(vals, np.float32).tobytes() + bytes(need % 4)
        if body == "short":
            data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
        elif body == "long":
            data += draw(st.binary(max_size=64))
    return _cloud_msg(fields, point_step, row_step, width, height, draw(st.booleans()), data)


def _valid_lidar(cloud, bad) -> None:
    n = len(cloud)
    assert cloud.xyz.shape == (n, 3) and cloud.xyz.dtype == np.float32
    assert np.isfinite(cloud.xyz).all() and bad >= 0
    for col in (cloud.intensity, cloud.time_offset, cloud.ring):
        assert col is None or col.shape == (n,)
    assert cloud.time_offset is None or np.isfinite(cloud.time_offset).all()


XYZ_F32 = [("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1)]


@fuzz_settings(200, long_share=0.25)  # PointCloud2 entry point: 4 properties share the long count
@given(clouds())
@example(_cloud_msg(XYZ_F32, 12, 12, 1, 1, False, bytes(12)))  # one good point
@example(_cloud_msg(XYZ_F32, 12, 0, 0, 1, False, b""))  # empty cloud
@example(_cloud_msg([*XYZ_F32, ("ring", 12, 4, 2)], 16, 16, 1, 1, False, bytes(16)))  # ring with count 2
@example(_cloud_msg([*XYZ_F32, ("t", 12, 7, 3)], 24, 24, 1, 1, False, bytes(24)))  # t with count 3
@example(_cloud_msg([("x", 0, 7, U32)], 16, 16, 1, 1, False, bytes(16)))  # count that overflows numpy
@example(_cloud_msg(XYZ_F32, U32, 0, 0, 1, False, b""))  # empty cloud, 4 GiB point_step
@example(_cloud_msg([*XYZ_F32, ("", 12, 7, 1)], 16, 16, 1, 1, False, bytes(16)))  # unnamed field
@example(
    _cloud_msg(
        [*XYZ_F32, ("t", 12, 7, 1)], 16, 16, 1, 1, False, np.array([0, 0, 0, np.inf], np.float32).tobytes()
    )
)
def test_decode_lidar(msg):
    with no_hang():
        try:
            cloud, bad = convert.decode_lidar(msg, "t", 1_000_000)
        except convert.DecodeError:
            return
    _valid_lidar(cloud, bad)


@fuzz_settings(150, long_share=0.25)  # PointCloud2 entry point: 4 properties share the long count
@given(clouds(names=["x", "y", "z", "radial_velocity", "rcs", "vr", ""]))
@example(_cloud_msg([*XYZ_F32, ("radial_velocity", 12, 7, 1), ("rcs", 16, 7, 1)], 20, 0, 0, 1, False, b""))
def test_decode_radar(msg):
    with no_hang():
        try:
            scan, bad = convert.decode_radar(msg)
        except convert.DecodeError:
            return
    n = len(scan)
    assert scan.xyz.shape == (n, 3) and scan.radial_velocity.shape == (n,) and scan.rcs.shape == (n,)
    assert np.isfinite(scan.xyz).all() and np.isfinite(scan.radial_velocity).all()
    assert np.isfinite(scan.rcs).all() and bad >= 0


# -- Image ---------------------------------------------------------------------------------------
ENCODINGS = ["bgr8", "rgb8", "mono8", "bgra8", "rgba8", "mono16", "16UC1", "32FC1", "yuv422", "", "BGR8"]


def _image(enc, w, h, step, data) -> Image:
    m = Image(encoding=enc, width=w, height=h, step=step)
    m.data = array.array("B", data)
    return m


@st.composite
def images(draw):
    enc = draw(st.sampled_from(ENCODINGS) | st.text(max_size=6))
    w = draw(st.integers(0, 24) | st.integers(0, U32))
    h = draw(st.integers(0, 16) | st.integers(0, U32))
    ch = {"bgr8": 3, "rgb8": 3, "mono8": 1, "bgra8": 4, "rgba8": 4}.get(enc, 2)
    step = draw(st.sampled_from([w * ch, w * ch + 5, max(w * ch - 1, 0), 0]) | st.integers(0, U32))
    step = min(step, U32)
    need = h * step if h * step <= 8192 else 0
    size = draw(st.sampled_from([need, max(need - 1, 0), need + 3]) | st.integers(0, 4096))
    return _image(enc, w, h, step, draw(st.binary(min_size=size, max_size=size)))


@fuzz_settings(200)
@given(images())
@example(_image("bgr8", 2, 2, 6, bytes(12)))
@example(_image("mono8", 3, 1, 4, bytes(4)))  # padded row
@example(_image("rgba8", U32, 1, U32, bytes(16)))  # size lie
def test_decode_image(msg):
    with no_hang():
        try:
            frame = convert.decode_image(msg, "cam_front")
        except convert.DecodeError:
            return
    img = frame.image
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape == (msg.height, msg.width, 3)


# -- CompressedImage -----------------------------------------------------------------------------
_rng = np.random.default_rng(0)
_PIC = (_rng.integers(0, 255, (24, 32, 3))).astype(np.uint8)
JPEG = cv2.imencode(".jpg", _PIC)[1].tobytes()
PNG = cv2.imencode(".png", _PIC)[1].tobytes()


def _jpeg_claiming(w: int, h: int) -> bytes:
    """The test JPEG with its frame header (SOF0) claiming ``w`` x ``h`` pixels."""
    b = bytearray(JPEG)
    i = b.index(b"\xff\xc0")
    b[i + 5 : i + 9] = h.to_bytes(2, "big") + w.to_bytes(2, "big")
    return bytes(b)


def _compressed(data: bytes, fmt="jpeg") -> CompressedImage:
    m = CompressedImage(format=fmt)
    m.data = array.array("B", data)
    return m


@st.composite
def corrupt_images(draw):
    base = draw(st.sampled_from([JPEG, PNG]))
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "random", "dims", "intact"]))
    b = bytearray(base)
    if kind == "truncate":
        b = b[: draw(st.integers(0, len(b)))]
    elif kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(b) - 1))
            b[i] = draw(st.integers(0, 255))
    elif kind == "splice":
        i = draw(st.integers(0, len(b)))
        b[i:i] = draw(st.binary(max_size=64))
    elif kind == "random":
        b = bytearray(draw(st.binary(max_size=1024)))
    elif kind == "dims":
        b = bytearray(_jpeg_claiming(draw(st.integers(0, 65535)), draw(st.integers(0, 65535))))
    return _compressed(bytes(b), draw(st.sampled_from(["jpeg", "png", "", "rgb8; jpeg compressed bgr8"])))


@fuzz_settings(200)
@given(corrupt_images())
@example(_compressed(b""))
@example(_compressed(JPEG))
@example(_compressed(_jpeg_claiming(30000, 30000)))  # 900 MP header: refused before decoding
@example(_compressed(_jpeg_claiming(65535, 65535)))
@example(_compressed(_jpeg_claiming(0, 24)))
def test_decode_compressed_image(msg):
    with no_hang():
        try:
            frame = convert.decode_image(msg, "cam_front")
        except convert.DecodeError:
            return
    img = frame.image
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.size > 0
    assert img.shape[0] * img.shape[1] <= MAX_IMAGE_PIXELS


# -- CameraInfo ----------------------------------------------------------------------------------
def _info(w, h, k, d, model="plumb_bob") -> CameraInfo:
    return CameraInfo(width=w, height=h, k=k, d=d, distortion_model=model)


@fuzz_settings(200)
@given(
    st.integers(0, 4096) | st.integers(0, U32),
    st.integers(0, 4096) | st.integers(0, U32),
    st.lists(finite_or_not | st.floats(-2000, 2000), min_size=9, max_size=9),
    st.lists(finite_or_not | st.floats(-1, 1), max_size=16),
    st.sampled_from(["plumb_bob", "rational_polynomial", "equidistant", "", "fisheye", "weird"]),
)
@example(640, 480, [500.0, 0, 320, 0, 500, 240, 0, 0, 1], [0.0] * 5, "plumb_bob")
@example(640, 480, [500.0, 0, 320, 0, 500, 240, 0, 0, 1], [0.0, float("nan"), 0, 0, 0], "plumb_bob")
@example(640, 480, [500.0, 0, 320, 0, 500, 240, 0, 0, 1], [0.1, 0.2, 0.3], "plumb_bob")
@example(640, 480, [500.0, 0, 320, 0, 500, 240, 0, 0, 0], [], "plumb_bob")
@example(U32, U32, [500.0, 0, 320, 0, 500, 240, 0, 0, 1], [], "plumb_bob")
def test_decode_camera_info(w, h, k, d, model):
    with no_hang():
        try:
            intr = convert.decode_camera_info(_info(w, h, k, d, model))
        except convert.DecodeError:
            return
    assert 0 < intr.width <= MAX_IMAGE_SIDE and 0 < intr.height <= MAX_IMAGE_SIDE
    assert intr.K.shape == (3, 3) and np.isfinite(intr.K).all() and intr.K[0, 0] > 0 and intr.K[1, 1] > 0
    assert intr.K[2, 2] == 1.0 and np.isfinite(intr.D).all() and intr.D.size in DISTORTION_SIZES


# -- Imu -----------------------------------------------------------------------------------------
@fuzz_settings(200)
@given(
    st.lists(finite_or_not, min_size=10, max_size=10),
    st.lists(finite_or_not | st.sampled_from([-1.0, 0.0, 1e-3]), min_size=27, max_size=27),
)
@example([0.0] * 6 + [0.0, 0.0, 0.0, 1.0], [-1.0] + [0.0] * 26)
@example([0.0] * 6 + [0.0, 0.0, 0.0, 1.0], [float("nan")] + [0.0] * 26)
@example([0.0] * 6 + [0.0, 0.0, 0.0, 2.0], [0.01] * 27)
@example([0.0] * 6 + [0.0, 0.0, 0.0, 1.0], [0.01] * 9 + [-1.0] + [0.0] * 17)  # no gyro (REP 145)
@example([0.0] * 6 + [0.0, 0.0, 0.0, 1.0], [0.01] * 18 + [-1.0] + [0.0] * 8)  # no accelerometer
def test_decode_imu(vals, covs):
    m = Imu()
    m.angular_velocity.x, m.angular_velocity.y, m.angular_velocity.z = vals[0:3]
    m.linear_acceleration.x, m.linear_acceleration.y, m.linear_acceleration.z = vals[3:6]
    m.orientation.x, m.orientation.y, m.orientation.z, m.orientation.w = vals[6:10]
    m.orientation_covariance, m.angular_velocity_covariance = covs[0:9], covs[9:18]
    m.linear_acceleration_covariance = covs[18:27]
    with no_hang():
        try:
            s = convert.decode_imu(m)
        except convert.DecodeError:
            return
    assert not (covs[9] < 0 or covs[18] < 0)  # a measurement marked absent is never used
    assert np.isfinite(s.angular_velocity).all() and np.isfinite(s.linear_acceleration).all()
    assert s.orientation is None or (
        np.isfinite(s.orientation).all() and abs(np.linalg.norm(s.orientation) - 1) < 1e-3
    )


# -- NavSatFix -----------------------------------------------------------------------------------
@fuzz_settings(200)
@given(
    st.lists(finite_or_not | st.floats(-200, 200), min_size=3, max_size=3),
    st.lists(finite_or_not | st.sampled_from([0.0, -1.0, 4.0]), min_size=9, max_size=9),
    st.integers(0, 255),
    st.integers(-128, 127),
)
@example([48.1, 11.5, 520.0], [4.0, 0, 0, 0, 4.0, 0, 0, 0, 9.0], 2, 0)
@example([48.1, 11.5, 520.0], [0.0] * 9, 2, 0)  # "known" but zero variance
@example([48.1, 11.5, 520.0], [-4.0, 0, 0, 0, 4.0, 0, 0, 0, 9.0], 3, 0)  # negative variance
@example([48.1, 11.5, 520.0], [4.0, 9, 0, 9, 4.0, 0, 0, 0, 9.0], 3, 0)  # not positive semi-definite
@example([48.1, 11.5, 520.0], [4.0, 0, 0, 0, 4.0, 0, 0, 0, 9.0], 200, -1)  # unknown type, no fix
def test_decode_gps(lla, cov, cov_type, status):
    m = NavSatFix()
    m.latitude, m.longitude, m.altitude = lla
    m.position_covariance = cov
    m.position_covariance_type = cov_type
    m.status.status = status
    with no_hang():
        try:
            fix = convert.decode_gps(m)
        except convert.DecodeError:
            return
    assert abs(fix.latitude) <= 90 and abs(fix.longitude) <= 180 and np.isfinite(fix.altitude)
    c = fix.covariance
    assert c.shape == (3, 3) and np.isfinite(c).all() and np.allclose(c, c.T)
    assert np.linalg.eigvalsh(c).min() > 0  # the filter divides by it
    assert fix.status == status
