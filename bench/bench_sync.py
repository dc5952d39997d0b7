"""Synchronizer throughput: messages per second it can absorb (push + frame assembly).

Stream: 60 s of a LiDAR (10 Hz, anchor), two cameras (15 Hz), a radar (13 Hz), an IMU
(200 Hz) and GPS (5 Hz), with 0-30 ms arrival jitter. Baseline in the same process:
a naive synchroniser that keeps unsorted lists and scans them linearly per anchor.

    .venv/bin/python bench/bench_sync.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from benchutil import Figures

from sensor_fusion.sync.synchronizer import SensorSpec, Synchronizer

MS = 1_000_000
RATES = {"lidar": 10.0, "cam_a": 15.0, "cam_b": 15.0, "radar": 13.0, "imu": 200.0, "gps": 5.0}


def events(seconds: float, rng: np.random.Generator) -> list[tuple[str, int]]:
    ev = []
    for name, hz in RATES.items():
        st = np.arange(int(seconds * hz)) * int(1e9 / hz) + 1_000_000_000
        arrival = st + rng.integers(0, 30 * MS, st.size)
        ev += [(int(a), name, int(s)) for a, s in zip(arrival, st)]
    ev.sort()
    return [(n, s) for _a, n, s in ev]


def make() -> Synchronizer:
    specs = [SensorSpec("lidar", "lidar")]
    specs += [SensorSpec(n, "camera", tolerance_ns=40 * MS) for n in ("cam_a", "cam_b")]
    specs += [SensorSpec("radar", "radar", tolerance_ns=40 * MS)]
    specs += [SensorSpec("imu", "imu", "interval", timeout_ns=20 * MS, buffer_size=4000)]
    specs += [SensorSpec("gps", "gps", "interval", timeout_ns=0)]
    return Synchronizer(specs, "lidar")


class Naive:
    """Unsorted lists, linear scans, fires once every sensor has a message after the anchor."""

    def __init__(self):
        self.buf = {n: [] for n in RATES}
        self.frames = 0

    def push(self, name, stamp):
        self.buf[name].append(stamp)
        anchors = sorted(self.buf["lidar"])
        for a in anchors:
            if all(any(s >= a for s in self.buf[n]) for n in RATES if n != "lidar"):
                for n in ("cam_a", "cam_b", "radar"):
                    min(self.buf[n], key=lambda s, a=a: abs(s - a))
                self.buf["imu"] = [s for s in self.buf["imu"] if s > a]
                self.buf["gps"] = [s for s in self.buf["gps"] if s > a]
                self.buf["lidar"].remove(a)
                for n in ("cam_a", "cam_b", "radar"):
                    self.buf[n] = [s for s in self.buf[n] if s > a - 100 * MS]
                self.frames += 1
            else:
                break


def run_ours(ev) -> tuple[float, int]:
    s = make()
    t0 = time.perf_counter()
    n = 0
    for name, st in ev:
        s.push(name, st, None)
        n += len(s.pop_ready())
    return time.perf_counter() - t0, n


def run_naive(ev) -> tuple[float, int]:
    s = Naive()
    t0 = time.perf_counter()
    for name, st in ev:
        s.push(name, st)
    return time.perf_counter() - t0, s.frames


def main() -> None:
    ev = events(60.0, np.random.default_rng(0))
    ours = [run_ours(ev) for _ in range(5)]
    naive = [run_naive(ev) for _ in range(3)]
    t_ours = statistics.median(t for t, _ in ours)
    t_naive = statistics.median(t for t, _ in naive)
    print(f"{len(ev)} messages (60 s of a 6-sensor rig, {len(ev) / 60:.0f} msg/s):")
    print(f"  ours : {t_ours * 1e3:7.1f} ms  -> {len(ev) / t_ours:9.0f} msg/s absorbed, {ours[0][1]} frames")
    print(
        f"  naive: {t_naive * 1e3:7.1f} ms  -> {len(ev) / t_naive:9.0f} msg/s, {naive[0][1]} frames"
        f"   ratio {t_naive / t_ours:.1f}x"
    )
    fig = Figures("sync")
    fig.add("messages", len(ev))
    fig.add("ours_ms", 1e3 * t_ours)
    fig.add("ours_msgs_per_s", len(ev) / t_ours)
    fig.add("naive_baseline_ms", 1e3 * t_naive)
    fig.add("naive_over_ours_x", t_naive / t_ours)
    fig.write()


if __name__ == "__main__":
    main()
