# Two commands on a fresh machine: `make demo` (analyse the bundled sample) and `make test`.
# Both create the environment in .venv when it is missing.
PY := .venv/bin/python
PIP := .venv/bin/pip
SAMPLE := src/affectlens/sample/WolfgangLanger_Pexels.mp4

.PHONY: venv demo test lint bench train-venv clean

venv: .venv/.installed

.venv/.installed: requirements/base.txt requirements/nodeps.txt pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements/base.txt
	$(PIP) install -q --no-deps -r requirements/nodeps.txt
	$(PIP) install -q --no-deps -e .
	touch $@

# torch (local CPU build) and onnx, for the scripts under training/ only.
train-venv: venv
	$(PIP) install -q -r requirements/train.txt

demo: venv
	.venv/bin/affectlens analyze $(SAMPLE) --out out --format json,csv,srt,html

test: venv
	$(PY) -m pytest -q

lint: venv
	.venv/bin/ruff check src tests training benchmarks

bench: venv
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done
	$(PY) benchmarks/make_readme_table.py

clean:
	rm -rf out .pytest_cache
