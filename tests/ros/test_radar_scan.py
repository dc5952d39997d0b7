"""radar_msgs/RadarScan input: conversion against hand-built returns, and a generated RadarScan bag
decoding to the same detections as the PointCloud2 bag of the same seed, then running offline."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from radar_msgs.msg import RadarReturn
from radar_msgs.msg import RadarScan as RadarScanMsg
from sensor_fusion.bag.io import bag_topics, read_messages
from sensor_fusion.bag.offline import run_bag
from sensor_fusion.config import from_flat
from sensor_fusion.core.types import RadarScan
from sensor_fusion.ros import convert
from sensor_fusion.sim.recorder import calibration_from_bag, record, scenario_from_bag


def test_returns_follow_rep103_angles_and_bad_returns_are_dropped():
    msg = RadarScanMsg()
    msg.header.frame_id = "radar_front"
    msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 5
    msg.returns = [
        RadarReturn(range=10.0, azimuth=np.pi / 2, elevation=0.0, doppler_velocity=-3.0, amplitude=12.0),
        RadarReturn(range=20.0, azimuth=0.0, elevation=-0.1, doppler_velocity=1.5, amplitude=-4.0),
        RadarReturn(range=float("nan"), azimuth=0.0, elevation=0.0, doppler_velocity=0.0, amplitude=0.0),
    ]
    scan, bad = convert.decode_radar_scan(msg)
    assert bad == 1 and scan.stamp_ns == 12_000_000_005 and scan.frame_id == "radar_front"
    np.testing.assert_allclose(scan.xyz[0], [0.0, 10.0, 0.0], atol=1e-5)  # anticlockwise: left
    np.testing.assert_allclose(scan.xyz[1], [20 * np.cos(0.1), 0.0, -20 * np.sin(0.1)], atol=1e-5)
    np.testing.assert_array_equal(scan.radial_velocity, np.float32([-3.0, 1.5]))
    np.testing.assert_array_equal(scan.rcs, np.float32([12.0, -4.0]))


def test_encode_decode_round_trip():
    rng = np.random.default_rng(0)
    xyz = rng.uniform([1, -30, -2], [150, 30, 3], (50, 3)).astype(np.float32)
    s = RadarScan(
        7, "radar_front", xyz, rng.normal(size=50).astype(np.float32), rng.normal(size=50).astype(np.float32)
    )
    back, bad = convert.decode_radar_scan(convert.encode_radar_scan(s))
    assert bad == 0
    np.testing.assert_allclose(back.xyz, s.xyz, atol=2e-4)  # float32 range/angles at 150 m
    np.testing.assert_array_equal(back.radial_velocity, s.radial_velocity)
    np.testing.assert_array_equal(back.rcs, s.rcs)


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    d = tmp_path_factory.mktemp("radar")
    small = {"lidar": {"beams": 16, "azimuth_resolution_deg": 0.4}, "cameras": {"rate_hz": 5.0}}
    out = {}
    for fmt in ("pointcloud2", "radar_scan"):
        p = d / f"{fmt}.yaml"
        p.write_text(yaml.safe_dump({**small, "radars": {"format": fmt}}))
        record("urban", 5, 1.5, d / fmt, overrides_file=str(p))
        out[fmt] = d / fmt
    return out


def test_generated_radar_scan_decodes_like_the_point_cloud(bags):
    assert bag_topics(bags["radar_scan"])["/sensors/radar_front/scan"][0] == "radar_msgs/msg/RadarScan"
    pc = [
        convert.decode_radar(m)[0]
        for *_, m in read_messages(bags["pointcloud2"], ["/sensors/radar_front/points"])
    ]
    rs = [
        convert.decode_radar_scan(m)[0]
        for *_, m in read_messages(bags["radar_scan"], ["/sensors/radar_front/scan"])
    ]
    assert len(pc) == len(rs) > 10 and sum(len(s) for s in rs) > 0
    for a, b in zip(pc, rs):
        assert a.stamp_ns == b.stamp_ns
        np.testing.assert_allclose(b.xyz, a.xyz, atol=2e-4)
        np.testing.assert_array_equal(b.radial_velocity, a.radial_velocity)


def test_offline_run_reads_radar_scan(bags, tmp_path):
    bag = bags["radar_scan"]
    cfg = from_flat(
        {"radars.radar_front.msg_type": "radar_scan", "radars.radar_front.topic": "/sensors/radar_front/scan"}
    )
    d = scenario_from_bag(bag)["config"]["gps"]["datum"]
    cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
    s = run_bag(bag, cfg, calibration_from_bag(bag), tmp_path / "out")
    assert s.frames > 5 and not s.decode_errors
    assert s.diagnostics["ego"]["radar_velocity_scans_used"] > 0  # the scans reached the pipeline


def test_input_specs_subscribe_the_configured_radar_type():
    from sensor_fusion.ros.inputs import input_specs

    cfg = from_flat({"radars.radar_front.msg_type": "radar_scan", "radars.radar_front.topic": "/r/scan"})
    (spec,) = [s for s in input_specs(cfg) if s.sensor == "radar_front"]
    assert spec.msg_class is RadarScanMsg and spec.topic == "/r/scan" and spec.parse_raw is None
    msg = convert.encode_radar_scan(
        RadarScan(
            5, "radar_front", np.ones((2, 3), np.float32), np.zeros(2, np.float32), np.zeros(2, np.float32)
        )
    )
    assert len(spec.decode(msg)) == 2
    (default,) = [s for s in input_specs(from_flat({})) if s.sensor == "radar_front"]
    assert default.msg_class.__name__ == "PointCloud2"
