"""Decoded sensor messages for the benches that time the pipeline alone (bench_gpu, bench_bev).

``capture`` records a generated ``urban`` bag and keeps what ``feed_bag`` pushes into the
pipeline, decoded as the node decodes it (ROS message classes, this package's converters).
``save``/``load`` carry that to a machine without ROS or the generator (the device tool's GPU
machine): arrays go byte-plane shuffled and deflated, since point clouds shrink by a third and
images by five times, so that 4 s fit the device tool's 64 MiB working tree. ``pass_timings``
runs one fresh pipeline over the messages and returns each frame's stage times.
"""

from __future__ import annotations

import copy
import pickle
import shutil
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sensor_fusion.config import default_share_dir, from_flat, load_params_file
from sensor_fusion.pipeline import FusionPipeline


@dataclass
class Decoded:
    datum: dict  # the bag's GPS datum (lat_deg, lon_deg, alt_m): map at the world origin
    calibration: object
    pushes: list  # [(sensor, item), ...] in arrival order

    @property
    def duration_s(self) -> float:
        return (self.pushes[-1][1].stamp_ns - self.pushes[0][1].stamp_ns) * 1e-9

    def config(self, **over):
        """The shipped config with ``over`` (flat keys) and this bag's datum."""
        cfg = from_flat({**load_params_file(default_share_dir() / "config" / "fusion.yaml"), **over})
        d = self.datum
        cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
        return cfg


def capture(duration_s: float, seed: int = 9) -> Decoded:
    """Record ``urban`` ``seed`` (9: not a training seed) for ``duration_s`` and decode it."""
    from sensor_fusion.bag.offline import RunSummary, feed_bag
    from sensor_fusion.sim.recorder import calibration_from_bag, record, scenario_from_bag

    work = Path(tempfile.mkdtemp(prefix="bench_decoded_"))
    try:
        bag = work / f"urban_s{seed}"
        record("urban", seed, duration_s, bag)
        out = Decoded(scenario_from_bag(bag)["config"]["gps"]["datum"], calibration_from_bag(bag), [])

        class Tap(FusionPipeline):  # keeps what feed_bag pushes, before the pipeline touches it
            def push(self, sensor, item):
                out.pushes.append((sensor, copy.deepcopy(item)))
                super().push(sensor, item)

        tap = Tap(out.config(detection_mode="classical"), out.calibration)  # decoding: no network
        for _ in feed_bag(bag, tap, out.config(), RunSummary()):
            pass
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pass_timings(cfg, calibration, pushes: list) -> tuple[list[dict[str, float]], float]:
    """One fresh pipeline over ``pushes`` (no bag I/O in the clock): each frame's stage times in
    seconds, and the pass's wall time."""
    pipe = FusionPipeline(cfg, calibration)
    frames: list[dict[str, float]] = []
    t0 = time.perf_counter()
    for sensor, item in pushes:
        pipe.push(sensor, copy.deepcopy(item))
        frames.extend(o.timing for o in pipe.step())
    return frames, time.perf_counter() - t0


def _unpack(dtype: str, shape: tuple, blob: bytes) -> np.ndarray:
    itemsize = np.dtype(dtype).itemsize
    planes = np.frombuffer(zlib.decompress(blob), np.uint8).reshape(itemsize, -1)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(shape)


class _Packer(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray) and obj.size > 1024 and obj.dtype.kind in "fiub":
            a = np.ascontiguousarray(obj)
            planes = np.ascontiguousarray(a.view(np.uint8).reshape(-1, a.dtype.itemsize).T)
            return _unpack, (a.dtype.str, a.shape, zlib.compress(planes.tobytes(), 6))
        return NotImplemented


def save(decoded: Decoded, path: str | Path) -> None:
    with open(path, "wb") as f:
        _Packer(f, protocol=5).dump(decoded)


def load(path: str | Path) -> Decoded:
    return pickle.loads(Path(path).read_bytes())
