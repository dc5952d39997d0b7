#!/usr/bin/env python3
"""Replay the tracker alone on the inputs one pipeline run gave it, with settings changed.

The tracker does not feed back into detection or ego, so one pipeline run fixes its inputs: every
``Tracker.step`` (stamp, detections in the tracking frame, sensor views) and ``reset``. ``record``
runs the pipeline over a bag (as ``sensor-fusion run`` / ``scripts/compare.py`` do) and pickles
them; ``replay`` runs a fresh tracker over them, with ``--set tracker.KEY=VALUE`` changes (YAML
values) or another commit's ``tracking/`` package (``--tracker-rev``; given the sensor views when
its ``step`` takes them), and scores its tracks with
``sensor-fusion evaluate``'s code against the bag's truth, in seconds instead of a pipeline run:
the bisect of which tracker change moved a score.

    .venv/bin/python scripts/tracker_replay.py record BAG out/replay/NAME [--set detection_mode=both]
    .venv/bin/python scripts/tracker_replay.py replay out/replay/NAME --set tracker.output_max_coast_s=.inf
    .venv/bin/python scripts/tracker_replay.py replay out/replay/NAME --tracker-rev a3c43b4
    .venv/bin/python scripts/tracker_replay.py replay out/replay/NAME --no-views
    .venv/bin/python scripts/tracker_replay.py replay out/replay/NAME --frame ego --region range:50

``--no-views`` gives the tracker no sensor coverage (a miss costs as before coverage existed).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import io
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

from sensor_fusion import pipeline as pipeline_module
from sensor_fusion.bag.offline import run_bag
from sensor_fusion.config import from_flat, load_params_file
from sensor_fusion.eval import bags as eval_bags
from sensor_fusion.ros import convert
from sensor_fusion.sim.recorder import calibration_from_bag, scenario_from_bag
from sensor_fusion.tracking.tracker import Tracker

REPO = Path(__file__).resolve().parents[1]
TRACKS = "/fusion_node/tracked_objects"
SHOWN = ("mota", "hota", "idsw", "velocity_rmse", "precision", "recall", "num_false_positives", "num_misses")


class _Recorder(Tracker):
    """The pipeline's tracker, logging its calls (class attributes: one pipeline per process)."""

    calls: list = []
    config_used = None

    def __init__(self, config=None):
        _Recorder.config_used = config
        super().__init__(config)

    def reset(self, frame_id=None):
        _Recorder.calls.append(("reset", frame_id))
        super().reset(frame_id)

    def change_frame(self, frame_id, T_new_old, velocity, yaw_rate):
        _Recorder.calls.append(("change_frame", frame_id, T_new_old, velocity, yaw_rate))
        super().change_frame(frame_id, T_new_old, velocity, yaw_rate)

    def step(self, stamp_ns, detections, views=None):
        _Recorder.calls.append(("step", stamp_ns, detections, views))
        return super().step(stamp_ns, detections, views)


def _sets(items: list[str] | None) -> dict:
    out = {}
    for s in items or []:
        k, _, v = s.partition("=")
        out[k] = yaml.safe_load(v)
    return out


def _line(res: dict) -> str:
    fmt = [f"{k} {res[k]:.4f}" if isinstance(res.get(k), float) else f"{k} {res.get(k)}" for k in SHOWN]
    return " ".join(fmt)


def score(
    bag: str | Path, out_bag: str | Path, track_msgs: list | None, frame: str = "world", region: str = "all"
) -> dict:
    """``evaluate_bags`` of ``out_bag`` with its tracks replaced by ``track_msgs`` (None: as recorded),
    in the scoring ``frame`` (``world`` or ``ego``) and ``region`` (as ``evaluate --frame/--region``)."""
    read = eval_bags.read_topics

    def with_tracks(b, topics):
        r = read(b, topics)
        if track_msgs is not None and TRACKS in r:
            r[TRACKS] = track_msgs
        return r

    eval_bags.read_topics = with_tracks
    try:
        return eval_bags.evaluate_bags(bag, out_bag, frame=frame, region=region)
    finally:
        eval_bags.read_topics = read


def record(bag: Path, dest: Path, config: Path, flat: dict) -> dict:
    cfg = from_flat({**load_params_file(config), **flat})
    d = scenario_from_bag(bag)["config"]["gps"]["datum"]
    if not cfg.ego.has_datum:
        cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / "outputs"
    if out.exists():
        shutil.rmtree(out)
    pipeline_module.Tracker = _Recorder
    _Recorder.calls = []
    try:
        run_bag(bag, cfg, calibration_from_bag(bag), out)
    finally:
        pipeline_module.Tracker = Tracker
    used = _Recorder.config_used  # as constructed: in base_link until the heading is known
    with open(dest / "calls.pkl", "wb") as f:
        pickle.dump({"bag": str(bag), "calls": _Recorder.calls, "tracker_config": used}, f)
    return score(bag, out, None)


def _tracker_at(rev: str):
    """(Tracker, TrackerConfig) of ``rev``'s ``tracking/`` package, imported under another name."""
    root = Path(tempfile.mkdtemp(prefix="tracking_"))
    cmd = ["git", "-C", str(REPO), "archive", rev, "src/sensor_fusion/tracking"]
    tar = subprocess.run(cmd, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(root, filter="data")
    name = f"tracking_{rev}"
    pkg = root / name
    (root / "src/sensor_fusion/tracking").rename(pkg)
    for py in pkg.glob("*.py"):
        py.write_text(py.read_text().replace("sensor_fusion.tracking", name))
    sys.path.insert(0, str(root))
    mod = importlib.import_module(f"{name}.tracker")
    return mod.Tracker, mod.TrackerConfig


def replay(
    dest: Path,
    flat: dict,
    no_views: bool = False,
    rev: str | None = None,
    frame: str = "world",
    region: str = "all",
) -> dict:
    with open(dest / "calls.pkl", "rb") as f:
        rec = pickle.load(f)
    cfg = rec["tracker_config"]
    fresh = type(cfg)()  # fields added since the recording (no class default): the current defaults
    for f in dataclasses.fields(cfg):
        if f.name not in vars(cfg):
            object.__setattr__(cfg, f.name, getattr(fresh, f.name))
    if any(c[0] == "change_frame" for c in rec["calls"]) and hasattr(cfg, "moving_frame"):
        # the pipeline changes frame only out of base_link, which moves (recordings made before
        # the field have it False)
        object.__setattr__(cfg, "moving_frame", True)
    changes = {k.removeprefix("tracker."): v for k, v in flat.items()}
    if rev is None:
        tracker = Tracker(dataclasses.replace(cfg, **changes))
    else:  # an older tracker: the fields it knows, from the recorded configuration
        cls, cfg_cls = _tracker_at(rev)
        known = {f.name for f in dataclasses.fields(cfg_cls)}
        kw = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name in known}
        tracker = cls(cfg_cls(**{**kw, **{k: v for k, v in changes.items() if k in known}}))
    takes_views = "views" in inspect.signature(tracker.step).parameters
    msgs = []
    for call in rec["calls"]:
        if call[0] == "reset":
            tracker.reset(call[1])
            continue
        if call[0] == "change_frame":  # replayed as a reset where the tracker cannot carry tracks over
            keep = getattr(tracker.config, "keep_tracks_on_frame_change", False)
            tracker.change_frame(*call[1:]) if keep else tracker.reset(call[1])
            continue
        _, stamp, dets, views = call
        if takes_views:
            tracks = tracker.step(stamp, dets, None if no_views else views)
        else:  # a tracker from before sensor coverage existed
            tracks = tracker.step(stamp, dets)
        msgs.append(convert.tracks_msg(tracks, b"\0" * 8))
    return score(rec["bag"], dest / "outputs", msgs, frame, region)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("record", "replay"))
    ap.add_argument("paths", nargs="+", help="record: BAG DEST; replay: DEST [DEST ...]")
    ap.add_argument("--set", action="append", help="KEY=VALUE (record: any parameter; replay: tracker.*)")
    ap.add_argument("--config", default=str(REPO / "config" / "fusion.yaml"))
    ap.add_argument("--no-views", action="store_true", help="replay without sensor coverage")
    ap.add_argument("--tracker-rev", help="replay with this commit's tracking/ package")
    ap.add_argument("--frame", choices=("world", "ego"), default="world", help="replay: scoring frame")
    ap.add_argument("--region", default="all", help="replay: scoring region (as evaluate --region)")
    a = ap.parse_args()
    flat = _sets(a.set)
    if a.action == "record":
        bag, dest = (Path(p) for p in a.paths)
        print(f"{dest.name} (recorded): {_line(record(bag, dest, Path(a.config), flat))}")
        return 0
    for p in a.paths:
        res = replay(Path(p), flat, a.no_views, a.tracker_rev, a.frame, a.region)
        what = " ".join([*(a.set or []), *(["no views"] if a.no_views else [])])
        print(f"{Path(p).name} {what}: {_line(res)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
