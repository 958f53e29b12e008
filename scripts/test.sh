#!/usr/bin/env bash
# The test command: lint (ruff: pyflakes everywhere, pydocstyle numpy rules on the public API), then the whole suite
# (fast; a few minutes on 2 CPU cores).
set -euo pipefail
export TQDM_DISABLE=1
ruff check src tests benchmarks scripts
python -m pytest tests -p no:cacheprovider "$@"
