"""``sensor-fusion soak``: hours of driving through the whole pipeline, offline, as fast as it goes.

A generated bag of bounded length is replayed in a loop with every header stamp shifted
forward by one bag span per pass, so the pipeline sees one continuous drive in time (no time
jump, nothing resets) while the source is streamed from disk each pass: memory held for the
source never grows. Each pass restarts the drive where the bag started, so the ego filter
sees the GNSS position jump back once per pass (a real-world relocalisation; it must cope).

Every message goes through the node's decoders, the pipeline, and the conversion of its
outputs to ROS messages and CDR (not written to disk: an hour of output is gigabytes).

Measured: frames out, messages dropped (synchroniser drops, pipeline rejections, decode
errors), anchor messages in (``frames + anchor drops`` must equal it: every frame accounted
for), resident memory after the first minute and at the end, open file descriptors and OS
threads at start and end. *Start* is taken after the first frame: thread pools (numba, torch,
OpenMP) and caches created lazily by the first frame are start-up, not growth.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
from rclpy.serialization import serialize_message

from .bag.io import read_messages
from .config import FusionConfig
from .core.calibration import Calibration
from .pipeline import FusionPipeline, PipelineOutput
from .ros import convert
from .ros.inputs import input_specs, with_intrinsics
from .ros.outputs import output_messages

RSS_GROWTH_LIMIT = 0.05  # the bar: RSS at the end within 5 % of its value after 1 min
BASELINE_S = 60.0  # when "after the first minute" is sampled (half the run if that is shorter)
PASS_GAP_NS = 100_000_000  # between the last message of one pass and the first of the next


@dataclass
class SoakResult:
    frames: int = 0
    dropped: int = 0
    rss_mb_after_1min: float = 0.0
    rss_mb_end: float = 0.0
    fds_start: int = 0
    fds_end: int = 0
    threads_start: int = 0
    threads_end: int = 0
    anchors_in: int = 0
    anchor_dropped: int = 0
    passes: int = 0
    messages: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    baseline_s: float = 0.0
    time_resets: int = 0  # synchroniser resets (time jumped back): 0 when passes join seamlessly
    drop_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        """Why this run fails the soak criteria (empty: it passes)."""
        out = []
        if self.rss_mb_end > self.rss_mb_after_1min * (1 + RSS_GROWTH_LIMIT):
            growth = self.rss_mb_end / self.rss_mb_after_1min - 1
            out.append(f"resident memory grew {100 * growth:.1f} % (limit {100 * RSS_GROWTH_LIMIT:.0f} %)")
        if self.fds_end > self.fds_start:
            out.append(f"open file descriptors grew {self.fds_start} -> {self.fds_end}")
        if self.threads_end > self.threads_start:
            out.append(f"threads grew {self.threads_start} -> {self.threads_end}")
        if self.anchors_in != self.frames + self.anchor_dropped:
            out.append(
                f"{self.anchors_in} anchor messages in, {self.frames} frames + {self.anchor_dropped} dropped"
            )
        if self.frames == 0:
            out.append("no frame was produced")
        return out

    def to_json(self) -> dict:
        d = asdict(self)
        d["ok"] = not self.failures
        d["failures"] = self.failures
        return d


def _sample() -> tuple[float, int, int]:
    """(RSS MiB, open fds, OS threads) of this process."""
    p = psutil.Process()
    return p.memory_info().rss / 2**20, p.num_fds(), p.num_threads()


def _shifted(bag: Path, topics: set[str], shift_ns: int) -> Iterator[tuple[str, object]]:
    """The bag's messages on ``topics`` with header stamps moved ``shift_ns`` forward."""
    for topic, _mt, _t, msg in read_messages(bag, topics):
        h = msg.header
        h.stamp = convert.time_msg(convert.stamp_of(msg) + shift_ns)
        yield topic, msg


def soak(
    bag: str | Path,
    cfg: FusionConfig,
    calibration: Calibration,
    minutes: float,
    on_frame: Callable[[int], None] | None = None,
) -> SoakResult:
    """Loop ``bag`` through the pipeline for ``minutes`` of wall time; see the module docstring."""
    bag = Path(bag)
    pipeline = FusionPipeline(cfg, calibration)
    specs = {s.topic: s for s in input_specs(cfg)}
    anchor = cfg["anchor"]
    r = SoakResult()
    budget_s = minutes * 60.0
    r.baseline_s = min(BASELINE_S, budget_s / 2)
    proc = psutil.Process()
    cpu0 = sum(proc.cpu_times()[:2])
    t0 = time.perf_counter()
    span_ns = None
    intrinsics: dict[str, object] = {}
    started = baseline_taken = False
    uuid_ns = b"soak0000"

    def take(outputs: list[PipelineOutput]) -> None:
        nonlocal started
        for o in outputs:
            r.frames += 1
            for _topic, msg in output_messages(o, uuid_ns, cfg["fixed_frame"], cfg["base_frame"]):
                serialize_message(msg)
            if on_frame is not None:
                on_frame(r.frames)
        if outputs and not started:
            started = True
            _, r.fds_start, r.threads_start = _sample()

    done = False
    while not done:
        shift = 0 if span_ns is None else r.passes * span_ns
        first = last = None
        for topic, msg in _shifted(bag, set(specs), shift):
            spec = specs[topic]
            stamp = convert.stamp_of(msg)
            first = stamp if first is None else first
            last = stamp
            r.messages += 1
            if spec.sensor == anchor and not spec.camera_info:
                r.anchors_in += 1
            try:
                item = spec.decode(msg)
            except (convert.DecodeError, ValueError):
                r.drop_reasons["decode"] = r.drop_reasons.get("decode", 0) + 1
                if spec.sensor == anchor and not spec.camera_info:
                    r.anchor_dropped += 1
                continue
            item = with_intrinsics(spec, item, intrinsics)
            if item is None:
                continue
            pipeline.push(spec.sensor, item)
            take(pipeline.step())
            elapsed = time.perf_counter() - t0
            if not baseline_taken and elapsed >= r.baseline_s and started:
                baseline_taken = True
                r.rss_mb_after_1min = _sample()[0]
            if elapsed >= budget_s:
                done = True
                break
        if first is None:
            raise ValueError(f"{bag}: no message on the pipeline's input topics {sorted(specs)}")
        if span_ns is None:
            span_ns = (last - first) + PASS_GAP_NS
        r.passes += 1
    take(pipeline.flush())
    r.wall_s = time.perf_counter() - t0
    r.cpu_s = sum(proc.cpu_times()[:2]) - cpu0
    r.rss_mb_end, r.fds_end, r.threads_end = _sample()
    if not baseline_taken:
        r.rss_mb_after_1min = r.rss_mb_end
    diag = pipeline.diagnostics()
    r.time_resets = int(diag["sync"]["resets"])
    for sensor, reasons in diag["sync"]["dropped"].items():
        for reason, n in reasons.items():
            r.drop_reasons[reason] = r.drop_reasons.get(reason, 0) + n
            if sensor == anchor:
                r.anchor_dropped += n
    for sensor, reasons in diag["rejected"].items():
        for reason, n in reasons.items():
            r.drop_reasons[f"rejected_{reason}"] = r.drop_reasons.get(f"rejected_{reason}", 0) + n
            if sensor == anchor:
                r.anchor_dropped += n
    r.dropped = sum(r.drop_reasons.values())
    return r


def source_bag(workdir: str | Path, scenario: str, seed: int, duration_s: float) -> Path:
    """The generated drive the soak loops (made once, reused by later soaks)."""
    from .sim.recorder import record

    path = Path(workdir) / f"{scenario}_s{seed}_{duration_s:g}s"
    if not (path / "metadata.yaml").exists():
        if path.exists():  # a generation that was cut short
            import shutil

            shutil.rmtree(path)
        record(scenario, seed, duration_s, path)
    return path


def thread_names() -> list[str]:
    """Python threads alive (for a report when the thread count grows)."""
    return sorted(t.name for t in threading.enumerate())


def fd_targets() -> list[str]:
    """What the open file descriptors point at (for a report when their count grows)."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return sorted(out)
