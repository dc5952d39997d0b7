"""PointCloud2 and other message decoding, including malformed input."""

from __future__ import annotations

import array

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image, Imu, NavSatFix, PointCloud2, PointField

from sensor_fusion.core import pointfields as pf
from sensor_fusion.ros import convert


def _cloud(n=1000, extra=True, seed=0):
    rng = np.random.default_rng(seed)
    cols = {
        "x": rng.normal(size=n).astype(np.float32),
        "y": rng.normal(size=n).astype(np.float32),
        "z": rng.normal(size=n).astype(np.float32),
    }
    if extra:
        cols["intensity"] = rng.uniform(0, 255, n).astype(np.float32)
        cols["t"] = np.linspace(0, 0.1, n, dtype=np.float32)
        cols["ring"] = (np.arange(n) % 64).astype(np.uint16)
    return cols, convert.encode_cloud(123_456_789_012, "lidar_top", cols)


def test_lidar_round_trip_is_exact():
    cols, msg = _cloud()
    cloud, bad = convert.decode_lidar(msg)
    assert bad == 0 and cloud.stamp_ns == 123_456_789_012 and cloud.frame_id == "lidar_top"
    np.testing.assert_array_equal(cloud.xyz, np.column_stack([cols["x"], cols["y"], cols["z"]]))
    np.testing.assert_array_equal(cloud.intensity, cols["intensity"])
    np.testing.assert_array_equal(cloud.time_offset, cols["t"])
    np.testing.assert_array_equal(cloud.ring, cols["ring"])


def test_decode_views_the_buffer_without_copy():
    _, msg = _cloud(extra=False)
    pts = convert.cloud_points(msg)
    assert not pts.flags.owndata  # a view over the message buffer


def test_padded_rows_and_big_endian_and_float64():
    n, w, h = 24, 6, 4
    dt = np.dtype(
        {"names": ["x", "y", "z"], "formats": [">f8", ">f8", ">f8"], "offsets": [0, 8, 16], "itemsize": 32}
    )
    pts = np.zeros(n, dtype=dt)
    pts["x"], pts["y"], pts["z"] = np.arange(n), -np.arange(n), 2 * np.arange(n)
    rows = pts.tobytes()
    pad = 8
    data = b"".join(rows[r * w * 32 : (r + 1) * w * 32] + bytes(pad) for r in range(h))
    layout = pf.CloudLayout(
        (pf.Field("x", 0, 8), pf.Field("y", 8, 8), pf.Field("z", 16, 8)), 32, w * 32 + pad, w, h, True
    )
    out = pf.xyz_f32(pf.decode(layout, data))
    np.testing.assert_array_equal(out[:, 0], np.arange(n, dtype=np.float32))
    np.testing.assert_array_equal(out[:, 2], 2 * np.arange(n, dtype=np.float32))


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda m: setattr(m, "height", 2), "buffer has"),
        (lambda m: setattr(m, "point_step", 0), "point_step"),
        (lambda m: setattr(m, "row_step", 4), "row_step"),
        (
            lambda m: m.fields.__setitem__(0, PointField(name="x", offset=0, datatype=99, count=1)),
            "unknown datatype",
        ),
        (lambda m: m.fields.__setitem__(0, PointField(name="x", offset=100, datatype=7, count=1)), "exceeds"),
        (lambda m: m.fields.__setitem__(1, PointField(name="x", offset=4, datatype=7, count=1)), "duplicate"),
        (lambda m: setattr(m, "fields", [f for f in m.fields if f.name != "z"]), "no field 'z'"),
    ],
)
def test_malformed_clouds_raise_clear_errors(mutate, match):
    _, msg = _cloud(100)
    mutate(msg)
    with pytest.raises(convert.DecodeError, match=match):
        convert.decode_lidar(msg)


def test_nan_points_are_removed_and_counted():
    cols, msg = _cloud(100)
    cols["x"][[3, 50]] = np.nan
    cols["z"][7] = np.inf
    msg = convert.encode_cloud(1, "lidar_top", cols)
    cloud, bad = convert.decode_lidar(msg)
    assert bad == 3 and len(cloud) == 97 and np.isfinite(cloud.xyz).all()
    assert cloud.time_offset.shape == (97,)


def test_all_nan_cloud_is_an_error_and_empty_cloud_is_fine():
    msg = convert.encode_cloud(1, "l", {k: np.full(5, np.nan, np.float32) for k in "xyz"})
    with pytest.raises(convert.DecodeError, match="NaN"):
        convert.decode_lidar(msg)
    empty = convert.encode_cloud(1, "l", {k: np.zeros(0, np.float32) for k in "xyz"})
    cloud, bad = convert.decode_lidar(empty)
    assert len(cloud) == 0 and bad == 0


def test_point_limit():
    _, msg = _cloud(100)
    with pytest.raises(convert.DecodeError, match="limit"):
        convert.decode_lidar(msg, max_points=50)


def test_radar_fields_configurable():
    n = 20
    cols = {
        "px": np.ones(n, np.float32),
        "py": np.zeros(n, np.float32),
        "pz": np.zeros(n, np.float32),
        "vel": np.full(n, -3.0, np.float32),
        "snr": np.full(n, 10.0, np.float32),
    }
    msg = convert.encode_cloud(5, "radar_front", cols)
    scan, bad = convert.decode_radar(msg, ("px", "py", "pz", "vel", "snr"))
    assert bad == 0 and np.all(scan.radial_velocity == -3.0) and np.all(scan.rcs == 10.0)
    with pytest.raises(convert.DecodeError, match="no field .x."):
        convert.decode_radar(msg)


def test_images_raw_and_compressed():
    import cv2

    img = np.zeros((8, 10, 3), np.uint8)
    img[..., 2] = 200  # red in BGR
    raw = Image(height=8, width=10, encoding="rgb8", step=30)
    raw.data = array.array("B", img[..., ::-1].tobytes())
    frame = convert.decode_image(raw, "cam")
    np.testing.assert_array_equal(frame.image, img)
    ok, jpg = cv2.imencode(".jpg", img)
    comp = CompressedImage(format="jpeg")
    comp.data = array.array("B", jpg.tobytes())
    assert convert.decode_image(comp, "cam").image.shape == (8, 10, 3)
    comp.data = array.array("B", b"not a jpeg")
    with pytest.raises(convert.DecodeError, match="does not decode"):
        convert.decode_image(comp, "cam")
    raw.step = 5
    with pytest.raises(convert.DecodeError, match="does not fit"):
        convert.decode_image(raw, "cam")
    raw.encoding = "yuv422"
    with pytest.raises(convert.DecodeError, match="encoding"):
        convert.decode_image(raw, "cam")


def test_imu_and_gps_validation():
    imu = Imu()
    imu.linear_acceleration.z = 9.81
    imu.orientation_covariance[0] = -1.0
    s = convert.decode_imu(imu)
    assert s.orientation is None and s.linear_acceleration[2] == pytest.approx(9.81)
    imu.angular_velocity.x = float("nan")
    with pytest.raises(convert.DecodeError):
        convert.decode_imu(imu)
    fix = NavSatFix(latitude=48.1, longitude=11.5, altitude=500.0)
    fix.position_covariance_type = NavSatFix.COVARIANCE_TYPE_DIAGONAL_KNOWN
    fix.position_covariance = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 4.0]
    g = convert.decode_gps(fix)
    assert g.covariance[2, 2] == 4.0
    fix.latitude = 123.0
    with pytest.raises(convert.DecodeError, match="out of range"):
        convert.decode_gps(fix)


def test_encode_uses_array_buffer():
    _, msg = _cloud(10)
    assert isinstance(msg, PointCloud2) and isinstance(msg.data, array.array)


def test_detections_round_trip_and_non_finite_rows_dropped():
    from sensor_fusion.core.types import Detections

    n = 3
    det = Detections(
        stamp_ns=1_700_000_000_123_456_789,
        frame_id="odom",
        centers=np.array([[10.0, -2.0, 0.8], [20.0, 3.0, 0.9], [np.nan, 0.0, 0.0]]),
        sizes=np.array([[4.5, 1.8, 1.6], [0.7, 0.7, 1.7], [1.0, 1.0, 1.0]]),
        yaw=np.array([0.3, -2.0, 0.0]),
        labels=np.array([1, 7, 1]),
        scores=np.array([0.9, 0.25, 0.5]),
        velocity=np.array([[1.0, 2.0], [np.nan, np.nan], [0.0, 0.0]]),
        pos_cov=np.tile(np.array([[0.04, 0.01], [0.01, 0.09]]), (n, 1, 1)),
        sensors=np.array([1, 1, 1], np.uint8),
    )
    out, bad = convert.decode_detections(convert.detections_msg(det))
    assert bad == 1 and len(out) == 2
    assert out.stamp_ns == det.stamp_ns and out.frame_id == "odom"
    ok = slice(0, 2)
    np.testing.assert_allclose(out.centers, det.centers[ok])
    np.testing.assert_allclose(out.sizes, det.sizes[ok])
    np.testing.assert_allclose(out.yaw, det.yaw[ok], atol=1e-12)
    np.testing.assert_array_equal(out.labels, det.labels[ok])
    np.testing.assert_allclose(out.scores, det.scores[ok], rtol=1e-6)  # float32 field
    np.testing.assert_allclose(out.pos_cov, det.pos_cov[ok])
    np.testing.assert_array_equal(out.velocity[0], [1.0, 2.0])
    assert np.isnan(out.velocity[1]).all()
