"""The progress helper: a bar on a terminal, periodic lines elsewhere, one summary line, env override."""

from __future__ import annotations

import io

import pytest

from sensor_fusion.progress import Progress, mode_from_env, stage_progress, track


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_every_interval_with_rate_and_eta_then_one_summary():
    clock, out = FakeClock(), io.StringIO()
    p = Progress("run", 40, "frames", stream=out, interval_s=10.0, clock=clock)
    assert p.mode == "lines"
    for _ in range(40):
        clock.t += 1.0  # one frame per second
        p.update()
    p.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 + 1, lines  # at 10, 20, 30, 40 s, then the summary
    assert lines[0] == "[run] 10/40 frames (25%), 1.0 frames/s, ETA 30 s"
    assert lines[2] == "[run] 30/40 frames (75%), 1.0 frames/s, ETA 10 s"
    assert lines[-1] == "[run] done: 40 frames in 40 s (1.0 frames/s)"


def test_unknown_total_has_no_eta_and_notes_show():
    clock, out = FakeClock(), io.StringIO()
    with Progress("train", None, "steps", stream=out, interval_s=5.0, clock=clock) as p:
        p.set_note("epoch 0 loss 1.234")
        clock.t += 5.0
        p.update(10)
    first, summary = out.getvalue().splitlines()
    assert first == "[train] 10 steps, 2.0 steps/s, epoch 0 loss 1.234"
    assert "ETA" not in first
    assert summary.startswith("[train] done: 10 steps in 5.0 s")


def test_a_failure_inside_says_so_in_the_summary():
    clock, out = FakeClock(), io.StringIO()
    with (
        pytest.raises(RuntimeError),
        Progress("batch", 3, "bags", stream=out, mode="lines", clock=clock) as p,
    ):
        clock.t += 20.0
        p.update()  # shows a line: the failure must be said after it
        raise RuntimeError("boom")
    assert out.getvalue().strip().endswith("; failed")


def test_a_failure_before_any_progress_prints_nothing():
    """The command's own one-line error says what went wrong (a missing file); no 'done: 0'."""
    out = io.StringIO()
    with pytest.raises(RuntimeError), Progress("batch", 3, "bags", stream=out, mode="lines"):
        raise RuntimeError("boom")
    assert out.getvalue() == ""


def test_bar_on_a_terminal_shows_rate_and_eta_fields():
    out = Tty()
    p = Progress("run", 10, "frames", stream=out)
    assert p.mode == "bar"
    p.update(3)
    p.close()
    text = out.getvalue()
    assert "/10" in text and "<" in text and "frames/s" in text  # tqdm: [elapsed<remaining, rate]
    assert text.rstrip().splitlines()[-1].startswith("[run] done: 3 frames in")


def test_environment_chooses_the_mode(monkeypatch):
    monkeypatch.setenv("SENSOR_FUSION_PROGRESS", "off")
    out = io.StringIO()
    with Progress("run", 5, stream=out) as p:
        p.update(5)
    assert out.getvalue() == ""
    monkeypatch.setenv("SENSOR_FUSION_PROGRESS", "lines")
    assert mode_from_env(Tty()) == "lines"
    monkeypatch.setenv("SENSOR_FUSION_PROGRESS", "auto")
    assert mode_from_env(Tty()) == "bar"
    assert mode_from_env(io.StringIO()) == "lines"
    monkeypatch.setenv("SENSOR_FUSION_PROGRESS", "nonsense")
    assert mode_from_env(io.StringIO()) == "lines"


def test_stages_count_as_they_finish():
    clock, out = FakeClock(), io.StringIO()
    with stage_progress("evaluate", ("read", "score", "plot"), stream=out, interval_s=0.0, clock=clock) as st:
        st("read")
        clock.t += 1
        st("score")
        clock.t += 1
        st("plot")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[evaluate] 1/3 stages (33%)") and lines[0].endswith("score")
    assert lines[-1] == "[evaluate] done: 3 stages in 2.0 s"


def test_track_iterates_everything():
    out = io.StringIO()
    assert list(track(range(4), "bags", stream=out, mode="lines")) == [0, 1, 2, 3]
    assert out.getvalue().startswith("[bags] done: 4 it")


def test_slow_rates_read_as_time_per_unit():
    clock, out = FakeClock(), io.StringIO()
    with Progress("batch", 8, "bags", stream=out, interval_s=1.0, clock=clock) as p:
        clock.t += 20.0
        p.update()
    assert out.getvalue().splitlines()[0] == "[batch] 1/8 bags (12%), 20 s per bag, ETA 2 min 20 s"
