"""Training the BEV network end to end: generator bags -> samples -> ``sensor-fusion train``.

Sits above the pipeline (it drives it), so it is a top-level module, not part of ``bev/``.
``extract_bag`` replays a bag through :class:`FusionPipeline` with a BEV tap, so every sample is
exactly what the node feeds the network (deskewed LiDAR, ego-compensated radar, the
synchronised camera frames), rasterised, with the truth boxes moved into base_link at the frame
stamp by the true ego pose. Everything lands under one work directory and is reused when
present, so a second call only does what is missing (an interrupted training resumes):

    <workdir>/bags/<scenario>_s<seed>/        generator bags (``sensor-fusion simulate``)
    <workdir>/bags/<scenario>+static+<model>_s<seed>/   a variant (see ``bag_variant``)
    <workdir>/cache/<scenario>_s<seed>.npz    extracted samples
    <workdir>/checkpoint.pt, train_log.jsonl
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bag.offline import RunSummary, feed_bag
from .bev.dataset import (
    CACHE_VERSION,
    CAMERA_MAX_RANGE_M,
    RADAR_MARGIN_M,
    SampleSet,
    count_in_boxes,
    truth_in_base,
)
from .bev.detector import LiftCache, encode_frame
from .bev.grid import BevGrid
from .bev.inputs import BevInputs
from .bev.model import OUTPUT_STRIDE
from .config import default_share_dir, from_flat, load_params_file
from .eval.bags import GT_OBJECTS, GT_ODOM, objects_frame, odometry_poses, read_topics
from .eval.tf import tilted_pose_at
from .pipeline import FusionPipeline
from .sim.recorder import calibration_from_bag, scenario_from_bag

log = logging.getLogger(__name__)

IMAGE_WH = (160, 96)
# LiDARs a domain-randomised bag draws from (sim/lidar_models.py; "ideal": the shipped 64-beam)
DR_LIDAR_MODELS = ("ideal", "vlp16", "hdl64e_kitti", "os1_128")


def expand_scenario(entry: str, seed: int) -> str:
    """A ``--scenarios`` entry for one seed: ``NAME+dr`` (domain randomised) becomes
    ``NAME+static+<model>`` with the LiDAR drawn from :data:`DR_LIDAR_MODELS` by (name, seed), so
    the set is reproducible; other entries (``NAME``, ``NAME+static``, ``NAME+open+vlp16``) stay."""
    parts = entry.split("+")
    if "dr" not in parts[1:]:
        return entry
    rng = np.random.default_rng([seed, zlib.crc32(parts[0].encode())])
    return f"{parts[0]}+static+{DR_LIDAR_MODELS[int(rng.integers(len(DR_LIDAR_MODELS)))]}"


def bag_variant(name: str) -> tuple[str, int, bool | None, str | None]:
    """``<scenario>[+static|+open][+<lidar model>]_s<seed>`` -> (scenario, seed, static world
    (None: the scenario's own), LiDAR model (None: the scenario's own))."""
    entry, seed = name.rsplit("_s", 1)
    scenario, *opts = entry.split("+")
    static: bool | None = None
    model: str | None = None
    for o in opts:
        if o in ("static", "open"):
            static = o == "static"
        elif o in DR_LIDAR_MODELS:
            model = o
        else:
            raise ValueError(f"{name}: unknown bag variant {o!r} (static, open or one of {DR_LIDAR_MODELS})")
    return scenario, int(seed), static, model


def _camera_visible(lift: LiftCache, slots: list[str], centers: np.ndarray) -> np.ndarray:
    """Box centre (at the second lift height) inside some camera's view, within range."""
    grid = lift.grid
    H, W = grid.shape
    r = np.floor((centers[:, 0] - grid.x_min_m) / grid.resolution_m).astype(np.int64)
    c = np.floor((centers[:, 1] - grid.y_min_m) / grid.resolution_m).astype(np.int64)
    inside = (r >= 0) & (r < H) & (c >= 0) & (c < W)
    vis = np.zeros(len(centers), bool)
    k = min(1, len(grid.lift_heights_m) - 1)
    for name in slots:
        _g, v = lift.for_camera(name, None)
        vis[inside] |= v[k * H + r[inside], c[inside]] > 0
    return vis & (np.hypot(centers[:, 0], centers[:, 1]) < CAMERA_MAX_RANGE_M)


def extract_bag(bag: str | Path, out: str | Path, grid: BevGrid, image_wh: tuple[int, int]) -> int:
    """Write the samples of one generator bag to ``out`` (.npz); returns the number of samples."""
    cfg = from_flat(load_params_file(default_share_dir() / "config" / "fusion.yaml"))
    scenario = scenario_from_bag(bag)
    cal = calibration_from_bag(bag)
    if scenario is None or cal is None:
        raise ValueError(f"{bag}: not a generator bag (no scenario or calibration recorded)")
    d = scenario["config"]["gps"]["datum"]
    cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
    truth = read_topics(bag, [GT_OBJECTS, GT_ODOM])
    gt_frames = [objects_frame(m) for m in truth[GT_OBJECTS]]
    gt_stamps = np.array([f.stamp_ns for f in gt_frames], np.int64)
    poses = odometry_poses(truth[GT_ODOM])
    pose_at = tilted_pose_at(truth[GT_ODOM])  # the 3D pose on graded worlds, None on flat ones
    slots = [c.name for c in cfg.cameras]
    lift = LiftCache(grid.coarse(OUTPUT_STRIDE), cal)
    rows: dict[str, list] = {k: [] for k in ("lidar", "radar", "images", "cam_present", "present", "stamp")}
    boxes: dict[str, list] = {
        k: []
        for k in ("frame", "centers", "sizes", "yaw", "labels", "velocity", "lidar_pts", "radar_pts", "cam")
    }

    def tap(inp: BevInputs) -> None:
        if not inp.ego_known:  # radar Doppler needs the ego twist; the network is trained with it
            return
        tb = truth_in_base(gt_frames, gt_stamps, poses, inp.stamp_ns, pose_at)
        if tb is None:
            return
        lid, rad, imgs, cam_present, present = encode_frame(grid, inp, slots, image_wh)
        xyz = inp.lidar_xyz if inp.lidar_xyz is not None else np.zeros((0, 3), np.float32)
        n_lid = count_in_boxes(xyz.astype(np.float64), tb.centers, tb.sizes, tb.yaw, 0.2)
        if inp.radar_xyz is not None and len(inp.radar_xyz):
            big = tb.sizes + 2 * RADAR_MARGIN_M
            n_rad = count_in_boxes(inp.radar_xyz.astype(np.float64), tb.centers, big, tb.yaw, 0.0)
        else:
            n_rad = np.zeros(len(tb.centers), np.int64)
        cam = _camera_visible(lift, slots, tb.centers)
        i = len(rows["stamp"])
        for k, v in (
            ("lidar", lid.astype(np.float16)),
            ("radar", rad.astype(np.float16)),
            ("images", imgs),
            ("cam_present", cam_present),
            ("present", present),
            ("stamp", inp.stamp_ns),
        ):
            rows[k].append(v)
        for k, v in (
            ("frame", np.full(len(tb.centers), i, np.int64)),
            ("centers", tb.centers),
            ("sizes", tb.sizes),
            ("yaw", tb.yaw),
            ("labels", tb.labels),
            ("velocity", tb.velocity),
            ("lidar_pts", n_lid),
            ("radar_pts", n_rad),
            ("cam", cam),
        ):
            boxes[k].append(v)

    pipeline = FusionPipeline(cfg, cal, bev_tap=tap)
    for _ in feed_bag(bag, pipeline, cfg, RunSummary()):
        pass
    if not rows["stamp"]:
        raise ValueError(f"{bag}: no samples (no ego alignment or no truth)")
    arrays = {k: np.stack(v) for k, v in rows.items()}
    arrays.update({f"box_{k}": np.concatenate(v) for k, v in boxes.items()})
    meta = {
        "version": CACHE_VERSION,
        "bag": str(Path(bag).name),
        "grid": grid.to_dict(),
        "image_wh": list(image_wh),
        "camera_slots": slots,
        "calibration": cal.to_dict(),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.rename(out)
    return len(rows["stamp"])


def parse_seeds(text: str) -> list[int]:
    """'101-106,110' -> [101, ..., 106, 110]."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def bag_list(scenarios: list[str], seeds: list[int]) -> list[tuple[str, int]]:
    """Every (scenario entry, seed), seed-major (the order of the cache files); an entry
    ``NAME...@SEEDS`` (e.g. ``urban_clutter+dr@101-104``) takes its own seeds instead."""
    out = [(sc, s) for s in seeds for sc in scenarios if "@" not in sc]
    for sc in scenarios:
        if "@" in sc:
            name, own = sc.split("@", 1)
            out += [(name, s) for s in parse_seeds(own)]
    return out


def make_samples(bag: str, cache: str, duration_s: float, threads: int = 0, drop_bag: bool = False) -> dict:
    """One (scenario, seed): simulate the bag if it is missing (its name ``<scenario>_s<seed>``
    says what, see :func:`bag_variant`), extract its samples. Module-level so that pool and Ray
    workers can run it; ``threads`` > 0 caps the worker's numpy/torch threads (one task per core);
    ``drop_bag`` deletes the bag once its samples are cached (disk: a bag is ~10x its samples)."""
    if threads:
        from .batch.jobs import _limit_threads

        _limit_threads(threads)
    from .sim.recorder import record

    bag_p = Path(bag)
    if not bag_p.exists():
        scenario, seed, static, model = bag_variant(bag_p.name)
        log.info("simulating %s", bag_p)
        try:
            formats = {"lidar.model": model} if model else None
            record(scenario, seed, duration_s, bag_p, static_world=static, sensor_formats=formats)
        except BaseException:
            shutil.rmtree(bag_p, ignore_errors=True)  # a retry must not find a half-written bag
            raise
    n = extract_bag(bag_p, cache, BevGrid(), IMAGE_WH)
    log.info("extracted %d samples from %s", n, bag_p)
    if drop_bag:
        shutil.rmtree(bag_p, ignore_errors=True)
    return {"bag": bag_p.name, "status": "ok", "samples": n}


@dataclass
class _SampleSpec:
    """``make_samples`` as a batch task (see :class:`sensor_fusion.batch.runner.Spec`)."""

    workdir: Path
    duration_s: float
    threads: int = 1
    drop_bags: bool = False
    fn: Callable[..., dict] = make_samples

    def args(self, bag: Path) -> tuple:
        cache = str(self.workdir / "cache" / f"{bag.name}.npz")
        return (str(bag), cache, self.duration_s, self.threads, self.drop_bags)


def ensure_samples(
    workdir: Path,
    bags: list[tuple[str, int]],
    duration_s: float,
    workers: int = 1,
    ray_address: str | None = None,
    drop_bags: bool = False,
) -> list[Path]:
    """Cache files for every (scenario entry, seed), simulating and extracting what is missing.

    With ``workers`` > 1 or a Ray address, the missing ones are made by the same engines as
    ``sensor-fusion batch`` (a spawned process pool or Ray tasks, one retry each); a bag that fails
    twice stops the command with both errors, since training on a silently smaller set would be
    worse than not training."""
    from .progress import progress

    bag_dirs = [workdir / "bags" / f"{expand_scenario(sc, seed)}_s{seed}" for sc, seed in bags]
    files = [workdir / "cache" / f"{b.name}.npz" for b in bag_dirs]
    todo = [(b, f) for b, f in zip(bag_dirs, files) if not f.exists()]
    if todo and (workers > 1 or ray_address):
        _make_parallel([b for b, _ in todo], workdir, duration_s, workers, ray_address, drop_bags)
        return files
    with progress("samples", len(todo), "bags") as p:
        for bag, cache in todo:
            p.set_note(bag.name)
            rec = make_samples(str(bag), str(cache), duration_s, drop_bag=drop_bags)
            p.set_note(f"{bag.name}: {rec['samples']} samples")
            p.update()
    return files


def _make_parallel(
    bags: list[Path],
    workdir: Path,
    duration_s: float,
    workers: int,
    ray_address: str | None,
    drop_bags: bool = False,
) -> None:
    from .batch.runner import run_pool, run_ray
    from .progress import progress

    threads = max(1, (os.cpu_count() or 1) // max(1, min(workers, len(bags))))
    spec = _SampleSpec(workdir, duration_s, threads, drop_bags)
    failed: list[dict] = []
    with progress("samples", len(bags), "bags") as p:

        def on_done(rec: dict) -> None:
            if rec["status"] != "ok":
                failed.append(rec)
            p.set_note(f"{rec['bag']}: {rec.get('samples', 'failed')}")
            p.update()

        if ray_address:
            run_ray(bags, spec, ray_address, workers, on_done)
        else:
            run_pool(bags, spec, workers, on_done)
    if failed:
        # in bag order, not in the order the workers finished: the same failures, the same message
        ordered = sorted(failed, key=lambda r: str(r["bag"]))
        why = "; ".join(f"{r['bag']}: {' | '.join(r['errors'])}" for r in ordered)
        raise SystemExit(f"sample generation failed for {len(failed)} bag(s): {why}")


def run_train(args) -> int:
    import torch

    from .bev.train import TrainConfig, train
    from .progress import progress

    drop, gain = args.intensity_drop, args.intensity_gain
    if not (0.0 <= drop <= 1.0 and 0.0 <= gain <= 1.0 and drop + gain <= 1.0):
        raise SystemExit(f"--intensity-drop {drop}, --intensity-gain {gain}: shares in [0, 1], sum <= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    workdir = Path(args.workdir)
    scenarios = args.scenarios.split(",")
    val_scenarios = (args.val_scenarios or args.scenarios).split(",")
    train_bags = bag_list(scenarios, parse_seeds(args.train_seeds))
    val_bags = bag_list(val_scenarios, parse_seeds(args.val_seeds))
    both = {s for _, s in train_bags} & {s for _, s in val_bags}
    if both:
        raise SystemExit(f"train and validation seeds overlap: {sorted(both)}")
    # one pass over both sets, so that a pool or Ray keeps every worker busy
    files = ensure_samples(
        workdir, train_bags + val_bags, args.duration, args.workers, args.ray, args.drop_bags
    )
    n_train = len(train_bags)
    tr = SampleSet(files[:n_train])
    va = SampleSet(files[n_train:]) if val_bags else None
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        init_weights=args.init_weights,
        intensity_drop_prob=args.intensity_drop,
        intensity_gain_prob=args.intensity_gain,
        seed=args.seed,
    )
    print(f"training on {len(tr)} samples ({len(tr.files)} bags), validating on {len(va) if va else 0}")
    with progress("train", None, "steps") as p:

        def on_step(step: int, total: int, note: str) -> None:
            if p.total != total:
                p.set_total(total)
            p.set_note(note)
            p.update_to(step)

        meta = train(tr, va, workdir, args.out, cfg, resume=not args.no_resume, on_step=on_step)
    print(f"weights -> {args.out}; history: {meta['history']}")
    return 0


def run_evaluate(args) -> int:
    """AP of a trained model on held-out samples for every modality subset (the README table)."""
    import json

    import torch

    from .bev.detector import load_model
    from .bev.train import SUBSETS, evaluate, pick_device
    from .progress import progress

    workdir = Path(args.workdir)
    seeds, scenarios = parse_seeds(args.seeds), args.scenarios.split(",")
    bags = bag_list(scenarios, seeds)
    files = ensure_samples(workdir, bags, args.duration, args.workers, args.ray, args.drop_bags)
    data = SampleSet(files)
    model, _ = load_model(args.weights)
    model.to(pick_device())
    names = ("lidar", "camera", "radar")
    rows = {}
    with torch.inference_mode(), progress("evaluate-bev", len(SUBSETS), "subsets") as p:
        for subset in SUBSETS:
            key = "+".join(n for n, on in zip(names, subset) if on)
            if args.subsets and key not in args.subsets.split(","):
                continue
            res = evaluate(model, data, subset, every=args.every)
            rows[key] = res
            p.set_note(f"{key} AP {res['det_ap']:.3f}")
            p.update()
            per = {c: round(v["det_ap"], 3) for c, v in res["per_class"].items()}
            print(f"{key:20s} AP {res['det_ap']:.3f}  " + "  ".join(f"{c} {v}" for c, v in per.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=float))
    return 0
