# Entry points. Every target sets up .venv first (idempotent; seconds when nothing changed).
.PHONY: setup test demo bench lint clean

PY := .venv/bin/python

setup:
	@scripts/setup_env.sh

test: setup
	@scripts/run_tests.sh

demo: setup
	@$(PY) -m sensor_fusion demo

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
	@echo "== summary (out/bench/*.json)"; $(PY) bench/summary.py

lint: setup
	@.venv/bin/ruff check src tests bench launch examples scripts

clean:
	rm -rf build .venv out
