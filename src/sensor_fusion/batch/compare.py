"""``sensor-fusion batch-compare A B``: per metric and per bag, what got better or worse from A to B.

A is the reference, B the candidate (typically: A the main branch's batch, B a change's). Every
metric knows its direction (``summary.METRICS``). With gates (``--metric M --threshold T``), B fails
when its mean of M is worse than A's by more than T (absolute, in M's unit), or with ``--per-bag``
when any one bag is; a bag that A scored and B failed on also fails the gate. Exit codes: 0 pass,
1 regression, 2 unusable input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .summary import METRICS

EQUAL_TOL = 1e-9


class CompareError(ValueError):
    """A or B is not a batch output."""


def load_batch(path: str | Path) -> dict[str, dict]:
    """{bag: {"status": ..., metric: value}} from a batch directory (its summary.json) or the file."""
    p = Path(path)
    f = p / "summary.json" if p.is_dir() else p
    if not f.is_file():
        raise CompareError(f"{path}: no summary.json (not a `sensor-fusion batch` output directory)")
    data = json.loads(f.read_text())
    bags = data.get("bags")
    if not isinstance(bags, dict):
        raise CompareError(f"{f}: no per-bag results")
    return bags


def verdict(metric: str, a: float | None, b: float | None) -> str:
    """better / worse / equal for B against A, or missing."""
    if a is None or b is None:
        return "missing"
    d = (b - a) * METRICS[metric]
    return "equal" if abs(d) <= EQUAL_TOL else ("better" if d > 0 else "worse")


def _mean(bags: Mapping[str, Mapping], names: Sequence[str], metric: str) -> float | None:
    vals = [bags[n].get(metric) for n in names if bags[n].get("status") == "ok"]
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else None


@dataclass
class Gate:
    metric: str
    threshold: float


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _signed(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:+d}" if isinstance(v, int) else f"{v:+.3f}"


def compare(
    a: Mapping[str, Mapping],
    b: Mapping[str, Mapping],
    gates: Sequence[Gate] = (),
    per_bag: bool = False,
    metrics: Sequence[str] | None = None,
    names: tuple[str, str] = ("A", "B"),
) -> tuple[list[str], bool]:
    """The report lines and whether every gate passed."""
    metrics = list(metrics or METRICS)
    common = sorted(set(a) & set(b))
    if not common:
        raise CompareError("A and B have no bag in common")
    na, nb = names
    lines = [f"{len(common)} bags in both; A = {na}, B = {nb}"]
    for only, side in ((sorted(set(a) - set(b)), na), (sorted(set(b) - set(a)), nb)):
        if only:
            lines.append(f"only in {side} (left out): {', '.join(only)}")
    # means
    lines += ["", f"{'metric':<20} {'A mean':>9} {'B mean':>9} {'change':>9}  B vs A"]
    wins: dict[str, list[str]] = {"better": [], "worse": [], "equal": [], "missing": []}
    for m in metrics:
        ma, mb = _mean(a, common, m), _mean(b, common, m)
        v = verdict(m, ma, mb)
        wins[v].append(m)
        change = None if ma is None or mb is None else mb - ma
        lines.append(f"{m:<20} {_f(ma):>9} {_f(mb):>9} {_signed(change):>9}  {v}")
    lines += [
        "",
        f"B ({nb}) better on: {', '.join(wins['better']) or '-'}",
        f"A ({na}) better on: {', '.join(wins['worse']) or '-'}",
    ]
    if wins["equal"]:
        lines.append(f"equal: {', '.join(wins['equal'])}")
    # per bag
    lines += ["", "per bag (B vs A):"]
    for n in common:
        if a[n].get("status") != "ok" or b[n].get("status") != "ok":
            lines.append(f"  {n}: A {a[n].get('status')}, B {b[n].get('status')}")
            continue
        parts = {"better": [], "worse": []}
        for m in metrics:
            v = verdict(m, a[n].get(m), b[n].get(m))
            if v in parts:
                parts[v].append(f"{m} {_signed(b[n][m] - a[n][m])}")
        lines.append(
            f"  {n}: better {', '.join(parts['better']) or '-'}; worse {', '.join(parts['worse']) or '-'}"
        )
    # gates
    ok = True
    if gates:
        lines += ["", "gates:"]
    lost = [n for n in common if a[n].get("status") == "ok" and b[n].get("status") != "ok"]
    if gates and lost:
        ok = False
        lines.append(f"  FAIL: B failed on bags A scored: {', '.join(lost)}")
    for g in gates:
        if g.metric not in METRICS:
            raise CompareError(f"--metric {g.metric}: unknown; choose from {', '.join(METRICS)}")
        sign = METRICS[g.metric]
        checks = [("mean", _mean(a, common, g.metric), _mean(b, common, g.metric))]
        if per_bag:
            checks = [(n, a[n].get(g.metric), b[n].get(g.metric)) for n in common if n not in lost]
        gate_ok = True
        for where, va, vb in checks:
            if va is None:
                continue  # nothing to regress from
            if vb is None:
                gate_ok = False
                lines.append(f"  FAIL {g.metric} ({where}): A {_f(va)}, B has no value")
                continue
            loss = (va - vb) * sign  # > 0: B is worse
            if loss > g.threshold:
                gate_ok = False
                lines.append(
                    f"  FAIL {g.metric} ({where}): A {_f(va)} -> B {_f(vb)}, "
                    f"worse by {loss:.3f} > {g.threshold:g}"
                )
            elif not per_bag:
                lines.append(
                    f"  pass {g.metric} ({where}): A {_f(va)} -> B {_f(vb)} (threshold {g.threshold:g})"
                )
        if per_bag and gate_ok:
            lines.append(f"  pass {g.metric}: no bag worse by more than {g.threshold:g}")
        ok = ok and gate_ok
    if gates:
        lines.append("RESULT: " + ("pass" if ok else "REGRESSION"))
    return lines, ok
