"""The ``batch`` and ``batch-compare`` subcommands (registered by ``cli.build_parser``)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def cmd_batch(a: argparse.Namespace) -> int:
    from ..progress import progress
    from .jobs import BatchError, find_bags
    from .runner import TaskSpec, run_pool, run_ray
    from .summary import markdown_table, write_bag_record, write_summary

    try:
        bags = find_bags(a.bags)
    except BatchError as exc:
        print(f"sensor-fusion batch: {exc}", file=sys.stderr)
        return 2
    if a.workers is not None and a.workers < 1:
        print("sensor-fusion batch: --workers must be >= 1", file=sys.stderr)
        return 2
    workers = a.workers or os.cpu_count() or 1
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    config = str(Path(a.config).resolve()) if a.config else None
    threads = max(1, (os.cpu_count() or 1) // min(workers, len(bags)))
    spec = TaskSpec(str(out.resolve()), config, a.detector, not a.no_keep_tracks, threads)
    engine = f"ray {a.ray}" if a.ray else f"process pool, {workers} workers"
    print(f"[batch] {len(bags)} bags -> {out} ({engine})", flush=True)
    records: list[dict] = []
    t0 = time.perf_counter()
    with progress("batch", len(bags), "bags") as p:

        def on_done(rec: dict) -> None:
            records.append(rec)
            write_bag_record(out, rec)
            if rec["status"] == "ok":
                m, run = rec["metrics"], rec["run"]
                note = f"MOTA {_f(m.get('mota'))} HOTA {_f(m.get('hota'))}, {run['frames']} frames"
                retry = f", attempt {rec['attempts']}" if rec["attempts"] > 1 else ""
                p.write(f"[batch] {rec['bag']}: {note} in {run['wall_s']:.1f} s{retry}")
            else:
                p.write(f"[batch] {rec['bag']}: FAILED: {' / '.join(rec['errors'])}")
            failed = sum(r["status"] != "ok" for r in records)
            p.set_note(f"{failed} failed" if failed else rec["bag"])
            p.update()

        def on_retry(bag: Path, error: str) -> None:
            p.write(f"[batch] {bag.name}: retrying once after: {error}")

        cluster = None
        if a.ray:
            cluster = run_ray(bags, spec, a.ray, workers, on_done, on_retry)
        else:
            run_pool(bags, spec, workers, on_done, on_retry)
    meta = {
        "bags_spec": a.bags,
        "config": config,
        "detector": a.detector,
        "engine": engine,
        "workers": workers,
        "threads_per_task": threads,
        "wall_s": time.perf_counter() - t0,
        "ray": cluster,
    }
    if a.reports:
        _write_reports(out, records)
    paths = write_summary(out, records, meta)
    print(markdown_table(sorted(records, key=lambda r: r["bag"])))
    failed = [r["bag"] for r in records if r["status"] != "ok"]
    print(f"[batch] summary: {paths['md']}, {paths['json']}; HTML: {paths['html']}")
    if failed:
        print(f"[batch] {len(failed)} of {len(bags)} bags failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _write_reports(out: Path, records: list[dict]) -> None:
    from ..progress import track
    from ..report.page import write_report

    ok = [r for r in records if r["status"] == "ok" and r.get("tracks")]
    for r in track(ok, "reports", unit="reports"):
        write_report(
            r["path"],
            r["tracks"],
            out / "reports" / r["bag"],
            result=r["metrics"],
            diagnostics=r["run"].get("diagnostics"),
        )


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def cmd_batch_compare(a: argparse.Namespace) -> int:
    from .compare import CompareError, Gate, compare, load_batch

    metrics = a.metric or []
    thresholds = a.threshold or []
    if len(thresholds) not in (0, len(metrics)) and len(thresholds) != 1:
        print("sensor-fusion batch-compare: give one --threshold, or one per --metric", file=sys.stderr)
        return 2
    if len(thresholds) == 1:
        thresholds = thresholds * len(metrics)
    elif not thresholds:
        thresholds = [0.0] * len(metrics)
    try:
        lines, ok = compare(
            load_batch(a.a),
            load_batch(a.b),
            [Gate(m, t) for m, t in zip(metrics, thresholds)],
            per_bag=a.per_bag,
            names=(a.a, a.b),
        )
    except CompareError as exc:
        print(f"sensor-fusion batch-compare: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0 if ok else 1


def add_batch_parsers(sub) -> None:
    s = sub.add_parser("batch", help="run + evaluate over many bags (process pool or Ray)")
    s.add_argument("--bags", required=True, help="a directory of bags, one bag, or a quoted glob")
    s.add_argument("--out", required=True, help="output directory (per-bag JSON, tracks, summary)")
    s.add_argument("--config", help="fusion parameters YAML (default: the package's config/fusion.yaml)")
    s.add_argument(
        "--detector", choices=["classical", "bev", "both"], help="override the config's detection_mode"
    )
    s.add_argument("--workers", type=int, help="parallel tasks (default: the CPU count)")
    s.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run on Ray: 'local' starts one on this machine; else a cluster address (auto, HOST:6379, ray://...)",
    )
    s.add_argument("--reports", action="store_true", help="also write an HTML report per bag")
    s.add_argument("--no-keep-tracks", action="store_true", help="delete each output bag after scoring")
    s.set_defaults(func=cmd_batch)

    s = sub.add_parser("batch-compare", help="compare two batch outputs; non-zero exit on a regression")
    s.add_argument("a", help="reference batch directory (e.g. main's)")
    s.add_argument("b", help="candidate batch directory")
    s.add_argument("--metric", action="append", help="metric to gate on (repeatable), e.g. mota")
    s.add_argument(
        "--threshold",
        type=float,
        action="append",
        help="largest accepted worsening of the --metric in the same position (one value: all)",
    )
    s.add_argument("--per-bag", action="store_true", help="gate every bag, not the mean")
    s.set_defaults(func=cmd_batch_compare)
