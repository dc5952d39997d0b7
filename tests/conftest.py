"""Shared fixtures. Every test run gets its own ROS domain and localhost-only discovery."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sensor_fusion.demo import stop_process

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(10, 99)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def venv_bin() -> Path:
    return Path(sys.executable).parent


@pytest.fixture(scope="module")
def start_fusion_node(tmp_path_factory, venv_bin):
    """Start ``fusion_node`` as its own process with ``params`` (its ros__parameters); stopped
    (SIGINT, then kill) and its log printed when the module's tests are done."""
    started = []

    def start(params: dict) -> tuple[subprocess.Popen, object]:
        path = tmp_path_factory.mktemp("params") / "fusion.yaml"
        path.write_text(yaml.safe_dump({"fusion_node": {"ros__parameters": params}}))
        log = open(path.parent / "node.log", "w+")
        proc = subprocess.Popen(
            [str(venv_bin / "fusion_node"), "--ros-args", "--params-file", str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
        started.append((proc, log))
        return proc, log

    yield start
    for proc, log in started:
        stop_process(proc)
        log.seek(0)
        print(log.read())
