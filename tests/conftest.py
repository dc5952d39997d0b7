"""Shared fixtures. Every test run gets its own ROS domain and localhost-only discovery."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from sensor_fusion.demo import stop_process

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(10, 99)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("MPLBACKEND", "Agg")
# the BEV network's ONNX graphs (bev/ort_backend.py) go to a cache of this run, not the user's
os.environ.setdefault("SENSOR_FUSION_CACHE", tempfile.mkdtemp(prefix="sf_test_cache_"))


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


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """A checkpoint of an untrained network: tests of plumbing must not depend on training."""
    import torch

    from sensor_fusion.bev.grid import BevGrid
    from sensor_fusion.bev.model import BevFusionNet

    torch.manual_seed(0)
    p = tmp_path_factory.mktemp("w") / "random.pt"
    meta = {
        "grid": BevGrid().to_dict(),
        "image_wh": [160, 96],
        "arch": {"lift_heights": 4},
        "output_stride": 2,
    }
    torch.save({"model": BevFusionNet().state_dict(), "meta": meta}, p)
    return p


@pytest.fixture(scope="session")
def short_bag(tmp_path_factory):
    """A 3 s urban bag (seed 7: not a BEV training seed), shared by the BEV and training tests."""
    from sensor_fusion.sim.recorder import record

    out = tmp_path_factory.mktemp("bev") / "urban_s7"
    record("urban", 7, 3.0, out)
    return out


# --- a small fleet of generated bags, shared by the batch and report tests ---------------------
FLEET_SEEDS = (1, 2)  # urban, 3 s, 16-beam LiDAR: enough for every metric, cheap to generate
FLEET_DURATION_S = 3.0
FLEET_OVERRIDES = {"lidar": {"beams": 16, "azimuth_resolution_deg": 0.4}, "cameras": {"rate_hz": 5.0}}


@pytest.fixture(scope="session")
def fleet(tmp_path_factory) -> Path:
    """A directory of two short urban bags and one corrupt bag (a metadata.yaml that is not one),
    which every batch must report as failed after one retry."""
    from sensor_fusion.sim.recorder import record

    root = tmp_path_factory.mktemp("fleet")
    overrides = root.parent / "fleet_overrides.yaml"
    overrides.write_text(yaml.safe_dump(FLEET_OVERRIDES))
    bags = root / "bags"
    for seed in FLEET_SEEDS:
        record("urban", seed, FLEET_DURATION_S, bags / f"urban_s{seed}", overrides_file=str(overrides))
    (bags / "corrupt").mkdir()
    (bags / "corrupt" / "metadata.yaml").write_text("rosbag2_bagfile_information: [not, a, bag]\n")
    return bags


def run_cli(venv_bin: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``sensor-fusion ARGS`` as a user runs it (own process, output captured, progress as lines)."""
    env = dict(os.environ, SENSOR_FUSION_PROGRESS="lines", SENSOR_FUSION_PROGRESS_INTERVAL_S="5")
    return subprocess.run(
        [str(venv_bin / "sensor-fusion"), *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="session")
def fusion_batch(fleet, tmp_path_factory, venv_bin) -> tuple[Path, subprocess.CompletedProcess]:
    """``sensor-fusion batch`` of the shipped config over the fleet on the local pool (2 workers)."""
    out = tmp_path_factory.mktemp("batch") / "fusion"
    return out, run_cli(venv_bin, "batch", "--bags", str(fleet), "--out", str(out), "--workers", "2")
