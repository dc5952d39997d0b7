"""Every ``sensor-fusion`` error, tried as a new user would: one line on stderr, a non-zero exit
(2 for usage, config and input errors), no traceback unless ``-v``."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from std_msgs.msg import String

from sensor_fusion import cli
from sensor_fusion.bag.io import BagWriter


def _main(argv: list[str], capsys) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err
    return e.value.code, [ln for ln in err.splitlines() if ln.strip()]


@pytest.fixture()
def bad_config(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"fusion_node": {"ros__parameters": {"anchor": "imu"}}}))
    return p


@pytest.fixture()
def plain_bag(tmp_path):
    """A readable bag without ground truth (only a string topic)."""
    path = tmp_path / "plain"
    with BagWriter(path) as w:
        w.write("/note", String(data="hello"), 1_000_000_000)
    return path


def test_invalid_config_value_is_one_line_exit_2(tmp_path, bad_config, plain_bag, capsys):
    code, lines = _main(
        ["run", "--bag", str(plain_bag), "--out", str(tmp_path / "o"), "--config", str(bad_config)], capsys
    )
    assert code == 2
    assert lines == [
        "sensor-fusion run: error: invalid fusion configuration: anchor: must be one of "
        "['lidar', 'camera_front', 'camera_rear', 'radar_front'], got 'imu'"
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--bag", "{tmp}/missing", "--out", "{tmp}/o"],
        ["evaluate", "--truth", "{tmp}/missing", "--tracks", "{tmp}/missing"],
        ["run", "--bag", "{bag}", "--out", "{tmp}/o", "--config", "{tmp}/no_such.yaml"],
        ["run", "--bag", "{bag}", "--out", "{bag}"],  # output exists
        ["evaluate", "--truth", "{bag}", "--tracks", "{bag}"],  # no ground truth in the bag
        ["evaluate", "--truth", "{tmp}/junk", "--tracks", "{bag}"],  # unreadable bag
        ["run", "--bag", "{bag}", "--out", "{tmp}/o", "--modalities", "sonar"],
        ["soak", "--minutes", "0"],
    ],
    ids=[
        "run-missing-bag",
        "evaluate-missing",
        "missing-config",
        "out-exists",
        "no-truth",
        "junk-bag",
        "modalities",
        "soak-0",
    ],
)
def test_input_errors_are_one_line_exit_2(argv, tmp_path, plain_bag, capsys):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "metadata.yaml").write_text("rosbag2_bagfile_information: [not, a, bag]\n")
    argv = [a.format(tmp=tmp_path, bag=plain_bag) for a in argv]
    code, lines = _main(argv, capsys)
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"sensor-fusion {argv[0]}: error: ")
    assert "Traceback" not in lines[0]


def test_unexpected_errors_are_one_line_exit_1(monkeypatch, capsys):
    def boom(_a):
        raise RuntimeError("something broke\nover two lines")

    monkeypatch.setattr(cli, "cmd_params", boom)
    code, lines = _main(["params"], capsys)
    assert code == 1
    assert lines == [
        "sensor-fusion params: internal error: RuntimeError: something broke; over two lines"
        " (-v for the traceback)"
    ]


def test_the_real_command_prints_no_traceback_and_verbose_does(tmp_path, bad_config):
    exe = [sys.executable, "-m", "sensor_fusion"]
    args = ["run", "--bag", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]
    plain = subprocess.run([*exe, *args], capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2
    assert plain.stderr.strip().splitlines() == [
        f"sensor-fusion run: error: bag {tmp_path / 'missing'} does not exist"
    ]
    verbose = subprocess.run([*exe, "-v", *args], capture_output=True, text=True, timeout=120)
    assert verbose.returncode != 0 and "Traceback" in verbose.stderr


def test_a_signal_surfacing_as_systemerror_is_still_an_interrupt(monkeypatch, capsys):
    """A SIGTERM whose handler ran inside C code (numba's dispatcher) reaches Python as a
    SystemError caused by the handler's exception: still an interrupt, exit 128 + 15."""
    import signal

    def interrupted_inside_c(_a):
        try:
            raise cli.Interrupted(signal.SIGTERM)
        except cli.Interrupted as exc:
            raise SystemError("CPUDispatcher(<function f>) returned a result with an exception set") from exc

    monkeypatch.setattr(cli, "cmd_params", interrupted_inside_c)
    code, lines = _main(["params"], capsys)
    assert code == 128 + signal.SIGTERM
    assert lines == ["sensor-fusion params: interrupted by SIGTERM; outputs closed"]
