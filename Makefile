# Entry points. Every target sets up .venv first (idempotent; seconds when nothing changed).
.PHONY: setup test demo bench lint clean

PY := .venv/bin/python

setup:
	@scripts/setup_env.sh

test: setup
	@scripts/run_tests.sh

demo: setup
	@$(PY) -m sensor_fusion demo

# Every bench runs even when one fails (the soak's RSS check is an open finding); the summary
# still prints, and the target fails at the end naming the benches that did.
bench: setup
	@failed=""; for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || failed="$$failed $$b"; done; \
	echo "== summary (out/bench/*.json)"; $(PY) bench/summary.py; \
	if [ -n "$$failed" ]; then echo "== failed:$$failed"; exit 1; fi

lint: setup
	@.venv/bin/ruff check src tests bench launch examples scripts

clean:
	rm -rf build .venv out
