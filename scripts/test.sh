#!/usr/bin/env bash
# The test command: the whole suite (fast; a few minutes on 2 CPU cores).
set -euo pipefail
export TQDM_DISABLE=1
python -m pytest tests -p no:cacheprovider "$@"
