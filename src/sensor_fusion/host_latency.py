"""Hold a CPU wake-up latency request (Linux PM QoS, ``/dev/cpu_dma_latency``) while the node runs.

When a core has nothing to run it enters an idle state; waking from a deep one takes tens to
hundreds of microseconds on a vehicle computer, and a VM exit each way on a virtual machine.
A 10 Hz node idles between every two frames and mid-frame while it waits for the GIL, and pays
that cost each time. The offline run never idles. Holding a request of 0 µs keeps the cores in
their shallowest state, busy-polling instead of halting, for as long as the file stays open.
This is the setting real-time Linux guides make (tuned's ``latency-performance`` profile,
cyclictest). On the 2-core development VM (haltpoll idle driver) it brought the live node's
per-frame p50 from 15.5-16.1 to 12.7-12.9 ms (docs/benchmarks.md). The cost is power: idle cores
keep polling. Writing the file needs root or a udev rule, so the request is opt-in
(``cpu_dma_latency_us``).
"""

from __future__ import annotations

import os
import struct

DEVICE = "/dev/cpu_dma_latency"


class LatencyRequest:
    """An open PM QoS request; the kernel drops it when :meth:`release` closes the file."""

    def __init__(self, fd: int, microseconds: int, path: str):
        self.fd, self.microseconds, self.path = fd, microseconds, path

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def hold_cpu_latency(microseconds: int, path: str = DEVICE) -> LatencyRequest:
    """Ask the kernel to keep every core's wake-up latency at most ``microseconds`` until released.

    Raises OSError when the file is missing or not writable (no root, no udev rule)."""
    if microseconds < 0:
        raise ValueError(f"microseconds must be >= 0, got {microseconds}")
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, struct.pack("i", int(microseconds)))
    except OSError:
        os.close(fd)
        raise
    return LatencyRequest(fd, int(microseconds), path)
