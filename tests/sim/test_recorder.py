"""Scenario bags end to end: determinism, calibration round trip, offline run, evaluation, replay timing."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import String

from sensor_fusion.bag.io import BagWriter, bag_topics, read_messages
from sensor_fusion.bag.offline import run_bag
from sensor_fusion.bag.replay import BagPlayer
from sensor_fusion.bag.typestore import typestore
from sensor_fusion.config import from_flat
from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.core.stamps import to_ns
from sensor_fusion.eval.bags import KEYS, evaluate_bags
from sensor_fusion.sim.recorder import calibration_from_bag, record, scenario_from_bag

SMALL = {"lidar": {"beams": 16, "azimuth_resolution_deg": 0.4}, "cameras": {"rate_hz": 5.0}}


@pytest.fixture(scope="module")
def small_overrides(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "small.yaml"
    p.write_text(yaml.safe_dump(SMALL))
    return str(p)


@pytest.fixture(scope="module")
def urban_bag(tmp_path_factory, small_overrides):
    out = tmp_path_factory.mktemp("bags") / "urban"
    record("urban", 3, 2.0, out, overrides_file=small_overrides)
    return out


def _digest(bag):
    # compare messages, not CDR bytes: serialisers leave alignment padding uninitialised
    return [(topic, t, m) for topic, _mt, t, m in read_messages(bag)]


def test_same_seed_same_bag_other_seed_other_bag(urban_bag, tmp_path, small_overrides):
    again = tmp_path / "again"
    record("urban", 3, 2.0, again, overrides_file=small_overrides)
    assert _digest(again) == _digest(urban_bag)
    other = tmp_path / "other"
    record("urban", 4, 2.0, other, overrides_file=small_overrides)
    lidar = [d for d in _digest(other) if d[0] == "/sensors/lidar/points"]
    ref = [d for d in _digest(urban_bag) if d[0] == "/sensors/lidar/points"]
    assert lidar != ref


def test_bag_contents_rates_and_calibration(urban_bag, repo):
    topics = bag_topics(urban_bag)
    for t in (
        "/sensors/lidar/points",
        "/sensors/imu",
        "/sensors/gps/fix",
        "/sensors/radar_front/points",
        "/sensors/camera_front/image/compressed",
        "/sensors/camera_front/camera_info",
        "/ground_truth/objects",
        "/ground_truth/odom",
        "/calibration",
        "/tf_static",
        "/scenario",
    ):
        assert t in topics, f"{t} missing from {sorted(topics)}"
    assert topics["/sensors/lidar/points"][1] in (19, 20)
    assert topics["/sensors/imu"][1] == pytest.approx(400, abs=2)
    assert topics["/sensors/camera_front/image/compressed"][1] == 10
    cal = calibration_from_bag(urban_bag)
    ref = load_calibration(repo / "config" / "calibration.yaml")
    for name, (_parent, T) in ref.frames.items():
        np.testing.assert_allclose(cal.T_base_from(name), T, atol=1e-9)
    assert scenario_from_bag(urban_bag)["seed"] == 3
    # write order is arrival order (stamp + latency): header stamps may be out of order, log times never
    logs = [t for _tp, _mt, t, _m in read_messages(urban_bag)]
    assert logs == sorted(logs)


def test_custom_messages_readable_by_rosbags_alone(urban_bag):
    """What `ros2 bag` (via the bag's own schema) and rosbags users see: our types deserialize."""
    from rosbags.rosbag2 import Reader

    ts = typestore()
    with Reader(urban_bag) as r:
        conns = [c for c in r.connections if c.topic == "/ground_truth/objects"]
        for conn, _t, raw in r.messages(connections=conns):
            msg = ts.deserialize_cdr(raw, conn.msgtype)
            assert msg.header.frame_id == "odom" and len(msg.objects) > 0
            break


def test_offline_run_and_evaluate(urban_bag, tmp_path, repo):
    cfg = from_flat({})
    scenario = scenario_from_bag(urban_bag)
    d = scenario["config"]["gps"]["datum"]
    cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
    out = tmp_path / "tracks"
    s = run_bag(urban_bag, cfg, calibration_from_bag(urban_bag), out)
    assert s.frames >= 18 and not s.decode_errors
    # the radar's static returns (returns on LiDAR boxes excluded) measured the ego speed
    ego = s.diagnostics["ego"]
    assert ego["radar_velocity_scans_used"] > 0 and ego["vel_accepted"] > 0
    assert "/fusion_node/tracked_objects" in bag_topics(out)
    res = evaluate_bags(urban_bag, out, plot=tmp_path / "bev.png")
    assert set(KEYS) <= set(res)
    assert res["gps_position_rmse"] is not None and 0.2 < res["gps_position_rmse"] < 2.0
    assert 0.0 < res["gps_bound_position_rmse"] < res["gps_position_rmse"]
    assert res["latency_ms"]["total"]["p50"] > 0
    assert (tmp_path / "bev.png").stat().st_size > 10_000
    # deterministic: the same bag twice gives the same tracks
    out2 = tmp_path / "tracks2"
    run_bag(urban_bag, cfg, calibration_from_bag(urban_bag), out2)
    a = [m for _t, _mt, _s, m in read_messages(out, ["/fusion_node/tracked_objects"])]
    b = [m for _t, _mt, _s, m in read_messages(out2, ["/fusion_node/tracked_objects"])]
    assert len(a) == len(b) and a == b


def test_replay_keeps_timing_at_rate(tmp_path):
    bag = tmp_path / "timed"
    period_ns, n = 50_000_000, 21  # 20 Hz for 1 s of bag time
    with BagWriter(bag) as w:
        for k in range(n):
            w.write("/chatter", String(data=str(k)), 1_000_000_000 + k * period_ns)
    rclpy.init()
    try:
        pub_node = rclpy.create_node("replay_pub")
        sub_node = rclpy.create_node("replay_sub")
        arrivals: list[float] = []
        sub_node.create_subscription(String, "/chatter", lambda m: arrivals.append(time.monotonic()), 50)
        ex = SingleThreadedExecutor()
        ex.add_node(sub_node)
        spin = threading.Thread(target=ex.spin, daemon=True)
        spin.start()
        player = BagPlayer(pub_node, bag, rate=2.0)
        assert player.wait_for_subscribers(["/chatter"], 10.0)
        time.sleep(0.3)
        stats = player.play()
        deadline = time.monotonic() + 5.0
        while len(arrivals) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        ex.shutdown()
        pub_node.destroy_node()
        sub_node.destroy_node()
    finally:
        rclpy.shutdown()
    assert stats.published == n and len(arrivals) == n
    # the player's own schedule: 1 s of bag at rate 2 takes 0.5 s, every message on time
    assert stats.wall_s == pytest.approx(0.5, abs=0.05), f"1 s of bag at rate 2 took {stats.wall_s:.3f} s"
    # a loaded host delays a wake-up by tens of ms (0.089 s with two scoring jobs on this 2-core
    # machine, session 44); late by a tenth of a second is a pacing fault, not the host
    assert stats.max_lag_s < 0.1
    span = arrivals[-1] - arrivals[0]  # and what a subscriber saw (looser: delivery adds jitter)
    assert span == pytest.approx(0.5, abs=0.1), f"subscriber saw a span of {span:.3f} s"


def test_truth_carries_lidar_points_radar_returns_and_visibility(urban_bag):
    import json

    from sensor_fusion.sim.annotation import ANNOTATIONS_TOPIC

    topics = [ANNOTATIONS_TOPIC, "/ground_truth/objects", "/sensors/lidar/points"]
    msgs: dict[str, list] = {t: [] for t in topics}
    for topic, _mt, _t, m in read_messages(urban_bag, topics):
        msgs[topic].append(m)
    docs = [json.loads(m.data) for m in msgs[ANNOTATIONS_TOPIC]]
    lidar = {d["stamp_ns"]: d for d in docs if d["sensor"] == "lidar"}
    radar = [d for d in docs if d["sensor"] == "radar_front"]
    clouds = {to_ns(m.header.stamp.sec, m.header.stamp.nanosec): m for m in msgs["/sensors/lidar/points"]}
    assert set(lidar) == set(clouds) and radar
    for gt in msgs["/ground_truth/objects"]:
        st = to_ns(gt.header.stamp.sec, gt.header.stamp.nanosec)
        if st not in lidar:
            continue
        d = lidar[st]
        ids = [int.from_bytes(bytes(o.object_id.uuid[:8]), "big") for o in gt.objects]
        assert d["ids"] == ids
        n = np.asarray(d["num_points"])
        assert 0 < n.sum() < clouds[st].width  # ground points belong to no object
        vis, lvl = np.asarray(d["visibility"]), np.asarray(d["visibility_level"])
        assert (
            ((lvl >= 1) & (lvl <= 4)).all() and (lvl[vis <= 0.4] == 1).all() and (lvl[vis > 0.8] == 4).all()
        )
    assert sum(sum(d["num_points"]) for d in radar) > 0


def test_visibility_levels_and_counts_per_id():
    from sensor_fusion.sim.annotation import count_per_id, visibility_level

    v = [0.0, 0.4, 0.41, 0.6, 0.61, 0.8, 0.81, 1.0]
    np.testing.assert_array_equal(visibility_level(v), [1, 1, 2, 2, 3, 3, 4, 4])
    np.testing.assert_array_equal(count_per_id([7, 3, 9], [-1, 3, 3, 7, -1, 3]), [1, 3, 0])
    np.testing.assert_array_equal(count_per_id([7], []), [0])


class _Wall:
    """A static world of one opaque wall, the plane x = 10 m for |y| < 5 m (``StaticWorld.cast``)."""

    def cast(self, origins, dirs):
        from types import SimpleNamespace

        o = np.broadcast_to(np.asarray(origins, np.float64).reshape(-1, 3), np.shape(dirs))
        d = np.asarray(dirs, np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (10.0 - o[:, 0]) / d[:, 0]
        y = o[:, 1] + t * d[:, 1]
        return SimpleNamespace(dist=np.where((t > 0) & (np.abs(y) < 5.0), t, np.inf))


def test_lidar_visibility_counts_what_the_static_world_hides():
    import json

    from sensor_fusion.sim.annotation import lidar_annotation
    from tests.sim.common import FakeWorld, box

    boxes = [box(1, (5.0, 0.0, 0.8), (4.0, 1.8, 1.6)), box(2, (20.0, 0.0, 0.8), (4.0, 1.8, 1.6))]
    boxes.append(box(3, (20.0, 10.0, 0.8), (4.0, 1.8, 1.6)))  # beside the wall's end: partly seen
    world = FakeWorld(boxes)
    mount = np.array([0.0, 0.0, 1.9])
    open_vis = json.loads(lidar_annotation(world, 0, np.zeros(0), mount))["visibility"]
    world.static = _Wall()
    d = json.loads(lidar_annotation(world, 0, np.zeros(0), mount))
    assert d["visibility"][0] == open_vis[0] == 1.0 and open_vis[1] > 0.5  # no box hides box 2 fully
    assert d["visibility"][1] == 0.0 and d["visibility_level"][1] == 1  # behind the wall
    assert 0.0 < d["visibility"][2] < open_vis[2]
