"""Train the camera class cue (``perception/camera_cue.py``) on simulator renders.

Run: ``.venv/bin/python scripts/train_camera_cue.py [--out src/sensor_fusion/models/camera_cue.npz]``
(about 2-3 minutes on 2 cores; ``--quick`` for a smoke run; ``--evaluate MODEL`` scores a model on
the validation seeds without training). Validation is also reported for the open-road and the
static-world scenes apart: their renders differ, and one overall figure can hide a loss in either.

Data: scenario worlds (``sim.world.World``) for several scenarios and seeds; at
regular stamps both calibrated cameras are rendered with ``render_camera_labels``,
whose per-pixel ``actor_id`` gives clean labels. Ground-truth boxes go through
``CameraEvidence.extract`` (the exact run-time projection, occlusion masking and
features) once as they are and once jittered like LiDAR boxes (centre, size, yaw
noise). A box is a sample of its class when its own pixels fill at least 15 % of
its 2D box (>= 20 px) and are the majority of the object pixels there, so heavily
occluded boxes, whose patch shows another object, are not mislabelled. Random
boxes on empty ground/sky (< 5 % object pixels) are UNKNOWN samples: what a
LiDAR false positive looks like to the camera.

Split by seed (train seeds vs validation seeds, never frames of one world on
both sides). The model is a 2-layer MLP (``--hidden 0``: multinomial logistic
regression) trained full-batch with Adam and class-balanced cross-entropy in
torch (CPU), then stored as plain numpy arrays (< 50 kB) for numpy inference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.core.geometry import pose2d_to_transform
from sensor_fusion.core.types import CameraFrame, Detections
from sensor_fusion.perception.camera import CameraEvidence, CameraEvidenceConfig
from sensor_fusion.perception.camera_cue import DEFAULT_MODEL_PATH, NUM_FEATURES, CueModel
from sensor_fusion.sim.camera import render_camera_labels
from sensor_fusion.sim.scenarios import scenario_config
from sensor_fusion.sim.world import World

REPO = Path(__file__).resolve().parents[1]
CAMERAS = ("camera_front", "camera_rear")
CLASSES = np.array(
    [ObjectClass.UNKNOWN, ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.BUS, ObjectClass.BICYCLE,
     ObjectClass.PEDESTRIAN],
    np.int64,
)  # fmt: skip
MIXED = {
    "world": {
        "actors": {"cyclists": 6, "buses": 3, "trucks": 3, "pedestrians": 10, "crossing_pedestrians": 2}
    }
}
SCENES: list[tuple[str, dict]] = [
    ("urban", {}),
    ("highway", {}),
    ("intersection", {}),
    ("dense_traffic", {}),
    ("urban", MIXED),  # more of the rare classes (bicycles, buses)
    ("urban_clutter", {}),  # static world: per-instance colours, exposure changes, walkers
    ("parking_lot", {}),
]
# phantom (UNKNOWN) box sizes: l, w, h ranges covering every class
PHANTOM_SIZE = ((0.5, 10.0), (0.5, 2.6), (0.4, 3.4))


def label_boxes(
    cues, aid: dict[str, np.ndarray], ids: np.ndarray, min_own: float = 0.15
) -> tuple[np.ndarray, np.ndarray]:
    """Per visible box: fraction of its 2D box that is its own actor, and of any actor."""
    n = len(cues.camera)
    own = np.zeros(n)
    obj = np.zeros(n)
    ok = np.zeros(n, bool)
    for i in np.nonzero(cues.visible)[0]:
        x0, y0, x1, y1 = np.floor(cues.box2d[i] + 0.5).astype(int)
        sub = aid[cues.camera[i]][max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1]
        if sub.size == 0:
            continue
        n_own = int(np.count_nonzero(sub == ids[i])) if ids[i] >= 0 else 0
        n_obj = int(np.count_nonzero(sub >= 0))
        own[i], obj[i] = n_own / sub.size, n_obj / sub.size
        ok[i] = n_own >= 20 and own[i] >= min_own and n_own >= 0.5 * n_obj
    return ok, obj


def frame_samples(
    world: World, stamp: int, cal, ev: CameraEvidence, rng: np.random.Generator, n_phantoms: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Features and labels of one stamp: 'clean' GT boxes, 'jitter' GT boxes, 'phantom' boxes."""
    ego = world.ego_at(stamp)
    T_wb = pose2d_to_transform(float(ego.position[0]), float(ego.position[1]), float(ego.yaw))
    frames, aid = {}, {}
    for cam in CAMERAS:
        r = render_camera_labels(world, stamp, cal.T_base_from(cam), cal.intrinsics[cam], rng)
        frames[cam] = CameraFrame(stamp, cam, cam, r.image)
        aid[cam] = r.actor_id
    a = world.actors_at(stamp)
    n = len(a)
    out = {}

    def run(centers, sizes, yaw, ids, labels, phantom: bool):
        det = Detections(
            stamp, "odom", centers, sizes, yaw, labels, np.ones(len(ids)), np.full((len(ids), 2), np.nan),
            np.tile(np.eye(2), (len(ids), 1, 1)), np.zeros(len(ids), np.uint8),
        )  # fmt: skip
        cues, feats = ev.extract(det, frames, T_wb)
        ok, obj = label_boxes(cues, aid, ids)
        if phantom:
            ok = cues.visible & (obj < 0.05)
        return feats[ok], np.asarray(labels)[ok]

    if n:
        out["clean"] = run(a.centers, a.sizes, a.yaw, a.ids, a.labels, False)
        rel = a.centers[:, :2] - ego.position[:2]
        rng_m = np.linalg.norm(rel, axis=1)
        c = a.centers + np.column_stack(
            [rng.normal(0, 1, (n, 2)) * (0.15 + 0.01 * rng_m)[:, None], rng.normal(0, 0.1, n)]
        )
        s = a.sizes * rng.uniform(0.85, 1.15, (n, 3))
        y = a.yaw + rng.normal(0, 0.1, n)
        out["jitter"] = run(c, s, y, a.ids, a.labels, False)
    if n_phantoms:
        m = n_phantoms
        fwd = rng.choice([-1.0, 1.0], m) * rng.uniform(5.0, 60.0, m)
        lat = rng.uniform(-0.8, 0.8, m) * np.abs(fwd)  # inside the camera's field of view
        size = np.column_stack([rng.uniform(*r, m) for r in PHANTOM_SIZE])
        pb = np.column_stack([fwd, lat, 0.5 * size[:, 2]])
        pw = pb @ T_wb[:3, :3].T + T_wb[:3, 3]
        yaw = ego.yaw + rng.uniform(-np.pi, np.pi, m)
        unk = np.full(m, int(ObjectClass.UNKNOWN), np.int64)
        out["phantom"] = run(pw, size, yaw, np.full(m, -1), unk, True)
    return out


def build(scenes, seeds, every_s: float, duration_s: float, n_phantoms: int, cal, ev) -> dict[str, list]:
    data: dict[str, list] = {"clean": [], "jitter": [], "phantom": []}
    for name, over in scenes:
        for seed in seeds:
            world_over = {**over.get("world", {}), "duration_s": duration_s}
            cfg = scenario_config(name, {**over, "world": world_over})
            world = World(cfg, seed=seed)
            rng = np.random.default_rng([seed, 7919])
            for stamp in np.arange(world.t0_ns + 10**9, world.t_end_ns, int(every_s * 1e9)):
                for k, v in frame_samples(world, int(stamp), cal, ev, rng, n_phantoms).items():
                    data[k].append(v)
    return {k: (np.vstack([x for x, _ in v]) if v else np.zeros((0, NUM_FEATURES)),
                np.concatenate([y for _, y in v]) if v else np.zeros(0, np.int64))
            for k, v in data.items()}  # fmt: skip


def train(X: np.ndarray, y: np.ndarray, hidden: int, epochs: int, seed: int = 0) -> CueModel:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    mu = X.mean(0)
    sd = np.maximum(X.std(0), 0.02)  # rare histogram bins: keep their scale sane
    idx = np.searchsorted(CLASSES, y)
    counts = np.bincount(idx, minlength=len(CLASSES)).astype(np.float64)
    w = np.where(counts > 0, len(y) / (len(CLASSES) * np.maximum(counts, 1)), 0.0)
    Xt = torch.tensor((X - mu) / sd, dtype=torch.float32)
    yt = torch.tensor(idx)
    F, K = X.shape[1], len(CLASSES)
    net = (
        torch.nn.Sequential(torch.nn.Linear(F, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, K))
        if hidden
        else torch.nn.Sequential(torch.nn.Linear(F, K))
    )
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32))
    for _ in range(epochs):
        opt.zero_grad()
        loss = loss_fn(net(Xt), yt)
        loss.backward()
        opt.step()
    layers = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        if hidden:
            W1, b1 = layers[0].weight.numpy().T.copy(), layers[0].bias.numpy().copy()
        else:
            W1, b1 = np.zeros((F, 0)), np.zeros(0)
        W2, b2 = layers[-1].weight.numpy().T.copy(), layers[-1].bias.numpy().copy()
    return CueModel(CLASSES.copy(), mu, sd, W1, b1, W2, b2)


def report(model: CueModel, X: np.ndarray, y: np.ndarray, title: str) -> float:
    if len(y) == 0:
        print(f"{title}: no samples")
        return float("nan")
    pred = model.classes[np.argmax(model.predict_proba(X), 1)]
    acc = float(np.mean(pred == y))
    names = [ObjectClass(c).name.lower() for c in CLASSES]
    print(f"{title}: accuracy {acc:.3f} on {len(y)} boxes")
    print("  per class: " + ", ".join(
        f"{nm} {np.mean(pred[y == c] == c):.3f} (n={int(np.sum(y == c))})"
        for c, nm in zip(CLASSES, names) if np.any(y == c)
    ))  # fmt: skip
    cm = np.zeros((len(CLASSES), len(CLASSES)), int)
    np.add.at(cm, (np.searchsorted(CLASSES, y), np.searchsorted(CLASSES, pred)), 1)
    print("  confusion (rows true, cols predicted): " + " ".join(f"{nm[:4]:>5}" for nm in names))
    for nm, row in zip(names, cm):
        print(f"  {nm:>38}: " + " ".join(f"{v:5d}" for v in row))
    return acc


STATIC_SCENES = ("urban_clutter", "parking_lot")  # scenes with a static world (textures, new buses)


def _gt_and_phantoms(d: dict) -> tuple[np.ndarray, np.ndarray]:
    return np.vstack([d["clean"][0], d["phantom"][0]]), np.concatenate([d["clean"][1], d["phantom"][1]])


def validation(scenes, seeds, every_s: float, duration_s: float, n_phantoms: int, cal, ev) -> dict:
    """``build`` for the validation seeds, also split into open roads and static worlds (the
    static worlds' renders differ: textures, walkers, buses with clearance)."""
    args = (seeds, every_s, duration_s, n_phantoms, cal, ev)
    parts = {
        "open": build([s for s in scenes if s[0] not in STATIC_SCENES], *args),
        "static": build([s for s in scenes if s[0] in STATIC_SCENES], *args),
    }
    op, st = parts["open"], parts["static"]
    out = {k: (np.vstack([op[k][0], st[k][0]]), np.concatenate([op[k][1], st[k][1]])) for k in op}
    out["by_world"] = parts
    return out


def report_validation(model: CueModel, va: dict, title: str) -> float:
    """Accuracy on GT boxes + UNKNOWN phantoms (returned), then per world kind, then jittered boxes."""
    acc = report(model, *_gt_and_phantoms(va), f"{title}, GT boxes + UNKNOWN phantoms")
    for kind, part in va["by_world"].items():
        report(model, *_gt_and_phantoms(part), f"  {kind} scenes only")
    report(model, *va["jitter"], "val, jittered GT boxes")
    return acc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    ap.add_argument("--calibration", type=Path, default=REPO / "config" / "calibration.yaml")
    ap.add_argument("--train-seeds", type=int, nargs="+", default=list(range(8)))
    ap.add_argument("--val-seeds", type=int, nargs="+", default=[100, 101, 102, 103])
    ap.add_argument("--every-s", type=float, default=0.6, help="seconds between rendered stamps")
    ap.add_argument("--duration-s", type=float, default=12.0, help="scenario length, s")
    ap.add_argument("--phantoms", type=int, default=6, help="UNKNOWN boxes per stamp")
    ap.add_argument("--hidden", type=int, default=32, help="hidden units (0: logistic regression)")
    ap.add_argument("--epochs", type=int, default=600)
    ap.add_argument("--quick", action="store_true", help="few seeds and frames, do not write --out")
    ap.add_argument("--evaluate", type=Path, help="score this model on the validation seeds; no training")
    a = ap.parse_args(argv)
    if a.quick:
        a.train_seeds, a.val_seeds, a.every_s, a.duration_s = [0], [100], 2.0, 6.0
    cal = load_calibration(a.calibration)
    ev = CameraEvidence(cal, CameraEvidenceConfig(class_cue=False))
    t0 = time.perf_counter()
    if a.evaluate is not None:
        va = validation(SCENES, a.val_seeds, a.every_s, a.duration_s, a.phantoms, cal, ev)
        report_validation(CueModel.load(a.evaluate), va, f"{a.evaluate}: val seeds {a.val_seeds}")
        return 0
    tr = build(SCENES, a.train_seeds, a.every_s, a.duration_s, a.phantoms, cal, ev)
    va = validation(SCENES, a.val_seeds, a.every_s, a.duration_s, a.phantoms, cal, ev)
    print(f"rendered and extracted in {time.perf_counter() - t0:.0f} s")
    X = np.vstack([tr[k][0] for k in tr])
    y = np.concatenate([tr[k][1] for k in tr])
    print(f"train: {len(y)} boxes (seeds {a.train_seeds}); classes "
          + ", ".join(f"{ObjectClass(c).name.lower()} {int(np.sum(y == c))}" for c in CLASSES))  # fmt: skip
    t0 = time.perf_counter()
    model = train(X, y, a.hidden, a.epochs)
    print(f"trained {'MLP ' + str(a.hidden) if a.hidden else 'logistic regression'} "
          f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    report(model, X, y, "train (all)")
    acc = report_validation(model, va, f"val seeds {a.val_seeds}")
    if not a.quick:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        model.save(a.out)
        print(f"wrote {a.out} ({a.out.stat().st_size / 1024:.1f} kB), val accuracy {acc:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
