"""One OpenBLAS thread unless the user says otherwise (sensor_fusion/__init__.py): the pipeline's
tall, skinny products ran ~100x slower with OpenBLAS's threads on a busy 2-core host."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import sensor_fusion, os, numpy; print(os.environ.get('OPENBLAS_NUM_THREADS'))"


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("3", "3")])
def test_openblas_threads_default_to_one_and_an_explicit_setting_wins(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
