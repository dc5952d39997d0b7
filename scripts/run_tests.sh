#!/usr/bin/env bash
# The test command behind `make test` and CI: lint, then the whole pytest suite.
# Each run gets its own ROS_DOMAIN_ID and localhost-only discovery so parallel runs do not hear each other.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
# domains 10-99: higher ids put DDS ports inside Linux's ephemeral port range
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 90) + 10 ))}"
export MPLBACKEND=Agg
echo "[test] ROS_DOMAIN_ID=$ROS_DOMAIN_ID"
.venv/bin/ruff check src tests bench launch examples scripts
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@" tests
