"""What the pipeline publishes with any subset of its sensors: the dead-sensor matrix.

For each of the 31 non-empty subsets of {LiDAR, radar, cameras, IMU, GPS}, one generated bag is
fed through a fresh pipeline with the other kinds silent, either from the start or from
``die_at_s`` on (they publish until then), exactly as the node's worker would receive it. Each
case reports the frames emitted and their rate over the last second, which detection sources and
which anchor fed the last frames, whether the ego pose (odometry) is known at the end, and which
sensors the node's diagnostics name as silent (built with the node's own ``diagnostics.build``
from the per-sensor message counts of the last second). ``tests/test_sensor_matrix.py`` runs it
and ``scripts/sensor_matrix.py`` prints the table in docs/node.md.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from ..config import FusionConfig
from ..core.calibration import Calibration
from ..pipeline import FusionPipeline
from ..ros import convert
from ..ros.inputs import input_specs, with_intrinsics
from .io import read_messages

KINDS = ("lidar", "radar", "camera", "imu", "gps")
DETECTION_KINDS = ("lidar", "radar", "camera")
NS = 1_000_000_000


@dataclass
class Case:
    present: tuple[str, ...]  # kinds alive to the end
    die_at_s: float | None  # None: the others are silent from the start
    frames: int = 0
    rate_hz_last_1s: float = 0.0
    anchors_last_1s: list[str] = field(default_factory=list)
    sources_last_1s: list[str] = field(default_factory=list)
    ego_at_end: bool = False
    named_silent: list[str] = field(default_factory=list)
    error: str = ""


def decoded_messages(bag: str | Path, cfg: FusionConfig) -> list[tuple[int, str, object]]:
    """(log time, pipeline sensor, decoded item) for every sensor message of ``bag`` (decoded once,
    shared by every case: the pipeline does not modify its inputs)."""
    specs = {s.topic: s for s in input_specs(cfg)}
    out, intrinsics = [], {}
    for topic, _mt, t, msg in read_messages(bag, specs.keys()):
        spec = specs[topic]
        try:
            item = spec.decode(msg)
        except (convert.DecodeError, ValueError):
            continue
        item = with_intrinsics(spec, item, intrinsics)
        if item is not None:
            out.append((t, spec.sensor, item))
    return out


def run_case(
    messages: list[tuple[int, str, object]],
    cfg: FusionConfig,
    calibration: Calibration,
    present: tuple[str, ...],
    die_at_s: float | None,
) -> Case:
    from ..ros import diagnostics

    case = Case(tuple(present), die_at_s)
    pipe = FusionPipeline(cfg, calibration)
    kinds = pipe.sensor_kinds
    t0 = messages[0][0]
    t_end = messages[-1][0]
    die_ns = None if die_at_s is None else t0 + int(die_at_s * NS)
    received = {n: 0 for n in kinds}
    received_last = {n: 0 for n in kinds}
    outs = []
    try:
        for t, sensor, item in messages:
            alive = kinds[sensor] in present or (die_ns is not None and t < die_ns)
            if not alive:
                continue
            received[sensor] += 1
            if t >= t_end - NS:
                received_last[sensor] += 1
            pipe.push(sensor, item)
            outs += pipe.step()
        outs += pipe.flush()
    except Exception as exc:  # the matrix reports a crash as a failed case instead of stopping
        case.error = f"{type(exc).__name__}: {exc}"
        return case
    case.frames = len(outs)
    last = [o for o in outs if o.stamp_ns >= t_end - NS]
    case.rate_hz_last_1s = float(len(last))
    case.anchors_last_1s = sorted({o.sensors_present[0] for o in last if o.sensors_present})
    case.sources_last_1s = sorted({s for o in last for s in o.detections})
    # odometry has its own rate (REP-105 outputs from the IMU/GNSS feed), with or without frames
    case.ego_at_end = any(e.stamp_ns >= t_end - NS for e in pipe.take_ego_outputs())
    sensors = {
        n: {
            "received_period": received_last[n],
            "received_total": received[n],
            "decode_errors": 0,
            "decode_errors_period": 0,
            "topic": n,
        }
        for n in kinds
    }
    arr = diagnostics.build("fusion_node", None, 1.0, sensors, pipe.diagnostics(), case.frames, 0, 0)
    names = {st.name.split(": ", 1)[1]: st for st in arr.status}
    case.named_silent = sorted(n for n in kinds if names[n].level != diagnostics.OK and n in names[n].message)
    return case


def subsets() -> list[tuple[str, ...]]:
    """The 31 non-empty subsets of KINDS, largest first."""
    out = [c for r in range(len(KINDS), 0, -1) for c in itertools.combinations(KINDS, r)]
    return out


def run_matrix(
    bag: str | Path, cfg: FusionConfig, calibration: Calibration, die_at_s: float | None
) -> list[Case]:
    messages = decoded_messages(bag, cfg)
    return [run_case(messages, cfg, calibration, s, die_at_s) for s in subsets()]


def markdown(cases: list[Case]) -> str:
    """The docs table: subset -> what is published."""
    head = "| sensors alive | frames/s (last 1 s) | anchored on | detections from | odometry | named silent |"
    rows = [head, "|---|---|---|---|---|---|"]
    for c in cases:
        rows.append(
            f"| {' + '.join(c.present)} | {c.rate_hz_last_1s:.0f} | {', '.join(c.anchors_last_1s) or '-'} | "
            f"{', '.join(c.sources_last_1s) or '-'} | {'yes' if c.ego_at_end else 'no'} | "
            f"{', '.join(c.named_silent) or '-'} |" + (f" **{c.error}**" if c.error else "")
        )
    return "\n".join(rows)
