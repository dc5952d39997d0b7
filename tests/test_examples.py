"""The README's library example runs and gives what it claims."""

from __future__ import annotations

import runpy
from pathlib import Path


def test_readme_tracker_example(capsys):
    runpy.run_path(
        str(Path(__file__).resolve().parents[1] / "examples" / "tracker_api.py"), run_name="__main__"
    )
    out = capsys.readouterr().out
    assert out.startswith("[1] [[33.2")
