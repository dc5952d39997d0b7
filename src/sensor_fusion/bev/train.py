"""Training and held-out evaluation of the BEV network on extracted generator samples.

Modality dropout: each training sample keeps all modalities with ``full_modality_prob``, else a
uniformly drawn non-empty subset of (lidar, camera, radar), and each remaining camera is dropped
with ``camera_drop_prob``; targets are the boxes a kept modality could see (see dataset.py).
Checkpoints (model, optimiser, schedule, step, RNG) are written every ``checkpoint_every`` steps
and at the end of each epoch, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..eval.detection import evaluate_detection_ap
from ..eval.frames import FrameObjects
from .dataset import SampleSet, eval_truth_mask, target_mask
from .decode import DecodeConfig, decode
from .grid import INTENSITY_CHANNEL
from .model import BEV_CLASSES, OUTPUT_STRIDE, BevFusionNet
from .targets import CLASS_TO_INDEX, build_targets, losses

log = logging.getLogger(__name__)

SUBSETS = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1)]


@dataclass
class TrainConfig:
    epochs: int = 6
    batch_size: int = 4
    lr: float = 2e-3
    weight_decay: float = 1e-4
    full_modality_prob: float = 0.4
    camera_drop_prob: float = 0.1
    # LiDAR intensity is not calibrated across sensors: vendors scale it differently and some
    # drivers publish none. Per sample, the raster's mean-intensity channel is zeroed with
    # intensity_drop_prob, else scaled with intensity_gain_prob by a log-uniform gain in
    # [1 / intensity_gain_max, intensity_gain_max]. 0, 0: off (session 12's open network was trained
    # so; both shipped parents had one epoch with 0.2, 0.5, docs/bev.md).
    intensity_drop_prob: float = 0.0
    intensity_gain_prob: float = 0.0
    intensity_gain_max: float = 3.0
    seed: int = 0
    log_every: int = 20
    checkpoint_every: int = 100
    val_every_nth_frame: int = 4  # validation during training scores every n-th held-out frame
    init_weights: str | None = None  # fine-tune: start from these weights (a shipped .pt), not at random


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def batch(
    data: SampleSet,
    idx: np.ndarray,
    present: np.ndarray,
    cam_keep: np.ndarray,
    device: torch.device,
    intensity_gain: np.ndarray | None = None,
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """Network inputs and targets for samples ``idx`` with the given modality flags (B, 3), (B, Nc)
    and, in training, a gain (B,) on each sample's LiDAR intensity channel (0: none published)."""
    d = data.data
    present = present * d["present"][idx]
    cam_keep = cam_keep * d["cam_present"][idx] * present[:, 1:2]
    present[:, 1] = cam_keep.max(axis=1) if cam_keep.shape[1] else 0.0
    lidar = d["lidar"][idx].astype(np.float32) * present[:, 0, None, None, None]
    if intensity_gain is not None:
        lidar[:, INTENSITY_CHANNEL] *= intensity_gain[:, None, None].astype(np.float32)
    radar = d["radar"][idx].astype(np.float32) * present[:, 2, None, None, None]
    images = d["images"][idx].astype(np.float32) / 255.0 * cam_keep[:, :, None, None, None]
    valid = data.cam_valid[None] * cam_keep[:, :, None, None]
    tgt = []
    for k, i in enumerate(idx):
        b = data.boxes(int(i))
        m = target_mask(b, present[k])
        tgt.append(
            build_targets(
                data.head_grid, b["centers"][m], b["sizes"][m], b["yaw"][m], b["labels"][m], b["velocity"][m]
            )
        )
    hm, ind, reg, mask = (np.stack(x) for x in zip(*tgt))

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    inputs = (
        t(lidar),
        t(radar),
        t(images).permute(0, 1, 4, 2, 3),
        t(data.cam_grid),
        t(valid.astype(np.float32)),
        t(present.astype(np.float32)),
    )
    return inputs, (t(hm), t(ind), t(reg), t(mask))


def _draw_modalities(rng: np.random.Generator, n: int, n_cam: int, cfg: TrainConfig):
    present = np.ones((n, 3), np.float32)
    for k in range(n):
        if rng.random() >= cfg.full_modality_prob:
            present[k] = SUBSETS[rng.integers(len(SUBSETS))]
    cam_keep = (rng.random((n, n_cam)) >= cfg.camera_drop_prob).astype(np.float32)
    return present, cam_keep


def _draw_intensity_gain(rng: np.random.Generator, n: int, cfg: TrainConfig) -> np.ndarray | None:
    if cfg.intensity_drop_prob <= 0.0 and cfg.intensity_gain_prob <= 0.0:
        return None  # no draws: an unaugmented run keeps the random stream it always had
    u = rng.random(n)
    log_g = rng.uniform(-1.0, 1.0, n) * np.log(cfg.intensity_gain_max)
    gain = np.where(u < cfg.intensity_drop_prob + cfg.intensity_gain_prob, np.exp(log_g), 1.0)
    return np.where(u < cfg.intensity_drop_prob, 0.0, gain)


def train(
    train_data: SampleSet,
    val_data: SampleSet | None,
    workdir: str | Path,
    out_weights: str | Path,
    cfg: TrainConfig,
    resume: bool = True,
    on_step: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Train, checkpointing in ``workdir``; write the shipped weights (model + meta) to ``out_weights``.

    ``on_step(step, total_steps, note)`` is called after every step (for a progress bar)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    device = pick_device()
    torch.manual_seed(cfg.seed)
    model = BevFusionNet(lift_heights=len(train_data.grid.lift_heights_m)).to(device)
    if cfg.init_weights:
        init = torch.load(cfg.init_weights, map_location=device, weights_only=True)
        model.load_state_dict(init["model"])
        log.warning("fine-tuning from %s", cfg.init_weights)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(train_data)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.1)
    rng = np.random.default_rng(cfg.seed)
    step, history = 0, []
    ckpt_path = workdir / "checkpoint.pt"
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=True)  # data only, never code
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        step, history = ck["step"], ck["history"]
        rng.bit_generator.state = ck["rng"]
        log.warning("resumed from %s at step %d of %d", ckpt_path, step, total)
    log_path = workdir / "train_log.jsonl"

    def save() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "step": step,
                "history": history,
                "rng": rng.bit_generator.state,
                "config": asdict(cfg),
            },
            tmp,
        )
        tmp.replace(ckpt_path)

    n_cam = train_data.cam_grid.shape[0]
    t_start = time.perf_counter()
    res: dict | None = None  # the last validation, reused for the covariances when training ends
    while step < total:
        epoch = step // steps_per_epoch
        perm = np.random.default_rng(cfg.seed + epoch).permutation(n)  # same order when resumed
        model.train()
        acc: dict[str, float] = {}
        for s in range(step % steps_per_epoch, steps_per_epoch):
            idx = perm[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            present, cam_keep = _draw_modalities(rng, len(idx), n_cam, cfg)
            gain = _draw_intensity_gain(rng, len(idx), cfg)
            inputs, targets = batch(train_data, idx, present, cam_keep, device, gain)
            out = losses(model(*inputs), *targets)
            opt.zero_grad(set_to_none=True)
            out["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
            step += 1
            for k, v in out.items():
                acc[k] = acc.get(k, 0.0) + float(v.detach())
            if on_step is not None:
                on_step(step, total, f"epoch {epoch} loss {float(out['total'].detach()):.3f}")
            if step % cfg.log_every == 0:
                rec = {k: v / cfg.log_every for k, v in acc.items()}
                rec.update(
                    step=step, epoch=epoch, lr=sched.get_last_lr()[0], wall_s=time.perf_counter() - t_start
                )
                acc = {}
                with open(log_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
                log.warning(
                    "step %d/%d epoch %d loss %.3f (heatmap %.3f) %.1f s",
                    step, total, epoch, rec["total"], rec["heatmap"], rec["wall_s"],
                )  # fmt: skip
            if step % cfg.checkpoint_every == 0:
                save()
        rec = {"epoch": epoch, "step": step}
        if val_data is not None:
            res = evaluate(model, val_data, (1, 1, 1), every=cfg.val_every_nth_frame)
            rec.update(val_det_ap=res["det_ap"], val_det_ap_2m=res.get("det_ap_2m"))
            log.warning("epoch %d: validation AP %.3f (2 m: %.3f)", epoch, res["det_ap"], res["det_ap_2m"])
        history.append(rec)
        save()
        # each epoch's weights, so that validation can pick one afterwards (``--from-epoch``)
        torch.save({"model": model.state_dict(), "history": history}, workdir / f"epoch_{epoch}.pt")
    meta = {
        "grid": train_data.grid.to_dict(),
        "image_wh": train_data.meta["image_wh"],
        "arch": {"lift_heights": len(train_data.grid.lift_heights_m)},
        "output_stride": OUTPUT_STRIDE,
        "classes": [int(c) for c in BEV_CLASSES],
        "train_files": [Path(f).name for f in train_data.files],
        "train": asdict(cfg),
        "history": history,
    }
    if val_data is not None:
        if res is None:  # resumed after the last epoch's validation
            res = evaluate(model, val_data, (1, 1, 1), every=cfg.val_every_nth_frame)
        meta["pos_std_m"], meta["vel_std_mps"] = res["pos_std_m"], res["vel_std_mps"]
        meta["val_files"] = [Path(f).name for f in val_data.files]
    model_cpu = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    out_weights = Path(out_weights)
    out_weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model_cpu, "meta": meta}, out_weights)
    return meta


def truth_rows(data: SampleSet, i: int) -> np.ndarray:
    """(B,) bool over sample ``i``'s boxes: those scored as truth (a LiDAR or radar return on them,
    a class the network boxes, centre inside the grid): the rows of :func:`frame_pairs`' truth."""
    b = data.boxes(i)
    g = data.grid
    m = eval_truth_mask(b) & np.isin(b["labels"], [int(c) for c in BEV_CLASSES])
    c = b["centers"]
    m &= (c[:, 0] >= g.x_min_m) & (c[:, 0] < g.x_max_m) & (c[:, 1] >= g.y_min_m) & (c[:, 1] < g.y_max_m)
    return m


def _truth_frame(data: SampleSet, i: int) -> FrameObjects:
    b = data.boxes(i)
    m = truth_rows(data, i)
    c = b["centers"]
    n = int(m.sum())
    return FrameObjects(
        int(data.data["stamp"][i]),
        np.arange(n),
        b["labels"][m],
        c[m],
        b["sizes"][m],
        b["yaw"][m],
        b["velocity"][m],
        np.ones(n),
    )


@torch.no_grad()
def frame_pairs(
    model: BevFusionNet,
    data: SampleSet,
    subset: tuple[int, int, int],
    every: int = 1,
    decode_config: DecodeConfig | None = None,
) -> list[tuple[FrameObjects, FrameObjects]]:
    """(truth, detections) of every ``every``-th sample with only the ``subset`` (lidar, camera,
    radar) modalities given, in ``base_link``: what :func:`evaluate` scores (the model's mode is
    left as it is)."""
    device = next(model.parameters()).device
    n_cam = data.cam_grid.shape[0]
    present = np.array([subset], np.float32)
    pairs = []
    for i in range(0, len(data), every):
        inputs, _ = batch(data, np.array([i]), present, np.ones((1, n_cam), np.float32), device)
        det = decode(model(*inputs), data.head_grid, 0, "base_link", decode_config)
        truth = _truth_frame(data, i)
        est = FrameObjects.from_detections(det)
        est.stamp_ns = truth.stamp_ns
        pairs.append((truth, est))
    return pairs


@torch.no_grad()
def evaluate(
    model: BevFusionNet,
    data: SampleSet,
    subset: tuple[int, int, int],
    every: int = 1,
    decode_config: DecodeConfig | None = None,
) -> dict:
    """nuScenes-style AP on ``data`` with only the ``subset`` (lidar, camera, radar) modalities given.

    Also the residual std of centre and velocity per class (matches within 2 m), which the
    shipped model reports as its detections' covariances.
    """
    was_training = model.training
    model.eval()
    pairs = frame_pairs(model, data, subset, every, decode_config)
    nc = len(BEV_CLASSES)
    res_cls, res_pos, res_vel = [], [], []  # per matched truth: head class, position / velocity error
    for truth, est in pairs:
        if len(truth) and len(est):
            d = np.linalg.norm(truth.centers[:, None, :2] - est.centers[None, :, :2], axis=2)
            same = truth.labels[:, None] == est.labels[None, :]
            d = np.where(same, d, np.inf)
            j = d.argmin(axis=1)
            ok = d[np.arange(len(truth)), j] < 2.0
            res_cls.append(CLASS_TO_INDEX[truth.labels[ok]])
            res_pos.append(est.centers[j[ok], :2] - truth.centers[ok, :2])
            res_vel.append(est.velocity[j[ok]] - truth.velocity[ok])
    out = evaluate_detection_ap(pairs, classes=[int(c) for c in BEV_CLASSES])
    out["frames"] = len(pairs)

    cls = np.concatenate(res_cls) if res_cls else np.zeros(0, np.int64)

    def rms(err: list, default: float) -> list[float]:
        e = np.concatenate(err) if err else np.zeros((0, 2))
        return [
            float(np.sqrt(np.mean(np.square(e[cls == c])))) if (cls == c).sum() >= 10 else default
            for c in range(nc)
        ]

    out["pos_std_m"] = rms(res_pos, 0.5)
    out["vel_std_mps"] = rms(res_vel, 1.5)
    model.train(was_training)
    return out
