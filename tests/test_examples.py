"""The README's library example runs and gives what it claims."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np

from sensor_fusion.core.classes import ObjectClass


def test_readme_tracker_example(capsys) -> None:
    """One car at 8 m/s along x, noise-free boxes at 10 Hz for 3 s: one confirmed track, id 1,
    on the car (x = 10 + 0.8 * 29 = 33.2 m, y = 2 m at the last frame) with its velocity, class
    and box. The boxes carry no noise, so a few cm and cm/s are the IMM's own lag, not slack."""
    g = runpy.run_path(
        str(Path(__file__).resolve().parents[1] / "examples" / "tracker_api.py"), run_name="__main__"
    )
    tracks = g["tracks"]
    assert tracks.frame_id == "odom" and tracks.stamp_ns == 1_000_000_000 + 29 * 100_000_000
    assert tracks.ids.tolist() == [1]
    np.testing.assert_allclose(tracks.centers, [[33.2, 2.0, 0.8]], atol=0.02)
    np.testing.assert_allclose(tracks.velocity, [[8.0, 0.0]], atol=0.02)
    assert tracks.labels.tolist() == [int(ObjectClass.CAR)]
    np.testing.assert_allclose(tracks.sizes, [[4.5, 1.8, 1.6]])
    assert abs(tracks.yaw[0]) < 0.01 and tracks.hits.tolist() == [30] and tracks.existence[0] > 0.9
    vel_std = np.sqrt(np.diagonal(tracks.cov[0])[2:])
    assert (vel_std > 0.0).all() and (vel_std < 0.5).all()  # converged, not a prior
    out = capsys.readouterr().out  # the line the README quotes
    assert out.startswith("[1] [[33.2 ") and "[[8. " in out
