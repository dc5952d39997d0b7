"""Synchronizer: anchor-driven frames, timeouts, drops by reason, time jumps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_fusion.sync.synchronizer import SensorSpec, Synchronizer

MS = 1_000_000


def make():
    return Synchronizer(
        [
            SensorSpec("lidar", "lidar"),
            SensorSpec("cam", "camera", tolerance_ns=30 * MS, timeout_ns=100 * MS),
            SensorSpec("imu", "imu", mode="interval", timeout_ns=20 * MS, buffer_size=1000),
        ],
        anchor="lidar",
    )


def feed(sync, events):
    frames = []
    for name, stamp in events:
        sync.push(name, stamp, (name, stamp))
        frames += sync.pop_ready()
    return frames + sync.flush()


def stream(seconds=2.0, cam_latency_ms=0):
    ev = []
    for k in range(int(seconds * 100)):  # imu 100 Hz
        ev.append((k * 10 * MS + 1 * MS, "imu"))
    for k in range(int(seconds * 10)):  # lidar 10 Hz
        ev.append((k * 100 * MS + 100 * MS, "lidar"))
    for k in range(int(seconds * 15)):  # camera 15 Hz
        ev.append((k * 66 * MS + 5 * MS + cam_latency_ms * MS, "cam"))
    ev.sort()
    return [(n, s) for s, n in ev]


def test_frames_match_nearest_camera_and_collect_imu():
    frames = feed(make(), stream())
    assert len(frames) == 20
    for f in frames:
        cam = f.matched.get("cam")
        if cam is not None:
            assert abs(cam[1] - f.stamp_ns) <= 30 * MS
        imu = f.series["imu"]
        assert all(s <= f.stamp_ns for _, s in imu)
    all_imu = [s for f in frames for _, s in f.series["imu"]]
    assert all_imu == sorted(set(all_imu))  # nothing delivered twice, in order


def test_dead_camera_never_blocks_beyond_timeout():
    sync = make()
    out = []
    for name, stamp in stream():
        if name == "cam":
            continue
        sync.push(name, stamp, None)
        out += sync.pop_ready()
    # every anchor except the last (still inside its timeout) is emitted without waiting for the camera
    assert len(out) >= 19
    assert all(f.missing == ["cam"] for f in out)
    assert sync.stats()["missing"]["cam"] == len(out)


def test_duplicates_stale_and_overflow_are_counted():
    sync = Synchronizer(
        [SensorSpec("lidar", "lidar"), SensorSpec("cam", "camera", buffer_size=2)], anchor="lidar"
    )
    sync.push("lidar", 100 * MS, 0)
    assert not sync.push("lidar", 100 * MS, 0)
    for k in range(4):
        sync.push("cam", (101 + k) * MS, k)
    sync.push("cam", 300 * MS, 9)
    sync.pop_ready()
    assert not sync.push("cam", 10 * MS, 0)
    d = sync.stats()["dropped"]
    assert d["lidar"]["duplicate"] == 1
    assert d["cam"]["overflow"] == 3
    assert d["cam"]["stale"] == 1


def test_time_jump_backwards_resets_and_flags_frame():
    sync = make()
    frames = feed(sync, stream(2.0))
    again = feed(sync, stream(2.0))  # bag loop: the same stamps again
    assert sync.resets == 1
    assert again[0].reset and not any(f.reset for f in again[1:])
    assert [f.stamp_ns for f in again] == [f.stamp_ns for f in frames]
    # messages of the new timeline that arrived before the anchor's jump are not lost
    assert [f.matched.get("cam") for f in again] == [f.matched.get("cam") for f in frames]


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_arrival_order_within_latency_budget_gives_same_frames(rnd):
    events = stream(1.0)
    # jitter arrival: each message may arrive up to 3 positions late (short reordering, within timeouts)
    keyed = sorted(((i + rnd.uniform(0, 3), n, s) for i, (n, s) in enumerate(events)))
    shuffled = [(n, s) for _, n, s in keyed]

    def summary(frames):
        return [(f.stamp_ns, f.matched.get("cam"), tuple(s for _, s in f.series["imu"])) for f in frames]

    ref = summary(feed(make(), events))
    got = summary(feed(make(), shuffled))
    assert [g[0] for g in got] == [r[0] for r in ref]
    assert [g[1] for g in got] == [r[1] for r in ref]
    # IMU samples may move to the next frame when late, never lost nor duplicated
    flat_ref = sorted(s for r in ref for s in r[2])
    flat_got = sorted(s for g in got for s in g[2])
    assert flat_got == flat_ref


def test_a_single_future_stamp_is_refused_and_does_not_end_waiting():
    sync = make()
    events = stream(2.0)
    out = []
    for i, (name, stamp) in enumerate(events):
        sync.push(name, stamp, (name, stamp))
        if i == 100:
            assert not sync.push("cam", stamp + 3600 * 10**9, ("cam", -1))  # one frame from a broken clock
        out += sync.pop_ready()
    out += sync.flush()
    assert sync.stats()["dropped"]["cam"]["future"] == 1
    assert sync.resets == 0
    ref = feed(make(), stream(2.0))
    assert [f.matched.get("cam") for f in out] == [f.matched.get("cam") for f in ref]


def make_failover():
    return Synchronizer(
        [
            SensorSpec("lidar", "lidar"),
            SensorSpec("cam", "camera", tolerance_ns=30 * MS, timeout_ns=100 * MS),
            SensorSpec("radar", "radar", tolerance_ns=40 * MS, timeout_ns=100 * MS),
            SensorSpec("imu", "imu", mode="interval", timeout_ns=20 * MS, buffer_size=1000),
        ],
        anchor="lidar",
        fallback=("cam", "radar"),
        anchor_timeout_ns=500 * MS,
    )


def rig(seconds, lidar=(0.0, 99.0), cam=(0.0, 99.0)):
    """Events of a 10 Hz LiDAR, 15 Hz camera, 13 Hz radar, 100 Hz IMU; LiDAR and camera only
    publish inside their (start, end) windows in seconds."""
    ev = [(k * 10 * MS + MS, "imu") for k in range(int(seconds * 100))]
    ev += [
        (k * 100 * MS + 100 * MS, "lidar") for k in range(int(seconds * 10)) if lidar[0] <= k * 0.1 < lidar[1]
    ]
    ev += [(k * 66 * MS + 5 * MS, "cam") for k in range(int(seconds * 15)) if cam[0] <= k * 0.066 < cam[1]]
    ev += [(k * 77 * MS + 9 * MS, "radar") for k in range(int(seconds * 13))]
    ev.sort()
    return [(n, t) for t, n in ev]


def test_frames_go_on_when_the_anchor_dies_and_come_back_to_it():
    s = make_failover()
    back = [("lidar", 4_000 * MS + k * 100 * MS) for k in range(20)]  # the LiDAR returns at 4 s
    frames = feed(s, sorted(rig(6.0, lidar=(0.0, 2.0)) + back, key=lambda e: e[1]))
    anchors = [f.anchor for f in frames]
    stamps = [f.stamp_ns for f in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # ordered, no frame twice
    assert anchors[0] == "lidar" and "cam" in anchors
    # the switch happens once the LiDAR was silent for the anchor timeout, and the camera's
    # buffered frames cover the silence: no gap in the output longer than a camera period or two
    assert 2_400 * MS <= s.anchor_changes[0][0] <= 2_700 * MS
    assert max(b - a for a, b in zip(stamps, stamps[1:])) <= 140 * MS
    # camera-anchored frames at the camera's rate until the LiDAR is back
    cam_frames = [f for f in frames if f.anchor == "cam"]
    assert 25 <= len(cam_frames) <= 35 and anchors[-1] == "lidar"
    assert [c[1:] for c in s.anchor_changes] == [("lidar", "cam"), ("cam", "lidar")]
    assert s.stats()["anchor_changes"] == 2


def test_anchor_dead_from_the_start_falls_back_after_the_timeout_only():
    s = make_failover()
    frames = feed(s, rig(3.0, lidar=(99.0, 99.0)))
    assert frames and {f.anchor for f in frames} == {"cam"}
    assert s.anchor_changes[0][0] >= 500 * MS  # the LiDAR had its chance at start-up
    assert frames[0].stamp_ns < 100 * MS  # and the camera frames buffered meanwhile are not lost
    assert len(frames) >= 30


def test_second_fallback_when_the_first_is_dead_too_and_no_switch_without_fallbacks():
    s = make_failover()
    frames = feed(s, rig(3.0, lidar=(99.0, 99.0), cam=(99.0, 99.0)))
    assert {f.anchor for f in frames} == {"radar"} and len(frames) >= 25
    plain = make()  # no fallback: a dead anchor means no frames, as before
    assert feed(plain, [(n, t) for n, t in rig(2.0, lidar=(99.0, 99.0)) if n != "radar"]) == []


def test_a_sensor_that_outlives_all_the_others_keeps_every_message():
    """Its own steady stream is not 'far in the future' of the dead ones (it lost every other
    sweep once they had been silent for the jump threshold)."""
    s = make()
    ev = [(n, t) for n, t in rig(5.0) if n != "radar" and (n == "lidar" or t < 1_000 * MS)]
    frames = feed(s, ev)
    assert [f.stamp_ns for f in frames] == [t for n, t in ev if n == "lidar"]
    assert s.stats()["dropped"]["lidar"] == {}


def _accounted(sync, name="lidar") -> int:
    """Messages of ``name`` pushed minus the frames anchored on it, those buffered and those
    counted as dropped."""
    buffered = len(sync._buffers[name].stamps)
    return sync.received[name] - sync.frames_by_anchor[name] - buffered - sum(sync.dropped[name].values())


def test_every_anchor_message_is_a_frame_buffered_or_counted_across_a_jump():
    sync = make()
    frames = []
    for events in (stream(2.0), stream(2.0), stream(0.5)):  # looped without a flush: anchors pending
        for name, stamp in events:
            sync.push(name, stamp, (name, stamp))
            frames += sync.pop_ready()
    assert sync.resets == 2
    assert sync.frames_by_anchor["lidar"] == len(frames)
    assert _accounted(sync) == 0, (sync.received, len(frames), sync.dropped["lidar"])
    assert sync.dropped["lidar"].get("time_jump", 0) >= 1  # the pending anchor of each old pass


def test_a_jump_counts_each_discarded_message_not_the_jump():
    sync = Synchronizer(
        [
            SensorSpec("lidar", "lidar"),
            SensorSpec("cam", "camera", tolerance_ns=30 * MS, timeout_ns=100 * MS),
        ],
        anchor="lidar",
    )
    sync.push("lidar", 4900 * MS, 4900)
    sync.push("cam", 4900 * MS, 0)
    assert len(sync.pop_ready()) == 1
    for stamp in (5000 * MS, 5030 * MS):  # two sweeps waiting for a camera
        sync.push("lidar", stamp, stamp)
    assert sync.pop_ready() == []
    sync.push("lidar", 100 * MS, 100)  # the bag loops
    assert sync.resets == 1
    assert sync.dropped["lidar"]["time_jump"] == 2  # the two old sweeps; the new one is kept
    assert list(sync._buffers["lidar"].stamps) == [100 * MS]
