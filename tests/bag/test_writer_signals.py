"""An interrupt that lands inside a bag write is raised after it: rosbags stores a message before
it counts it, and a SIGTERM between the two once closed a bag whose ``metadata.yaml`` counted one
message fewer than its file held (tests/bag/test_kill, SIGTERM, 1 in ~4 fresh runs)."""

from __future__ import annotations

import os
import signal

import pytest
from std_msgs.msg import String

from sensor_fusion.bag.io import BagWriter, bag_topics, read_messages


class Interrupted(KeyboardInterrupt):
    pass


def _raise(signum, _frame):
    raise Interrupted(signum)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_inside_a_write_is_raised_after_it(tmp_path, sig):
    previous = signal.signal(sig, _raise)
    try:
        bag = tmp_path / "b"
        with pytest.raises(Interrupted), BagWriter(bag) as w:
            for i in range(5):
                w.write("/s", String(data=str(i)), i + 1)
            store = w._writer.storage.write

            def store_then_signal(*args):  # the signal arrives after the store, before the count
                store(*args)
                os.kill(os.getpid(), sig)

            w._writer.storage.write = store_then_signal
            w.write("/s", String(data="last"), 10)
            pytest.fail("the deferred signal was not raised")
        assert signal.getsignal(sig) is _raise, "the writer must restore the handler it wrapped"
    finally:
        signal.signal(sig, previous)
    data = [m.data for *_, m in read_messages(bag)]
    assert data == ["0", "1", "2", "3", "4", "last"]
    assert bag_topics(bag)["/s"][1] == 6


def test_a_signal_between_writes_is_raised_at_once(tmp_path):
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        with pytest.raises(Interrupted), BagWriter(tmp_path / "b") as w:
            w.write("/s", String(data="a"), 1)
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs at the next bytecode boundary
                pass
            pytest.fail("not raised")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert bag_topics(tmp_path / "b")["/s"][1] == 1
