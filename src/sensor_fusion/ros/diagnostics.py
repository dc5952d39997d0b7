"""/diagnostics for the fusion node: per-sensor rates and drops, per-stage latency, ego filter."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


def _kv(k: str, v) -> KeyValue:
    return KeyValue(key=str(k), value=f"{v:.3f}" if isinstance(v, float) else str(v))


def build(
    node_name: str,
    stamp,
    period_s: float,
    sensors: dict[str, dict],
    pipeline: dict,
    frames: int,
    tracks: int,
    failed_frames: int,
) -> DiagnosticArray:
    """``sensors``: name -> {received_period, received_total, decode_errors, frame_id, kind, ...}."""
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    sync = pipeline["sync"]
    for name, s in sensors.items():
        st = DiagnosticStatus(name=f"{node_name}: {name}", hardware_id=s.get("frame_id", "") or name)
        rate = s["received_period"] / period_s
        drops = dict(sync["dropped"].get(name, {}))
        drops.update({f"rejected_{k}": v for k, v in pipeline["rejected"].get(name, {}).items()})
        missing = sync["missing"].get(name, 0)
        st.values = [
            _kv("rate_hz", rate),
            _kv("received", s["received_total"]),
            _kv("decode_errors", s["decode_errors"]),
            _kv("queue_drops", s.get("queue_drops", 0)),
            _kv("missing_in_frames", missing),
        ]
        st.values += [_kv(f"dropped_{k}", v) for k, v in sorted(drops.items())]
        # radar detector: stationary returns, ghosts rejected (all rules; behind a reflector), ...
        st.values += [_kv(f"radar_{k}", v) for k, v in pipeline.get("radar", {}).get(name, {}).items()]
        if s["received_total"] == 0:
            st.level, st.message = ERROR, f"{name}: no data received on {s.get('topic', '?')}"
        elif s["received_period"] == 0:
            st.level, st.message = WARN, f"{name}: silent for the last {period_s:.1f} s"
        elif s["decode_errors_period"]:
            st.level, st.message = WARN, f"{name}: {s['decode_errors_period']} malformed messages dropped"
        else:
            st.level, st.message = OK, f"{name}: {rate:.1f} Hz"
        arr.status.append(st)
    p = DiagnosticStatus(name=f"{node_name}: pipeline", hardware_id="sensor_fusion")
    p.values = [
        _kv("frames", frames),
        _kv("tracks", tracks),
        _kv("failed_frames", failed_frames),  # a fusion step that raised (logged)
        _kv("sync_resets", sync["resets"]),
        _kv("anchor", sync.get("anchor", "")),
        _kv("anchor_changes", sync.get("anchor_changes", 0)),
    ]
    p.values += [_kv(f"time_jumps_{d}", n) for d, n in sorted(sync.get("time_jumps", {}).items())]
    # the LiDAR's structure memory: cells held, the network's vehicle boxes it dropped (`both` mode)
    p.values += [_kv(f"structure_{k}", v) for k, v in sorted(pipeline.get("structure", {}).items())]
    # the network's box velocities that the radar's Doppler on the box contradicted (dropped)
    p.values += [_kv(f"bev_{k}", v) for k, v in sorted(pipeline.get("bev", {}).items())]
    p.values += [_kv(f"frames_anchored_{a}", n) for a, n in sorted(sync.get("frames_by_anchor", {}).items())]
    for stage, (p50, p99) in sorted(pipeline["timing_ms"].items()):
        p.values += [_kv(f"{stage}_p50_ms", p50), _kv(f"{stage}_p99_ms", p99)]
    odometry = int(pipeline.get("odometry", 0))
    p.values.append(_kv("odometry_outputs", odometry))
    if frames:
        p.level, p.message = OK, "running"
    elif pipeline.get("detection_frames", True):
        p.level, p.message = WARN, "no fusion frame yet"
    else:  # no LiDAR, camera or radar configured: odometry is the whole output
        p.level, p.message = (OK, "ego only") if odometry else (WARN, "ego only: no odometry yet")
    arr.status.append(p)
    if pipeline.get("ego") is not None:
        e = DiagnosticStatus(name=f"{node_name}: ego", hardware_id="imu+gps")
        e.values = [_kv(k, v) for k, v in sorted(pipeline["ego"].items())]
        e.level, e.message = OK, "ego estimator"
        arr.status.append(e)
    return arr
