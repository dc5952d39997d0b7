"""Progress of long commands: a bar on a terminal, plain periodic lines otherwise, one summary line.

Every long command (``simulate``, ``run``, ``evaluate``, ``train``, ``evaluate-bev``, ``demo``,
``batch``, ``scripts/compare.py``) reports through :func:`progress`, so they all look alike:

- on a terminal, a tqdm bar with count, rate and ETA;
- when the output is a file or a pipe (CI logs), a plain line every ``SENSOR_FUSION_PROGRESS_INTERVAL_S``
  seconds (default 10): ``[run] 120/199 frames (60%), 24.1 frames/s, ETA 3 s``;
- in both cases one summary line at the end: ``[run] done: 199 frames in 8.3 s (24.0 frames/s)``.

Everything goes to stderr, so a command's own output on stdout (``evaluate --json``) stays clean
and the bar still shows when stdout is redirected; whether to draw a bar is decided by whether
stderr is a terminal. ``SENSOR_FUSION_PROGRESS`` = ``auto`` (default) | ``bar`` | ``lines`` |
``off`` overrides it (batch workers run with ``off``, their parent shows one bar for the batch).
Without tqdm installed (a ROS install that did not pip-install it) the lines are used.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

ENV_MODE = "SENSOR_FUSION_PROGRESS"
ENV_INTERVAL = "SENSOR_FUSION_PROGRESS_INTERVAL_S"
MODES = ("auto", "bar", "lines", "off")


def _fmt_duration(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    if s < 60:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    return f"{m} min {sec:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def _fmt_count(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def mode_from_env(stream: IO[str]) -> str:
    """The display mode: the environment's choice, else a bar on a terminal and lines elsewhere."""
    mode = os.environ.get(ENV_MODE, "auto").strip().lower() or "auto"
    if mode not in MODES:
        mode = "auto"
    if mode == "auto":
        isatty = getattr(stream, "isatty", None)
        mode = "bar" if isatty is not None and isatty() else "lines"
    return mode


class Progress:
    """One task's progress; use as a context manager or call :meth:`close` (prints the summary).

    ``total`` may be None (unknown: no percentage or ETA). ``unit`` names what is counted
    (``frames``, ``bags``, ``s of data``). ``clock`` and ``stream`` exist for tests.
    """

    def __init__(
        self,
        desc: str,
        total: float | None = None,
        unit: str = "it",
        stream: IO[str] | None = None,
        mode: str | None = None,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        show_rate: bool = True,
    ) -> None:
        self.desc = desc
        self.show_rate = show_rate
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.mode = mode or mode_from_env(self.stream)
        if interval_s is None:
            try:
                interval_s = float(os.environ.get(ENV_INTERVAL, "10"))
            except ValueError:
                interval_s = 10.0
        self.interval_s = interval_s
        self.clock = clock
        self.n: float = 0
        self.note = ""
        self.closed = False
        self._shown = False  # a line was printed
        self._t0 = clock()
        self._last_line = self._t0
        self._bar = None
        if self.mode == "bar":
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm is optional outside the project's venv
                self.mode = "lines"
            else:
                self._bar = tqdm(
                    total=total,
                    desc=desc,
                    unit=f" {unit}",
                    file=self.stream,
                    dynamic_ncols=True,
                    mininterval=0.2,
                    leave=False,
                )

    # -- updates --------------------------------------------------------------------------------
    def update(self, n: float = 1) -> None:
        """Count ``n`` more units."""
        self.update_to(self.n + n)

    def update_to(self, value: float) -> None:
        """Set the absolute count (e.g. seconds of data written so far)."""
        if self.closed:
            return
        delta = value - self.n
        self.n = value
        if self._bar is not None:
            self._bar.update(delta)
        elif self.mode == "lines":
            now = self.clock()
            if now - self._last_line >= self.interval_s:
                self._last_line = now
                self._print(self._line(now))

    def set_total(self, total: float | None) -> None:
        """Change the total once it is known (e.g. steps of a training that resumes)."""
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def set_note(self, note: str) -> None:
        """A short status shown after the counts (current bag, loss, ...)."""
        self.note = note
        if self._bar is not None:
            self._bar.set_postfix_str(note, refresh=False)

    def write(self, text: str, file: IO[str] | None = None) -> None:
        """Print a line (to stdout by default) without breaking the bar."""
        out = file if file is not None else sys.stdout
        if self._bar is not None:
            self._bar.write(text, file=out)
        else:
            print(text, file=out, flush=True)

    # -- output ---------------------------------------------------------------------------------
    def _rate(self, now: float) -> float:
        dt = now - self._t0
        return self.n / dt if dt > 0 else float("nan")

    def _rate_text(self, rate: float) -> str:
        """``12.3 frames/s``, or ``22 s per bag`` when slower than one unit in ten seconds."""
        if not math.isfinite(rate):
            return f"? {self.unit}/s"
        if 0 < rate < 0.1:
            one = self.unit[:-1] if self.unit.endswith("s") and " " not in self.unit else self.unit
            return f"{_fmt_duration(1.0 / rate)} per {one}"
        return f"{rate:.1f} {self.unit}/s"

    def _line(self, now: float) -> str:
        rate = self._rate(now)
        parts = [f"[{self.desc}] {_fmt_count(self.n)}"]
        if self.total:
            parts[0] += f"/{_fmt_count(self.total)} {self.unit} ({100 * self.n / self.total:.0f}%)"
        else:
            parts[0] += f" {self.unit}"
        if self.show_rate:
            parts.append(self._rate_text(rate))
        if self.total and math.isfinite(rate) and rate > 0:
            parts.append(f"ETA {_fmt_duration(max(0.0, self.total - self.n) / rate)}")
        if self.note:
            parts.append(self.note)
        return ", ".join(parts)

    def _print(self, text: str) -> None:
        self._shown = True
        print(text, file=self.stream, flush=True)

    def close(self, summary: str | None = None) -> float:
        """Finish: remove the bar and print one summary line (``summary`` is appended). Returns the
        elapsed seconds."""
        if self.closed:
            return self.clock() - self._t0
        self.closed = True
        now = self.clock()
        elapsed = now - self._t0
        if self._bar is not None:
            self._bar.close()
        if self.mode != "off":
            rate = self._rate(now)
            line = f"[{self.desc}] done: {_fmt_count(self.n)} {self.unit} in {_fmt_duration(elapsed)}"
            if self.show_rate and math.isfinite(rate):
                line += f" ({self._rate_text(rate)})"
            if summary:
                line += f"; {summary}"
            self._print(line)
        return elapsed

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, *_exc: Any) -> None:
        if exc_type is not None and not self._shown and (self.n == 0 or self.mode != "bar"):
            # failed before any progress was shown (a missing file, a bag without ground truth):
            # the command's one error line says it all
            self.closed = True
            if self._bar is not None:
                self._bar.close()
            return
        self.close("failed" if exc_type is not None else None)


def progress(desc: str, total: float | None = None, unit: str = "it", **kw: Any) -> Progress:
    """A :class:`Progress` (see the module docstring)."""
    return Progress(desc, total, unit, **kw)


def track(items: Iterable, desc: str, total: int | None = None, unit: str = "it", **kw: Any) -> Iterator:
    """Iterate ``items`` with progress; ``total`` defaults to ``len(items)`` where it has one."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(desc, total, unit, **kw) as p:
        for item in items:
            yield item
            p.update()


@contextmanager
def stage_progress(desc: str, stages: Sequence[str], **kw: Any) -> Iterator[Callable[[str], None]]:
    """Progress over named stages: yields ``on_stage(name)``, to be called as each stage starts
    (a stage counts as done when the next one starts, the last one when the block ends)."""
    kw.setdefault("show_rate", False)
    with Progress(desc, len(stages), "stages", **kw) as p:
        started: list[str] = []

        def on_stage(name: str) -> None:
            p.set_note(name)
            if started:
                p.update()
            started.append(name)

        yield on_stage
        if started:
            p.update()
