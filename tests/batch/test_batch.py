"""``sensor-fusion batch`` on the local pool and on a real local Ray instance, and ``batch-compare``.

The fleet (tests/conftest.py) is two short generated bags plus a corrupt one: every run must
score the two, retry the corrupt one once and report it failed (exit 1), never drop it.
"""

from __future__ import annotations

import json
import shutil

import pytest

from sensor_fusion.batch.jobs import BatchError, find_bags
from tests.conftest import FLEET_SEEDS, run_cli

GOOD = [f"urban_s{s}" for s in FLEET_SEEDS]


def _records(out):
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "bags").glob("*.json"))}


def _scores(rec: dict) -> dict:
    """Everything a run decides; the wall-clock stage timings (latency_ms) differ run to run."""
    return {k: v for k, v in rec["metrics"].items() if k != "latency_ms"}


def test_find_bags_takes_a_directory_a_bag_or_a_glob(tmp_path):
    for name in ("a", "b", "c_other"):
        (tmp_path / "fleet" / name).mkdir(parents=True)
        (tmp_path / "fleet" / name / "metadata.yaml").write_text("x")
    (tmp_path / "fleet" / "not_a_bag").mkdir()
    assert [b.name for b in find_bags(str(tmp_path / "fleet"))] == ["a", "b", "c_other"]
    assert [b.name for b in find_bags(str(tmp_path / "fleet" / "a"))] == ["a"]
    assert [b.name for b in find_bags(str(tmp_path / "fleet" / "[ab]"))] == ["a", "b"]
    with pytest.raises(BatchError, match="no rosbag2"):
        find_bags(str(tmp_path / "fleet" / "zz*"))
    (tmp_path / "other" / "a").mkdir(parents=True)
    (tmp_path / "other" / "a" / "metadata.yaml").write_text("x")
    with pytest.raises(BatchError, match="several bags are named"):
        find_bags(str(tmp_path / "*" / "a"))


def test_pool_batch_scores_every_bag_and_reports_the_failure(fusion_batch):
    out, proc = fusion_batch
    assert proc.returncode == 1, proc.stderr[-3000:]  # the corrupt bag failed
    recs = _records(out)
    assert sorted(recs) == sorted([*GOOD, "corrupt"])
    for name in GOOD:
        r = recs[name]
        assert r["status"] == "ok" and r["attempts"] == 1 and r["errors"] == []
        assert r["run"]["frames"] > 20 and r["metrics"]["num_frames"] == r["run"]["frames"]
        assert r["metrics"]["mota"] is not None and r["metrics"]["hota"] > 0.05
        assert (out / "tracks" / name / "metadata.yaml").is_file()
    bad = recs["corrupt"]
    assert bad["status"] == "failed" and len(bad["errors"]) == 2  # first try and one retry
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == ["corrupt"] and summary["meta"]["workers"] == 2
    mean_mota = sum(recs[n]["metrics"]["mota"] for n in GOOD) / len(GOOD)
    assert summary["mean"]["mota"] == pytest.approx(mean_mota)
    md = (out / "summary.md").read_text()
    assert all(f"| {n} | ok |" in md for n in GOOD) and "| corrupt | FAILED |" in md and "**mean**" in md
    assert "| urban_s1 | ok |" in proc.stdout  # the table is printed too
    html = (out / "index.html").read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert html.count("data:image/svg+xml;base64,") == 1 and "corrupt" in html
    assert "[batch] done: 3 bags" in proc.stderr  # the progress summary line
    assert "corrupt: retrying once after:" in proc.stdout


def test_ray_local_gives_the_same_per_bag_results_as_the_pool(fleet, fusion_batch, tmp_path, venv_bin):
    out_ray = tmp_path / "ray"
    proc = run_cli(
        venv_bin, "batch", "--bags", str(fleet), "--out", str(out_ray), "--workers", "2", "--ray", "local"
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    pool, ray = _records(fusion_batch[0]), _records(out_ray)
    assert sorted(ray) == sorted(pool)
    for name in GOOD:
        assert ray[name]["status"] == "ok"
        assert _scores(ray[name]) == _scores(pool[name])
        assert ray[name]["run"]["frames"] == pool[name]["run"]["frames"]
        assert ray[name]["worker"]["pid"] not in {pool[n]["worker"]["pid"] for n in GOOD}
    assert ray["corrupt"]["status"] == "failed" and len(ray["corrupt"]["errors"]) == 2
    meta = json.loads((out_ray / "summary.json").read_text())["meta"]
    assert meta["ray"]["local"] is True and meta["ray"]["cpus"] == 2.0 and meta["ray"]["nodes"] == 1


def test_batch_compare_flags_the_baseline_config_as_a_regression(
    fleet, fusion_batch, tmp_path, venv_bin, repo
):
    fusion = fusion_batch[0]
    base = tmp_path / "baseline"
    proc = run_cli(
        venv_bin, "batch", "--bags", str(fleet), "--out", str(base), "--workers", "2",
        "--config", str(repo / "config" / "baseline.yaml"), "--no-keep-tracks",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert not (base / "tracks" / "urban_s1").exists()
    # the AB3DMOT baseline as the candidate: HOTA regresses and fails its gate, while the velocity
    # error passes its own (on these 3 s bags the baseline's is lower: the shipped tracker's velocity
    # tails are an open issue), so each metric is gated on its own
    worse = run_cli(
        venv_bin, "batch-compare", str(fusion), str(base), "--metric", "hota", "--metric", "velocity_rmse",
        "--threshold", "0.02", "--threshold", "0.2",
    )  # fmt: skip
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "FAIL hota (mean)" in worse.stdout and "pass velocity_rmse (mean)" in worse.stdout
    assert "RESULT: REGRESSION" in worse.stdout
    a_wins = next(line for line in worse.stdout.splitlines() if line.startswith("A ("))
    assert "hota" in a_wins
    assert all(f"  {n}: better" in worse.stdout for n in GOOD)
    # the other way round the gate passes, per bag as well
    better = run_cli(
        venv_bin,
        "batch-compare",
        str(base),
        str(fusion),
        "--metric",
        "hota",
        "--threshold",
        "0.02",
        "--per-bag",
    )
    assert better.returncode == 0, better.stdout + better.stderr
    assert "RESULT: pass" in better.stdout


def test_batch_compare_needs_batch_outputs(tmp_path, fusion_batch, venv_bin):
    proc = run_cli(venv_bin, "batch-compare", str(tmp_path), str(fusion_batch[0]))
    assert proc.returncode == 2 and "not a `sensor-fusion batch` output" in proc.stderr
    copy = tmp_path / "copy"
    shutil.copytree(fusion_batch[0], copy, ignore=shutil.ignore_patterns("tracks"))
    same = run_cli(venv_bin, "batch-compare", str(fusion_batch[0]), str(copy), "--metric", "mota")
    assert same.returncode == 0 and "RESULT: pass" in same.stdout
