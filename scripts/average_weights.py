#!/usr/bin/env python3
"""A weight-space average of two BEV networks of the same architecture, with its own residuals.

    .venv/bin/python scripts/average_weights.py out/bevmix/mix_openft.pt out/bevmix/bev_fusion_mix.pt \\
        --share 0.5 --out src/sensor_fusion/models/bev_fusion.pt \\
        --val out/bevmix/cache/{urban,highway,intersection,radar_clutter,dense_traffic}_s201.npz

(the shipped weights since session 24, made in session 23: residuals from the open-road validation
frames only; on the street canyon's frames the velocity head answers parked cars with a class prior).

Every floating-point tensor becomes ``(1 - share) * A + share * B`` (B's integer buffers are
kept); the meta is A's, with ``averaged_from`` and ``street_share`` added and the per-class
centre and velocity residuals (``pos_std_m``, ``vel_std_mps``, which the detector reports as
its boxes' covariances) measured again on the given validation sample files (the cache of
``sensor-fusion evaluate-bev``), all modalities, as training does when it saves. Why:
fine-tuning on the street canyon cost the open-road trucks, and the line between two networks
keeps more of one while gaining the other (docs/bev.md, Sessions 20, 21 and 23).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sensor_fusion.bev.dataset import SampleSet
from sensor_fusion.bev.detector import build_model, load_checkpoint
from sensor_fusion.bev.train import evaluate, pick_device


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="the first network (share 0)")
    ap.add_argument("b", help="the second network (share 1)")
    ap.add_argument("--share", type=float, required=True, help="weight of the second network, in [0, 1]")
    ap.add_argument("--out", required=True)
    ap.add_argument("--val", nargs="+", required=True, help="validation sample files (.npz)")
    ap.add_argument("--every", type=int, default=2)
    a = ap.parse_args()
    if not 0.0 <= a.share <= 1.0:
        raise SystemExit("--share must lie in [0, 1]")
    A, B = load_checkpoint(a.a), load_checkpoint(a.b)
    if A["model"].keys() != B["model"].keys():
        raise SystemExit("the two networks have different tensors")
    s = a.share
    model = {
        k: (1.0 - s) * A["model"][k] + s * B["model"][k]
        if A["model"][k].is_floating_point()
        else B["model"][k]
        for k in A["model"]
    }
    meta = dict(A["meta"], averaged_from=[Path(a.a).name, Path(a.b).name], street_share=s)
    files = [Path(f) for f in a.val]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"no such sample files: {missing}")
    net = build_model(meta)
    net.load_state_dict(model)
    net.to(pick_device()).eval()
    res = evaluate(net, SampleSet(files), (1, 1, 1), every=a.every)
    meta["pos_std_m"], meta["vel_std_mps"] = res["pos_std_m"], res["vel_std_mps"]
    meta["val_files"] = [f.name for f in files]
    torch.save({"model": model, "meta": meta}, a.out)
    print(f"wrote {a.out}: validation mAP {res['det_ap']:.3f} on {len(files)} sample files")


if __name__ == "__main__":
    main()
