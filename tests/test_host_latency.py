"""host_latency.py: the PM QoS request is written and held, and a host that refuses it does not stop
the node (``cpu_dma_latency_us``)."""

from __future__ import annotations

import os
import struct

import pytest

from sensor_fusion.host_latency import hold_cpu_latency


def test_request_is_written_and_released(tmp_path):
    dev = tmp_path / "cpu_dma_latency"
    dev.write_bytes(b"")
    req = hold_cpu_latency(0, str(dev))
    assert struct.unpack("i", dev.read_bytes()) == (0,)
    fd = req.fd
    os.fstat(fd)  # held open: the kernel keeps the request while the file is open
    req.release()
    with pytest.raises(OSError):
        os.fstat(fd)
    req.release()  # twice is harmless


def test_bad_requests_raise(tmp_path):
    with pytest.raises(ValueError):
        hold_cpu_latency(-5, str(tmp_path / "x"))
    with pytest.raises(OSError):
        hold_cpu_latency(0, str(tmp_path / "missing" / "cpu_dma_latency"))


class _Log:
    def __init__(self):
        self.lines: list[str] = []

    def warning(self, m):
        self.lines.append(m)

    def info(self, m):
        self.lines.append(m)


def test_node_runs_on_when_the_host_refuses(monkeypatch):
    from sensor_fusion.ros import node

    def refuse(_us):
        raise PermissionError(13, "Permission denied", "/dev/cpu_dma_latency")

    monkeypatch.setattr(node, "hold_cpu_latency", refuse)
    log = _Log()
    assert node.hold_latency(0, log) is None
    assert len(log.lines) == 1 and "not held" in log.lines[0] and "Permission denied" in log.lines[0]
    assert node.hold_latency(-1, log) is None and len(log.lines) == 1  # off: nothing tried, nothing said
