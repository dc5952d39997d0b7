"""ros/cdr.py: serialized PointCloud2 / Image / CompressedImage viewed without copying, checked
against rclpy's own serializer, and fuzzed (truncated, oversized, misaligned, lying headers)."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage, Image

from sensor_fusion.ros import cdr, convert
from tests.ros.test_convert import _cloud

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _serialized_cloud(n=500, frame="lidar_top"):
    cols, msg = _cloud(n)
    msg.header.frame_id = frame
    return cols, msg, bytearray(serialize_message(msg))


def test_pointcloud2_matches_the_typed_message_and_views_the_buffer():
    _, msg, raw = _serialized_cloud()
    view = cdr.parse_pointcloud2(raw)
    assert view.header.frame_id == "lidar_top"
    assert (view.header.stamp.sec, view.header.stamp.nanosec) == (
        msg.header.stamp.sec,
        msg.header.stamp.nanosec,
    )
    assert (view.height, view.width, view.point_step, view.row_step) == (
        msg.height,
        msg.width,
        msg.point_step,
        msg.row_step,
    )
    assert [(f.name, f.offset, f.datatype, f.count) for f in view.fields] == [
        (f.name, f.offset, f.datatype, f.count) for f in msg.fields
    ]
    typed, _ = convert.decode_lidar(msg)
    ours, _ = convert.decode_lidar(view)
    assert ours.stamp_ns == typed.stamp_ns and ours.frame_id == typed.frame_id
    np.testing.assert_array_equal(ours.xyz, typed.xyz)
    np.testing.assert_array_equal(ours.time_offset, typed.time_offset)
    # zero copy: the structured points are a view into the serialized bytes
    pts = convert.cloud_points(view)
    assert np.shares_memory(pts, np.frombuffer(raw, np.uint8))


def test_big_endian_encapsulation_is_read():
    """A hand-written big-endian message (some DDS vendors may send CDR_BE)."""

    def s(text: str) -> bytes:
        b = text.encode() + b"\0"
        return struct.pack(">I", len(b)) + b

    body = struct.pack(">iI", 7, 5) + s("cam")  # stamp, frame_id: ends at byte 16, aligned
    body += struct.pack(">II", 1, 2) + s("mono8")  # height, width, encoding: ends at 34
    body += b"\0" + b"\0" + struct.pack(">I", 2)  # is_bigendian, 1 byte of padding, step
    body += struct.pack(">I", 2) + b"\x0a\x0b"  # data
    img = cdr.parse_image(b"\x00\x00\x00\x00" + body)
    assert (img.header.stamp.sec, img.header.frame_id, img.width, img.encoding, img.step) == (
        7,
        "cam",
        2,
        "mono8",
        2,
    )
    assert bytes(img.data) == b"\x0a\x0b"


def test_image_and_compressed_image_decode_like_the_typed_messages():
    rng = np.random.default_rng(3)
    bgr = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    im = Image(height=24, width=32, encoding="bgr8", step=96)
    im.header.frame_id = "camera_front"
    im.data = bgr.tobytes()
    typed = convert.decode_image(im, "camera_front")
    ours = convert.decode_image(cdr.parse_image(serialize_message(im)), "camera_front")
    np.testing.assert_array_equal(ours.image, typed.image)
    ok, jpg = cv2.imencode(".jpg", bgr)
    assert ok
    cm = CompressedImage(format="jpeg")
    cm.data = jpg.tobytes()
    raw = cdr.parse_compressed_image(serialize_message(cm))
    assert raw.format == "jpeg"
    np.testing.assert_array_equal(convert.decode_image(raw, "c").image, convert.decode_image(cm, "c").image)


@pytest.mark.parametrize("parse", [cdr.parse_pointcloud2, cdr.parse_image, cdr.parse_compressed_image])
def test_garbage_and_wrong_encapsulation_are_rejected(parse):
    for bad in (
        b"",
        b"\x00",
        b"\x00\x01\x00",
        b"\x01\x02\x00\x00" + b"\0" * 64,
        b"\x00\x07\x00\x00" + b"\0" * 64,
    ):
        with pytest.raises(cdr.CdrError):
            parse(bad)


def test_every_truncation_of_a_cloud_is_rejected():
    _, _, raw = _serialized_cloud(n=20)
    for cut in range(len(raw)):
        with pytest.raises(cdr.CdrError):
            cdr.parse_pointcloud2(raw[:cut])


def test_lying_lengths_are_rejected_without_allocating():
    _, _, raw = _serialized_cloud(n=20)
    # the frame_id length (right after the 4-byte encapsulation and the 8-byte stamp) claims 4 GB
    lie = bytearray(raw)
    lie[12:16] = struct.pack("<I", 0xFFFFFFF0)
    with pytest.raises(cdr.CdrError, match="string of"):
        cdr.parse_pointcloud2(lie)
    # the data length claims more than the buffer holds
    data_len_at = len(raw) - 1 - 20 * _cloud(20)[1].point_step - 4
    lie = bytearray(raw)
    lie[data_len_at : data_len_at + 4] = struct.pack("<I", 1 << 30)
    with pytest.raises(cdr.CdrError, match="truncated"):
        cdr.parse_pointcloud2(lie)


@FUZZ
@given(st.binary(max_size=512))
@example(b"\x00\x01\x00\x00" + b"\xff" * 12)
def test_random_bytes_raise_only_cdr_error(data):
    for parse in (cdr.parse_pointcloud2, cdr.parse_image, cdr.parse_compressed_image):
        try:
            parse(data)
        except cdr.CdrError:
            pass


@FUZZ
@given(st.data())
def test_mutated_clouds_are_parsed_or_rejected_and_decoding_never_crashes(data):
    """Flip bytes anywhere in a valid message (headers, field table, lengths, payload): the parser
    returns a view or raises CdrError, and decoding the view returns a cloud or raises DecodeError."""
    _, _, raw = _serialized_cloud(n=8)
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    try:
        view = cdr.parse_pointcloud2(buf)
    except cdr.CdrError:
        return
    try:
        cloud, _ = convert.decode_lidar(view)
    except convert.DecodeError:
        return
    assert cloud.xyz.dtype == np.float32 and np.isfinite(cloud.xyz).all()
