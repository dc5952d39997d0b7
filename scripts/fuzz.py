#!/usr/bin/env python3
"""Run the fuzz (Hypothesis property) tests of every entry point that reads bytes or untrusted
values, and report the cases each property ran, crashes and hangs.

    scripts/fuzz.py                                  # the short profile (what `make test` runs)
    scripts/fuzz.py --profile long --examples 10000  # at least 10,000 cases per entry point
    scripts/fuzz.py --profile long --jobs 2 --json out/fuzz_long.json

The long profile draws random seeds; a failing example is printed by Hypothesis with the
``@reproduce_failure`` blob to replay it. ``--jobs`` deals the properties out to that many processes.
Exit status: 0 when every property held.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILES = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*fuzz.py"))


def _collect() -> list[str]:
    """Node ids of every fuzz test (one per property, parametrised cases together)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--collect-only",
            "-m",
            "fuzz",
            *FILES,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ids = {ln.split("[")[0] for ln in out.splitlines() if "::" in ln}
    return sorted(ids)


def _run_group(files: list[str], env: dict, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "fuzz", "-rfE", *files]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=("short", "long"), default="short")
    ap.add_argument("--examples", type=int, default=10_000, help="cases per property (long profile)")
    ap.add_argument(
        "--hang-s", type=float, default=10.0, help="wall seconds after which an example is a hang"
    )
    ap.add_argument("--jobs", type=int, default=1, help="pytest processes (properties dealt among them)")
    ap.add_argument("--json", type=Path, help="also write the summary here")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="sf_fuzz_"))
    ids = _collect()
    groups = [ids[i :: args.jobs] for i in range(max(1, args.jobs))]  # properties dealt round-robin
    procs = []
    t0 = time.monotonic()
    for i, files in enumerate(g for g in groups if g):
        env = dict(
            os.environ,
            SF_FUZZ_PROFILE=args.profile,
            SF_FUZZ_EXAMPLES=str(args.examples),
            SF_FUZZ_HANG_S=str(args.hang_s),
            SF_FUZZ_COUNTS=str(work / f"counts{i}.json"),
            ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
            MPLBACKEND="Agg",
        )
        procs.append((_run_group(files, env, work / f"log{i}.txt"), work / f"log{i}.txt"))
    codes = [p.wait() for p, _ in procs]
    wall = time.monotonic() - t0
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    counts: dict[str, int] = {}
    for f in work.glob("counts*.json"):
        counts.update(json.loads(f.read_text()))
    logs = "\n".join(log.read_text() for _, log in procs)
    failed = [
        ln.split(" ", 1)[1].split(" - ")[0]
        for ln in logs.splitlines()
        if ln.startswith(("FAILED ", "ERROR "))
    ]
    hangs = logs.count("tests.fuzzing.Hang")
    summary = {
        "command": " ".join(["scripts/fuzz.py", *(argv if argv is not None else sys.argv[1:])]),
        "profile": args.profile,
        "examples_per_property": args.examples if args.profile == "long" else "per test (50-200)",
        "cases": dict(sorted(counts.items())),
        "total_cases": sum(counts.values()),
        "failed": failed,
        "hangs": hangs,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu.ru_utime + cpu.ru_stime, 1),
        "logs": str(work),
    }
    width = max((len(k) for k in counts), default=10)
    for k, n in sorted(counts.items()):
        status = "FAILED" if any(f in k for f in failed) else "ok"
        print(f"{k:<{width}}  {n:>8} cases  {status}")
    print(
        f"{summary['total_cases']} cases, {len(failed)} failed properties, {hangs} hangs; "
        f"{wall:.0f} s wall, {summary['cpu_s']:.0f} s CPU ({args.profile} profile)"
    )
    if failed:
        print(logs[-20000:])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
    return 0 if all(c == 0 for c in codes) else 1


if __name__ == "__main__":
    sys.exit(main())
