"""Benchmark the simulated LiDAR sweep and camera render (not a unit test).

Scene: ~20 actors of mixed classes around an ego driving at 10 m/s on a straight
two-lane road; 64-beam LiDAR at 0.2 deg, 640x384 camera. Numba kernels are warmed
up first; medians over repeats are printed as wall time and as this thread's CPU
time (the machine is shared, so CPU time is the steadier number). The baseline is
the same camera ray cast without culling, run in the same process. The scenario
world itself (layout, placement, the traffic kernel, the ground map) is timed per
simulated second on the urban and dense_traffic scenarios (seeds 0..repeats-1).

Static world (``world.static``, sim/static/): the same ``urban`` scenario generated as a bag with
the static world off (the open world) and on, in this process, per simulated second (wall and
process CPU, which includes Open3D's worker threads), and their ratio; then per sensor (LiDAR
sweep, camera frame, radar scan) on the static urban world, and the alternative to merging two
casts, rebuilding one Embree scene with the actors' boxes every sweep.

    .venv/bin/python bench/bench_sim.py [--repeats 15] [--record-s 20]
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
from sensor_fusion.sim.camera import (
    camera_rays,
    camera_scratch,
    cast_camera_boxes,
    encode_jpeg,
    render_camera,
    render_camera_labels,
)
from sensor_fusion.sim.lidar import simulate_lidar
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
    ap.add_argument("--record-s", type=float, default=20.0, help="simulated seconds per bag (static on/off)")
    ap.add_argument("--static-only", action="store_true", help="only the static-world section")
    args = ap.parse_args()

    cal = load_calibration(REPO / "config" / "calibration.yaml")
    if args.static_only:
        bench_static(args, cal)
        return
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
    T_wc = np.eye(4)
    T_wc[:3, 3] = world.ego_at(0).position
    T_wc = T_wc @ T_cam
    scratch = camera_scratch(rays.perm_dirs.shape[0])
    cull = _median(lambda k: cast_camera_boxes(rays, T_wc, parts, scratch), args.repeats)
    brute = _median(lambda k: cast_camera_boxes(rays, T_wc, parts, scratch, cull=False), args.repeats)

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
    bench_static(args, cal)


def _proc(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, process CPU) seconds of one ``fn()`` (process CPU counts Open3D's threads too)."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def bench_static(args: argparse.Namespace, cal) -> None:
    """The generator with the static world off vs on (same process), and where its time goes."""
    import tempfile

    import open3d as o3d

    from sensor_fusion.sim.radar import simulate_radar
    from sensor_fusion.sim.recorder import record
    from sensor_fusion.sim.scenarios import model_params

    dur = float(args.record_s)
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        record("urban", 0, 1.0, f"{tmp}/warm", static_world=True)  # numba caches, Open3D import
        for on in (False, True):
            res[on] = _proc(lambda on=on: record("urban", 1, dur, f"{tmp}/b{int(on)}", static_world=on))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n# static world: urban, seed 1, {dur:g} s, 64 beams, 2 cameras, load avg {load:.2f}")
    print(f"{'generator (record)':38s} {'wall s':>9s} {'cpu s':>9s} {'per sim s':>10s}")
    for on in (False, True):
        w, c = res[on]
        print(f"{'static world ' + ('on' if on else 'off'):38s} {w:9.2f} {c:9.2f} {w / dur:10.3f}")
    print(f"ratio on/off: wall {res[True][0] / res[False][0]:.2f}x, cpu {res[True][1] / res[False][1]:.2f}x")
    fig = Figures("sim_static")
    for on in (False, True):
        fig.add(f"urban_record_static_{'on' if on else 'off'}_wall_s_per_sim_s", res[on][0] / dur)
        fig.add(f"urban_record_static_{'on' if on else 'off'}_cpu_s_per_sim_s", res[on][1] / dur)
    fig.add("static_on_off_cpu_ratio_x", res[True][1] / res[False][1])
    fig.write()

    cfg = scenario_config("urban", {"world": {"static": {"enabled": True}}})
    w_on = World(cfg, 1)
    w_off = World(scenario_config("urban"), 1)
    T_l, T_c, T_r = (
        cal.T_base_from("lidar_top"),
        cal.T_base_from("camera_front"),
        cal.T_base_from("radar_front"),
    )
    intr = cal.intrinsics["camera_front"]
    lc = model_params(cfg["lidar"])
    rng = np.random.default_rng(0)
    st = w_on.static
    n = max(5, args.repeats)
    rows = []
    for name, wd in (("off", w_off), ("on", w_on)):
        t = lambda k, wd=wd: wd.t0_ns + k * 100_000_000  # noqa: E731
        simulate_lidar(wd, t(0), T_l, lc, rng)
        render_camera(wd, t(0), T_c, intr, rng)
        rows.append(
            (
                f"lidar sweep, static {name}",
                _median(lambda k, wd=wd, t=t: simulate_lidar(wd, t(k), T_l, lc, rng), n),
            )
        )
        rows.append(
            (
                f"camera frame, static {name}",
                _median(lambda k, wd=wd, t=t: render_camera(wd, t(k), T_c, intr, rng), n),
            )
        )
        rows.append(
            (
                f"radar scan, static {name}",
                _median(lambda k, wd=wd, t=t: simulate_radar(wd, t(k), T_r, cfg["radars"], rng), n),
            )
        )

    # the alternative: one Embree scene with the static mesh and the actors' boxes, rebuilt per sweep
    from sensor_fusion.sim.static.meshes import MeshBuilder

    def rebuilt(k: int) -> None:
        parts = actor_parts(w_on.actors_at(w_on.t0_ns + k * 100_000_000))
        mb = MeshBuilder()
        for i in range(len(parts)):
            mb.box(0, 0, parts.centers[i], 2.0 * parts.half_sizes[i], float(parts.yaw[i]))
        v, f, _, _ = mb.arrays()
        sc = o3d.t.geometry.RaycastingScene()
        sc.add_triangles(o3d.core.Tensor(st.vertices), o3d.core.Tensor(st.triangles))
        sc.add_triangles(o3d.core.Tensor(v), o3d.core.Tensor(f))
        sc.cast_rays(o3d.core.Tensor(rays))

    az = np.repeat(np.linspace(-np.pi, np.pi, 1800, endpoint=False), 64)
    el = np.tile(np.radians(np.linspace(-25.0, 15.0, 64)), 1800)
    e0 = w_on.ego_at(w_on.t0_ns)
    rays = np.column_stack(
        [
            np.tile(e0.position + [0.0, 0.0, 1.8], (len(az), 1)),
            np.cos(az) * np.cos(el),
            np.sin(az) * np.cos(el),
            np.sin(el),
        ]
    ).astype(np.float32)
    merged = _median(lambda k: st.cast_raw(rays), n)
    rows.append(("LiDAR rays vs static mesh (merge path)", merged))
    rows.append(("rebuild scene + actors per sweep", _median(rebuilt, n)))
    print(f"\n# per sensor, urban seed 1 ({st.n_triangles} static triangles, {len(st.elements)} elements)")
    print(f"{'stage':38s} {'wall ms':>9s} {'cpu ms':>9s}   (cpu: this thread only)")
    for name, (w, c) in rows:
        print(f"{name:38s} {w * 1e3:9.2f} {c * 1e3:9.2f}")


if __name__ == "__main__":
    main()
