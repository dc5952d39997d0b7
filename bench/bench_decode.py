"""PointCloud2 decoding of a 128-beam-sized cloud (~230k points) and the LiDAR pipeline per frame at
30k-230k points (figures also in ``out/bench/decode.json``).

Baseline, run in the same process: per-point decoding with ``struct.iter_unpack``
(what sensor_msgs_py's read_points does in spirit), timed on the same message.

    .venv/bin/python bench/bench_decode.py
"""

from __future__ import annotations

import statistics
import struct
import time

import numpy as np
from benchutil import Figures, median_time
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import PointCloud2

from sensor_fusion.config import from_flat
from sensor_fusion.core import pointfields as pf
from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.pipeline import FusionPipeline
from sensor_fusion.ros.cdr import parse_pointcloud2
from sensor_fusion.ros.convert import cloud_points, decode_lidar, encode_cloud
from sensor_fusion.sim.boxes import MovingBox, sweep

N_POINTS = 230_000


def median_ms(fn, runs: int) -> float:
    return 1e3 * median_time(fn, runs, warmup=1)


def pipeline_frame_ms(n_points: int, rng: np.random.Generator, frames: int = 40, warmup: int = 10):
    """Median per-frame time of the LiDAR-only pipeline (decode, ground, clusters, boxes, track)
    on sweeps of about ``n_points`` points (20 cars, the rest ground), and the last frame."""
    cfg = from_flat({"cameras.names": [""], "radars.names": [""], "imu.enabled": False, "gps.enabled": False})
    pipe = FusionPipeline(cfg, load_calibration("config/calibration.yaml"))
    boxes = [
        MovingBox((10.0 + 6 * i, -12.0 + 5 * (i % 5), 0.75), (4.5, 1.8, 1.5), (1.0, 0.5)) for i in range(20)
    ]
    totals, outs, n = [], [], 0
    for k in range(frames):
        xyz = sweep(boxes, k * 0.1, rng, density=400.0, ground_points=max(0, n_points - 8000))
        m = encode_cloud(
            int(1e9) + k * 100_000_000, "lidar_top", {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]}
        )
        t0 = time.perf_counter()
        cloud, _ = decode_lidar(m)
        pipe.push("lidar", cloud)
        outs = pipe.flush() or outs
        totals.append(time.perf_counter() - t0)
        n = len(cloud)
    return 1e3 * statistics.median(totals[warmup:]), n, outs[-1]


def main() -> None:
    fig = Figures("decode")
    rng = np.random.default_rng(0)
    cols = {k: rng.normal(0, 20, N_POINTS).astype(np.float32) for k in "xyz"}
    cols["intensity"] = rng.uniform(0, 255, N_POINTS).astype(np.float32)
    cols["t"] = np.linspace(0, 0.1, N_POINTS, dtype=np.float32)
    cols["ring"] = (np.arange(N_POINTS) % 128).astype(np.uint16)
    msg = encode_cloud(1, "lidar_top", cols)
    ours = median_ms(lambda: decode_lidar(msg), 30)
    raw = bytes(msg.data)

    def baseline():
        return [p[:3] for p in struct.iter_unpack("<fffffH", raw)]

    base = median_ms(baseline, 3)
    print(f"PointCloud2 decode, {N_POINTS} points ({len(raw) / 1e6:.1f} MB):")
    print(f"  ours (np.frombuffer + structured dtype): {ours:8.2f} ms")
    print(f"  baseline (struct.iter_unpack per point): {base:8.2f} ms   ratio {base / ours:6.1f}x")
    fig.add("pointcloud2_230k_decode_ms", ours)
    fig.add("pointcloud2_230k_struct_baseline_ms", base)
    fig.add("pointcloud2_230k_decode_speedup_x", base / ours)

    # What a subscription costs from the bytes DDS delivers to float32 xyz: the typed path
    # (rclpy deserialises into a PointCloud2, as a typed subscription does before the callback)
    # against the raw path (a raw subscription's bytes, viewed by ros/cdr.py).
    wire = serialize_message(msg)

    def typed_xyz():
        return pf.xyz_f32(cloud_points(deserialize_message(wire, PointCloud2)))

    def raw_xyz():
        return pf.xyz_f32(cloud_points(parse_pointcloud2(wire)))

    np.testing.assert_array_equal(typed_xyz(), raw_xyz())
    t_typed, t_raw = median_ms(typed_xyz, 30), median_ms(raw_xyz, 30)
    t_raw_full = median_ms(lambda: decode_lidar(parse_pointcloud2(wire)), 30)
    t_typed_full = median_ms(lambda: decode_lidar(deserialize_message(wire, PointCloud2)), 30)
    print("  serialized message -> float32 xyz:")
    print(f"    typed (rclpy deserialize_message): {t_typed:8.2f} ms")
    print(f"    raw (ros/cdr.py view, no copy):    {t_raw:8.2f} ms   ratio {t_typed / t_raw:6.1f}x")
    print(f"    whole decode_lidar (xyz, intensity, time, ring, NaN filter): typed {t_typed_full:.2f} ms, "
          f"raw {t_raw_full:.2f} ms")  # fmt: skip
    fig.add("pointcloud2_230k_typed_ms", t_typed)
    fig.add("pointcloud2_230k_raw_ms", t_raw)
    fig.add("pointcloud2_230k_typed_over_raw_x", t_typed / t_raw)
    fig.add("pointcloud2_230k_typed_decode_lidar_ms", t_typed_full)
    fig.add("pointcloud2_230k_raw_decode_lidar_ms", t_raw_full)

    print("LiDAR-only pipeline per frame (decode, ground, clusters, boxes, track), 20 cars, 30 frames:")
    for target in (30_000, 60_000, 120_000, 230_000):
        ms, n, last = pipeline_frame_ms(target, rng)
        stages = ", ".join(f"{k} {v * 1e3:.1f}" for k, v in sorted(last.timing.items()))
        print(f"  {n:>7} points: median {ms:6.1f} ms; stages of the last frame (ms): {stages}")
        fig.add(f"pipeline_lidar_{target // 1000}k_ms", ms)
        fig.add(f"pipeline_lidar_{target // 1000}k_points", n)
    fig.write()


if __name__ == "__main__":
    main()
