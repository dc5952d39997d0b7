"""Reading bags cut short (a killed recorder, a full disk): everything up to the last complete
chunk, one warning saying how much, never a crash."""

from __future__ import annotations

import logging
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.errors import ReaderError
from sensor_msgs.msg import Imu
from std_msgs.msg import String

from sensor_fusion.bag import recover
from sensor_fusion.bag.io import BagWriter, bag_topics, read_messages
from sensor_fusion.ros.convert import time_msg

N = 300


def _write(path, flush_s: float = 0.0) -> None:
    """N Imu messages and a string every 10th, stamps 10 ms apart; ``flush_s=0`` closes a chunk
    every second message, so the file has many chunks to cut between."""
    with BagWriter(path, flush_s=flush_s) as w:
        for k in range(N):
            t = 1_000_000_000 + k * 10_000_000
            m = Imu()
            m.header.stamp, m.header.frame_id = time_msg(t), "imu"
            m.linear_acceleration.x = float(k)
            w.write("/imu", m, t)
            if k % 10 == 0:
                w.write("/note", String(data=f"n{k}"), t)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    path = tmp_path_factory.mktemp("bags") / "whole"
    _write(path)
    return path


def _cut(whole, dst, nbytes: int, keep_metadata: bool):
    dst.mkdir()
    data = (whole / "whole.mcap").read_bytes()[:nbytes]
    (dst / f"{dst.name}.mcap").write_bytes(data)
    if keep_metadata:  # a copied-then-truncated bag keeps it; a killed recorder never wrote it
        text = (whole / "metadata.yaml").read_text().replace("whole.mcap", f"{dst.name}.mcap")
        (dst / "metadata.yaml").write_text(text)
    return dst


def _imu_values(path) -> list[float]:
    return [m.linear_acceleration.x for t, _mt, _ts, m in read_messages(path, ["/imu"])]


def test_complete_bag_reads_the_same_through_the_salvage_scan(whole):
    """The salvage scan of a complete file yields exactly what rosbags reads."""
    with Reader(whole) as r:
        ref = [(c.topic, t, bytes(raw)) for c, t, raw in r.messages()]
    rec = recover.scan(whole / "whole.mcap")
    got = [(topic, t, raw) for topic, _mt, t, raw in recover.messages(rec)]
    assert sorted(got) == sorted(ref) and len(got) == N + N // 10
    assert [t for _, t, _ in got] == sorted(t for _, t, _ in got)
    assert rec.stop_reason == "end of file"


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.77, 0.999])
@pytest.mark.parametrize("keep_metadata", [True, False])
def test_cut_bag_is_read_up_to_its_last_complete_chunk_with_one_warning(
    whole, tmp_path, caplog, fraction, keep_metadata
):
    size = (whole / "whole.mcap").stat().st_size
    cut = _cut(whole, tmp_path / "cut", int(size * fraction), keep_metadata)
    with pytest.raises(ReaderError if keep_metadata else FileNotFoundError):  # rosbags reads nothing
        Reader(cut).open()
    with caplog.at_level(logging.WARNING, logger="sensor_fusion.bag.io"):
        topics = bag_topics(cut)
        values = _imu_values(cut)
        _imu_values(cut)
    # a prefix of the drive, in order, as many as the index counted
    assert len(values) == topics["/imu"][1] > 0
    assert values == [float(k) for k in range(len(values))]
    assert len(values) <= N  # a cut in the summary section (0.999) loses no message
    # everything in the kept bytes was recovered: one message per 2 chunks at most is lost
    assert len(values) >= fraction * N - 4
    warnings = [r.getMessage() for r in caplog.records if "incomplete" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert f"recovered {sum(n for _, n in topics.values())} messages over " in warnings[0]


def test_cut_before_the_first_chunk_is_one_clear_error(whole, tmp_path):
    cut = _cut(whole, tmp_path / "tiny", 40, keep_metadata=False)
    with pytest.raises(ReaderError, match="cannot read bag"):
        bag_topics(cut)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut_at=st.integers(min_value=0, max_value=10**9), flip=st.integers(min_value=0, max_value=255))
def test_fuzz_any_cut_reads_a_prefix_or_refuses_cleanly(whole, tmp_path_factory, cut_at, flip):
    """Cut anywhere, with the last kept byte changed: a prefix of the messages or ReaderError."""
    data = bytearray((whole / "whole.mcap").read_bytes())
    n = cut_at % (len(data) + 1)
    data = data[:n]
    if n > 8:  # the byte where a record header or its length may be: never a crash
        data[-1] = flip
    d = tmp_path_factory.mktemp("fz") / "b"
    d.mkdir()
    (d / "b.mcap").write_bytes(bytes(data))
    try:
        values = _imu_values(d)
    except ReaderError:
        return
    assert values == [float(k) for k in range(len(values))]


def test_wrong_message_type_on_an_input_topic_is_counted_not_fatal(tmp_path):
    """A bag with a String where the LiDAR cloud belongs: dropped and counted, the run completes."""
    from sensor_fusion.bag.offline import run_bag
    from sensor_fusion.cli import _config
    from sensor_fusion.config import resolve_calibration_path
    from sensor_fusion.core.calibration import load_calibration

    cfg = _config(None)
    bag = tmp_path / "wrong"
    with BagWriter(bag) as w:
        for k in range(5):
            t = 1_000_000_000 + k * 100_000_000
            w.write(cfg.lidar.topic, String(data="not a cloud"), t)
    s = run_bag(bag, cfg, load_calibration(resolve_calibration_path(cfg)), tmp_path / "out")
    assert s.messages == 5 and s.decode_errors["lidar"] == 5 and s.frames == 0
    shutil.rmtree(tmp_path / "out")
