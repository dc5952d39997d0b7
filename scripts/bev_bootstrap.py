#!/usr/bin/env python3
"""Is one network's validation mAP really below another's? A paired block bootstrap over frames.

    .venv/bin/python scripts/bev_bootstrap.py --workdir out/bevft \\
        --scenarios urban,highway,intersection,radar_clutter,dense_traffic --seeds 201 --every 2 \\
        --weights src/sensor_fusion/models/bev_fusion_open.pt --against W2 [--against W3 ...]

Both networks see the same cached samples (``sensor-fusion evaluate-bev``'s, all modalities).
Frames are drawn in blocks of ``--block`` consecutive evaluated frames (frames 0.2 s apart are not
independent), the same blocks for every network, and mAP is recomputed on each draw; the script
prints each network's mAP, the difference to the first and its 95 % interval. Why: the shipping
rule says a new default must not lose mAP on the old scenarios, and a loss of a few thousandths
means nothing unless it is larger than what drawing other frames of the same drives would give.
"""

from __future__ import annotations

import argparse

import numpy as np

from sensor_fusion.bev.dataset import SampleSet
from sensor_fusion.bev.detector import load_model
from sensor_fusion.bev.model import BEV_CLASSES
from sensor_fusion.bev.train import frame_pairs, pick_device
from sensor_fusion.bev_training import bag_list, ensure_samples, parse_seeds
from sensor_fusion.eval.detection import evaluate_detection_ap
from sensor_fusion.eval.frames import FrameObjects


def network_pairs(weights: str, data: SampleSet, every: int) -> list[tuple[FrameObjects, FrameObjects]]:
    """(truth, detections) of every ``every``-th sample, all modalities given, as evaluate-bev."""
    model, _ = load_model(weights)
    return frame_pairs(model.to(pick_device()), data, (1, 1, 1), every)


def mean_ap(pairs: list) -> float:
    return float(evaluate_detection_ap(pairs, classes=[int(c) for c in BEV_CLASSES])["det_ap"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--scenarios", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--weights", required=True, help="the reference network")
    ap.add_argument("--against", action="append", required=True, help="a network to compare")
    ap.add_argument("--block", type=int, default=10, help="consecutive evaluated frames per block")
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    from pathlib import Path

    bags = bag_list(a.scenarios.split(","), parse_seeds(a.seeds))
    data = SampleSet(ensure_samples(Path(a.workdir), bags, a.duration))
    names = [a.weights, *a.against]
    runs = [network_pairs(w, data, a.every) for w in names]
    n = len(runs[0])
    blocks = [np.arange(s, min(s + a.block, n)) for s in range(0, n, a.block)]
    rng = np.random.default_rng(a.seed)
    draws = np.zeros((a.draws, len(names)))
    for d in range(a.draws):
        idx = np.concatenate([blocks[j] for j in rng.integers(0, len(blocks), len(blocks))])
        draws[d] = [mean_ap([r[i] for i in idx]) for r in runs]
    full = [mean_ap(r) for r in runs]
    print(f"{n} frames in {len(blocks)} blocks of {a.block}, {a.draws} draws")
    print(f"{names[0]}: mAP {full[0]:.3f}")
    for k in range(1, len(names)):
        diff = draws[:, k] - draws[:, 0]
        lo, hi = np.percentile(diff, [2.5, 97.5])
        print(
            f"{names[k]}: mAP {full[k]:.3f}, minus the reference {full[k] - full[0]:+.4f} "
            f"(95 % interval {lo:+.4f} to {hi:+.4f}; below it in {np.mean(diff < 0):.0%} of draws)"
        )


if __name__ == "__main__":
    main()
