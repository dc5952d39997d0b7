#!/usr/bin/env python3
"""Prove that a change leaves the pipeline's outputs as they were, on a fixed set of bags.

    .venv/bin/python scripts/check_outputs.py record --ref out/ref     # at the commit before
    .venv/bin/python scripts/check_outputs.py compare --ref out/ref    # at the commit after
    .venv/bin/python scripts/check_outputs.py compare --ref out/ref --regenerate  # generator too

Generates (once, cached in ``--workdir``) short bags of several scenarios, runs each through
``sensor-fusion run``'s code path with several configurations, and reads the output bags back:
every frame's tracks (ids, state, covariance, shape, class, existence), detections and odometry,
plus the ``evaluate`` scores. ``compare`` prints, per bag and configuration, whether the outputs
are bit-identical, the largest absolute difference per field otherwise, and the scores side by
side; it exits non-zero when anything differs by more than ``--atol``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from sensor_fusion.bag.offline import run_bag
from sensor_fusion.config import from_flat, load_params_file
from sensor_fusion.eval.bags import evaluate_bags, read_topics
from sensor_fusion.sim.recorder import calibration_from_bag, record, scenario_from_bag

REPO = Path(__file__).resolve().parents[1]
BAGS = (("urban", 1), ("highway", 2), ("intersection", 3), ("radar_clutter", 4))
DURATION_S = 8.0
VARIANTS = {  # name -> (config file, overrides)
    "full": ("fusion.yaml", {}),
    "baseline": ("baseline.yaml", {}),
    "both": ("fusion.yaml", {"detection_mode": "both"}),
}
SCORES = ("mota", "hota", "idsw", "velocity_rmse", "det_precision", "det_recall", "ego_position_rmse")
TRACKS = "/fusion_node/tracked_objects"
ODOM = "/fusion_node/ego_odom"


def _track_rows(msg) -> dict[str, np.ndarray]:
    """One frame's tracks as arrays (message fields are per-object Python objects by nature)."""
    rows: dict[str, list] = {k: [] for k in ("id", "pose", "pose_cov", "twist", "twist_cov", "dims")}
    rows.update(label=[], prob=[], exist=[], sensors=[], hits=[])
    for o in msg.objects:
        k = o.kinematics
        p, tw = k.pose_with_covariance.pose, k.twist_with_covariance.twist
        rows["id"].append(list(o.object_id.uuid))
        rows["pose"].append(
            [
                p.position.x,
                p.position.y,
                p.position.z,
                p.orientation.x,
                p.orientation.y,
                p.orientation.z,
                p.orientation.w,
            ]
        )
        rows["pose_cov"].append(list(k.pose_with_covariance.covariance))
        rows["twist"].append([tw.linear.x, tw.linear.y, tw.linear.z, tw.angular.z])
        rows["twist_cov"].append(list(k.twist_with_covariance.covariance))
        d = o.shape.dimensions
        rows["dims"].append([d.x, d.y, d.z])
        rows["label"].append([c.label for c in o.classification][:1] or [-1])
        rows["prob"].append([c.probability for c in o.classification][:1] or [0.0])
        rows["exist"].append([o.existence_probability])
        rows["sensors"].append([o.supporting_sensors.mask])
        rows["hits"].append([o.hits])
    n = len(msg.objects)
    return {
        k: np.asarray(v, dtype=np.float64).reshape(n, -1) if n else np.zeros((0,)) for k, v in rows.items()
    }


def _odom_row(msg) -> np.ndarray:
    p, tw = msg.pose.pose, msg.twist.twist
    return np.array(
        [
            p.position.x,
            p.position.y,
            p.position.z,
            p.orientation.x,
            p.orientation.y,
            p.orientation.z,
            p.orientation.w,
            tw.linear.x,
            tw.linear.y,
            tw.angular.z,
            *msg.pose.covariance,
        ]
    )


def _detection_rows(msg) -> np.ndarray:
    out = []
    for o in msg.objects:
        p = o.kinematics.pose_with_covariance.pose
        label = o.classification[0].label if o.classification else -1
        out.append(
            [
                p.position.x,
                p.position.y,
                p.position.z,
                p.orientation.z,
                p.orientation.w,
                label,
                o.existence_probability,
            ]
        )
    return np.asarray(out, dtype=np.float64).reshape(len(out), 7) if out else np.zeros((0, 7))


def snapshot(out_bag: Path) -> dict[str, np.ndarray]:
    """Every output of a run as flat arrays keyed ``topic|frame|field``."""
    topics = read_topics(out_bag, [TRACKS, ODOM])
    arrays: dict[str, np.ndarray] = {}
    for i, msg in enumerate(topics[TRACKS]):
        for field, a in _track_rows(msg).items():
            arrays[f"tracks|{i}|{field}"] = a
    odom = topics[ODOM]
    arrays["odom"] = np.array([_odom_row(m) for m in odom]) if odom else np.zeros((0,))
    det_topics = [t for t in _bag_topic_names(out_bag) if "/detections/" in t]
    for topic, msgs in read_topics(out_bag, det_topics).items():
        for i, msg in enumerate(msgs):
            arrays[f"{topic}|{i}"] = _detection_rows(msg)
    return arrays


def _bag_topic_names(bag: Path) -> list[str]:
    from sensor_fusion.bag.io import bag_topics

    return sorted(bag_topics(bag))


def _bag(work: Path, scenario: str, seed: int) -> Path:
    bag = work / f"{scenario}_seed{seed}_{DURATION_S:g}s"
    if not bag.exists():
        record(scenario, seed, DURATION_S, bag, static_world=False)  # the old open world, any default
    return bag


def bag_digest(bag: Path) -> str:
    """sha256 over every message's decoded content (topic, log time, fields): equal digests,
    equal bags. Decoded, not raw: CDR alignment padding is uninitialised memory in rclpy's
    serialiser, so the raw bytes of equal messages can differ."""
    from rosbags.rosbag2 import Reader

    from sensor_fusion.bag.io import older_definitions
    from sensor_fusion.bag.typestore import typestore

    store, older = typestore(), older_definitions(bag)  # a bag from before a message changed
    h = hashlib.sha256()
    with Reader(bag) as reader:
        for conn, t, data in reader.messages():
            h.update(conn.topic.encode())
            h.update(int(t).to_bytes(8, "little"))
            own = older if older is not None and conn.msgtype in older.fielddefs else store
            _hash_value(h, own.deserialize_cdr(data, conn.msgtype))
    return h.hexdigest()


def _hash_value(h, v) -> None:
    if isinstance(v, np.ndarray):
        h.update(str(v.dtype).encode())
        h.update(np.ascontiguousarray(v).tobytes())
    elif isinstance(v, list | tuple):
        for x in v:
            _hash_value(h, x)
    elif hasattr(v, "__dataclass_fields__"):
        for name in v.__dataclass_fields__:
            _hash_value(h, getattr(v, name))
    else:
        h.update(repr(v).encode())


def run_all(work: Path, dest: Path) -> dict:
    dest.mkdir(parents=True, exist_ok=True)
    scores: dict = {"bags": {}}
    for scenario, seed in BAGS:
        bag = _bag(work, scenario, seed)
        scores["bags"][bag.name] = bag_digest(bag)
        for variant, (cfg_file, overrides) in VARIANTS.items():
            cfg = from_flat({**load_params_file(REPO / "config" / cfg_file), **overrides})
            d = scenario_from_bag(bag)["config"]["gps"]["datum"]
            if not cfg.ego.has_datum:
                cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
            out = work / f"{bag.name}__{variant}"
            if out.exists():
                shutil.rmtree(out)
            run_bag(bag, cfg, calibration_from_bag(bag), out)
            name = f"{bag.name}__{variant}"
            np.savez_compressed(dest / f"{name}.npz", **snapshot(out))
            res = evaluate_bags(bag, out)
            scores[name] = {k: res.get(k) for k in SCORES}
            shutil.rmtree(out)
            print(f"{name}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in scores[name].items()), flush=True)
    (dest / "scores.json").write_text(json.dumps(scores, indent=1, default=float))
    return scores


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def compare(ref: Path, new: Path, atol: float) -> bool:
    ok = True
    ref_scores = json.loads((ref / "scores.json").read_text())
    new_scores = json.loads((new / "scores.json").read_text())
    ref_bags, new_bags = ref_scores.pop("bags", {}), new_scores.pop("bags", {})
    for name in sorted(ref_bags):
        same = ref_bags[name] == new_bags.get(name)
        ok &= same
        print(f"{'ok  ' if same else 'DIFF'} bag {name}: {'identical' if same else 'messages differ'}")
    for name in sorted(ref_scores):
        a, b = np.load(ref / f"{name}.npz"), np.load(new / f"{name}.npz")
        worst, identical, missing = 0.0, True, sorted(set(a.files) ^ set(b.files))
        for key in sorted(set(a.files) & set(b.files)):
            x, y = a[key], b[key]
            if x.shape != y.shape:
                missing.append(f"{key} shape {x.shape} vs {y.shape}")
                continue
            if not np.array_equal(x, y, equal_nan=True):
                identical = False
                d = np.abs(x - y)
                d = d[np.isfinite(d)]
                worst = max(worst, float(d.max()) if d.size else np.inf)
        same_scores = ref_scores[name] == new_scores.get(name)
        good = not missing and worst <= atol and same_scores
        ok &= good
        state = "identical" if identical and not missing else f"max |diff| {worst:.3g}"
        print(
            f"{'ok  ' if good else 'DIFF'} {name}: {state}"
            + (f"; keys differ: {missing[:4]}" if missing else "")
        )
        if not same_scores:
            for k in SCORES:
                r, n = ref_scores[name].get(k), new_scores.get(name, {}).get(k)
                if r != n:
                    print(f"       {k}: {_fmt(r)} -> {_fmt(n)}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("record", "compare"))
    ap.add_argument("--ref", required=True, help="folder of the reference outputs")
    ap.add_argument("--workdir", default="out/check_outputs", help="generated bags are cached here")
    ap.add_argument("--atol", type=float, default=0.0, help="largest absolute difference accepted")
    ap.add_argument(
        "--regenerate", action="store_true", help="generate the bags again (checks the generator too)"
    )
    a = ap.parse_args()
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if a.action == "record":
        run_all(work, Path(a.ref))
        return 0
    if a.regenerate:
        for scenario, seed in BAGS:
            shutil.rmtree(work / f"{scenario}_seed{seed}_{DURATION_S:g}s", ignore_errors=True)
    new = work / "latest"
    if new.exists():
        shutil.rmtree(new)
    run_all(work, new)
    return 0 if compare(Path(a.ref), new, a.atol) else 1


if __name__ == "__main__":
    sys.exit(main())
