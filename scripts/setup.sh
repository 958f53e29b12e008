#!/usr/bin/env bash
# Create a virtual environment (default .venv) with the CPU build of torch first, then tfscope and test tools.
set -euo pipefail
VENV="${1:-.venv}"
python3 -m venv "$VENV"
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip >/dev/null
# torch first, CPU build (a local wheel on the project machines; PyPI's CPU index elsewhere), so no CUDA wheels come in
pip install -q torch==2.13.0
pip install -q -e ".[test,ray]"  # the ray extra: tests/test_genome_scale.py checks the Ray executor
python -c "import tfscope, torch; print('tfscope', tfscope.__version__, '| torch', torch.__version__)"
