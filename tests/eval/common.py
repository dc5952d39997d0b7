"""Hand-built frames shared by the evaluation tests."""

from __future__ import annotations

import numpy as np

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.eval.frames import FrameObjects

MS = 1_000_000
CAR, PED, BIKE = int(ObjectClass.CAR), int(ObjectClass.PEDESTRIAN), int(ObjectClass.BICYCLE)


def frame(stamp_ns, ids, xy, labels=None, vel=None, scores=None) -> FrameObjects:
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    n = xy.shape[0]
    return FrameObjects(
        stamp_ns=stamp_ns,
        ids=np.asarray(ids, dtype=np.int64),
        labels=np.full(n, CAR) if labels is None else np.asarray(labels),
        centers=np.column_stack([xy, np.zeros(n)]),
        sizes=np.tile([4.5, 1.9, 1.6], (n, 1)),
        yaw=np.zeros(n),
        velocity=np.zeros((n, 2)) if vel is None else np.asarray(vel, dtype=float).reshape(n, 2),
        scores=np.ones(n) if scores is None else np.asarray(scores, dtype=float),
    )


def world(n_frames=10, n_obj=2, labels=None) -> list[FrameObjects]:
    """Objects 20 m apart moving at 1 m/s along x, 10 Hz."""
    frames = []
    for k in range(n_frames):
        t = 0.1 * k
        xy = np.column_stack([np.full(n_obj, t), 20.0 * np.arange(n_obj)])
        vel = np.tile([1.0, 0.0], (n_obj, 1))
        frames.append(frame(k * 100 * MS, np.arange(n_obj) + 1, xy, labels=labels, vel=vel))
    return frames


def copy_as_tracks(truth, id_offset=100, dxy=(0.0, 0.0), dv=(0.0, 0.0)) -> list[FrameObjects]:
    return [
        frame(
            f.stamp_ns,
            f.ids + id_offset,
            f.centers[:, :2] + dxy,
            labels=f.labels,
            vel=f.velocity + dv,
            scores=np.full(len(f), 0.9),
        )
        for f in truth
    ]
