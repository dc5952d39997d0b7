"""Benchmark the simulated LiDAR sweep and camera render (not a unit test).

Scene: ~20 actors of mixed classes around an ego driving at 10 m/s on a straight
two-lane road; 64-beam LiDAR at 0.2 deg, 640x384 camera. Numba kernels are warmed
up first; medians over repeats are printed as wall time and as this thread's CPU
time (the machine is shared, so CPU time is the steadier number). The baseline is
the same camera ray cast without culling, run in the same process. The scenario
world itself (layout, placement, the traffic kernel, the ground map) is timed per
simulated second on the urban and dense_traffic scenarios (seeds 0..repeats-1).

    .venv/bin/python bench/bench_sim.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from benchutil import Figures

from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.sim.camera import camera_rays, encode_jpeg, render_camera, render_camera_labels
from sensor_fusion.sim.lidar import simulate_lidar
from sensor_fusion.sim.raycast import cast_rays
from sensor_fusion.sim.scenarios import scenario_config
from sensor_fusion.sim.shapes import actor_parts
from sensor_fusion.sim.state import ActorStates, EgoState
from sensor_fusion.sim.world import World

REPO = Path(__file__).resolve().parents[1]
LIDAR_CFG = {
    "beams": 64,
    "vfov_deg": [-25.0, 15.0],
    "rate_hz": 10.0,
    "azimuth_resolution_deg": 0.2,
    "max_range_m": 120.0,
    "range_noise_std_m": 0.02,
    "dropout_prob": 0.01,
}
SIZES = {
    ObjectClass.CAR: (4.6, 1.9, 1.5),
    ObjectClass.TRUCK: (9.0, 2.5, 3.6),
    ObjectClass.BUS: (12.0, 2.6, 3.2),
    ObjectClass.BICYCLE: (1.8, 0.6, 1.7),
    ObjectClass.PEDESTRIAN: (0.6, 0.7, 1.75),
}


class RoadGround:
    """Two 3.5 m lanes each way around y = 0, dashed centre line, solid edges, grass outside."""

    def ground_class(self, xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], np.abs(xy[:, 1])
        out = np.where(y < 7.2, 1, 0).astype(np.uint8)
        out[(np.abs(y - 7.0) < 0.08) | ((y < 0.08) & (np.mod(x, 9.0) < 3.0))] = 2
        return out


class BenchWorld:
    """Constant-velocity ego and actors (what sim/world.py provides, minus the behaviour)."""

    def __init__(self, n_actors: int = 20, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.ground = RoadGround()
        classes = [ObjectClass.CAR] * 10 + [ObjectClass.TRUCK, ObjectClass.BUS] + [ObjectClass.BICYCLE] * 2
        classes += [ObjectClass.PEDESTRIAN] * 6
        labels = np.array([int(classes[i % len(classes)]) for i in range(n_actors)])
        self.sizes = np.array([SIZES[ObjectClass(k)] for k in labels])
        lane = rng.choice([-5.25, -1.75, 1.75, 5.25], n_actors)
        ped = labels == ObjectClass.PEDESTRIAN
        lane[ped] = rng.choice([-9.0, 9.0], ped.sum())
        self.c0 = np.column_stack([rng.uniform(-50, 70, n_actors), lane, self.sizes[:, 2] / 2])
        speed = np.where(ped, 1.4, rng.uniform(5, 14, n_actors)) * np.where(lane > 0, -1.0, 1.0)
        self.vel = np.column_stack([speed, np.zeros(n_actors), np.zeros(n_actors)])
        self.yaw = np.where(speed < 0, np.pi, 0.0)
        self.ids = np.arange(100, 100 + n_actors, dtype=np.int64)
        self.labels = labels

    def ego_at(self, stamp_ns: int) -> EgoState:
        t = stamp_ns * 1e-9
        v = np.array([10.0, 0.0, 0.0])
        return EgoState(stamp_ns, np.array([10.0 * t, -1.75, 0.0]), 0.0, v, 0.0, np.zeros(3), 10.0)

    def actors_at(self, stamp_ns: int) -> ActorStates:
        t = stamp_ns * 1e-9
        n = len(self.ids)
        return ActorStates(
            self.ids, self.labels, self.c0 + self.vel * t, self.sizes, self.yaw, self.vel, np.zeros(n)
        )


def _median(fn: Callable[[int], object], repeats: int) -> tuple[float, float]:
    """Median (wall, thread CPU) seconds of ``fn(k)`` over ``repeats`` calls."""
    wall, cpu = [], []
    for k in range(repeats):
        w0, c0 = time.perf_counter(), time.thread_time()
        fn(k)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return float(np.median(wall)), float(np.median(cpu))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--actors", type=int, default=20)
    args = ap.parse_args()

    cal = load_calibration(REPO / "config" / "calibration.yaml")
    T_lidar = cal.T_base_from("lidar_top")
    T_cam = cal.T_base_from("camera_front")
    intr = cal.intrinsics["camera_front"]
    world = BenchWorld(args.actors)
    rng = np.random.default_rng(0)
    period_ns = 100_000_000

    t0 = time.perf_counter()
    out = simulate_lidar(world, 0, T_lidar, LIDAR_CFG, rng)  # compile / load numba caches
    img = render_camera(world, 0, T_cam, intr, rng)
    warm = time.perf_counter() - t0

    lidar = _median(lambda k: simulate_lidar(world, k * period_ns, T_lidar, LIDAR_CFG, rng), args.repeats)
    cam = _median(lambda k: render_camera(world, k * period_ns, T_cam, intr, rng), args.repeats)
    cam_lab = _median(lambda k: render_camera_labels(world, k * period_ns, T_cam, intr, rng), args.repeats)
    jpeg = _median(lambda k: encode_jpeg(img, 90), args.repeats)

    # baseline: the camera cast alone, with and without culling
    rays = camera_rays(intr)
    parts = actor_parts(world.actors_at(0))
    G = rays.group_start.shape[0] - 1
    T_wc = np.eye(4)
    T_wc[:3, 3] = world.ego_at(0).position
    T_wc = T_wc @ T_cam
    cast_args = (
        rays.perm_dirs,
        rays.seq,
        rays.group_start,
        rays.group_axis,
        rays.group_cos,
        np.broadcast_to(T_wc[:3, 3], (G, 3)),
        np.broadcast_to(T_wc[:3, :3], (G, 3, 3)),
        np.zeros(G, np.int64),
        np.full(G, len(parts), np.int64),
        parts.centers,
        parts.half_sizes,
        parts.yaw,
    )
    cull = _median(lambda k: cast_rays(*cast_args, t_max=1500.0, out=rays.scratch), args.repeats)
    brute = _median(lambda k: cast_rays(*cast_args, t_max=1500.0, cull=False, out=rays.scratch), args.repeats)

    worlds = []
    for name in ("urban", "dense_traffic"):
        cfg = scenario_config(name)
        World(cfg, 0)  # numba caches
        w, c = _median(lambda k, cfg=cfg: World(cfg, k), max(3, args.repeats // 3))
        sim_s = float(cfg["world"]["duration_s"])
        worlds.append((f"world build per sim s ({name})", (w / sim_s, c / sim_s)))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# sim sensor bench: {args.actors} actors ({len(parts)} parts), {args.repeats} repeats, "
        f"warm-up {warm:.1f} s, load avg {load:.2f} on {os.cpu_count()} CPUs"
    )
    print(f"{'stage':38s} {'wall ms':>9s} {'cpu ms':>9s}")
    rows = [
        (f"lidar sweep 64 x 1800 ({len(out['xyz'])} pts)", lidar),
        (f"camera frame {img.shape[1]}x{img.shape[0]}", cam),
        ("camera frame + id/depth labels", cam_lab),
        ("jpeg encode q90", jpeg),
        ("camera cast, culled", cull),
        ("camera cast, brute force (baseline)", brute),
        *worlds,
    ]
    for name, (w, c) in rows:
        print(f"{name:38s} {w * 1e3:9.2f} {c * 1e3:9.2f}")
    print(f"culling speed-up vs brute force: {brute[1] / cull[1]:.1f}x (cpu)")
    # 20 s urban scenario: LiDAR 10 Hz, two cameras at 15 Hz, images JPEG-encoded
    per_s = 10 * lidar[1] + 2 * 15 * (cam[1] + jpeg[1])
    print(
        f"20 s scenario (lidar 10 Hz + 2 cams 15 Hz + jpeg): {20 * per_s:.1f} s cpu "
        f"= {per_s:.2f}x real time (single thread)"
    )
    fig = Figures("sim")
    keys = ("lidar_sweep_64x1800", "camera_frame", "camera_frame_labels", "jpeg_encode_q90",
            "camera_cast_culled", "camera_cast_brute_baseline", "world_build_per_sim_s_urban",
            "world_build_per_sim_s_dense_traffic")  # fmt: skip
    for key, (_, (w, c)) in zip(keys, rows):
        fig.add(f"{key}_wall_ms", 1e3 * w)
        fig.add(f"{key}_cpu_ms", 1e3 * c)
    fig.add("camera_cull_speedup_x", brute[1] / cull[1])
    fig.add("urban_20s_sensor_cpu_s", 20 * per_s)
    fig.write()


if __name__ == "__main__":
    main()
