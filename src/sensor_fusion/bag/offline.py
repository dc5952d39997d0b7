"""Offline, deterministic runs of the fusion pipeline over a bag.

Messages are fed in log-time (arrival) order through exactly the decoders and
pipeline the node uses; outputs are written to a new bag stamped with the
frame stamps, so the same input bag always gives the same output bag. The odometry and
``/tf`` (map -> odom -> base_link) are written at ``odometry_rate_hz`` whether or not any
detection frame is made (an IMU + GNSS bag gives odometry and no frames).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..config import NODE_NAME, FusionConfig
from ..core.calibration import Calibration
from ..pipeline import FusionPipeline, PipelineOutput
from ..ros import convert
from ..ros.inputs import input_specs, with_intrinsics
from ..ros.outputs import odometry_message, output_messages
from ..ros.tf import TF_TOPIC, TFMessage, configured_transforms, tf_raw
from .io import BagWriter, bag_topics, read_messages

log = logging.getLogger(__name__)

OUT_PREFIX = f"/{NODE_NAME}/"  # outputs are recorded under the node's topics


@dataclass
class RunSummary:
    frames: int = 0
    odometry: int = 0  # odometry outputs (at odometry_rate_hz, with or without frames)
    messages: int = 0
    decode_errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    wall_s: float = 0.0
    diagnostics: dict = field(default_factory=dict)


def feed_bag(
    bag: str | Path,
    pipeline: FusionPipeline,
    cfg: FusionConfig,
    summary: RunSummary,
    withhold: set[str] | None = None,
    rate: float = 0.0,
) -> Iterator[list[PipelineOutput]]:
    """Decode ``bag``'s sensor topics in arrival order into ``pipeline``; yield each step's outputs.

    ``withhold``: pipeline sensor kinds to ignore (lidar, camera, radar, imu, gps). ``rate`` > 0
    hands each message over no earlier than its recorded time allows at that rate (1: as the
    sensors delivered it, with the idle gaps a live node has); 0: as fast as the pipeline goes.
    """
    withhold = withhold or set()
    t_first, wall0 = None, 0.0
    specs = {s.topic: s for s in input_specs(cfg)}
    kinds = pipeline.sensor_kinds
    specs = {t: s for t, s in specs.items() if kinds.get(s.sensor, "camera") not in withhold}
    intrinsics: dict[str, object] = {}
    for topic, mt, t_log, msg in read_messages(bag, specs.keys()):
        spec = specs[topic]
        summary.messages += 1
        if rate > 0:
            if t_first is None:
                t_first, wall0 = t_log, time.perf_counter()
            wait = (t_log - t_first) * 1e-9 / rate - (time.perf_counter() - wall0)
            if wait > 0:
                time.sleep(wait)
        if not isinstance(msg, spec.msg_class):
            summary.decode_errors[spec.sensor] += 1
            if summary.decode_errors[spec.sensor] == 1:
                log.warning(
                    "%s: dropped %s message on %s (expects %s)",
                    spec.sensor,
                    mt,
                    topic,
                    spec.msg_class.__name__,
                )
            continue
        try:
            item = spec.decode(msg)
        except (convert.DecodeError, ValueError) as exc:
            summary.decode_errors[spec.sensor] += 1
            log.warning("%s: dropped malformed message: %s", spec.sensor, exc)
            continue
        item = with_intrinsics(spec, item, intrinsics)
        if item is None:
            continue
        pipeline.push(spec.sensor, item)
        yield pipeline.step()
    yield pipeline.flush()


def anchor_for(cfg: FusionConfig, withhold: set[str]) -> FusionConfig:
    """``cfg`` with the anchor moved to the first kept camera (else radar) when its kind is withheld:
    without its anchor the synchroniser would emit no frame at all."""
    kind = {
        "lidar": "lidar",
        **{c.name: "camera" for c in cfg.cameras},
        **{r.name: "radar" for r in cfg.radars},
    }
    if kind.get(cfg["anchor"]) not in withhold:
        return cfg
    kept = [c.name for c in cfg.cameras if "camera" not in withhold]
    kept += [r.name for r in cfg.radars if "radar" not in withhold]
    if not kept:
        return cfg
    log.warning("anchor '%s' is withheld: frames are anchored on '%s'", cfg["anchor"], kept[0])
    return dataclasses.replace(cfg, anchor=kept[0])


def run_bag(
    bag: str | Path,
    cfg: FusionConfig,
    calibration: Calibration,
    out: str | Path,
    withhold: set[str] | None = None,
    on_frame: Callable[[int], None] | None = None,
    rate: float = 0.0,
) -> RunSummary:
    """Run the pipeline over ``bag`` and write its outputs to the new bag ``out``.

    ``withhold``: pipeline sensor kinds to ignore (lidar, camera, radar, imu, gps),
    to measure the system with modalities removed. ``on_frame`` is called with the number of
    frames written so far (for a progress bar; see :func:`expected_frames`). ``rate``: see
    :func:`feed_bag` (the outputs are the same at any rate; the stage times are not).
    """
    cfg = anchor_for(cfg, withhold or set())
    pipeline = FusionPipeline(cfg, calibration)
    summary = RunSummary()
    uuid_ns = hashlib.sha256(Path(bag).name.encode()).digest()[:8]  # deterministic ids per input
    t0 = time.perf_counter()
    with BagWriter(out) as writer:
        for outputs in feed_bag(bag, pipeline, cfg, summary, withhold, rate):
            for e in pipeline.take_ego_outputs():  # odometry and /tf at their own rate
                summary.odometry += 1
                topic, msg = odometry_message(e, cfg["map_frame"], cfg["base_frame"])
                writer.write(OUT_PREFIX + topic, msg, e.stamp_ns)
                tfs = configured_transforms(e, cfg)
                if not tfs:
                    continue
                if TFMessage is not None:
                    writer.write(TF_TOPIC, TFMessage(transforms=tfs), e.stamp_ns)
                else:
                    writer.write_raw(TF_TOPIC, "tf2_msgs/msg/TFMessage", tf_raw(tfs), e.stamp_ns)
            for o in outputs:
                summary.frames += 1
                for topic, msg in output_messages(o, uuid_ns, cfg["fixed_frame"], cfg["base_frame"]):
                    writer.write(OUT_PREFIX + topic, msg, o.stamp_ns)
                if on_frame is not None:
                    on_frame(summary.frames)
    summary.wall_s = time.perf_counter() - t0
    summary.diagnostics = pipeline.diagnostics()
    return summary


def expected_frames(bag: str | Path, cfg: FusionConfig, withhold: set[str] | None = None) -> int | None:
    """About how many frames ``run_bag`` will produce: the anchor topic's message count (None when
    the bag lacks it), for a progress bar's total."""
    cfg = anchor_for(cfg, withhold or set())
    topics = {s.sensor: s.topic for s in input_specs(cfg) if not s.camera_info}
    counts = bag_topics(bag)
    topic = topics.get(cfg["anchor"])
    return counts[topic][1] if topic in counts else None
